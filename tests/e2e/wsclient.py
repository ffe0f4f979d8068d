"""A resuming session WebSocket client for the multi-process tests (and bench/sync.py).

It behaves as a careful browser page does: authenticates, says hello with the epoch and
the last seq it holds, checks every event is exactly the next seq (a gap or a duplicate is
recorded as a problem), keeps a running chain hash of what it saw, reconnects with
exponential backoff and jitter, and re-sends an unacknowledged submission under the same
id until it is acknowledged.

Every wait has a deadline; when it passes, the error names the client, the session and
what was awaited (:meth:`Client.wait_synced`, :meth:`Client.wait_seq`,
:meth:`Client.request`, :func:`stop_clients`).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp

from evalsvc.sessions.protocol import chain_hash


class Client:
    """One resuming connection to ``/ws/sessions/{sid}`` of one of ``bases``."""

    def __init__(self, name: str, bases: list[str], sid: str, token: str, seed: int = 0) -> None:
        self.name = name
        self.bases = bases
        self.sid = sid
        self.token = token
        self.rng = random.Random(seed)
        self.epoch: str | None = None
        self.last_seq = 0
        self.hash = ""
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.snapshots = 0
        self.connects = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.on_event: Any = None  # callback(client, event message, receive time)
        self.keep_events = True

    # --- connection ----------------------------------------------------------------------

    async def run(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting after any drop) until ``stop`` is set."""
        attempt = 0
        while not stop.is_set():
            base = self.bases[self.connects % len(self.bases)]
            try:
                ws = await http.ws_connect(
                    f"{base.replace('http', 'ws', 1)}/ws/sessions/{self.sid}", heartbeat=None
                )
            except (aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue
            self.connects += 1
            if stop.is_set():
                # Stopped (and dropped) while connecting: nobody would close this socket,
                # and an idle session sends nothing that would end the read loop below.
                await ws.close()
                break
            self.ws = ws  # (no await since the check: a stop from now on drops this one)
            try:
                await ws.send_str(json.dumps({"type": "auth", "token": self.token}))
                await ws.send_str(
                    json.dumps({"type": "hello", "epoch": self.epoch, "last_seq": self.last_seq})
                )
                self.connected.set()
                attempt = 0
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    self._on(json.loads(msg.data))
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError):
                pass
            finally:
                self.connected.clear()
                self.synced.clear()
                self.ws = None
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("dropped"))
                self._pending.clear()
                if not ws.closed:
                    await ws.close()
            if not stop.is_set():
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    def _backoff(self, attempt: int) -> float:
        return self.rng.uniform(0, min(1.0, 0.05 * 2**attempt))

    async def drop(self) -> None:
        """Close the socket from the client side (the test's chaos monkey)."""
        ws = self.ws
        if ws is not None and not ws.closed:
            await ws.close()

    def _on(self, m: dict[str, Any]) -> None:
        kind = m["type"]
        if kind == "auth_ok":
            if self.epoch is not None and m["epoch"] != self.epoch:
                self.problems.append(f"epoch changed {self.epoch} → {m['epoch']}")
            self.epoch = m["epoch"]
        elif kind == "event":
            if m["seq"] != self.last_seq + 1:
                self.problems.append(f"expected seq {self.last_seq + 1}, got {m['seq']}")
                return
            ev = {k: m[k] for k in ("seq", "event", "payload", "actor", "venue", "time")}
            self.hash = chain_hash(self.hash, ev)
            self.last_seq = m["seq"]
            if self.keep_events:
                self.events.append(ev)
            if self.on_event is not None:
                self.on_event(self, m)
        elif kind == "snapshot":
            self.snapshots += 1
            self.problems.append(f"snapshot at {m['seq']} ({m['reason']})")
            self.last_seq = m["seq"]
        elif kind == "synced":
            self.synced.set()
        elif kind in ("ack", "error"):
            fut = self._pending.pop(m.get("id") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(m)
            elif kind == "error":
                self.problems.append(f"error {m}")

    # --- commands ------------------------------------------------------------------------

    def _where(self) -> str:
        return (
            f"{self.name} on session {self.sid}: {self.connects} connections, "
            f"last seq {self.last_seq}, {'connected' if self.ws is not None else 'not connected'}"
        )

    async def request(
        self, doc: dict[str, Any], *, timeout: float = 15, deadline: float = 60
    ) -> dict[str, Any]:
        """Send ``doc`` (with an ``id``) until an ack or error for that id arrives,
        re-sending after every drop or ``timeout`` seconds without an answer; fails
        after ``deadline`` seconds in all."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline
        attempts, last = 0, "never connected"
        while True:
            left = give_up - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"no ack for {doc.get('type')} {doc['id']!r} within {deadline:g} s "
                    f"({attempts} sends, last: {last}); {self._where()}"
                )
            try:
                await asyncio.wait_for(self.connected.wait(), left)
            except TimeoutError:
                continue
            ws = self.ws
            if ws is None:
                await asyncio.sleep(0.01)
                continue
            fut: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[doc["id"]] = fut
            try:
                attempts += 1
                await ws.send_str(json.dumps(doc))
                return await asyncio.wait_for(fut, min(timeout, max(left, 0.01)))
            except (ConnectionError, TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._pending.pop(doc["id"], None)
                await asyncio.sleep(0.01)

    async def wait_synced(self, timeout: float = 10) -> None:
        """Until the server said ``synced`` on the current connection."""
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no 'synced' within {timeout:g} s; {self._where()}; problems: {self.problems[:3]}"
            ) from None

    async def wait_seq(self, seq: int, timeout: float = 10) -> None:
        """Until this client holds every event up to ``seq``."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        while self.last_seq < seq:
            if loop.time() >= give_up:
                raise TimeoutError(
                    f"no event with seq >= {seq} within {timeout:g} s; {self._where()}; "
                    f"problems: {self.problems[:3]}"
                )
            await asyncio.sleep(0.02)


async def stop_clients(
    clients: list[Client],
    runners: list[asyncio.Task[None]],
    stop: asyncio.Event,
    *,
    timeout: float = 20,
) -> None:
    """Set ``stop``, close every client's socket and wait for their :meth:`Client.run`
    tasks (``runners[i]`` runs ``clients[i]``) to end; after ``timeout`` seconds, cancel
    those left and fail naming them."""
    stop.set()
    for c in clients:
        await c.drop()
    if not runners:
        return
    _, pending = await asyncio.wait(runners, timeout=timeout)
    if pending:
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=5)
        stuck = [c._where() for c, t in zip(clients, runners, strict=False) if t in pending]
        raise TimeoutError(
            f"{len(pending)} client(s) still running {timeout:g} s after stop: {stuck}"
        )
    for t in runners:
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc


def expected_hash(events: list[dict[str, Any]]) -> str:
    """The chain hash of events as the REST API returns them (``GET …/events``)."""
    h = ""
    for e in events:
        h = chain_hash(
            h,
            {
                "seq": e["seq"],
                "event": e["type"],
                "payload": e["payload"],
                "actor": e["actor"],
                "venue": e["venue"],
                "time": e["time_ms"],
            },
        )
    return h
