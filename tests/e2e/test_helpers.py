"""The multi-process helpers end every wait and leave no process behind: a hang in them
would only show as a test killed by pytest-timeout, minutes later, saying nothing."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from procs import Server
from wsclient import Client, stop_clients

pytestmark = pytest.mark.e2e


async def _slow_idle_ws(request: web.Request) -> web.WebSocketResponse:
    await asyncio.sleep(0.5)  # a loaded server: the handshake takes a while
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for _ in ws:  # an idle session: nothing is ever sent, nothing acknowledged
        pass
    return ws


@contextlib.asynccontextmanager
async def _client_of_a_slow_idle_server(
    aiohttp_server: Any,
) -> AsyncIterator[tuple[Client, asyncio.Task[Any], asyncio.Event]]:
    """A test client running against a server that is slow to accept and never speaks."""
    app = web.Application()
    app.router.add_get("/ws/sessions/s-1", _slow_idle_ws)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        client = Client("expert", [str(server.make_url(""))], "s-1", "token")
        stop = asyncio.Event()
        yield client, asyncio.create_task(client.run(http, stop)), stop


async def test_a_client_stopped_while_connecting_ends(aiohttp_server: Any) -> None:
    async with _client_of_a_slow_idle_server(aiohttp_server) as (client, runner, stop):
        await asyncio.sleep(0.1)  # inside ws_connect: no socket to drop yet
        await stop_clients([client], [runner], stop, timeout=5)
        assert runner.done()


async def test_an_unanswered_request_fails_naming_it(aiohttp_server: Any) -> None:
    async with _client_of_a_slow_idle_server(aiohttp_server) as (client, runner, stop):
        with pytest.raises(TimeoutError, match=r"no ack for submit 'k-1' within 2 s.*s-1"):
            await client.request({"type": "submit", "id": "k-1"}, timeout=1, deadline=2)
        with pytest.raises(TimeoutError, match=r"no event with seq >= 3 within 0.2 s"):
            await client.wait_seq(3, timeout=0.2)
        await stop_clients([client], [runner], stop, timeout=5)


def test_a_server_that_cannot_start_is_killed_and_named(tmp_path: Path) -> None:
    # Something else holds the port: the server cannot bind and exits.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(
            db_url=f"sqlite:///{tmp_path / 'db'}",
            secret_file=tmp_path / "secret",
            log=tmp_path / "log",
            port=port,
        )
        with pytest.raises(RuntimeError, match=rf"server on port {port} (exited|did not)"):
            server.start(timeout=30)
    assert server.proc is not None and server.proc.poll() is not None
