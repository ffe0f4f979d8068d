"""A client that asks for replays faster than it reads them.

Each ``hello`` queues a replay of up to a thousand frames; replays were not counted
against the connection's outgoing bound, so a few KB of hellos from a client that does
not read queued tens of MiB on the server. Now a connection's queued syncs share one
budget (the replay cap): past it the client is a slow consumer (``bye slow_consumer``,
close 4429) and what the server holds stays flat. Asserted on what the hub says it has
queued, never on wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets
from conftest import Harness, make_token
from websockets.asyncio.client import connect as ws_connect

from evalsvc.sessions.ws import HUB

pytestmark = pytest.mark.db

HELLOS = 200


async def _full_replay(api: Harness, sid: str) -> tuple[int, int]:
    """(frames, bytes) of one replay from 0, as a reading client receives it."""
    ws = await api.client.ws_connect(f"/ws/sessions/{sid}")
    await ws.send_str(json.dumps({"type": "auth", "token": api.sup}))
    await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
    frames = size = 0
    while True:
        data = (await ws.receive(timeout=10)).data
        m = json.loads(data)
        if m["type"] in ("event", "synced"):
            frames += 1
            size += len(data.encode("utf-8"))
        if m["type"] == "synced":
            await ws.close()
            return frames, size


async def _stalled_socket(port: int, sid: str) -> Any:
    sock = socket.socket()
    # A tiny receive window and a one-frame library queue: once full, nothing takes
    # bytes off the socket and the server's sends back up (tests/e2e/test_slow_consumer.py).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await ws_connect(
        f"ws://127.0.0.1:{port}/ws/sessions/{sid}",
        sock=sock,
        max_queue=1,
        ping_interval=None,
        compression=None,
    )


@pytest.mark.parametrize("epoch", ["replay", "snapshot"])
async def test_hellos_faster_than_replays_drain_are_cut_and_memory_stays_flat(
    api: Harness, epoch: str
) -> None:
    sid, _ = await api.to_stage("scoring")
    frames, size = await _full_replay(api, sid)
    token = make_token(api.settings, "supervisor", subject="sup-flood")
    flood = await _stalled_socket(api.client.server.port, sid)
    try:
        await _flood(api, flood, token, epoch, frames, size)
    finally:
        flood.transport.abort()


async def _flood(api: Harness, flood: Any, token: str, epoch: str, frames: int, size: int) -> None:
    hub = api.client.server.app[HUB]
    await flood.send(json.dumps({"type": "auth", "token": token}))
    conn = None
    for _ in range(200):
        conn = next((c for c in hub.conns if c.principal.subject == "sup-flood"), None)
        if conn is not None:
            break
        await asyncio.sleep(0.01)
    assert conn is not None

    peak = [0, 0]
    sampling = True

    def queued() -> tuple[int, int]:
        if hasattr(hub, "queued"):
            return hub.queued()  # type: ignore[no-any-return]
        # (The hub before it said what it queued: count it here, to fail on behaviour.)
        q = [t for c in hub.conns for t in c._queue]
        return len(q), sum(len(t.encode()) for t in q)

    async def sample() -> None:
        while sampling:
            f, b = queued()
            peak[0], peak[1] = max(peak[0], f), max(peak[1], b)
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    # 200 hellos: ~10 KB sent. A replay each (or, with a foreign epoch, a snapshot each).
    hello = {"type": "hello", "epoch": None if epoch == "replay" else "ep-other", "last_seq": 0}
    for _ in range(HELLOS):
        await flood.send(json.dumps(hello))
    for _ in range(1000):  # the reader works through them (each costs a database read)
        if conn.closing is not None or conn not in hub.conns:
            break
        await asyncio.sleep(0.01)
    sampling = False
    await sampler

    # Cut as a slow consumer …
    assert conn.closing == "slow_consumer"
    # … and the server never held more than the connection's bounds: one replay budget
    # (the replay cap) of sync frames plus the live queue — not 200 replays.
    assert peak[0] <= hub.replay_cap + 1 + hub.queue_size, (peak, frames)
    assert peak[1] < 8 * max(size, 64 * 1024), (peak, size)
    assert peak[0] < HELLOS * frames // 4, (peak, frames)

    # Reading on, the client finds what was already on its way, then the reason.
    others: list[dict[str, Any]] = []
    code = None
    try:
        while True:
            m = json.loads(await asyncio.wait_for(flood.recv(), 10))
            if m["type"] not in ("event", "synced", "snapshot", "auth_ok"):
                others.append(m)
    except websockets.ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
    assert [m.get("code") for m in others if m["type"] == "bye"] == ["slow_consumer"]
    assert code == 4429
