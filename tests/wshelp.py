"""A WebSocket test client of /ws/sessions/{id} for the in-process test server."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from conftest import Harness


class WS:
    """A test client of /ws/sessions/{id}."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, doc: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(doc))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return dict(json.loads(msg.data))

    async def until(
        self, kind: str, timeout: float = 10
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Messages received before the first of ``kind``, and that one."""
        seen = []
        while True:
            m = await self.recv(timeout)
            if m["type"] == kind:
                return seen, m
            seen.append(m)

    async def next(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The first message of ``kind`` (the ones before it dropped)."""
        return (await self.until(kind, timeout))[1]

    async def closed(self, timeout: float = 10) -> int | None:
        """Read until the server closes; its close code."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code
            if msg.type == aiohttp.WSMsgType.ERROR:
                return self.ws.close_code


SAME = "same-epoch"  # connect(): use the epoch the server just announced


async def connect(
    api: Harness, sid: str, token: str, *, last_seq: int = 0, epoch: str | None = SAME
) -> tuple[WS, dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Authenticate and hello; returns (client, auth_ok, messages before synced, synced)."""
    ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
    await ws.send({"type": "auth", "token": token})
    ok = await ws.recv()
    assert ok["type"] == "auth_ok", ok
    if epoch == SAME:
        epoch = ok["epoch"] if last_seq else None
    await ws.send({"type": "hello", "epoch": epoch, "last_seq": last_seq})
    before, synced = await ws.until("synced")
    return ws, ok, before, synced
