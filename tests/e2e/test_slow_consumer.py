"""Slow consumers on a real server and real sockets: an expert's client authenticates,
says hello, then stops reading — its socket's receive buffer is tiny and its WebSocket
library stops taking bytes off the socket — while eight other experts submit score
sheets over their own WebSockets.

- The server is not held up: every other client keeps receiving every event, and the
  submitters keep getting their acks, while the stalled socket is full.
- The stalled client is cut as docs/protocol.md says: it leaves the presence list at
  once, and when it reads on, it finds every frame that was already on its way, then
  ``bye slow_consumer`` and the close status 4429.
- It reconnects with ``hello {epoch, last_seq}`` and receives exactly the events it
  missed, in order (a replay, not a snapshot); its chain hash then equals the server's.

Two ways of being cut: the queue bound (default settings) and the send timeout (a queue
too large to fill, a 2 s send timeout).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from conftest import make_token, scoring_sheet
from procs import Server
from test_chaos import all_events, prepare
from test_resume import hello
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from wsclient import Client, expected_hash, stop_clients

from evalsvc.config import Settings
from evalsvc.sessions.protocol import chain_hash

pytestmark = pytest.mark.e2e

RATE = 150.0  # sheets per second, all submitters together
CONFIGS = {
    # The defaults: a 512-frame queue fills first at this rate.
    "queue": "",
    # The queue cannot fill: only the send timeout can cut the client.
    "send_timeout": "[realtime]\nqueue_frames = 1000000\nsend_timeout_seconds = 2\n",
}


class Watcher(Client):
    """A supervisor's resuming client that also keeps presence messages and the time
    each event arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presence: list[tuple[float, dict[str, Any]]] = []
        self.arrived: dict[int, float] = {}

    def _on(self, m: dict[str, Any]) -> None:
        if m["type"] == "presence":
            self.presence.append((time.monotonic(), m))
        elif m["type"] == "event":
            self.arrived.setdefault(m["seq"], time.monotonic())
        super()._on(m)


class Stalled:
    """The slow client: reads up to ``synced``, then stops reading."""

    def __init__(self) -> None:
        self.ws: ClientConnection | None = None
        self.epoch: str | None = None
        self.last_seq = 0
        self.hash = ""
        self.problems: list[str] = []

    async def connect(self, port: int, sid: str, token: str) -> None:
        sock = socket.socket()
        # A tiny receive buffer (set before connecting, so the window is small from the
        # handshake on) and a 4-frame library queue: once those are full, nothing takes
        # bytes off the socket and the server's sends back up.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        self.ws = await ws_connect(
            f"ws://127.0.0.1:{port}/ws/sessions/{sid}",
            sock=sock,
            max_queue=4,
            ping_interval=None,  # the client sends no pings of its own
            compression=None,  # full-size frames: the buffers fill in fewer events
        )
        await self.ws.send(json.dumps({"type": "auth", "token": token}))
        await self.ws.send(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
        while True:
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            except TimeoutError:
                raise TimeoutError(
                    f"the stalled client got no frame from session {sid} within 10 s "
                    f"before 'synced' (at seq {self.last_seq})"
                ) from None
            if m["type"] == "auth_ok":
                self.epoch = m["epoch"]
            elif m["type"] == "event":
                self.take(m)
            elif m["type"] == "synced":
                return

    def take(self, m: dict[str, Any]) -> None:
        if m["seq"] != self.last_seq + 1:
            self.problems.append(f"expected seq {self.last_seq + 1}, got {m['seq']}")
            return
        ev = {k: m[k] for k in ("seq", "event", "payload", "actor", "venue", "time")}
        self.hash = chain_hash(self.hash, ev)
        self.last_seq = m["seq"]

    async def read_on(self) -> tuple[list[dict[str, Any]], int | None]:
        """Read everything that is left; (the messages other than events, close code)."""
        assert self.ws is not None
        others: list[dict[str, Any]] = []
        try:
            while True:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                if m["type"] == "event":
                    self.take(m)
                else:
                    others.append(m)
        except websockets.ConnectionClosed as exc:
            return others, exc.rcvd.code if exc.rcvd is not None else None


@pytest.mark.parametrize("cut", list(CONFIGS))
async def test_a_client_that_stops_reading_is_cut_with_a_reason_and_resumes(
    tmp_path: Path, db_url: str, settings: Settings, cut: str
) -> None:
    config = tmp_path / "realtime.toml"
    config.write_text(CONFIGS[cut])
    server = Server(
        db_url=db_url,
        secret_file=Path(settings.auth.token_secret_file),
        log=tmp_path / "s.log",
        env={"EVALSVC_CONFIG": str(config)},
    )
    server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            sid, ops, experts = await prepare(http, server.url, settings)
            slow_seat, _, slow_token = experts[0]
            sup = Watcher("supervisor", [server.url], sid, make_token(settings, "supervisor"))
            submitters = [
                Client(eid, [server.url], sid, tok, seed=i)
                for i, (_, eid, tok) in enumerate(experts[1:])
            ]
            watchers = [sup] + [Client(f"op-{v}", [server.url], sid, t) for v, t in ops.items()]
            stop = asyncio.Event()
            runners = [asyncio.create_task(c.run(http, stop)) for c in watchers + submitters]
            for c in watchers + submitters:
                await c.wait_synced(10)

            slow = Stalled()
            await slow.connect(server.port, sid, slow_token)

            def slow_is(kind: str) -> bool:
                return any(
                    m["event"] == kind
                    and m["who"]["role"] == "expert"
                    and m["who"].get("seat") == slow_seat
                    for _, m in sup.presence
                )

            for _ in range(100):  # its join reached the supervisor
                if slow_is("join"):
                    break
                await asyncio.sleep(0.05)
            assert slow_is("join")
            stalled_at = time.monotonic()

            acks: list[tuple[float, float, int]] = []  # (sent, acked, seq)
            submitting = asyncio.Event()
            submitting.set()

            async def submit(i: int, c: Client) -> None:
                period = len(submitters) / RATE
                due = time.monotonic() + i * period / len(submitters)
                n = 0
                while submitting.is_set():
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    due += period
                    sent = time.monotonic()
                    reply = await c.request(
                        {
                            "type": "submit",
                            "id": f"slow-{i}-{n:06d}",
                            "sheet": scoring_sheet(t1=str(n % 50)),
                        }
                    )
                    assert reply["type"] == "ack", reply
                    acks.append((sent, time.monotonic(), reply["seq"]))
                    n += 1

            feeders = [asyncio.create_task(submit(i, c)) for i, c in enumerate(submitters)]
            deadline = time.monotonic() + 90
            while not slow_is("leave") and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert slow_is("leave"), (
                f"the stalled client was not cut within 90 s ({len(acks)} acks meanwhile)"
            )
            cut_at = next(
                t
                for t, m in sup.presence
                if m["event"] == "leave" and m["who"].get("seat") == slow_seat
            )
            # Read on at once: the server aborts the connection close_timeout_seconds
            # (5 s) after the bye if the client does not take it.
            reading = asyncio.create_task(slow.read_on())
            await asyncio.sleep(0.5)  # the server keeps serving the others after the cut
            submitting.clear()
            await asyncio.gather(*feeders)
            others, close_code = await reading
            assert slow.problems == [], slow.problems[:5]
            assert [m["type"] for m in others] == ["bye"], others
            assert others[0]["code"] == "slow_consumer"
            assert close_code == 4429

            # (a) While the slow client was stalled the others were served: every ack
            # came, and the supervisor received every event, each soon after its ack.
            during = [a for a in acks if a[1] <= cut_at]
            assert len(during) >= 100, len(during)
            delays = [sup.arrived[seq] - acked for _, acked, seq in during if seq in sup.arrived]
            assert len(delays) == len(during), "an event did not reach the supervisor"
            ack_ms = sorted(1000 * (acked - sent) for sent, acked, _ in during)
            # Loose on purpose (tests do not time the machine): a server held up by the
            # stalled socket would show the send timeout or the whole stall here.
            assert max(delays) < 5.0, max(delays)

            # (c) Resume from the seq it holds: exactly the missed events, in order.
            top = max(seq for *_, seq in acks)
            missed_from = slow.last_seq
            ws, ok, replay, synced = await hello(
                http, server.url, sid, slow_token, slow.epoch, slow.last_seq
            )
            await ws.close()
            assert ok["epoch"] == slow.epoch
            assert [m["type"] for m in replay] == ["event"] * len(replay), "a snapshot"
            assert synced == top
            assert [m["seq"] for m in replay] == list(range(missed_from + 1, top + 1))
            for m in replay:
                slow.take(m)
            assert slow.problems == []
            view = await all_events(http, server.url, sid, slow_token)
            assert slow.hash == expected_hash(view), "the slow client diverged"

            for c in watchers + submitters:  # nobody else was disturbed
                for _ in range(100):
                    if c.last_seq >= top:
                        break
                    await asyncio.sleep(0.05)
                assert c.problems == [], (c.name, c.problems[:5])
                assert c.last_seq == top, (c.name, c.last_seq, top)
                assert c.snapshots == 0 and c.connects == 1, c.name
            await stop_clients(watchers + submitters, runners, stop)
            log = server.log.read_text()
            reason = "frames queued" if cut == "queue" else "one send blocked"
            assert f"slow consumer expert:{experts[0][1]}: " in log and reason in log
            print(
                f"\nslow consumer ({cut}): cut {cut_at - stalled_at:.2f} s after it stopped "
                f"reading, at {RATE:g} sheets/s; {len(during)} acks meanwhile, ack p50 "
                f"{statistics.median(ack_ms):.1f} ms, max {ack_ms[-1]:.1f} ms; supervisor "
                f"max {1000 * max(delays):.1f} ms behind an ack; resumed "
                f"{top - missed_from} missed events by replay"
            )
    finally:
        server.stop()
