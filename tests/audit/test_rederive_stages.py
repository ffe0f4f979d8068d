"""The offline re-derivation of a multi-stage evaluation (evalsvc.audit.rederive):
compliance rejections with their reasons, split technical and commercial scoring, and
the 暗标 codes' commitment — re-derived from the log and the opened sheets."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from conftest import session_doc

from evalsvc.audit.rederive import Disclosed, LoggedEvent, _check_result
from evalsvc.sessions import machine as m
from evalsvc.sessions.model import (
    ScoringRules,
    Session,
    Sheet,
    Stage,
    State,
    new_session,
    session_to_doc,
)
from evalsvc.sessions.scoring import parse_sheet, sheet_to_doc

CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
]


def _evaluated() -> tuple[list[LoggedEvent], Disclosed]:
    """A split 暗标 session with a compliance stage, run by the machine to the result:
    its log and the sheets opened at each lock."""
    draft = new_session(session_doc(seats=(3, 2), criteria=CRITERIA, stages="split",
                                    anonymous=True),
                        session_id="s-1", now=1, defaults=ScoringRules())
    events: list[m.Event] = []
    opened: list[dict[str, Any]] = []

    def run(s: Session, *cs: m.Command) -> Session:
        for c in cs:
            s, ev = m.apply(s, c, 1)
            events.extend(ev)
        return s

    s = run(draft, m.CreateSession(draft))
    # (The steps before the evaluation are the rules' own tests: start from evaluating.)
    s = replace(s, state=State.EVALUATING, stage=Stage.QUALIFICATION,
                seats=tuple(replace(x, expert_id=f"e{x.index}", expert_name="x",
                                    checked_in=True) for x in s.seats))
    s = replace(s, code_salt="ab" * 32)
    events.append(m.Event("codes.committed", {
        "commitment": m.codes_commitment("s-1", "ab" * 32), "bids": 3}))

    def sheets(stage: str, bids: dict[str, Any], reasons: Any = None) -> tuple[Sheet, ...]:
        out = []
        for i in range(len(s.seats)):
            doc = {"stage": stage, "bids": bids}
            if reasons and i < 3:
                doc = {"stage": stage, "bids": {**bids, **reasons[0]}, "reasons": reasons[1]}
            sheet = parse_sheet(s, seat=i, doc=doc)
            out.append(sheet)
            opened.append({"stage": stage, "seat": i, "version": 1,
                           "sheet": sheet_to_doc(sheet)})
        return tuple(out)

    s = run(s, m.LockQualification(sheets("qualification", {
        b: {"Q1": True} for b in ("B1", "B2", "B3")})))
    s = run(s, m.LockCompliance(sheets(
        "compliance", {b: {"K1": True} for b in ("B1", "B2", "B3")},
        ({"B2": {"K1": False}}, {"B2": {"K1": "投标有效期不足90天"}}))))
    tech = sheets("technical", {b: {"T1": "40"} for b in ("B1", "B3")})
    s = run(s, m.LockTechnical(tech))
    comm = sheets("commercial", {b: {"C1": "8"} for b in ("B1", "B3")})
    s = run(s, m.LockCommercial((*tech, *comm)))
    log = [LoggedEvent(i + 1, e.type, e.payload, 0) for i, e in enumerate(events)]
    return log, Disclosed(session=session_to_doc(s), sheets=opened)


def test_a_multi_stage_result_is_re_derived() -> None:
    log, d = _evaluated()
    check = _check_result(log, d)
    assert check.ok, check.detail
    assert "compliance: 2 of 3 bids pass" in check.detail
    assert "暗标: 3 bid codes open their commitment" in check.detail


def test_a_changed_rejection_reason_fails() -> None:
    log, d = _evaluated()
    sheets = copy.deepcopy(list(d.sheets or ()))
    for o in sheets:
        if o["stage"] == "compliance" and "reasons" in o["sheet"]:
            o["sheet"]["reasons"]["B2"]["K1"] = "另一理由"
    with pytest.raises(Exception, match="compliance 否决投标及理由复算与日志不符"):
        _check_result(log, replace(d, sheets=sheets))


def test_a_changed_technical_score_fails() -> None:
    log, d = _evaluated()
    sheets = copy.deepcopy(list(d.sheets or ()))
    sheets[-8]["sheet"]["bids"]["B1"]["T1"] = "50"  # a technical sheet
    assert sheets[-8]["stage"] == "technical"
    with pytest.raises(Exception, match="汇总、排名与候选人复算结果与日志记录不符"):
        _check_result(log, replace(d, sheets=sheets))


def test_opened_codes_that_do_not_open_the_commitment_fail() -> None:
    log, d = _evaluated()
    forged = [replace(e, payload={**e.payload, "salt": "cd" * 32})
              if e.action == "codes.opened" else e for e in log]
    with pytest.raises(Exception, match="暗标编号的盐值与开始评审时的承诺不符"):
        _check_result(forged, d)
