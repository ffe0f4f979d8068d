"""The site supervisor (现场监督) of a secondary venue in a real browser (the demo, at
390 px): the reduced supervisor workspace — its venue's members by name, the others by
seat, no audit view, no pattern alerts, no approvals, no pause — and the incident form,
whose record the tender's supervisor reads and the venue's operator does not
(docs/api.md "Supervision by scope")."""

from __future__ import annotations

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import demo, link, rest, session_id, token_of

pytestmark = pytest.mark.e2e
__all__ = ["demo"]  # the fixture, shared with test_browser

SITE = "现场监督 site supervisor (苏州)"


async def test_site_supervisor_sees_its_venue_and_records_an_incident(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "site-supervisor", width=390)
        await page.goto(link(links, SITE))
        table = page.get_by_role("table", name="评标委员会")
        await table.wait_for(timeout=30_000)
        text = await table.inner_text()
        assert text.count("身份不可见") == 5, text  # only Suzhou's two members by name
        body = await page.locator("body").inner_text()
        for absent in ("审计日志", "围标串标与评审质量预警", "暂停评标", "待监督决定",
                       "开启专家库遮蔽字段"):
            assert absent not in body, absent
        assert "现场监督（" not in body or "苏州" in body
        form = page.locator("#inc-form")
        await form.get_by_role("button", name="提交记录").click()
        assert "请选择类别" in await form.inner_text()  # refused here, nothing sent
        await form.get_by_label("类别").select_option(label="通讯工具")
        await form.get_by_label("情况说明").fill("苏州副场5号席专家评审期间接听电话，已当场制止")
        await form.get_by_role("button", name="提交记录").click()
        row = page.get_by_role("table", name="本场地的现场监督记录").locator("tbody tr")
        await row.first.wait_for(timeout=15_000)
        cells = await row.first.inner_text()
        assert "通讯工具" in cells and "接听电话" in cells and "苏州" in cells, cells
        await page.locator("#events li", has_text="现场监督记录：").first.wait_for()
        # A pause reaches the site supervisor as an alert; incidents are still recorded.
        op = token_of(link(links, "副场操作员 secondary operator (苏州)"))
        sid = await session_id(base, op)
        await rest(base, op, "POST", f"/api/sessions/{sid}/commands",
                   {"command": "pause", "reason": "苏州副场视频链路中断"})
        await page.locator("#alerts", has_text="评标暂停：苏州副场视频链路中断").wait_for()
        assert await form.is_visible()
        await check_screen(page, "site-supervisor")
    console.assert_clean()
    seen = await rest(base, token_of(link(links, "监督")), "GET", f"/api/sessions/{sid}")
    assert [x["category"] for x in seen["incidents"]] == ["device"]
    assert (await rest(base, op, "GET", f"/api/sessions/{sid}"))["incidents"] == []
