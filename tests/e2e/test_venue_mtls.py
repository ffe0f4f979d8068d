"""Venue agents known to the primary by their venue certificate, with real processes on
loopback: the dev PKI from ``evalsvc certs dev``, ``evalsvc serve`` over HTTPS with the
Shanghai primary's certificate, ``evalsvc venue --cert …``.

- A venue agent with a Jiangsu certificate connects to a Shanghai primary over mutual
  TLS and its mirror holds exactly what a Jiangsu operator sees; an expert's certificate,
  no credentials at all, and a trust store that does not reach the primary are refused.
- A Zhejiang venue agent with an SM2 certificate (no SM2 in Python's TLS) logs in by
  signing a ``venue-agent`` challenge, keeps mirroring across its token's expiry, and
  logs in again each time rather than looping.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token, scoring_sheet, session_doc
from procs import Server, free_port, spawn, stop_process
from test_chaos import all_events, post, prepare

from evalsvc.config import PROJECT_ROOT, Settings
from evalsvc.pki.devpki import JS_VENUE_USCC, ZJ_VENUE_USCC

pytestmark = pytest.mark.e2e
FIELDS = ("seq", "type", "payload", "actor", "venue", "time_ms")


def _evalsvc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalsvc", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _setup(
    tmp_path: Path, db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, **pki: Any
) -> tuple[Path, Server]:
    """The dev PKI in tmp, and an HTTPS primary (not started) trusting all four regions."""
    certs = tmp_path / "certs"
    done = _evalsvc("certs", "dev", "--out", str(certs))
    assert done.returncode == 0, done.stderr
    leaves = certs / "leaves"
    bundle = tmp_path / "sh-server.pem"  # leaf, then its intermediate
    bundle.write_bytes(
        (leaves / "venue-SH-server.pem").read_bytes()
        + (leaves / "venue-SH-server.chain.pem").read_bytes()
    )
    lines = [
        "[pki]",
        f"trust_dir = {json.dumps(str(certs))}",
        f'venue_agents = "organisation:{JS_VENUE_USCC}=js-suzhou, org:{ZJ_VENUE_USCC}=zj-hangzhou"',
        *(f"{k} = {json.dumps(v)}" for k, v in pki.items()),
    ]
    config = tmp_path / "server.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("EVALSVC_CONFIG", str(config))
    server = Server(
        db_url=db_url, secret_file=Path(settings.auth.token_secret_file), log=tmp_path / "s.log"
    )
    server.tls = (bundle, leaves / "venue-SH-server.key", certs / "SH" / "anchors" / "root.pem")
    return certs, server


def _agent(
    tmp_path: Path, name: str, primary: str, venue: str, *args: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``evalsvc venue`` (mirror served read-only on a free port); its read URL and
    the file holding its view token."""
    port = free_port()
    token_file = tmp_path / f"{name}.view-token"
    proc = spawn(
        [
            *(sys.executable, "-m", "evalsvc", "venue", "--primary", primary, "--venue", venue),
            *args,
            *("--mirror", str(tmp_path / f"{name}.db"), "--listen", f"127.0.0.1:{port}"),
            *("--discover", "0.3", "--view-token-file", str(token_file)),
        ],
        log=tmp_path / f"{name}.log",
    )
    return proc, f"http://127.0.0.1:{port}", token_file


async def _mirrored(
    http: aiohttp.ClientSession, base: str, token_file: Path, sid: str, top: int
) -> list[Any]:
    """Every event of ``sid`` in the venue's mirror once it reaches seq ``top``."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if token_file.exists():
            headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            try:
                async with http.get(
                    f"{base}/sessions/{sid}/events?limit=1000", headers=headers
                ) as r:
                    doc = await r.json(content_type=None)
                if r.status == 200 and doc["last_seq"] >= top:
                    return list(doc["events"])
            except aiohttp.ClientError:
                pass  # the listener is still starting
        await asyncio.sleep(0.2)
    raise AssertionError(f"the mirror at {base} did not reach seq {top}")


def _client(certs: Path) -> aiohttp.ClientSession:
    """Test-side HTTPS client (no client certificate) trusting the SH root."""
    ctx = ssl.create_default_context(cafile=str(certs / "SH" / "anchors" / "root.pem"))
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=20),
        connector=aiohttp.TCPConnector(ssl=ctx, force_close=True),
    )


async def test_a_jiangsu_venue_agent_mirrors_a_shanghai_primary_over_mutual_tls(
    tmp_path: Path, db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs, server = _setup(tmp_path, db_url, settings, monkeypatch)
    leaves = certs / "leaves"
    server.start()
    assert server.url.startswith("https://localhost:")
    agent: subprocess.Popen[bytes] | None = None
    try:
        async with _client(certs) as http:
            sid, ops, experts = await prepare(http, server.url, settings)
            agent, mirror, token_file = _agent(
                tmp_path,
                "js",
                server.url,
                "js-suzhou",
                *("--cert", str(leaves / "venue-JS-client.pem")),
                *("--key", str(leaves / "venue-JS-client.key")),
                *("--trust", str(certs)),
            )
            top = 0
            for i in range(12):
                _, _, tok = experts[i % len(experts)]
                async with http.post(
                    f"{server.url}/api/sessions/{sid}/sheets",
                    json=scoring_sheet(t1=str(20 + i)),
                    headers={"Authorization": f"Bearer {tok}", "Idempotency-Key": f"mtls-{i:04d}"},
                ) as r:
                    assert r.status == 201, await r.text()
                    top = (await r.json())["seq"]
            mirrored = await _mirrored(http, mirror, token_file, sid, top)
            view = await all_events(http, server.url, sid, ops["js-suzhou"])
            assert [{k: e[k] for k in FIELDS} for e in mirrored] == [
                {k: e[k] for k in FIELDS} for e in view
            ], "the mirror differs from the Jiangsu operator's view"
            # The primary's log names the agent and how it came in.
            log = server.log.read_text(encoding="utf-8")
            assert re.search(
                r"venue agent agent-js-suzhou-\w+ \(江苏副场, region JS\) authenticated by "
                r"client certificate", log
            ), log[-2000:]
            assert re.search(rf"joined session {sid} by client certificate", log)
            agent_log = (tmp_path / "js.log").read_text(encoding="utf-8")
            assert "valid rsa venue-server certificate (region SH)" in agent_log
            # Read-only: the agent's certificate cannot change the session (checked over
            # the same mutual TLS the agent uses).
            from evalsvc.pki.tls import client_ssl_context
            from evalsvc.pki.trust import load_trust

            ctx = client_ssl_context(
                load_trust(certs),
                cert_file=leaves / "venue-JS-client.pem",
                key_file=leaves / "venue-JS-client.key",
            )
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=ctx),
                    timeout=aiohttp.ClientTimeout(total=20),
                ) as as_agent,
                as_agent.post(
                    f"{server.url}/api/sessions/{sid}/commands",
                    json={"command": "pause", "reason": "x"},
                ) as r,
            ):
                assert r.status == 403 and (await r.json())["code"] == "forbidden"

        # Refusals, each a clear exit of `evalsvc venue`.
        common = ("venue", "--primary", server.url, "--venue", "js-suzhou", "--listen", "off")
        expert = _evalsvc(
            *common,
            *("--cert", str(leaves / "expert-li-JS.pem")),
            *("--key", str(leaves / "expert-li-JS.key")),
            *("--trust", str(certs), "--mirror", str(tmp_path / "x1.db")),
        )
        assert expert.returncode == 1, expert.stderr
        assert "certificate_wrong_role" in expert.stderr and "venue agent needs" in expert.stderr
        bare = _evalsvc(*common, "--mirror", str(tmp_path / "x2.db"))
        assert bare.returncode == 1 and "needs --token" in bare.stderr, bare.stderr
        js_only = tmp_path / "js-only"
        shutil.copytree(certs / "JS", js_only / "JS")
        untrusted = _evalsvc(
            *common,
            *("--cert", str(leaves / "venue-JS-client.pem")),
            *("--key", str(leaves / "venue-JS-client.key")),
            *("--trust", str(js_only), "--mirror", str(tmp_path / "x3.db")),
        )
        assert untrusted.returncode == 1, untrusted.stderr
        assert "the primary's certificate does not verify" in untrusted.stderr, untrusted.stderr
        assert "--trust" in untrusted.stderr
    finally:
        try:
            stop_process(agent)
        finally:
            server.stop()


async def test_a_zhejiang_sm2_venue_agent_logs_in_by_signed_challenge_and_renews(
    tmp_path: Path, db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 5
    certs, server = _setup(
        tmp_path, db_url, settings, monkeypatch, venue_agent_ttl_seconds=ttl
    )
    leaves = certs / "leaves"
    server.start()
    agent: subprocess.Popen[bytes] | None = None
    try:
        async with _client(certs) as http:
            op = make_token(settings, "operator", venue="sh-ggzy")
            doc = session_doc(seats=(3, 2, 2))
            doc["secondary_venues"].append(
                {"id": "zj-hangzhou", "name": "杭州中心", "region": "ZJ", "city": "杭州",
                 "seats": 2}
            )
            status, created = await post(http, f"{server.url}/api/sessions", op, doc)
            assert status == 201, created
            sid, seats = created["id"], created["seats"]
            cmd = f"{server.url}/api/sessions/{sid}/commands"
            status, body = await post(http, cmd, op, {"command": "open_draw"})
            assert status == 200, body
            started = time.monotonic()
            agent, mirror, token_file = _agent(
                tmp_path,
                "zj",
                server.url,
                "zj-hangzhou",
                *("--cert", str(leaves / "venue-ZJ-client.pem")),
                *("--key", str(leaves / "venue-ZJ-client.key")),
                *("--trust", str(certs)),
            )
            top = body["seq"]
            await _mirrored(http, mirror, token_file, sid, top)
            # Events on either side of three token expiries all reach the mirror.
            for seat in seats:
                status, body = await post(
                    http,
                    cmd,
                    op,
                    {"command": "assign_seat", "seat": seat["index"],
                     "expert_id": f"E-{seat['index']}", "expert_name": f"专家{seat['index']}"},
                )
                assert status == 200, body
                top = body["seq"]
                await asyncio.sleep(3 * ttl / len(seats))
            mirrored = await _mirrored(http, mirror, token_file, sid, top)
            zj_op = make_token(settings, "operator", venue="zj-hangzhou")
            view = await all_events(http, server.url, sid, zj_op)
            assert [{k: e[k] for k in FIELDS} for e in mirrored] == [
                {k: e[k] for k in FIELDS} for e in view
            ], "the mirror differs from the Zhejiang operator's view"
            elapsed = time.monotonic() - started
        log = (tmp_path / "zj.log").read_text(encoding="utf-8")
        logins = log.count("logged in to https://localhost")
        assert "by signed venue-agent challenge as agent-zj-hangzhou-" in log
        # Renewed across the expiries, but about once per lifetime: no login loop.
        assert 2 <= logins <= elapsed / (0.8 * ttl) * 2 + 2, (logins, elapsed, log[-3000:])
        server_log = server.log.read_text(encoding="utf-8")
        assert "logged in by signed challenge as operator of zj-hangzhou, read-only" in server_log
        assert "sm2 key" in server_log
    finally:
        try:
            stop_process(agent)
        finally:
            server.stop()
