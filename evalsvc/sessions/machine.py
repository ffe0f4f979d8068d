"""The session lifecycle as a pure state machine: ``apply(session, command, now)``.

::

    draft ─open_draw→ drawing ─complete_draw→ ready ─start_check_in→ checking_in
      [check_in → accept_pledge → declare_interests, each seat; a conflict vacates
       the seat (the draw's next alternate is seated by assign_seat);
       open_election → cast_vote… → close_round (→ runoff) → leader]
      ─start_evaluation→ evaluating[qualification ─lock_qualification→
          (compliance ─lock_compliance→, with compliance criteria)
          scoring ─lock_scoring→ | split: technical ─lock_technical→ commercial ─lock_commercial→]
      aggregating ─start_report→ reporting
      [sign_report | record_dissent | record_refusal → confirm_deemed_agreement] ─seal→ sealed
      [record_handover (each secondary venue) → acknowledge_handover; flag_handover_overdue]

    evaluating | aggregating: request_clarification → record_clarification_answer
    drawing … aggregating (or paused from one): record_incident (a supervisor, 现场监督)
    aggregating | reporting: request_rereview(any locked stage) → decide_rereview →
      evaluating[that stage] … the stages after it lock again → aggregating

    any active state ─pause(reason)→ paused ─resume→ the state (and stage) it left
    any state but sealed/aborted ─abort(reason)→ aborted

    Faults by rule (the scheduler; docs/scoring.md "Faults by rule"):
    record_link_lost / record_link_restored (a secondary venue's link);
    apply_fault_rules: active ─(link lost ≥ N min)→ paused[venue_link_lost]
      ─(not resumed within the resume deadline)→ materials sealed, the absent venue's
      seats vacated, their sheets voided → checking_in (drawing, before check-in)
      ─(no start_evaluation by the hard limit)→ suspended (only abort remains)

A command the current state refuses raises :class:`~evalsvc.errors.InvalidTransition`
naming both (``cannot lock_scoring: session is checking_in``). Domain preconditions
(every seat filled, every expert's sheet in) raise :class:`~evalsvc.errors.Conflict`.
Returns the new session and the events to record, in order.
"""

from __future__ import annotations

__all__ = [
    "Abort",
    "AcceptPledge",
    "AcknowledgeHandover",
    "AddBid",
    "AddCriterion",
    "ApplyFaultRules",
    "AssignSeat",
    "CastVote",
    "CheckIn",
    "CloseRound",
    "Command",
    "CompleteDraw",
    "ConfirmDeemedAgreement",
    "CreateSession",
    "DecideDesignation",
    "DecideReReview",
    "DeclareInterests",
    "DesignateExperts",
    "Event",
    "ExplainDeviation",
    "FlagHandoverOverdue",
    "LockCommercial",
    "LockCompliance",
    "LockQualification",
    "LockScoring",
    "LockTechnical",
    "OpenDraw",
    "OpenElection",
    "Pause",
    "RecordClarificationAnswer",
    "RecordDissent",
    "RecordHandover",
    "RecordIncident",
    "RecordLinkLost",
    "RecordLinkRestored",
    "RecordRefusal",
    "RequestClarification",
    "RequestReReview",
    "Resume",
    "Seal",
    "SignReport",
    "StartCheckIn",
    "StartEvaluation",
    "StartReport",
    "SubmitSheet",
    "apply",
    "ballot_bytes",
    "bid_codes",
    "bid_doc",
    "codes_commitment",
    "command_name",
    "criterion_doc",
    "draw_lots",
    "fault_deadline",
    "lot_seed",
    "require_state",
    "state_label",
    "takes",
]

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import Conflict, InvalidInput, InvalidTransition
from evalsvc.sessions.handover import handover_due, parse_dates
from evalsvc.sessions.model import (
    ACTIVE_STATES,
    INCIDENT_CATEGORIES,
    REVIEW_STAGES,
    Ballot,
    Bid,
    Category,
    Clarification,
    Criterion,
    Election,
    Fault,
    FaultRules,
    FaultStep,
    Handover,
    Incident,
    Paused,
    ReReview,
    Seat,
    Session,
    Sheet,
    Stage,
    State,
    bid_to_doc,
    criterion_to_doc,
    stage_plan,
    with_bid,
    with_criterion,
)
from evalsvc.sessions.scoring import (
    aggregate,
    aggregation_to_doc,
    qualification_outcome,
    rejections_of,
)


@dataclass(frozen=True)
class Event:
    """Something that happened, as recorded in the session's event log."""

    type: str
    payload: dict[str, Any]


# --- commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateSession:
    """Register ``session`` (a new draft, built by :func:`evalsvc.sessions.model.new_session`)."""

    session: Session


@dataclass(frozen=True)
class AddBid:
    """Register one more bid while the session is a draft."""

    bid: Bid


@dataclass(frozen=True)
class AddCriterion:
    """Add one more evaluation criterion while the session is a draft."""

    criterion: Criterion


@dataclass(frozen=True)
class OpenDraw:
    """Close the draft and open the committee draw (bids, criteria and seats are fixed)."""


@dataclass(frozen=True)
class AssignSeat:
    """Seat an expert: a confirmed draw pick (``source="draw:<ceremony>"``, from the
    draw service), or an operator's proposal for a designation (``source="proposed"``),
    which holds nothing until a supervisor approves it (:class:`DecideDesignation`)."""

    seat: int
    expert_id: str
    expert_name: str
    source: str = "proposed"


@dataclass(frozen=True)
class DesignateExperts:
    """Ask that the proposed seats stand without a draw (the tenderer designates experts
    for a special project, 招标投标法 第37条; 评标委员会和评标方法暂行规定 第10条), with a
    written reason; nothing takes effect before a supervisor decides."""

    reason: str


@dataclass(frozen=True)
class DecideDesignation:
    """A supervisor approves or rejects the requested designation, with a reason."""

    approve: bool
    reason: str


@dataclass(frozen=True)
class CompleteDraw:
    """Every seat holds a confirmed expert: the committee is formed."""


@dataclass(frozen=True)
class StartCheckIn:
    """Open check-in at every venue."""


@dataclass(frozen=True)
class CheckIn:
    """A venue operator confirms the expert of ``seat`` is present (identity checked)."""

    seat: int


@dataclass(frozen=True)
class AcceptPledge:
    """The checked-in expert of ``seat`` accepts the integrity pledge (承诺书) of
    ``version``, whose text has SHA-256 ``sha256`` (评标委员会和评标方法暂行规定 第14条)."""

    seat: int
    version: str
    sha256: str


@dataclass(frozen=True)
class DeclareInterests:
    """The pledged expert of ``seat`` declares, bid by bidder, no conflict of interest
    or a conflict with its reason (回避声明; 招标投标法实施条例 第46条, 暂行规定 第12条).
    ``conflicts`` maps a bid id to its reason; every other bid of ``declared`` is
    declared free of conflict. A conflict vacates the seat."""

    seat: int
    declared: tuple[str, ...]  # every bid id, in the order declared
    conflicts: Mapping[str, str]


@dataclass(frozen=True)
class OpenElection:
    """Open the first round of the leader election (推选评标委员会负责人, 暂行规定 第13条):
    every seat checked in, pledged and declared. ``exclude``: seats that may not be
    elected (the tenderer's representatives, when the rules say so)."""

    exclude: tuple[int, ...] = ()


@dataclass(frozen=True)
class CastVote:
    """A member's sealed ballot for the open round: only ``commitment`` is published
    until the round closes (as a score sheet's, docs/audit.md "Sealed score sheets")."""

    seat: int
    candidate: int | None  # a seat; None: a blank ballot
    salt: str  # hex
    commitment: str


@dataclass(frozen=True)
class CloseRound:
    """Every member voted: open the ballots, count, elect or call the runoff."""


@dataclass(frozen=True)
class RecordRefusal:
    """After the signing deadline, the committee's written note that the member of
    ``seat`` neither signed nor stated a dissent (暂行规定 第43条)."""

    seat: int
    note: str


@dataclass(frozen=True)
class ConfirmDeemedAgreement:
    """A supervisor confirms the refusal of ``seat``: it is deemed to agree (视为同意)."""

    seat: int


@dataclass(frozen=True)
class RequestReReview:
    """The leader asks that the locked ``stage`` be re-reviewed by ``seats`` only, for an
    error found after the aggregation or in the report (a sum, a score out of range, an
    objective item scored differently; 评标委员会和评标方法暂行规定 / 各地复核规定)."""

    stage: Stage
    seats: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class DecideReReview:
    """A supervisor approves (the stage reopens for those seats) or rejects it."""

    approve: bool
    reason: str


@dataclass(frozen=True)
class RequestClarification:
    """The committee's leader (the member of ``seat``) records a question to the bidder
    of ``bid_id`` (澄清、说明、补正; 招标投标法 第39条, 暂行规定 第19条, 招标投标法实施
    条例 第52条: in writing, not beyond the bid's scope, not changing its substance)."""

    seat: int
    bid_id: str
    question: str


@dataclass(frozen=True)
class RecordClarificationAnswer:
    """The primary operator records the bidder's written answer to clarification ``id``
    (numbered from 1) and the SHA-256 (hex) of its attachment."""

    id: int
    answer: str
    attachment_sha256: str


@dataclass(frozen=True)
class RecordIncident:
    """A supervisor records an incident at ``venue_id`` (现场监督记录): its category (one
    of :data:`~evalsvc.sessions.model.INCIDENT_CATEGORIES`), what happened, and when it
    happened (unix seconds, not after the recording); ``actor`` is who records it.
    Recorded from the draw up to the report, which then lists them (fixed)."""

    venue_id: str
    category: str
    text: str
    occurred_at: int
    actor: str


@dataclass(frozen=True)
class RecordHandover:
    """After the seal, the operator of secondary venue ``venue_id`` records the
    handover of its materials (交接): ``items``, each confirmed, must be exactly the
    configured ``required`` items."""

    venue_id: str
    items: tuple[str, ...]
    required: tuple[str, ...]


@dataclass(frozen=True)
class AcknowledgeHandover:
    """The primary operator acknowledges receipt of ``venue_id``'s handover."""

    venue_id: str


@dataclass(frozen=True)
class FlagHandoverOverdue:
    """The scheduler: the venues whose handover is not acknowledged ``days`` working
    days after the seal (weekends and ``holidays`` excluded, ``workdays`` included,
    ISO dates) raise the ``handover.overdue`` alert, once each."""

    days: int
    holidays: tuple[str, ...] = ()
    workdays: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartEvaluation:
    """Every seat checked in: evaluation starts with the qualification stage.

    ``code_salt`` (hex, from the service's randomness): a 暗标 session's bid codes come
    from it; only its commitment is published now, the salt when the technical stage
    locks (docs/scoring.md "暗标")."""

    code_salt: str | None = None


@dataclass(frozen=True)
class LockQualification:
    """Close the qualification stage on the latest sheet of every seat."""

    sheets: tuple[Sheet, ...]  # the latest qualification sheet of each seat
    # What opens every sheet commitment of the stage: (seat, version, doc, salt,
    # signature) documents, published with the lock.
    openings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LockScoring:
    """Close the scoring stage and aggregate the latest sheet of every seat."""

    sheets: tuple[Sheet, ...]  # the latest scoring sheet of each seat
    openings: tuple[dict[str, Any], ...] = ()  # as LockQualification's


@dataclass(frozen=True)
class LockCompliance:
    """Close the compliance stage (符合性审查) on the latest sheet of every seat."""

    sheets: tuple[Sheet, ...]
    openings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LockTechnical:
    """Close the technical scoring stage (split stages)."""

    sheets: tuple[Sheet, ...]
    openings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LockCommercial:
    """Close the commercial scoring stage and aggregate: ``sheets`` holds the latest
    technical and commercial sheets of every seat."""

    sheets: tuple[Sheet, ...]
    openings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SubmitSheet:
    """A new version of ``sheet`` (its seat's), sealed: the event carries only the
    commitment to it (docs/audit.md "Sealed score sheets"), opened at the stage's lock."""

    sheet: Sheet
    version: int
    commitment: str


@dataclass(frozen=True)
class ExplainDeviation:
    """A member explains a score flagged as deviating from the committee's."""

    seat: int
    bid_id: str
    text: str


@dataclass(frozen=True)
class StartReport:
    """Every deviation explained: the committee drafts its report; members have
    ``sign_within`` seconds to sign or state a dissent (None: no deadline is set)."""

    sign_within: int | None = None


@dataclass(frozen=True)
class RecordDissent:
    """A member records a dissent, which becomes part of the report."""

    seat: int
    text: str


@dataclass(frozen=True)
class SignReport:
    seat: int
    # SHA-256 of the canonical report the seat signed (evalsvc.sessions.report) and the
    # verified signature record (evalsvc.pki.service) when the expert signed with a key.
    report_sha256: str | None = None
    signature: dict[str, Any] | None = None


@dataclass(frozen=True)
class Seal:
    """Every member signed the report: the session is sealed."""


@dataclass(frozen=True)
class Pause:
    """Stop the session where it is, for a stated reason."""

    reason: str


@dataclass(frozen=True)
class Resume:
    """Carry on from where the pause stopped the session."""


@dataclass(frozen=True)
class Abort:
    """End the session before its seal, for a stated reason."""

    reason: str


@dataclass(frozen=True)
class RecordLinkLost:
    """Secondary venue ``venue_id``'s link is gone: its agent and every one of its
    experts' sockets — since ``since`` (unix seconds, not after now; None: now), from
    which the scheduler's pause rule counts."""

    venue_id: str
    since: int | None = None


@dataclass(frozen=True)
class RecordLinkRestored:
    """Secondary venue ``venue_id``'s link is back (an agent or an expert connected)."""

    venue_id: str


@dataclass(frozen=True)
class ApplyFaultRules:
    """The scheduler: take whichever step of the venue-link rules is due now (pause,
    seal and re-form, suspend); 409 when none is."""

    rules: FaultRules


Command = (
    CreateSession
    | AddBid
    | AddCriterion
    | OpenDraw
    | AssignSeat
    | DesignateExperts
    | DecideDesignation
    | CompleteDraw
    | StartCheckIn
    | CheckIn
    | AcceptPledge
    | DeclareInterests
    | OpenElection
    | CastVote
    | CloseRound
    | StartEvaluation
    | LockQualification
    | LockCompliance
    | LockScoring
    | LockTechnical
    | LockCommercial
    | SubmitSheet
    | ExplainDeviation
    | StartReport
    | RecordDissent
    | SignReport
    | RecordRefusal
    | ConfirmDeemedAgreement
    | RequestReReview
    | DecideReReview
    | RequestClarification
    | RecordClarificationAnswer
    | RecordIncident
    | RecordHandover
    | AcknowledgeHandover
    | FlagHandoverOverdue
    | Seal
    | Pause
    | Resume
    | Abort
    | RecordLinkLost
    | RecordLinkRestored
    | ApplyFaultRules
)

_NAMES: dict[type[Any], str] = {
    CreateSession: "create_session",
    AddBid: "add_bid",
    AddCriterion: "add_criterion",
    OpenDraw: "open_draw",
    AssignSeat: "assign_seat",
    DesignateExperts: "designate_experts",
    DecideDesignation: "decide_designation",
    CompleteDraw: "complete_draw",
    StartCheckIn: "start_check_in",
    CheckIn: "check_in",
    AcceptPledge: "accept_pledge",
    DeclareInterests: "declare_interests",
    OpenElection: "open_election",
    CastVote: "cast_vote",
    CloseRound: "close_round",
    StartEvaluation: "start_evaluation",
    LockQualification: "lock_qualification",
    LockScoring: "lock_scoring",
    LockCompliance: "lock_compliance",
    LockTechnical: "lock_technical",
    LockCommercial: "lock_commercial",
    SubmitSheet: "submit_sheet",
    ExplainDeviation: "explain_deviation",
    StartReport: "start_report",
    RecordDissent: "record_dissent",
    SignReport: "sign_report",
    RecordRefusal: "record_refusal",
    ConfirmDeemedAgreement: "confirm_deemed_agreement",
    RequestReReview: "request_rereview",
    DecideReReview: "decide_rereview",
    RequestClarification: "request_clarification",
    RecordClarificationAnswer: "record_clarification_answer",
    RecordIncident: "record_incident",
    RecordHandover: "record_handover",
    AcknowledgeHandover: "acknowledge_handover",
    FlagHandoverOverdue: "flag_handover_overdue",
    Seal: "seal",
    Pause: "pause",
    Resume: "resume",
    Abort: "abort",
    RecordLinkLost: "record_link_lost",
    RecordLinkRestored: "record_link_restored",
    ApplyFaultRules: "apply_fault_rules",
}


def command_name(command: Command) -> str:
    """The wire name of a command (``lock_scoring``)."""
    return _NAMES[type(command)]


def state_label(s: Session) -> str:
    """``evaluating/scoring``-style label of where the session is."""
    return f"{s.state.value}/{s.stage.value}" if s.stage else s.state.value


def _refuse(s: Session, command: Command | str) -> InvalidTransition:
    name = command if isinstance(command, str) else command_name(command)
    return InvalidTransition(
        f"cannot {name}: session is {state_label(s)}", state=state_label(s), command=name
    )


def _require(s: Session, command: Command | str, state: State, stage: Stage | None = None) -> None:
    if s.state is not state or (stage is not None and s.stage is not stage):
        raise _refuse(s, command)


# Where each command may run: (state, stage or None for any); pause and abort are
# checked by their own rules in apply.
_WHERE: dict[str, tuple[State, Stage | None]] = {
    "add_bid": (State.DRAFT, None),
    "add_criterion": (State.DRAFT, None),
    "open_draw": (State.DRAFT, None),
    "assign_seat": (State.DRAWING, None),
    "designate_experts": (State.DRAWING, None),
    "decide_designation": (State.DRAWING, None),
    "complete_draw": (State.DRAWING, None),
    "start_check_in": (State.READY, None),
    "check_in": (State.CHECKING_IN, None),
    "accept_pledge": (State.CHECKING_IN, None),
    "declare_interests": (State.CHECKING_IN, None),
    "open_election": (State.CHECKING_IN, None),
    "cast_vote": (State.CHECKING_IN, None),
    "close_round": (State.CHECKING_IN, None),
    "start_evaluation": (State.CHECKING_IN, None),
    "lock_qualification": (State.EVALUATING, Stage.QUALIFICATION),
    "lock_scoring": (State.EVALUATING, Stage.SCORING),
    "lock_compliance": (State.EVALUATING, Stage.COMPLIANCE),
    "lock_technical": (State.EVALUATING, Stage.TECHNICAL),
    "lock_commercial": (State.EVALUATING, Stage.COMMERCIAL),
    "submit_sheet": (State.EVALUATING, None),
    "explain_deviation": (State.AGGREGATING, None),
    "start_report": (State.AGGREGATING, None),
    "record_dissent": (State.REPORTING, None),
    "sign_report": (State.REPORTING, None),
    "record_refusal": (State.REPORTING, None),
    "confirm_deemed_agreement": (State.REPORTING, None),
    "seal": (State.REPORTING, None),
    "resume": (State.PAUSED, None),
    # After the seal only the handover runs; it never touches the sealed content.
    "record_handover": (State.SEALED, None),
    "acknowledge_handover": (State.SEALED, None),
    "flag_handover_overdue": (State.SEALED, None),
}


# Commands that may run in more than one state.
_WHERE_ANY: dict[str, frozenset[State]] = {
    "request_rereview": frozenset({State.AGGREGATING, State.REPORTING}),
    "decide_rereview": frozenset({State.AGGREGATING, State.REPORTING}),
    # During the evaluation, up to the report (which then lists them, fixed).
    "request_clarification": frozenset({State.EVALUATING, State.AGGREGATING}),
    "record_clarification_answer": frozenset({State.EVALUATING, State.AGGREGATING}),
    # Venue links are watched while the session runs, paused or not; a link that
    # comes back is noted even after a suspension (the record says when).
    "record_link_lost": ACTIVE_STATES | {State.PAUSED},
    "record_link_restored": ACTIVE_STATES | {State.PAUSED, State.SUSPENDED},
    "apply_fault_rules": ACTIVE_STATES | {State.PAUSED},
    # From the draw up to the report (which lists them, fixed, and is signed); also
    # while paused from one of these states — a fault is when incidents happen.
    "record_incident": frozenset({State.DRAWING, State.READY, State.CHECKING_IN,
                                  State.EVALUATING, State.AGGREGATING, State.PAUSED}),
}


def require_state(s: Session, name: str) -> None:
    """Refuse command ``name`` unless ``s`` is where it may run (InvalidTransition
    naming both) — for a check made before the command's inputs are gathered."""
    if name in _WHERE_ANY:
        if s.state not in _WHERE_ANY[name] or (
                s.state is State.PAUSED
                and (s.paused is None or s.paused.from_state not in _WHERE_ANY[name])):
            raise _refuse(s, name)
        return
    state, stage = _WHERE[name]
    _require(s, name, state, stage)


def takes(s: Session, name: str) -> bool:
    """Whether ``s`` is in a state where command ``name`` may run (its own rules aside)."""
    try:
        require_state(s, name)
    except InvalidTransition:
        return False
    return True


def bid_doc(b: Bid) -> dict[str, Any]:
    """A bid as events and responses show it (with its principals: recusal inputs; its
    provenance, if any, is redacted for all but supervisors by access.redact_event)."""
    return bid_to_doc(b)


def criterion_doc(c: Criterion) -> dict[str, Any]:
    """A criterion as events and responses show it."""
    return criterion_to_doc(c)


def _opened(stage: Stage, openings: Sequence[dict[str, Any]]) -> list[Event]:
    # The lock discloses what opens every commitment of the stage, so that anyone holding
    # the log can check each locked sheet is the one committed before the lock.
    if not openings:
        return []
    return [Event("sheets.opened", {"stage": stage.value, "sheets": list(openings)})]


def _moved(old: Session, new: Session, **extra: Any) -> Event:
    return Event(
        "session.state_changed",
        {"from": state_label(old), "to": state_label(new), **extra},
    )


def _seat(s: Session, index: int) -> None:
    if not 0 <= index < len(s.seats):
        raise InvalidInput(f"no seat {index}: the committee has {len(s.seats)} seats", field="seat")


def _all_sheets(s: Session, sheets: Sequence[Sheet], stage: Stage) -> None:
    have = {x.seat for x in sheets if x.stage is stage}
    missing = [x.index for x in s.seats if x.index not in have]
    if missing:
        raise Conflict(
            f"cannot lock {stage.value}: no sheet yet from seat(s) {', '.join(map(str, missing))}"
        )


def codes_commitment(session_id: str, salt: str) -> str:
    """SHA-256 (hex) committing to a 暗标 session's code salt (docs/scoring.md "暗标")."""
    return hashlib.sha256(
        canonical_bytes({"session": session_id, "salt": salt, "what": "bid-codes"})).hexdigest()


def bid_codes(session_id: str, salt: str, bid_ids: Sequence[str]) -> dict[str, str]:
    """Bid id → 暗标编号 (``A01``, ``A02`` …): the bids ordered by HMAC-SHA256(salt,
    session id ‖ 0x00 ‖ bid id), numbered in that order — a permutation nobody can
    predict before the salt is opened, which anyone can recompute after."""
    key = bytes.fromhex(salt)
    order = sorted(
        bid_ids,
        key=lambda b: hmac.new(key, f"{session_id}\0{b}".encode(), "sha256").digest())
    return {b: f"A{i + 1:02d}" for i, b in enumerate(order)}


def _next_stage(s: Session, stage: Stage) -> Stage:
    plan = stage_plan(s)
    return plan[plan.index(stage) + 1]


def _lock_review(s: Session, stage: Stage, sheets: Sequence[Sheet],
                 openings: Sequence[dict[str, Any]]) -> tuple[Session, list[Event]]:
    """Lock a pass/fail stage (资格审查 / 符合性审查, 暂行规定 第19-23条): a bid the committee
    fails is out of every later stage, with each member's reason for each failed item."""
    assert stage in REVIEW_STAGES
    mine = [x for x in sheets if x.stage is stage]
    before = {r.bid_id for r in s.rejections if r.stage is stage}
    if s.stage_criteria(stage):
        _all_sheets(s, mine, stage)
        passed = qualification_outcome(s, mine, stage)
        rejected = rejections_of(s, mine, stage, passed)
    else:
        passed = tuple(b.id for b in s.bids) if stage is Stage.QUALIFICATION else (
            s.qualified if s.qualified is not None else tuple(b.id for b in s.bids))
        rejected = ()
    # Stages after this one are decided again (a re-review of this one may change them).
    later = set(stage_plan(s)[stage_plan(s).index(stage) + 1:])
    kept = tuple(r for r in s.rejections if r.stage is not stage and r.stage not in later)
    new = replace(s, stage=_next_stage(s, stage), qualified=passed,
                  rejections=(*kept, *rejected))
    failed = [r.bid_id for r in rejected] if stage is Stage.COMPLIANCE else [
        b.id for b in s.bids if b.id not in passed]
    locked: dict[str, Any] = {"stage": stage.value, "qualified": list(passed), "failed": failed}
    if rejected:
        locked["rejected"] = [{"bid_id": r.bid_id, "reasons": [
            {"criterion_id": c, "reason": why} for c, why in r.reasons]} for r in rejected]
    everyone = tuple(x.index for x in s.seats)
    if (s.rereview is not None and before != {r.bid_id for r in rejected}
            and s.rereview.seats != everyone):
        # The bids under review changed: every member reviews the later stages again.
        widened = replace(s.rereview, seats=everyone)
        new = replace(new, rereview=widened)
        locked["rereview_widened"] = list(widened.seats)
    return new, [*_opened(stage, openings), Event("stage.locked", locked), _moved(s, new)]


def apply(s: Session, command: Command, now: int) -> tuple[Session, list[Event]]:
    """Apply one command at time ``now`` (unix seconds); see the module docstring."""
    if isinstance(command, AssignSeat) and s.state is State.CHECKING_IN:
        # A seat vacated by a recusal takes the draw's next alternate (补抽).
        _seat(s, command.seat)
        if s.seats[command.seat].expert_id is not None or not _DRAWN.fullmatch(command.source):
            raise InvalidTransition(
                f"cannot assign_seat: session is checking_in and seat {command.seat} is not"
                " vacated by a recusal (only the draw's alternate may fill it)",
                state=state_label(s), command="assign_seat")
    elif not isinstance(command, (CreateSession, Pause, Abort)):
        require_state(s, command_name(command))
    match command:
        case CreateSession(new):
            events = [
                Event(
                    "session.created",
                    {
                        "title": new.title,
                        "tenderer": new.tenderer,
                        # The tender's recusal inputs (docs/draw.md §6.1), on the record
                        # from the start; masked like the rest of the project (四不知).
                        "tender_number": new.tender_number,
                        "tenderer_uscc": new.tenderer_uscc,
                        "supervising_departments": [
                            {"name": o.name, "uscc": o.uscc}
                            for o in new.supervising_departments
                        ],
                        "method": new.method.value,
                        "venues": [v.id for v in new.venues],
                    },
                )
            ]
            events += [Event("bid.added", {"bid": bid_doc(b)}) for b in new.bids]
            events += [
                Event("criterion.added", {"criterion": criterion_doc(c)}) for c in new.criteria
            ]
            return new, events
        case AddBid(bid):
            return with_bid(s, bid), [Event("bid.added", {"bid": bid_doc(bid)})]
        case AddCriterion(c):
            return with_criterion(s, c), [Event("criterion.added", {"criterion": criterion_doc(c)})]
        case SubmitSheet(sheet, version, commitment):
            if sheet.stage is not s.stage:
                raise InvalidInput(
                    f"the session is in stage {s.stage.value if s.stage else '-'}, "
                    f"not {sheet.stage.value}",
                    field="stage",
                )
            if s.rereview is not None and sheet.seat not in s.rereview.seats:
                raise Conflict(
                    f"the {sheet.stage.value} stage is reopened for seat(s)"
                    f" {', '.join(map(str, s.rereview.seats))} only (re-review)")
            submitted = {
                "seat": sheet.seat,
                "stage": sheet.stage.value,
                "version": version,
                "commitment": commitment,
            }
            return s, [Event("sheet.submitted", submitted)]
        case OpenDraw():
            problems = _draft_problems(s) + _committee_problems(len(s.seats))
            if problems:
                raise Conflict("cannot open the draw: " + "; ".join(problems))
            new = replace(s, state=State.DRAWING)
            return new, [_moved(s, new)]
        case AssignSeat(seat, expert_id, expert_name, source):
            _seat(s, seat)
            if not expert_id.strip() or not expert_name.strip():
                raise InvalidInput("expert_id and expert_name must not be empty", field="expert_id")
            if source != "proposed" and not _DRAWN.fullmatch(source):
                raise InvalidInput(f"unknown seat source {source!r}", field="source")
            holder = s.seat_of(expert_id)
            if holder is not None and holder.index != seat:
                raise Conflict(f"expert {expert_id} already holds seat {holder.index}")
            if source == "proposed" and s.seats[seat].source not in (None, "proposed"):
                raise Conflict(f"seat {seat} is {s.seats[seat].source}: it cannot be"
                               " proposed again")
            seats = tuple(
                replace(x, expert_id=expert_id, expert_name=expert_name, source=source)
                if x.index == seat else x
                for x in s.seats
            )
            venue = s.seats[seat].venue_id
            assigned = {
                "seat": seat,
                "venue_id": venue,
                "expert_id": expert_id,
                "expert_name": expert_name,
            }
            if source == "proposed":
                assigned["proposed"] = True  # a designation's draft, not yet a member
            return replace(s, seats=seats), [Event("seat.assigned", assigned)]
        case DesignateExperts(reason):
            if not reason.strip():
                raise InvalidInput("a designation needs a written reason", field="reason")
            proposed = [x.index for x in s.seats if x.source == "proposed"]
            if not proposed:
                raise Conflict("no proposed seat to designate: assign_seat first")
            seats = tuple(replace(x, source="requested") if x.source == "proposed" else x
                          for x in s.seats)
            return replace(s, seats=seats), [
                Event("designation.requested", {"seats": proposed, "reason": reason})]
        case DecideDesignation(approve, reason):
            if not reason.strip():
                raise InvalidInput("a decision on a designation needs a reason", field="reason")
            requested = [x.index for x in s.seats if x.source == "requested"]
            if not requested:
                raise Conflict("no designation is waiting for a decision")
            seats = tuple(
                (replace(x, source="designated") if approve else
                 replace(x, expert_id=None, expert_name=None, source=None))
                if x.source == "requested" else x
                for x in s.seats
            )
            kind = "designation.approved" if approve else "designation.rejected"
            return replace(s, seats=seats), [Event(kind, {"seats": requested, "reason": reason})]
        case CompleteDraw():
            empty = [x.index for x in s.seats if x.expert_id is None]
            if empty:
                raise Conflict(
                    f"cannot complete the draw: seat(s) {', '.join(map(str, empty))} empty"
                )
            # A committee comes from a recorded draw or an approved designation, never
            # from hand-picked seats (招标投标法 第37条: 一般招标项目可以采取随机抽取方式).
            unsourced = [f"{x.index} ({x.source or 'no source'})" for x in s.seats
                         if x.source != "designated" and not _DRAWN.fullmatch(x.source or "")]
            if unsourced:
                raise Conflict(
                    "cannot complete the draw: seat(s) " + ", ".join(unsourced) + " hold no"
                    " drawn or supervisor-approved designated expert")
            problems = _committee_problems(len(s.seats))
            if problems:
                raise Conflict("cannot complete the draw: " + "; ".join(problems))
            new = replace(s, state=State.READY)
            return new, [_moved(s, new)]
        case StartCheckIn():
            new = replace(s, state=State.CHECKING_IN)
            return new, [_moved(s, new)]
        case CheckIn(seat):
            _seat(s, seat)
            if s.seats[seat].checked_in:
                raise Conflict(f"seat {seat} is already checked in")
            if s.seats[seat].expert_id is None:
                raise Conflict(f"seat {seat} is vacant (a recusal): its alternate is not"
                               " seated yet")
            seats = tuple(replace(x, checked_in=True) if x.index == seat else x for x in s.seats)
            return replace(s, seats=seats), [
                Event("expert.checked_in", {"seat": seat, "venue_id": s.seats[seat].venue_id})
            ]
        case AcceptPledge(seat, version, digest):
            _seat(s, seat)
            x = s.seats[seat]
            if not x.checked_in:
                raise Conflict(f"seat {seat} is not checked in: the pledge comes after check-in")
            if x.pledged is not None:
                raise Conflict(f"seat {seat} has already accepted the pledge")
            seats = tuple(replace(y, pledged=digest) if y.index == seat else y for y in s.seats)
            return replace(s, seats=seats), [Event("pledge.accepted", {
                "seat": seat, "venue_id": x.venue_id, "version": version, "sha256": digest})]
        case DeclareInterests(seat, declared, conflicts):
            _seat(s, seat)
            x = s.seats[seat]
            if x.pledged is None:
                raise Conflict(f"seat {seat} must accept the pledge before declaring interests")
            if x.declared:
                raise Conflict(f"seat {seat} has already declared its interests")
            _check_declaration(s, declared, conflicts)
            if not conflicts:
                seats = tuple(replace(y, declared=True) if y.index == seat else y
                              for y in s.seats)
                return replace(s, seats=seats), [Event("interests.declared", {
                    "seat": seat, "venue_id": x.venue_id, "bids": list(declared),
                    "conflict": False})]
            # 回避: the member leaves; the seat waits for the draw's next alternate.
            assert x.expert_id is not None
            conflicting = tuple(b for b in declared if b in conflicts)
            seats = tuple(Seat(index=y.index, venue_id=y.venue_id) if y.index == seat else y
                          for y in s.seats)
            return replace(
                s, seats=seats, recusals=(*s.recusals, (seat, x.expert_id, conflicting))
            ), [
                Event("interests.declared", {
                    "seat": seat, "venue_id": x.venue_id, "bids": list(declared),
                    "conflict": True,
                    "conflicts": [{"bid_id": b, "reason": conflicts[b]} for b in conflicting]}),
                Event("seat.vacated", {
                    "seat": seat, "venue_id": x.venue_id, "expert_id": x.expert_id,
                    "expert_name": x.expert_name, "reason": "recusal"}),
            ]
        case OpenElection(exclude):
            _ready_for_election(s)
            if s.leader is not None:
                raise Conflict(f"the committee has elected its leader (seat {s.leader})")
            if s.election is not None:
                raise Conflict(f"round {s.election.round} of the election is open")
            for e in exclude:
                _seat(s, e)
            candidates = tuple(x.index for x in s.seats if x.index not in exclude)
            if not candidates:
                raise Conflict("no seat may be elected: every seat is excluded")
            election = Election(round=1, candidates=candidates)
            return replace(s, election=election), [Event("election.opened", {
                "round": 1, "candidates": list(candidates), "excluded": sorted(exclude),
                "members": len(s.seats)})]
        case CastVote(seat, candidate, salt, commitment):
            _seat(s, seat)
            el = s.election
            if el is None:
                raise Conflict("no election round is open")
            if any(b.seat == seat for b in el.ballots):
                raise Conflict(f"seat {seat} has already voted in round {el.round}")
            if candidate is not None and candidate not in el.candidates:
                raise InvalidInput(
                    f"seat {candidate} is not a candidate of round {el.round}; candidates:"
                    f" {', '.join(map(str, el.candidates))} (or null for a blank ballot)",
                    field="candidate")
            ballot = Ballot(seat, candidate, salt, commitment)
            return replace(s, election=replace(el, ballots=(*el.ballots, ballot))), [
                Event("vote.cast", {"round": el.round, "seat": seat, "commitment": commitment})]
        case CloseRound():
            return _close_round(s)
        case StartEvaluation():
            absent = [x.index for x in s.seats if not x.checked_in]
            if absent:
                raise Conflict(
                    f"cannot start evaluation: seat(s) {', '.join(map(str, absent))} not checked in"
                )
            _ready_for_election(s, "start evaluation")
            if s.leader is None:
                raise Conflict("cannot start evaluation: the committee has not elected its"
                               " leader (open_election, cast_vote, close_round)")
            if not s.anonymous:
                new = replace(s, state=State.EVALUATING, stage=Stage.QUALIFICATION,
                              fault=None)  # a re-formed committee: the fault is over
                return new, [_moved(s, new)]
            code_salt = command.code_salt
            if code_salt is None or not re.fullmatch(r"[0-9a-f]{32,64}", code_salt):
                raise InvalidInput("a 暗标 session needs the codes' salt: 32-64 hex digits",
                                   field="code_salt")
            new = replace(s, state=State.EVALUATING, stage=Stage.QUALIFICATION,
                          code_salt=code_salt, fault=None)
            return new, [Event("codes.committed", {
                "commitment": codes_commitment(s.id, code_salt), "bids": len(s.bids)}),
                _moved(s, new)]
        case LockQualification(sheets, openings) | LockCompliance(sheets, openings):
            return _lock_review(s, s.stage or Stage.QUALIFICATION, sheets, openings)
        case LockTechnical(sheets, openings):
            _all_sheets(s, sheets, Stage.TECHNICAL)
            new = replace(s, stage=Stage.COMMERCIAL)
            events = [*_opened(Stage.TECHNICAL, openings),
                      Event("stage.locked", {"stage": "technical"})]
            if s.anonymous and s.code_salt is not None:
                # 暗标: the technical review is over; the codes are opened so that anyone
                # can check them against the commitment made at the start.
                codes = bid_codes(s.id, s.code_salt, [b.id for b in s.bids])
                events.append(Event("codes.opened", {
                    "salt": s.code_salt,
                    "codes": {code: bid for bid, code in sorted(codes.items(),
                                                                key=lambda kv: kv[1])}}))
            return new, [*events, _moved(s, new)]
        case LockScoring(sheets, openings) | LockCommercial(sheets, openings):
            stage = s.stage or Stage.SCORING
            _all_sheets(s, sheets, stage)
            if stage is Stage.COMMERCIAL:
                _all_sheets(s, sheets, Stage.TECHNICAL)
            result = aggregate(s, sheets)
            pending = tuple(sorted({(d.seat, d.bid_id) for d in result.deviations}))
            new = replace(s, state=State.AGGREGATING, stage=None, pending_explanations=pending)
            locked: dict[str, Any] = {"stage": stage.value, "result": aggregation_to_doc(result)}
            if s.rereview is not None:
                # The re-review is done: the earlier result stays in the log (its
                # stage.locked event), this one supersedes it.
                new = replace(new, rereview=None, rereviews=(*s.rereviews, s.rereview))
                locked["rereview"] = {"seats": list(s.rereview.seats),
                                      "reason": s.rereview.reason, "round": len(new.rereviews)}
            return new, [
                *_opened(stage, openings),
                Event("stage.locked", locked),
                _moved(s, new),
            ]
        case RequestReReview(stage, seats, reason):
            plan = stage_plan(s)
            if stage not in plan:
                raise InvalidInput(
                    f"this session has no {stage.value} stage; its stages:"
                    f" {', '.join(x.value for x in plan)}", field="stage")
            if s.rereview is not None:
                raise Conflict("a re-review is already requested")
            if not seats:
                raise InvalidInput("name the seats whose sheets are re-reviewed", field="seats")
            for named in seats:
                _seat(s, named)
            if len(set(seats)) != len(seats):
                raise InvalidInput("a seat is named twice", field="seats")
            if not reason.strip():
                raise InvalidInput("a re-review needs its reason", field="reason")
            request = ReReview(stage, tuple(sorted(seats)), reason)
            return replace(s, rereview=request), [Event("rereview.requested", {
                "stage": stage.value, "seats": list(request.seats), "reason": reason})]
        case DecideReReview(approve, reason):
            r = s.rereview
            if r is None or r.approved:
                raise Conflict("no re-review is waiting for a decision")
            if not reason.strip():
                raise InvalidInput("a decision on a re-review needs a reason", field="reason")
            if not approve:
                return replace(s, rereview=None), [Event("rereview.rejected", {
                    "stage": r.stage.value, "seats": list(r.seats), "reason": reason})]
            # The stage reopens for the named seats; everything signed or noted about
            # the old report goes (it will change), and stays in the log.
            new = replace(
                s, state=State.EVALUATING, stage=r.stage, pending_explanations=(),
                rereview=replace(r, approved=True, decision=reason), signed=(), deemed=(),
                refusals=(), sign_deadline=None)
            events = [Event("rereview.approved", {
                "stage": r.stage.value, "seats": list(r.seats), "reason": r.reason,
                "decision": reason})]
            if s.signed or s.deemed:
                events.append(Event("report.signatures_cleared", {
                    "seats": sorted({*s.signed, *s.deemed}), "reason": "rereview"}))
            return new, [*events, _moved(s, new)]
        case ExplainDeviation(seat, bid_id, text):
            if (seat, bid_id) not in s.pending_explanations:
                raise Conflict(f"seat {seat} has no deviation to explain for bid {bid_id}")
            if not text.strip():
                raise InvalidInput("the explanation must not be empty", field="text")
            return replace(
                s,
                pending_explanations=tuple(
                    p for p in s.pending_explanations if p != (seat, bid_id)
                ),
                explanations=(*s.explanations, (seat, bid_id, text)),
            ), [Event("deviation.explained", {"seat": seat, "bid_id": bid_id, "text": text})]
        case StartReport(sign_within):
            if s.pending_explanations:
                waiting = ", ".join(f"seat {a} on {b}" for a, b in s.pending_explanations)
                raise Conflict(f"cannot start the report: deviations not yet explained ({waiting})")
            unanswered = [str(i + 1) for i, c in enumerate(s.clarifications) if c.answer is None]
            if unanswered:
                # The report lists every clarification with its answer and is fixed
                # once started (members sign its bytes).
                raise Conflict("cannot start the report: clarification(s)"
                               f" {', '.join(unanswered)} not yet answered")
            if sign_within is not None and sign_within < 0:
                raise InvalidInput("the signing window must not be negative", field="sign_within")
            deadline = now + sign_within if sign_within is not None else None
            new = replace(s, state=State.REPORTING, sign_deadline=deadline,
                          report_faults=len(s.fault_log))
            extra = {"sign_deadline": deadline} if deadline is not None else {}
            return new, [_moved(s, new, **extra)]
        case RecordRefusal(seat, note):
            _seat(s, seat)
            if seat in s.signed or seat in s.deemed:
                raise Conflict(f"seat {seat} has signed or is deemed to agree already")
            if any(a == seat for a, _ in s.dissents):
                raise Conflict(f"seat {seat} stated a dissent: it is not deemed to agree"
                               " (暂行规定 第43条); it must sign under its dissent")
            if any(a == seat for a, _ in s.refusals):
                raise Conflict(f"the refusal of seat {seat} is recorded already")
            if s.sign_deadline is None or now < s.sign_deadline:
                raise Conflict(f"seat {seat} may still sign: the signing deadline"
                               f" ({s.sign_deadline if s.sign_deadline is not None else 'none'})"
                               " has not passed")
            if not note.strip():
                raise InvalidInput("the committee's written note must not be empty", field="note")
            return replace(s, refusals=(*s.refusals, (seat, note))), [
                Event("report.refusal_recorded", {"seat": seat, "note": note})]
        case ConfirmDeemedAgreement(seat):
            _seat(s, seat)
            recorded = next((t for a, t in s.refusals if a == seat), None)
            if recorded is None:
                raise Conflict(f"no refusal of seat {seat} is recorded to confirm")
            if seat in s.deemed:
                raise Conflict(f"seat {seat} is deemed to agree already")
            events = [Event("report.deemed_agreed", {"seat": seat, "note": recorded})]
            if s.signed:
                # The committee's note is part of the report (its deemed agreements): as
                # with a dissent, the signatures given so far are over a report without
                # it, so they no longer stand and must be given again.
                events.append(Event("report.signatures_cleared", {
                    "seats": list(s.signed), "reason": "deemed_agreement", "by_seat": seat}))
            return replace(s, deemed=(*s.deemed, seat), signed=()), events
        case RecordDissent(seat, text):
            _seat(s, seat)
            if seat in s.signed:
                raise Conflict(f"seat {seat} has already signed the report")
            if seat in s.deemed:
                raise Conflict(f"seat {seat} is deemed to agree (视为同意): it can no longer"
                               " dissent")
            if not text.strip():
                raise InvalidInput("the dissent must not be empty", field="text")
            events = [Event("dissent.recorded", {"seat": seat, "text": text})]
            if s.signed:
                # The dissent is part of the report: the signatures given so far are over
                # a report without it, so they no longer stand and must be given again.
                events.append(
                    Event(
                        "report.signatures_cleared",
                        {"seats": list(s.signed), "reason": "dissent", "by_seat": seat},
                    )
                )
            return replace(s, dissents=(*s.dissents, (seat, text)), signed=()), events
        case SignReport(seat, digest, signature):
            _seat(s, seat)
            if seat in s.signed:
                raise Conflict(f"seat {seat} has already signed the report")
            if seat in s.deemed:
                raise Conflict(f"seat {seat} is deemed to agree (视为同意) already")
            payload: dict[str, Any] = {"seat": seat}
            if digest is not None:
                payload["report_sha256"] = digest
            if signature is not None:
                payload["signature"] = signature
            # A member who signs late withdraws the committee's note on the refusal.
            refusals = tuple(r for r in s.refusals if r[0] != seat)
            return replace(s, signed=(*s.signed, seat), refusals=refusals), [
                Event("report.signed", payload)]
        case Seal():
            if s.rereview is not None:
                raise Conflict("cannot seal: a re-review is waiting for a supervisor's decision")
            unsigned = [x.index for x in s.seats
                        if x.index not in s.signed and x.index not in s.deemed]
            if unsigned:
                raise Conflict(
                    f"cannot seal: seat(s) {', '.join(map(str, unsigned))} have not signed"
                    " and are not deemed to agree"
                )
            new = replace(s, state=State.SEALED, sealed_at=now)
            return new, [_moved(s, new)]
        case RequestClarification(seat, bid_id, question):
            _seat(s, seat)
            if s.leader != seat:
                raise Conflict(f"seat {seat} is not the committee's leader: the leader"
                               " records the committee's questions")
            asked = s.bid(bid_id)
            if asked is None:
                raise InvalidInput(f"no bid {bid_id!r} in this session", field="bid_id")
            if not question.strip():
                raise InvalidInput("the question must not be empty", field="question")
            q = Clarification(asked.id, asked.bidder, question)
            return replace(s, clarifications=(*s.clarifications, q)), [
                Event("clarification.requested", {
                    "id": len(s.clarifications) + 1, "bid_id": asked.id, "bidder": asked.bidder,
                    "question": question, "seat": seat})]
        case RecordClarificationAnswer(number, answer, attachment):
            if not 1 <= number <= len(s.clarifications):
                raise InvalidInput(f"no clarification {number}: {len(s.clarifications)}"
                                   " recorded (numbered from 1)", field="id")
            q = s.clarifications[number - 1]
            if q.answer is not None:
                raise Conflict(f"clarification {number} is answered already")
            if not answer.strip():
                raise InvalidInput("the answer must not be empty", field="answer")
            if not _SHA256.fullmatch(attachment):
                raise InvalidInput("attachment_sha256: expected 64 hexadecimal digits"
                                   f" (SHA-256), got {attachment[:80]!r}",
                                   field="attachment_sha256")
            digest = attachment.lower()
            answered = replace(q, answer=answer, attachment_sha256=digest)
            items = tuple(answered if i == number - 1 else x
                          for i, x in enumerate(s.clarifications))
            return replace(s, clarifications=items), [Event("clarification.answered", {
                "id": number, "bid_id": q.bid_id, "answer": answer,
                "attachment_sha256": digest})]
        case RecordIncident(venue_id, category, text, occurred_at, actor):
            if s.venue(venue_id) is None:
                raise InvalidInput(f"venue {venue_id!r} does not take part in this session",
                                   field="venue_id")
            if category not in INCIDENT_CATEGORIES:
                raise InvalidInput(f"category must be one of {', '.join(INCIDENT_CATEGORIES)},"
                                   f" got {category!r}", field="category")
            if not text.strip():
                raise InvalidInput("the incident's text must not be empty", field="text")
            if occurred_at > now:
                raise InvalidInput(f"occurred_at is in the future ({occurred_at} > now {now}):"
                                   " record an incident once it happened", field="occurred_at")
            # (A minute's slack: a time typed to the minute in the session's first minute.)
            if occurred_at < s.created_at - 60:
                raise InvalidInput(f"occurred_at ({occurred_at}) is before the session was"
                                   f" registered ({s.created_at})", field="occurred_at")
            incident = Incident(venue_id, category, text, occurred_at, now, actor)
            return replace(s, incidents=(*s.incidents, incident)), [Event("incident.recorded", {
                "id": len(s.incidents) + 1, "venue_id": venue_id, "category": category,
                "text": text, "occurred_at": occurred_at})]
        case RecordHandover(venue_id, items, required):
            _secondary(s, venue_id)
            h = _handover(s, venue_id)
            if h.recorded_at is not None:
                raise Conflict(f"venue {venue_id} has recorded its handover already")
            _check_items(items, required)
            new_h = replace(h, items=tuple(items), recorded_at=now)
            return _with_handover(s, new_h), [Event("handover.recorded", {
                "venue_id": venue_id, "items": list(items)})]
        case AcknowledgeHandover(venue_id):
            _secondary(s, venue_id)
            h = _handover(s, venue_id)
            if h.recorded_at is None:
                raise Conflict(f"venue {venue_id} has not recorded its handover yet")
            if h.acknowledged_at is not None:
                raise Conflict(f"the handover of venue {venue_id} is acknowledged already")
            return _with_handover(s, replace(h, acknowledged_at=now)), [
                Event("handover.acknowledged", {"venue_id": venue_id, "items": list(h.items)})]
        case FlagHandoverOverdue(days, holidays, workdays):
            if s.sealed_at is None:
                raise Conflict("the session was sealed before its seal time was recorded:"
                               " no handover deadline")
            due = handover_due(
                s.sealed_at, days, holidays=parse_dates(holidays, field="holidays"),
                workdays=parse_dates(workdays, field="workdays"))
            if now < due:
                raise Conflict(f"the handover is not overdue before {due}")
            late = [h for v in s.venues if not v.primary
                    if not (h := _handover(s, v.id)).overdue and h.acknowledged_at is None]
            if not late:
                raise Conflict("no handover is overdue")
            new = s
            for h in late:
                new = _with_handover(new, replace(h, overdue=True))
            return new, [Event("handover.overdue", {
                "venues": [{"venue_id": h.venue_id,
                            "missing": "acknowledgement" if h.recorded_at is not None
                            else "handover"} for h in late],
                "due": due, "sealed_at": s.sealed_at,
                "rule": {"handover_days": days, "holidays": sorted(holidays),
                         "workdays": sorted(workdays)}})]
        case Pause(reason):
            if s.state not in ACTIVE_STATES:
                raise _refuse(s, command)
            if not reason.strip():
                raise InvalidInput("a pause needs a reason", field="reason")
            new = replace(
                s,
                state=State.PAUSED,
                stage=None,
                paused=Paused(from_state=s.state, from_stage=s.stage, reason=reason),
            )
            return new, [_moved(s, new, reason=reason)]
        case Resume():
            assert s.paused is not None
            if s.fault is not None and not s.fault.reformed:
                v = s.fault.venue_id
                if any(lost == v for lost, _ in s.links_lost):
                    raise Conflict(f"cannot resume: the link of venue {v} is still lost"
                                   " (its agent or one of its experts must be connected)")
            # A fault pause ends with its resume; a re-formed committee's hard limit
            # runs on through a pause by hand (until start_evaluation).
            reformed = s.fault is not None and s.fault.reformed
            new = replace(s, state=s.paused.from_state, stage=s.paused.from_stage, paused=None,
                          fault=s.fault if reformed else None)
            if s.fault is not None and not reformed:
                new = _logged(new, FaultStep("resumed", now, s.fault.venue_id))
                return new, [_moved(s, new, venue_id=s.fault.venue_id,
                                    fault_paused_at=s.fault.paused_at)]
            return new, [_moved(s, new)]
        case RecordLinkLost(venue_id, since):
            _secondary(s, venue_id, "a venue link")
            if any(v == venue_id for v, _ in s.links_lost):
                raise Conflict(f"the link of venue {venue_id} is lost already")
            if since is not None and since > now:
                raise InvalidInput(f"a link is lost since a time not after now ({now}),"
                                   f" got {since}", field="since")
            went = now if since is None else since
            return _logged(replace(s, links_lost=(*s.links_lost, (venue_id, went))),
                           FaultStep("link_lost", went, venue_id)), [
                Event("venue.link_lost", {"venue_id": venue_id, "since": went})]
        case RecordLinkRestored(venue_id):
            _secondary(s, venue_id, "a venue link")
            since = next((t for v, t in s.links_lost if v == venue_id), None)
            if since is None:
                raise Conflict(f"the link of venue {venue_id} is not lost")
            rest = tuple(x for x in s.links_lost if x[0] != venue_id)
            back = FaultStep("link_restored", now, venue_id)
            return _logged(replace(s, links_lost=rest), back), [Event("venue.link_restored", {
                "venue_id": venue_id, "since": since, "lost_seconds": max(0, now - since)})]
        case ApplyFaultRules(rules):
            return _apply_fault_rules(s, rules, now)
        case Abort(reason):
            if s.state in (State.SEALED, State.ABORTED):
                raise _refuse(s, command)
            if not reason.strip():
                raise InvalidInput("an abort needs a reason", field="reason")
            new = replace(s, state=State.ABORTED, stage=None, abort_reason=reason)
            return new, [_moved(s, new, reason=reason)]
    raise InvalidInput(f"unknown command {command!r}")  # pragma: no cover - exhaustive match


_DRAWN = re.compile(r"draw:[1-9][0-9]*")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _secondary(s: Session, venue_id: str, what: str = "") -> None:
    v = s.venue(venue_id)
    if v is None or v.primary:
        why = (f"only a secondary venue's link is watched for {what}" if what
               else "only secondary venues hand over to the primary")
        raise InvalidInput(f"{venue_id!r} is not a secondary venue of this session ({why})",
                           field="venue_id")


# --- faults by rule (docs/scoring.md "Faults by rule") ---------------------------------

PAUSE_RULE = "link_lost_pause_minutes"
RESUME_RULE = "resume_deadline_minutes"
SUSPEND_RULE = "suspend_after_minutes"
# Where a re-formed committee's session goes: before the check-in the draw fills the
# vacated seats; from the check-in on, the new members check in, pledge and declare.
_BEFORE_CHECK_IN = frozenset({State.DRAWING, State.READY})
# Where the hard limit still catches a re-formed committee (until start_evaluation).
_REFORMING = frozenset({State.DRAWING, State.READY, State.CHECKING_IN})


def _logged(s: Session, step: FaultStep) -> Session:
    return replace(s, fault_log=(*s.fault_log, step))


_RULE_SECONDS = {PAUSE_RULE: "pause_after_s", RESUME_RULE: "resume_within_s",
                 SUSPEND_RULE: "suspend_after_s"}


def _step(kind: str, now: int, venue_id: str, rules: FaultRules, name: str) -> FaultStep:
    """A fault step caused by rule ``name`` (its configured minutes kept for the report)."""
    rule = rules.rule(name, getattr(rules, _RULE_SECONDS[name]))
    return FaultStep(kind, now, venue_id, name, str(rule["value"]))


def _pause_due(s: Session, rules: FaultRules) -> tuple[str, int] | None:
    """The (venue, since) whose lost link pauses the session first, if the rule may."""
    if s.state not in ACTIVE_STATES or s.fault is not None or not s.links_lost:
        return None
    return min(s.links_lost, key=lambda x: (x[1], x[0]))


def fault_deadline(s: Session, rules: FaultRules) -> int | None:
    """When (unix seconds) the next step of the venue-link rules falls due; None: none
    is pending. The scheduler ticks :class:`ApplyFaultRules` at that time."""
    first = _pause_due(s, rules)
    if first is not None:
        return first[1] + rules.pause_after_s
    f = s.fault
    if f is None:
        return None
    if s.state is State.PAUSED and not f.reformed:
        return f.paused_at + min(rules.resume_within_s, rules.suspend_after_s)
    if (s.state is State.PAUSED and f.reformed) or (f.reformed and s.state in _REFORMING):
        return f.paused_at + rules.suspend_after_s
    return None


def _apply_fault_rules(s: Session, rules: FaultRules, now: int) -> tuple[Session, list[Event]]:
    due = fault_deadline(s, rules)
    if due is None or now < due:
        when = "no step is pending" if due is None else f"the next is due at {due}"
        raise Conflict(f"no venue-link rule is due at {now}: {when}")
    events: list[Event] = []
    first = _pause_due(s, rules)
    if first is not None:
        venue_id, since = first
        new = replace(s, state=State.PAUSED, stage=None,
                      paused=Paused(from_state=s.state, from_stage=s.stage,
                                    reason="venue_link_lost"),
                      fault=Fault(venue_id, now))
        new = _logged(new, _step("paused", now, venue_id, rules, PAUSE_RULE))
        events.append(_moved(s, new, reason="venue_link_lost", venue_id=venue_id,
                             link_lost_since=since,
                             rule=rules.rule(PAUSE_RULE, rules.pause_after_s)))
        return new, events
    f = s.fault
    assert f is not None
    new = s
    if (not f.reformed and s.state is State.PAUSED
            and now >= f.paused_at + rules.resume_within_s):
        new, events = _reform(s, f, rules, now)
        f = new.fault
        assert f is not None
    if now >= f.paused_at + rules.suspend_after_s and (
            new.state is State.PAUSED or new.state in _REFORMING):
        old = new
        new = _logged(replace(new, state=State.SUSPENDED, stage=None),
                      _step("suspended", now, f.venue_id, rules, SUSPEND_RULE))
        events.append(_moved(old, new, reason="venue_link_lost", venue_id=f.venue_id,
                             fault_paused_at=f.paused_at,
                             rule=rules.rule(SUSPEND_RULE, rules.suspend_after_s)))
    return new, events


def _reform(s: Session, f: Fault, rules: FaultRules, now: int) -> tuple[Session, list[Event]]:
    """封存 and re-form: seal the materials as they stand, vacate the absent venues'
    seats and move them to the primary venue (its link is the session's: the
    replacement draw seats their new members there), void the sheets of the members
    who left, and go back to where the new members join."""
    assert s.paused is not None
    rule = rules.rule(RESUME_RULE, rules.resume_within_s)
    absent = {f.venue_id} | {v for v, _ in s.links_lost}
    gone = [x for x in s.seats if x.venue_id in absent and x.expert_id is not None]
    events = [Event("materials.sealed", {
        "venue_id": f.venue_id, "fault_paused_at": f.paused_at,
        "state": f"{s.paused.from_state.value}/{s.paused.from_stage.value}"
        if s.paused.from_stage else s.paused.from_state.value,
        "seats": [x.index for x in s.seats], "signed": list(s.signed), "rule": rule})]
    events += [Event("seat.vacated", {
        "seat": x.index, "venue_id": x.venue_id, "expert_id": x.expert_id,
        "expert_name": x.expert_name, "reason": "venue_link_lost"}) for x in gone]
    voided = tuple((x.index, x.expert_id) for x in gone if x.expert_id is not None)
    had_sheets = s.paused.from_state not in _REFORMING
    if voided and had_sheets:
        events.append(Event("sheets.voided", {
            "seats": [{"seat": x.index, "expert_id": x.expert_id, "venue_id": x.venue_id}
                      for x in gone],
            "reason": "venue_link_lost", "rule": rule}))
    target = State.DRAWING if s.paused.from_state in _BEFORE_CHECK_IN else State.CHECKING_IN
    vacated = {x.index for x in gone}
    # Every seat of an absent venue moves (a vacant one too: nobody can sit there).
    moving = [x for x in s.seats if x.venue_id in absent]
    to = s.primary.id
    seats = tuple(Seat(index=x.index, venue_id=to) if x.venue_id in absent else x
                  for x in s.seats)
    new = replace(
        s, state=target, stage=None, paused=None, seats=seats,
        moved=(*s.moved, *((x.index, x.venue_id) for x in moving)),
        fault=replace(f, reformed=True),
        links_lost=tuple(x for x in s.links_lost if x[0] not in absent),
        voided=(*s.voided, *voided) if had_sheets else s.voided,
        leader=None if s.leader in vacated else s.leader, election=None,
        qualified=None if had_sheets else s.qualified,
        fault_log=(*s.fault_log, _step("materials_sealed", now, f.venue_id, rules, RESUME_RULE),
                   replace(_step("reformed", now, f.venue_id, rules, RESUME_RULE),
                           seats=tuple(sorted(vacated)), to=to)),
        pending_explanations=(), signed=(), refusals=(), deemed=(), sign_deadline=None,
        rereview=None)
    if s.signed or s.deemed:
        # The report is written again by the new committee: no signature stands.
        events.append(Event("report.signatures_cleared", {
            "seats": sorted({*s.signed, *s.deemed}), "reason": "committee_reformed"}))
    events.append(Event("committee.reformed", {
        "venue_id": f.venue_id, "venues": sorted(absent), "seats": sorted(vacated),
        "moved": [{"seat": x.index, "from": x.venue_id, "to": to} for x in moving],
        "rule": rule}))
    events.append(_moved(s, new, reason="committee_reformed", venue_id=f.venue_id,
                         rule=rule))
    return new, events


def _handover(s: Session, venue_id: str) -> Handover:
    return next((h for h in s.handovers if h.venue_id == venue_id), Handover(venue_id))


def _with_handover(s: Session, h: Handover) -> Session:
    others = tuple(x for x in s.handovers if x.venue_id != h.venue_id)
    order = [v.id for v in s.venues]
    return replace(s, handovers=tuple(sorted((*others, h), key=lambda x: order.index(x.venue_id))))


def _check_items(items: Sequence[str], required: Sequence[str]) -> None:
    """The handover names every configured item exactly once, and nothing else."""
    for i, item in enumerate(items):
        if item not in required:
            raise InvalidInput(f"{item!r} is not a handover item (expected: "
                               f"{', '.join(required)})", field=f"items/{i}/item")
        if item in items[:i]:
            raise InvalidInput(f"{item!r} is listed twice", field=f"items/{i}/item")
    missing = [x for x in required if x not in items]
    if missing:
        raise InvalidInput(f"every item must be confirmed: {', '.join(missing)} missing",
                           field="items")


def _check_declaration(s: Session, declared: Sequence[str], conflicts: Mapping[str, str]) -> None:
    """A declaration names every bid exactly once; a conflict needs its reason."""
    ids = [b.id for b in s.bids]
    for i, b in enumerate(declared):
        if b not in ids:
            raise InvalidInput(f"no bid {b!r} in this session", field=f"declarations/{i}/bid_id")
        if b in declared[:i]:
            raise InvalidInput(f"bid {b!r} is declared twice", field=f"declarations/{i}/bid_id")
    missing = [b for b in ids if b not in declared]
    if missing:
        raise InvalidInput(
            f"declare every bidder: bid(s) {', '.join(missing)} missing", field="declarations")
    for b, reason in conflicts.items():
        if b not in declared:
            raise InvalidInput(f"no bid {b!r} declared", field="declarations")
        if not reason.strip():
            i = list(declared).index(b)
            raise InvalidInput("a declared conflict needs its reason",
                               field=f"declarations/{i}/reason")


def _ready_for_election(s: Session, action: str = "open the election") -> None:
    """Every seat held, checked in, pledged and declared without conflict."""
    waiting = [
        f"{x.index} ({'vacant' if x.expert_id is None else 'not checked in' if not x.checked_in else 'no pledge' if x.pledged is None else 'no declaration'})"  # noqa: E501
        for x in s.seats
        if x.expert_id is None or not x.checked_in or x.pledged is None or not x.declared
    ]
    if waiting:
        raise Conflict(f"cannot {action}: seat(s) " + ", ".join(waiting))


def ballot_bytes(session_id: str, round_: int, seat: int, candidate: int | None) -> bytes:
    """The canonical bytes a ballot's commitment is over (RFC 8785)."""
    return canonical_bytes(
        {"session": session_id, "round": round_, "seat": seat, "candidate": candidate})


def lot_seed(session_id: str, round_: int, ballots: Sequence[Ballot]) -> str:
    """The recorded seed of a lot (抽签): SHA-256 of the round's commitments in seat
    order, fixed before any ballot was opened; anyone with the log recomputes it."""
    doc = {"session": session_id, "round": round_,
           "commitments": [b.commitment for b in sorted(ballots, key=lambda b: b.seat)]}
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def draw_lots(seed: str, options: Sequence[int], k: int) -> tuple[int, ...]:
    """``k`` of ``options`` by lot: ordered by SHA-256(seed ‖ ":" ‖ seat), first ``k``."""
    ranked = sorted(options, key=lambda x: hashlib.sha256(f"{seed}:{x}".encode()).hexdigest())
    return tuple(sorted(ranked[:k]))


def _close_round(s: Session) -> tuple[Session, list[Event]]:
    el = s.election
    if el is None:
        raise Conflict("no election round is open")
    voted = {b.seat for b in el.ballots}
    missing = [x.index for x in s.seats if x.index not in voted]
    if missing:
        raise Conflict(
            f"cannot close round {el.round}: seat(s) {', '.join(map(str, missing))} have not"
            " voted")
    tally = Counter(b.candidate for b in el.ballots if b.candidate is not None)
    counts = {c: tally.get(c, 0) for c in el.candidates}
    opened = Event("election.round_closed", {
        "round": el.round,
        "ballots": [{"seat": b.seat, "candidate": b.candidate, "salt": b.salt,
                     "commitment": b.commitment} for b in sorted(el.ballots, key=lambda b: b.seat)],
        "tally": {str(c): n for c, n in counts.items()},
        "blank": sum(1 for b in el.ballots if b.candidate is None),
    })
    members = len(s.seats)
    top = max(counts.values())
    leaders = [c for c, n in counts.items() if n == top]
    if (el.round == 1 and top * 2 > members) or (el.round > 1 and len(leaders) == 1):
        # 暂行规定 第13条: the members elect; a strict majority of the committee in the
        # first round, the higher count in the runoff.
        seat = leaders[0]
        how = "majority" if el.round == 1 else "runoff"
        return replace(s, election=None, leader=seat), [opened, Event("leader.elected", {
            "seat": seat, "round": el.round, "votes": top, "by": how})]
    seed = lot_seed(s.id, el.round, el.ballots)
    if el.round > 1 or len(counts) == 1:
        # A tie after the runoff: by lot, from the recorded seed.
        seat = draw_lots(seed, leaders, 1)[0]
        return replace(s, election=None, leader=seat), [opened, Event("leader.elected", {
            "seat": seat, "round": el.round, "votes": top, "by": "lot", "seed": seed,
            "tied": sorted(leaders)})]
    # No strict majority: a runoff between the two highest; a tie for a place among
    # them is decided by lot from the recorded seed.
    order = sorted(set(counts.values()), reverse=True)
    runoff: list[int] = []
    lot: dict[str, Any] | None = None
    for n in order:
        group = sorted(c for c, v in counts.items() if v == n)
        room = 2 - len(runoff)
        if len(group) <= room:
            runoff += group
        else:
            runoff += draw_lots(seed, group, room)
            lot = {"seed": seed, "among": group}
        if len(runoff) == 2:
            break
    election = Election(round=el.round + 1, candidates=tuple(sorted(runoff)))
    payload: dict[str, Any] = {"round": election.round, "candidates": list(election.candidates),
                               "members": members, "runoff": True}
    if lot is not None:
        payload["lot"] = lot
    return replace(s, election=election), [opened, Event("election.opened", payload)]
MIN_COMMITTEE = 5  # 招标投标法 第37条: 五人以上单数


def _committee_problems(members: int) -> list[str]:
    """The committee's size rule; every seat of a session is an expert's (tenderer
    representatives are not seated by evalsvc), so the experts' share (≥ 2/3) holds."""
    if members < MIN_COMMITTEE or members % 2 == 0:
        return [f"the committee has {members} seats; it needs an odd number, at least"
                f" {MIN_COMMITTEE} (招标投标法 第37条)"]
    return []


def _draft_problems(s: Session) -> list[str]:
    problems = []
    if not s.bids:
        problems.append("no bids registered")
    scored = s.criteria_of(Category.TECHNICAL, Category.COMMERCIAL, Category.PRICE)
    if s.method.value == "weighted_scoring" and not scored:
        problems.append("no scoring criteria")
    if not s.seats:
        problems.append("the committee has no seats")
    return problems
