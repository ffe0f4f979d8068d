"""Opening a masked pool field in a real browser (the demo, at 390 px): the tender's
supervisor names the expert, the field and the reason; the page shows the value once and
the feed the record (开启专家库遮蔽字段, with the reason); an expert's feed shows only that
something was opened (docs/audit.md "Opening one field, on the record")."""

from __future__ import annotations

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import demo, link, rest, session_id, token_of

pytestmark = pytest.mark.e2e
__all__ = ["demo"]  # the fixture, shared with test_browser

REASON = "核查该专家与投标人是否存在利害关系"


async def test_the_supervisor_opens_a_name_on_the_record_and_an_expert_sees_only_that(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    sup = token_of(link(links, "监督"))
    sid = await session_id(base, sup)
    seat = (await rest(base, sup, "GET", f"/api/sessions/{sid}"))["seats"][0]

    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "opening-supervisor", width=390)
        await page.goto(link(links, "监督"))
        card = page.get_by_role("region", name="开启专家库遮蔽字段")
        await card.wait_for(timeout=30_000)
        # Without a reason nothing is sent: the field says why.
        await card.get_by_label("专家编号").fill(seat["expert_id"])
        await card.get_by_role("button", name="开启并记入审计日志").click()
        reason = card.get_by_label("开启理由")
        assert await reason.get_attribute("aria-invalid") == "true"
        assert "请写明开启理由" in await card.locator("#open-reason-err").inner_text()
        # (The server's 404 for an expert in no snapshot is tests/audit/test_pool_openings.py's:
        # a refused fetch is a console error the clean-console check would count.)
        await reason.fill(REASON)
        await card.get_by_label("字段").select_option(label="姓名")
        await card.get_by_role("button", name="开启并记入审计日志").click()
        shown = card.get_by_role("status")
        await shown.get_by_text("已记入审计日志").wait_for(timeout=30_000)
        text = await shown.inner_text()
        assert f"专家 {seat['expert_id']} 的姓名为「{seat['expert_name']}」" in text, text
        assert await reason.input_value() == ""  # sent: the form is ready for the next
        feed = page.locator("#events li", has_text="开启专家库遮蔽字段")
        await feed.first.wait_for(timeout=30_000)
        line = await feed.first.inner_text()
        assert seat["expert_id"] in line and REASON in line, line
        await check_screen(page, "opening-supervisor")

        expert = await new_page(browser, console, "opening-expert", width=390)
        await expert.goto(next(v for k, v in links.items() if "待评分" in k))
        mine = expert.locator("#events li", has_text="开启专家库遮蔽字段")
        await mine.first.wait_for(timeout=30_000)
        assert "仅监督可见" in await mine.first.inner_text()
        body = await expert.inner_text("body")
        assert REASON not in body and "open-form" not in await expert.content()
        await check_screen(expert, "opening-expert")
    console.assert_clean()
