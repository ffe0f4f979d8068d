"""A split view, with real processes: a primary (``evalsvc serve``) whose answers to one
venue are forked after that venue cosigned the real history (tests/e2e/forkproxy.py),
and that venue's agent (``evalsvc venue``). The venue catches it and keeps the evidence;
then the primary is killed for good and the venue's own bundle (``evalsvc venue
export``) verifies with ``evalsvc audit verify`` (docs/audit.md "Venue views")."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token, session_doc
from procs import Server, free_port, spawn, stop_process, tail
from test_chaos import VENUES, post

from evalsvc.audit.bundle import Policy, format_policy
from evalsvc.audit.note import cosignature_vkey, generate_key
from evalsvc.audit.service import log_keys
from evalsvc.config import PROJECT_ROOT, Settings
from evalsvc.keys import load_or_create_secret

pytestmark = pytest.mark.e2e
VENUE = "js-suzhou"


def _evalsvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalsvc", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


async def _alerts(
    http: aiohttp.ClientSession, url: str, sid: str, token: str
) -> list[dict[str, Any]]:
    async with http.get(f"{url}/api/sessions/{sid}/events?limit=1000",
                        headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
        return [e for e in (await r.json())["events"] if e["type"] == "alert.raised"]


async def _ws_alert(url: str, sid: str, token: str) -> dict[str, Any]:
    """The alert.raised event as a supervisor's WebSocket replays it."""
    async with aiohttp.ClientSession() as http, http.ws_connect(
            url.replace("http", "ws", 1) + f"/ws/sessions/{sid}") as ws:
        await ws.send_json({"type": "auth", "token": token})
        await ws.send_json({"type": "hello", "epoch": None, "last_seq": 0})
        async for msg in ws:
            m = json.loads(msg.data)
            if m["type"] == "event" and m["event"] == "alert.raised":
                return dict(m)
            assert m["type"] != "synced", "no alert.raised replayed"
    raise AssertionError("the WebSocket closed")


def _status(mirror: Path) -> tuple[int, str]:
    r = _evalsvc("venue", "status", "--mirror", str(mirror))
    return r.returncode, r.stdout + r.stderr


async def test_a_forked_history_is_caught_and_the_venue_bundle_outlives_the_primary(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    wkey, wvkey = generate_key(f"venue.{VENUE}")
    (tmp_path / "witness.key").write_text(wkey + "\n")
    os.chmod(tmp_path / "witness.key", 0o600)
    config = tmp_path / "server.toml"
    config.write_text(
        (PROJECT_ROOT / "config" / "test.toml").read_text("utf-8")
        + f'\n[audit]\nwitness_retry_seconds = 1\n[audit.witness_keys]\n{VENUE} = "{wvkey}"\n',
        "utf-8",
    )
    secret = Path(settings.auth.token_secret_file)
    server = Server(db_url=db_url, secret_file=secret, log=tmp_path / "server.log",
                    env={"EVALSVC_CONFIG": str(config)})
    server.start()
    proxy = agent = None
    mirror = tmp_path / "venue" / "mirror.db"
    flag = tmp_path / "fork-now"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            doc = session_doc(seats=(3, 3, 3))
            ops = {v: make_token(settings, "operator", venue=v) for v in VENUES}
            sup = make_token(settings, "supervisor")
            status, s = await post(http, server.url + "/api/sessions", ops["sh-ggzy"], doc)
            assert status == 201, s
            sid, seats = s["id"], s["seats"]
            async with http.get(f"{server.url}/api/sessions/{sid}/audit/key",
                                headers={"Authorization": f"Bearer {sup}"}) as r:
                key = await r.json()
            # The primary's log key, for the lying proxy only (the venue never has it).
            master = load_or_create_secret(secret.with_name("audit-log.key"))
            (tmp_path / "log.key").write_text(log_keys(master, key["origin"])[0] + "\n")
            port = free_port()
            proxy = spawn([sys.executable, str(PROJECT_ROOT / "tests" / "e2e" / "forkproxy.py"),
                           server.url, str(port), str(tmp_path / "log.key"), str(flag)],
                          log=tmp_path / "proxy.log")
            agent = spawn(
                [sys.executable, "-m", "evalsvc", "venue",
                 "--primary", f"http://127.0.0.1:{port}", "--venue", VENUE,
                 "--token", ops[VENUE], "--mirror", str(mirror), "--listen", "off",
                 "--witness-key", str(tmp_path / "witness.key"),
                 "--log-key", f"{key['origin']}={key['log_vkey']}",
                 "--discover", "0.3", "--verify", "0.3"],
                log=tmp_path / "agent.log",
            )

            async def run(token: str, **body: Any) -> dict[str, Any]:
                deadline = time.monotonic() + 30
                while True:  # a milestone waits for the venue's cosignature (409 until then)
                    status, out = await post(http, f"{server.url}/api/sessions/{sid}/commands",
                                             token, body)
                    if status != 409 or time.monotonic() > deadline:
                        assert status == 200, (out, tail(tmp_path / "agent.log"))
                        return dict(out)
                    await asyncio.sleep(0.2)

            await run(ops["sh-ggzy"], command="open_draw")
            experts = {v: [f"E-{v[:2].upper()}-{i}" for i in (1, 2, 3)] for v in VENUES}
            for seat in seats:
                eid = experts[seat["venue_id"]].pop(0)
                await run(ops["sh-ggzy"], command="assign_seat", seat=seat["index"],
                          expert_id=eid, expert_name=eid)
            await run(ops["sh-ggzy"], command="designate_experts", reason="测试: 招标人指定专家")
            await run(sup, command="decide_designation", approve=True, reason="测试批准")
            drawn = (await run(ops["sh-ggzy"], command="complete_draw"))["seq"]
            await run(ops["sh-ggzy"], command="start_check_in")  # waits for the cosignature

            # The venue verifies what it mirrored against the checkpoint it cosigned.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                code, out = _status(mirror)
                if f"verified {drawn}," in out:
                    break
                await asyncio.sleep(0.3)
            assert code == 0 and f"已核验 verified {drawn}," in out, (
                out, tail(tmp_path / "agent.log"))

            # Now the primary shows this venue another history at that size.
            flag.write_text("fork")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                code, out = _status(mirror)
                if code == 2:
                    break
                await asyncio.sleep(0.3)
            assert code == 2 and "SPLIT VIEW (fork)" in out, (out, tail(tmp_path / "agent.log"))
            evidence = Path(out.rsplit("evidence ", 1)[1].split()[0])
            assert evidence.stat().st_mode & 0o777 == 0o600
            proof = json.loads(evidence.read_text("utf-8"))
            assert proof["kind"] == "fork" and proof["session"] == sid
            assert proof["evidence"]["trusted"] != proof["evidence"]["served"]
            assert "SPLIT VIEW" in tail(tmp_path / "agent.log", 20000)

            # The agent hands the evidence in: the supervisors see the alert, over REST
            # and the WebSocket, with the two checkpoints; nobody else learns anything.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                code, out = _status(mirror)
                if "已报告监督人员" in out:
                    break
                await asyncio.sleep(0.3)
            assert "已报告监督人员" in out, (out, tail(tmp_path / "agent.log"))
            sup_alerts = await _alerts(http, server.url, sid, sup)
            assert len(sup_alerts) == 1, sup_alerts
            p = sup_alerts[0]["payload"]
            assert p["rule"] == "split_view" and p["venue_id"] == VENUE
            assert p["evidence"]["served"] == proof["evidence"]["served"]
            live = await _ws_alert(server.url, sid, sup)
            assert live["payload"] == p
            expert = make_token(settings, "expert", venue="sh-ggzy", subject="E-SH-1")
            for token in (ops["ah-hefei"], ops["sh-ggzy"], expert):
                (seen,) = await _alerts(http, server.url, sid, token)
                assert seen["payload"] == {"masked": True} and seen["actor"] == "operator"
    finally:
        server.kill()  # gone for good
        stop_process(proxy)
        stop_process(agent)

    # The primary is gone; the venue's own record still verifies, with the keys the
    # supervisor trusts (the log key and this venue's witness key).
    out_dir = tmp_path / "venue-bundle"
    r = _evalsvc("venue", "export", sid, "--mirror", str(mirror), "--out", str(out_dir),
                 "--venue", VENUE)
    assert r.returncode == 0, r.stderr
    assert f"{drawn} entries" in r.stdout and "not disclosed to this venue" in r.stdout
    policy = tmp_path / "supervisor.policy"
    policy.write_text(format_policy(Policy(key["origin"], key["log_vkey"],
                                           (cosignature_vkey(wvkey),), 1)))
    r = _evalsvc("audit", "verify", str(out_dir), "--trusted-keys", str(policy), "--json")
    report = json.loads(r.stdout)
    # The record verifies (log, witnesses); the verdict names the split view it holds,
    # with the two checkpoints the log key signed.
    assert report["checks"]["log"]["ok"] and report["checks"]["witnesses"]["ok"], r.stdout
    assert "not disclosed" in report["checks"]["disclosure"]["detail"]
    split = report["checks"]["split_view"]
    assert r.returncode == 1 and not report["ok"] and not split["ok"], r.stdout
    trusted_root, served_root = p["evidence"]["roots"]
    assert trusted_root in split["detail"] and served_root in split["detail"]
    assert "分叉视图" in split["detail"]
