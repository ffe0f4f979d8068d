"""Pattern alerts in a real browser (the demo): the supervisor's workspace lists every
check point's alerts (GET …/alerts) and names them in the live feed; an expert's page
shows the same checks as 仅监督可见, with nothing of them.

The demo's robot members submit their qualification sheets the moment the stage opens, so
the qualification check finds them too fast (experts.fast_sheet, docs/alerts.md).
"""

from __future__ import annotations

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import demo, link

pytestmark = pytest.mark.e2e
__all__ = ["demo"]  # the fixture, shared with test_browser


async def test_supervisor_sees_the_alerts_and_an_expert_only_that_a_check_ran(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    _, links = demo
    console = Console()
    async with chromium() as browser:
        sup = await new_page(browser, console, "alerts-supervisor")
        await sup.goto(link(links, "监督"))
        # The demo has two sessions: the supervisor's console opens the running one.
        table = sup.get_by_role("table", name="各检查点的预警")
        await table.wait_for(timeout=30_000)
        rows = await table.locator("tbody tr").all_inner_texts()
        qualification = next(r for r in rows if r.startswith("资格审查"))
        assert "评分表提交过快" in qualification and "席" in qualification, rows
        assert any(r.startswith("投标文件") and "未发现异常" in r for r in rows), rows
        assert "条预警" in await sup.locator("#patterns").inner_text()
        await check_screen(sup, "alerts-supervisor")
        line = sup.locator("#events li", has_text="预警检查：资格审查")
        text = await line.inner_text()
        assert "条预警" in text and "评分表提交过快" in text and "席" in text, text
        bids = sup.locator("#events li", has_text="预警检查：投标文件 · 0 条预警")
        assert await bids.count() == 1

        page = await new_page(browser, console, "alerts-expert")
        await page.goto(next(v for k, v in links.items() if "待评分" in k))
        mine = page.locator("#events li", has_text="预警检查")
        await mine.first.wait_for(timeout=30_000)
        texts = await mine.all_inner_texts()
        assert len(texts) == 2 and all("仅监督可见" in t for t in texts), texts
        body = await page.inner_text("body")
        assert "提交过快" not in body and "各检查点的预警" not in body
        await check_screen(page, "alerts-expert")
    console.assert_clean()
