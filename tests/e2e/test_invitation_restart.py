"""Invitation deadlines survive a restart: a deadline that passes while the server is down
is handled on start (the alternate is called), and one still ahead is re-armed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Harness, draw_rules, drawing_session, import_pool, run_ceremony
from procs import Server

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e

TIMEOUT_S = 6  # long enough that a loaded machine's restart does not eat a whole period


async def _invited(api: Harness, sid: str) -> dict[int, tuple[str, int]]:
    status, body = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    assert status == 200, body
    return {
        s["seat"]: (s["expert_id"], s["rank"])
        for s in body["seats"]
        if s["status"] == "invited"
    }


async def _events(api: Harness, sid: str) -> list[dict[str, Any]]:
    return await api.events(sid)


async def test_deadline_passed_while_down_is_handled_on_start(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    import_pool(db_url, tmp_path)
    from evalsvc.config import PROJECT_ROOT

    server = Server(
        db_url=db_url, secret_file=Path(settings.auth.token_secret_file), log=tmp_path / "log",
        # The suite's draw floors (seconds, not the production minutes).
        env={"EVALSVC_CONFIG": str(PROJECT_ROOT / "config" / "test.toml")},
    )
    server.start()
    try:
        # (aiohttp's default timeout is 5 minutes: longer than the test's own.)
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=20)
        ) as http:
            api = Harness(http, settings)
            sid = await drawing_session(api)
            await run_ceremony(
                api, sid, rules=draw_rules(), invitation_timeout_seconds=TIMEOUT_S
            )
            first = await _invited(api, sid)
            assert sorted(first) == list(range(7)) and {r for _, r in first.values()} == {0}

            # Down before any deadline; every deadline passes while nobody runs.
            server.kill()
            await asyncio.sleep(TIMEOUT_S + 1)
            server.start()
            # Handled during start-up, before the first request is served.
            events = await _events(api, sid)
            expired = [e for e in events if e["type"] == "invitation.expired"]
            assert sorted(e["payload"]["seat"] for e in expired) == list(range(7))
            assert all(e["actor"] == "system:scheduler" for e in expired)
            second = await _invited(api, sid)
            assert sorted(second) == list(range(7))
            assert all(second[s][1] == 1 and second[s][0] != first[s][0] for s in range(7))

            # Restarted again while those are pending: their deadlines are re-armed and
            # fire while the server runs.
            server.kill()
            server.start()
            # Poll rather than sleep: the rank-2 invitations that follow have deadlines of
            # their own, which a fixed sleep on a slow machine could also see pass.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3 * TIMEOUT_S
            third = await _invited(api, sid)
            while not all(third.get(s, ("", 0))[1] == 2 for s in range(7)):
                assert loop.time() < deadline, f"re-armed deadlines did not fire: {third}"
                await asyncio.sleep(0.2)
                third = await _invited(api, sid)
            events = await _events(api, sid)
            assert sum(e["type"] == "invitation.expired" for e in events) == 14
    finally:
        server.stop()
