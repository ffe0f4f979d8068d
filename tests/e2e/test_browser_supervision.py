"""The supervisor's decisions in the browser that only a supervisor takes (docs/draw.md
§6.8): approving the draw of a tender registered again, reopening after a failed
ceremony (a malformed new-terms digest refused beside its field), aborting a session once
its draw opened — and an expert's review record (docs/alerts.md), on the demo."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import NEW_SESSION, demo, link, rest, token_of

from evalsvc.demo import DEMO_SESSION

pytestmark = pytest.mark.e2e

__all__ = ["demo"]  # the fixture, used by name

# The demo's live tender, registered again (another title): linked by its tender number.
AGAIN = {**NEW_SESSION, "title": "示范区智慧水务平台（重新登记）",
         "tender_number": DEMO_SESSION["tender_number"]}
RULES = {
    "draw": {"alternates": 1},
    "venues": [{"id": v["id"], "name": v["name"], "region": v["region"]}
               for v in [AGAIN["primary_venue"], *AGAIN["secondary_venues"]]],
    "seats": [{"venue": v["id"], "specialty": "A01", "count": v["seats"]}
              for v in [AGAIN["primary_venue"], *AGAIN["secondary_venues"]]],
}


def _in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def open_ceremony(base: str, token: str, sid: str, commit_s: float) -> tuple[int, Any]:
    import aiohttp

    body = {"rules": RULES, "commit_deadline": _in(commit_s),
            "reveal_deadline": _in(commit_s + 5)}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"t-{commit_s}-{sid}"}
    async with (aiohttp.ClientSession(headers=headers) as http,
                http.post(f"{base}/api/sessions/{sid}/draw", json=body) as r):
        return r.status, await r.json()


@pytest.mark.demo_config("config/test.toml")
async def test_supervisor_approves_a_retender_and_a_reopen_then_aborts(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    primary = token_of(link(links, "主场操作员"))
    supervisor = token_of(link(links, "监督"))
    sid = (await rest(base, primary, "POST", "/api/sessions", AGAIN))["id"]
    await rest(base, primary, "POST", f"/api/sessions/{sid}/commands", {"command": "open_draw"})
    status, out = await open_ceremony(base, primary, sid, 3)
    assert status == 403, out  # the same tender: a supervisor's approval first
    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "supervisor")
        await page.goto(link(links, "监督"))
        await page.get_by_role("button", name=AGAIN["title"]).click()
        await page.get_by_role("heading", name="监督审批：同一招标项目重新抽取").wait_for()
        earlier = await page.get_by_role("table", name="同一招标项目的已登记项目").inner_text()
        assert "招标项目编号相同" in earlier and "7 人" in earlier
        await page.get_by_role("button", name="批准重新抽取").click()
        assert "批准原因：请填写" in await page.locator("#appr-d-err").inner_text()
        await check_screen(page, "supervisor-draw-retender")
        await page.get_by_label("批准原因").fill("招标文件修改后重新登记，前次抽取作废")
        await page.get_by_role("button", name="批准重新抽取").click()
        dialog = page.get_by_role("dialog")
        assert "前次项目的抽取记录仍然保留" in await dialog.inner_text()
        await dialog.get_by_role("button", name="确认批准").click()
        await page.get_by_text("已批准同一招标项目重新抽取").wait_for()

        # The primary opens a ceremony nobody contributes to: it fails at its deadline.
        status, out = await open_ceremony(base, primary, sid, 2)
        assert status == 201, out
        await page.get_by_role("heading", name="监督审批：第 1 次抽取之后").wait_for(timeout=30_000)
        assert "未能完成" in await page.locator("#draw").inner_text()
        await page.get_by_label("批准新的抽取条件").check()
        await page.get_by_label("新抽取条件的 SHA-256").fill("abc")
        await page.get_by_label("批准原因").fill("苏州场地网络故障未能提交随机数")
        await page.get_by_role("button", name="批准", exact=True).click()
        assert "应为 64 位十六进制数字" in await page.locator("#appr-d-err").inner_text()
        assert await page.get_by_label("新抽取条件的 SHA-256").get_attribute(
            "aria-invalid") == "true"
        await check_screen(page, "supervisor-draw-reopen")
        await page.get_by_label("重新开启随机数仪式（沿用原抽取条件）").check()
        await page.get_by_role("button", name="批准", exact=True).click()
        await page.get_by_role("dialog").get_by_role("button", name="确认批准").click()
        await page.get_by_text("已批准重新开启随机数仪式").wait_for()
        events = (await rest(base, supervisor, "GET",
                             f"/api/sessions/{sid}/events?limit=1000"))["events"]
        approved = [e["payload"] for e in events if e["type"] == "draw.approved"]
        assert [(a["action"], a["reason"]) for a in approved] == [
            ("retender", "招标文件修改后重新登记，前次抽取作废"),
            ("reopen", "苏州场地网络故障未能提交随机数")]

        # Once the draw opened only a supervisor may abort (the primary is refused).
        await page.get_by_role("button", name="终止项目").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("终止原因").fill("招标人撤回招标")
        await dialog.get_by_role("button", name="确认终止").click()
        await page.get_by_text("本项目已终止").wait_for()
        doc = await rest(base, supervisor, "GET", f"/api/sessions/{sid}")
        assert doc["state"] == "aborted"

        # A tenderer's designation (第10条): proposed by the primary, decided here.
        designated = {**NEW_SESSION, "title": "示范区专用设备项目（指定专家）",
                      "tender_number": "CSJ-2026-ZYSB-0009"}
        did = (await rest(base, primary, "POST", "/api/sessions", designated))["id"]
        for body in ({"command": "open_draw"},
                     {"command": "assign_seat", "seat": 0, "expert_id": "des-zhou",
                      "expert_name": "周指定"},
                     {"command": "designate_experts", "reason": "特殊设备，库内无相应专业专家"}):
            await rest(base, primary, "POST", f"/api/sessions/{did}/commands", body)
        await page.get_by_role("button", name="返回项目列表").click()
        await page.get_by_role("button", name=designated["title"]).click()
        await page.get_by_role("heading", name="招标人指定专家申请（第10条）").wait_for()
        card = await page.locator("#approvals").inner_text()
        assert "第 1 席（上海（主场））周指定" in card and "特殊设备，库内无相应专业专家" in card
        await page.get_by_role("button", name="批准指定专家").click()
        assert "监督意见：请填写" in await page.locator("#dsg-decision-err").inner_text()
        await check_screen(page, "supervisor-designation")
        await page.get_by_label("监督意见").fill("专业特殊，同意指定")
        await page.get_by_role("button", name="批准指定专家").click()
        await page.get_by_role("dialog").get_by_role("button", name="确认批准指定专家").click()
        await page.get_by_text("已批准指定专家").wait_for()
        events = (await rest(base, supervisor, "GET",
                             f"/api/sessions/{did}/events?limit=1000"))["events"]
        (decided,) = [e["payload"] for e in events if e["type"].startswith("designation.a")]
        assert decided == {"seats": [0], "reason": "专业特殊，同意指定"}

        # The review record of a member of the live demo session.
        await page.get_by_role("button", name="返回项目列表").click()
        await page.get_by_role("button", name=DEMO_SESSION["title"]).click()
        await page.get_by_role("heading", name="专家评审记录").wait_for()
        option = await page.get_by_label("评标专家").locator("option").first.inner_text()
        assert option.startswith("第 1 席")
        await page.get_by_role("button", name="查看评审记录").click()
        await page.locator("#review-who").wait_for()
        assert await page.locator("#review-who").inner_text() == option
        text = await page.locator("#review-out").inner_text()
        assert "涉及" in text and "被预警点名" in text
        await check_screen(page, "supervisor-review-record")
    console.assert_clean()
