"""The findings over the WebSocket: what crashed with ``internal_error`` / 1011 is a
documented ``error`` code (the connection stays open) or a documented close code, and
the WebSocket limits are the ones docs/protocol.md states."""

from __future__ import annotations

import base64
import json

import aiohttp
from conftest import Harness, scoring_sheet

from evalsvc.sessions.protocol import MAX_MESSAGE_BYTES
from evalsvc.sessions.ws import HARD_FRAME_LIMIT

from .conftest import (
    WS,
    assert_problem,
    open_ws,
    request,
    still_serves,
    ws_still_serves,
)


async def test_plain_get_of_the_websocket_is_426(api: Harness) -> None:
    sid, _ = await api.create()
    answer = await request(api, "GET", f"/ws/sessions/{sid}", token=api.sup)
    problem = assert_problem(answer, 426, "upgrade_required")
    assert "WebSocket" in problem["detail"]
    assert answer.headers["Upgrade"] == "websocket"
    await still_serves(api)


async def test_bad_handshake_is_400(api: Harness) -> None:
    sid, _ = await api.create()
    answer = await request(
        api,
        "GET",
        f"/ws/sessions/{sid}",
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "7"},
    )
    assert_problem(answer, 400, "malformed_request")
    await still_serves(api)


async def _refused_in_band(ws: WS, raw: str, code: str) -> dict[str, object]:
    await ws.ws.send_str(raw)
    err = await ws.next("error")
    assert err["code"] == code, err
    await ws_still_serves(ws)
    return err


async def test_deeply_nested_message_is_malformed_body(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    raw = '{"type": "submit", "id": "sheet-0001", "sheet": ' + "[" * 20_000 + "]" * 20_000 + "}"
    err = await _refused_in_band(ws, raw, "malformed_body")
    assert "nested deeper" in str(err["message"])


async def test_integer_of_5000_digits_is_malformed_body(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    await _refused_in_band(ws, '{"type": "heartbeat", "seq": ' + "9" * 5000 + "}", "malformed_body")
    raw = '{"type": "submit", "id": "sheet-0002", "sheet": {"n": ' + "1" * 5000 + "}}"
    err = await _refused_in_band(ws, raw, "malformed_body")
    assert err["id"] == "sheet-0002"


async def test_lone_surrogate_in_a_key_or_value_is_malformed_body(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    raw = '{"type": "submit", "id": "sheet-0003", "sheet": {"stage": "scoring\\ud800"}}'
    err = await _refused_in_band(ws, raw, "malformed_body")
    assert err["field"] == "sheet/stage" and err["id"] == "sheet-0003"
    raw = '{"type": "command", "id": "cmd-000001", "body": {"\\udfffx": 1}}'
    await _refused_in_band(ws, raw, "malformed_body")


async def test_a_fractional_json_number_scores_as_over_http(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    sheet = json.dumps(scoring_sheet()).replace('"T1": "40"', '"T1": 30.5')
    assert '"T1": 30.5' in sheet
    status, body = await api.call(
        "POST",
        f"/api/sessions/{sid}/sheets",
        experts[0][1],
        data=sheet.encode(),
        headers={"Idempotency-Key": "http-sheet-305", "Content-Type": "application/json"},
    )
    assert status == 201, body
    ws = await open_ws(api, sid, experts[1][1])
    await ws.ws.send_str('{"type": "submit", "id": "ws-sheet-305", "sheet": ' + sheet + "}")
    ack = await ws.next("ack")
    assert ack["id"] == "ws-sheet-305" and not ack["replayed"], ack
    # Both sheets store the same points: the same digest for the same scores.
    assert ack["result"]["sha256"] == body["sha256"]
    # A number off the step is refused the same way on both paths.
    off = sheet.replace("30.5", "30.25")
    await ws.ws.send_str('{"type": "submit", "id": "ws-sheet-3025", "sheet": ' + off + "}")
    err = await ws.next("error")
    assert (err["code"], err["field"]) == ("invalid_input", "bids/B1/T1"), err
    status, problem = await api.call(
        "POST",
        f"/api/sessions/{sid}/sheets",
        experts[0][1],
        data=off.encode(),
        headers={"Idempotency-Key": "http-sheet-3025", "Content-Type": "application/json"},
    )
    assert (status, problem["field"]) == (422, "bids/B1/T1")


async def test_frame_of_exactly_the_hard_limit_is_refused_in_band(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    assert HARD_FRAME_LIMIT == 256 * 1024
    await _refused_in_band(ws, "x" * HARD_FRAME_LIMIT, "message_too_large")
    await _refused_in_band(ws, "x" * (MAX_MESSAGE_BYTES + 1), "message_too_large")


async def test_frame_over_the_hard_limit_closes_with_1009(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    await ws.ws.send_str("x" * (HARD_FRAME_LIMIT + 1))
    assert await ws.closed() == 1009
    await still_serves(api)


async def test_invalid_utf8_closes_with_1007(api: Harness) -> None:
    sid, _ = await api.create()
    ws = await open_ws(api, sid, api.sup)
    await ws.ws.send_frame(b'{"type": "heartbeat", "seq": 0, "x": "\xff"}', aiohttp.WSMsgType.TEXT)
    assert await ws.closed() == 1007
    # An encoded surrogate is not UTF-8 either (RFC 3629 §3).
    ws = await open_ws(api, sid, api.sup)
    await ws.ws.send_frame(b'{"x": "\xed\xa0\x80"}', aiohttp.WSMsgType.TEXT)
    assert await ws.closed() == 1007
    await still_serves(api)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


async def test_hostile_tokens_are_unauthenticated_not_internal_errors(api: Harness) -> None:
    sid, _ = await api.create()
    nested = "evs1." + _b64(b"[" * 20_000 + b"]" * 20_000) + "." + _b64(b"x" * 32)
    for token in (nested, "evs1.令牌.签名", "evs1.\ud800.x", "evs1." + "A" * 10_000 + ".x"):
        ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
        await ws.ws.send_str(json.dumps({"type": "auth", "token": token}))
        err = await ws.recv()
        assert (err["type"], err["code"]) == ("error", "unauthenticated"), err
        assert await ws.closed() == 4401
    await still_serves(api)


async def test_hostile_first_frames_are_unauthenticated(api: Harness) -> None:
    sid, _ = await api.create()
    for raw in (
        b"[" * 20_000,
        b'{"type": "auth", "token": 1' + b"0" * 5000 + b"}",
        b'{"type": "auth", "token": "\\ud800"}',
        b'{"type": "auth", "token": "evs1.a.b", "token": "evs1.c.d"}',
    ):
        ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
        await ws.ws.send_frame(raw, aiohttp.WSMsgType.TEXT)
        err = await ws.recv()
        assert (err["type"], err["code"]) == ("error", "unauthenticated"), err
        assert await ws.closed() == 4401
    await still_serves(api)


async def test_presence_only_after_hello(api: Harness) -> None:
    sid, _ = await api.create()
    op = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
    await op.send({"type": "auth", "token": api.op()})
    assert (await op.recv())["type"] == "auth_ok"
    sup = await open_ws(api, sid, api.sup)  # joins: a presence change
    assert (await sup.next("presence"))["event"] == "join"
    # The operator, authenticated but not joined, was told nothing and is not listed.
    await op.send({"type": "heartbeat", "seq": 0})
    first = await op.recv()
    assert first["type"] == "heartbeat", first
    await op.send({"type": "hello", "epoch": None, "last_seq": 0})
    presence = await op.next("presence")
    assert presence["event"] == "join" and len(presence["connected"]) == 2
