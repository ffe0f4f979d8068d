"""Per-criterion guidance (评分指引): registered with the criterion, recorded in the log,
shown to the experts (also under 暗标, where it may not name a bidder) and printed in
the report's method section."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import Harness, scoring_sheet, session_doc, uscc
from report.helpers import pdftotext

from evalsvc.canonical import canonical_bytes
from evalsvc.report.document import SECTIONS, report_document, report_sha256
from evalsvc.report.pdf import pdf_report
from evalsvc.report.render import CheckpointRef, Member, ReportView, report_blocks
from evalsvc.sessions.model import ScoringRules, Stage, State, new_session
from evalsvc.sessions.scoring import aggregate, parse_sheet

GUIDE = "方案完整、可行，与需求逐条对应的得 40–50 分；每缺一项扣 5 分"


def criteria(guidance: Any = GUIDE) -> list[dict[str, Any]]:
    return [
        {"id": "Q1", "name": "资质", "category": "qualification"},
        {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50,
         "guidance": guidance},
        {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
        {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
    ]


async def test_guidance_is_registered_logged_and_shown_to_the_experts(api: Harness) -> None:
    sid, experts = await api.to_stage("qualification", session_doc(criteria=criteria()))
    _, view = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
    by_id = {c["id"]: c for c in view["criteria"]}
    assert by_id["T1"]["guidance"] == GUIDE
    assert "guidance" not in by_id["C1"]  # none given: the document is as before
    logged = [e["payload"]["criterion"] for e in await api.events(sid)
              if e["type"] == "criterion.added"]
    assert [c.get("guidance") for c in logged] == [None, GUIDE, None, None]


async def test_bad_guidance_is_refused_by_field_in_chinese(api: Harness) -> None:
    for bad, reason in (("   ", "不能只有空白"), ("评" * 1001, "最多 1000 个字符，当前 1001 个"),
                        ("第一行\x07", "控制字符")):
        status, body = await api.call("POST", "/api/sessions", api.op(),
                                      json=session_doc(criteria=criteria(bad)))
        assert status == 422, body
        assert body["field"] == "criteria/1/guidance", body
        assert reason in body["detail"], body
    status, body = await api.call("POST", "/api/sessions", api.op(),
                                  json=session_doc(criteria=criteria(7)))
    assert status == 422 and body["field"] == "criteria/1/guidance", body
    # Several lines are fine: guidance is often a scale.
    status, body = await api.call("POST", "/api/sessions", api.op(),
                                  json=session_doc(criteria=criteria("优：45–50\n良：35–44")))
    assert status == 201, body


async def test_anonymous_guidance_may_not_name_a_bidder(api: Harness) -> None:
    named = f"参照甲公司的方案（{uscc('A1')}）"
    doc = session_doc(criteria=criteria(named), stages="split", anonymous=True)
    status, body = await api.call("POST", "/api/sessions", api.op(), json=doc)
    assert status == 422 and body["field"] == "criteria/1/guidance", body
    assert "暗标项目的评分指引不得出现投标人名称" in body["detail"] and "甲公司" in body["detail"]
    # Not 暗标: the same text is the operator's business.
    status, _ = await api.call("POST", "/api/sessions", api.op(),
                               json=session_doc(criteria=criteria(named)))
    assert status == 201
    # 暗标, added one by one: neither a criterion naming a bidder nor a bidder named by
    # an existing guidance gets in.
    sid, _ = await api.create(session_doc(criteria=criteria("参照丁公司的方案"), stages="split",
                                          anonymous=True))
    status, body = await api.call("POST", f"/api/sessions/{sid}/criteria", api.op(), json={
        "id": "T2", "name": "售后", "category": "technical", "max_points": 5,
        "guidance": "乙公司的售后最好"})
    assert status == 422 and body["field"] == "guidance", body
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json={
        "id": "B4", "bidder": "丁公司", "uscc": uscc("D4"), "price_fen": 99_000_00})
    assert status == 422 and "丁公司" in body["detail"], body
    _, view = await api.call("GET", f"/api/sessions/{sid}", api.op())
    assert [b["id"] for b in view["bids"]] == ["B1", "B2", "B3"]


def test_the_report_method_section_prints_the_guidance(tmp_path: Path) -> None:
    s = new_session(session_doc(criteria=criteria(GUIDE + "\n优：45–50")), session_id="s-g",
                    now=1_780_000_000, defaults=ScoringRules())
    s = replace(s, state=State.REPORTING, qualified=("B1", "B2", "B3"))
    scoring = replace(s, state=State.EVALUATING, stage=Stage.SCORING)
    sheets = [parse_sheet(scoring, seat=x.index, doc=scoring_sheet()) for x in s.seats]
    doc = report_document(s, aggregate(s, sheets))
    members = tuple(Member(i, "上海中心", None, True, "已签署") for i in range(len(s.seats)))
    view = ReportView(doc, report_sha256(doc), False, members,
                      CheckpointRef("evalsvc.local/s-g", 1, "AAAA"))
    blocks = report_blocks(view)
    head = dict(SECTIONS)["method"]
    start = next(i for i, b in enumerate(blocks) if getattr(b, "text", None) == head)
    table = next(b for b in blocks[start:] if hasattr(b, "rows"))
    assert table.header == ("评分项", "类别", "分值", "评分指引")
    assert ("技术方案", "技术", "50", GUIDE + "\n优：45–50") in table.rows
    assert ("商务", "商务", "10", "—") in table.rows
    # The PDF draws it, both lines (a cell with a line break is no problem).
    pdf = pdf_report(view, report_json=canonical_bytes(doc), signatures_json=b"{}",
                     created=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    text = pdftotext(pdf, tmp_path).replace(" ", "")
    assert "评分指引" in text and "优：45–50" in text and "方案完整" in text
