"""The session lifecycle as a pure state machine: ``apply(session, command, now)``.

::

    draft ─open_draw→ drawing ─complete_draw→ ready ─start_check_in→ checking_in
      ─start_evaluation→ evaluating[qualification ─lock_qualification→ scoring]
      ─lock_scoring→ aggregating ─start_report→ reporting ─seal→ sealed

    any active state ─pause(reason)→ paused ─resume→ the state (and stage) it left
    any state but sealed/aborted ─abort(reason)→ aborted

A command the current state refuses raises :class:`~evalsvc.errors.InvalidTransition`
naming both (``cannot lock_scoring: session is checking_in``). Domain preconditions
(every seat filled, every expert's sheet in) raise :class:`~evalsvc.errors.Conflict`.
Returns the new session and the events to record, in order.
"""

from __future__ import annotations

__all__ = [
    "Abort",
    "AddBid",
    "AddCriterion",
    "AssignSeat",
    "CheckIn",
    "Command",
    "CompleteDraw",
    "CreateSession",
    "DecideDesignation",
    "DesignateExperts",
    "Event",
    "ExplainDeviation",
    "LockQualification",
    "LockScoring",
    "OpenDraw",
    "Pause",
    "RecordDissent",
    "Resume",
    "Seal",
    "SignReport",
    "StartCheckIn",
    "StartEvaluation",
    "StartReport",
    "SubmitSheet",
    "apply",
    "bid_doc",
    "command_name",
    "criterion_doc",
    "require_state",
    "state_label",
]

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evalsvc.errors import Conflict, InvalidInput, InvalidTransition
from evalsvc.sessions.model import (
    ACTIVE_STATES,
    Bid,
    Category,
    Criterion,
    Paused,
    Session,
    Sheet,
    Stage,
    State,
    bid_to_doc,
    with_bid,
    with_criterion,
)
from evalsvc.sessions.scoring import aggregate, aggregation_to_doc, qualification_outcome


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
class StartEvaluation:
    """Every seat checked in: evaluation starts with the qualification stage."""


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
    """Every deviation explained: the committee drafts its report."""


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
    | StartEvaluation
    | LockQualification
    | LockScoring
    | SubmitSheet
    | ExplainDeviation
    | StartReport
    | RecordDissent
    | SignReport
    | Seal
    | Pause
    | Resume
    | Abort
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
    StartEvaluation: "start_evaluation",
    LockQualification: "lock_qualification",
    LockScoring: "lock_scoring",
    SubmitSheet: "submit_sheet",
    ExplainDeviation: "explain_deviation",
    StartReport: "start_report",
    RecordDissent: "record_dissent",
    SignReport: "sign_report",
    Seal: "seal",
    Pause: "pause",
    Resume: "resume",
    Abort: "abort",
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
    "start_evaluation": (State.CHECKING_IN, None),
    "lock_qualification": (State.EVALUATING, Stage.QUALIFICATION),
    "lock_scoring": (State.EVALUATING, Stage.SCORING),
    "submit_sheet": (State.EVALUATING, None),
    "explain_deviation": (State.AGGREGATING, None),
    "start_report": (State.AGGREGATING, None),
    "record_dissent": (State.REPORTING, None),
    "sign_report": (State.REPORTING, None),
    "seal": (State.REPORTING, None),
    "resume": (State.PAUSED, None),
}


def require_state(s: Session, name: str) -> None:
    """Refuse command ``name`` unless ``s`` is where it may run (InvalidTransition
    naming both) — for a check made before the command's inputs are gathered."""
    state, stage = _WHERE[name]
    _require(s, name, state, stage)


def bid_doc(b: Bid) -> dict[str, Any]:
    """A bid as events and responses show it (with its principals: recusal inputs; its
    provenance, if any, is redacted for all but supervisors by access.redact_event)."""
    return bid_to_doc(b)


def criterion_doc(c: Criterion) -> dict[str, Any]:
    """A criterion as events and responses show it."""
    return {
        "id": c.id,
        "name": c.name,
        "category": c.category.value,
        "max_points": str(c.max_points),
        "formula": c.formula,
    }


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


def apply(s: Session, command: Command, now: int) -> tuple[Session, list[Event]]:
    """Apply one command at time ``now`` (unix seconds); see the module docstring."""
    if not isinstance(command, (CreateSession, Pause, Abort)):
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
            seats = tuple(replace(x, checked_in=True) if x.index == seat else x for x in s.seats)
            return replace(s, seats=seats), [
                Event("expert.checked_in", {"seat": seat, "venue_id": s.seats[seat].venue_id})
            ]
        case StartEvaluation():
            absent = [x.index for x in s.seats if not x.checked_in]
            if absent:
                raise Conflict(
                    f"cannot start evaluation: seat(s) {', '.join(map(str, absent))} not checked in"
                )
            new = replace(s, state=State.EVALUATING, stage=Stage.QUALIFICATION)
            return new, [_moved(s, new)]
        case LockQualification(sheets, openings):
            if s.criteria_of(Category.QUALIFICATION):
                _all_sheets(s, sheets, Stage.QUALIFICATION)
                qualified = qualification_outcome(
                    s, [x for x in sheets if x.stage is Stage.QUALIFICATION]
                )
            else:
                qualified = tuple(b.id for b in s.bids)
            new = replace(s, stage=Stage.SCORING, qualified=qualified)
            failed = [b.id for b in s.bids if b.id not in qualified]
            return new, [
                *_opened(Stage.QUALIFICATION, openings),
                Event(
                    "stage.locked",
                    {"stage": "qualification", "qualified": list(qualified), "failed": failed},
                ),
                _moved(s, new),
            ]
        case LockScoring(sheets, openings):
            _all_sheets(s, sheets, Stage.SCORING)
            result = aggregate(s, sheets)
            pending = tuple(sorted({(d.seat, d.bid_id) for d in result.deviations}))
            new = replace(s, state=State.AGGREGATING, stage=None, pending_explanations=pending)
            return new, [
                *_opened(Stage.SCORING, openings),
                Event("stage.locked", {"stage": "scoring", "result": aggregation_to_doc(result)}),
                _moved(s, new),
            ]
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
        case StartReport():
            if s.pending_explanations:
                waiting = ", ".join(f"seat {a} on {b}" for a, b in s.pending_explanations)
                raise Conflict(f"cannot start the report: deviations not yet explained ({waiting})")
            new = replace(s, state=State.REPORTING)
            return new, [_moved(s, new)]
        case RecordDissent(seat, text):
            _seat(s, seat)
            if seat in s.signed:
                raise Conflict(f"seat {seat} has already signed the report")
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
            payload: dict[str, Any] = {"seat": seat}
            if digest is not None:
                payload["report_sha256"] = digest
            if signature is not None:
                payload["signature"] = signature
            return replace(s, signed=(*s.signed, seat)), [Event("report.signed", payload)]
        case Seal():
            unsigned = [x.index for x in s.seats if x.index not in s.signed]
            if unsigned:
                raise Conflict(
                    f"cannot seal: seat(s) {', '.join(map(str, unsigned))} have not signed"
                )
            new = replace(s, state=State.SEALED)
            return new, [_moved(s, new)]
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
            new = replace(s, state=s.paused.from_state, stage=s.paused.from_stage, paused=None)
            return new, [_moved(s, new)]
        case Abort(reason):
            if s.state in (State.SEALED, State.ABORTED):
                raise _refuse(s, command)
            if not reason.strip():
                raise InvalidInput("an abort needs a reason", field="reason")
            new = replace(s, state=State.ABORTED, stage=None, abort_reason=reason)
            return new, [_moved(s, new, reason=reason)]
    raise InvalidInput(f"unknown command {command!r}")  # pragma: no cover - exhaustive match


_DRAWN = re.compile(r"draw:[1-9][0-9]*")
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
