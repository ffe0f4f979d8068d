"""An expert's browser after check-in: reads and accepts the pledge, declares bid by
bidder, and casts a sealed ballot for the leader — in Chinese, by role and label.

Drives Debian's Chromium with Playwright, as tests/e2e/test_browser.py does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Harness, skip_or_fail
from procs import Server

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CONFLICT = [{"bid_id": b, "conflict": False} for b in ("B1", "B2", "B3")]


async def test_an_expert_pledges_declares_and_votes_in_the_browser(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    server = Server(db_url=db_url, secret_file=Path(settings.auth.token_secret_file),
                    log=tmp_path / "log",
                    env={"EVALSVC_CONFIG": str(PROJECT_ROOT / "config" / "test.toml")})
    server.start()
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=20)
        ) as http:
            api = Harness(http, settings)
            sid, experts = await api.to_stage("checked_in")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    await _browse(api, sid, experts, server.url, browser)
                finally:
                    await browser.close()
    finally:
        server.stop()


async def _browse(api: Harness, sid: str, experts: list[tuple[int, str]], base: str,
                  browser: Any) -> None:
    seat, tok = experts[1]
    page = await browser.new_page()
    dialogs: list[str] = []

    async def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        # The pledge is confirmed; every bidder is declared without a conflict (empty).
        await dialog.accept("" if dialog.type == "prompt" else None)

    page.on("dialog", answer)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/#token={tok}")
    await page.locator("#session-list tr.clickable").first.click()
    await page.get_by_role("button", name="阅读并签署承诺书").click()
    await page.get_by_role("button", name="回避声明").wait_for(timeout=30_000)
    assert "评标专家承诺书" in dialogs[0] and "SHA-256" in dialogs[0]
    await page.get_by_role("button", name="回避声明").click()
    await page.wait_for_selector("#banner.ok")
    # One question per bidder, by name (the names an expert sees after check-in).
    assert [d for d in dialogs[1:] if "甲公司" in d or "乙公司" in d or "丙公司" in d]
    assert len(dialogs) == 4
    for i, t in experts:
        if i == seat:
            continue
        _, pledge = await api.call("GET", f"/api/sessions/{sid}/pledge", t)
        for cmd, fields in (("accept_pledge", {"sha256": pledge["sha256"]}),
                            ("declare_interests", {"declarations": NO_CONFLICT})):
            status, body = await api.command(sid, t, cmd, **fields)
            assert status == 200, body
    status, body = await api.command(sid, api.op(), "open_election")
    assert status == 200, body
    # The page follows the events: the ballot appears, one button per candidate seat.
    vote = page.get_by_role("button", name="第 1 轮：推选席位 0")
    await vote.wait_for(timeout=30_000)
    assert await page.get_by_role("button", name="弃权").count() == 1
    await vote.click()
    await vote.wait_for(state="detached", timeout=30_000)
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert [b["seat"] for b in doc["election"]["ballots"]] == [seat]
    events = await api.events(sid)
    mine = [e for e in events if e["type"] in ("pledge.accepted", "interests.declared",
                                               "vote.cast") and e["payload"]["seat"] == seat]
    assert [e["type"] for e in mine] == ["pledge.accepted", "interests.declared", "vote.cast"]
    assert mine[1]["payload"]["conflict"] is False
    # The live event list kept up (masked events of other venues included).
    assert "（不可见）" in (await page.text_content("#events") or "")
    assert errors == []
