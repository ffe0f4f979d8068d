"""Pattern alerts in a real browser (the demo): the supervisor's page names the alerts of
each check point; an expert's page shows the same check as 仅监督可见, with nothing of it.

The demo's robot members submit their qualification sheets the moment the stage opens, so
the qualification check finds them too fast (experts.fast_sheet, docs/alerts.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import skip_or_fail
from test_browser import CHROMIUM, demo

pytestmark = pytest.mark.e2e
__all__ = ["demo"]  # the fixture, shared with test_browser


async def test_supervisor_sees_the_alerts_and_an_expert_only_that_a_check_ran(
    demo: tuple[str, dict[str, str]],
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    _, links = demo
    supervisor = next(v for k, v in links.items() if k.startswith("监督"))
    expert = next(v for k, v in links.items() if "待评分" in k)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM,
                                          args=["--no-sandbox", "--disable-gpu"])
        try:
            sup = await browser.new_page()
            await sup.goto(supervisor)
            line = sup.locator("#events li", has_text="预警检查：资格审查")
            await line.wait_for(timeout=30_000)
            text = await line.inner_text()
            assert "条预警" in text and "评分表提交过快" in text and "席位" in text, text
            bids = sup.locator("#events li", has_text="预警检查：投标文件 · 0 条预警")
            assert await bids.count() == 1

            page = await browser.new_page()
            await page.goto(expert)
            mine = page.locator("#events li", has_text="预警检查")
            await mine.first.wait_for(timeout=30_000)
            texts = await mine.all_inner_texts()
            assert len(texts) == 2 and all("仅监督可见" in t for t in texts), texts
            assert "提交过快" not in await page.inner_text("body")
        finally:
            await browser.close()
