"""The evaluation's stages (pure): compliance with reasons, split technical and
commercial scoring, 暗标 codes, re-review of any locked stage (docs/scoring.md "Stages")."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from conftest import session_doc

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import InvalidInput
from evalsvc.sessions import machine as m
from evalsvc.sessions.model import (
    ScoringRules,
    Session,
    Stage,
    State,
    new_session,
    session_from_doc,
    session_to_doc,
    stage_plan,
)
from evalsvc.sessions.scoring import aggregate, aggregation_to_doc, parse_sheet

BIDS = ("B1", "B2", "B3")
PLEDGE = "b" * 64
CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
]


def draft(**extra: Any) -> Session:
    return new_session(session_doc(seats=(3, 2), **extra), session_id="s-1", now=1,
                       defaults=ScoringRules())


def run(s: Session, *commands: m.Command) -> tuple[Session, list[m.Event]]:
    events: list[m.Event] = []
    for c in commands:
        s, ev = m.apply(s, c, 1)
        events += ev
    return s, events


def evaluating(**extra: Any) -> tuple[Session, list[m.Event]]:
    s = draft(**extra)
    n = len(s.seats)
    s, _ = run(s, m.OpenDraw(),
               *[m.AssignSeat(i, f"e{i}", f"专家{i}", source="draw:1") for i in range(n)],
               m.CompleteDraw(), m.StartCheckIn(), *[m.CheckIn(i) for i in range(n)],
               *[m.AcceptPledge(i, "2026.1", PLEDGE) for i in range(n)],
               *[m.DeclareInterests(i, BIDS, {}) for i in range(n)], m.OpenElection())
    import hmac

    assert s.election is not None
    votes = []
    for seat in range(n):
        salt = bytes([seat + 1]) * 32
        body = m.ballot_bytes(s.id, 1, seat, 0)
        votes.append(m.CastVote(seat, 0, salt.hex(), hmac.digest(salt, body, "sha256").hex()))
    s, _ = run(s, *votes, m.CloseRound())
    return run(s, m.StartEvaluation("cd" * 32))


def review(s: Session, stage: Stage, fails: dict[str, int], *,
           reason: str = "投标有效期不足90天") -> tuple[Any, ...]:
    """Sheets of a pass/fail stage: bid ``b`` failed by the first ``fails[b]`` seats."""
    crit = "Q1" if stage is Stage.QUALIFICATION else "K1"
    return tuple(parse_sheet(s, seat=i, doc={
        "stage": stage.value,
        "bids": {b.id: {crit: i >= fails.get(b.id, 0)} for b in _under(s, stage)},
        "reasons": {b: {crit: reason} for b, k in fails.items() if i < k}})
        for i in range(len(s.seats)))


def _under(s: Session, stage: Stage) -> Any:
    from evalsvc.sessions.scoring import under_review

    return under_review(s, stage)


def scores(s: Session, stage: Stage, points: dict[str, str]) -> tuple[Any, ...]:
    return tuple(parse_sheet(s, seat=i, doc={
        "stage": stage.value, "bids": {b.id: dict(points) for b in s.qualified_bids}})
        for i in range(len(s.seats)))


# --- compliance (符合性审查) with reasons --------------------------------------------------


def test_a_session_with_compliance_criteria_has_the_compliance_stage() -> None:
    assert stage_plan(draft()) == (Stage.QUALIFICATION, Stage.SCORING)
    assert stage_plan(draft(criteria=CRITERIA)) == (
        Stage.QUALIFICATION, Stage.COMPLIANCE, Stage.SCORING)
    assert stage_plan(draft(criteria=CRITERIA, stages="split")) == (
        Stage.QUALIFICATION, Stage.COMPLIANCE, Stage.TECHNICAL, Stage.COMMERCIAL)


def test_a_fail_without_its_reason_is_refused_naming_the_field() -> None:
    s, _ = evaluating(criteria=CRITERIA)
    with pytest.raises(InvalidInput) as exc:
        parse_sheet(s, seat=0, doc={"stage": "qualification",
                                    "bids": {"B1": {"Q1": True}, "B2": {"Q1": False},
                                             "B3": {"Q1": True}},
                                    "reasons": {"B2": {"Q1": "  "}}})
    assert exc.value.field == "reasons/B2/Q1"
    with pytest.raises(InvalidInput) as exc:
        parse_sheet(s, seat=0, doc={"stage": "qualification",
                                    "bids": {b: {"Q1": True} for b in BIDS},
                                    "reasons": {"B1": {"Q1": "多余"}}})
    assert exc.value.field == "reasons/B1/Q1"


def test_a_bid_failed_at_compliance_is_out_of_scoring_with_its_reasons() -> None:
    s, _ = evaluating(criteria=CRITERIA)
    s, ev = run(s, m.LockQualification(review(s, Stage.QUALIFICATION, {"B1": 1},
                                                reason="营业执照过期")))
    assert s.stage is Stage.COMPLIANCE and s.qualified == BIDS  # 1 of 5: not a majority
    assert [e.payload["failed"] for e in ev if e.type == "stage.locked"] == [[]]
    s, ev = run(s, m.LockCompliance(review(s, Stage.COMPLIANCE, {"B2": 3})))
    locked = next(e.payload for e in ev if e.type == "stage.locked")
    assert locked == {"stage": "compliance", "qualified": ["B1", "B3"], "failed": ["B2"],
                      "rejected": [{"bid_id": "B2", "reasons": [
                          {"criterion_id": "K1", "reason": "投标有效期不足90天"}]}]}
    assert s.stage is Stage.SCORING and [b.id for b in s.qualified_bids] == ["B1", "B3"]
    # The rejected bid is no longer under review: a sheet naming it is refused.
    with pytest.raises(InvalidInput) as exc:
        parse_sheet(s, seat=0, doc={"stage": "scoring", "bids": {
            b: {"T1": "30", "C1": "5"} for b in BIDS}})
    assert exc.value.field == "bids/B2"
    # The rejection survives the store (session document).
    assert session_from_doc(session_to_doc(s)).rejections == s.rejections


# --- split technical and commercial stages --------------------------------------------------


def test_split_stages_give_the_combined_result() -> None:
    combined, _ = evaluating()
    split, _ = evaluating(stages="split")
    q = review(combined, Stage.QUALIFICATION, {})
    combined, _ = run(combined, m.LockQualification(q))
    combined, ev = run(combined, m.LockScoring(scores(combined, Stage.SCORING,
                                                       {"T1": "30", "C1": "5"})))
    want = next(e.payload["result"] for e in ev if e.type == "stage.locked")
    split, _ = run(split, m.LockQualification(review(split, Stage.QUALIFICATION, {})))
    tech = scores(split, Stage.TECHNICAL, {"T1": "30"})
    with pytest.raises(InvalidInput, match="unknown criterion"):
        parse_sheet(split, seat=0, doc={"stage": "technical", "bids": {
            b: {"T1": "30", "C1": "5"} for b in BIDS}})
    split, ev = run(split, m.LockTechnical(tech))
    assert (split.state, split.stage) == (State.EVALUATING, Stage.COMMERCIAL)
    assert [e.payload for e in ev if e.type == "stage.locked"] == [{"stage": "technical"}]
    comm = scores(split, Stage.COMMERCIAL, {"C1": "5"})
    split, ev = run(split, m.LockCommercial((*tech, *comm)))
    assert split.state is State.AGGREGATING
    got = next(e.payload for e in ev if e.type == "stage.locked")
    assert got["stage"] == "commercial" and got["result"] == want
    assert aggregation_to_doc(aggregate(split, (*tech, *comm))) == want


def test_the_commercial_lock_needs_every_technical_sheet() -> None:
    s, _ = evaluating(stages="split")
    s, _ = run(s, m.LockQualification(review(s, Stage.QUALIFICATION, {})))
    tech = scores(s, Stage.TECHNICAL, {"T1": "30"})
    s, _ = run(s, m.LockTechnical(tech))
    comm = scores(s, Stage.COMMERCIAL, {"C1": "5"})
    with pytest.raises(Exception, match="cannot lock technical: no sheet yet"):
        m.apply(s, m.LockCommercial(comm), 1)


def test_split_needs_weighted_scoring_and_anonymous_needs_split() -> None:
    with pytest.raises(InvalidInput) as exc:
        draft(stages="split", method="lowest_evaluated_price",
              criteria=[{"id": "Q1", "name": "资质", "category": "qualification"}])
    assert exc.value.field == "stages"
    with pytest.raises(InvalidInput) as exc:
        draft(anonymous=True)
    assert exc.value.field == "anonymous"


# --- 暗标 -------------------------------------------------------------------------------------


def test_anonymous_codes_are_committed_at_the_start_and_opened_at_the_technical_lock() -> None:
    s, ev = evaluating(stages="split", anonymous=True)
    committed = next(e.payload for e in ev if e.type == "codes.committed")
    s, _ = run(s, m.LockQualification(review(s, Stage.QUALIFICATION, {})))
    s, ev = run(s, m.LockTechnical(scores(s, Stage.TECHNICAL, {"T1": "30"})))
    opened = next(e.payload for e in ev if e.type == "codes.opened")
    # Anyone holding the log checks the opening against the commitment, and the codes.
    assert committed["commitment"] == hashlib.sha256(canonical_bytes(
        {"session": "s-1", "salt": opened["salt"], "what": "bid-codes"})).hexdigest()
    codes = m.bid_codes("s-1", opened["salt"], list(BIDS))
    assert opened["codes"] == {c: b for b, c in codes.items()}
    assert sorted(codes.values()) == ["A01", "A02", "A03"]
    with pytest.raises(InvalidInput) as exc:
        e, _ = evaluating(stages="split", anonymous=True)
        m.apply(replace_started(e), m.StartEvaluation(None), 1)
    assert exc.value.field == "code_salt"


def replace_started(s: Session) -> Session:
    from dataclasses import replace

    return replace(s, state=State.CHECKING_IN, stage=None, code_salt=None)


# --- re-review of any locked stage ------------------------------------------------------------


def test_a_rereview_of_compliance_relocks_it_and_every_later_stage() -> None:
    s, _ = evaluating(criteria=CRITERIA, stages="split")
    s, _ = run(s, m.LockQualification(review(s, Stage.QUALIFICATION, {})))
    s, _ = run(s, m.LockCompliance(review(s, Stage.COMPLIANCE, {"B2": 3})))
    tech = scores(s, Stage.TECHNICAL, {"T1": "30"})
    s, _ = run(s, m.LockTechnical(tech))
    comm = scores(s, Stage.COMMERCIAL, {"C1": "5"})
    s, _ = run(s, m.LockCommercial((*tech, *comm)))
    assert s.state is State.AGGREGATING
    s, ev = run(s, m.RequestReReview(Stage.COMPLIANCE, (0, 1), "B2的有效期判断有误"),
                m.DecideReReview(True, "同意"))
    assert (s.state, s.stage) == (State.EVALUATING, Stage.COMPLIANCE)
    # Seats 0 and 1 change their verdict: B2 passes now, so every member scores again.
    fixed = review(s, Stage.COMPLIANCE, {"B2": 1})
    s, ev = run(s, m.LockCompliance(fixed))
    locked = next(e.payload for e in ev if e.type == "stage.locked")
    assert locked["failed"] == [] and locked["rereview_widened"] == [0, 1, 2, 3, 4]
    assert s.rejections == () and s.stage is Stage.TECHNICAL and s.rereview is not None
    tech = scores(s, Stage.TECHNICAL, {"T1": "30"})
    s, _ = run(s, m.LockTechnical(tech))
    comm = scores(s, Stage.COMMERCIAL, {"C1": "5"})
    s, ev = run(s, m.LockCommercial((*tech, *comm)))
    done = next(e.payload for e in ev if e.type == "stage.locked")
    assert done["rereview"]["round"] == 1 and s.rereview is None
    assert [r["bid_id"] for r in done["result"]["ranking"]] == ["B2", "B1", "B3"]
