"""Helpers for the adversary tests: an insider who holds a valid token (or none) sends
whatever bytes they like through the public HTTP API and the WebSocket. Every refusal
must be a 4xx problem document (or a documented WebSocket error / close code), and the
server must answer the next request as if nothing happened.

The app, database and tokens are the shared fixtures of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Harness
from wshelp import WS

from evalsvc.config import DrawSettings, Settings


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def request(
    api: Harness,
    method: str,
    path: str,
    *,
    token: str | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request through the test client; the body parsed as JSON when it is."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    resp = await api.client.request(method, path, data=data, headers=h)
    text = await resp.text()
    ctype = resp.headers.get("Content-Type", "")
    body = json.loads(text) if "json" in ctype else text
    return Answer(resp.status, dict(resp.headers), body)


async def raw_request(api: Harness, head: bytes, body: bytes = b"") -> Answer:
    """Bytes the aiohttp client would refuse to send (non-ASCII header values, lines
    longer than any client allows), written to the server's socket as they are."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        header_block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = header_block.decode("latin-1").strip().split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().title()] = value.strip()
        if "Content-Length" in headers:
            payload = await asyncio.wait_for(
                reader.readexactly(int(headers["Content-Length"])), 10
            )
        else:
            payload = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        payload = _unchunk(payload)
    ctype = headers.get("Content-Type", "")
    return Answer(status, headers, json.loads(payload) if "json" in ctype else payload)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def assert_problem(answer: Answer, status: int, code: str | None = None) -> dict[str, Any]:
    """A 4xx RFC 9457 problem document with a detail for humans."""
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers.get("Content-Type", "").startswith("application/problem+json"), (
        answer.headers
    )
    doc = answer.body
    assert isinstance(doc, dict), doc
    assert doc["status"] == status and doc["detail"], doc
    assert doc["code"] != "internal_error", doc
    if code is not None:
        assert doc["code"] == code, doc
    return doc


async def still_serves(api: Harness) -> None:
    """The server answers an ordinary authenticated request afterwards."""
    answer = await request(api, "GET", "/api/me", token=api.sup)
    assert answer.status == 200, answer.body
    assert answer.body["role"] == "supervisor"


async def open_ws(api: Harness, sid: str, token: str, **kwargs: Any) -> WS:
    """Connected, authenticated and synced."""
    ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}", **kwargs))
    await ws.send({"type": "auth", "token": token})
    ok = await ws.recv()
    assert ok["type"] == "auth_ok", ok
    await ws.send({"type": "hello", "epoch": None, "last_seq": 0})
    await ws.next("synced")
    return ws


async def ws_still_serves(ws: WS) -> None:
    """The connection is open and answers a heartbeat."""
    await ws.send({"type": "heartbeat", "seq": 0})
    assert (await ws.next("heartbeat"))["type"] == "heartbeat"


@pytest.fixture
async def strict(aiohttp_client: Any, settings: Settings) -> Harness:
    """The app with the draw floors of config/default.toml (the suite's are seconds), for
    what a primary may not ask for at all (tests/adversary/test_draw_rules.py)."""
    from evalsvc.app import create_app

    real = dataclasses.replace(settings, draw=DrawSettings())
    return Harness(await aiohttp_client(create_app(real)), real)
