"""Clarification and handover in the browser, in Chinese, by role and label: the
leader asks a bidder, the primary's operator records the answer; after the seal a
secondary venue's operator confirms each item handed over and the primary's operator
acknowledges receipt.

Drives Debian's Chromium with Playwright, as tests/e2e/test_browser_rules.py does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Harness, scoring_sheet, skip_or_fail
from procs import Server

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHA = "ab" * 32


async def test_clarification_and_handover_in_the_browser(
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
            sid, experts = await api.to_stage("scoring")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    await _browse(api, sid, experts, server.url, browser)
                finally:
                    await browser.close()
    finally:
        server.stop()


async def _page(browser: Any, base: str, token: str, replies: list[str]) -> tuple[Any, list[str]]:
    """A page logged in with ``token`` on the session; prompts get ``replies`` in order,
    confirmations are accepted; returns the page and the messages it showed."""
    page = await browser.new_page()
    shown: list[str] = []
    errors: list[str] = []

    async def answer(dialog: Any) -> None:
        shown.append(dialog.message)
        await dialog.accept(replies.pop(0) if dialog.type == "prompt" else None)

    page.on("dialog", answer)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/#token={token}")
    await page.locator("#session-list tr.clickable").first.click()
    return page, errors


async def _ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> None:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)


async def _browse(api: Harness, sid: str, experts: list[tuple[int, str]], base: str,
                  browser: Any) -> None:
    leader, errors = await _page(browser, base, experts[0][1], ["B2", "工期能否保证？"])
    await leader.get_by_role("button", name="要求投标人澄清").click()
    await leader.wait_for_selector("#banner.ok")
    primary, errors2 = await _page(browser, base, api.op(), ["工期可以保证", SHA])
    answer = primary.get_by_role("button", name="录入第 1 项澄清答复")
    await answer.click()
    await answer.wait_for(state="detached", timeout=30_000)
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["clarifications"] == [{"bid_id": "B2", "bidder": "乙公司",
                                      "question": "工期能否保证？", "answer": "工期可以保证",
                                      "attachment_sha256": SHA}]
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-0001")
        assert status == 201, body
    for name in ("lock_scoring", "start_report"):
        await _ok(api, sid, api.op(), name)
    for _, tok in experts:
        await _ok(api, sid, tok, "sign_report")
    await _ok(api, sid, api.op(), "seal")

    suzhou, errors3 = await _page(browser, base, api.op("js-suzhou"), [])
    await suzhou.get_by_role("button", name="登记材料移交").click()
    await suzhou.wait_for_selector("#banner.ok")
    await primary.reload()
    await primary.locator("#session-list tr.clickable").first.click()
    receive = primary.get_by_role("button", name="确认接收 js-suzhou 的移交")
    await receive.click()
    await receive.wait_for(state="detached", timeout=30_000)
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert [(h["venue_id"], h["items"], h["acknowledged_at"] is not None)
            for h in doc["handovers"]] == [
        ("js-suzhou", ["签字评审表", "承诺书", "回避声明"], True)]
    events = await primary.text_content("#events") or ""
    assert "主场确认接收移交" in events and "录入澄清答复" in events
    assert errors == errors2 == errors3 == []
