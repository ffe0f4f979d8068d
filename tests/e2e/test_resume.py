"""Resume: a client at seq N that reconnects receives exactly N+1..top, in order — also
when the server was SIGKILLed and restarted in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token, scoring_sheet
from procs import Server
from test_chaos import post, prepare

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e


async def receive(
    ws: aiohttp.ClientWebSocketResponse, what: str, timeout: float = 10
) -> dict[str, Any]:
    """The next frame as a document; fails naming ``what`` was awaited when none comes
    within ``timeout`` seconds or the socket closes instead."""
    try:
        msg = await ws.receive(timeout=timeout)
    except TimeoutError:
        raise TimeoutError(f"no frame within {timeout:g} s while waiting for {what}") from None
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise AssertionError(f"waiting for {what}, got {msg.type.name} {msg.data!r} {msg.extra!r}")
    return dict(json.loads(msg.data))


async def hello(
    http: aiohttp.ClientSession, base: str, sid: str, token: str, epoch: str | None, last: int
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any], list[dict[str, Any]], int]:
    ws = await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws/sessions/{sid}")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    await ws.send_str(json.dumps({"type": "hello", "epoch": epoch, "last_seq": last}))
    ok = await receive(ws, f"auth_ok from session {sid}")
    got: list[dict[str, Any]] = []
    while True:
        m = await receive(ws, f"'synced' from session {sid} after {len(got)} frames")
        if m["type"] == "synced":
            return ws, ok, got, m["seq"]
        got.append(m)


@pytest.mark.parametrize("kill", [False, True], ids=["reconnect", "after-sigkill"])
async def test_reconnect_at_seq_n_receives_exactly_n_plus_1_to_top(
    tmp_path: Path, db_url: str, settings: Settings, kill: bool
) -> None:
    server = Server(
        db_url=db_url, secret_file=Path(settings.auth.token_secret_file), log=tmp_path / "s.log"
    )
    server.start()
    try:
        # No keep-alive: pooled connections would point at the killed process.
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=20),
            connector=aiohttp.TCPConnector(force_close=True),
        ) as http:
            sid, ops, experts = await prepare(http, server.url, settings)
            sup = make_token(settings, "supervisor")
            ws, ok, replay, n = await hello(http, server.url, sid, sup, None, 0)
            assert [m["seq"] for m in replay] == list(range(1, n + 1))
            # Read a few live events, then go away at seq N.
            url = f"{server.url}/api/sessions/{sid}/sheets"
            for i in range(3):
                async with http.post(
                    url,
                    json=scoring_sheet(),
                    headers={
                        "Authorization": f"Bearer {experts[i][2]}",
                        "Idempotency-Key": f"r-{i:06d}",
                    },
                ) as r:
                    assert r.status == 201
            live = []
            while len(live) < 3:
                m = await receive(ws, f"live event {len(live) + 1} of 3 after seq {n}")
                if m["type"] != "presence":  # the supervisor is told of its own join
                    live.append(m)
            assert [(m["type"], m["seq"]) for m in live] == [("event", n + i) for i in (1, 2, 3)]
            n += 3
            await ws.close()
            if kill:
                server.kill()
                server.start()
            for i, (_, _, tok) in enumerate(experts * 5):
                async with http.post(
                    url,
                    json=scoring_sheet(t1=str(i % 50)),
                    headers={"Authorization": f"Bearer {tok}", "Idempotency-Key": f"m-{i:06d}"},
                ) as r:
                    assert r.status == 201
            status, doc = await post(
                http,
                f"{server.url}/api/sessions/{sid}/commands",
                ops["sh-ggzy"],
                {"command": "pause", "reason": "test"},
            )
            assert status == 200
            top = doc["seq"]
            ws, ok2, replay, synced = await hello(http, server.url, sid, sup, ok["epoch"], n)
            assert ok2["epoch"] == ok["epoch"]  # same database: a replay, not a snapshot
            assert [m["type"] for m in replay] == ["event"] * (top - n)
            assert [m["seq"] for m in replay] == list(range(n + 1, top + 1))
            assert synced == top
            await ws.close()
    finally:
        server.stop()
