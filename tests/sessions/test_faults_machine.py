"""Faults by rule (pure): a secondary venue's lost link pauses the session after N
minutes; not resumed within the resume deadline, the materials are sealed and the
committee re-formed without the absent venue; past the hard limit, suspended."""

from __future__ import annotations

import pytest
from test_rules_machine import evaluating, locked, reporting, run

from evalsvc.errors import Conflict, InvalidInput, InvalidTransition
from evalsvc.sessions import machine as m
from evalsvc.sessions.model import FaultRules, Stage, State, session_from_doc, session_to_doc

# 1, 2 and 4 minutes, as configured (in seconds for the machine).
RULES = FaultRules(60, 120, 240, (("link_lost_pause_minutes", "1"),
                                  ("resume_deadline_minutes", "2"),
                                  ("suspend_after_minutes", "4")))
SUZHOU = "js-suzhou"  # seats 3 and 4; the primary sh-ggzy holds 0-2


def test_a_lost_link_pauses_the_session_after_the_configured_minutes_naming_venue_and_rule(
) -> None:
    s = evaluating()
    s, ev = run(s, m.RecordLinkLost(SUZHOU), now=1000)
    assert ev == [m.Event("venue.link_lost", {"venue_id": SUZHOU, "since": 1000})]
    assert s.state is State.EVALUATING and m.fault_deadline(s, RULES) == 1060
    with pytest.raises(Conflict, match="no venue-link rule is due at 1059"):
        m.apply(s, m.ApplyFaultRules(RULES), 1059)
    s, ev = run(s, m.ApplyFaultRules(RULES), now=1060)
    assert s.state is State.PAUSED and s.paused is not None
    assert s.paused.reason == "venue_link_lost" and s.paused.from_stage is Stage.QUALIFICATION
    assert ev == [m.Event("session.state_changed", {
        "from": "evaluating/qualification", "to": "paused", "reason": "venue_link_lost",
        "venue_id": SUZHOU, "link_lost_since": 1000,
        "rule": {"name": "link_lost_pause_minutes", "value": "1", "seconds": 60}})]
    # Persisted as it is (the scheduler reads it back after a restart).
    assert session_from_doc(session_to_doc(s)) == s
    assert m.fault_deadline(s, RULES) == 1060 + 120


def test_a_link_back_in_time_lets_the_operator_resume_and_ends_the_fault() -> None:
    s = evaluating()
    s, _ = run(s, m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=60)
    with pytest.raises(Conflict, match="link of venue js-suzhou is still lost"):
        m.apply(s, m.Resume(), 90)
    s, ev = run(s, m.RecordLinkRestored(SUZHOU), now=100)
    assert ev == [m.Event("venue.link_restored",
                          {"venue_id": SUZHOU, "since": 0, "lost_seconds": 100})]
    assert s.state is State.PAUSED  # the operator resumes, not the link
    s, ev = run(s, m.Resume(), now=110)
    assert (s.state, s.stage, s.fault) == (State.EVALUATING, Stage.QUALIFICATION, None)
    assert ev[0].payload["venue_id"] == SUZHOU
    assert m.fault_deadline(s, RULES) is None


def test_a_link_back_before_the_pause_rule_cancels_it() -> None:
    s, _ = run(evaluating(), m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.RecordLinkRestored(SUZHOU), now=59)
    assert m.fault_deadline(s, RULES) is None
    with pytest.raises(Conflict, match="no step is pending"):
        m.apply(s, m.ApplyFaultRules(RULES), 600)


def test_not_resumed_in_time_the_materials_are_sealed_and_the_committee_reformed() -> None:
    s = locked(evaluating())  # aggregating: every sheet in
    s, _ = run(s, m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=60)
    s, ev = run(s, m.ApplyFaultRules(RULES), now=180)
    kinds = [e.type for e in ev]
    assert kinds == ["materials.sealed", "seat.vacated", "seat.vacated", "sheets.voided",
                     "committee.reformed", "session.state_changed"]
    rule = {"name": "resume_deadline_minutes", "value": "2", "seconds": 120}
    assert ev[0].payload["state"] == "aggregating" and ev[0].payload["rule"] == rule
    assert [e.payload["seat"] for e in ev[1:3]] == [3, 4]
    assert all(e.payload["reason"] == "venue_link_lost" for e in ev[1:3])
    assert ev[3].payload["seats"] == [{"seat": 3, "expert_id": "e3", "venue_id": SUZHOU},
                                      {"seat": 4, "expert_id": "e4", "venue_id": SUZHOU}]
    primary = s.primary.id
    assert ev[4].payload == {"venue_id": SUZHOU, "venues": [SUZHOU], "seats": [3, 4],
                             "moved": [{"seat": 3, "from": SUZHOU, "to": primary},
                                       {"seat": 4, "from": SUZHOU, "to": primary}],
                             "rule": rule}
    assert s.state is State.CHECKING_IN and s.voided == ((3, "e3"), (4, "e4"))
    assert [x.expert_id for x in s.seats] == ["e0", "e1", "e2", None, None]
    # The seats move to the primary (its link is the session's); where they were stays
    # on the record, for who may know the voided members.
    assert [x.venue_id for x in s.seats][3:] == [primary, primary]
    assert s.moved == ((3, SUZHOU), (4, SUZHOU))
    assert s.leader == 0 and s.qualified is None
    # The replacement draw fills the seats (补抽), and the new members join as any do.
    s, _ = run(s, m.AssignSeat(3, "a3", "候补3", source="draw:2"),
               m.AssignSeat(4, "a4", "候补4", source="draw:2"), m.CheckIn(3), m.CheckIn(4),
               m.AcceptPledge(3, "2026.1", "b" * 64), m.AcceptPledge(4, "2026.1", "b" * 64),
               m.DeclareInterests(3, ("B1", "B2", "B3"), {}),
               m.DeclareInterests(4, ("B1", "B2", "B3"), {}), now=200)
    s, _ = run(s, m.StartEvaluation(), now=230)
    assert (s.state, s.stage, s.fault) == (State.EVALUATING, Stage.QUALIFICATION, None)
    assert m.fault_deadline(s, RULES) is None  # the hard limit no longer applies


def test_a_reformed_leader_seat_calls_a_new_election_and_signatures_are_cleared() -> None:
    s = reporting()
    s, _ = run(s, m.SignReport(0), m.SignReport(3), m.RecordLinkLost(SUZHOU), now=1000)
    s = run(s, m.ApplyFaultRules(RULES), now=1060)[0]
    s, ev = run(s, m.ApplyFaultRules(RULES), now=1180)
    assert s.signed == () and s.sign_deadline is None
    cleared = next(e for e in ev if e.type == "report.signatures_cleared")
    assert cleared.payload == {"seats": [0, 3], "reason": "committee_reformed"}


def test_past_the_hard_limit_the_session_is_suspended_and_only_abort_remains() -> None:
    s = evaluating()
    s, _ = run(s, m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=60)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=180)  # re-formed, checking in again
    assert m.fault_deadline(s, RULES) == 60 + 240
    s, ev = run(s, m.ApplyFaultRules(RULES), now=300)
    assert s.state is State.SUSPENDED
    assert ev == [m.Event("session.state_changed", {
        "from": "checking_in", "to": "suspended", "reason": "venue_link_lost",
        "venue_id": SUZHOU, "fault_paused_at": 60,
        "rule": {"name": "suspend_after_minutes", "value": "4", "seconds": 240}})]
    for c in (m.Resume(), m.Pause("再试"), m.StartEvaluation(), m.ApplyFaultRules(RULES),
              m.RecordLinkLost(SUZHOU)):
        with pytest.raises(InvalidTransition, match="session is suspended"):
            m.apply(s, c, 400)
    s, _ = run(s, m.Abort("改期重新组织评标"), now=500)
    assert s.state is State.ABORTED


def test_a_server_down_past_every_deadline_takes_each_step_in_one_tick() -> None:
    s, _ = run(evaluating(), m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=60)
    s, ev = run(s, m.ApplyFaultRules(RULES), now=10_000)
    assert s.state is State.SUSPENDED
    assert ev[0].type == "materials.sealed"
    assert ev[-1].payload["to"] == "suspended"


def test_only_a_secondary_venue_link_is_watched_and_only_while_the_session_runs() -> None:
    s = evaluating()
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RecordLinkLost("sh-ggzy"), 0)
    assert bad.value.field == "venue_id"
    with pytest.raises(InvalidInput):
        m.apply(s, m.RecordLinkLost("zj-nowhere"), 0)
    with pytest.raises(Conflict, match="is not lost"):
        m.apply(s, m.RecordLinkRestored(SUZHOU), 0)
    s, _ = run(s, m.RecordLinkLost(SUZHOU), now=0)
    with pytest.raises(Conflict, match="lost already"):
        m.apply(s, m.RecordLinkLost(SUZHOU), 1)
    from test_rules_machine import draft

    with pytest.raises(InvalidTransition, match="cannot record_link_lost: session is draft"):
        m.apply(draft(), m.RecordLinkLost(SUZHOU), 0)


def test_a_manual_pause_is_not_a_fault_and_is_not_escalated() -> None:
    s, _ = run(evaluating(), m.Pause("停电"), m.RecordLinkLost(SUZHOU), now=0)
    assert m.fault_deadline(s, RULES) is None
    s, _ = run(s, m.Resume(), now=10)
    assert m.fault_deadline(s, RULES) == 60  # running again: the pause rule counts


def test_a_loss_may_be_recorded_after_it_began_but_not_before() -> None:
    s, ev = run(evaluating(), m.RecordLinkLost(SUZHOU, since=995), now=1000)
    assert ev == [m.Event("venue.link_lost", {"venue_id": SUZHOU, "since": 995})]
    assert m.fault_deadline(s, RULES) == 995 + 60
    with pytest.raises(InvalidInput) as bad:
        m.apply(evaluating(), m.RecordLinkLost(SUZHOU, since=1001), 1000)
    assert bad.value.field == "since"


def test_a_pause_by_hand_does_not_lift_the_hard_limit_of_a_reformed_committee() -> None:
    s, _ = run(evaluating(), m.RecordLinkLost(SUZHOU), now=0)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=60)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=180)  # re-formed, checking in
    s, _ = run(s, m.Pause("核对身份"), m.Resume(), now=200)
    assert s.state is State.CHECKING_IN and m.fault_deadline(s, RULES) == 60 + 240
    s, _ = run(s, m.Pause("核对身份"), now=210)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=300)
    assert s.state is State.SUSPENDED



def test_every_fault_step_is_kept_for_the_report_up_to_its_start() -> None:
    s, _ = run(evaluating(), m.RecordLinkLost(SUZHOU, since=5), now=10)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=65)
    s, _ = run(s, m.RecordLinkRestored(SUZHOU), m.Resume(), now=90)
    assert [(x.kind, x.at, x.venue_id, x.rule, x.minutes) for x in s.fault_log] == [
        ("link_lost", 5, SUZHOU, None, None),
        ("paused", 65, SUZHOU, "link_lost_pause_minutes", "1"),
        ("link_restored", 90, SUZHOU, None, None),
        ("resumed", 90, SUZHOU, None, None)]
    s, _ = run(s, m.RecordLinkLost(SUZHOU), now=100)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=160)
    s, _ = run(s, m.ApplyFaultRules(RULES), now=280)  # sealed and re-formed
    sealed, reformed = s.fault_log[-2:]
    assert (sealed.kind, sealed.rule, sealed.minutes) == (
        "materials_sealed", "resume_deadline_minutes", "2")
    assert (reformed.kind, reformed.seats, reformed.to) == ("reformed", (3, 4), s.primary.id)
    assert session_from_doc(session_to_doc(s)) == s
    s, _ = run(s, m.ApplyFaultRules(RULES), now=400)  # suspended
    assert s.fault_log[-1].kind == "suspended" and s.fault_log[-1].minutes == "4"
    # The report lists the steps recorded before it started.
    r = reporting()
    r, _ = run(r, m.RecordLinkLost(SUZHOU), now=2000)
    assert r.report_faults is not None and r.report_faults < len(r.fault_log)
