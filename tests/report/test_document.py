"""The canonical report and its rendering, as pure functions (no database, no loop)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from conftest import scoring_sheet, session_doc

from evalsvc.config import ReportSettings, load_settings
from evalsvc.errors import ConfigError
from evalsvc.report import document
from evalsvc.report.document import SECTIONS, report_document, report_sha256
from evalsvc.report.render import (
    CheckpointRef,
    Member,
    Para,
    ReportView,
    Table,
    html_report,
    report_blocks,
)
from evalsvc.sessions.model import ScoringRules, Session, Stage, State, new_session
from evalsvc.sessions.scoring import aggregate, parse_sheet


def _session(**changes: Any) -> Session:
    s = new_session(session_doc(), session_id="s-report", now=1_780_000_000,
                    defaults=ScoringRules())
    return replace(s, **{"state": State.REPORTING, "qualified": ("B1", "B2", "B3"), **changes})


def _sheets(s: Session, sheet: Any) -> list[Any]:
    scoring = replace(s, state=State.EVALUATING, stage=Stage.SCORING)
    return [parse_sheet(scoring, seat=x.index, doc=sheet) for x in s.seats]


def _doc(s: Session, **kw: Any) -> dict[str, Any]:
    bids = tuple(s.qualified or ())
    return report_document(s, aggregate(s, _sheets(s, scoring_sheet(bids=bids))), **kw)


def _view(doc: dict[str, Any], *, sealed: bool = True) -> ReportView:
    members = tuple(Member(i, "上海中心", f"专家{i}" if sealed else None, True, "已签署")
                    for i in range(doc["committee"]["size"]))
    cp = CheckpointRef("evalsvc.local/s-report", 42, "AAAA")
    return ReportView(doc, report_sha256(doc), sealed, members, cp)


def _section_text(blocks: list[Any], heading: str) -> list[Any]:
    titles = [t for _, t in SECTIONS]
    start = next(i for i, b in enumerate(blocks) if getattr(b, "text", None) == heading)
    end = next((i for i, b in enumerate(blocks[start + 1:], start + 1)
                if getattr(b, "text", None) in titles), len(blocks))
    return blocks[start + 1:end]


def test_every_article_42_section_is_rendered_and_empty_ones_say_none() -> None:
    doc = _doc(_session())
    for key, _ in SECTIONS:
        assert key in doc, key
    blocks = report_blocks(_view(doc))
    clar = _section_text(blocks, dict(SECTIONS)["clarifications"])
    assert clar == [Para("无")]
    dissent = _section_text(blocks, dict(SECTIONS)["dissents"])
    assert Para("不同意见: 无") in dissent
    assert Para("视为同意（拒绝签字且未说明理由）: 无") in dissent
    assert Para("评标委员会负责人: 无") in _section_text(blocks, dict(SECTIONS)["committee"])


def test_sections_fill_in_when_the_session_records_their_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The committee's steps the session records (the leader, pledges and declarations,
    recusals, deemed agreements, re-reviews) fill their sections; what no command records
    yet (clarifications, rejection reasons) is read from the document by one function
    each."""
    from evalsvc.sessions.model import ReReview

    real = document.session_to_doc

    def richer(s: Session) -> dict[str, Any]:
        return {
            **real(s),
            "clarifications": [{"bid_id": "B3", "bidder": "丙公司", "question": "工期能否保证？",
                                "answer": "保证 180 日内完工", "attachment_sha256": "cd" * 32}],
            "rejection_reasons": {"B3": ["营业执照已过期"]},
        }

    monkeypatch.setattr(document, "session_to_doc", richer)
    base = _session(qualified=("B1", "B2"))
    seats = tuple(replace(x, pledged="ab" * 32, declared=True) for x in base.seats)
    s = replace(
        base, seats=seats, leader=2, recusals=((4, "E-X", ("B2",)),),
        refusals=((6, "拒绝签字且未说明理由"),), deemed=(6,),
        rereviews=(ReReview(Stage.SCORING, (1, 3), "客观分评分不一致", True, "同意复核"),),
    )
    doc = _doc(s)
    assert doc["committee"]["leader_seat"] == 2
    assert doc["committee"]["recusals"] == [{"seat": 4, "bids": ["B2"]}]
    assert "E-X" not in str(doc)  # who recused is not in the signed report
    assert doc["deemed_agreements"] == [{"seat": 6, "note": "拒绝签字且未说明理由"}]
    assert doc["rejected"] == [{"bid_id": "B3", "bidder": "丙公司", "reasons": ["营业执照已过期"]}]
    html = html_report(_view(doc))
    for text in ("第 3 席", "工期能否保证？", "保证 180 日内完工", "拒绝签字且未说明理由",
                 "营业执照已过期", "ab" * 8, "已声明，无利害关系", "第 5 席", "客观分评分不一致",
                 "同意复核"):
        assert text in html, text


def test_a_bid_failing_qualification_is_rejected_with_a_reason_and_not_ranked() -> None:
    doc = _doc(_session(qualified=("B1", "B2")))
    assert [b["bid_id"] for b in doc["compliant"]] == ["B1", "B2"]
    assert doc["rejected"][0]["bid_id"] == "B3"
    assert "资格审查未通过" in doc["rejected"][0]["reasons"][0]
    assert "B3" not in [r["bid_id"] for r in doc["ranking"]]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_recommended_candidates_are_the_first_n_of_the_ranking(n: int) -> None:
    doc = _doc(_session(), candidates=n)
    assert doc["candidates"] == [
        {k: r[k] for k in ("rank", "bid_id", "bidder")}
        | {"total": c["total"], "evaluated_price_fen": c["evaluated_price_fen"]}
        for r, c in zip(doc["ranking"][:n], doc["comparison"][:n], strict=True)
    ]
    assert len(doc["candidates"]) == n
    table = _section_text(report_blocks(_view(doc)), dict(SECTIONS)["candidates"])[0]
    assert isinstance(table, Table) and table.rows[0][0] == "第一中标候选人"


def test_the_candidate_count_comes_from_config_and_is_one_to_three() -> None:
    assert load_settings(overrides={"report": {"candidates": 1}}).report.candidates == 1
    for bad in (0, 4):
        with pytest.raises(ConfigError, match="1 to 3"):
            ReportSettings(candidates=bad)
    with pytest.raises(ValueError):
        _doc(_session(), candidates=4)


def test_the_signed_document_names_no_member() -> None:
    """Signed before the seal, the report carries seats and venues, never names."""
    s = _session()
    named = replace(s, seats=tuple(replace(x, expert_id=f"E{x.index}", expert_name=f"名{x.index}")
                                   for x in s.seats))
    assert report_sha256(_doc(s)) == report_sha256(_doc(named))


def test_untrusted_text_is_escaped_in_html() -> None:
    s = _session()
    s = replace(s, bids=(replace(s.bids[0], bidder="<script>alert(1)</script>"), *s.bids[1:]))
    html = html_report(_view(_doc(s)))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_price_comparison_of_lowest_evaluated_price() -> None:
    s = new_session(session_doc(method="lowest_evaluated_price"), session_id="s-lep",
                    now=1_780_000_000, defaults=ScoringRules())
    s = replace(s, state=State.REPORTING, qualified=("B1", "B2", "B3"))
    sheets = _sheets(s, {"stage": "scoring", "bids": {
        b: {"responsive": True, "adjustment_fen": 0} for b in ("B1", "B2", "B3")}})
    doc = report_document(s, aggregate(s, sheets))
    table = _section_text(report_blocks(_view(doc)), dict(SECTIONS)["comparison"])[0]
    assert isinstance(table, Table)
    assert table.header == ("投标人", "投标报价（元）", "经评审的投标价（元）")
    assert table.rows[0] == ("乙公司", "95,000.00", "95,000.00")
    assert Decimal(doc["comparison"][0]["evaluated_price_fen"]) == 9_500_000


def test_bids_rejected_at_each_review_stage_are_listed_with_stage_and_reasons() -> None:
    """暂行规定 第42条 (五) 废标情况说明: a bid failed at qualification or compliance shows
    the stage, the item and the members' reasons; the others are compliant."""
    from evalsvc.sessions.model import Rejection

    base = new_session(session_doc(criteria=[
        {"id": "Q1", "name": "资质", "category": "qualification"},
        {"id": "K1", "name": "投标有效期", "category": "compliance"},
        {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
        {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
        {"id": "P1", "name": "价格", "category": "price", "max_points": 40}]),
        session_id="s-report", now=1_780_000_000, defaults=ScoringRules())
    s = replace(base, state=State.REPORTING, qualified=("B1",), rejections=(
        Rejection("B2", Stage.QUALIFICATION, (("Q1", "营业执照已过期"),)),
        Rejection("B3", Stage.COMPLIANCE, (("K1", "投标有效期不足90天"),
                                           ("K1", "未按要求提交有效期承诺"))),
    ))
    doc = _doc(s)
    assert [b["bid_id"] for b in doc["compliant"]] == ["B1"]
    assert doc["rejected"] == [
        {"bid_id": "B2", "bidder": "乙公司", "stage": "qualification",
         "reasons": ["资格审查 · 资质：营业执照已过期"]},
        {"bid_id": "B3", "bidder": "丙公司", "stage": "compliance",
         "reasons": ["符合性审查 · 投标有效期：投标有效期不足90天",
                     "符合性审查 · 投标有效期：未按要求提交有效期承诺"]},
    ]
    html = html_report(_view(doc))
    for text in ("符合性审查（合格/不合格）", "资格审查 · 资质：营业执照已过期",
                 "符合性审查 · 投标有效期：投标有效期不足90天"):
        assert text in html, text


def test_the_average_benchmark_formula_is_stated_in_chinese_with_its_coefficients() -> None:
    doc = session_doc(rules={"price_formula": "average_benchmark", "average_benchmark": {
        "factor": "0.97", "drop_extremes": True, "deduct_above": "1", "deduct_below": "0.5",
        "floor": "10"}})
    s = new_session(doc, session_id="s-avg", now=1_780_000_000, defaults=ScoringRules())
    s = replace(s, state=State.REPORTING, qualified=("B1", "B2", "B3"))
    blocks = _section_text(report_blocks(_view(_doc(s))), dict(SECTIONS)["method"])
    text = " ".join(getattr(b, "text", "") for b in blocks)
    assert "average_benchmark" not in text  # a reader sees Chinese, not the code name
    assert ("评标基准价法（报价不少于 5 家时去掉一个最高价和一个最低价，评标基准价 = 有效投标报价"
            "算术平均值 × 0.97；报价每高于评标基准价 1% 扣 1 分，每低于 1% 扣 0.5 分") in text
    assert "最低 10 分" in text


def _faulted(report_faults: int | None = None) -> Session:
    """A session whose Suzhou link went twice: first back in time (pause, resume), then
    past the resume deadline (sealed, re-formed: seats 3 and 4 redrawn at Shanghai)."""
    from evalsvc.sessions.model import FaultStep

    t = 1_780_000_000
    log = (
        FaultStep("link_lost", t, "js-suzhou"),
        FaultStep("paused", t + 600, "js-suzhou", "link_lost_pause_minutes", "10"),
        FaultStep("link_restored", t + 900, "js-suzhou"),
        FaultStep("resumed", t + 960, "js-suzhou"),
        FaultStep("link_lost", t + 3600, "js-suzhou"),
        FaultStep("paused", t + 4200, "js-suzhou", "link_lost_pause_minutes", "10"),
        FaultStep("materials_sealed", t + 11400, "js-suzhou", "resume_deadline_minutes",
                  "120"),
        FaultStep("reformed", t + 11400, "js-suzhou", "resume_deadline_minutes", "120",
                  (3, 4), "sh-ggzy"),
    )
    base = _session()
    seats = tuple(replace(x, venue_id="sh-ggzy", source="draw:2") if x.index in (3, 4)
                  else x for x in base.seats)
    return replace(base, seats=seats, fault_log=log,
                   report_faults=len(log) if report_faults is None else report_faults)


def test_the_faults_section_lists_each_step_with_its_rule_and_beijing_time() -> None:
    from evalsvc.report.document import FAULTS_HEADING

    doc = _doc(_faulted())
    kinds = [x["kind"] for x in doc["faults"]]
    assert kinds == ["link_lost", "paused", "link_restored", "resumed", "link_lost", "paused",
                     "materials_sealed", "reformed"]
    assert doc["faults"][-1]["seats"] == [{"seat": 3, "source": "draw:2"},
                                          {"seat": 4, "source": "draw:2"}]
    section = _section_text(report_blocks(_view(doc)), FAULTS_HEADING)
    assert len(section) == 1 and isinstance(section[0], Table)
    rows = section[0].rows
    assert [r[0] for r in rows] == [str(n) for n in range(1, 9)]
    # 1_780_000_000 is 2026-05-28 20:26:40 UTC: 04:26 the next day in Beijing.
    assert rows[0][1] == "2026-05-29 04:26（北京时间）"
    assert rows[1][3] == "评标暂停（副场链路中断）" and rows[1][4] == "链路中断满 10 分钟即暂停"
    assert rows[3][3] == "链路恢复后评标继续"
    assert rows[6][4] == "暂停后 120 分钟内未恢复即封存并重新组建"
    reform = rows[7][3]
    assert "重新组建评标委员会" in reform and "第 4 席补抽（第 2 次抽取）：专家3" in reform
    # Before the seal the same rows, without a member's name.
    draft = _section_text(report_blocks(_view(doc, sealed=False)), FAULTS_HEADING)
    assert isinstance(draft[0], Table) and "专家" not in draft[0].rows[7][3]
    assert "第 4 席补抽（第 2 次抽取）" in draft[0].rows[7][3]


def test_a_report_without_faults_keeps_its_bytes_and_later_faults_wait_for_a_new_report(
) -> None:
    from evalsvc.report.document import FAULTS_HEADING

    plain = _doc(_session())
    assert "faults" not in plain
    assert _section_text(report_blocks(_view(plain)), FAULTS_HEADING) == [Para("无")]
    # Steps after the report started are not in it (the signed bytes stay as signed).
    early = _doc(_faulted(report_faults=4))
    assert [x["kind"] for x in early["faults"]] == ["link_lost", "paused", "link_restored",
                                                   "resumed"]
    assert report_sha256(early) != report_sha256(_doc(_faulted()))
