"""An insider with a token, or with a terminal on the server, against the bearer tokens.

Through the public surface only: HTTP, the session WebSocket, and ``evalsvc tokens``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Harness, make_token

from evalsvc.cli import main
from evalsvc.config import Settings

pytestmark = pytest.mark.db

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _cli(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run ``evalsvc --config <this test's settings> ARGS``; its stdout (JSON if it is)."""
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[auth]\ntoken_secret_file = "{settings.auth.token_secret_file}"\n'
        f'[database]\nurl = "{settings.database.url}"\n'
        f'[audit]\nkey_file = "{settings.audit.key_file}"\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    status = main(["--config", str(config), *args])
    out = capsys.readouterr()
    assert status == 0, out.err
    text = out.out.strip()
    return json.loads(text) if text.startswith("{") else text


async def _get(api: Harness, token: str, path: str = "/api/sessions") -> tuple[int, str, Any]:
    resp = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
    body = await resp.read()
    try:
        doc = json.loads(body)
    except ValueError:
        doc = body
    return resp.status, resp.headers.get("Content-Type", ""), doc


def _respellings(token: str) -> list[str]:
    """Other spellings of the same signature that a lenient base64 decoder accepts."""
    body, _, mac = token.rpartition(".")
    last = B64.index(mac[-1])
    # 32 bytes → 43 characters: the last one carries 2 unused bits.
    other_last = next(c for c in B64 if B64.index(c) >> 2 == last >> 2 and c != mac[-1])
    return [
        f"{body}.{mac}!",  # a foreign character appended
        f"{body}.{mac[:10]}!{mac[10:]}",  # … or inserted
        f"{body}.{mac}=",  # padding
        f"{body}.{mac[:20]}+{mac[21:]}" if mac[20] == "-" else f"{body}.{mac}$",
        f"{body}.{mac[:-1]}{other_last}",  # non-zero unused bits: same bytes
        f"{body}.{mac[:10]} {mac[10:]}",  # whitespace inside
    ]


async def test_a_token_has_exactly_one_spelling(api: Harness) -> None:
    token = api.sup
    assert (await _get(api, token))[0] == 200
    for spelled in _respellings(token):
        status, ctype, doc = await _get(api, spelled)
        assert status == 401, (spelled, status, doc)
        assert ctype.startswith("application/problem+json") and doc["code"] == "unauthenticated"


def _garbage(valid: str) -> list[str]:
    deep = "[" * 2500 + "]" * 2500  # deeper than the JSON parser recurses
    body, _, mac = valid.rpartition(".")
    return [
        "evs1.é.x",  # non-ASCII
        "evs1." + "令牌" * 20 + "." + "签名",
        valid[:-2] + "é" + valid[-1],
        "evs1." + _b64(deep[:1500].encode() + deep[-1500:].encode()) + ".AAAA",
        "evs1." + _b64(b"[" * 2000) + "." + mac,
        "evs1." + _b64(b'{"role": ["supervisor"], "exp": {"a": 1}}') + "." + mac,
        "evs1." + _b64(b"\xff\xfe\x00") + "." + mac,
        "evs1." + _b64(b"null") + "." + mac,
        "evs1...",
        "evs1.." + mac,
        body + "." + "A" * 5000,  # far longer than any token
        "evs1.%00.%00",
    ]


async def test_garbage_tokens_are_401_problems_never_500(api: Harness) -> None:
    for token in _garbage(api.sup):
        status, ctype, doc = await _get(api, token, "/api/me")
        assert status == 401, (token[:60], status, doc)
        assert ctype.startswith("application/problem+json"), ctype
        assert doc["code"] == "unauthenticated" and doc["status"] == 401


async def test_garbage_tokens_on_the_websocket_are_unauthenticated(api: Harness) -> None:
    sid, _ = await api.to_stage("drawing")
    for token in _garbage(api.sup)[:6]:
        ws = await api.client.ws_connect(f"/ws/sessions/{sid}")
        await ws.send_str(json.dumps({"type": "auth", "token": token}))
        msg = await ws.receive(timeout=10)
        doc = json.loads(msg.data)
        assert doc["type"] == "error" and doc["code"] == "unauthenticated", (token[:40], doc)
        await ws.close()


async def test_every_token_names_a_person_and_the_audit_log_says_who(
    api: Harness, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without a subject there is no token at all (it used to be "supervisor:supervisor",
    # the same actor for every supervisor).
    with pytest.raises(SystemExit):
        main(["tokens", "issue", "--role", "supervisor"])
    capsys.readouterr()
    sid, _ = await api.to_stage("qualification")
    people = {}
    for person in ("sup-zhao", "sup-qian"):
        issued = _cli(
            settings, tmp_path, capsys,
            "tokens", "issue", "--role", "supervisor", "--subject", person, "--json",
        )
        assert issued["subject"] == person and issued["jti"]
        people[person] = issued["token"]
    status, body = await api.command(sid, people["sup-zhao"], "pause", reason="核查资料")
    assert status == 200, body
    paused_by = (await api.events(sid))[-1]["actor"]
    status, body = await api.command(sid, api.op(), "resume")
    assert status == 200, body
    status, body = await api.command(sid, people["sup-qian"], "pause", reason="复核")
    assert status == 200, body
    assert [paused_by, (await api.events(sid))[-1]["actor"]] == [
        "supervisor:sup-zhao",
        "supervisor:sup-qian",
    ]


async def _until_refused(api: Harness, token: str, deadline_s: float) -> dict[str, Any]:
    end = time.monotonic() + deadline_s
    while True:
        status, _, doc = await _get(api, token)
        if status != 200:
            assert status == 401, doc
            return dict(doc)
        assert time.monotonic() < end, "the revoked token was still accepted"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("by", ["id", "token"])
async def test_a_revoked_token_is_refused_and_its_socket_closed(
    api: Harness,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    by: str,
) -> None:
    sid, _ = await api.to_stage("drawing")
    issued = _cli(
        settings, tmp_path, capsys,
        "tokens", "issue", "--role", "operator", "--venue", "sh-ggzy",
        "--subject", "op-sh-0012", "--json",
    )
    token, jti = issued["token"], issued["jti"]
    other = make_token(settings, "operator", venue="sh-ggzy", subject="op-sh-0013")
    assert (await _get(api, token))[0] == 200
    ws = await api.client.ws_connect(f"/ws/sessions/{sid}")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
    while json.loads((await ws.receive(timeout=10)).data)["type"] != "synced":
        pass

    revoked_at = time.monotonic()
    target = ["--id", jti] if by == "id" else [token]
    out = _cli(settings, tmp_path, capsys, "tokens", "revoke", *target, "--reason", "leaked")
    assert jti in out and "revoked" in out

    # HTTP: refused within the refresh period (100 ms in config/test.toml), as revoked.
    doc = await _until_refused(api, token, 5.0)
    assert doc["code"] == "token_revoked" and jti in doc["detail"]
    # The open socket: bye token_revoked, then close 4401, within a bounded time.
    bye: dict[str, Any] = {}
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        m = json.loads(msg.data)
        if m["type"] == "bye":
            bye = m
    assert bye.get("code") == "token_revoked", bye
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401
    assert time.monotonic() - revoked_at < 5
    # A new socket with it is refused; the same person's other token still works.
    ws2 = await api.client.ws_connect(f"/ws/sessions/{sid}")
    await ws2.send_str(json.dumps({"type": "auth", "token": token}))
    refused = json.loads((await ws2.receive(timeout=10)).data)
    assert refused["type"] == "error" and refused["code"] == "token_revoked"
    assert (await _get(api, other))[0] == 200
    # Revoking again says so and changes nothing.
    again = _cli(settings, tmp_path, capsys, "tokens", "revoke", "--id", jti)
    assert "already revoked" in again
