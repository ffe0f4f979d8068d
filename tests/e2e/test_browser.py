"""The demo in a real browser, one test per workspace, as the people who use it work.

Drives Debian's Chromium with Playwright (``executable_path=/usr/bin/chromium``); skipped
with the reason where either is missing, and a failure in CI. Every screen is checked by
axe-core (0 serious/critical), for sideways scroll at 390 px, and photographed at 390,
1024 and 1366 px (``tests/e2e/browserkit.py``); no test may log a JavaScript error.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from procs import free_port, spawn, stop_process, tail

from evalsvc.config import PROJECT_ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``evalsvc demo`` as the README runs it; yields its base URL and the printed links.

    ``@pytest.mark.demo_config("config/test.toml")`` adds a config file (draw windows of
    seconds, for a ceremony run in the test)."""
    port = free_port()
    log = tmp_path / "demo.log"
    env = {
        "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "secret"),
        "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "audit-log.key"),
    }
    marker = request.node.get_closest_marker("demo_config")
    if marker is not None:
        env["EVALSVC_CONFIG"] = str(PROJECT_ROOT / marker.args[0])
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
        links["__log__"] = str(log)  # the whole printout (test_browser_cert.py reads its key files)
        yield f"http://127.0.0.1:{port}", links
    finally:
        stop_process(proc, grace=20)


def link(links: dict[str, str], startswith: str) -> str:
    return next(v for k, v in links.items() if k.startswith(startswith))


def token_of(url: str) -> str:
    return url.rsplit("token=", 1)[1]


async def rest(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if method == "POST":
        headers["Idempotency-Key"] = f"test-{time.monotonic_ns()}"
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, base + path, json=body) as r,
    ):
        data = await r.json()
        assert r.status < 300, (r.status, data)
        return data


async def session_id(base: str, token: str) -> str:
    """The demo's running session (the demo also seals a second tender for supervisors)."""
    sessions = (await rest(base, token, "GET", "/api/sessions"))["sessions"]
    (s,) = [x for x in sessions if x["state"] not in ("sealed", "aborted")]
    return str(s["id"])


async def scoring_events_of(base: str, token: str, sid: str, seat: int) -> list[dict[str, Any]]:
    events = (await rest(base, token, "GET", f"/api/sessions/{sid}/events?limit=1000"))["events"]
    return [
        e
        for e in events
        if e["type"] == "sheet.submitted"
        and e["payload"]["seat"] == seat
        and e["payload"]["stage"] == "scoring"
    ]


SCORES = {"T1": "34", "T2": "8", "C1": "8.5"}


async def fill_sheet(page: Any, bids: tuple[str, ...] = ("B1", "B2", "B3")) -> None:
    for b in bids:
        for crit, name in (("T1", "技术方案"), ("T2", "项目实施计划"), ("C1", "商务条款响应")):
            await page.get_by_label(f"{b} {name}", exact=True).fill(SCORES[crit])


async def submit_and_confirm(page: Any) -> str:
    await page.get_by_role("button", name="提交评审表").click()
    dialog = page.get_by_role("dialog")
    await dialog.wait_for()
    said = await dialog.inner_text()
    await dialog.get_by_role("button", name="确认提交").click()
    return said


async def test_expert_keeps_typed_values_and_the_outbox_delivers_once(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    expert_link = next(v for k, v in links.items() if "待评分" in k)
    other_link = next(v for k, v in links.items() if k.startswith("专家") and v != expert_link)
    token = token_of(expert_link)
    sid = await session_id(base, token)
    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "expert")
        # Sign-in by pasting the token (the login screen is a screen too).
        await page.goto(base + "/")
        await page.get_by_role("button", name="登录").click()
        assert "请粘贴令牌" in await page.locator("#token-err").inner_text()
        await check_screen(page, "login")
        await page.get_by_label("访问令牌").fill(token)
        await page.get_by_role("button", name="登录").click()
        await page.get_by_role("heading", name="我的评审表 — 详细评审（评分）").wait_for()
        await page.get_by_text("实时同步").wait_for()
        assert "第 7 席 · 合肥（副场）" in await page.locator("#seat-line").inner_text()
        assert "ah-hefei" not in await page.locator("body").inner_text()
        await check_screen(page, "expert-sheet")

        # Every bad field is marked and listed, in Chinese, with its name; 1e1 is refused.
        await fill_sheet(page)
        await page.get_by_label("B1 技术方案", exact=True).fill("45")
        await page.get_by_label("B2 商务条款响应", exact=True).fill("1e1")
        await page.get_by_label("B3 项目实施计划", exact=True).fill("")
        await page.get_by_role("button", name="提交评审表").click()
        summary = page.locator("#sheet-errors")
        await summary.wait_for()
        assert await summary.evaluate("n => n === document.activeElement")
        text = await summary.inner_text()
        assert "3 处" in text
        assert "B1 技术方案：不能超过满分 40 分" in text
        assert "B2 商务条款响应" in text and "1e1" in text
        assert "B3 项目实施计划：请填写分数" in text
        invalid = page.locator("input[aria-invalid=true]")
        assert await invalid.count() == 3
        await check_screen(page, "expert-sheet-errors")
        assert await scoring_events_of(base, token, sid, 6) == []  # nothing was sent

        # Typed values survive an event: another expert submits a new version meanwhile.
        await page.get_by_label("B1 技术方案", exact=True).fill("35.5")
        await page.get_by_label("B2 商务条款响应", exact=True).fill("9")
        await page.get_by_label("B3 项目实施计划", exact=True).focus()
        other = token_of(other_link)
        sheet = {
            "stage": "scoring",
            "bids": {b: {"T1": "33", "T2": "8", "C1": "8"} for b in ("B1", "B2", "B3")},
        }
        stored = await rest(base, other, "POST", f"/api/sessions/{sid}/sheets", sheet)
        await page.locator("#events li", has_text="第 1 席 · 详细评审（评分） · 第 2 版").wait_for()
        await page.wait_for_function(
            f"() => Number(document.body.dataset.renderedSeq) >= {stored['seq']}"
        )
        assert await page.get_by_label("B1 技术方案", exact=True).input_value() == "35.5"
        assert await page.get_by_label("B2 商务条款响应", exact=True).input_value() == "9"
        assert await page.evaluate("document.activeElement.id") == "f-B3-T2"  # focus kept

        # …and a reload (drafts in localStorage), running totals included.
        await page.reload()
        await page.get_by_role("heading", name="我的评审表 — 详细评审（评分）").wait_for()
        assert await page.get_by_label("B1 技术方案", exact=True).input_value() == "35.5"
        assert "小计 52 / 60 分" in await page.locator("#total-B1").inner_text()

        # …and a network cut: the sheet waits in the outbox and is delivered once.
        await page.get_by_label("B3 项目实施计划", exact=True).fill("8")
        await page.context.set_offline(True)
        await page.get_by_text("网络中断，恢复后自动同步").wait_for()
        said = await submit_and_confirm(page)
        assert "第 1 版" in said and "B1 小计 52 分" in said
        await page.get_by_text("已保存在本机，网络恢复后自动提交").wait_for()
        # A 30 s cut (issue 15): longer than the heartbeat and several reconnect backoffs.
        # Nothing may leak out meanwhile, and the typed values stay on the screen.
        await page.wait_for_timeout(30_000)
        assert await scoring_events_of(base, token, sid, 6) == []
        assert await page.get_by_label("B1 技术方案", exact=True).input_value() == "35.5"
        assert await page.get_by_label("B3 项目实施计划", exact=True).input_value() == "8"
        assert "网络中断" in await page.locator("#live").inner_text()
        await page.context.set_offline(False)
        await page.get_by_text("评审表已保存（第 1 版）").wait_for(timeout=30_000)
        await page.get_by_text("已提交第 1 版").wait_for()
        # A reload after delivery sends nothing again: one version stored, with our values.
        await page.reload()
        await page.get_by_text("已提交第 1 版").wait_for()
        await page.wait_for_timeout(500)
        summary_text = await page.locator("#own-summary").inner_text()
        assert "详细评审（评分） 第 1 版：B1 52 分，B2 51 分，B3 50.5 分" in summary_text
        assert "资格审查 第 1 版，全部通过" in summary_text
        (event,) = await scoring_events_of(base, token, sid, 6)
        assert event["payload"]["version"] == 1
        progress = await rest(base, token, "GET", f"/api/sessions/{sid}/progress")
        (mine,) = [s for s in progress["own_sheets"] if s["stage"] == "scoring"]
        assert mine["sheet"]["bids"]["B1"] == {"T1": "35.5", "T2": "8", "C1": "8.5"}
        assert mine["sheet"]["bids"]["B2"]["C1"] == "9"

        # Sign-out on a shared venue PC forgets the token and the drafts.
        await page.get_by_role("button", name="退出登录").click()
        await page.get_by_role("heading", name="登录").wait_for()
        kept = await page.evaluate(
            "[...Object.keys(localStorage), ...Object.keys(sessionStorage)]"
            ".filter(k => k.startsWith('evalsvc.'))"
        )
        assert kept == []
        await page.reload()
        await page.get_by_role("heading", name="登录").wait_for()
    console.assert_clean()


async def test_operator_locks_experts_read_and_sign_and_a_dissent_voids_a_signature(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    expert_link = next(v for k, v in links.items() if "待评分" in k)
    other_link = next(v for k, v in links.items() if k.startswith("专家") and v != expert_link)
    console = Console()
    async with chromium() as browser:
        expert = await new_page(browser, console, "expert")
        await expert.goto(expert_link)
        await expert.get_by_role("heading", name="我的评审表 — 详细评审（评分）").wait_for()
        await fill_sheet(expert)
        # Far below the committee on B1: this expert will have to explain it.
        await expert.get_by_label("B1 技术方案", exact=True).fill("10")
        await submit_and_confirm(expert)
        await expert.get_by_text("评审表已保存（第 1 版）").wait_for()

        op = await new_page(browser, console, "primary-operator")
        await op.goto(link(links, "主场操作员"))
        lock = op.get_by_role("button", name="锁定评分")
        await lock.wait_for()
        await op.wait_for_function("!document.querySelector('#ws-body button:disabled')")
        seat7 = op.locator("table.committee tr", has_text="第 7 席")
        assert "第 4 席" in await op.locator("table.committee").inner_text()
        await seat7.get_by_text("在线").wait_for()  # presence: the expert's page is open
        await check_screen(op, "operator-primary")
        await lock.click()
        dialog = op.get_by_role("dialog")
        assert "锁定后专家不能再修改评分" in await dialog.inner_text()
        await check_screen(op, "operator-confirm-lock")
        await dialog.get_by_role("button", name="确认锁定评分").click()
        await op.get_by_role("table", name="委员会汇总结果").wait_for()
        ranking = op.get_by_role("table", name="委员会汇总结果")
        rows = await ranking.locator("tbody tr").all_inner_texts()
        assert len(rows) == 3 and rows[0].startswith("1")
        # The expert's page follows live.
        await expert.get_by_role("table", name="委员会汇总结果").wait_for(timeout=30_000)

        # The deviation blocks the report until the expert explains it, and says so.
        report_button = op.get_by_role("button", name="生成评标报告")
        assert await report_button.is_disabled()
        assert "1 项评分偏离未说明" in await op.locator("#why-start_report").inner_text()
        await expert.get_by_role("button", name="说明对 B1 的评分偏离").click()
        dialog = expert.get_by_role("dialog")
        await dialog.get_by_label("偏离理由").fill(
            "B1 技术方案未响应招标文件第 3.2 条的监测点位要求。"
        )
        await dialog.get_by_role("button", name="提交说明").click()
        await expert.get_by_text("偏离说明已提交").wait_for()
        await op.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.textContent === '生成评标报告' && !b.disabled)"
        )
        await op.locator("#ws-body", has_text="监测点位要求").wait_for()
        await report_button.click()
        await op.get_by_role("dialog").get_by_role("button", name="确认生成评标报告").click()
        seal = op.get_by_role("button", name="封存")
        await seal.wait_for(timeout=30_000)
        assert await seal.is_disabled()  # nobody has signed yet: blocked, and says why
        assert "尚未签署评标报告" in await op.locator("#why-seal").inner_text()

        # The expert reads the whole report, then signs the version shown.
        report = expert.locator("#report-card")
        await report.get_by_role("table", name="推荐排名").wait_for(timeout=30_000)
        await check_screen(expert, "expert-report")
        await expert.get_by_role("button", name="签署评标报告").click()
        dialog = expert.get_by_role("dialog")
        said = await dialog.inner_text()
        digest = re.search(r"SHA-256：([0-9a-f]{64})", said)
        assert digest is not None and "不能撤回" in said
        await dialog.get_by_role("button", name="确认签署").click()
        await expert.get_by_text("您已签署本报告。").wait_for()

        # The expert opens the draft report: fetched with the token, shown in a new
        # page with its stylesheet, the SHA-256 just signed on it and no names yet.
        async with expert.context.expect_page() as opened:
            await expert.get_by_role("button", name="查看评标报告草稿").click()
        draft = await opened.value
        await draft.wait_for_load_state("load")
        await draft.wait_for_selector("h1")
        assert await draft.text_content("h1") == "评标报告"
        text = await draft.text_content("body") or ""
        assert digest.group(1) in text and "封存后公布" in text
        align = await draft.eval_on_selector("h1", "n => getComputedStyle(n).textAlign")
        assert align == "center"  # /static/report.css applied
        await draft.close()
        # The operator has no draft to open before the seal (403 for operators).
        assert await op.get_by_role("button", name="查看评标报告草稿").count() == 0

        # Another expert records a dissent: the first signature is void, and shown so.
        other = await new_page(browser, console, "expert-dissent")
        await other.goto(other_link)
        await other.get_by_role("button", name="记录不同意见").click()
        dialog = other.get_by_role("dialog")
        assert "签名全部作废" in await dialog.inner_text()
        await dialog.get_by_role("button", name="记录不同意见").click()  # empty: refused
        assert "请填写不同意见" in await dialog.inner_text()
        await dialog.get_by_label("不同意见").fill("B2 的技术方案评分偏低，建议复核。")
        await dialog.get_by_role("button", name="记录不同意见").click()
        await other.get_by_text("不同意见已记录").wait_for()
        warning = expert.locator("#notice.warn")
        await warning.wait_for(timeout=30_000)
        assert "您的签名已作废" in await warning.inner_text()
        await expert.get_by_role("button", name="签署评标报告").wait_for()
        assert "B2 的技术方案评分偏低" in await expert.locator("#report-card").inner_text()

    token = token_of(expert_link)
    sid = await session_id(base, token)
    events = (await rest(base, token, "GET", f"/api/sessions/{sid}/events?limit=1000"))["events"]
    signed = [e for e in events if e["type"] == "report.signed"]
    assert [e["payload"]["report_sha256"] for e in signed] == [digest.group(1)]
    assert [e["type"] for e in events][-2:] == ["dissent.recorded", "report.signatures_cleared"]
    console.assert_clean()


async def test_secondary_operator_sees_its_seats_and_pauses_with_a_reason(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    _, links = demo
    console = Console()
    async with chromium() as browser:
        op = await new_page(browser, console, "secondary-operator")
        await op.goto(link(links, "副场操作员 secondary operator (苏州)"))
        table = op.get_by_role("table", name="评标委员会")
        await table.wait_for()
        text = await table.inner_text()
        assert text.count("身份不可见") == 5  # only Suzhou's two members by name
        assert "锁定评分" not in await op.locator("body").inner_text()  # the primary's step
        await check_screen(op, "operator-secondary")
        await op.get_by_role("button", name="暂停评标").click()
        dialog = op.get_by_role("dialog")
        await dialog.get_by_role("button", name="确认暂停").click()
        assert "请填写暂停原因" in await dialog.inner_text()
        await dialog.get_by_label("暂停原因").fill("苏州副场网络中断")
        await dialog.get_by_role("button", name="确认暂停").click()
        await op.get_by_text("已暂停：苏州副场网络中断").wait_for()
        assert "已暂停（原为评审中）" in await op.locator("#s-state").inner_text()
    console.assert_clean()


async def test_supervisor_verifies_inclusion_proofs_in_the_page(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    console = Console()
    async with chromium() as browser:
        page = await new_page(browser, console, "supervisor")
        await page.goto(link(links, "监督"))
        await page.get_by_role("table", name="评标委员会").wait_for()
        await check_screen(page, "supervisor-console")
        await page.get_by_role("button", name="打开审计日志").click()
        await page.get_by_role("button", name="信任此公钥").click()
        status = page.locator("#cp-status")
        await status.wait_for()
        assert "检查点签名已验证" in await status.inner_text()
        await page.get_by_role("button", name="验证本页全部记录").click()
        await page.get_by_text("本页记录全部验证通过").wait_for(timeout=60_000)
        cells = await page.locator("#entries tbody td[id^=v-]").all_inner_texts()
        assert len(cells) == 20 and all(c.startswith("已验证") for c in cells), cells
        await check_screen(page, "supervisor-audit")

        # A server that lies about one entry: the page says so, whatever the server says.
        first = await page.locator("#entries tbody tr th").first.inner_text()
        target = int(first) - 4  # the fourth row's entry index (rows count from 1)

        async def tamper(route: Any) -> None:
            response = await route.fetch()
            doc = await response.json()
            entry = json.loads(doc["entry"])
            # A format-2 entry (docs/audit.md "Leaves"): the server changes who acted.
            entry["disclosed"][0][2] = "operator:tampered"
            forged = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
            doc["entry"] = forged
            doc["entry_base64"] = base64.b64encode(forged.encode()).decode()
            await route.fulfill(response=response, json=doc)

        # Alerts arrive live: a venue pauses the session.
        js = token_of(link(links, "副场操作员 secondary operator (苏州)"))
        sid = await session_id(base, js)
        await rest(
            base,
            js,
            "POST",
            f"/api/sessions/{sid}/commands",
            {"command": "pause", "reason": "苏州副场视频链路中断"},
        )
        await page.locator("#alerts", has_text="评标暂停：苏州副场视频链路中断").wait_for()

        await page.route(f"**/audit/entries/{target}", tamper)
        await page.get_by_role("button", name=f"验证第 {target + 1} 条记录").click()
        await page.locator(f"#v-{target}", has_text="验证失败").wait_for()
        assert "根哈希" in await page.locator(f"#v-{target}").inner_text()

        # With two sessions the list is a live console: each row follows its session.
        primary = token_of(link(links, "主场操作员"))
        await rest(base, primary, "POST", "/api/sessions", NEW_SESSION)
        await page.get_by_role("button", name="返回项目列表").click()
        row = page.locator("#session-list li", has_text="智慧水务平台建设项目")
        await row.get_by_text("苏州副场视频链路中断").wait_for()
        await check_screen(page, "supervisor-sessions")
        await rest(base, primary, "POST", f"/api/sessions/{sid}/commands", {"command": "resume"})
        await row.get_by_text("评审中 · 详细评审（评分）").wait_for()
        assert "草稿" in await page.locator("#session-list").inner_text()
    console.assert_clean()


async def test_primary_operator_registers_a_session_with_bids_pasted_from_a_sheet(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    console = Console()
    async with chromium() as browser:
        op = await new_page(browser, console, "register")
        await op.goto(link(links, "主场操作员"))
        await op.get_by_role("button", name="返回项目列表").click()
        await op.get_by_role("button", name="登记新项目").click()
        await op.get_by_role("heading", name="登记新评标项目").wait_for()
        await op.get_by_role("button", name="登记项目").click()
        summary = op.locator("#reg-errors")
        await summary.wait_for()
        assert await summary.evaluate("n => n === document.activeElement")
        text = await summary.inner_text()
        for wanted in ("项目名称：请填写", "主场席位数：请填写", "投标 1 统一社会信用代码：请填写"):
            assert wanted in text, text
        await check_screen(op, "operator-register-errors")

        await op.get_by_label("项目名称").fill("示范区污水处理厂提标改造工程（浏览器登记）")
        await op.get_by_label("招标人", exact=True).fill("长三角生态绿色一体化发展示范区执行委员会")
        await op.get_by_label("招标项目编号").fill("CSJ-2026-WSCL-0012")
        # A bad tenderer code is refused beside the field, in Chinese.
        await op.get_by_label("招标人统一社会信用代码").fill("11310000MB2F3E4D5A")
        await op.locator("#r-primary-venue-name").fill("上海市公共资源交易中心")
        await op.locator("#r-primary-venue-city").fill("上海")
        await op.locator("#r-primary-venue-seats").fill("3")
        await op.locator("#r-secondary-venues-0-id").fill("js-suzhou")
        await op.locator("#r-secondary-venues-0-name").fill("苏州市公共资源交易中心")
        await op.locator("#r-secondary-venues-0-region").select_option("JS")
        await op.locator("#r-secondary-venues-0-city").fill("苏州")
        await op.locator("#r-secondary-venues-0-seats").fill("2")
        await op.get_by_label("从表格粘贴投标").fill(
            "编号\t投标人\t统一社会信用代码\t报价（元）\n"
            "B1\t上海浦江智能科技有限公司\t91310115MA1K3P7Q27\t12,860,000.00\n"
            "B2\t江苏太湖数字工程有限公司\t91320505MA1XY8K4L9\t11,985,000.00\n"
        )
        await op.get_by_role("button", name="导入粘贴的投标").click()
        await op.get_by_role("button", name="登记项目").click()
        await summary.wait_for()
        said = await summary.inner_text()
        assert "投标 2 统一社会信用代码：校验位不对（应为 6）" in said
        assert "招标人统一社会信用代码：校验位不对（应为 C）" in said
        assert "校验位不对（应为 C）" in await op.locator("#r-tenderer-uscc-err").inner_text()
        await op.get_by_label("招标人统一社会信用代码").fill("11310000MB2F3E4D5C")
        await op.locator("#r-bids-1-uscc").fill("91320505MA1XY8K4L6")
        # 暗标 needs two stages: named beside the box until they are chosen.
        await op.get_by_label("暗标", exact=True).check()
        await op.get_by_role("button", name="登记项目").click()
        await summary.wait_for()
        assert "暗标须分技术、商务两阶段评审" in await op.locator("#r-anonymous-err").inner_text()
        await op.get_by_label("评审阶段").select_option("split")
        # Guidance per criterion: under 暗标 it may not name a bidder (named beside it).
        await op.locator("#r-criteria-1-guidance").fill("参照上海浦江智能科技有限公司的方案打分")
        await op.get_by_role("button", name="登记项目").click()
        await summary.wait_for()
        assert "暗标项目的评分指引不得出现投标人名称" in await op.locator(
            "#r-criteria-1-guidance-err").inner_text()
        await check_screen(op, "operator-register-guidance-error")
        await op.locator("#r-criteria-1-guidance").fill(GUIDE)
        await op.get_by_label("价格分计算方法").select_option("average_benchmark")
        await op.get_by_label("基准价系数").fill("0.97")
        await op.get_by_role("button", name="添加评分项").click()
        await op.locator("#r-criteria-3-id").fill("K1")
        await op.locator("#r-criteria-3-name").fill("投标有效期")
        await op.locator("#r-criteria-3-category").select_option("compliance")
        await op.get_by_role("button", name="登记项目").click()
        await op.get_by_role("button", name="开始抽取专家").wait_for(timeout=30_000)
        assert "草稿" in await op.locator("#s-state").inner_text()

    sessions = (await rest(base, token_of(link(links, "主场操作员")), "GET", "/api/sessions"))[
        "sessions"
    ]
    (new,) = [s for s in sessions if "浏览器登记" in s["title"]]
    doc = await rest(base, token_of(link(links, "主场操作员")), "GET", f"/api/sessions/{new['id']}")
    assert [(b["id"], b["price_fen"]) for b in doc["bids"]] == [
        ("B1", 1_286_000_000),
        ("B2", 1_198_500_000),
    ]
    assert [v["city"] for v in doc["venues"]] == ["上海", "苏州"]
    assert (doc["tender_number"], doc["tenderer_uscc"]) == (
        "CSJ-2026-WSCL-0012",
        "11310000MB2F3E4D5C",
    )
    # Two stages, 暗标, a compliance item and the average-benchmark formula, as chosen.
    assert (doc["stages"], doc["anonymous"]) == ("split", True)
    assert ("K1", "compliance") in [(c["id"], c["category"]) for c in doc["criteria"]]
    assert doc["rules"]["price_formula"] == "average_benchmark", doc["rules"]
    assert [c.get("guidance") for c in doc["criteria"]] == [None, GUIDE, None, None]
    console.assert_clean()


GUIDE = "技术方案完整、可行，与需求逐条对应的得 50–60 分；\n每缺一项扣 5 分"


NEW_SESSION = {
    "title": "示范区水环境监测系统（抽取演示）",
    "tenderer": "长三角生态绿色一体化发展示范区执行委员会",
    "tender_number": "CSJ-2026-SHJC-0003",
    "tenderer_uscc": "11310000MB2F3E4D5C",
    "method": "weighted_scoring",
    "primary_venue": {
        "id": "sh-ggzy",
        "name": "上海市公共资源交易中心",
        "region": "SH",
        "city": "上海",
        "seats": 3,
    },
    "secondary_venues": [
        {
            "id": "js-suzhou",
            "name": "苏州市公共资源交易中心",
            "region": "JS",
            "city": "苏州",
            "seats": 2,
        }
    ],
    "bids": [
        {
            "id": "B1",
            "bidder": "上海浦江智能科技有限公司",
            "uscc": "91310115MA1K3P7Q27",
            "price_fen": 500_000_00,
        },
        {
            "id": "B2",
            "bidder": "江苏太湖数字工程有限公司",
            "uscc": "91320505MA1XY8K4L6",
            "price_fen": 480_000_00,
        },
    ],
    "criteria": [
        {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 60},
        {
            "id": "P1",
            "name": "投标报价",
            "category": "price",
            "max_points": 40,
            "formula": "lowest_price_ratio",
        },
    ],
}


async def local_time_in(page: Any, seconds: float) -> str:
    """The page's local time ``seconds`` from now, as a datetime-local input takes it."""
    return str(
        await page.evaluate(
            """s => { const d = new Date(Date.now() + s * 1000);
                      const p = n => String(n).padStart(2, "0");
                      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
                             `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }""",
            seconds,
        )
    )


@pytest.mark.demo_config("config/test.toml")
async def test_a_session_runs_from_the_draw_ceremony_to_the_seal_in_browsers_only(
    demo: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    require_browser()
    base, links = demo
    primary_token = token_of(link(links, "主场操作员"))
    created = await rest(base, primary_token, "POST", "/api/sessions", NEW_SESSION)
    console = Console()
    async with chromium() as browser:
        pages = {}
        for name, prefix in (
            ("sh", "主场操作员"),
            ("js", "副场操作员 secondary operator (苏州)"),
            ("sup", "监督"),
        ):
            page = await new_page(browser, console, f"draw-{name}")
            await page.goto(link(links, prefix))
            # A secondary venue is not told the project's name before the draw.
            title = "名称暂不公开的项目" if name == "js" else NEW_SESSION["title"]
            await page.get_by_role("button", name=title).click()
            await page.get_by_role("heading", name=title).wait_for()
            pages[name] = page
        sh = pages["sh"]
        await sh.get_by_role("button", name="开始抽取专家").click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认开始抽取专家").click()
        await sh.get_by_role("button", name="开启抽取仪式").wait_for()
        # The recusal rules take the tenderer and bidders from the session (as registered).
        assert "11310000MB2F3E4D5C" in await sh.locator("#draw").inner_text()
        await check_screen(sh, "draw-open")
        # Long enough for three parties to commit on a loaded machine; the reveals wait
        # for the page's clock to pass it (no fixed sleep).
        await sh.get_by_label("承诺截止时间").fill(await local_time_in(sh, 30))
        commit_deadline_ms = await sh.evaluate(
            "() => new Date(document.getElementById('d-commit').value).getTime()"
        )
        await sh.get_by_label("公开截止时间").fill(await local_time_in(sh, 600))
        await sh.get_by_role("button", name="开启抽取仪式").click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认开启").click()

        # Each party commits in its own browser; the secret stays there until the reveal.
        for name in ("sh", "js", "sup"):
            page = pages[name]
            button = page.get_by_role("button", name="提交随机数承诺")
            await button.wait_for(timeout=30_000)
            await button.click()
            await page.get_by_role("dialog").get_by_role("button", name="确认提交承诺").click()
            await page.get_by_role("button", name="公开随机数").wait_for()
        parties = sh.get_by_role("table", name="随机数仪式各方")
        await sh.wait_for_function(
            "() => [...document.querySelectorAll('#draw tbody tr')]"
            ".every(r => r.innerText.includes('已提交'))"
        )
        assert "监督" in await parties.inner_text()
        await check_screen(pages["js"], "draw-ceremony-secondary")
        # Reveals open after the commitment deadline; the supervisor reveals last.
        await sh.wait_for_function(
            f"() => Date.now() > {commit_deadline_ms} + 1000", timeout=60_000, polling=500
        )
        for name in ("sh", "js", "sup"):
            page = pages[name]
            await page.get_by_role("button", name="公开随机数").click()
            await page.get_by_role("dialog").get_by_role("button", name="确认公开").click()
            await page.get_by_text("随机数已公开").wait_for()
        invitations = sh.get_by_role("table", name="抽取结果与邀请")
        await invitations.wait_for(timeout=30_000)
        text = await invitations.inner_text()
        assert text.count("已邀请") == 5, text
        assert "第 5 席" in text and "苏州（副场）" in text
        await check_screen(sh, "draw-invitations")
        # The Suzhou operator never learns who was invited at Shanghai (四不知).
        js_text = await pages["js"].get_by_role("table", name="抽取结果与邀请").inner_text()
        assert not re.search(r"ESH\d", js_text), js_text
        assert re.search(r"ESH\d", await pages["sup"].locator("#draw").inner_text())

        draw = await rest(base, primary_token, "GET", f"/api/sessions/{created['id']}/draw")
        assert draw["phase"] == "inviting"
        assert [s["status"] for s in draw["seats"]] == ["invited"] * 5

        # The rest of the day, in the browsers only: experts accept, the venues check them
        # in, two stages are scored and locked, the report is signed by all, sealed.
        sup_token = token_of(link(links, "监督"))
        seated = (await rest(base, sup_token, "GET", f"/api/sessions/{created['id']}/draw"))[
            "seats"
        ]
        experts = [
            (x["seat"], issue_expert_token(tmp_path, x["expert_id"], x["venue_id"])) for x in seated
        ]

        async def as_expert(token: str) -> Any:
            page = await new_page(browser, console, "expert-day")
            await page.goto(f"{base}/#token={token}")
            # The list is filled, then a single session opens by itself. The same pool serves
            # the demo's session: an expert drawn for both sees two and picks this one.
            await page.wait_for_function(
                "() => document.getElementById('session-list').children.length > 0"
            )
            # (With one running session beside the demo's sealed one, it opens by itself.)
            listed = page.locator("#session-list button.link")
            if await page.locator("#sessions").is_visible() and await listed.count() > 1:
                await listed.filter(has_not_text="智慧水务").first.click()
            return page

        for i, (_, tok) in enumerate(experts):
            page = await as_expert(tok)
            accept = page.get_by_role("button", name="接受邀请")
            await accept.wait_for()
            if i == 0:
                await check_screen(page, "expert-invitation")
            await accept.click()
            await page.get_by_role("dialog").get_by_role("button", name="确认接受").click()
            await page.get_by_text("已接受邀请").wait_for()
            await page.context.close()

        await sh.get_by_role("button", name="开始签到").click(timeout=30_000)
        await sh.get_by_role("dialog").get_by_role("button", name="确认开始签到").click()
        for page, seats in ((sh, (1, 2, 3)), (pages["js"], (4, 5))):
            for n in seats:
                await page.get_by_role("button", name=f"为第 {n} 席签到").click(timeout=30_000)
                await page.get_by_role("dialog").get_by_role("button", name="确认签到").click()
                await page.get_by_text(f"第 {n} 席已签到").wait_for()

        # The committee's steps, in the members' browsers (start_evaluation needs them all):
        # the pledge read and accepted, a declaration bid by bidder, then a sealed ballot.
        open_election = sh.get_by_role("button", name="开始推选组长")
        await open_election.wait_for(timeout=30_000)
        assert await open_election.is_disabled()
        assert "尚未签署承诺书" in await sh.locator("#why-open_election").inner_text()
        for i, (_, tok) in enumerate(experts):
            page = await as_expert(tok)
            await page.get_by_role("heading", name=re.compile("评标专家承诺书")).wait_for()
            await page.get_by_label("本人已阅读以上承诺书，承诺遵守").check()
            await page.get_by_role("button", name="签署承诺书").click()
            form = page.locator("#decl-form")
            await form.wait_for(timeout=30_000)
            if i == 0:
                await check_screen(page, "expert-declaration")
            for group in await form.locator("fieldset").all():
                await group.get_by_label("无利害关系").check()
            await page.get_by_role("button", name="提交回避声明").click()
            await page.get_by_role("dialog").get_by_role("button", name="确认提交声明").click()
            await page.get_by_text("回避声明已提交").wait_for()
            await page.context.close()
        await sh.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.textContent === '开始推选组长' && !b.disabled)"
        )
        assert await sh.get_by_role("button", name="开始评审").is_disabled()
        await open_election.click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认开始推选组长").click()
        for i, (_, tok) in enumerate(experts):
            page = await as_expert(tok)
            ballot = page.locator("#vote-form")
            await ballot.wait_for(timeout=30_000)
            if i == 0:
                await check_screen(page, "expert-ballot")
            # Four votes for seat 1, one blank ballot: a strict majority in round 1.
            # (An expert's page names other venues' seats by number only.)
            choice = "弃权（空白票）" if i == 4 else re.compile("^第 1 席")
            await ballot.get_by_label(choice).check()
            await page.get_by_role("button", name="投出选票").click()
            await page.get_by_role("dialog").get_by_role("button", name="确认投票").click()
            await page.get_by_text("选票已投出").wait_for()
            await page.context.close()
        close_round = sh.get_by_role("button", name="结束本轮投票并计票")
        await sh.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.textContent === '结束本轮投票并计票' && !b.disabled)",
            timeout=30_000,
        )
        await close_round.click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认结束本轮投票并计票").click()
        await sh.get_by_text("评标委员会组长：第 1 席 · 上海（主场）").wait_for(timeout=30_000)
        await sh.locator("#events li", has_text="组长当选：第 1 席（过半数）").wait_for()
        start = sh.get_by_role("button", name="开始评审")
        await sh.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.textContent === '开始评审' && !b.disabled)"
        )
        # An expert waiting at the workstation sees the sheet appear when evaluation starts.
        waiting = await as_expert(experts[0][1])
        await waiting.get_by_text("已签到").wait_for()
        await start.click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认开始评审").click()
        await waiting.get_by_role("heading", name="我的评审表 — 资格审查").wait_for()
        await waiting.context.close()
        await sh.locator("#s-state", has_text="评审中 · 资格审查").wait_for()

        async def every_expert_submits(stage: str, fill: bool) -> None:
            for i, (_, tok) in enumerate(experts):
                page = await as_expert(tok)
                await page.get_by_role("heading", name=f"我的评审表 — {stage}").wait_for()
                if fill:
                    for bid in ("B1", "B2"):
                        await page.get_by_label(f"{bid} 技术方案", exact=True).fill("50")
                elif i == 0:
                    await check_screen(page, "expert-qualification")
                await submit_and_confirm(page)
                await page.get_by_text("评审表已保存（第 1 版）").wait_for()
                await page.context.close()

        await every_expert_submits("资格审查", fill=False)
        await sh.get_by_role("button", name="锁定资格审查").click(timeout=30_000)
        await sh.get_by_role("dialog").get_by_role("button", name="确认锁定资格审查").click()
        await every_expert_submits("详细评审（评分）", fill=True)
        await sh.get_by_role("button", name="锁定评分").click(timeout=30_000)
        await sh.get_by_role("dialog").get_by_role("button", name="确认锁定评分").click()
        await sh.get_by_role("button", name="生成评标报告").click(timeout=30_000)
        await sh.get_by_role("dialog").get_by_role("button", name="确认生成评标报告").click()
        await sh.get_by_role("button", name="封存").wait_for(timeout=30_000)
        for _, tok in experts:
            page = await as_expert(tok)
            await page.get_by_role("button", name="签署评标报告").click(timeout=30_000)
            await page.get_by_role("dialog").get_by_role("button", name="确认签署").click()
            await page.get_by_text("您已签署本报告。").wait_for()
            await page.context.close()
        await sh.wait_for_function(
            "() => [...document.querySelectorAll('button')].some("
            "b => b.textContent === '封存' && !b.disabled)"
        )
        await sh.get_by_role("button", name="封存").click()
        await sh.get_by_role("dialog").get_by_role("button", name="确认封存").click()
        await sh.locator("#s-state", has_text="已封存").wait_for()
        # After the seal everyone may read the report, the operator too: the PDF downloads.
        async with sh.expect_download() as downloaded:
            await sh.get_by_role("button", name="下载评标报告 PDF").click()
        pdf = await (await downloaded.value).path()
        assert Path(pdf).read_bytes().startswith(b"%PDF-")

    doc = await rest(base, primary_token, "GET", f"/api/sessions/{created['id']}")
    assert doc["state"] == "sealed" and sorted(doc["signed"]) == [0, 1, 2, 3, 4]
    console.assert_clean()


def issue_expert_token(tmp_path: Path, expert_id: str, venue: str) -> str:
    """A token for an invited expert, issued as a venue does (``evalsvc tokens issue``)."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalsvc",
            "tokens",
            "issue",
            "--role",
            "expert",
            "--venue",
            venue,
            "--subject",
            expert_id,
            "--name",
            f"专家 {expert_id}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "secret")},
    )
    return run.stdout.strip()
