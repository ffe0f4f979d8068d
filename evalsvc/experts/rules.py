"""Recusal (回避) and committee composition rules as small composable policies. Pure.

An :class:`ExpertRule` answers "may this expert sit on this committee?" with
``check(expert, context) -> Violation | None``; a :class:`CommitteeRule` answers "is this
committee well formed?" with ``check(committee, context) -> Violation | None``. Both
compose with :class:`AllOf`. The no-op :class:`UnsafeNoRecusal` is named so that its use
stands out in review.

Expert rules may also offer ``excluded(pool, context) -> set[int]``: the same decision for
a whole :class:`~evalsvc.experts.pool.Pool` at once, computed from its inverted indexes,
so that a draw over 100,000 experts does not call ``check`` 100,000 times. The two must
agree exactly (``tests/experts/test_rules.py`` checks it); ``check`` is the definition.

:func:`load_rules` builds the rules and seats of a draw from a rules document (the
parsed ``config/draw-rules.example.toml`` or its JSON form in a draw bundle).
"""

from __future__ import annotations

__all__ = [
    "AllOf",
    "Committee",
    "CommitteeRule",
    "CommitteeSize",
    "DeclaredRelationship",
    "DistinctMembers",
    "DrawConfig",
    "DrawContext",
    "DrawRules",
    "EmployedByBidder",
    "EmployedByTenderer",
    "ExpertRule",
    "FrequentEvaluator",
    "Inactive",
    "MembersPass",
    "Party",
    "RecentCollaboration",
    "RecentPenalty",
    "RegionCaps",
    "Seat",
    "SeatRegion",
    "SeatSpecialty",
    "TendererRepresentatives",
    "UnsafeNoRecusal",
    "Violation",
    "exclusions",
    "load_rules",
    "years_before",
]

import datetime as _dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from evalsvc.errors import ConfigError
from evalsvc.experts.pool import REGIONS, Expert, Pool
from evalsvc.experts.specialties import SPECIALTIES, ancestors
from evalsvc.ids import validate_uscc


@dataclass(frozen=True)
class Violation:
    """A rule broken by an expert or a committee; ``message`` names both."""

    rule: str
    expert_id: str | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Party:
    """A tenderer, bidder or supervising department, with its principals (主要负责人)."""

    name: str
    uscc: str
    principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrawContext:
    """What recusal is judged against: the parties of the tender and the evaluation date."""

    session_id: str
    on: _dt.date
    tenderer: Party
    bidders: tuple[Party, ...] = ()
    supervising_departments: tuple[Party, ...] = ()


@dataclass(frozen=True)
class Seat:
    """One committee seat: the venue it sits at, the specialty prefix, the regions it draws from."""

    venue: str
    specialty: str
    regions: tuple[str, ...]

    def label(self) -> str:
        """``venue/specialty`` for messages."""
        return f"{self.venue}/{self.specialty}"


@dataclass(frozen=True)
class Committee:
    """Drawn members, one per seat in seat order, and the number of tenderer representatives."""

    seats: tuple[Seat, ...]
    members: tuple[Expert, ...]
    tenderer_representatives: int = 0

    @property
    def size(self) -> int:
        """Members plus tenderer representatives (招标人代表)."""
        return len(self.members) + self.tenderer_representatives


@runtime_checkable
class ExpertRule(Protocol):
    """May this expert sit on the committee for this context?"""

    @property
    def name(self) -> str: ...

    def check(self, expert: Expert, context: DrawContext) -> Violation | None: ...


class CommitteeRule(Protocol):
    """Is this committee well formed?"""

    @property
    def name(self) -> str: ...

    def check(self, committee: Committee, context: DrawContext) -> Violation | None: ...


def years_before(day: _dt.date, years: int) -> _dt.date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _v(rule: str, expert: Expert, what: str) -> Violation:
    return Violation(rule, expert.id, f"rule {rule}: expert {expert.id} {what}")


T = TypeVar("T")


@dataclass(frozen=True)
class AllOf(Generic[T]):
    """Every rule must pass; ``check`` returns the first violation, in the given order."""

    rules: tuple[Any, ...]
    name: str = "all_of"

    def __init__(self, rules: Sequence[Any], name: str = "all_of") -> None:
        object.__setattr__(self, "rules", tuple(rules))
        object.__setattr__(self, "name", name)

    def check(self, subject: T, context: DrawContext) -> Violation | None:
        """The first violation of any rule, or ``None``."""
        for rule in self.rules:
            violation: Violation | None = rule.check(subject, context)
            if violation is not None:
                return violation
        return None

    def violations(self, subject: T, context: DrawContext) -> list[Violation]:
        """Every violation of every rule."""
        out: list[Violation] = []
        for rule in self.rules:
            if isinstance(rule, AllOf):
                out.extend(rule.violations(subject, context))
            else:
                v = rule.check(subject, context)
                if v is not None:
                    out.append(v)
        return out


# --------------------------------------------------------------------------- recusal


@dataclass(frozen=True)
class UnsafeNoRecusal:
    """Recuses nobody. For tests and simulations only; never in a real draw."""

    name: str = "unsafe_no_recusal"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """Always ``None``."""
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """The empty set."""
        return set()


@dataclass(frozen=True)
class EmployedByBidder:
    """The expert works for a bidder."""

    # 招标投标法实施条例 第46条 (与投标人有利害关系的人不得进入评标委员会);
    # 评标委员会和评标方法暂行规定 第12条 (三) 与投标人有经济利益关系
    name: str = "employed_by_bidder"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if the expert's employer is one of the bidders."""
        for bidder in context.bidders:
            if expert.employer.uscc == bidder.uscc:
                return _v(self.name, expert, f"is employed by bidder {bidder.name} ({bidder.uscc})")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of experts employed by a bidder."""
        return {i for b in context.bidders for i in pool.employed_by(b.uscc)}


@dataclass(frozen=True)
class EmployedByTenderer:
    """The expert is staff of the tenderer or of a supervising department of the project."""

    # 评标委员会和评标方法暂行规定 第12条 (二) 项目主管部门或者行政监督部门的人员;
    # the tenderer's own staff sit only as tenderer representatives (第9条), never drawn.
    name: str = "employed_by_tenderer"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if the expert's employer is the tenderer or a supervising department."""
        for party in (context.tenderer, *context.supervising_departments):
            if expert.employer.uscc == party.uscc:
                return _v(self.name, expert, f"is staff of {party.name} ({party.uscc})")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of staff of the tenderer or a supervising department."""
        parties = (context.tenderer, *context.supervising_departments)
        return {i for p in parties for i in pool.employed_by(p.uscc)}


@dataclass(frozen=True)
class DeclaredRelationship:
    """The expert declared a relationship to a bidder or to a principal of a bidder."""

    # 评标委员会和评标方法暂行规定 第12条 (一) 投标人或者投标人主要负责人的近亲属,
    # (三) 与投标人有经济利益关系. Persons are matched by name: a namesake is recused too,
    # which errs on the side of the rule.
    name: str = "declared_relationship"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if a declared relationship names a bidder or a bidder's principal."""
        for rel in expert.relationships:
            for bidder in context.bidders:
                if rel.kind == "organisation" and rel.uscc == bidder.uscc:
                    return _v(self.name, expert,
                              f"declared a relationship to bidder {bidder.name} ({bidder.uscc})")
                if rel.kind == "person" and rel.name in bidder.principals:
                    return _v(self.name, expert,
                              f"declared a relationship to {rel.name}, principal of bidder"
                              f" {bidder.name}")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of experts with a declared relationship to a bidder or its principals."""
        out: set[int] = set()
        for b in context.bidders:
            out.update(pool.related_to_organisation(b.uscc))
            for person in b.principals:
                out.update(pool.related_to_person(person))
        return out


@dataclass(frozen=True)
class RecentPenalty:
    """The expert was penalised within the last ``years`` years (``None``: ever)."""

    # 评标委员会和评标方法暂行规定 第12条 (四) 曾因在招标、评标以及其他与招标投标有关活动中
    # 从事违法行为而受过行政处罚或刑事处罚的
    years: int | None = 3
    name: str = "recent_penalty"

    def _cutoff(self, context: DrawContext) -> _dt.date | None:
        return None if self.years is None else years_before(context.on, self.years)

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if a penalty is dated after the cut-off (``on`` minus ``years``)."""
        cutoff = self._cutoff(context)
        for p in expert.penalties:
            if cutoff is None or p.date > cutoff:
                return _v(self.name, expert, f"was penalised on {p.date.isoformat()}")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of experts with a penalty after the cut-off."""
        return set(pool.penalised_after(self._cutoff(context)))


@dataclass(frozen=True)
class RecentCollaboration:
    """The expert worked with or for a bidder within the last ``years`` years."""

    # 招标投标法实施条例 第46条: 与投标人有利害关系 (a recent engagement is one)
    years: int = 3
    name: str = "recent_collaboration"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if a collaboration with a bidder is dated after the cut-off."""
        cutoff = years_before(context.on, self.years)
        bidders = {b.uscc: b for b in context.bidders}
        for c in expert.collaborations:
            if c.uscc in bidders and c.date > cutoff:
                b = bidders[c.uscc]
                return _v(self.name, expert,
                          f"collaborated with bidder {b.name} on {c.date.isoformat()}")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of experts with a recent collaboration with a bidder."""
        cutoff = years_before(context.on, self.years)
        return {i for b in context.bidders for i in pool.collaborated_after(b.uscc, cutoff)}


@dataclass(frozen=True)
class Inactive:
    """The expert is suspended (暂停) or retired from the pool."""

    name: str = "inactive"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation unless the expert's status is active."""
        if expert.status != "active":
            return _v(self.name, expert, f"is {expert.status}")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of suspended or retired experts."""
        return set(pool.inactive())


@dataclass(frozen=True)
class FrequentEvaluator:
    """The expert already sat ``max_per_year`` times for this tenderer in the last year.

    This evaluation would be one more than ``max_per_year`` within a year.
    """

    max_per_year: int = 3
    name: str = "frequent_evaluator"

    def check(self, expert: Expert, context: DrawContext) -> Violation | None:
        """A violation if ``max_per_year`` or more evaluations for the tenderer are recent."""
        cutoff = years_before(context.on, 1)
        n = sum(1 for v in expert.evaluations
                if v.tenderer_uscc == context.tenderer.uscc and v.date > cutoff)
        if n >= self.max_per_year:
            return _v(self.name, expert,
                      f"evaluated for tenderer {context.tenderer.name} {n} times in the last year"
                      f" (at most {self.max_per_year} before this one)")
        return None

    def excluded(self, pool: Pool, context: DrawContext) -> set[int]:
        """Indexes of experts at the yearly limit for this tenderer."""
        cutoff = years_before(context.on, 1)
        counts = Counter(pool.evaluations_after(context.tenderer.uscc, cutoff))
        return {i for i, n in counts.items() if n >= self.max_per_year}


def exclusions(
    rule: ExpertRule, pool: Pool, context: DrawContext
) -> tuple[set[int], tuple[ExpertRule, ...]]:
    """Indexes excluded by the indexed parts of ``rule``, and the parts without an index.

    The draw checks the second part expert by expert, only for candidates of a seat.
    """
    if isinstance(rule, AllOf):
        out: set[int] = set()
        rest: list[ExpertRule] = []
        for sub in rule.rules:
            ex, r = exclusions(sub, pool, context)
            out |= ex
            rest.extend(r)
        return out, tuple(rest)
    fast = getattr(rule, "excluded", None)
    if fast is None:
        return set(), (rule,)
    result: set[int] = fast(pool, context)
    return result, ()


# --------------------------------------------------------------------------- composition


def _cv(rule: str, what: str, expert: Expert | None = None) -> Violation:
    who = f"expert {expert.id}" if expert is not None else "committee"
    return Violation(rule, expert.id if expert else None, f"rule {rule}: {who} {what}")


@dataclass(frozen=True)
class CommitteeSize:
    """At least ``minimum`` members (tenderer representatives included), an odd number."""

    # 招标投标法 第37条, 评标委员会和评标方法暂行规定 第9条: 五人以上单数
    minimum: int = 5
    name: str = "committee_size"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation if the committee is too small or even."""
        n = committee.size
        if n < self.minimum or n % 2 == 0:
            return _cv(self.name, f"has {n} members; needs an odd number of at least"
                                  f" {self.minimum}")
        return None


@dataclass(frozen=True)
class TendererRepresentatives:
    """Tenderer representatives are at most one third of the committee."""

    # 招标投标法 第37条: 技术、经济等方面的专家不得少于成员总数的三分之二
    name: str = "tenderer_representatives"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation if representatives exceed a third of the committee."""
        reps = committee.tenderer_representatives
        if reps * 3 > committee.size:
            return _cv(self.name, f"has {reps} tenderer representatives of {committee.size};"
                                  " at most one third")
        return None


@dataclass(frozen=True)
class DistinctMembers:
    """No expert holds two seats."""

    name: str = "distinct_members"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation naming an expert drawn twice."""
        seen: set[str] = set()
        for e in committee.members:
            if e.id in seen:
                return _cv(self.name, "holds more than one seat", e)
            seen.add(e.id)
        return None


@dataclass(frozen=True)
class SeatSpecialty:
    """Each member holds a specialty code under the seat's specialty."""

    name: str = "seat_specialty"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation naming a member without the seat's specialty."""
        for seat, e in zip(committee.seats, committee.members, strict=True):
            if not any(seat.specialty in ancestors(c) for c in e.specialties):
                return _cv(self.name, f"holds {', '.join(e.specialties)}, not {seat.specialty}"
                                      f" required by seat {seat.label()}", e)
        return None


@dataclass(frozen=True)
class SeatRegion:
    """Each member comes from a region the seat draws from (the venue's, by default)."""

    name: str = "seat_region"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation naming a member from another region."""
        for seat, e in zip(committee.seats, committee.members, strict=True):
            if e.region not in seat.regions:
                return _cv(self.name, f"is from {e.region}, seat {seat.label()} draws from"
                                      f" {', '.join(seat.regions)}", e)
        return None


@dataclass(frozen=True)
class RegionCaps:
    """At most ``caps[region]`` members from each capped region (province)."""

    caps: Mapping[str, int] = field(default_factory=dict)
    name: str = "region_cap"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """A violation naming the member that goes over a region's cap."""
        counts: Counter[str] = Counter()
        for e in committee.members:
            counts[e.region] += 1
            cap = self.caps.get(e.region)
            if cap is not None and counts[e.region] > cap:
                return _cv(self.name, f"is member {counts[e.region]} from {e.region};"
                                      f" the cap is {cap}", e)
        return None


@dataclass(frozen=True)
class MembersPass:
    """Every member passes the recusal rule (checked again on the drawn committee)."""

    rule: ExpertRule
    name: str = "member_recusal"

    def check(self, committee: Committee, context: DrawContext) -> Violation | None:
        """The first recusal violation of any member."""
        for e in committee.members:
            v = self.rule.check(e, context)
            if v is not None:
                return v
        return None


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DrawRules:
    """Everything but the pool, the seats and the seed that decides a draw."""

    context: DrawContext
    expert_rule: ExpertRule
    committee_rule: AllOf[Committee]
    alternates: int = 2
    region_caps: Mapping[str, int] = field(default_factory=dict)
    tenderer_representatives: int = 0


@dataclass(frozen=True)
class DrawConfig:
    """A loaded rules document: the rules, the seats in draw order, and the document itself."""

    rules: DrawRules
    seats: tuple[Seat, ...]
    document: Mapping[str, Any]


def _req(doc: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"rules: {where.rstrip('.')} must be a table", field=where.rstrip("."))
    if key not in doc:
        raise ConfigError(f"rules: {where}{key} is missing", field=f"{where}{key}")
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ConfigError(f"rules: {where}{key} must be {kind.__name__}", field=f"{where}{key}")
    return value


def _array(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"rules: {key} must be an array of tables ([[{key}]])", field=key)
    return value


def _party(doc: Any, where: str) -> Party:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"rules: {where} must be a table", field=where)
    uscc = str(_req(doc, "uscc", str, where + ".")).upper()
    reason = validate_uscc(uscc)
    if reason:
        raise ConfigError(f"rules: {where}.uscc {reason}", field=f"{where}.uscc")
    principals = doc.get("principals", [])
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise ConfigError(f"rules: {where}.principals must be a list of names")
    return Party(str(_req(doc, "name", str, where + ".")), uscc, tuple(principals))


def _opt_int(doc: Mapping[str, Any], key: str, default: int | None, where: str) -> int | None:
    value = doc.get(key, default)
    if value is None or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"rules: {where}{key} must be a non-negative integer or false")
    return value


def load_rules(doc: Mapping[str, Any]) -> DrawConfig:
    """The draw rules and seats described by a rules document; :class:`ConfigError` if wrong.

    The document is the parsed TOML of ``config/draw-rules.example.toml`` (dates may be
    TOML dates or ``YYYY-MM-DD`` strings). :attr:`DrawConfig.document` is its normal
    form, which a draw bundle stores and hashes.
    """
    draw = doc.get("draw", {})
    if not isinstance(draw, Mapping):
        raise ConfigError("rules: [draw] must be a table")
    session = str(_req(draw, "session", str, "draw."))
    on_raw = draw.get("date")
    try:
        if isinstance(on_raw, _dt.datetime):
            raise ValueError("a date without time is expected")
        on = on_raw if isinstance(on_raw, _dt.date) else _dt.date.fromisoformat(str(on_raw))
    except ValueError as exc:
        raise ConfigError(f"rules: draw.date {on_raw!r} is not a date YYYY-MM-DD",
                          field="draw.date") from exc
    alternates = _opt_int(draw, "alternates", 2, "draw.") or 0
    reps = _opt_int(draw, "tenderer_representatives", 0, "draw.") or 0
    match_region = draw.get("match_venue_region", True)
    if not isinstance(match_region, bool):
        raise ConfigError("rules: draw.match_venue_region must be true or false")
    tenderer = _party(doc.get("tenderer"), "tenderer")
    bidders = tuple(_party(b, f"bidders[{n}]") for n, b in enumerate(_array(doc, "bidders")))
    supervisors = tuple(
        _party(b, f"supervising_departments[{n}]")
        for n, b in enumerate(_array(doc, "supervising_departments"))
    )
    context = DrawContext(session, on, tenderer, bidders, supervisors)

    rec = doc.get("recusal", {})
    if not isinstance(rec, Mapping):
        raise ConfigError("rules: [recusal] must be a table")
    known = {"unsafe_no_recusal", "penalty_years", "penalty_ever", "collaboration_years",
             "max_evaluations_per_tenderer_per_year"}
    unknown = sorted(set(rec) - known)
    if unknown:
        raise ConfigError(f"rules: unknown recusal options {', '.join(unknown)}")
    expert_rules: list[ExpertRule] = []
    unsafe = rec.get("unsafe_no_recusal", False) is True
    if unsafe:
        expert_rules.append(UnsafeNoRecusal())
    else:
        # Fixed order; it is the order in which violations are reported (docs/draw.md).
        expert_rules += [Inactive(), EmployedByBidder(), EmployedByTenderer(),
                         DeclaredRelationship()]
        penalty_years = _opt_int(rec, "penalty_years", 3, "recusal.")
        if rec.get("penalty_ever", False) is True:
            expert_rules.append(RecentPenalty(None))
        elif penalty_years is not None:
            expert_rules.append(RecentPenalty(penalty_years))
        collab = _opt_int(rec, "collaboration_years", 3, "recusal.")
        if collab is not None:
            expert_rules.append(RecentCollaboration(collab))
        k = _opt_int(rec, "max_evaluations_per_tenderer_per_year", 3, "recusal.")
        if k is not None:
            expert_rules.append(FrequentEvaluator(k))

    venues: dict[str, tuple[str, ...]] = {}
    for n, v in enumerate(_array(doc, "venues")):
        where = f"venues[{n}]."
        vid = str(_req(v, "id", str, where))
        region = str(_req(v, "region", str, where))
        regions = v.get("draw_regions", [region] if match_region else list(REGIONS))
        for r in (region, *regions):
            if r not in REGIONS:
                raise ConfigError(f"rules: {where} region {r!r} is not one of {', '.join(REGIONS)}")
        venues[vid] = tuple(r for r in REGIONS if r in regions)
    if not venues:
        raise ConfigError("rules: at least one [[venues]] entry is needed")
    seats: list[Seat] = []
    for n, s in enumerate(_array(doc, "seats")):
        where = f"seats[{n}]."
        venue = str(_req(s, "venue", str, where))
        if venue not in venues:
            raise ConfigError(f"rules: {where}venue {venue!r} is not a declared venue")
        spec = str(_req(s, "specialty", str, where))
        if spec not in SPECIALTIES:
            raise ConfigError(f"rules: {where}specialty {spec!r} is not a known specialty code")
        count = _req(s, "count", int, where)
        if count < 1:
            raise ConfigError(f"rules: {where}count must be at least 1")
        seats.extend(Seat(venue, spec, venues[venue]) for _ in range(count))
    caps_doc = doc.get("region_caps", {})
    if not isinstance(caps_doc, Mapping) or any(
        r not in REGIONS or isinstance(c, bool) or not isinstance(c, int) or c < 0
        for r, c in caps_doc.items()
    ):
        raise ConfigError("rules: [region_caps] maps SH/JS/ZJ/AH to non-negative integers")
    caps: dict[str, int] = {r: int(caps_doc[r]) for r in REGIONS if r in caps_doc}

    expert_rule: ExpertRule = AllOf[Expert](expert_rules, name="recusal")
    committee_rule: AllOf[Committee] = AllOf[Committee](
        [CommitteeSize(), TendererRepresentatives(), DistinctMembers(), SeatSpecialty(),
         SeatRegion(), RegionCaps(caps), MembersPass(expert_rule)],
        name="composition",
    )
    rules = DrawRules(context, expert_rule, committee_rule, alternates, caps, reps)
    # A committee of the configured shape must be possible at all (checked before any
    # ceremony, so nobody commits to a draw that cannot happen).
    n_total = len(seats) + reps
    if n_total < 5 or n_total % 2 == 0:
        raise ConfigError(
            f"rules: rule committee_size: {len(seats)} seats + {reps} tenderer representatives"
            f" = {n_total}; needs an odd number of at least 5"
        )
    if reps * 3 > n_total:
        raise ConfigError(f"rules: rule tenderer_representatives: {reps} of {n_total} is more"
                          " than one third")
    document = _normal_document(doc, on)
    return DrawConfig(rules, tuple(seats), document)


def _normal_document(doc: Mapping[str, Any], on: _dt.date) -> dict[str, Any]:
    """The document with dates as strings, ready for canonical JSON."""

    def norm(value: Any) -> Any:
        if isinstance(value, _dt.date):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        if isinstance(value, float):
            raise ConfigError("rules: numbers must be integers (no floats in hashed documents)")
        return value

    out: dict[str, Any] = norm(doc)
    out.setdefault("draw", {})["date"] = on.isoformat()
    return out
