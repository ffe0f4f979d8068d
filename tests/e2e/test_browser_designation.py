"""The primary operator's side of a designation (招标人指定专家, 第10条; docs/draw.md §6.7)
in the browser, against a real server process: seats proposed and submitted with a
reason (each missing field named beside it), the supervisor deciding in another page,
and the operator's page showing 已批准 / 已驳回 with the supervisor's opinion as the
events arrive — no reload.

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser_rules import ok, server_api

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e


async def propose(op: Any, seat: str, expert_id: str, name: str) -> None:
    await op.get_by_label("席位", exact=True).select_option(label=seat)
    await op.get_by_label("专家库编号").fill(expert_id)
    await op.get_by_label("专家姓名").fill(name)
    await op.get_by_role("button", name="提议该席位的指定专家").click()
    dialog = op.get_by_role("dialog")
    assert name in await dialog.inner_text()
    await dialog.get_by_role("button", name="确认提议").click()
    await op.locator("#dsg-proposed").get_by_text(name).wait_for()


async def submit_request(op: Any, reason: str) -> None:
    await op.get_by_label("申请理由").fill(reason)
    await op.get_by_role("button", name="提交指定专家申请").click()
    dialog = op.get_by_role("dialog")
    assert f"申请理由：{reason}" in await dialog.inner_text()
    await dialog.get_by_role("button", name="确认提交申请").click()
    await op.get_by_text("指定申请状态：待审批").wait_for()


async def decide(sup: Any, opinion: str, *, approve: bool) -> None:
    await sup.get_by_role("heading", name="招标人指定专家申请（第10条）").wait_for(timeout=30_000)
    await sup.get_by_label("监督意见").fill(opinion)
    label = "批准指定专家" if approve else "驳回指定专家"
    await sup.get_by_role("button", name=label).click()
    await sup.get_by_role("dialog").get_by_role("button", name=f"确认{label}").click()
    await sup.get_by_text(f"已{label[:2]}指定专家").wait_for()


async def test_the_primary_proposes_designated_experts_and_sees_the_decision_live(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    async with server_api(tmp_path, db_url, settings) as (api, base), chromium() as browser:
        sid, _ = await api.create()
        await ok(api, sid, api.op(), "open_draw")
        console = Console()
        op = await new_page(browser, console, "designation-primary", width=390)
        await op.goto(f"{base}/#token={api.op()}")
        await op.get_by_role("heading", name="招标人指定专家（第10条）").wait_for(timeout=30_000)
        # A marker a reload would lose: the decision must arrive over the WebSocket.
        await op.evaluate("window.__sameDocument = true")

        # Nothing typed: each missing field is named beside itself, nothing is sent.
        await op.get_by_role("button", name="提议该席位的指定专家").click()
        assert await op.locator("#dsg-expert-id-err").inner_text() == "专家库编号：请填写"
        assert await op.locator("#dsg-expert-name-err").inner_text() == "专家姓名：请填写"
        assert await op.get_by_label("专家库编号").get_attribute("aria-invalid") == "true"
        await check_screen(op, "designation-primary-errors")
        await propose(op, "第 1 席（上海（主场））", "des-zhou", "周指定")
        await propose(op, "第 2 席（上海（主场））", "des-qian", "钱指定")
        # The reason is required, named beside its field.
        await op.get_by_role("button", name="提交指定专家申请").click()
        assert "申请理由：请填写" in await op.locator("#dsg-reason-err").inner_text()
        await check_screen(op, "designation-primary-proposed")
        await submit_request(op, "特殊设备，库内无相应专业专家")
        assert "第 1 席（上海（主场））周指定、第 2 席（上海（主场））钱指定" in (
            await op.locator("#designation").inner_text())
        await check_screen(op, "designation-primary-pending")

        # The supervisor approves in another page; the operator's page follows live.
        sup = await new_page(browser, console, "designation-supervisor")
        await sup.goto(f"{base}/#token={api.sup}")
        await decide(sup, "专业特殊，同意指定", approve=True)
        await op.get_by_text("指定申请状态：已批准").wait_for(timeout=30_000)
        notice = await op.locator("#notice").inner_text()
        assert notice == "监督已批准指定专家申请：专业特殊，同意指定"
        assert await op.locator("#dsg-opinion").inner_text() == "监督意见：专业特殊，同意指定"
        assert await op.evaluate("window.__sameDocument === true")
        await check_screen(op, "designation-primary-approved")
        events = await api.events(sid)
        assert [(e["type"], e["payload"]["seats"]) for e in events
                if e["type"].startswith("designation.")] == [
            ("designation.requested", [0, 1]), ("designation.approved", [0, 1])]

        # One expert, one seat: a second seat for 周指定 is refused beside the field.
        await op.get_by_label("专家库编号").fill("des-zhou")
        await op.get_by_label("专家姓名").fill("周指定")
        await op.get_by_role("button", name="提议该席位的指定专家").click()
        assert await op.locator("#dsg-expert-id-err").inner_text() == (
            "专家库编号：该专家已在第 1 席，一名专家只能占一个席位")
        # A second request, rejected: its seats are free again, the opinion is shown.
        await propose(op, "第 3 席（上海（主场））", "des-sun", "孙指定")
        await submit_request(op, "招标人要求由本单位专家参加")
        await decide(sup, "理由不符合第10条的特殊项目情形", approve=False)
        await op.get_by_text("指定申请状态：已驳回").wait_for(timeout=30_000)
        assert "监督已驳回指定专家申请" in await op.locator("#notice").inner_text()
        assert "理由不符合第10条的特殊项目情形" in await op.locator("#dsg-opinion").inner_text()
        assert await op.evaluate("window.__sameDocument === true")
        await check_screen(op, "designation-primary-rejected")
        _, doc = await api.call("GET", f"/api/sessions/{sid}", api.op())
        assert [(x["source"], x["expert_name"]) for x in doc["seats"][:3]] == [
            ("designated", "周指定"), ("designated", "钱指定"), (None, None)]
    console.assert_clean()
