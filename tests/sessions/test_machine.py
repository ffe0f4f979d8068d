"""The lifecycle state machine (pure): every path and every refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import session_doc

from evalsvc.errors import Conflict, InvalidInput, InvalidTransition
from evalsvc.sessions import machine as m
from evalsvc.sessions.model import ScoringRules, Session, Stage, State, new_session
from evalsvc.sessions.scoring import parse_sheet


def draft(seats: tuple[int, ...] = (3, 2)) -> Session:
    return new_session(session_doc(seats=seats), session_id="s-1", now=1, defaults=ScoringRules())


def run(s: Session, *commands: m.Command) -> tuple[Session, list[m.Event]]:
    events: list[m.Event] = []
    for c in commands:
        s, ev = m.apply(s, c, 1)
        events += ev
    return s, events


def seated(s: Session) -> Session:
    s, _ = run(
        s, m.OpenDraw(), *[m.AssignSeat(i, f"e{i}", f"专家{i}", source="draw:1")
                         for i in range(len(s.seats))]
    )
    return s


PLEDGE = "a" * 64


def committee_steps(s: Session, *, leader: int = 0) -> list[m.Command]:
    """Every seat pledges and declares no conflict; one round elects ``leader``."""
    bids = tuple(b.id for b in s.bids)
    n = len(s.seats)
    return [
        *[m.AcceptPledge(i, "2026.1", PLEDGE) for i in range(n)],
        *[m.DeclareInterests(i, bids, {}) for i in range(n)],
        m.OpenElection(),
        *[m.CastVote(i, leader, "00", f"c{i}") for i in range(n)],
        m.CloseRound(),
    ]


def evaluating(s: Session) -> Session:
    s, _ = run(
        seated(s),
        m.CompleteDraw(),
        m.StartCheckIn(),
        *[m.CheckIn(i) for i in range(len(s.seats))],
        *committee_steps(s),
        m.StartEvaluation(),
    )
    return s


def test_happy_path_states_in_order() -> None:
    s = evaluating(draft())
    assert (s.state, s.stage) == (State.EVALUATING, Stage.QUALIFICATION)
    q = tuple(
        parse_sheet(
            s,
            seat=i,
            doc={"stage": "qualification", "bids": {b: {"Q1": True} for b in ("B1", "B2", "B3")}},
        )
        for i in range(5)
    )
    s, ev = run(s, m.LockQualification(q))
    assert s.stage is Stage.SCORING and s.qualified == ("B1", "B2", "B3")
    sc = tuple(
        parse_sheet(
            s,
            seat=i,
            doc={
                "stage": "scoring",
                "bids": {b: {"T1": "30", "C1": "5"} for b in ("B1", "B2", "B3")},
            },
        )
        for i in range(5)
    )
    s, ev = run(
        s,
        m.LockScoring(sc),
        m.StartReport(),
        m.RecordDissent(2, "保留意见"),
        *[m.SignReport(i) for i in range(5)],
        m.Seal(),
    )
    assert s.state is State.SEALED
    assert s.dissents == ((2, "保留意见"),)
    assert ev[-1] == m.Event("session.state_changed", {"from": "reporting", "to": "sealed"})


@pytest.mark.parametrize(
    ("command", "state"),
    [
        (m.LockScoring(()), "draft"),
        (m.CompleteDraw(), "draft"),
        (m.Resume(), "draft"),
        (m.Seal(), "draft"),
        (m.CheckIn(0), "draft"),
        (m.Pause("x"), "draft"),
    ],
)
def test_invalid_command_names_state_and_command(command: m.Command, state: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        m.apply(draft(), command, 1)
    assert info.value.state == state
    assert info.value.command == m.command_name(command)
    assert str(info.value) == f"cannot {m.command_name(command)}: session is {state}"


def test_pause_resumes_to_the_exact_state_and_stage() -> None:
    s = evaluating(draft())
    paused, ev = run(s, m.Pause("合肥副场断网"))
    assert paused.state is State.PAUSED and paused.paused is not None
    assert ev[0].payload == {
        "from": "evaluating/qualification",
        "to": "paused",
        "reason": "合肥副场断网",
    }
    with pytest.raises(InvalidTransition):
        m.apply(paused, m.Pause("again"), 1)
    back, _ = run(paused, m.Resume())
    assert back == s


def test_abort_from_any_open_state_but_not_after_seal() -> None:
    aborted, _ = run(draft(), m.Abort("招标人撤回"))
    assert aborted.state is State.ABORTED and aborted.abort_reason == "招标人撤回"
    with pytest.raises(InvalidTransition):
        m.apply(aborted, m.Abort("again"), 1)
    with pytest.raises(InvalidInput):
        m.apply(draft(), m.Abort("  "), 1)


def test_preconditions_are_conflicts_with_reasons() -> None:
    s = replace(draft(), bids=())
    with pytest.raises(Conflict, match="no bids"):
        m.apply(s, m.OpenDraw(), 1)
    s = seated(draft())
    s = replace(s, seats=tuple(replace(x, expert_id=None) if x.index == 3 else x for x in s.seats))
    with pytest.raises(Conflict, match="seat\\(s\\) 3 empty"):
        m.apply(s, m.CompleteDraw(), 1)
    s, _ = run(seated(draft()), m.CompleteDraw(), m.StartCheckIn(), m.CheckIn(0))
    with pytest.raises(Conflict, match="already checked in"):
        m.apply(s, m.CheckIn(0), 1)
    with pytest.raises(Conflict, match="not checked in"):
        m.apply(s, m.StartEvaluation(), 1)
    with pytest.raises(Conflict, match="no sheet yet"):
        m.apply(evaluating(draft()), m.LockQualification(()), 1)


def test_one_expert_holds_one_seat() -> None:
    s, _ = run(draft(), m.OpenDraw(), m.AssignSeat(0, "e1", "甲"))
    with pytest.raises(Conflict, match="already holds seat 0"):
        m.apply(s, m.AssignSeat(1, "e1", "甲"), 1)


def test_qualification_needs_a_strict_majority() -> None:
    # An even committee cannot form (below); the majority rule is still checked on one,
    # as if a seat were vacant, by building the evaluating session directly.
    s = replace(draft(seats=(4,)), state=State.EVALUATING, stage=Stage.QUALIFICATION)
    s = replace(s, seats=tuple(replace(x, expert_id=f"e{x.index}", expert_name="x",
                                       source="draw:1", checked_in=True) for x in s.seats))
    q = tuple(
        parse_sheet(
            s,
            seat=i,
            doc={
                "stage": "qualification",
                "bids": {"B1": {"Q1": True}, "B2": {"Q1": i < 2}, "B3": {"Q1": i < 3}},
                "reasons": {k: {"Q1": "资质证书过期"} for k, n in (("B2", 2), ("B3", 3))
                            if i >= n},
            },
        )
        for i in range(4)
    )
    s, ev = run(s, m.LockQualification(q))
    assert s.qualified == ("B1", "B3")  # B2: 2 of 4 is not a majority
    assert ev[0].payload["failed"] == ["B2"]


def test_a_sheet_signature_is_shown_only_to_its_signer_and_supervisors() -> None:
    from evalsvc.auth import Principal
    from evalsvc.sessions.access import redact_event

    s = evaluating(draft())
    event = {"type": "sheet.submitted", "actor": "expert:e0", "seq": 9, "payload": {
        "seat": 0, "stage": "qualification", "version": 1, "sha256": "ab",
        "signature": {"certificate_sha256": "cd", "value": "ef"}}}
    signer = Principal("expert", "e0", "e0", s.seats[0].venue_id)
    other = Principal("expert", "e1", "e1", s.seats[1].venue_id)
    sup = Principal("supervisor", "sup", "sup")
    op = Principal("operator", "op", "op", s.seats[0].venue_id)
    assert "signature" in redact_event(s, signer, event)["payload"]
    assert "signature" in redact_event(s, sup, event)["payload"]
    for viewer in (other, op):
        seen = redact_event(s, viewer, event)["payload"]
        assert "signature" not in seen and seen["signed"] is True


def test_a_dissent_clears_the_signatures_given_to_the_report_without_it() -> None:
    s = replace(evaluating(draft()), state=State.REPORTING, stage=None)
    s, ev = run(s, m.SignReport(0, "a" * 64), m.SignReport(1, "a" * 64))
    assert s.signed == (0, 1)
    assert ev[0].payload == {"seat": 0, "report_sha256": "a" * 64}
    s, ev = run(s, m.RecordDissent(2, "对评分有保留意见"))
    assert s.signed == () and s.dissents == ((2, "对评分有保留意见"),)
    assert [e.type for e in ev] == ["dissent.recorded", "report.signatures_cleared"]
    assert ev[1].payload == {"seats": [0, 1], "reason": "dissent", "by_seat": 2}
    with pytest.raises(Conflict, match="cannot seal"):
        m.apply(s, m.Seal(), 1)
    # Nothing signed yet: a dissent clears nothing.
    _, ev = run(s, m.RecordDissent(3, "另一保留意见"))
    assert [e.type for e in ev] == ["dissent.recorded"]


def test_a_committee_is_odd_and_at_least_five() -> None:
    for seats in ((4,), (3,), (2, 2, 2)):
        with pytest.raises(Conflict, match="odd number, at least 5"):
            m.apply(draft(seats=seats), m.OpenDraw(), 1)


def test_hand_picked_seats_do_not_form_a_committee() -> None:
    s, _ = run(draft(), m.OpenDraw(),
               *[m.AssignSeat(i, f"e{i}", f"专家{i}") for i in range(5)])
    with pytest.raises(Conflict, match="no drawn or supervisor-approved designated"):
        m.apply(s, m.CompleteDraw(), 1)
    s2, ev = run(s, m.DesignateExperts("特殊项目: 招标人指定"))
    assert ev[0].type == "designation.requested" and ev[0].payload["seats"] == [0, 1, 2, 3, 4]
    with pytest.raises(Conflict, match="no drawn or supervisor-approved designated"):
        m.apply(s2, m.CompleteDraw(), 1)  # requested, not yet approved
    rejected, ev = run(s2, m.DecideDesignation(False, "理由不足"))
    assert ev[0].type == "designation.rejected"
    assert all(x.expert_id is None for x in rejected.seats)
    approved, ev = run(s2, m.DecideDesignation(True, "符合第10条"))
    assert ev[0].type == "designation.approved"
    done, _ = m.apply(approved, m.CompleteDraw(), 1)
    assert done.state.value == "ready"
    with pytest.raises(InvalidInput, match="written reason"):
        m.apply(s, m.DesignateExperts(" "), 1)


def test_the_sheet_event_shortcut_of_redact_event_equals_the_whole_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redact_event answers sheet.submitted for the common roles without the whole walk
    of rules (the live stream is mostly these): for every viewer, actor, stage of the
    session and with or without a signature, it must give what the walk gives."""
    from evalsvc.auth import Principal
    from evalsvc.sessions import access

    base = evaluating(draft())
    sessions = [base, replace(base, state=State.CHECKING_IN, stage=None),
                replace(base, state=State.SEALED, stage=None)]
    venues = sorted({x.venue_id for x in base.seats})
    viewers = [Principal("supervisor", "sup", "sup")]
    viewers += [Principal("operator", f"op-{v}", "op", v) for v in venues]
    viewers += [Principal("expert", x.expert_id or "", "x", x.venue_id) for x in base.seats]
    viewers += [Principal("expert", "stranger", "x", venues[0])]
    events = []
    for x in base.seats:
        for signed in (False, True):
            payload: dict[str, object] = {"seat": x.index, "stage": "scoring", "version": 1,
                                          "commitment": "ab" * 32}
            if signed:
                payload["signature"] = {"certificate_sha256": "cd", "value": "ef"}
            events.append({"type": "sheet.submitted", "actor": f"expert:{x.expert_id}",
                           "venue": x.venue_id, "seq": 9, "time_ms": 1, "payload": payload})
    shortcut = [access.redact_event(s, p, e) for s in sessions for p in viewers for e in events]
    monkeypatch.setattr(access, "_SHEET_FAST_ROLES", frozenset())
    walk = [access.redact_event(s, p, e) for s in sessions for p in viewers for e in events]
    assert shortcut == walk
    assert any(r["actor"] == "expert" for r in walk)  # some viewers do not see who
    assert any(r["actor"] != "expert" for r in walk)


def test_a_deemed_agreement_clears_the_signatures_given_to_the_report_without_it() -> None:
    """The committee's note on a member deemed to agree is part of the report (Art. 43):
    signatures given before it are over other bytes and must be given again, as after a
    dissent (the offline signatures check counts them against the final report)."""
    s = replace(evaluating(draft()), state=State.REPORTING, stage=None, sign_deadline=100)
    s, _ = run(s, m.SignReport(0, "a" * 64), m.SignReport(1, "a" * 64))
    s, _ = m.apply(s, m.RecordRefusal(2, "第3席未签字亦未陈述不同意见"), 200)
    s, ev = m.apply(s, m.ConfirmDeemedAgreement(2), 200)
    assert [e.type for e in ev] == ["report.deemed_agreed", "report.signatures_cleared"]
    assert ev[1].payload == {"seats": [0, 1], "reason": "deemed_agreement", "by_seat": 2}
    assert s.signed == () and s.deemed == (2,)
