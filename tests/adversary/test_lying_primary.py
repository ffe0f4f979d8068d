"""A primary that lies to a venue's agent: frames that are not JSON, not an object,
nested 100 000 deep, events without a sequence number, a heartbeat whose sequence is
text; audit views that are not what the route documents. The agent drops that
connection and links again (backing off), fails that round of verification and runs the
next — neither its link nor its verifier may die: a venue whose agent stopped would be
seen as a lost link, and the rules re-form the committee without that venue's members
(docs/scoring.md "Faults"), which is what a primary that would rather pick the committee
wants; a venue whose verifier stopped no longer catches a fork."""

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


VIEWS = [
    "[1, 2]",
    "[" * 100_000 + "]" * 100_000,
    '{"origin": "o", "checkpoint": "c", "log_vkey": "k", "entries": 5}',
    '{"origin": null}',
]


@pytest.mark.parametrize("lie", VIEWS, ids=[x[:24] for x in VIEWS])
async def test_a_malformed_audit_view_does_not_stop_the_venue_verifying(
        tmp_path: Path, lie: str) -> None:
    """The agent checks the primary's log every few seconds: an audit view that is not
    what the route documents is a failed round, logged — the next round runs. (Were the
    verifier to stop, the primary could fork the venue's view unseen from then on.)"""
    from aiohttp import web

    served = 0

    async def view(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(text=lie, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/sessions/{sid}/audit/view", view)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    mirror = Mirror(tmp_path / "venue.db")
    agent = Agent(primary=f"http://127.0.0.1:{port}", venue="js-suzhou", token="t",
                  mirror=mirror, verify_s=0.01)
    verifier = asyncio.create_task(agent._verifier("s-1"))
    try:
        for _ in range(400):
            if served >= 3 or verifier.done():
                break
            await asyncio.sleep(0.025)
        assert not verifier.done(), verifier.exception()
        assert served >= 3
    finally:
        verifier.cancel()
        await asyncio.gather(verifier, return_exceptions=True)
        if agent._http is not None:
            await agent._http.close()
        await runner.cleanup()
        mirror.close()


LISTS = ["[1, 2]", '{"sessions": 5}', '{"sessions": [7]}', '{"nothing": []}',
         "[" * 100_000 + "]" * 100_000]


@pytest.mark.parametrize("lie", LISTS, ids=[x[:24] for x in LISTS])
async def test_a_malformed_session_list_does_not_stop_the_agent(
        tmp_path: Path, lie: str) -> None:
    """The agent asks the primary for its sessions every few seconds: a list not shaped
    as documented is a failed round, logged; the agent (every link and verifier it
    runs) carries on."""
    from aiohttp import web

    listed = 0

    async def me(request: web.Request) -> web.Response:
        return web.json_response({"role": "operator", "venue": "js-suzhou",
                                  "subject": "op", "name": "苏州"})

    async def sessions(request: web.Request) -> web.Response:
        nonlocal listed
        listed += 1
        return web.Response(text=lie, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/sessions", sessions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    mirror = Mirror(tmp_path / "venue.db")
    agent = Agent(primary=f"http://127.0.0.1:{port}", venue="js-suzhou", token="t",
                  mirror=mirror, discover_s=0.01)
    run = asyncio.create_task(agent.run())
    try:
        for _ in range(400):
            if listed >= 3 or run.done():
                break
            await asyncio.sleep(0.025)
        assert not run.done(), run.exception()
        assert listed >= 3
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await runner.cleanup()
        mirror.close()
