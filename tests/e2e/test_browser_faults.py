"""Venue link faults in the browser workspaces (docs/scoring.md "Faults by rule";
docs/web.md): against a real server whose pause rule is 3 s, the Suzhou members' sockets
close; the primary operator's and the supervisor's pages say, in Chinese, that the
secondary venue's link is down (副场链路中断) and that the session paused for it, naming
the rule; once a Suzhou member is back the operator resumes from the page.

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from conftest import Harness
from test_browser_rules import server_api

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e
RULES = """
[rules]
link_lost_grace_seconds = 0.5
link_lost_pause_minutes = 0.05
resume_deadline_minutes = 10
suspend_after_minutes = 20
"""


async def _expert_socket(api: Harness, base: str, sid: str, token: str) -> Any:
    ws = await api.client.ws_connect(f"{base}/ws/sessions/{sid}")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
    while True:  # joined once synced
        msg = json.loads((await ws.receive(timeout=10)).data)
        if msg["type"] == "synced":
            return ws


async def _state(api: Harness, sid: str, want: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
        if doc["state"] == want:
            return dict(doc)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the session did not become {want}")


async def test_the_workspaces_show_the_link_fault_and_the_pause_by_rule(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    console = Console()
    async with server_api(tmp_path, db_url, settings, RULES) as (api, base), \
            chromium() as browser:
        sid, experts = await api.to_stage("qualification")
        ws = await _expert_socket(api, base, sid, experts[3][1])  # seat 4, Suzhou
        op = await new_page(browser, console, "faults-primary")
        await op.goto(f"{base}/#token={api.op()}")
        sup = await new_page(browser, console, "faults-supervisor")
        await sup.goto(f"{base}/#token={api.sup}")
        await op.get_by_role("heading", name="流程控制").wait_for()
        await sup.get_by_role("heading", name="实时监督").wait_for()

        await ws.close()  # the venue's last socket: its link is gone
        await _state(api, sid, "paused")
        for page in (op, sup):
            banner = page.locator("#faults")
            await banner.get_by_text("因副场链路中断已暂停（苏州（副场））").wait_for()
            text = await banner.inner_text()
            assert "副场链路中断：苏州（副场）自" in text
        await op.get_by_text("已暂停：副场链路中断").wait_for()
        # The supervisor's reminders name the rule that paused it.
        reminders = sup.locator("#alert-list")
        await reminders.get_by_text("依据规则：链路中断满 0.05 分钟即暂停").wait_for()
        await check_screen(op, "faults-primary-paused")
        await check_screen(sup, "faults-supervisor-paused")

        ws = await _expert_socket(api, base, sid, experts[3][1])  # back
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
            if not doc["links_lost"]:
                break
            await asyncio.sleep(0.2)
        await op.get_by_role("button", name="恢复评标").click()
        dialog = op.locator("dialog.confirm")
        await dialog.get_by_role("button", name="确认恢复").click()
        await _state(api, sid, "evaluating")
        await op.locator("#faults").wait_for(state="detached")
        await ws.close()
    console.assert_clean()
