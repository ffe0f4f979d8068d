"""Faults by rule with real processes (docs/scoring.md "Faults by rule"): a secondary
venue's agent (``evalsvc venue``) is SIGKILLed while none of its experts is connected;
after ``[rules] link_lost_pause_minutes`` (3 s here) the primary pauses the session with
reason ``venue_link_lost``; the agent restarted, the link is recorded back and the
primary's operator resumes the evaluation where it stopped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token
from procs import Server, spawn, stop_process
from test_chaos import post, prepare

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
RULES = """
[rules]
link_lost_grace_seconds = 0.5
link_lost_pause_minutes = 0.05
resume_deadline_minutes = 10
suspend_after_minutes = 20
"""


def _agent(base: str, token: str, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    return spawn([sys.executable, "-m", "evalsvc", "venue", "--primary", base,
                  "--venue", "js-suzhou", "--token", token, "--listen", "off",
                  "--mirror", str(tmp_path / "venue.db")], log=tmp_path / f"agent-{n}.log")


async def _agent_connected(http: aiohttp.ClientSession, base: str, sid: str, sup: str) -> None:
    """Wait until the supervisor's presence shows the Suzhou operator's agent."""
    async with http.ws_connect(f"{base}/ws/sessions/{sid}") as ws:
        await ws.send_str(json.dumps({"type": "auth", "token": sup}))
        await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = await ws.receive(timeout=deadline - time.monotonic())
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            m = json.loads(msg.data)
            if m.get("type") == "presence" and any(
                    c.get("role") == "operator" and c.get("venue") == "js-suzhou"
                    for c in m.get("connected", ())):
                return
    raise AssertionError("the Suzhou agent never showed in the presence")


async def _session(http: aiohttp.ClientSession, base: str, sid: str, tok: str) -> Any:
    async with http.get(f"{base}/api/sessions/{sid}",
                        headers={"Authorization": f"Bearer {tok}"}) as r:
        assert r.status == 200
        return await r.json()


async def _events(http: aiohttp.ClientSession, base: str, sid: str, tok: str) -> list[Any]:
    async with http.get(f"{base}/api/sessions/{sid}/events?limit=1000",
                        headers={"Authorization": f"Bearer {tok}"}) as r:
        return list((await r.json())["events"])


async def _until(http: aiohttp.ClientSession, base: str, sid: str, tok: str,
                 kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in await _events(http, base, sid, tok) if e["type"] == kind]
        if found:
            return dict(found[-1])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} within 30 s")


async def test_a_killed_venue_agent_pauses_the_session_and_a_restored_one_lets_it_resume(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    config = tmp_path / "server.toml"
    config.write_text((PROJECT_ROOT / "config" / "test.toml").read_text(encoding="utf-8")
                      + RULES, encoding="utf-8")
    server = Server(db_url=db_url, secret_file=Path(settings.auth.token_secret_file),
                    log=tmp_path / "s.log", env={"EVALSVC_CONFIG": str(config)})
    server.start()
    agent: subprocess.Popen[bytes] | None = None
    sup = make_token(settings, "supervisor")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as http:
            base = server.url
            sid, ops, _ = await prepare(http, base, settings)
            agent = _agent(base, ops["js-suzhou"], tmp_path, 1)
            await _agent_connected(http, base, sid, sup)
            stop_process(agent, grace=0)  # SIGKILL: the venue's link is gone
            agent = None
            lost = await _until(http, base, sid, sup, "venue.link_lost")
            assert lost["payload"]["venue_id"] == "js-suzhou"
            paused = await _until(http, base, sid, sup, "session.state_changed")
            deadline = time.monotonic() + 30
            while paused["payload"].get("to") != "paused" and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                paused = await _until(http, base, sid, sup, "session.state_changed")
            assert paused["payload"]["reason"] == "venue_link_lost"
            assert paused["payload"]["rule"] == {"name": "link_lost_pause_minutes",
                                                 "value": "0.05", "seconds": 3}
            # From when the link went (the loss recorded after the 0.5 s grace), 3 s.
            assert lost["time_ms"] >= lost["payload"]["since"] * 1000 - 1000 + 500
            assert paused["time_ms"] >= lost["payload"]["since"] * 1000 + 3000
            doc = await _session(http, base, sid, ops["js-suzhou"])
            assert doc["state"] == "paused" and doc["fault"]["venue_id"] == "js-suzhou"

            status, body = await post(http, f"{base}/api/sessions/{sid}/commands",
                                      ops["sh-ggzy"], {"command": "resume"})
            assert status == 409 and "still lost" in body["detail"]
            agent = _agent(base, ops["js-suzhou"], tmp_path, 2)
            await _until(http, base, sid, sup, "venue.link_restored")
            status, body = await post(http, f"{base}/api/sessions/{sid}/commands",
                                      ops["sh-ggzy"], {"command": "resume"})
            assert status == 200, body
            assert (body["state"], body["stage"]) == ("evaluating", "scoring")
    finally:
        stop_process(agent, grace=0)
        server.stop()
