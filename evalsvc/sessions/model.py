"""The session domain: venues, bids, criteria, seats, sheets. Pure: no I/O.

Everything here is a frozen dataclass built by the ``parse_*`` functions, which check
domain rules and raise :class:`~evalsvc.errors.InvalidInput` naming the field
(``bids/1/uscc``). Points are :class:`~decimal.Decimal`, money is integer fen; no
binary float is ever accepted.
"""

from __future__ import annotations

__all__ = [
    "ACTIVE_STATES",
    "INCIDENT_CATEGORIES",
    "PRICE_FORMULAS",
    "PRICE_SCORE_FORMULAS",
    "PROVENANCE_FIELDS",
    "REVIEW_STAGES",
    "STAGE_CATEGORIES",
    "STAGE_MODES",
    "AverageBenchmark",
    "Ballot",
    "Bid",
    "Category",
    "Clarification",
    "Criterion",
    "Election",
    "Fault",
    "FaultRules",
    "FaultStep",
    "Handover",
    "Incident",
    "Method",
    "Organisation",
    "Paused",
    "ReReview",
    "Region",
    "Rejection",
    "ScoringRules",
    "Seat",
    "Session",
    "Sheet",
    "Stage",
    "State",
    "Venue",
    "bid_to_doc",
    "criterion_to_doc",
    "new_session",
    "parse_bid",
    "parse_criterion",
    "parse_rules",
    "parse_venue",
    "session_from_doc",
    "session_to_doc",
    "stage_plan",
    "tender_key",
]

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from evalsvc.errors import FieldError, InvalidInput
from evalsvc.ids import validate_uscc


class Region(StrEnum):
    SH = "SH"  # 上海
    JS = "JS"  # 江苏
    ZJ = "ZJ"  # 浙江
    AH = "AH"  # 安徽


class Method(StrEnum):
    WEIGHTED_SCORING = "weighted_scoring"  # 综合评估法
    LOWEST_EVALUATED_PRICE = "lowest_evaluated_price"  # 经评审的最低投标价法


class Category(StrEnum):
    QUALIFICATION = "qualification"  # pass/fail (资格审查)
    COMPLIANCE = "compliance"  # pass/fail (符合性审查)
    TECHNICAL = "technical"
    COMMERCIAL = "commercial"
    PRICE = "price"  # computed from the bid price by a formula, never scored by hand


class State(StrEnum):
    DRAFT = "draft"
    DRAWING = "drawing"
    READY = "ready"
    CHECKING_IN = "checking_in"
    EVALUATING = "evaluating"
    AGGREGATING = "aggregating"
    REPORTING = "reporting"
    SEALED = "sealed"
    PAUSED = "paused"
    ABORTED = "aborted"
    # Past the hard limit of a venue link fault (docs/scoring.md "Faults by rule"):
    # the evaluation stops here, to be held again on a new date; only abort remains.
    SUSPENDED = "suspended"


class Stage(StrEnum):
    """Sub-state of ``evaluating``, in this order (:func:`stage_plan`): qualification,
    compliance (when the session has compliance criteria), then detailed scoring — one
    ``scoring`` stage, or ``technical`` then ``commercial`` when the session's stages
    are ``split`` (docs/scoring.md "Stages")."""

    QUALIFICATION = "qualification"
    COMPLIANCE = "compliance"
    SCORING = "scoring"
    TECHNICAL = "technical"
    COMMERCIAL = "commercial"


# Stages whose sheets are pass/fail per bid and criterion, with a reason for each fail.
REVIEW_STAGES = frozenset({Stage.QUALIFICATION, Stage.COMPLIANCE})
# The criterion category each stage's sheets cover.
STAGE_CATEGORIES: dict[Stage, tuple[Category, ...]] = {
    Stage.QUALIFICATION: (Category.QUALIFICATION,),
    Stage.COMPLIANCE: (Category.COMPLIANCE,),
    Stage.SCORING: (Category.TECHNICAL, Category.COMMERCIAL),
    Stage.TECHNICAL: (Category.TECHNICAL,),
    Stage.COMMERCIAL: (Category.COMMERCIAL,),
}
STAGE_MODES = ("combined", "split")


# States a running session can be paused from (a venue link drop, a fault).
ACTIVE_STATES = frozenset(
    {
        State.DRAWING,
        State.READY,
        State.CHECKING_IN,
        State.EVALUATING,
        State.AGGREGATING,
        State.REPORTING,
    }
)

# docs/scoring.md "Price formulas". The first two compute a price score (weighted
# scoring); ``lowest_evaluated_price`` ranks by evaluated price (its own method).
PRICE_SCORE_FORMULAS = frozenset({"lowest_price_ratio", "average_benchmark"})
PRICE_FORMULAS = PRICE_SCORE_FORMULAS | {"lowest_evaluated_price"}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    region: Region
    city: str
    seats: int
    primary: bool = False


# Optional fields an operator imports with a bid (schemas.BidProvenanceIn), compared by
# the pattern alerts (evalsvc.analysis; 招标投标法实施条例 第四十条): shown to supervisors only.
PROVENANCE_FIELDS = (
    "author", "machine_code", "software", "project_manager", "agent", "deposit_account")


@dataclass(frozen=True)
class Organisation:
    """An organisation the draw's recusal rules name (a supervising department)."""

    name: str
    uscc: str  # unified social credit code, GB 32100


@dataclass(frozen=True)
class Bid:
    id: str
    bidder: str
    uscc: str  # unified social credit code, GB 32100
    price_fen: int
    # The bidder's legal representative (法定代表人) and other principals (主要负责人):
    # an expert who declared a relationship to one of them is recused
    # (评标委员会和评标方法暂行规定 第12条(一)(三); docs/draw.md §2.3 rule 4).
    principals: tuple[str, ...] = ()
    legal_representative: str | None = None

    @property
    def recusal_names(self) -> tuple[str, ...]:
        """Every person of the bidder the recusal rules match, each once."""
        names = ([self.legal_representative] if self.legal_representative else [])
        return tuple(dict.fromkeys([*names, *self.principals]))

    # (field, value) pairs of PROVENANCE_FIELDS, in that order; empty: none imported.
    provenance: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Criterion:
    id: str
    name: str
    category: Category
    max_points: Decimal
    formula: str | None = None  # price criteria only
    # 评分指引: how the experts should score it (zh-CN free text), shown beside the field
    # on every sheet. Per criterion, never per bid: 暗标 keeps it free of bidder names
    # (check_guidance_blind).
    guidance: str | None = None


@dataclass(frozen=True)
class AverageBenchmark:
    """Parameters of the ``average_benchmark`` price formula (评标基准价法).

    Benchmark = mean of the qualified bids' prices (without the one highest and one
    lowest when ``drop_extremes`` and at least ``drop_min_count`` prices) × ``factor``;
    a bid loses ``deduct_above`` points per 1 % above the benchmark and ``deduct_below``
    per 1 % below (pro rata), never below ``floor`` points.
    """

    factor: Decimal = Decimal("1")
    drop_extremes: bool = False
    drop_min_count: int = 5
    deduct_above: Decimal = Decimal("1")
    deduct_below: Decimal = Decimal("0.5")
    floor: Decimal = Decimal("0")


@dataclass(frozen=True)
class ScoringRules:
    step: Decimal = Decimal("0.5")
    deviation_share: Decimal = Decimal("0.30")
    drop_extremes: bool = False
    # The session's formula; a price criterion without its own uses this one.
    price_formula: str = "lowest_price_ratio"
    # Set when a price criterion or the session uses ``average_benchmark``.
    average_benchmark: AverageBenchmark | None = None


@dataclass(frozen=True)
class Seat:
    index: int
    venue_id: str
    expert_id: str | None = None
    expert_name: str | None = None
    checked_in: bool = False
    # How the expert got the seat: "draw:<ceremony>" (a recorded draw), "proposed" (an
    # operator's designation, not yet submitted), "requested" (submitted with a reason),
    # "designated" (approved by a supervisor). machine.CompleteDraw accepts only the
    # first and the last (docs/draw.md §6.7).
    source: str | None = None
    # After check-in: the SHA-256 of the pledge (承诺书) the expert accepted, and whether
    # they declared, bid by bidder, their interests (回避声明) without a conflict.
    pledged: str | None = None
    declared: bool = False


@dataclass(frozen=True)
class Paused:
    from_state: State
    from_stage: Stage | None
    reason: str


@dataclass(frozen=True)
class FaultRules:
    """The venue-link rules (config ``[rules]``; docs/scoring.md "Faults by rule"), in
    whole seconds, with the values as configured (minutes, as text) for the events."""

    pause_after_s: int
    resume_within_s: int
    suspend_after_s: int
    configured: tuple[tuple[str, str], ...] = ()  # (rule name, configured minutes)

    def rule(self, name: str, seconds: int) -> dict[str, Any]:
        """The rule as an event names it: its config key, value and seconds."""
        return {"name": name, "value": dict(self.configured).get(name, str(seconds / 60)),
                "seconds": seconds}


@dataclass(frozen=True)
class Fault:
    """A venue link fault being handled by rule: the venue whose link was lost, when the
    session paused for it (unix seconds), and whether the committee was re-formed."""

    venue_id: str
    paused_at: int
    reformed: bool = False


@dataclass(frozen=True)
class FaultStep:
    """One step of the venue-link faults, kept for the report (异常情况及处理): a link
    lost (``at`` = since) or restored, a pause by rule, its resume, the materials
    sealed, the committee re-formed (``seats`` replaced, moved ``to``), the session
    suspended. ``rule``: the ``[rules]`` key that caused it, ``minutes`` its value."""

    kind: str
    at: int  # unix seconds
    venue_id: str | None = None
    rule: str | None = None
    minutes: str | None = None
    seats: tuple[int, ...] = ()
    to: str | None = None


@dataclass(frozen=True)
class Ballot:
    """One member's sealed vote of an election round: only ``commitment`` is public
    before the round closes; ``candidate`` (a seat, None for a blank ballot) and
    ``salt`` open it (docs/scoring.md "Leader election")."""

    seat: int
    candidate: int | None
    salt: str  # hex
    commitment: str  # HMAC-SHA256(salt, canonical ballot), hex


@dataclass(frozen=True)
class Election:
    """The round in progress of the leader election (推选评标委员会负责人)."""

    round: int  # 1: every eligible member; 2: the runoff between the top two
    candidates: tuple[int, ...]  # seats that may be elected this round
    ballots: tuple[Ballot, ...] = ()


@dataclass(frozen=True)
class ReReview:
    """A re-review (复核/重新评审) of a locked stage for some seats: requested by the
    leader, then approved by a supervisor (``approved``), until the stage locks again."""

    stage: Stage
    seats: tuple[int, ...]
    reason: str
    approved: bool = False
    decision: str = ""  # the supervisor's reason


@dataclass(frozen=True)
class Clarification:
    """A question the committee (its leader) put to a bidder and the bidder's answer
    (澄清、说明、补正), in the shape the report renders; numbered from 1 by position."""

    bid_id: str
    bidder: str
    question: str
    answer: str | None = None
    attachment_sha256: str | None = None  # SHA-256 (hex) of the answer's attachment


# What a site supervisor records (现场监督记录): identity (the person at a seat is not the
# member checked in), discipline (a member's conduct: talking, leaving the room,
# 私下接触), device (a phone or other means of communication, 通讯工具), venue (the room,
# its equipment or its link), other.
INCIDENT_CATEGORIES = ("identity", "discipline", "device", "venue", "other")


@dataclass(frozen=True)
class Incident:
    """An incident a supervisor recorded at a venue (现场监督记录): its category, what
    happened, when it happened (unix seconds), when and by whom it was recorded."""

    venue_id: str
    category: str
    text: str
    occurred_at: int
    recorded_at: int
    recorded_by: str  # the audit actor, ``role:subject``


@dataclass(frozen=True)
class Handover:
    """A secondary venue's handover of its materials to the primary (交接), after the
    seal: the items it confirmed, when, the primary's receipt, and whether the overdue
    alert was raised. Kept beside the sealed content, never inside it."""

    venue_id: str
    items: tuple[str, ...] = ()
    recorded_at: int | None = None  # unix seconds
    acknowledged_at: int | None = None
    overdue: bool = False


@dataclass(frozen=True)
class Rejection:
    """A bid the committee failed at a pass/fail stage, with the criteria it failed and
    the members' reasons for each (评标委员会和评标方法暂行规定 第20-23条; the report
    lists it, 第42条)."""

    bid_id: str
    stage: Stage
    reasons: tuple[tuple[str, str], ...]  # (criterion id, reason), in criterion order


@dataclass(frozen=True)
class Sheet:
    """One expert's sheet for one stage, validated against the session.

    ``verdicts``: qualification and compliance, bid → criterion → pass;
    ``reasons``: for each fail, bid → criterion → why (Chinese text, required).
    ``scores``: weighted scoring, bid → criterion → points (technical/commercial only).
    ``evaluations``: lowest evaluated price, bid → (responsive, adjustment in fen).
    """

    seat: int
    stage: Stage
    verdicts: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    reasons: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    scores: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    evaluations: Mapping[str, tuple[bool, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    id: str
    title: str
    tenderer: str
    method: Method
    venues: tuple[Venue, ...]
    rules: ScoringRules
    created_at: int  # unix seconds
    bids: tuple[Bid, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    seats: tuple[Seat, ...] = ()
    state: State = State.DRAFT
    stage: Stage | None = None
    paused: Paused | None = None
    abort_reason: str | None = None
    qualified: tuple[str, ...] | None = None  # bid ids, set when qualification is locked
    # (seat, bid) pairs whose deviation must be explained before the report starts.
    pending_explanations: tuple[tuple[int, str], ...] = ()
    explanations: tuple[tuple[int, str, str], ...] = ()  # (seat, bid, text)
    dissents: tuple[tuple[int, str], ...] = ()  # (seat, text)
    signed: tuple[int, ...] = ()  # seats that signed the report
    # The tender (招标项目) as registered: its number (招标项目编号), the tenderer's USCC
    # and the supervising departments. With the bids' principals they are the recusal
    # inputs of the draw (docs/draw.md §6.1), fixed when the session leaves draft.
    # None / () only in sessions stored before they were asked for.
    tender_number: str | None = None
    tenderer_uscc: str | None = None
    supervising_departments: tuple[Organisation, ...] = ()
    # Seats of the tenderer's representatives (招标人代表), given at registration.
    tenderer_seats: tuple[int, ...] = ()
    # Recusals (回避) declared after check-in: (seat, expert id, bid ids in conflict).
    recusals: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    election: Election | None = None  # the open round, None when none is open
    leader: int | None = None  # the elected leader's seat
    # Reporting: when members who have neither signed nor dissented may be recorded
    # as refusing (unix seconds), the committee's notes on them, and the seats a
    # supervisor confirmed as deemed to agree (视为同意, 第43条).
    sign_deadline: int | None = None
    refusals: tuple[tuple[int, str], ...] = ()  # (seat, the committee's written note)
    deemed: tuple[int, ...] = ()
    rereview: ReReview | None = None  # requested or under way
    rereviews: tuple[ReReview, ...] = ()  # done: the stage locked again
    clarifications: tuple[Clarification, ...] = ()  # during the evaluation
    sealed_at: int | None = None  # unix seconds; None before the seal (or sealed earlier)
    handovers: tuple[Handover, ...] = ()  # after the seal, per secondary venue
    # Venue links: secondary venues whose link (agent and experts) is gone, since when
    # (unix seconds); the fault handled by rule, if any; and the members whose sheets
    # were voided when the committee was re-formed without them ((seat, expert id)).
    links_lost: tuple[tuple[str, int], ...] = ()
    fault: Fault | None = None
    # Every fault step in order, and how many of them the report lists (those before
    # it started: the signed report is fixed; a re-form writes it again).
    fault_log: tuple[FaultStep, ...] = ()
    report_faults: int | None = None
    voided: tuple[tuple[int, str], ...] = ()
    # Seats a re-formed committee moved off a venue whose link was lost (seat, the venue
    # it was at): their voided members are that venue's to know, not the new venue's.
    moved: tuple[tuple[int, str], ...] = ()
    incidents: tuple[Incident, ...] = ()  # recorded by supervisors, numbered from 1
    # "combined": one scoring stage; "split": technical, then commercial, each locked.
    stages: str = "combined"
    # 暗标: during the technical stage experts see bids only by a code (docs/scoring.md).
    anonymous: bool = False
    # The salt of the code permutation (hex), committed at start_evaluation and opened
    # when the technical stage locks; never shown before (access: server side only).
    code_salt: str | None = None
    rejections: tuple[Rejection, ...] = ()  # bids failed at a pass/fail stage

    @functools.cached_property
    def primary(self) -> Venue:
        # (Cached, as _seats_by_expert: access.sees_project asks it per event and view.)
        return next(v for v in self.venues if v.primary)

    def venue(self, venue_id: str) -> Venue | None:
        return next((v for v in self.venues if v.id == venue_id), None)

    def seat_of(self, expert_id: str) -> Seat | None:
        return self._seats_by_expert.get(expert_id)

    @functools.cached_property
    def _seats_by_expert(self) -> dict[str | None, Seat]:
        # Every event fanned out asks it once per view (access.redact_event): a lookup,
        # not a scan. (A frozen instance's __dict__ may still hold a cache; the first
        # seat of an expert wins, as the scan's did.)
        out: dict[str | None, Seat] = {}
        for seat in self.seats:
            out.setdefault(seat.expert_id, seat)
        return out

    def bid(self, bid_id: str) -> Bid | None:
        return next((b for b in self.bids if b.id == bid_id), None)

    def stage_criteria(self, stage: Stage) -> tuple[Criterion, ...]:
        """The criteria a sheet of ``stage`` covers."""
        return self._stage_criteria[stage]

    @functools.cached_property
    def _stage_criteria(self) -> dict[Stage, tuple[Criterion, ...]]:
        # (Cached, as _seats_by_expert: every sheet asks it once per bid it scores.)
        return {st: self.criteria_of(*cats) for st, cats in STAGE_CATEGORIES.items()}

    def criteria_of(self, *categories: Category) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.category in categories)

    @property
    def qualified_bids(self) -> tuple[Bid, ...]:
        if self.qualified is None:
            return self.bids
        keep = set(self.qualified)
        return tuple(b for b in self.bids if b.id in keep)


def stage_plan(s: Session) -> tuple[Stage, ...]:
    """The stages of ``s``'s evaluation, in order (docs/scoring.md "Stages")."""
    plan = [Stage.QUALIFICATION]
    if s.criteria_of(Category.COMPLIANCE):
        plan.append(Stage.COMPLIANCE)
    if s.stages == "split":
        plan += [Stage.TECHNICAL, Stage.COMMERCIAL]
    else:
        plan.append(Stage.SCORING)
    return tuple(plan)


# --- parsing with domain rules ------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, reason: str) -> None:
        # A bid or criterion registered alone is parsed at path "": its fields are named
        # "uscc", as the shape check names them, not "/uscc".
        self.items.append(FieldError(path.lstrip("/"), reason))

    def raise_if_any(self, what: str) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(
                f"{what}: {first.field}: {first.reason}"
                + (f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""),
                field=first.field,
                errors=tuple(self.items),
            )


def _check_id(errs: _Errors, path: str, value: str) -> None:
    if not _ID_RE.match(value):
        errs.add(path, "must be 1-32 characters: letters, digits, '_', '.', '-'")


def _text(errs: _Errors, path: str, value: str, *, max_len: int = 200) -> None:
    if not value.strip():
        errs.add(path, "must not be empty")
    elif len(value) > max_len:
        errs.add(path, f"must be at most {max_len} characters")


_MAX_PRINCIPALS = 20
_MAX_DEPARTMENTS = 10
# 招标项目编号: as the trading centre assigns it (letters, digits, CJK, and the usual
# separators), no spaces or control characters.
_TENDER_NUMBER_RE = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff_.\-/#()（）\[\]【】]{1,64}$")


def _person(errs: _Errors, path: str, name: str) -> None:
    # A person's name as the recusal rules compare it: exactly, so no stray spaces.
    if not name.strip() or name != name.strip():
        errs.add(path, "姓名不能为空, 且首尾不能有空格")
    elif len(name) > 50:
        errs.add(path, "姓名最多 50 个字符")


def _uscc(errs: _Errors, path: str, value: str) -> None:
    reason = validate_uscc(value)
    if reason:
        errs.add(path, f"不是有效的统一社会信用代码 (GB 32100, 18 位含校验码): {reason}")


def tender_key(number: str) -> str:
    """A tender number as two sessions of one tender compare it: NFKC (full-width
    letters and digits are the plain ones), without case or separators, so that
    ``ＳＨ-2026-0042`` and ``sh20260042`` are one tender."""
    folded = unicodedata.normalize("NFKC", number).upper()
    return "".join(c for c in folded if c.isalnum())


def _tender(errs: _Errors, data: Mapping[str, Any]) -> None:
    number = data["tender_number"]
    # Typed with a Chinese input method, letters and digits may come full-width (ＳＨ):
    # they are checked, and compared (tender_key), as their plain forms.
    folded = unicodedata.normalize("NFKC", number)
    if not _TENDER_NUMBER_RE.match(folded) or not tender_key(number):
        errs.add("tender_number", "招标项目编号须为 1-64 个字符 (字母、数字、汉字及"
                 " - _ . / # 括号), 不含空格")
    _uscc(errs, "tenderer_uscc", data["tenderer_uscc"])
    departments = data.get("supervising_departments") or []
    if len(departments) > _MAX_DEPARTMENTS:
        errs.add("supervising_departments", f"监督部门最多 {_MAX_DEPARTMENTS} 个")
    for i, d in enumerate(departments):
        _text(errs, f"supervising_departments/{i}/name", d["name"])
        _uscc(errs, f"supervising_departments/{i}/uscc", d["uscc"])


def _venue(errs: _Errors, path: str, data: Mapping[str, Any]) -> Venue | None:
    before = len(errs.items)
    _check_id(errs, f"{path}/id", data["id"])
    _text(errs, f"{path}/name", data["name"])
    _text(errs, f"{path}/city", data["city"], max_len=50)
    try:
        region = Region(data["region"])
    except ValueError:
        errs.add(f"{path}/region", "must be one of SH, JS, ZJ, AH")
        region = Region.SH
    if not 0 <= data["seats"] <= 50:
        errs.add(f"{path}/seats", "must be between 0 and 50")
    if len(errs.items) > before:
        return None
    return Venue(
        id=data["id"],
        name=data["name"],
        region=region,
        city=data["city"],
        seats=data["seats"],
        primary=bool(data.get("primary", False)),
    )


def parse_venue(data: Mapping[str, Any], *, path: str = "") -> Venue:
    """A venue from already type-checked data, with domain rules applied."""
    errs = _Errors()
    v = _venue(errs, path, data)
    errs.raise_if_any("invalid venue")
    assert v is not None
    return v


def _bid(errs: _Errors, path: str, data: Mapping[str, Any]) -> Bid | None:
    before = len(errs.items)
    _check_id(errs, f"{path}/id", data["id"])
    _text(errs, f"{path}/bidder", data["bidder"])
    reason = validate_uscc(data["uscc"])
    if reason:
        errs.add(f"{path}/uscc", f"not a valid unified social credit code: {reason}")
    if not 0 < data["price_fen"] <= 10**15:
        errs.add(f"{path}/price_fen", "must be a positive integer number of fen (分)")
    principals = list(data.get("principals") or [])
    if len(principals) > _MAX_PRINCIPALS:
        errs.add(f"{path}/principals", f"主要负责人最多 {_MAX_PRINCIPALS} 人")
    for i, name in enumerate(principals):
        _person(errs, f"{path}/principals/{i}", name)
    legal = data.get("legal_representative")
    if legal is not None:
        _person(errs, f"{path}/legal_representative", legal)
    given = data.get("provenance") or {}
    provenance = []
    for name in PROVENANCE_FIELDS:
        value = given.get(name)
        if value is not None:
            _text(errs, f"{path}/provenance/{name}", value)
            provenance.append((name, value))
    if len(errs.items) > before:
        return None
    return Bid(id=data["id"], bidder=data["bidder"], uscc=data["uscc"], price_fen=data["price_fen"],
               principals=tuple(principals), legal_representative=legal,
               provenance=tuple(provenance))


def parse_bid(data: Mapping[str, Any], *, path: str = "") -> Bid:
    """A bid from type-checked data: id, bidder, USCC with a valid check char, price in fen."""
    errs = _Errors()
    b = _bid(errs, path, data)
    errs.raise_if_any("invalid bid")
    assert b is not None
    return b


def _places(d: Decimal) -> int:
    """Decimal places of a finite decimal (``Decimal("8.50")`` → 2)."""
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _decimal(errs: _Errors, path: str, value: Any) -> Decimal | None:
    if isinstance(value, (bool, float)):
        errs.add(path, "must be a decimal number (integer, decimal literal or string)")
        return None
    try:
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        errs.add(path, f"not a decimal number: {value!r}")
        return None
    if not d.is_finite():
        errs.add(path, "must be finite")
        return None
    return d


def _criterion(errs: _Errors, path: str, data: Mapping[str, Any]) -> Criterion | None:
    before = len(errs.items)
    _check_id(errs, f"{path}/id", data["id"])
    _text(errs, f"{path}/name", data["name"])
    try:
        category = Category(data["category"])
    except ValueError:
        errs.add(f"{path}/category",
                 "must be one of qualification, compliance, technical, commercial, price")
        category = Category.TECHNICAL
    max_points = _decimal(errs, f"{path}/max_points", data.get("max_points", 0))
    formula = data.get("formula")
    if max_points is not None:
        if category in (Category.QUALIFICATION, Category.COMPLIANCE):
            if max_points != 0:
                errs.add(f"{path}/max_points",
                         f"{category.value} criteria are pass/fail: use 0")
        elif not Decimal(0) < max_points <= 100:
            errs.add(f"{path}/max_points", "must be greater than 0 and at most 100")
        elif _places(max_points) > 2:
            errs.add(f"{path}/max_points", "at most 2 decimal places")
    if category is Category.PRICE:
        # No formula: the session's (rules.price_formula) applies.
        if formula is not None and formula not in PRICE_SCORE_FORMULAS:
            errs.add(
                f"{path}/formula",
                f"未知的价格分公式；可选：{', '.join(sorted(PRICE_SCORE_FORMULAS))}",
            )
    elif formula is not None:
        errs.add(f"{path}/formula", "only price criteria have a formula")
    guidance = data.get("guidance")
    if guidance is not None:
        _guidance(errs, f"{path}/guidance", guidance)
    if len(errs.items) > before or max_points is None:
        return None
    return Criterion(
        id=data["id"], name=data["name"], category=category, max_points=max_points,
        formula=formula, guidance=guidance,
    )


GUIDANCE_MAX = 1000


def _guidance(errs: _Errors, path: str, value: Any) -> None:
    # The experts read it on the sheet and the report prints it: text, not markup, of a
    # length a sheet can show beside its field. (HTTP bodies are shape-checked first;
    # documents from elsewhere — the CLI, the demo — are not.)
    if not isinstance(value, str):
        errs.add(path, "评分指引应为文字")
    elif not value.strip():
        errs.add(path, "评分指引不能只有空白；不需要时请省略该字段")
    elif len(value) > GUIDANCE_MAX:
        errs.add(path, f"评分指引最多 {GUIDANCE_MAX} 个字符，当前 {len(value)} 个")
    elif any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        errs.add(path, "评分指引含有控制字符")


def _guidance_blind(errs: _Errors, bids: Sequence[Bid], crits: Sequence[Criterion],
                    paths: Sequence[str], *, title: str | None = None) -> None:
    """暗标: a criterion's name and guidance are shown with the bids' codes during the
    technical review, and so is the project's title: none may name a bidder (nor its
    USCC) — or the code is broken. Compared as letters and digits only, after NFKC and
    case folding: spaces, line breaks, punctuation or full-width forms between the
    characters hide nothing from a reader."""
    marks = [(b.bidder, [k for k in (_letters(b.bidder), _letters(b.uscc)) if k])
             for b in bids]
    texts: list[tuple[str, str, str | None]] = [("title", "项目名称", title)]
    for c, path in zip(crits, paths, strict=True):
        texts += [(f"{path}/name", "评分项名称", c.name),
                  (f"{path}/guidance", "评分指引", c.guidance)]
    for where, label, text in texts:
        if not text:
            continue
        flat = _letters(text)
        named = [bidder for bidder, keys in marks if any(k in flat for k in keys)]
        if named:
            errs.add(where, f"暗标项目的{label}不得出现投标人名称或代码"
                            f"（出现了：{'、'.join(named)}）")


def _letters(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold()
                   if unicodedata.category(ch)[0] in "LN")


def parse_criterion(data: Mapping[str, Any], *, path: str = "") -> Criterion:
    """A criterion: id, name, category, max points; a price criterion names its formula."""
    errs = _Errors()
    c = _criterion(errs, path, data)
    errs.raise_if_any("invalid criterion")
    assert c is not None
    return c


def _given(data: Mapping[str, Any], key: str, default: Any) -> Any:
    """``data[key]``, or ``default`` when absent or null (a pydantic dump keeps nulls)."""
    value = data.get(key)
    return default if value is None else value


def _average_benchmark(
    errs: _Errors, path: str, data: Any, defaults: AverageBenchmark
) -> AverageBenchmark | None:
    if not isinstance(data, Mapping):
        errs.add(path, "须为对象：factor, drop_extremes, drop_min_count, deduct_above, "
                       "deduct_below, floor")
        return None
    known = {"factor", "drop_extremes", "drop_min_count", "deduct_above", "deduct_below",
             "floor"}
    for k in sorted(set(data) - known):
        errs.add(f"{path}/{k}", "未知字段")
    before = len(errs.items)
    factor = _decimal(errs, f"{path}/factor", _given(data, "factor", defaults.factor))
    if factor is not None and not (Decimal("0.5") <= factor <= Decimal("1.5")
                                   and _places(factor) <= 4):
        errs.add(f"{path}/factor", "下浮系数须在 0.5 至 1.5 之间，最多 4 位小数")
    drop = _given(data, "drop_extremes", defaults.drop_extremes)
    if not isinstance(drop, bool):
        errs.add(f"{path}/drop_extremes", "须为 true 或 false")
    count = _given(data, "drop_min_count", defaults.drop_min_count)
    if isinstance(count, bool) or not isinstance(count, int) or not 3 <= count <= 1000:
        errs.add(f"{path}/drop_min_count", "须为 3 至 1000 之间的整数（有效报价数）")
    points: dict[str, Decimal] = {}
    for name in ("deduct_above", "deduct_below", "floor"):
        v = _decimal(errs, f"{path}/{name}", _given(data, name, getattr(defaults, name)))
        if v is not None and not (0 <= v <= 100 and _places(v) <= 2):
            errs.add(f"{path}/{name}", "须在 0 至 100 分之间，最多 2 位小数")
        elif v is not None:
            points[name] = v
    if len(errs.items) > before or factor is None or len(points) < 3:
        return None
    return AverageBenchmark(
        factor=factor,
        drop_extremes=drop,
        drop_min_count=count,
        deduct_above=points["deduct_above"],
        deduct_below=points["deduct_below"],
        floor=points["floor"],
    )


def parse_rules(
    data: Mapping[str, Any],
    *,
    defaults: ScoringRules,
    path: str = "rules",
    method: Method = Method.WEIGHTED_SCORING,
) -> ScoringRules:
    """Scoring rules, each defaulting to the configured value.

    The price formula must fit the method: ``lowest_evaluated_price`` for that method
    (its default), a price-score formula for weighted scoring; ``average_benchmark``
    takes its parameters from ``average_benchmark`` (defaults for those not given).
    """
    errs = _Errors()
    step = _decimal(errs, f"{path}/step", _given(data, "step", defaults.step))
    share = _decimal(
        errs, f"{path}/deviation_share", _given(data, "deviation_share", defaults.deviation_share)
    )
    if step is not None and not (Decimal("0.01") <= step <= 10 and _places(step) <= 2):
        errs.add(f"{path}/step", "must be between 0.01 and 10 with at most 2 decimal places")
    if share is not None and not Decimal(0) < share < 1:
        errs.add(f"{path}/deviation_share", "must be between 0 and 1 (e.g. 0.30 for ±30 %)")
    lowest = method is Method.LOWEST_EVALUATED_PRICE
    default_formula = "lowest_evaluated_price" if lowest else defaults.price_formula
    formula = _given(data, "price_formula", default_formula)
    if formula not in PRICE_FORMULAS:
        errs.add(
            f"{path}/price_formula", f"未知的价格公式；可选：{', '.join(sorted(PRICE_FORMULAS))}"
        )
    elif lowest and formula != "lowest_evaluated_price":
        errs.add(f"{path}/price_formula",
                 "经评审的最低投标价法按评审价排序，价格公式须为 lowest_evaluated_price")
    elif not lowest and formula == "lowest_evaluated_price":
        errs.add(f"{path}/price_formula",
                 "lowest_evaluated_price 仅用于经评审的最低投标价法；综合评估法可选 "
                 "lowest_price_ratio 或 average_benchmark")
    bench_doc = data.get("average_benchmark")
    bench = defaults.average_benchmark
    if bench_doc is not None:
        bench = _average_benchmark(
            errs, f"{path}/average_benchmark", bench_doc, bench or AverageBenchmark()
        )
    elif formula == "average_benchmark" and bench is None:
        bench = AverageBenchmark()
    drop = _given(data, "drop_extremes", defaults.drop_extremes)
    if not isinstance(drop, bool):
        errs.add(f"{path}/drop_extremes", "must be true or false")
    errs.raise_if_any("invalid rules")
    assert step is not None and share is not None
    return ScoringRules(
        step=step,
        deviation_share=share,
        drop_extremes=drop,
        price_formula=formula,
        average_benchmark=bench,
    )


def _check_price_criteria(errs: _Errors, rules: ScoringRules, crits: Sequence[Criterion],
                          paths: Sequence[str]) -> None:
    """Each price criterion's formula has its parameters, and the floor fits its points."""
    for c, path in zip(crits, paths, strict=True):
        if c.category is not Category.PRICE:
            continue
        formula = c.formula or rules.price_formula
        if formula == "average_benchmark":
            bench = rules.average_benchmark
            if bench is None:
                errs.add(f"{path}/formula",
                         "average_benchmark 需要 rules.average_benchmark 中的参数")
            elif bench.floor > c.max_points:
                errs.add(f"{path}/max_points",
                         f"不得低于 rules.average_benchmark.floor（{bench.floor} 分）")


def check_unique(errs: _Errors, path: str, ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            errs.add(f"{path}/{i}/id", f"duplicate {what} id {x!r}")
        seen.add(x)


def new_session(
    data: Mapping[str, Any],
    *,
    session_id: str,
    now: int,
    defaults: ScoringRules,
) -> Session:
    """A draft session from a type-checked creation document (see ``schemas.SessionCreate``)."""
    errs = _Errors()
    _text(errs, "title", data["title"])
    _text(errs, "tenderer", data["tenderer"])
    _tender(errs, data)
    try:
        method = Method(data["method"])
    except ValueError:
        errs.add("method", "must be weighted_scoring or lowest_evaluated_price")
        method = Method.WEIGHTED_SCORING
    venues: list[Venue] = []
    primary = _venue(errs, "primary_venue", {**data["primary_venue"], "primary": True})
    if primary:
        venues.append(primary)
    for i, v in enumerate(data.get("secondary_venues", [])):
        sv = _venue(errs, f"secondary_venues/{i}", {**v, "primary": False})
        if sv:
            venues.append(sv)
    ids = [v.id for v in venues]
    if len(set(ids)) != len(ids):
        errs.add("secondary_venues", "venue ids must be distinct (and differ from the primary)")
    bids = [b for i, raw in enumerate(data.get("bids", [])) if (b := _bid(errs, f"bids/{i}", raw))]
    check_unique(errs, "bids", [b["id"] for b in data.get("bids", [])], "bid")
    crits = [
        c
        for i, raw in enumerate(data.get("criteria", []))
        if (c := _criterion(errs, f"criteria/{i}", raw))
    ]
    check_unique(errs, "criteria", [c["id"] for c in data.get("criteria", [])], "criterion")
    errs.raise_if_any("invalid session")
    rules = parse_rules(data.get("rules") or {}, defaults=defaults, method=method)
    _check_price_criteria(
        errs, rules, crits,
        [f"criteria/{i}" for i, raw in enumerate(data.get("criteria", []))],
    )
    stages = data.get("stages") or "combined"
    if stages not in STAGE_MODES:
        errs.add("stages", "must be combined (one scoring stage) or split (technical, then"
                 " commercial)")
    elif stages == "split" and method is not Method.WEIGHTED_SCORING:
        errs.add("stages", "split stages score technical and commercial parts: only with"
                 " weighted_scoring")
    anonymous = bool(data.get("anonymous", False))
    if anonymous and stages != "split":
        errs.add("anonymous", "暗标 (anonymous technical bids) needs stages: split")
    if anonymous:
        _guidance_blind(errs, bids, crits,
                        [f"criteria/{i}" for i in range(len(data.get("criteria", [])))],
                        title=data["title"])
    errs.raise_if_any("invalid session")
    seats = tuple(
        Seat(index=i, venue_id=vid)
        for i, vid in enumerate(v.id for v in venues for _ in range(v.seats))
    )
    reps = tuple(data.get("tenderer_representative_seats") or ())
    for i, r in enumerate(reps):
        if not 0 <= r < len(seats) or r in reps[:i]:
            raise InvalidInput(
                f"tenderer_representative_seats/{i}: no seat {r} (the committee has"
                f" {len(seats)} seats), or named twice",
                field=f"tenderer_representative_seats/{i}",
            )
    return Session(
        id=session_id,
        title=data["title"],
        tenderer=data["tenderer"],
        method=method,
        venues=tuple(venues),
        rules=rules,
        created_at=now,
        bids=tuple(bids),
        criteria=tuple(crits),
        seats=seats,
        tender_number=data["tender_number"],
        tenderer_uscc=data["tenderer_uscc"],
        supervising_departments=tuple(
            Organisation(d["name"], d["uscc"]) for d in data.get("supervising_departments") or []
        ),
        tenderer_seats=reps,
        stages=stages,
        anonymous=anonymous,
    )


# --- document form (what the store keeps) --------------------------------------------


def bid_to_doc(b: Bid) -> dict[str, Any]:
    """A bid as the session document and the ``bid.added`` event carry it
    (``provenance`` only when imported)."""
    doc: dict[str, Any] = {
        "id": b.id, "bidder": b.bidder, "uscc": b.uscc, "price_fen": b.price_fen,
        "principals": list(b.principals), "legal_representative": b.legal_representative,
    }
    if b.provenance:
        doc["provenance"] = dict(b.provenance)
    return doc


def criterion_to_doc(c: Criterion) -> dict[str, Any]:
    """A criterion as the session document, its events and the report carry it."""
    doc: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "category": c.category.value,
        "max_points": str(c.max_points),
        "formula": c.formula,
    }
    if c.guidance is not None:
        # Only when set: documents and log entries written before guidance existed (and
        # criteria without it) keep their bytes, hence their hashes.
        doc["guidance"] = c.guidance
    return doc


def session_to_doc(s: Session) -> dict[str, Any]:
    """A JSON-able document of the whole session (Decimals as strings)."""
    return {
        "id": s.id,
        "title": s.title,
        "tenderer": s.tenderer,
        "tender_number": s.tender_number,
        "tenderer_uscc": s.tenderer_uscc,
        "supervising_departments": [
            {"name": o.name, "uscc": o.uscc} for o in s.supervising_departments
        ],
        "method": s.method.value,
        "created_at": s.created_at,
        "venues": [
            {
                "id": v.id,
                "name": v.name,
                "region": v.region.value,
                "city": v.city,
                "seats": v.seats,
                "primary": v.primary,
            }
            for v in s.venues
        ],
        "rules": {
            "step": str(s.rules.step),
            "deviation_share": str(s.rules.deviation_share),
            "drop_extremes": s.rules.drop_extremes,
            "price_formula": s.rules.price_formula,
            # Only when set: documents stored before the formula existed stay the same.
            **(
                {"average_benchmark": _bench_doc(s.rules.average_benchmark)}
                if s.rules.average_benchmark is not None
                else {}
            ),
        },
        "bids": [bid_to_doc(b) for b in s.bids],
        "criteria": [criterion_to_doc(c) for c in s.criteria],
        "seats": [
            {
                "index": x.index,
                "venue_id": x.venue_id,
                "expert_id": x.expert_id,
                "expert_name": x.expert_name,
                "checked_in": x.checked_in,
                "source": x.source,
                "pledged": x.pledged,
                "declared": x.declared,
            }
            for x in s.seats
        ],
        "state": s.state.value,
        "stage": s.stage.value if s.stage else None,
        "paused": None
        if s.paused is None
        else {
            "from_state": s.paused.from_state.value,
            "from_stage": s.paused.from_stage.value if s.paused.from_stage else None,
            "reason": s.paused.reason,
        },
        "abort_reason": s.abort_reason,
        "qualified": list(s.qualified) if s.qualified is not None else None,
        "pending_explanations": [list(p) for p in s.pending_explanations],
        "explanations": [list(e) for e in s.explanations],
        "dissents": [list(d) for d in s.dissents],
        "signed": list(s.signed),
        "tenderer_seats": list(s.tenderer_seats),
        "recusals": [[a, b, list(c)] for a, b, c in s.recusals],
        "election": None
        if s.election is None
        else {
            "round": s.election.round,
            "candidates": list(s.election.candidates),
            "ballots": [
                {"seat": b.seat, "candidate": b.candidate, "salt": b.salt,
                 "commitment": b.commitment}
                for b in s.election.ballots
            ],
        },
        "leader": s.leader,
        "sign_deadline": s.sign_deadline,
        "refusals": [list(r) for r in s.refusals],
        "deemed": list(s.deemed),
        "rereview": _rereview_doc(s.rereview),
        "rereviews": [_rereview_doc(r) for r in s.rereviews],
        # The report reads this key as it is (evalsvc.report.document.clarifications_of).
        "clarifications": [
            {"bid_id": c.bid_id, "bidder": c.bidder, "question": c.question,
             "answer": c.answer, "attachment_sha256": c.attachment_sha256}
            for c in s.clarifications
        ],
        "sealed_at": s.sealed_at,
        "handovers": [
            {"venue_id": h.venue_id, "items": list(h.items), "recorded_at": h.recorded_at,
             "acknowledged_at": h.acknowledged_at, "overdue": h.overdue}
            for h in s.handovers
        ],
        "links_lost": [[v, t] for v, t in s.links_lost],
        "fault": None if s.fault is None else {
            "venue_id": s.fault.venue_id, "paused_at": s.fault.paused_at,
            "reformed": s.fault.reformed},
        "voided": [list(x) for x in s.voided],
        "fault_log": [
            {"kind": x.kind, "at": x.at, "venue_id": x.venue_id, "rule": x.rule,
             "minutes": x.minutes, "seats": list(x.seats), "to": x.to}
            for x in s.fault_log
        ],
        "report_faults": s.report_faults,
        "moved": [list(x) for x in s.moved],
        # The report reads this key as it is (evalsvc.report.document.incidents_of);
        # access.view_session keeps the incidents a role may read.
        "incidents": [
            {"id": i + 1, "venue_id": x.venue_id, "category": x.category, "text": x.text,
             "occurred_at": x.occurred_at, "recorded_at": x.recorded_at,
             "recorded_by": x.recorded_by}
            for i, x in enumerate(s.incidents)
        ],
        # Only when not the default: a combined session's document keeps its bytes.
        **({"stages": s.stages} if s.stages != "combined" else {}),
        **({"anonymous": True, "code_salt": s.code_salt} if s.anonymous else {}),
        **({"rejections": [
            {"bid_id": r.bid_id, "stage": r.stage.value,
             "reasons": [list(x) for x in r.reasons]} for r in s.rejections]}
           if s.rejections else {}),
    }


def _bench_doc(b: AverageBenchmark) -> dict[str, Any]:
    return {
        "factor": str(b.factor),
        "drop_extremes": b.drop_extremes,
        "drop_min_count": b.drop_min_count,
        "deduct_above": str(b.deduct_above),
        "deduct_below": str(b.deduct_below),
        "floor": str(b.floor),
    }


def _bench_from_doc(d: Mapping[str, Any] | None) -> AverageBenchmark | None:
    if d is None:
        return None
    return AverageBenchmark(
        factor=Decimal(d["factor"]),
        drop_extremes=d["drop_extremes"],
        drop_min_count=d["drop_min_count"],
        deduct_above=Decimal(d["deduct_above"]),
        deduct_below=Decimal(d["deduct_below"]),
        floor=Decimal(d["floor"]),
    )


def _rereview_doc(r: ReReview | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"stage": r.stage.value, "seats": list(r.seats), "reason": r.reason,
            "approved": r.approved, "decision": r.decision}


def _rereview_from_doc(d: Mapping[str, Any] | None) -> ReReview | None:
    if d is None:
        return None
    return ReReview(Stage(d["stage"]), tuple(int(x) for x in d["seats"]), str(d["reason"]),
                    bool(d["approved"]), str(d["decision"]))


def session_from_doc(d: Mapping[str, Any]) -> Session:
    """Inverse of :func:`session_to_doc` (trusted input: our own store)."""
    p = d["paused"]
    return Session(
        id=d["id"],
        title=d["title"],
        tenderer=d["tenderer"],
        method=Method(d["method"]),
        created_at=d["created_at"],
        venues=tuple(
            Venue(v["id"], v["name"], Region(v["region"]), v["city"], v["seats"], v["primary"])
            for v in d["venues"]
        ),
        rules=ScoringRules(
            step=Decimal(d["rules"]["step"]),
            deviation_share=Decimal(d["rules"]["deviation_share"]),
            drop_extremes=d["rules"]["drop_extremes"],
            price_formula=d["rules"]["price_formula"],
            average_benchmark=_bench_from_doc(d["rules"].get("average_benchmark")),
        ),
        bids=tuple(
            Bid(b["id"], b["bidder"], b["uscc"], b["price_fen"], tuple(b.get("principals", ())),
                b.get("legal_representative"),
                tuple((k, b["provenance"][k]) for k in PROVENANCE_FIELDS
                      if k in b.get("provenance", {})))
            for b in d["bids"]
        ),
        criteria=tuple(
            Criterion(
                c["id"], c["name"], Category(c["category"]), Decimal(c["max_points"]), c["formula"],
                c.get("guidance"),
            )
            for c in d["criteria"]
        ),
        seats=tuple(
            Seat(x["index"], x["venue_id"], x["expert_id"], x["expert_name"], x["checked_in"],
                 x.get("source"), x.get("pledged"), bool(x.get("declared", False)))
            for x in d["seats"]
        ),
        state=State(d["state"]),
        stage=None if d["stage"] is None else Stage(d["stage"]),
        paused=None
        if p is None
        else Paused(
            State(p["from_state"]), Stage(p["from_stage"]) if p["from_stage"] else None, p["reason"]
        ),
        abort_reason=d["abort_reason"],
        qualified=tuple(d["qualified"]) if d["qualified"] is not None else None,
        pending_explanations=tuple((int(a), str(b)) for a, b in d["pending_explanations"]),
        explanations=tuple((int(a), str(b), str(c)) for a, b, c in d["explanations"]),
        dissents=tuple((int(a), str(b)) for a, b in d["dissents"]),
        signed=tuple(d["signed"]),
        tender_number=d.get("tender_number"),
        tenderer_uscc=d.get("tenderer_uscc"),
        supervising_departments=tuple(
            Organisation(o["name"], o["uscc"]) for o in d.get("supervising_departments", ())
        ),
        # (Documents written before pledges and elections have none of these.)
        tenderer_seats=tuple(int(x) for x in d.get("tenderer_seats", ())),
        recusals=tuple((int(a), str(b), tuple(c)) for a, b, c in d.get("recusals", ())),
        election=_election_from_doc(d.get("election")),
        leader=d.get("leader"),
        sign_deadline=d.get("sign_deadline"),
        refusals=tuple((int(a), str(b)) for a, b in d.get("refusals", ())),
        deemed=tuple(int(x) for x in d.get("deemed", ())),
        rereview=_rereview_from_doc(d.get("rereview")),
        rereviews=tuple(r for x in d.get("rereviews", ()) if (r := _rereview_from_doc(x))),
        clarifications=tuple(
            Clarification(str(c["bid_id"]), str(c["bidder"]), str(c["question"]),
                          c.get("answer"), c.get("attachment_sha256"))
            for c in d.get("clarifications", ())
        ),
        sealed_at=d.get("sealed_at"),
        handovers=tuple(
            Handover(str(h["venue_id"]), tuple(h.get("items", ())), h.get("recorded_at"),
                     h.get("acknowledged_at"), bool(h.get("overdue", False)))
            for h in d.get("handovers", ())
        ),
        links_lost=tuple((str(v), int(t)) for v, t in d.get("links_lost", ())),
        fault=None if (f := d.get("fault")) is None else Fault(
            str(f["venue_id"]), int(f["paused_at"]), bool(f["reformed"])),
        voided=tuple((int(a), str(b)) for a, b in d.get("voided", ())),
        fault_log=tuple(
            FaultStep(str(x["kind"]), int(x["at"]), x.get("venue_id"), x.get("rule"),
                      x.get("minutes"), tuple(int(i) for i in x.get("seats", ())), x.get("to"))
            for x in d.get("fault_log", ())
        ),
        report_faults=d.get("report_faults"),
        moved=tuple((int(a), str(b)) for a, b in d.get("moved", ())),
        incidents=tuple(
            Incident(str(x["venue_id"]), str(x["category"]), str(x["text"]),
                     int(x["occurred_at"]), int(x["recorded_at"]), str(x["recorded_by"]))
            for x in d.get("incidents", ())
        ),
        stages=str(d.get("stages", "combined")),
        anonymous=bool(d.get("anonymous", False)),
        code_salt=d.get("code_salt"),
        rejections=tuple(
            Rejection(str(r["bid_id"]), Stage(r["stage"]),
                      tuple((str(a), str(b)) for a, b in r["reasons"]))
            for r in d.get("rejections", ())
        ),
    )


def _election_from_doc(e: Mapping[str, Any] | None) -> Election | None:
    if e is None:
        return None
    return Election(
        round=int(e["round"]),
        candidates=tuple(int(x) for x in e["candidates"]),
        ballots=tuple(
            Ballot(int(b["seat"]), b["candidate"], str(b["salt"]), str(b["commitment"]))
            for b in e["ballots"]
        ),
    )


def with_bid(s: Session, bid: Bid) -> Session:
    """``s`` with one more bid (id must be new)."""
    if s.bid(bid.id):
        raise InvalidInput(f"bid id {bid.id!r} already exists", field="id")
    if s.anonymous:
        errs = _Errors()
        _guidance_blind(errs, [bid], s.criteria,
                        [f"criteria/{i}" for i in range(len(s.criteria))], title=s.title)
        _raise_first(errs)
    return replace(s, bids=(*s.bids, bid))


def with_criterion(s: Session, c: Criterion) -> Session:
    """``s`` with one more criterion (id must be new)."""
    if any(x.id == c.id for x in s.criteria):
        raise InvalidInput(f"criterion id {c.id!r} already exists", field="id")
    errs = _Errors()
    _check_price_criteria(errs, s.rules, [c], [""])
    if s.anonymous:
        _guidance_blind(errs, s.bids, [c], [""])
    _raise_first(errs)
    return replace(s, criteria=(*s.criteria, c))


def _raise_first(errs: _Errors) -> None:
    # One record added alone: its first problem, named as the record's own field.
    if errs.items:
        first = errs.items[0]
        raise InvalidInput(first.reason, field=first.field.lstrip("/"))
