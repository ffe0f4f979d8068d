"""A primary that lies to a venue's agent on the wire: frames that are not JSON, not an
object, nested 100 000 deep, events without a sequence number, a heartbeat whose
sequence is text. The agent drops that connection and links again (backing off) — its
link task must not die: a venue whose agent stopped would be seen as a lost link, and
the rules re-form the committee without that venue's members (docs/scoring.md
"Faults"), which is what a primary that would rather pick the committee wants."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from evalsvc.venues.agent import Agent
from evalsvc.venues.mirror import Mirror

LIES = [
    "not json",
    "[1, 2]",
    "[" * 100_000 + "]" * 100_000,
    '{"type": "event"}',
    '{"type": "auth_ok"}',
    '{"type": "snapshot", "epoch": "e"}',
    '{"type": "heartbeat", "seq": "many"}',
]


@pytest.mark.parametrize("lie", LIES, ids=[x[:24] for x in LIES])
async def test_a_malformed_frame_drops_the_connection_not_the_agent(
        tmp_path: Path, lie: str) -> None:
    connections = 0

    async def primary(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()  # auth
        await ws.recv()  # hello
        if lie.startswith('{"type": "heartbeat"'):
            await ws.send('{"type": "synced"}')
        await ws.send(lie)
        # The agent, not the primary, ends the connection.
        await asyncio.wait_for(ws.wait_closed(), 30)

    async with serve(primary, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        mirror = Mirror(tmp_path / "venue.db")
        agent = Agent(primary=f"http://127.0.0.1:{port}", venue="js-suzhou", token="t",
                      mirror=mirror, backoff_base_s=0.01, backoff_cap_s=0.05)
        agent.synced["s-1"] = asyncio.Event()
        link = asyncio.create_task(agent._link("s-1", None))
        try:
            for _ in range(400):
                if connections >= 3 or link.done():
                    break
                await asyncio.sleep(0.025)
            assert not link.done(), link.exception()
            assert connections >= 3
        finally:
            link.cancel()
            await asyncio.gather(link, return_exceptions=True)
            mirror.close()
