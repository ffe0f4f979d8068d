"""The committee's steps in the browser workspaces, against a real server process.

- An expert after check-in reads the pledge (text, SHA-256) and accepts it, declares bid
  by bidder in a form, and casts a sealed ballot; the primary operator opens the election
  and closes the round from its page.
- The leader requests a re-review, the supervisor rejects one and approves another with a
  reason; after the signing deadline the leader records a refusal and the supervisor
  confirms the seat as deemed to agree; the expert opens the draft report.

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from conftest import Harness, scoring_sheet
from procs import Server

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
NO_CONFLICT = [{"bid_id": b, "conflict": False} for b in ("B1", "B2", "B3")]


@asynccontextmanager
async def server_api(
    tmp_path: Path, db_url: str, settings: Settings, extra: str = ""
) -> AsyncIterator[tuple[Harness, str]]:
    """A real server (config/test.toml plus ``extra``) and a Harness talking to it."""
    config = tmp_path / "server.toml"
    config.write_text((PROJECT_ROOT / "config" / "test.toml").read_text(encoding="utf-8")
                      + extra, encoding="utf-8")
    server = Server(db_url=db_url, secret_file=Path(settings.auth.token_secret_file),
                    log=tmp_path / "log", env={"EVALSVC_CONFIG": str(config)})
    server.start()
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=20)
        ) as http:
            yield Harness(http, settings), server.url
    finally:
        server.stop()


async def ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> None:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)


async def test_an_expert_pledges_declares_and_votes_and_the_primary_runs_the_election(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    console = Console()
    async with server_api(tmp_path, db_url, settings) as (api, base), chromium() as browser:
        sid, experts = await api.to_stage("checked_in")
        seat, tok = experts[1]
        page = await new_page(browser, console, "rules-expert")
        await page.goto(f"{base}/#token={tok}")
        op = await new_page(browser, console, "rules-primary")
        await op.goto(f"{base}/#token={api.op()}")

        # The pledge: its text and the SHA-256 the server will check, accepted only once
        # the expert ticks that it was read.
        _, pledge = await api.call("GET", f"/api/sessions/{sid}/pledge", tok)
        await page.get_by_role("heading", name=re.compile("评标专家承诺书")).wait_for()
        shown = await page.locator("#steps-card").inner_text()
        assert pledge["sha256"] in shown and pledge["text"].strip().splitlines()[0] in shown
        await check_screen(page, "rules-pledge")
        await page.get_by_role("button", name="签署承诺书").click()
        assert "请先阅读承诺书并勾选确认" in await page.locator("#pledge-err").inner_text()
        await page.get_by_label("本人已阅读以上承诺书，承诺遵守").check()
        await page.get_by_role("button", name="签署承诺书").click()

        # The declaration: a real form, one group per bidder by name; every group must be
        # answered and a conflict needs its reason, each error beside its field.
        form = page.locator("#decl-form")
        await form.wait_for(timeout=30_000)
        groups = [form.get_by_role("group", name=f"{b} {n}")
                  for b, n in (("B1", "甲公司"), ("B2", "乙公司"), ("B3", "丙公司"))]
        await page.get_by_role("button", name="提交回避声明").click()
        summary = page.locator("#decl-errors")
        assert "有 3 处需要修改" in await summary.inner_text()
        await groups[0].get_by_label("存在利害关系，申请回避").check()
        await page.get_by_role("button", name="提交回避声明").click()
        assert "存在利害关系时须填写回避原因" in await page.locator("#decl-B1-err").inner_text()
        await check_screen(page, "rules-declaration-errors")
        for g in groups:
            await g.get_by_label("无利害关系").check()
        await page.get_by_role("button", name="提交回避声明").click()
        dialog = page.get_by_role("dialog")
        assert "均无利害关系" in await dialog.inner_text()
        await dialog.get_by_role("button", name="确认提交声明").click()
        await page.get_by_text("回避声明已提交").wait_for()

        # The primary cannot open the election until every member has pledged and declared.
        opener = op.get_by_role("button", name="开始推选组长")
        await opener.wait_for(timeout=30_000)
        assert await opener.is_disabled()
        why = await op.locator("#why-open_election").inner_text()
        assert "尚未签署承诺书" in why and f"第 {seat + 1} 席" not in why
        for i, t in experts:
            if i == seat:
                continue
            await ok(api, sid, t, "accept_pledge", sha256=pledge["sha256"])
            await ok(api, sid, t, "declare_interests", declarations=NO_CONFLICT)
        await op.wait_for_function("() => !document.querySelector('#why-open_election')")
        await check_screen(op, "rules-primary-election")
        await opener.click()
        await op.get_by_role("dialog").get_by_role("button", name="确认开始推选组长").click()

        # The sealed ballot: candidates by seat and venue, and a blank ballot.
        ballot = page.locator("#vote-form")
        await ballot.wait_for(timeout=30_000)
        assert await ballot.get_by_label("弃权（空白票）").count() == 1
        await check_screen(page, "rules-ballot")
        await page.get_by_role("button", name="投出选票").click()
        assert "请选择一位候选人或弃权" in await page.locator("#vote-err").inner_text()
        await ballot.get_by_label(re.compile("^第 1 席")).check()
        await page.get_by_role("button", name="投出选票").click()
        await page.get_by_role("dialog").get_by_role("button", name="确认投票").click()
        await page.get_by_text("选票已投出").wait_for()
        await ballot.wait_for(state="detached")
        _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
        assert [b["seat"] for b in doc["election"]["ballots"]] == [seat]
        assert set(doc["election"]["ballots"][0]) == {"seat", "commitment"}  # sealed

        # Until every member voted the round cannot close; then the primary closes it.
        closer = op.get_by_role("button", name="结束本轮投票并计票")
        await closer.wait_for(timeout=30_000)
        assert await closer.is_disabled()
        for i, t in experts:
            if i != seat:
                await ok(api, sid, t, "cast_vote", candidate=0)
        await op.wait_for_function("() => !document.querySelector('#why-close_round')")
        await closer.click()
        await op.get_by_role("dialog").get_by_role("button", name="确认结束本轮投票并计票").click()
        await op.get_by_text("评标委员会组长：第 1 席").wait_for(timeout=30_000)
        await op.wait_for_function("() => !document.querySelector('#why-start_evaluation')")
        await page.locator("#events li", has_text="组长当选：第 1 席").wait_for()

        events = await api.events(sid)
        mine = [e for e in events if e["type"] in ("pledge.accepted", "interests.declared",
                                                   "vote.cast") and e["payload"]["seat"] == seat]
        assert [e["type"] for e in mine] == ["pledge.accepted", "interests.declared", "vote.cast"]
        assert mine[1]["payload"]["conflict"] is False
        assert mine[0]["payload"]["sha256"] == pledge["sha256"]
        # The live event list kept up (other venues' masked events included).
        assert "（不可见）" in (await page.text_content("#events") or "")
    console.assert_clean()


async def test_leader_supervisor_rereview_refusal_and_deemed_agreement_in_the_browser(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    console = Console()
    # A signing deadline that has passed at once, so that a refusal may be recorded.
    extra = "\n[rules]\nsign_deadline_minutes = 0\n"
    async with (server_api(tmp_path, db_url, settings, extra) as (api, base),
                chromium() as browser):
        sid, experts = await api.to_stage("scoring")  # seat 0 was elected leader
        tokens = dict(experts)
        for s, t in experts:
            status, body = await api.submit(sid, t, scoring_sheet(), key=f"s-{s}-0001")
            assert status == 201, body
        await ok(api, sid, api.op(), "lock_scoring")

        leader = await new_page(browser, console, "rules-leader")
        await leader.goto(f"{base}/#token={tokens[0]}")
        sup = await new_page(browser, console, "rules-supervisor")
        await sup.goto(f"{base}/#token={api.sup}")

        async def request(seats: tuple[int, ...], reason: str) -> None:
            form = leader.locator("#rr-form")
            await form.wait_for(timeout=30_000)
            for s in seats:
                await form.get_by_label(re.compile(f"^第 {s + 1} 席")).check()
            await form.get_by_label("复核原因").fill(reason)
            await form.get_by_role("button", name="申请复核").click()
            await leader.get_by_role("dialog").get_by_role("button", name="确认申请复核").click()
            await leader.get_by_text("复核申请已提交，等待监督决定").wait_for()

        # The leader's request needs a seat and a reason, said beside the form.
        form = leader.locator("#rr-form")
        await form.wait_for(timeout=30_000)
        await check_screen(leader, "rules-leader-rereview")
        await form.get_by_role("button", name="申请复核").click()
        assert "请选择至少一个需复核的席位" in await leader.locator("#rr-err").inner_text()
        await request((1,), "第 2 席技术方案分值汇总有误")

        # The supervisor decides with a reason: rejected first …
        approvals = sup.locator("#approvals")
        await approvals.get_by_text("第 2 席技术方案分值汇总有误").wait_for(timeout=30_000)
        await check_screen(sup, "rules-supervisor-rereview")
        await approvals.get_by_role("button", name="驳回复核").click()
        assert "请填写监督意见" in await sup.locator("#rr-decision-err").inner_text()
        await approvals.get_by_label("监督意见").fill("经核对汇总无误")
        await approvals.get_by_role("button", name="驳回复核").click()
        await sup.get_by_role("dialog").get_by_role("button", name="确认驳回复核").click()
        await sup.get_by_text("已驳回复核").wait_for()
        await approvals.wait_for(state="hidden")
        # … then a second request is approved: the scoring stage reopens for seat 2 only.
        await request((1,), "第 2 席客观分评分不一致")
        await approvals.get_by_text("第 2 席客观分评分不一致").wait_for(timeout=30_000)
        await approvals.get_by_label("监督意见").fill("同意由第 2 席重新评分")
        await approvals.get_by_role("button", name="批准复核").click()
        await sup.get_by_role("dialog").get_by_role("button", name="确认批准复核").click()
        await sup.locator("#s-state", has_text="评审中").wait_for(timeout=30_000)
        kinds = [e["type"] for e in await api.events(sid)]
        assert kinds.count("rereview.requested") == 2
        assert "rereview.rejected" in kinds and "rereview.approved" in kinds

        status, body = await api.submit(sid, tokens[1], scoring_sheet(), key="s-1-0002")
        assert status == 201, body
        await ok(api, sid, api.op(), "lock_scoring")
        await ok(api, sid, api.op(), "start_report")
        last = max(tokens)
        for s, t in experts:
            if s != last:
                await ok(api, sid, t, "sign_report")

        # The deadline has passed: the leader records the last seat's refusal in writing.
        refusal = leader.get_by_role("button", name=f"记录第 {last + 1} 席拒签")
        await refusal.wait_for(timeout=30_000)
        # Only the seat that neither signed nor dissented is offered, once all have signed.
        await leader.wait_for_function(
            "() => document.querySelectorAll('#refusals button').length === 1", timeout=30_000)
        await check_screen(leader, "rules-leader-refusal")
        await refusal.click()
        dialog = leader.get_by_role("dialog")
        note = "该委员既未签字也未陈述不同意见，书面记录在案"
        await dialog.get_by_label("委员会书面记录").fill(note)
        await dialog.get_by_role("button", name="记录拒签").click()
        await leader.get_by_text(f"已记录第 {last + 1} 席拒签").wait_for()

        # The supervisor confirms it as deemed agreement (第43条).
        confirm = sup.get_by_role("button", name=f"确认第 {last + 1} 席视为同意")
        await confirm.wait_for(timeout=30_000)
        await check_screen(sup, "rules-supervisor-deemed")
        await confirm.click()
        dialog = sup.get_by_role("dialog")
        assert "书面记录在案" in await dialog.inner_text()
        await dialog.get_by_role("button", name="确认视为同意").click()
        await sup.get_by_text(f"已确认第 {last + 1} 席视为同意").wait_for()

        # The draft report, from the expert's page, carries the deemed agreement.
        async with leader.context.expect_page() as opened:
            await leader.get_by_role("button", name="查看评标报告草稿").click()
        draft = await opened.value
        await draft.wait_for_selector("h1")
        assert await draft.text_content("h1") == "评标报告"
        assert "封存后公布" in (await draft.text_content("body") or "")
        await draft.close()

        # The committee's note is in the report now: the signatures given before it were
        # over other bytes, and are given again over the report that carries it.
        _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
        assert doc["signed"] == []
        for s, t in experts:
            if s != last:
                await ok(api, sid, t, "sign_report")
        await ok(api, sid, api.op(), "seal")
        _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
        assert doc["state"] == "sealed" and doc["deemed"] == [last]
        # After the seal the supervisor's page offers the sealed report, no longer a draft.
        await sup.get_by_role("button", name="查看评标报告", exact=True).wait_for(timeout=30_000)
    console.assert_clean()
