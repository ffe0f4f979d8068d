"""The steps the rules add to the state machine (pure): pledge and recusal at check-in,
the leader election, refusing to sign — and, by property, that no path reaches
``sealed`` without every one of them."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import session_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import Conflict, InvalidInput, InvalidTransition
from evalsvc.sessions import machine as m
from evalsvc.sessions.model import (
    FaultRules,
    ScoringRules,
    Session,
    Sheet,
    Stage,
    State,
    new_session,
    session_from_doc,
    session_to_doc,
    stage_plan,
)
from evalsvc.sessions.scoring import parse_sheet

BIDS = ("B1", "B2", "B3")
ITEMS = ("签字评审表", "承诺书", "回避声明")
PLEDGE = "b" * 64


def draft(seats: tuple[int, ...] = (3, 2), **extra: object) -> Session:
    return new_session(session_doc(seats=seats, **extra), session_id="s-1", now=1,
                       defaults=ScoringRules())


def run(s: Session, *commands: m.Command, now: int = 1) -> tuple[Session, list[m.Event]]:
    events: list[m.Event] = []
    for c in commands:
        s, ev = m.apply(s, c, now)
        events += ev
    return s, events


def checked_in(s: Session | None = None) -> Session:
    s = s or draft()
    n = len(s.seats)
    s, _ = run(s, m.OpenDraw(),
               *[m.AssignSeat(i, f"e{i}", f"专家{i}", source="draw:1") for i in range(n)],
               m.CompleteDraw(), m.StartCheckIn(), *[m.CheckIn(i) for i in range(n)])
    return s


def declared(s: Session | None = None) -> Session:
    s = checked_in(s)
    n = len(s.seats)
    s, _ = run(s, *[m.AcceptPledge(i, "2026.1", PLEDGE) for i in range(n)],
               *[m.DeclareInterests(i, BIDS, {}) for i in range(n)])
    return s


def vote(s: Session, choices: list[int | None]) -> tuple[Session, list[m.Event]]:
    """Every seat casts its ballot (commitment as the service makes it), then close."""
    assert s.election is not None
    cmds: list[m.Command] = []
    for seat, c in enumerate(choices):
        salt = bytes([seat + 1]) * 32
        body = m.ballot_bytes(s.id, s.election.round, seat, c)
        import hmac

        cmds.append(m.CastVote(seat, c, salt.hex(), hmac.digest(salt, body, "sha256").hex()))
    return run(s, *cmds, m.CloseRound())


# --- pledge and recusal -------------------------------------------------------------------


def test_pledge_comes_after_check_in_and_once() -> None:
    s = checked_in()
    s, ev = run(s, m.AcceptPledge(0, "2026.1", PLEDGE))
    assert ev == [m.Event("pledge.accepted", {"seat": 0, "venue_id": "sh-ggzy",
                                              "version": "2026.1", "sha256": PLEDGE})]
    with pytest.raises(Conflict, match="already accepted"):
        m.apply(s, m.AcceptPledge(0, "2026.1", PLEDGE), 1)
    not_in = replace(s, seats=tuple(replace(x, checked_in=False) if x.index == 1 else x
                                    for x in s.seats))
    with pytest.raises(Conflict, match="not checked in"):
        m.apply(not_in, m.AcceptPledge(1, "2026.1", PLEDGE), 1)
    with pytest.raises(Conflict, match="accept the pledge before"):
        m.apply(s, m.DeclareInterests(1, BIDS, {}), 1)


@pytest.mark.parametrize(
    ("declared_", "conflicts", "field"),
    [
        (("B1", "B2"), {}, "declarations"),
        (("B1", "B2", "B3", "B9"), {}, "declarations/3/bid_id"),
        (("B1", "B2", "B2", "B3"), {}, "declarations/2/bid_id"),
        (BIDS, {"B2": "  "}, "declarations/1/reason"),
    ],
)
def test_a_declaration_names_every_bidder_once_and_a_conflict_its_reason(
    declared_: tuple[str, ...], conflicts: dict[str, str], field: str
) -> None:
    s, _ = run(checked_in(), m.AcceptPledge(0, "2026.1", PLEDGE))
    with pytest.raises(InvalidInput) as info:
        m.apply(s, m.DeclareInterests(0, declared_, conflicts), 1)
    assert info.value.field == field


def test_a_declared_conflict_vacates_the_seat_for_the_draws_alternate() -> None:
    s, _ = run(checked_in(), m.AcceptPledge(3, "2026.1", PLEDGE))
    why = "曾在乙公司任职，离职未满三年"
    s, ev = run(s, m.DeclareInterests(3, BIDS, {"B2": why}))
    assert [e.type for e in ev] == ["interests.declared", "seat.vacated"]
    assert ev[0].payload["conflicts"] == [{"bid_id": "B2", "reason": why}]
    assert ev[1].payload == {"seat": 3, "venue_id": "js-suzhou", "expert_id": "e3",
                             "expert_name": "专家3", "reason": "recusal"}
    seat = s.seats[3]
    assert (seat.expert_id, seat.checked_in, seat.pledged, seat.declared) == (None, False, None,
                                                                             False)
    assert s.recusals == ((3, "e3", ("B2",)),)
    assert s.state is State.CHECKING_IN
    # Nobody but the draw's alternate fills it, and nobody fills an occupied seat.
    with pytest.raises(InvalidTransition) as info:
        m.apply(s, m.AssignSeat(3, "x", "手工指定", source="proposed"), 1)
    assert (info.value.state, info.value.command) == ("checking_in", "assign_seat")
    with pytest.raises(InvalidTransition):
        m.apply(s, m.AssignSeat(2, "e9", "候补", source="draw:1"), 1)
    with pytest.raises(Conflict, match="3 \\(vacant\\)"):
        m.apply(s, m.OpenElection(), 1)
    with pytest.raises(Conflict, match="seat 3 is vacant"):
        m.apply(s, m.CheckIn(3), 1)
    s, ev = run(s, m.AssignSeat(3, "e9", "候补专家", source="draw:1"), m.CheckIn(3))
    assert s.seats[3].expert_id == "e9" and s.state is State.CHECKING_IN
    # The recusal survives the store's round trip.
    assert session_from_doc(session_to_doc(s)) == s


def test_evaluation_waits_for_every_pledge_declaration_and_the_leader() -> None:
    s = checked_in()
    with pytest.raises(Conflict, match="0 \\(no pledge\\)"):
        m.apply(s, m.StartEvaluation(), 1)
    s, _ = run(s, *[m.AcceptPledge(i, "2026.1", PLEDGE) for i in range(5)])
    with pytest.raises(Conflict, match="0 \\(no declaration\\)"):
        m.apply(s, m.StartEvaluation(), 1)
    s, _ = run(s, *[m.DeclareInterests(i, BIDS, {}) for i in range(5)])
    with pytest.raises(Conflict, match="not elected its leader"):
        m.apply(s, m.StartEvaluation(), 1)


# --- the leader election ------------------------------------------------------------------


def test_a_strict_majority_elects_in_the_first_round() -> None:
    s, _ = run(declared(), m.OpenElection())
    s, ev = vote(s, [1, 1, 1, 2, None])
    assert s.leader == 1 and s.election is None
    closed = ev[-2]
    assert closed.type == "election.round_closed"
    assert closed.payload["tally"] == {"0": 0, "1": 3, "2": 1, "3": 0, "4": 0}
    assert closed.payload["blank"] == 1
    assert ev[-1] == m.Event("leader.elected", {"seat": 1, "round": 1, "votes": 3,
                                                "by": "majority"})
    # Each opened ballot matches the commitment published when it was cast.
    import hmac

    for b in closed.payload["ballots"]:
        body = m.ballot_bytes("s-1", 1, b["seat"], b["candidate"])
        assert hmac.digest(bytes.fromhex(b["salt"]), body, "sha256").hex() == b["commitment"]
    s, _ = run(s, m.StartEvaluation())
    assert (s.state, s.stage) == (State.EVALUATING, Stage.QUALIFICATION)


def test_without_a_majority_the_top_two_meet_in_a_runoff() -> None:
    s, _ = run(declared(), m.OpenElection())
    s, ev = vote(s, [0, 0, 1, 1, 2])  # 2 of 5 is no strict majority
    assert s.leader is None and s.election is not None
    assert ev[-1] == m.Event("election.opened", {"round": 2, "candidates": [0, 1],
                                                 "members": 5, "runoff": True})
    with pytest.raises(InvalidInput, match="not a candidate of round 2"):
        m.apply(s, m.CastVote(0, 2, "00", "c"), 1)
    s, ev = vote(s, [1, 0, 1, 1, None])
    assert s.leader == 1 and ev[-1].payload["by"] == "runoff"


def test_a_tie_after_the_runoff_is_broken_by_lot_from_a_recorded_seed() -> None:
    s, _ = run(declared(), m.OpenElection())
    s, _ = vote(s, [0, 0, 1, 1, 2])
    s, ev = vote(s, [0, 1, 0, 1, None])
    elected = ev[-1]
    assert elected.payload["by"] == "lot" and elected.payload["tied"] == [0, 1]
    # Anyone holding the log recomputes the seed from the published commitments…
    commitments = [b["commitment"] for b in ev[-2].payload["ballots"]]
    doc = {"session": "s-1", "round": 2, "commitments": commitments}
    seed = hashlib.sha256(canonical_bytes(doc)).hexdigest()
    assert elected.payload["seed"] == seed
    # … and the lot from the seed.
    first = min((0, 1), key=lambda x: hashlib.sha256(f"{seed}:{x}".encode()).hexdigest())
    assert s.leader == elected.payload["seat"] == first


def test_a_tie_for_the_runoff_places_is_decided_by_lot_and_recorded() -> None:
    s, _ = run(declared(), m.OpenElection())
    s, ev = vote(s, [0, 0, 1, 2, None])  # 0 leads; 1 and 2 tie for the second place
    opened = ev[-1].payload
    assert opened["round"] == 2 and 0 in opened["candidates"]
    assert opened["lot"]["among"] == [1, 2] and len(opened["lot"]["seed"]) == 64
    assert set(opened["candidates"]) - {0} <= {1, 2}


def test_the_tenderers_representative_may_be_excluded_and_votes_are_once_per_round() -> None:
    s, _ = run(declared(), m.OpenElection(exclude=(4,)))
    assert s.election is not None and s.election.candidates == (0, 1, 2, 3)
    with pytest.raises(InvalidInput, match="not a candidate"):
        m.apply(s, m.CastVote(0, 4, "00", "c"), 1)
    s, _ = run(s, m.CastVote(0, 1, "00", "c0"))
    with pytest.raises(Conflict, match="already voted"):
        m.apply(s, m.CastVote(0, 2, "00", "c1"), 1)
    with pytest.raises(Conflict, match="seat\\(s\\) 1, 2, 3, 4 have not voted"):
        m.apply(s, m.CloseRound(), 1)
    with pytest.raises(Conflict, match="round 1 of the election is open"):
        m.apply(s, m.OpenElection(), 1)


# --- refusing to sign ---------------------------------------------------------------------


def reporting(sign_within: int | None = 600) -> Session:
    s = declared()
    s, _ = run(s, m.OpenElection())
    s, _ = vote(s, [0, 0, 0, 1, 1])
    s, _ = run(s, m.StartEvaluation())
    q = tuple(parse_sheet(s, seat=i, doc={"stage": "qualification",
                                          "bids": {b: {"Q1": True} for b in BIDS}})
              for i in range(5))
    s, _ = run(s, m.LockQualification(q))
    sc = tuple(parse_sheet(s, seat=i, doc={"stage": "scoring",
                                           "bids": {b: {"T1": "30", "C1": "5"} for b in BIDS}})
               for i in range(5))
    s, _ = run(s, m.LockScoring(sc), m.StartReport(sign_within), now=1000)
    return s


def test_a_member_who_neither_signs_nor_dissents_is_deemed_to_agree() -> None:
    s = reporting()
    assert s.sign_deadline == 1600
    s, _ = run(s, m.RecordDissent(4, "价格分计算有异议"),
               *[m.SignReport(i) for i in (0, 1, 2, 4)])
    with pytest.raises(Conflict, match="seat\\(s\\) 3 have not signed and are not deemed"):
        m.apply(s, m.Seal(), 2000)
    with pytest.raises(Conflict, match="may still sign"):
        m.apply(s, m.RecordRefusal(3, "拒不签字"), 1599)
    s, ev = run(s, m.RecordRefusal(3, "3号评委既不签字也不陈述不同意见，委员会书面记录"), now=1600)
    assert ev[0].type == "report.refusal_recorded"
    with pytest.raises(Conflict, match="cannot seal"):
        m.apply(s, m.Seal(), 1700)
    s, ev = run(s, m.ConfirmDeemedAgreement(3), now=1700)
    assert ev[0] == m.Event("report.deemed_agreed", {
        "seat": 3, "note": "3号评委既不签字也不陈述不同意见，委员会书面记录"})
    # The note is in the report now: the four signatures were over a report without it.
    assert ev[1].type == "report.signatures_cleared" and s.signed == ()
    with pytest.raises(Conflict, match="cannot seal"):
        m.apply(s, m.Seal(), 1700)
    s, _ = run(s, *[m.SignReport(i) for i in (0, 1, 2, 4)], m.Seal(), now=1700)
    assert s.state is State.SEALED and s.deemed == (3,)


def test_a_dissenter_is_not_deemed_to_agree_and_a_late_signature_withdraws_the_note() -> None:
    s = reporting()
    s, _ = run(s, m.RecordDissent(2, "不同意排名"), now=1700)
    with pytest.raises(Conflict, match="stated a dissent"):
        m.apply(s, m.RecordRefusal(2, "未签字"), 1700)
    with pytest.raises(Conflict, match="no refusal of seat 1"):
        m.apply(s, m.ConfirmDeemedAgreement(1), 1700)
    s, _ = run(s, m.RecordRefusal(1, "未签字"), now=1700)
    s, _ = run(s, m.SignReport(1), now=1701)
    assert s.refusals == () and 1 in s.signed
    with pytest.raises(Conflict, match="no refusal of seat 1"):
        m.apply(s, m.ConfirmDeemedAgreement(1), 1702)
    no_deadline = reporting(sign_within=None)
    with pytest.raises(Conflict, match="may still sign"):
        m.apply(no_deadline, m.RecordRefusal(1, "未签字"), 10**9)


# --- properties -----------------------------------------------------------------------------


# Split stages with a compliance stage and 暗标 (docs/scoring.md "Stages").
SPLIT = {"stages": "split", "anonymous": True, "criteria": [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40}]}
_POINTS = {Stage.SCORING: {"T1": "30", "C1": "5"}, Stage.TECHNICAL: {"T1": "30"},
           Stage.COMMERCIAL: {"C1": "5"}}


def _sheets(s: Session, stage: Stage) -> tuple[object, ...]:
    if s.stage is not stage:  # refused before any sheet is read: empty ones do
        return tuple(Sheet(seat=x.index, stage=stage) for x in s.seats)
    if stage in (Stage.QUALIFICATION, Stage.COMPLIANCE):
        crit = "Q1" if stage is Stage.QUALIFICATION else "K1"
        # Seat 0 fails B3 (with its reason): a minority, B3 stays in.
        return tuple(parse_sheet(s, seat=x.index, doc={
            "stage": stage.value, "bids": {b: {crit: not (x.index == 0 and b == "B3")}
                                           for b in BIDS},
            "reasons": {"B3": {crit: "证明材料缺失"}} if x.index == 0 else {}})
            for x in s.seats)
    out = tuple(parse_sheet(s, seat=x.index, doc={
        "stage": stage.value, "bids": {b.id: _POINTS[stage] for b in s.qualified_bids}})
        for x in s.seats)
    if stage is Stage.COMMERCIAL:  # the lock aggregates both parts
        out += tuple(Sheet(seat=x.index, stage=Stage.TECHNICAL, scores={
            b.id: {"T1": Decimal(30)} for b in s.qualified_bids}) for x in s.seats)
    return out


def _command(rnd: random.Random, s: Session, kind: str | None = None) -> m.Command:
    """Any command, with arguments near the ones that apply (so that paths go far)."""
    every = sorted(m._NAMES.values())
    here = [k for k in every if k not in ("pause", "abort", "create_session") and m.takes(s, k)]
    if s.state is State.CHECKING_IN and any(x.expert_id is None for x in s.seats):
        here.append("assign_seat")  # the alternate of a vacated seat (补抽)
    # Mostly a command the state takes and a seat that still needs it (so that paths
    # go far), now and then anything.
    pool = here if here and rnd.randrange(8) else every
    if kind is None:
        kind = rnd.choice(pool)
        if kind == "abort" and rnd.randrange(10):
            kind = rnd.choice(pool)  # (an abort ends the walk: rarer, so walks go far)
        if kind in ("record_link_lost", "apply_fault_rules") and rnd.randrange(50):
            kind = rnd.choice(pool)  # (so does a suspension)
    useful = _useful_seats(s, kind)
    seat = rnd.choice(useful) if useful and rnd.randrange(8) else rnd.randrange(len(s.seats))
    candidates = s.election.candidates if s.election else (0,)
    match kind:
        case "create_session":
            return m.OpenDraw()  # (creation is not a step of a path)
        case "add_bid":
            return m.AddBid(s.bids[0])
        case "add_criterion":
            return m.AddCriterion(s.criteria[0])
        case "open_draw":
            return m.OpenDraw()
        case "assign_seat":
            src = rnd.choice(["draw:1", "draw:2", "proposed"])
            # (a fresh expert now and then: a re-formed committee replaces a member)
            return m.AssignSeat(seat, f"x{seat}-{src}-{rnd.randrange(2)}", "专家", source=src)
        case "designate_experts":
            return m.DesignateExperts("理由")
        case "decide_designation":
            return m.DecideDesignation(rnd.random() < 0.5, "理由")
        case "complete_draw":
            return m.CompleteDraw()
        case "start_check_in":
            return m.StartCheckIn()
        case "check_in":
            return m.CheckIn(seat)
        case "accept_pledge":
            return m.AcceptPledge(seat, "2026.1", PLEDGE)
        case "declare_interests":
            conflict = rnd.randrange(10) == 0  # now and then, a recusal
            return m.DeclareInterests(seat, BIDS, {"B1": "亲属任职"} if conflict else {})
        case "open_election":
            return m.OpenElection(rnd.choice([(), (4,)]))
        case "cast_vote":
            pick = rnd.choice([*candidates, None])
            return m.CastVote(seat, pick, "00", f"c{seat}")
        case "close_round":
            return m.CloseRound()
        case "start_evaluation":
            return m.StartEvaluation("ab" * 16)
        case "lock_qualification":
            return m.LockQualification(_sheets(s, Stage.QUALIFICATION))  # type: ignore[arg-type]
        case "lock_scoring":
            return m.LockScoring(_sheets(s, Stage.SCORING))  # type: ignore[arg-type]
        case "lock_compliance":
            return m.LockCompliance(_sheets(s, Stage.COMPLIANCE))  # type: ignore[arg-type]
        case "lock_technical":
            return m.LockTechnical(_sheets(s, Stage.TECHNICAL))  # type: ignore[arg-type]
        case "lock_commercial":
            return m.LockCommercial(_sheets(s, Stage.COMMERCIAL))  # type: ignore[arg-type]
        case "submit_sheet":
            stage = s.stage or Stage.QUALIFICATION
            return m.SubmitSheet(_sheets(s, stage)[seat], 1, "c")  # type: ignore[arg-type]
        case "explain_deviation":
            bid = next((b for a, b in s.pending_explanations if a == seat), "B1")
            return m.ExplainDeviation(seat, bid, "说明")
        case "start_report":
            return m.StartReport(rnd.choice([None, 0, 60]))
        case "record_dissent":
            return m.RecordDissent(seat, "异议")
        case "sign_report":
            return m.SignReport(seat)
        case "record_refusal":
            return m.RecordRefusal(seat, "委员会记录")
        case "confirm_deemed_agreement":
            return m.ConfirmDeemedAgreement(seat)
        case "request_rereview":
            return m.RequestReReview(rnd.choice(list(Stage)), (seat,), "第2项客观分计算错误")
        case "decide_rereview":
            return m.DecideReReview(rnd.random() < 0.7, "同意复核")
        case "request_clarification":
            asker = s.leader if s.leader is not None and rnd.randrange(8) else seat
            return m.RequestClarification(asker, rnd.choice(BIDS), "请澄清工期")
        case "record_clarification_answer":
            open_ = [i + 1 for i, c in enumerate(s.clarifications) if c.answer is None]
            number = rnd.choice(open_) if open_ and rnd.randrange(8) else rnd.randrange(1, 4)
            return m.RecordClarificationAnswer(number, "可以保证", "ab" * 32)
        case "record_incident":
            venue = rnd.choice([*(v.id for v in s.venues), "XX"])
            return m.RecordIncident(venue, rnd.choice(["discipline", "device", "bogus"]),
                                    "专家使用手机", s.created_at, "site_supervisor:s1")
        case "record_handover":
            return m.RecordHandover(rnd.choice([v.id for v in s.venues]), ITEMS, ITEMS)
        case "acknowledge_handover":
            return m.AcknowledgeHandover(rnd.choice([v.id for v in s.venues]))
        case "flag_handover_overdue":
            return m.FlagHandoverOverdue(rnd.choice([0, 3]))
        case "seal":
            return m.Seal()
        case "pause":
            return m.Pause("断网")
        case "resume":
            return m.Resume()
        case "abort":
            return m.Abort("撤回")
        case "record_link_lost":
            return m.RecordLinkLost(rnd.choice([v.id for v in s.venues]))
        case "record_link_restored":
            return m.RecordLinkRestored(rnd.choice([v.id for v in s.venues]))
        case "apply_fault_rules":
            # Due at once (the walk's clock stands still): pause, then re-form and
            # perhaps suspend.
            return m.ApplyFaultRules(FaultRules(0, 0, 0 if rnd.randrange(20) == 0 else 100))
    raise AssertionError(kind)


def _useful_seats(s: Session, kind: str) -> list[int]:
    voted = {b.seat for b in s.election.ballots} if s.election else set()
    need = {
        "assign_seat": lambda x: x.expert_id is None or x.source in (None, "proposed"),
        "check_in": lambda x: x.expert_id is not None and not x.checked_in,
        "accept_pledge": lambda x: x.checked_in and x.pledged is None,
        "declare_interests": lambda x: x.pledged is not None and not x.declared,
        "cast_vote": lambda x: x.index not in voted,
        "sign_report": lambda x: x.index not in s.signed and x.index not in s.deemed,
        "record_refusal": lambda x: x.index not in s.signed and x.index not in s.deemed,
        "confirm_deemed_agreement": lambda x: any(a == x.index for a, _ in s.refusals),
        "explain_deviation": lambda x: any(a == x.index for a, _ in s.pending_explanations),
    }.get(kind)
    return [x.index for x in s.seats if need(x)] if need else []


def _where_ok(s: Session, c: m.Command) -> bool:
    """Whether the machine's table lets ``c`` run in ``s`` (its own rules aside)."""
    name = m.command_name(c)
    if isinstance(c, m.Pause):
        return s.state in (State.DRAWING, State.READY, State.CHECKING_IN, State.EVALUATING,
                           State.AGGREGATING, State.REPORTING)
    if isinstance(c, m.Abort):
        return s.state not in (State.SEALED, State.ABORTED)
    if isinstance(c, m.AssignSeat) and s.state is State.CHECKING_IN:
        return s.seats[c.seat].expert_id is None and c.source.startswith("draw:")
    try:
        m.require_state(s, name)
    except InvalidTransition:
        return False
    return True


def _walk(rnd: random.Random, **extra: object) -> Session:
    """From a draft, up to 1000 random commands. Each one either applies, or — if the
    state does not take it — is an InvalidTransition naming the state and the command
    (409), or a domain refusal (409 Conflict, 422 InvalidInput). When the session is
    sealed: the committee was drawn, every seat pledged and declared, a leader elected,
    every stage of its plan locked, and every seat signed or was deemed to agree."""
    s = draft(**extra)
    kinds: list[str] = []
    history: list[m.Event] = []
    for _ in range(1000):
        if s.state in (State.SEALED, State.ABORTED, State.SUSPENDED):
            break
        c = _command(rnd, s)
        label = m.state_label(s)
        allowed = _where_ok(s, c)
        try:
            new, events = m.apply(s, c, 10**6)
        except InvalidTransition as exc:
            assert not allowed, (label, c)
            assert exc.state == label and exc.command == m.command_name(c)
            assert str(exc).startswith(f"cannot {m.command_name(c)}: session is {label}")
            continue
        except (Conflict, InvalidInput):
            assert allowed, (label, c)
            continue
        assert allowed, (label, c)
        kinds += [e.type for e in events]
        history += events
        s = new
        if s.state is State.SEALED:
            assert all(x.expert_id and (x.source == "designated"
                                        or (x.source or "").startswith("draw:"))
                       for x in s.seats)
            assert all(x.checked_in and x.pledged == PLEDGE and x.declared for x in s.seats)
            assert s.leader is not None and "leader.elected" in kinds
            locks = [e.payload["stage"] for e in history if e.type == "stage.locked"]
            assert all(x.value in locks for x in stage_plan(s)), locks
            assert s.qualified is not None
            # A stage never locks before the ones it follows (in each pass).
            assert locks[0] == "qualification"
            if s.anonymous:  # 暗标: the codes are opened, after the technical lock
                assert "codes.committed" in kinds and "codes.opened" in kinds
            assert all(x.index in s.signed or x.index in s.deemed for x in s.seats)
            assert s.rereview is None
            assert all(c.answer is not None for c in s.clarifications)
    return s


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_every_command_applies_or_is_refused_and_no_path_seals_without_the_rules(
    rnd: random.Random,
) -> None:
    """See :func:`_walk`."""
    _walk(rnd)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_with_split_stages_no_path_seals_without_every_stage_locked(
    rnd: random.Random,
) -> None:
    """The same walk on a session with a compliance stage, split technical and
    commercial stages and 暗标: sealed only with each of its five stages locked."""
    _walk(rnd, **SPLIT)


@pytest.mark.parametrize("extra", [{}, SPLIT], ids=["combined", "split"])
def test_the_random_walks_do_reach_the_seal(extra: dict[str, object]) -> None:
    """The property above is not vacuous: its walks reach ``sealed`` (with pledges,
    recusals, elections and deemed agreements on the way)."""
    ends = [_walk(random.Random(seed), **extra).state for seed in range(120)]
    assert State.SEALED in ends


# --- re-review ------------------------------------------------------------------------------


def test_a_rereview_reopens_scoring_for_the_named_seats_only() -> None:
    s = reporting()
    s, _ = run(s, m.SignReport(0), m.SignReport(1), now=1100)
    with pytest.raises(InvalidInput, match="no technical stage; its stages: qualification,"
                       " scoring"):
        m.apply(s, m.RequestReReview(Stage.TECHNICAL, (2,), "技术分有误"), 1100)
    s, ev = run(s, m.RequestReReview(Stage.SCORING, (2,), "2号评委技术分合计有误"), now=1100)
    assert ev == [m.Event("rereview.requested", {"stage": "scoring", "seats": [2],
                                                 "reason": "2号评委技术分合计有误"})]
    with pytest.raises(Conflict, match="waiting for a supervisor"):
        m.apply(s, m.Seal(), 1100)
    s, ev = run(s, m.DecideReReview(True, "同意对2号评委评分复核"), now=1200)
    assert [e.type for e in ev] == ["rereview.approved", "report.signatures_cleared",
                                    "session.state_changed"]
    assert (s.state, s.stage, s.signed) == (State.EVALUATING, Stage.SCORING, ())
    other = parse_sheet(s, seat=3, doc={"stage": "scoring",
                                        "bids": {b: {"T1": "31", "C1": "5"} for b in BIDS}})
    with pytest.raises(Conflict, match="reopened for seat\\(s\\) 2 only"):
        m.apply(s, m.SubmitSheet(other, 2, "c"), 1300)
    fixed = parse_sheet(s, seat=2, doc={"stage": "scoring",
                                        "bids": {b: {"T1": "32", "C1": "5"} for b in BIDS}})
    m.apply(s, m.SubmitSheet(fixed, 2, "c"), 1300)
    sheets = tuple(fixed if i == 2 else parse_sheet(s, seat=i, doc={
        "stage": "scoring", "bids": {b: {"T1": "30", "C1": "5"} for b in BIDS}})
        for i in range(5))
    s, ev = run(s, m.LockScoring(sheets), now=1400)
    locked = next(e for e in ev if e.type == "stage.locked").payload
    assert locked["rereview"] == {"seats": [2], "reason": "2号评委技术分合计有误", "round": 1}
    assert s.state is State.AGGREGATING and s.rereview is None
    assert s.rereviews[0].decision == "同意对2号评委评分复核"
    from evalsvc.sessions.report import report_document
    from evalsvc.sessions.scoring import aggregate

    doc = report_document(s, aggregate(s, list(sheets)))
    assert doc["rereviews"] == [{"round": 1, "stage": "scoring", "seats": [2],
                                 "reason": "2号评委技术分合计有误",
                                 "decision": "同意对2号评委评分复核"}]


def test_a_rejected_rereview_leaves_the_report_as_it_was() -> None:
    s = reporting()
    s, _ = run(s, m.SignReport(0), m.RequestReReview(Stage.SCORING, (1, 3), "复核"))
    s, ev = run(s, m.DecideReReview(False, "理由不充分"))
    assert ev[0].type == "rereview.rejected" and s.state is State.REPORTING
    assert s.signed == (0,) and s.rereview is None
    with pytest.raises(Conflict, match="no re-review is waiting"):
        m.apply(s, m.DecideReReview(True, "同意"), 1)


def _every_state() -> list[Session]:
    """A session in each state and stage (and paused from several)."""
    d = draft()
    drawing, _ = run(d, m.OpenDraw())
    ready, _ = run(drawing, *[m.AssignSeat(i, f"e{i}", "专家", source="draw:1")
                              for i in range(len(d.seats))], m.CompleteDraw())
    checking = checked_in()
    electing, _ = run(declared(), m.OpenElection())
    rep = reporting()
    aggregating_, _ = run(rep, m.RequestReReview(Stage.SCORING, (1,), "复核"))
    scoring, _ = run(aggregating_, m.DecideReReview(True, "同意"))
    qual = replace(scoring, stage=Stage.QUALIFICATION, rereview=None)
    sealed, _ = run(rep, *[m.SignReport(i) for i in range(5)], m.Seal())
    out = [d, drawing, ready, checking, electing, qual, scoring, rep, sealed]
    split = draft(**SPLIT)
    out += [replace(qual, stage=x, stages="split", anonymous=True, code_salt="ab" * 16,
                    criteria=split.criteria, qualified=BIDS)
            for x in (Stage.COMPLIANCE, Stage.TECHNICAL, Stage.COMMERCIAL)]
    out += [run(x, m.Pause("断网"))[0] for x in (ready, electing, scoring, rep)]
    out += [run(d, m.Abort("撤回"))[0]]
    # Faults by rule: a link lost, paused for it, re-formed, suspended.
    rules = FaultRules(60, 120, 240)
    lost, _ = run(scoring, m.RecordLinkLost("js-suzhou"), now=0)
    fault_paused, _ = run(lost, m.ApplyFaultRules(rules), now=60)
    reformed, _ = run(fault_paused, m.ApplyFaultRules(rules), now=180)
    suspended, _ = run(reformed, m.ApplyFaultRules(rules), now=300)
    assert suspended.state is State.SUSPENDED
    out += [lost, fault_paused, reformed, suspended]
    return out


@pytest.mark.parametrize("name", sorted(set(m._NAMES.values()) - {"create_session"}))
def test_every_command_from_every_state_applies_or_is_a_409_naming_both(name: str) -> None:
    """Exhaustively, not by chance: each command in each state either applies, is a
    domain refusal where the state takes it, or an InvalidTransition naming state and
    command where it does not."""
    rnd = random.Random(name)
    for s in _every_state():
        for _ in range(5):
            c = _command(rnd, s, name)
            label = m.state_label(s)
            try:
                m.apply(s, c, 10**6)
            except InvalidTransition as exc:
                assert not _where_ok(s, c), (label, c)
                assert (exc.state, exc.command) == (label, name)
                assert str(exc).startswith(f"cannot {name}: session is {label}")
            except (Conflict, InvalidInput):
                assert _where_ok(s, c), (label, c)
            else:
                assert _where_ok(s, c), (label, c)


# --- clarification (澄清、说明、补正) ---------------------------------------------------------


def evaluating(seats: tuple[int, ...] = (3, 2)) -> Session:
    """Every seat pledged and declared, seat 0 elected leader, the evaluation started."""
    s, _ = run(declared(draft(seats)), m.OpenElection())
    s, _ = vote(s, [0, 0, 0, 1, 1])
    s, _ = run(s, m.StartEvaluation())
    return s


def locked(s: Session) -> Session:
    q = tuple(parse_sheet(s, seat=i, doc={"stage": "qualification",
                                          "bids": {b: {"Q1": True} for b in BIDS}})
              for i in range(5))
    s, _ = run(s, m.LockQualification(q))
    sc = tuple(parse_sheet(s, seat=i, doc={"stage": "scoring",
                                           "bids": {b: {"T1": "30", "C1": "5"} for b in BIDS}})
               for i in range(5))
    s, _ = run(s, m.LockScoring(sc))
    return s


def test_the_leader_asks_a_bidder_and_the_answer_goes_into_the_report() -> None:
    before = checked_in()
    with pytest.raises(InvalidTransition, match="cannot request_clarification: session is"
                       " checking_in"):
        m.apply(before, m.RequestClarification(0, "B2", "工期？"), 5)
    s = evaluating()
    with pytest.raises(Conflict, match="not the committee's leader"):
        m.apply(s, m.RequestClarification(1, "B2", "工期？"), 5)
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RequestClarification(0, "B9", "工期？"), 5)
    assert bad.value.field == "bid_id"
    s, ev = run(s, m.RequestClarification(0, "B2", "工期能否保证？"))
    assert [(e.type, e.payload) for e in ev] == [("clarification.requested", {
        "id": 1, "bid_id": "B2", "bidder": "乙公司", "question": "工期能否保证？", "seat": 0})]
    for bad_hash in ("xyz", "ab" * 31, "g" * 64):
        with pytest.raises(InvalidInput) as bad:
            m.apply(s, m.RecordClarificationAnswer(1, "可以", bad_hash), 5)
        assert bad.value.field == "attachment_sha256"
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RecordClarificationAnswer(2, "可以", "ab" * 32), 5)
    assert bad.value.field == "id"
    s = locked(s)
    with pytest.raises(Conflict, match=r"clarification\(s\) 1 not yet answered"):
        m.apply(s, m.StartReport(600), 5)
    s, ev = run(s, m.RecordClarificationAnswer(1, "工期可以保证，见附件", "AB" * 32))
    assert ev[0].payload == {"id": 1, "bid_id": "B2", "answer": "工期可以保证，见附件",
                             "attachment_sha256": "ab" * 32}
    with pytest.raises(Conflict, match="answered already"):
        m.apply(s, m.RecordClarificationAnswer(1, "再答", "ab" * 32), 5)
    s, _ = run(s, m.StartReport(600))
    shape = [{"bid_id": "B2", "bidder": "乙公司", "question": "工期能否保证？",
              "answer": "工期可以保证，见附件", "attachment_sha256": "ab" * 32}]
    assert session_to_doc(s)["clarifications"] == shape
    assert session_from_doc(session_to_doc(s)) == s
    from evalsvc.report.document import clarifications_of
    assert clarifications_of(session_to_doc(s)) == shape
    with pytest.raises(InvalidTransition, match="cannot request_clarification: session is"
                       " reporting"):
        m.apply(s, m.RequestClarification(0, "B1", "再问"), 5)


# --- handover (交接) --------------------------------------------------------------------------

SEAL_TIME = 1798704000  # 2026-12-31 16:00 CST (a Thursday; 2027-01-01 is a holiday)


def sealed(seats: tuple[int, ...] = (3, 1, 1), now: int = SEAL_TIME) -> Session:
    s = locked(evaluating(seats))
    s, _ = run(s, m.StartReport(None), *[m.SignReport(i) for i in range(5)], m.Seal(), now=now)
    assert s.state is State.SEALED and s.sealed_at == now
    return s


def test_each_secondary_venue_hands_over_every_item_and_the_primary_acknowledges() -> None:
    s = sealed()
    frozen = session_to_doc(s)
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RecordHandover("sh-ggzy", ITEMS, ITEMS), 5)
    assert bad.value.field == "venue_id"
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RecordHandover("js-suzhou", ITEMS[:2], ITEMS), 5)
    assert bad.value.field == "items" and "回避声明" in str(bad.value)
    with pytest.raises(InvalidInput) as bad:
        m.apply(s, m.RecordHandover("js-suzhou", (*ITEMS, "U盘"), ITEMS), 5)
    assert bad.value.field == "items/3/item"
    with pytest.raises(Conflict, match="not recorded its handover"):
        m.apply(s, m.AcknowledgeHandover("js-suzhou"), 5)
    s, ev = run(s, m.RecordHandover("js-suzhou", ITEMS, ITEMS), now=SEAL_TIME + 60)
    assert [(e.type, e.payload) for e in ev] == [
        ("handover.recorded", {"venue_id": "js-suzhou", "items": list(ITEMS)})]
    with pytest.raises(Conflict, match="already"):
        m.apply(s, m.RecordHandover("js-suzhou", ITEMS, ITEMS), 5)
    s, ev = run(s, m.AcknowledgeHandover("js-suzhou"), now=SEAL_TIME + 120)
    assert ev[0].type == "handover.acknowledged"
    assert s.handovers[0].acknowledged_at == SEAL_TIME + 120
    # The sealed content is untouched: only the handover record beside it changed.
    after = session_to_doc(s)
    assert {k: v for k, v in after.items() if k != "handovers"} == {
        k: v for k, v in frozen.items() if k != "handovers"}
    assert session_from_doc(after) == s
    for c in (m.Pause("x"), m.Abort("x")):
        with pytest.raises(InvalidTransition):
            m.apply(s, c, 5)


def test_an_unacknowledged_handover_is_overdue_after_n_working_days_once() -> None:
    s = sealed()
    s, _ = run(s, m.RecordHandover("js-suzhou", ITEMS, ITEMS),
               m.AcknowledgeHandover("js-suzhou"), now=SEAL_TIME + 60)
    s, _ = run(s, m.RecordHandover("ah-hefei", ITEMS, ITEMS), now=SEAL_TIME + 60)
    flag = m.FlagHandoverOverdue(3, ("2027-01-01",))
    due = 1799251200  # Thu 2027-01-07 00:00 CST: Mon 4th, Tue 5th, Wed 6th counted
    with pytest.raises(Conflict, match="not overdue before 1799251200"):
        m.apply(s, flag, due - 1)
    s, ev = run(s, flag, now=due)
    assert [(e.type, e.payload) for e in ev] == [("handover.overdue", {
        "venues": [{"venue_id": "ah-hefei", "missing": "acknowledgement"}],
        "due": due, "sealed_at": SEAL_TIME,
        "rule": {"handover_days": 3, "holidays": ["2027-01-01"], "workdays": []}})]
    with pytest.raises(Conflict, match="no handover is overdue"):
        m.apply(s, flag, due + 86400)
    # Without the holiday the Friday counts: overdue a day earlier.
    fresh = sealed()
    _, ev = run(fresh, m.FlagHandoverOverdue(3), now=due - 86400)
    assert [v["missing"] for v in ev[0].payload["venues"]] == ["handover", "handover"]
