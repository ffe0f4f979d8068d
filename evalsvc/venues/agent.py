"""The secondary-venue agent: follows every session its venue takes part in.

It lists the sessions its operator token may see (``GET /api/sessions``, every
``discover_s`` seconds), keeps one WebSocket link per session (the ``websockets``
library, RFC 6455), and writes what it receives to the :class:`~evalsvc.venues.mirror.Mirror`
— events in seq order, one transaction per batch with the cursor. After any drop it
reconnects with exponential backoff and full jitter and says ``hello`` with the epoch and
seq stored on disk, so it resumes exactly where its durable copy ends.

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
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from evalsvc.audit.note import parse_checkpoint, split_note
from evalsvc.audit.witness import Cosigned, add_checkpoint, parse_add_checkpoint
from evalsvc.errors import EvalsvcError, InvalidInput
from evalsvc.venues.mirror import Mirror

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
        token: str,
        mirror: Mirror,
        witness: WitnessConfig | None = None,
        discover_s: float = 10.0,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.primary = primary.rstrip("/")
        self.venue = venue
        self.token = token
        self.mirror = mirror
        self.witness = witness
        self.discover_s = discover_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.rng = rng or random.Random()
        self.links: dict[str, asyncio.Task[None]] = {}
        self.connected: dict[str, bool] = {}
        self.synced: dict[str, asyncio.Event] = {}
        self.sockets: dict[str, ClientConnection] = {}
        self.reconnects = 0

    # --- discovery ------------------------------------------------------------------------

    async def run(self) -> None:
        """Discover sessions and follow them until cancelled."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                checked = False
                while True:
                    try:
                        if not checked:
                            await self._check_token(http)
                            checked = True
                        for doc in await self._list(http):
                            self.follow(doc["id"], title=doc.get("title"))
                    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                        log.warning("cannot list sessions at %s: %s", self.primary, exc)
                    await asyncio.sleep(self.discover_s)
        finally:
            for t in self.links.values():
                t.cancel()
            for t in self.links.values():
                with contextlib.suppress(BaseException):
                    await t

    async def _check_token(self, http: aiohttp.ClientSession) -> None:
        """Refuse to run with a token that is not an operator token of this venue (the
        mirror would hold another venue's view)."""
        async with http.get(
            self.primary + "/api/me", headers={"Authorization": f"Bearer {self.token}"}
        ) as r:
            if r.status == 401:
                raise InvalidInput("the primary does not accept this token", field="token")
            r.raise_for_status()
            me = await r.json()
        if me.get("role") != "operator" or me.get("venue") != self.venue:
            raise InvalidInput(
                f"the token is for {me.get('role')} of venue {me.get('venue')}; "
                f"an operator token of venue {self.venue} is needed",
                field="token",
            )

    async def _list(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        async with http.get(
            self.primary + "/api/sessions", headers={"Authorization": f"Bearer {self.token}"}
        ) as r:
            r.raise_for_status()
            return list((await r.json())["sessions"])

    def follow(self, session_id: str, *, title: str | None = None) -> None:
        """Start following ``session_id`` (idempotent)."""
        if session_id in self.links:
            return
        self.synced[session_id] = asyncio.Event()
        self.links[session_id] = asyncio.create_task(self._link(session_id, title))

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
        attempt = 0
        while True:
            try:
                async with connect(
                    url, max_size=MAX_FRAME, open_timeout=10, ping_interval=20, ping_timeout=20
                ) as ws:
                    self.sockets[session_id] = ws
                    self.connected[session_id] = True
                    if await self._serve(ws, session_id, title):
                        attempt = 0
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, WebSocketException, InvalidHandshake, InvalidURI) as exc:
                log.info("link %s dropped: %s", session_id, exc)
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
        await ws.send(json.dumps({"type": "auth", "token": self.token}))
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
            m = json.loads(raw)
            kind = m.get("type")
            if kind == "auth_ok":
                if epoch and m["epoch"] != epoch:
                    log.warning("session %s: the primary's database changed epoch", session_id)
                epoch = m["epoch"]
            elif kind == "event":
                if m["seq"] != last + len(batch) + 1:
                    # Out of order: store what we have and ask again from there.
                    await flush()
                    await ws.send(json.dumps({"type": "hello", "epoch": epoch, "last_seq": last}))
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
                    await ws.send(json.dumps({"type": "hello", "epoch": epoch, "last_seq": last}))
            elif kind == "add_checkpoint":
                await ws.send(await self._add_checkpoint(m))
            elif kind in ("error", "bye"):
                log.warning("session %s: %s %s", session_id, m.get("code"), m.get("message"))
        await flush()
        return synced

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
