"""The stages in the expert's browser workspace, against a real server process: the
technical stage of a split 暗标 session at 390 px — bids by code only, never a bidder's
name, the sheet submitted by code — and a compliance sheet's fail with its reason
(docs/scoring.md "Stages", "暗标"; docs/web.md).

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from conftest import Harness, session_doc
from test_browser_rules import ok, server_api

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e
NAMES = ("甲公司", "乙公司", "丙公司")
CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
]


async def stored(api: Harness, sid: str, token: str, stage: str) -> None:
    """Until the expert's sheet of ``stage`` is stored (the browser's outbox delivers it)."""
    for _ in range(300):
        _, progress = await api.call("GET", f"/api/sessions/{sid}/progress", token)
        if any(x["stage"] == stage for x in progress.get("own_sheets", [])):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the {stage} sheet was never stored")


async def test_an_expert_reviews_compliance_then_the_anonymous_technical_stage_at_390_px(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    console = Console()
    doc = session_doc(criteria=CRITERIA, stages="split", anonymous=True)
    async with server_api(tmp_path, db_url, settings) as (api, base), chromium() as browser:
        sid, experts = await api.to_stage("scoring", doc)  # qualification locked
        seat, tok = experts[1]
        # The primary's committee table has a column for each stage of the session's plan.
        op = await new_page(browser, console, "stages-primary")
        await op.goto(f"{base}/#token={api.op()}")
        table = op.get_by_role("table", name="评标委员会")
        await table.wait_for(timeout=30_000)
        heads = await table.locator("thead th").all_inner_texts()
        assert [h for h in heads if h.endswith(("审查", "评审"))] == [
            "资格审查", "符合性审查", "技术评审", "商务评审"], heads
        await check_screen(op, "stages-primary-committee")
        await op.close()

        page = await new_page(browser, console, "stages-expert", width=390)
        await page.goto(f"{base}/#token={tok}")

        # Compliance: a fail needs its reason, named beside its field.
        await page.get_by_role("heading", name="我的评审表 — 符合性审查").wait_for(timeout=30_000)
        await page.get_by_label("B2 投标有效期", exact=True).uncheck()
        await page.get_by_role("button", name="提交评审表").click()
        assert "不通过时须填写理由" in await page.locator("#f-B2-K1-reason-err").inner_text()
        assert "有 1 处需要修改" in await page.locator("#sheet-errors").inner_text()
        await check_screen(page, "stages-compliance-errors")
        await page.get_by_label("B2 投标有效期 不通过理由").fill("投标有效期不足90天")
        await page.get_by_role("button", name="提交评审表").click()
        await page.get_by_role("dialog").get_by_role("button", name="确认提交").click()
        await page.get_by_text("评审表已保存（第 1 版）").wait_for(timeout=30_000)
        await stored(api, sid, tok, "compliance")
        for i, t in experts:
            if i != seat:
                status, body = await api.submit(sid, t, {
                    "stage": "compliance", "bids": {b: {"K1": True} for b in ("B1", "B2", "B3")}},
                    key=f"compliance-{i}-key")
                assert status == 201, body
        await ok(api, sid, api.op(), "lock_compliance")

        # 暗标: the technical sheet shows codes, never a bidder's name or id.
        await page.get_by_role("heading", name="我的评审表 — 技术评审").wait_for(timeout=30_000)
        sheet = page.locator("#sheet-card")
        await page.locator("#anon-note").wait_for()
        legends = await sheet.locator("legend").all_inner_texts()
        assert legends == ["暗标编号 A01", "暗标编号 A02", "暗标编号 A03"]
        text = await sheet.inner_text()
        assert not any(n in text for n in NAMES) and not re.search(r"\bB[123]\b", text)
        await check_screen(page, "stages-technical-anonymous")
        for code, points in (("A01", "40"), ("A02", "35.5"), ("A03", "30")):
            await page.get_by_label(f"{code} 技术方案", exact=True).fill(points)
        await page.get_by_role("button", name="提交评审表").click()
        await page.get_by_role("dialog").get_by_role("button", name="确认提交").click()
        # (The compliance sheet's notice says the same words: wait for the stored sheet.)
        await stored(api, sid, tok, "technical")

        # Stored by bid id: the codes the expert scored map to the bids the lock opens.
        for i, t in experts:
            if i != seat:
                _, view = await api.call("GET", f"/api/sessions/{sid}", t)
                status, body = await api.submit(sid, t, {
                    "stage": "technical", "bids": {c: {"T1": "30"} for c in view["qualified"]}},
                    key=f"technical-{i}-key")
                assert status == 201, body
        status, body = await api.command(sid, api.op(), "lock_technical")
        assert status == 200, body["detail"]
        events = await api.events(sid)
        codes = next(e["payload"]["codes"] for e in events if e["type"] == "codes.opened")
        status, progress = await api.call("GET", f"/api/sessions/{sid}/progress", tok)
        mine = next(x for x in progress["own_sheets"] if x["stage"] == "technical")
        assert mine["sheet"]["bids"] == {codes["A01"]: {"T1": "40"}, codes["A02"]: {"T1": "35.5"},
                                         codes["A03"]: {"T1": "30"}}
        # After the lock the names are back (the commercial stage is not anonymous).
        await page.get_by_role("heading", name="我的评审表 — 商务评审").wait_for(timeout=30_000)
        assert "甲公司" in await page.locator("#sheet-card").inner_text()
    console.assert_clean()
