"""Clarification and handover in the browser workspaces, in Chinese, by role and label
(docs/scoring.md "Clarification", "Handover"; docs/web.md).

- The leader (expert workspace) asks a bidder a question with a form and a confirmation;
  another member sees the question but no form.
- The primary operator records the answer; a malformed attachment SHA-256 is refused
  beside the field before anything is sent.
- After the seal a secondary operator must tick every configured item; the primary
  acknowledges that venue; the supervisor sees the clarification and the handover status.

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error. Drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from conftest import Harness, scoring_sheet
from procs import Server

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
SHA = "ab" * 32
ITEMS = ["签字评审表", "承诺书", "回避声明"]  # config/test.toml [rules] handover_items (default)


async def ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> None:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)


async def confirm(page: Any, button: str, *expected: str) -> None:
    """The confirmation dialog says what will happen; accept it with its named button."""
    dialog = page.locator("dialog.confirm")
    await dialog.wait_for()
    text = await dialog.inner_text()
    for part in expected:
        assert part in text, (part, text)
    await dialog.get_by_role("button", name=button).click()
    await dialog.wait_for(state="detached")


async def test_clarification_and_handover_in_the_workspaces(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    console = Console()
    server = Server(db_url=db_url, secret_file=Path(settings.auth.token_secret_file),
                    log=tmp_path / "log",
                    env={"EVALSVC_CONFIG": str(PROJECT_ROOT / "config" / "test.toml")})
    server.start()
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=20)
        ) as http, chromium() as browser:
            api = Harness(http, settings)
            sid, experts = await api.to_stage("scoring")
            await _browse(api, sid, experts, server.url, browser, console)
    finally:
        server.stop()
    console.assert_clean()


async def _open(browser: Any, console: Console, base: str, token: str, name: str) -> Any:
    page = await new_page(browser, console, name)
    await page.goto(f"{base}/#token={token}")
    return page


async def _browse(api: Harness, sid: str, experts: list[tuple[int, str]], base: str,
                  browser: Any, console: Console) -> None:
    # The leader (seat of experts[0], elected by the harness) asks bidder B2.
    leader = await _open(browser, console, base, experts[0][1], "handover-leader")
    ask = leader.get_by_role("button", name="要求投标人澄清")
    await ask.wait_for()
    await ask.click()  # nothing chosen: refused beside the fields, nothing sent
    assert await leader.locator("#clar-bid-err").inner_text() == "请选择要求澄清的投标"
    assert await leader.locator("#clar-q-err").inner_text() == "请填写澄清的问题"
    await check_screen(leader, "handover-leader-ask")
    await leader.get_by_label("要求澄清的投标").select_option("B2")
    await leader.get_by_label("澄清、说明或补正的问题").fill("工期能否保证？")
    await ask.click()
    await confirm(leader, "确认要求澄清", "B2 乙公司", "工期能否保证？",
                  "全部澄清答复前不能生成评标报告")
    await leader.locator("#clar-table").get_by_text("待答复").wait_for()
    assert await leader.get_by_label("澄清、说明或补正的问题").input_value() == ""

    # Another member sees the question, but may not ask.
    member = await _open(browser, console, base, experts[1][1], "handover-member")
    await member.locator("#clar-table").get_by_text("工期能否保证？").wait_for()
    assert await member.get_by_role("button", name="要求投标人澄清").count() == 0

    # The primary operator records the answer; the digest is checked beside the field.
    primary = await _open(browser, console, base, api.op(), "handover-primary")
    record = primary.get_by_role("button", name="录入第 1 项澄清答复")
    await record.wait_for()
    await primary.get_by_label("投标人的书面答复").fill("工期可以保证")
    sha = primary.get_by_label("答复附件的 SHA-256")
    await sha.fill("ab" * 31 + "zz")
    await sha.blur()
    assert "含其他字符" in await primary.locator("#sha-1-err").inner_text()
    assert await sha.get_attribute("aria-invalid") == "true"
    await record.click()
    assert await primary.locator("dialog.confirm").count() == 0  # not sent
    await check_screen(primary, "handover-primary-answer")
    await sha.fill(SHA.upper())
    await record.click()
    await confirm(primary, "确认录入", "工期可以保证", f"附件 SHA-256：{SHA}", "录入后不能修改")
    await record.wait_for(state="detached")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["clarifications"] == [{"bid_id": "B2", "bidder": "乙公司",
                                      "question": "工期能否保证？", "answer": "工期可以保证",
                                      "attachment_sha256": SHA}]
    await member.locator("#clar-table").get_by_text(SHA).wait_for()

    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-0001")
        assert status == 201, body
    for name in ("lock_scoring", "start_report"):
        await ok(api, sid, api.op(), name)
    for _, tok in experts:
        await ok(api, sid, tok, "sign_report")
    await ok(api, sid, api.op(), "seal")

    # Suzhou's operator confirms every item, one by one.
    suzhou = await _open(browser, console, base, api.op("js-suzhou"), "handover-suzhou")
    hand = suzhou.get_by_role("button", name="登记材料移交")
    await hand.wait_for()
    await suzhou.get_by_label("已移交「签字评审表」").check()
    await hand.click()
    assert "尚未确认：承诺书、回避声明" in await suzhou.locator("#ho-err").inner_text()
    assert await suzhou.locator("dialog.confirm").count() == 0
    await check_screen(suzhou, "handover-suzhou-record")
    for item in ITEMS[1:]:
        await suzhou.get_by_label(f"已移交「{item}」").check()
    await hand.click()
    await confirm(suzhou, "确认登记移交", "苏州（副场）", "签字评审表、承诺书、回避声明")
    await hand.wait_for(state="detached")
    row = suzhou.locator("#handover-table tr", has_text="苏州（副场）")
    assert "已登记" in await row.inner_text()

    # The primary acknowledges Suzhou (its page follows live); Hefei has not recorded.
    receive = primary.get_by_role("button", name="确认接收苏州（副场）的移交")
    await receive.wait_for()
    assert await primary.get_by_role("button", name="确认接收合肥（副场）的移交").count() == 0
    await receive.click()
    await confirm(primary, "确认接收", "签字评审表、承诺书、回避声明", "核对")
    await receive.wait_for(state="detached")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert [(h["venue_id"], h["items"], h["acknowledged_at"] is not None)
            for h in doc["handovers"]] == [("js-suzhou", ITEMS, True)]
    events = await primary.locator("#events").inner_text()
    assert "主场确认接收移交：苏州（副场）" in events and "录入澄清答复" in events
    await check_screen(primary, "handover-primary-sealed")

    # The supervisor sees the clarification and each venue's handover.
    sup = await _open(browser, console, base, api.sup, "handover-supervisor")
    table = sup.locator("#handover-table")
    await table.wait_for()
    assert "已确认接收" in await table.locator("tr", has_text="苏州（副场）").inner_text()
    assert "未登记" in await table.locator("tr", has_text="合肥（副场）").inner_text()
    assert "工期可以保证" in await sup.locator("#clar-table").inner_text()
    assert await sup.get_by_role("button", name="登记材料移交").count() == 0
    await check_screen(sup, "handover-supervisor")
