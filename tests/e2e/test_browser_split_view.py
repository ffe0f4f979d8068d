"""A split view reported by a venue, in a real browser (the demo, at 390 px): the
supervisor's console lists it among its alerts (监督提醒) with the venue and both
checkpoints' roots, and in the table of the pattern alerts; an expert's feed shows only
that a supervisors' alert was raised (docs/audit.md "Split views")."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import demo, link, rest, session_id, token_of

from evalsvc.audit.note import Checkpoint, parse_checkpoint
from evalsvc.audit.note import sign_checkpoint as sign_note
from evalsvc.audit.service import log_keys
from evalsvc.keys import load_or_create_secret

pytestmark = pytest.mark.e2e
__all__ = ["demo"]  # the fixture, shared with test_browser


async def test_supervisor_sees_a_reported_split_view_and_an_expert_does_not(
    demo: tuple[str, dict[str, str]], tmp_path: Path,
) -> None:
    require_browser()
    base, links = demo
    sup = token_of(link(links, "监督"))
    op = token_of(link(links, "副场操作员 secondary operator (苏州)"))
    sid = await session_id(base, op)
    # The primary's log key signs a checkpoint of the cosigned size over another tree
    # (what a lying primary shows one venue); Suzhou's agent hands both in.
    key = await rest(base, sup, "GET", f"/api/sessions/{sid}/audit/key")
    skey = log_keys(load_or_create_secret(tmp_path / "audit-log.key"), key["origin"])[0]
    async with __import__("aiohttp").ClientSession() as http, http.get(
            f"{base}/api/sessions/{sid}/audit/checkpoint",
            headers={"Authorization": f"Bearer {sup}"}) as r:
        trusted = await r.text()
    cp = parse_checkpoint(trusted)
    other = hashlib.sha256(b"forked" + cp.root).digest()
    served = sign_note(Checkpoint(cp.origin, cp.size, other, ()), skey)
    out = await rest(base, op, "POST", f"/api/sessions/{sid}/audit/split-view",
                     {"evidence": {"kind": "fork", "trusted": trusted, "served": served}})
    assert out["rule"] == "split_view", out

    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "split-supervisor", width=390)
        await page.goto(link(links, "监督"))
        item = page.locator("#alert-list li", has_text="审计日志分叉")
        await item.wait_for(timeout=30_000)
        text = await item.inner_text()
        assert "苏州" in text and f"大小 {cp.size}" in text, text
        assert cp.root.hex()[:16] in text and other.hex()[:16] in text, text
        feed = page.locator("#events li", has_text="监督预警：审计日志分叉视图")
        await feed.first.wait_for(timeout=30_000)
        # Listed with the pattern alerts too (GET …/alerts), as a point of its own.
        row = page.get_by_role("table", name="各检查点的预警").locator(
            "tbody tr", has_text="审计日志分叉")
        await row.wait_for(timeout=30_000)
        assert "审计日志分叉视图（场地 苏州）" in await row.inner_text()
        await check_screen(page, "split-supervisor")

        expert = await new_page(browser, console, "split-expert", width=390)
        await expert.goto(next(v for k, v in links.items() if "待评分" in k))
        line = expert.locator("#events li", has_text="监督预警")
        await line.first.wait_for(timeout=30_000)
        assert "仅监督可见" in await line.first.inner_text()
        body = await expert.inner_text("body")
        assert "分叉" not in body and cp.root.hex()[:16] not in body
        await check_screen(expert, "split-expert")
    console.assert_clean()
