"""A resuming session WebSocket client for the multi-process tests (and bench/sync.py).

It behaves as a careful browser page does: authenticates, says hello with the epoch and
the last seq it holds, checks every event is exactly the next seq (a gap or a duplicate is
recorded as a problem), keeps a running chain hash of what it saw, reconnects with
exponential backoff and jitter, and re-sends an unacknowledged submission under the same
id until it is acknowledged.
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
            self.ws = ws
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

    async def request(self, doc: dict[str, Any], *, timeout: float = 15) -> dict[str, Any]:
        """Send ``doc`` (with an ``id``) until an ack or error for that id arrives,
        re-sending after every drop."""
        while True:
            await self.connected.wait()
            ws = self.ws
            if ws is None:
                continue
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[doc["id"]] = fut
            try:
                await ws.send_str(json.dumps(doc))
                return await asyncio.wait_for(fut, timeout)
            except (ConnectionError, TimeoutError, aiohttp.ClientError, RuntimeError):
                self._pending.pop(doc["id"], None)
                await asyncio.sleep(0.01)


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
