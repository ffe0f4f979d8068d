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
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
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


@contextlib.asynccontextmanager
async def _http_primary(
    routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]],
) -> AsyncIterator[str]:
    """A primary answering ``routes`` (GET path → handler) on loopback: its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _keeps_running(task: asyncio.Task[Any], served: Callable[[], int],
                         agent: Agent) -> None:
    """The agent's ``task`` still runs once the primary has lied to it three times."""
    try:
        for _ in range(400):
            if served() >= 3 or task.done():
                break
            await asyncio.sleep(0.025)
        assert not task.done(), task.exception()
        assert served() >= 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if agent._http is not None:
            await agent._http.close()


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
        try:
            await _keeps_running(asyncio.create_task(agent._link("s-1", None)),
                                 lambda: connections, agent)
        finally:
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
    served = 0

    async def view(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(text=lie, content_type="application/json")

    mirror = Mirror(tmp_path / "venue.db")
    try:
        async with _http_primary({"/api/sessions/{sid}/audit/view": view}) as url:
            agent = Agent(primary=url, venue="js-suzhou", token="t", mirror=mirror,
                          verify_s=0.01)
            await _keeps_running(asyncio.create_task(agent._verifier("s-1")),
                                 lambda: served, agent)
    finally:
        mirror.close()


LISTS = ["[1, 2]", '{"sessions": 5}', '{"sessions": [7]}', '{"nothing": []}',
         "[" * 100_000 + "]" * 100_000]


@pytest.mark.parametrize("lie", LISTS, ids=[x[:24] for x in LISTS])
async def test_a_malformed_session_list_does_not_stop_the_agent(
        tmp_path: Path, lie: str) -> None:
    """The agent asks the primary for its sessions every few seconds: a list not shaped
    as documented is a failed round, logged; the agent (every link and verifier it
    runs) carries on."""
    listed = 0

    async def me(request: web.Request) -> web.Response:
        return web.json_response({"role": "operator", "venue": "js-suzhou",
                                  "subject": "op", "name": "苏州"})

    async def sessions(request: web.Request) -> web.Response:
        nonlocal listed
        listed += 1
        return web.Response(text=lie, content_type="application/json")

    mirror = Mirror(tmp_path / "venue.db")
    try:
        async with _http_primary({"/api/me": me, "/api/sessions": sessions}) as url:
            agent = Agent(primary=url, venue="js-suzhou", token="t", mirror=mirror,
                          discover_s=0.01)
            await _keeps_running(asyncio.create_task(agent.run()), lambda: listed, agent)
    finally:
        mirror.close()
