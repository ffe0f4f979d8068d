"""The demo in a real browser: an expert scores, the primary operator locks, the ranking shows.

Drives Debian's Chromium with Playwright (``executable_path=/usr/bin/chromium``); skipped with
the reason where either is missing, and a failure in CI.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import skip_or_fail
from procs import free_port, spawn, stop_process, tail

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``evalsvc demo`` as the README runs it; yields its base URL and the printed links."""
    port = free_port()
    log = tmp_path / "demo.log"
    env = {
        "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "secret"),
        "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "audit-log.key"),
    }
    proc = spawn(
        [
            sys.executable,
            "-m",
            "evalsvc",
            "demo",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        log=log,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while "Ctrl+C" not in log.read_text(encoding="utf-8", errors="replace"):
            assert proc.poll() is None, f"demo exited with {proc.returncode}: {tail(log)}"
            assert time.monotonic() < deadline, (
                f"demo on port {port} did not print 'Ctrl+C' within 60 s: {tail(log)}"
            )
            time.sleep(0.2)
        text = log.read_text(encoding="utf-8")
        links = dict(re.findall(r"^  (\S.*?) \[.*?\]\n\s+(http://\S+)$", text, flags=re.M))
        yield f"http://127.0.0.1:{port}", links
    finally:
        stop_process(proc, grace=20)


async def test_expert_scores_and_operator_sees_the_ranking(
    demo: tuple[str, dict[str, str]],
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    base, links = demo
    expert_link = next(v for k, v in links.items() if "待评分" in k)
    operator_link = next(v for k, v in links.items() if k.startswith("主场操作员"))
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = await browser.new_page()
            await page.goto(expert_link)
            await page.wait_for_selector("#sheet-card:not([hidden])")
            assert "ah-hefei" in (await page.text_content("#who") or "")
            # A score above the maximum is refused, naming the field; nothing is saved.
            inputs = page.locator("#sheet-table input.score")
            count = await inputs.count()
            assert count == 9  # 3 bids × (T1, T2, C1)
            for i in range(count):  # T1 (of 40) near the committee's, the rest 8 of 10
                await inputs.nth(i).fill("34" if i % 3 == 0 else "8")
            await inputs.nth(0).fill("45")  # T1 max is 40
            await page.click("#sheet-form button[type=submit]")
            await page.wait_for_selector("#banner:not([hidden])")
            banner = await page.text_content("#banner") or ""
            assert "bids/B1/T1" in banner and "40" in banner
            assert await inputs.nth(0).evaluate("n => n.classList.contains('invalid')")
            await inputs.nth(0).fill("36")
            await page.click("#sheet-form button[type=submit]")
            await page.wait_for_selector("#banner.ok")
            assert "评审表已保存" in (await page.text_content("#banner") or "")

            op = await browser.new_page()
            await op.goto(operator_link)
            await op.wait_for_selector("#actions button")
            await op.get_by_role("button", name="锁定评分").click()
            await op.wait_for_selector("#result-card:not([hidden]) #result tr")
            rows = await op.locator("#result tr").all_inner_texts()
            assert len(rows) == 3
            assert rows[0].startswith("1")
            # The expert's page follows live: the result appears there too.
            await page.wait_for_selector("#result-card:not([hidden]) #result tr", timeout=30_000)

            # The report: the operator starts it; the expert is shown what they sign (the
            # leading bid and the report's SHA-256) and signs that version.
            await op.get_by_role("button", name="生成评标报告").click()
            sign = page.get_by_role("button", name="签署评标报告")
            await sign.wait_for(timeout=30_000)
            shown: list[str] = []

            async def accept(dialog: Any) -> None:
                shown.append(dialog.message)
                await dialog.accept()

            page.once("dialog", accept)
            await sign.click()
            await page.wait_for_selector("#banner.ok")
            assert "已执行" in (await page.text_content("#banner") or "")
            assert len(shown) == 1 and "第一名" in shown[0], shown
            digest = re.search(r"SHA-256：([0-9a-f]{64})", shown[0])
            assert digest is not None, shown
            await sign.wait_for(state="detached", timeout=30_000)
            token = expert_link.rsplit("token=", 1)[1]
            auth = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=auth) as http:
                async with http.get(f"{base}/api/sessions") as r:
                    (session,) = (await r.json())["sessions"]
                async with http.get(f"{base}/api/sessions/{session['id']}/events?limit=1000") as r:
                    events = (await r.json())["events"]
            signed = [e for e in events if e["type"] == "report.signed"]
            assert [e["payload"]["report_sha256"] for e in signed] == [digest.group(1)]

            # The expert opens the draft report: fetched with the token, shown in a new
            # page with its stylesheet, the SHA-256 just signed on it and no names yet.
            async with page.context.expect_page() as opened:
                await page.get_by_role("button", name="查看评标报告草稿").click()
            report = await opened.value
            await report.wait_for_load_state("load")
            await report.wait_for_selector("h1")
            assert await report.text_content("h1") == "评标报告"
            body = await report.text_content("body") or ""
            assert digest.group(1) in body and "封存后公布" in body
            align = await report.eval_on_selector("h1", "n => getComputedStyle(n).textAlign")
            assert align == "center"  # /static/report.css applied
            # The operator has no draft to open before the seal.
            assert await op.get_by_role("button", name="查看评标报告草稿").count() == 0
        finally:
            await browser.close()
