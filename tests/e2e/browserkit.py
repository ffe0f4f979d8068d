"""What every browser test checks on every screen, in one place.

- axe-core (``axe-playwright-python``): no serious or critical violation;
- no horizontal scroll at 390 px;
- screenshots at 390, 1024 and 1366 px, written as artefacts to ``var/artifacts/browser/``
  (git-ignored; ``EVALSVC_ARTIFACTS`` moves them);
- no JavaScript console error or uncaught exception in the whole test (:class:`Console`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conftest import skip_or_fail

from evalsvc.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (390, 1024, 1366)
ARTIFACTS = Path(
    os.environ.get("EVALSVC_ARTIFACTS", PROJECT_ROOT / "var" / "artifacts" / "browser")
)


def require_browser() -> None:
    """Skip (fail in CI) without Chromium, Playwright or axe."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        skip_or_fail(
            "playwright / axe-playwright-python are not installed (pip install -e '.[dev]')"
        )


class Console:
    """Collects console errors and uncaught exceptions of every page it watches."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any, name: str) -> None:
        page.on(
            "console",
            lambda m: self.errors.append(f"{name}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"{name}: uncaught {e}"))

    def assert_clean(self) -> None:
        assert self.errors == [], "JavaScript console errors:\n" + "\n".join(self.errors)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A Debian Chromium driven by Playwright, closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Any, console: Console, name: str, *, width: int = 1366) -> Any:
    """A page in its own context (own storage, own network switch), watched by ``console``."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    console.watch(page, name)
    return page


async def check_screen(page: Any, name: str) -> None:
    """axe (0 serious/critical), no sideways scroll at 390 px, and the three screenshots."""
    from axe_playwright_python.async_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    try:
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            await page.wait_for_timeout(50)  # one layout pass
            if width == 390:
                scroll, client = await page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                assert scroll <= client, f"{name}: scrolls sideways at 390 px ({scroll} > {client})"
            safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
            await page.screenshot(path=str(ARTIFACTS / f"{safe}-{width}.png"), full_page=True)
        results = await Axe().run(page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert bad == [], f"{name}: axe found serious/critical violations:\n" + "\n".join(bad)
    finally:
        await page.set_viewport_size(original)
