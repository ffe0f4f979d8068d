"""The secondary-venue agent: follows every session its venue takes part in.

It lists the sessions its venue's operator may see (``GET /api/sessions``, every
``discover_s`` seconds), keeps one WebSocket link per session (the ``websockets``
library, RFC 6455), and writes what it receives to the :class:`~evalsvc.venues.mirror.Mirror`
— events in seq order, one transaction per batch with the cursor. After any drop it
reconnects with exponential backoff and full jitter and says ``hello`` with the epoch and
seq stored on disk, so it resumes exactly where its durable copy ends.

It is known to the primary by an operator token, by its venue certificate over mutual
TLS, or by a signed ``venue-agent`` challenge (SM2 venues) — see
:mod:`evalsvc.venues.credentials`. With an ``https://`` primary both the discovery client
and every link use the same TLS context (``ssl``), and the primary's certificate is
validated as a venue server (:class:`~evalsvc.venues.credentials.PrimaryCheck`).

Witness hook: the primary may send ``add_checkpoint {id, body}`` over the link (C2SP
tlog-witness request body). With a witness key configured the agent answers with
:func:`evalsvc.audit.witness.add_checkpoint`'s verdict in ``add_checkpoint_response`` and
persists the newly cosigned checkpoint in the mirror with a compare-and-set on the size
it checked against (check and persist in one step).
"""

from __future__ import annotations

__all__ = ["Agent", "WitnessConfig"]

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from evalsvc.audit.note import (
    cosign_checkpoint,
    open_note,
    parse_checkpoint,
    split_note,
    verified_cosignatures,
)
from evalsvc.audit.witness import Cosigned, add_checkpoint, parse_add_checkpoint
from evalsvc.canonical import canonical_bytes
from evalsvc.errors import (
    AuditLogInconsistent,
    CertificateRejected,
    EvalsvcError,
    InvalidInput,
    NotFound,
)
from evalsvc.files import private_dir, write_private
from evalsvc.tasks import cancel_and_wait
from evalsvc.venues.credentials import Credentials, PrimaryCheck, TokenCredentials, refusal
from evalsvc.venues.mirror import Mirror
from evalsvc.venues.verify import Split, check_view, event_matches

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024 * 1024  # a snapshot of a large session is the biggest frame
BATCH = 500


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class WitnessConfig:
    """What the venue needs to cosign checkpoints: its signer key and the logs it knows
    (origin → the log's verifier keys)."""

    skey: str
    logs: Mapping[str, Sequence[str]] = field(default_factory=dict)


class Agent:
    """Discovery + one resuming link per session, writing into ``mirror``."""

    def __init__(
        self,
        *,
        primary: str,
        venue: str,
        mirror: Mirror,
        token: str | None = None,
        credentials: Credentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        primary_check: PrimaryCheck | None = None,
        witness: WitnessConfig | None = None,
        discover_s: float = 10.0,
        verify_s: float = 1.0,
        trusted_witnesses: Sequence[str] = (),
        quorum: int = 1,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 30.0,
        report_tries: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        self.primary = primary.rstrip("/")
        self.venue = venue
        if credentials is None:
            if token is None:
                raise InvalidInput("the agent needs a token or credentials", field="token")
            credentials = TokenCredentials(token)
        self.credentials = credentials
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.primary_check = primary_check
        self._http: aiohttp.ClientSession | None = None
        self.mirror = mirror
        self.witness = witness
        self.discover_s = discover_s
        # Mirror verification (docs/audit.md "Venue views"): a checkpoint is trusted when
        # this venue cosigned it, or when ``quorum`` of ``trusted_witnesses`` did.
        self.verify_s = verify_s
        self.trusted_witnesses = tuple(trusted_witnesses)
        self.quorum = quorum
        self.splits: dict[str, Split] = {}
        self.reports: dict[str, asyncio.Task[None]] = {}  # reporting a split, per session
        self.report_tries = report_tries
        self.verifiers: dict[str, asyncio.Task[None]] = {}
        self._compared: dict[str, int] = {}  # events compared with their entries, per session
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.rng = rng or random.Random()
        self.links: dict[str, asyncio.Task[None]] = {}
        self.connected: dict[str, bool] = {}
        self.synced: dict[str, asyncio.Event] = {}
        self.sockets: dict[str, ClientConnection] = {}
        self.reconnects = 0

    # --- discovery ------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP client of discovery and of challenge logins (one per agent)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10),
                connector=aiohttp.TCPConnector(ssl=self.ssl_context or True),
            )
        return self._http

    def _request_kw(self) -> dict[str, Any]:
        return {} if self.server_hostname is None else {"server_hostname": self.server_hostname}

    def _check_primary(self, transport: asyncio.BaseTransport | None) -> None:
        if self.primary_check is not None:
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            self.primary_check.check(ssl_object)

    async def _probe_primary(self) -> None:
        """One TLS handshake with the primary to validate its certificate (aiohttp does
        not expose the connection of a response; the links check theirs)."""
        if self.primary_check is None:
            return
        url = urlsplit(self.primary)
        host = url.hostname or ""
        async with asyncio.timeout(10):  # (not wait_for: see pgpresence._serve)
            _, writer = await asyncio.open_connection(
                host,
                url.port or 443,
                ssl=self.ssl_context or True,
                server_hostname=self.server_hostname or host,
            )
        try:
            self._check_primary(writer.transport)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def run(self) -> None:
        """Discover sessions and follow them until cancelled."""
        http = self._client()
        try:
            checked = False
            while True:
                try:
                    if not checked:
                        await self._probe_primary()
                        await self._check_identity(http)
                        checked = True
                    for doc in await self._list(http):
                        self.follow(doc["id"], title=doc.get("title"))
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                    if not checked and _tls_failure(exc):
                        # At start a TLS failure is a configuration problem, not an outage:
                        # say so and stop rather than retry for ever.
                        raise CertificateRejected(
                            f"TLS with {self.primary}: {_tls_reason(exc)} — check "
                            "--trust (it must hold the region that issued the primary's "
                            "certificate), --server-name, and that the primary accepts "
                            "this venue's certificate"
                        ) from exc
                    log.warning("cannot list sessions at %s: %s", self.primary, exc)
                except EvalsvcError as exc:
                    if not checked:
                        raise
                    log.error("cannot list sessions at %s: %s", self.primary, exc.message)
                except (KeyError, TypeError, AttributeError, RecursionError) as exc:
                    # A session list not shaped as documented (a lying primary): this
                    # round fails, the agent keeps following what it follows.
                    log.warning("the session list of %s is malformed: %r", self.primary, exc)
                await asyncio.sleep(self.discover_s)
        finally:
            tasks = [*self.links.values(), *self.verifiers.values(), *self.reports.values()]
            await cancel_and_wait(*tasks)
            await http.close()

    async def _check_identity(self, http: aiohttp.ClientSession) -> None:
        """Refuse to run as anyone but an operator of this venue (the mirror would hold
        another venue's view); check the primary's certificate on the way."""
        what = self.credentials.what
        headers = await self.credentials.headers(http)
        async with http.get(
            self.primary + "/api/me", headers=headers, **self._request_kw()
        ) as r:
            if r.status in (401, 403):
                self.credentials.refused(_bearer(headers))
                raise refusal(r.status, await r.json(content_type=None), f"this {what}")
            r.raise_for_status()
            me = await r.json()
        if me.get("role") != "operator" or me.get("venue") != self.venue:
            raise InvalidInput(
                f"the {what} is for {me.get('role')} of venue {me.get('venue')}; "
                f"an operator {what} of venue {self.venue} is needed",
                field=what,
            )
        log.info(
            "known to %s as %s (%s) of venue %s by %s",
            self.primary,
            me.get("subject"),
            me.get("name"),
            self.venue,
            what,
        )

    async def _list(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        headers = await self.credentials.headers(http)
        async with http.get(
            self.primary + "/api/sessions", headers=headers, **self._request_kw()
        ) as r:
            if r.status == 401:
                self.credentials.refused(_bearer(headers))
            r.raise_for_status()
            return list((await r.json())["sessions"])

    def follow(self, session_id: str, *, title: str | None = None) -> None:
        """Start following ``session_id`` (idempotent)."""
        if session_id in self.links:
            return
        status = self.mirror.audit_status(session_id)
        if status.split is not None:
            # A split view was detected before: this primary is not followed again.
            log.error("session %s: a split view was detected; not following", session_id)
            if session_id not in self.reports and not (status.reported and status.reported[0]):
                self._report_again(session_id, status.split)
            return
        self.synced[session_id] = asyncio.Event()
        self.links[session_id] = asyncio.create_task(self._link(session_id, title))
        self.verifiers[session_id] = asyncio.create_task(self._verifier(session_id))

    def _report_again(self, session_id: str, split: tuple[str, str, str]) -> None:
        """After a restart: report a split view the primary was not told of yet (from its
        evidence file; the same Idempotency-Key, so a report that did arrive is not
        recorded twice)."""
        try:
            doc = json.loads(Path(split[2]).read_text("utf-8"))
            found = Split(split[0], split[1], dict(doc["evidence"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("session %s: the split view's evidence %s does not read: %s",
                      session_id, split[2], exc)
            return
        self.reports[session_id] = asyncio.create_task(self._report_split(session_id, found))

    async def drop(self, session_id: str) -> None:
        """Close the link's socket (tests use it; the link reconnects)."""
        ws = self.sockets.get(session_id)
        if ws is not None:
            await ws.close()

    # --- one link -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff with full jitter: spreads the venues' reconnections.
        return self.rng.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))

    async def _link(self, session_id: str, title: str | None) -> None:
        url = self.primary.replace("http", "ws", 1) + f"/ws/sessions/{session_id}"
        tls: dict[str, Any] = {}
        if url.startswith("wss:"):
            tls = {"ssl": self.ssl_context or True, **self._request_kw()}
        attempt = 0
        while session_id not in self.splits:
            try:
                async with connect(
                    url,
                    max_size=MAX_FRAME,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    **tls,
                ) as ws:
                    self._check_primary(ws.transport)
                    self.sockets[session_id] = ws
                    self.connected[session_id] = True
                    if await self._serve(ws, session_id, title):
                        attempt = 0
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, WebSocketException, InvalidHandshake, InvalidURI) as exc:
                log.info("link %s dropped: %s", session_id, exc)
            except (aiohttp.ClientError, EvalsvcError) as exc:
                # A refused certificate or a failed challenge login: say it loudly, retry.
                log.error("link %s: %s", session_id, getattr(exc, "message", exc))
            finally:
                self.connected[session_id] = False
                self.sockets.pop(session_id, None)
                self.synced[session_id].clear()
            self.reconnects += 1
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    async def _serve(self, ws: ClientConnection, session_id: str, title: str | None) -> bool:
        """Run one connection; True if it got as far as being in sync."""
        cur = await asyncio.to_thread(self.mirror.cursor, session_id)
        auth = await self.credentials.auth_message(self._http)
        await ws.send(json.dumps(auth))
        hello = {"type": "hello", "epoch": cur.epoch, "last_seq": cur.last_seq}
        if self.witness is not None:
            hello["witness"] = True  # send add_checkpoint requests to this connection
        await ws.send(json.dumps(hello))
        epoch = cur.epoch or ""
        last = cur.last_seq
        batch: list[dict[str, Any]] = []
        live = False
        synced = False

        async def flush() -> None:
            nonlocal last
            if batch:
                c = await asyncio.to_thread(
                    self.mirror.append, session_id, epoch, list(batch), now_ms=_now_ms()
                )
                last = c.last_seq
                batch.clear()

        async for raw in ws:
            if session_id in self.splits:
                break  # a split view: accept nothing more from this primary
            kind = None
            try:
                m = json.loads(raw)
                if not isinstance(m, dict):
                    raise TypeError("not a JSON object")
                kind = m.get("type")
                if kind == "auth_ok":
                    if epoch and m["epoch"] != epoch:
                        log.warning("session %s: the primary's database changed epoch",
                                    session_id)
                    epoch = m["epoch"]
                elif kind == "event":
                    if m["seq"] != last + len(batch) + 1:
                        # Out of order: store what we have and ask again from there.
                        await flush()
                        await ws.send(json.dumps({"type": "hello", "epoch": epoch,
                                                  "last_seq": last}))
                        continue
                    batch.append(m)
                    if live or len(batch) >= BATCH:
                        await flush()
                elif kind == "snapshot":
                    await flush()
                    c = await asyncio.to_thread(
                        self.mirror.snapshot,
                        session_id,
                        m["epoch"],
                        m["seq"],
                        m["reason"],
                        m["session"],
                        now_ms=_now_ms(),
                    )
                    epoch, last = m["epoch"], c.last_seq
                elif kind == "synced":
                    await flush()
                    live = synced = True
                    if title:
                        await asyncio.to_thread(self.mirror.set_title, session_id, title)
                    self.synced[session_id].set()
                elif kind == "heartbeat":
                    await flush()
                    if live and m["seq"] > last:
                        # The primary is ahead and nothing is in flight: a gap. Resync.
                        await ws.send(json.dumps({"type": "hello", "epoch": epoch,
                                                  "last_seq": last}))
                elif kind == "add_checkpoint":
                    await ws.send(await self._add_checkpoint(m))
                elif kind in ("error", "bye"):
                    log.warning("session %s: %s %s", session_id, m.get("code"), m.get("message"))
                    if m.get("code") == "unauthenticated":
                        # E.g. the token expired (the primary closes the link at its expiry):
                        # get a fresh one before reconnecting, rather than offer it again.
                        self.credentials.refused(auth.get("token"))
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                # A primary that lies on the wire (or a broken one): drop this connection
                # and link again, backing off — never the link itself, or the venue would
                # look gone and the rules re-form the committee without its members.
                raise InvalidInput(f"the primary sent a malformed {kind or 'message'}"
                                   f" frame: {exc!r:.200}", field="frame") from exc
        await flush()
        return synced

    # --- verification against the signed log -----------------------------------------

    async def _verifier(self, session_id: str) -> None:
        while session_id not in self.splits:
            await asyncio.sleep(self.verify_s)
            try:
                await self.verify_once(session_id)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError) as exc:
                log.info("session %s: cannot check the mirror yet: %s", session_id, exc)
            except (TypeError, AttributeError, RecursionError) as exc:
                # An audit view not shaped as the route documents (a lying primary): this
                # round fails, the next one runs — a verifier that stopped would let the
                # primary fork this venue's view unseen from then on.
                log.warning("session %s: the primary's audit view is malformed: %r",
                            session_id, exc)
            except EvalsvcError as exc:
                log.warning("session %s: cannot check the mirror: %s", session_id, exc.message)

    async def _get_view(self, session_id: str, start: int, size: int | None) -> dict[str, Any]:
        http = self._client()
        headers = await self.credentials.headers(http)
        q = f"?start={start}" + ("" if size is None else f"&size={size}")
        async with http.get(
            f"{self.primary}/api/sessions/{session_id}/audit/view{q}",
            headers=headers,
            **self._request_kw(),
        ) as r:
            if r.status == 404:
                raise NotFound(f"no signed checkpoint of session {session_id} yet")
            r.raise_for_status()
            return dict(await r.json())

    async def verify_once(self, session_id: str) -> str:
        """Check the entries past the verified ones against the latest trusted
        checkpoint; returns what happened (``verified N``, ``pending: …``, ``split: …``)."""
        hashes = await asyncio.to_thread(self.mirror.verified_hashes, session_id)
        view = await self._get_view(session_id, len(hashes), None)
        origin, served = str(view["origin"]), str(view["checkpoint"])
        vkey = self._log_vkey(session_id, origin, str(view["log_vkey"]))
        trusted = self._trusted_note(origin, served, vkey)
        if trusted is None:
            return "pending: no checkpoint this venue trusts yet"
        size = parse_checkpoint(split_note(trusted)[0]).size
        if size != parse_checkpoint(split_note(served)[0]).size:
            # The entries up to the size this venue trusts, with the primary's checkpoint
            # of that size (compared with the trusted one: a fork shows here).
            view = await self._get_view(session_id, len(hashes), size)
            served = str(view["checkpoint"])
        entries = [str(e).encode("utf-8") for e in view["entries"]]
        result = check_view(log_vkey=vkey, trusted_note=trusted, verified=hashes,
                            entries=entries, served_note=served)
        if result.split is not None:
            return "split: " + await self._split(session_id, result.split)
        if result.pending is not None:
            return "pending: " + result.pending
        if result.leaf_hashes:
            if self.witness is not None and not self.trusted_witnesses:
                # Keep it with this venue's own cosignature (it cosigned it as a witness),
                # so the exported bundle carries it for `audit verify`'s quorum.
                trusted += cosign_checkpoint(trusted, self.witness.skey,
                                             timestamp=int(time.time()))
            await asyncio.to_thread(
                self.mirror.add_verified, session_id, start=len(hashes),
                entries=entries[: len(result.leaf_hashes)], hashes=list(result.leaf_hashes),
                size=size, origin=origin, log_vkey=vkey, note=trusted,
            )
        verified = len(hashes) + len(result.leaf_hashes)
        mismatch = await asyncio.to_thread(self._compare_events, session_id, verified)
        if mismatch is not None:
            seq, ev, raw = mismatch
            return "split: " + await self._split(session_id, Split(
                "event",
                f"event {seq} as streamed to this venue differs from its logged entry",
                {"trusted": trusted, "event": ev, "entry": raw.decode("utf-8")},
            ))
        return f"verified {verified}"

    def _compare_events(
        self, session_id: str, verified: int
    ) -> tuple[int, dict[str, Any], bytes] | None:
        """Compare each streamed event not compared yet whose entry is verified (the
        stream and the log arrive separately: either may be ahead)."""
        upto = min(verified, self.mirror.cursor(session_id).last_seq)
        start = self._compared.get(session_id, 0)
        for seq in range(start + 1, upto + 1):
            ev = self.mirror.event(session_id, seq)
            raw = self.mirror.verified_entry(session_id, seq - 1)
            if ev is not None and raw is not None and not event_matches(ev, raw):
                return seq, ev, raw
        self._compared[session_id] = max(start, upto)
        return None

    def _log_vkey(self, session_id: str, origin: str, served: str) -> str:
        # The witness configuration names each log's key; otherwise the first key seen
        # for the session is pinned in the mirror (a later different one is refused).
        if self.witness is not None and self.witness.logs.get(origin):
            return str(self.witness.logs[origin][0])
        pinned = {c[2] for c in self.mirror.checkpoints(session_id)}
        if pinned and served not in pinned:
            raise AuditLogInconsistent(
                f"the primary now names another key for log {origin}: expected "
                f"{next(iter(pinned))}, got {served}"
            )
        return served

    def _trusted_note(self, origin: str, served: str, vkey: str) -> str | None:
        """The newest checkpoint this venue trusts: the one it cosigned, or the served one
        when ``quorum`` of the trusted witnesses cosigned it."""
        if self.trusted_witnesses:
            try:
                open_note(served, [vkey])
                names = {s.name for s in verified_cosignatures(served, self.trusted_witnesses)}
                if len(names) >= self.quorum:
                    return served
            except EvalsvcError:
                pass
        state = self.mirror.witness_state(origin)
        return state[2] if state else None

    async def _split(self, session_id: str, split: Split) -> str:
        """Keep the evidence (0600), remember the split, stop accepting from the primary."""
        now = _now_ms()
        folder = self.mirror.path.parent / "evidence"
        path = folder / f"{session_id}-{split.kind}-{now}.json"
        doc = {"session": session_id, "primary": self.primary, "venue": self.venue,
               "kind": split.kind, "detail": split.detail, "detected_ms": now,
               "evidence": dict(split.evidence)}

        def save() -> None:
            private_dir(folder)
            write_private(path, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
            self.mirror.record_split(session_id, kind=split.kind, detail=split.detail,
                                     evidence=str(path), now_ms=now)

        await asyncio.to_thread(save)
        self.splits[session_id] = split
        log.error("分叉视图：主场向本副场展示的审计日志与见证人联署的不一致，证据已保存于 %s，"
                  "不再接收该主场的数据 / SPLIT VIEW in session %s at %s: %s — evidence in %s; "
                  "no longer accepting from this primary", path, session_id, self.primary,
                  split.detail, path)
        ws = self.sockets.get(session_id)
        if ws is not None:
            await ws.close()
        self.reports[session_id] = asyncio.create_task(self._report_split(session_id, split))
        return split.detail

    async def _report_split(self, session_id: str, split: Split) -> None:
        """Hand the evidence to the primary's supervisors (``POST …/audit/split-view``,
        docs/audit.md "Split views"), retrying with backoff; the outcome goes to the mirror
        and the log. The primary may drop it: the venue's own copy (status, export) stands
        either way."""

        def note(ok: bool, detail: str) -> None:
            self.mirror.record_split_report(session_id, reported=ok, detail=detail,
                                            now_ms=_now_ms())

        if split.kind != "fork":
            detail = ("该类证据未经日志签名，主场无法核验，仅保存在本副场 / evidence of kind "
                      f"{split.kind} is not signed by the log: kept here only")
            await asyncio.to_thread(note, False, detail)
            log.error("session %s: %s", session_id, detail)
            return
        ev = split.evidence
        body = {"evidence": {"kind": "fork", "trusted": ev["trusted"], "served": ev["served"]}}
        key = "split-" + hashlib.sha256(canonical_bytes(body)).hexdigest()[:64]
        url = f"{self.primary}/api/sessions/{session_id}/audit/split-view"
        last = ""
        for attempt in range(self.report_tries):
            try:
                http = self._client()
                headers = {**await self.credentials.headers(http), "Idempotency-Key": key}
                async with http.post(url, json=body, headers=headers,
                                     **self._request_kw()) as r:
                    doc = await r.json(content_type=None)
                    if r.status in (200, 201):
                        detail = f"事件 seq {doc.get('seq')} / event seq {doc.get('seq')}"
                        await asyncio.to_thread(note, True, detail)
                        log.error("session %s: 分叉视图已报告监督人员 / split view reported to "
                                  "the supervisors (%s)", session_id, detail)
                        return
                    last = f"HTTP {r.status}: {doc.get('detail') if isinstance(doc, dict) else ''}"
                    if 400 <= r.status < 500 and r.status not in (401, 408, 409, 429):
                        break  # refused: trying again changes nothing
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError,
                    EvalsvcError) as exc:
                last = str(getattr(exc, "message", exc))
            await asyncio.to_thread(note, False, last)
            await asyncio.sleep(self._backoff(attempt))
        await asyncio.to_thread(note, False, last)
        log.error("session %s: 未能向主场报告分叉视图 / could not report the split view to the "
                  "primary: %s — the evidence stays in this mirror and its export",
                  session_id, last)

    # --- witness hook ---------------------------------------------------------------------

    async def _add_checkpoint(self, m: dict[str, Any]) -> str:
        status, body, ctype = await asyncio.to_thread(
            self.handle_add_checkpoint, str(m.get("body", ""))
        )
        return json.dumps(
            {
                "type": "add_checkpoint_response",
                "id": m.get("id"),
                "status": status,
                "body": body,
                "content_type": ctype,
            }
        )

    def handle_add_checkpoint(self, body: str) -> tuple[int, str, str]:
        """Answer one C2SP tlog-witness ``add-checkpoint`` body: (status, body, type)."""
        if self.witness is None:
            return 404, "this venue does not witness checkpoints\n", "text/plain; charset=utf-8"
        try:
            origin = parse_checkpoint(split_note(parse_add_checkpoint(body)[2])[0]).origin
        except EvalsvcError:
            origin = None
        if origin is not None and self.mirror.split_of_origin(origin) is not None:
            # This venue caught the log contradicting itself: it cosigns nothing more of
            # it, whatever it is shown next (docs/audit.md "Split views").
            return (409, "分叉视图已发现，本见证人不再为该日志联署 / a split view of this log "
                         "was detected: this witness cosigns nothing more of it\n",
                    "text/plain; charset=utf-8")
        for _ in range(3):  # a concurrent request may win the compare-and-set
            state = self.mirror.witness_state(origin) if origin else None
            latest = Cosigned(state[0], state[1], state[2]) if state else None
            resp = add_checkpoint(
                body,
                logs=self.witness.logs,
                latest=latest,
                skey=self.witness.skey,
                timestamp=int(time.time()),
            )
            new = resp.new_state
            if resp.status != 200 or new is None or origin is None:
                return resp.status, resp.body, resp.content_type
            if self.mirror.save_witness_state(
                origin,
                expected_size=latest.size if latest else None,
                size=new.size,
                root=new.root,
                note=new.note,
                now_ms=_now_ms(),
            ):
                return resp.status, resp.body, resp.content_type
        return 409, "concurrent add-checkpoint requests; retry\n", "text/plain; charset=utf-8"


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token if scheme == "Bearer" and token else None


def _tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a TLS failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | aiohttp.ClientSSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tls_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"the primary's certificate does not verify ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"the TLS handshake failed ({seen.reason or seen})"
        seen = seen.__cause__ or seen.__context__
    return f"the TLS handshake failed ({exc})"
