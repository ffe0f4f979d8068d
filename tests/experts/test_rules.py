"""Recusal and composition rules: each rule's decision, its message, and its index path."""

from __future__ import annotations

import copy
import datetime as _dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalsvc.errors import ConfigError
from evalsvc.experts.pool import (
    Collaboration,
    Evaluation,
    Organisation,
    Penalty,
    Pool,
    Relationship,
)
from evalsvc.experts.rules import (
    AllOf,
    Committee,
    CommitteeSize,
    DeclaredRelationship,
    DistinctMembers,
    DrawContext,
    EmployedByBidder,
    EmployedByTenderer,
    ExpertRule,
    FrequentEvaluator,
    Inactive,
    RecentCollaboration,
    RecentPenalty,
    RegionCaps,
    Seat,
    SeatRegion,
    SeatSpecialty,
    TendererRepresentatives,
    UnsafeNoRecusal,
    exclusions,
    load_rules,
    years_before,
)
from evalsvc.experts.synth import WELL_KNOWN, WELL_KNOWN_PRINCIPALS, synthetic_experts

from ._helpers import AS_OF, expert, party, uscc

ON = _dt.date(2026, 12, 1)
CTX = DrawContext(
    "S-1",
    ON,
    tenderer=party(10),
    bidders=(party(20, "顾建华"), party(21)),
    supervising_departments=(party(11),),
)

ALL_RULES: list[ExpertRule] = [
    Inactive(), EmployedByBidder(), EmployedByTenderer(), DeclaredRelationship(),
    RecentPenalty(3), RecentPenalty(None), RecentCollaboration(3), FrequentEvaluator(2),
]


@pytest.mark.parametrize(
    ("rule", "kw", "words"),
    [
        (Inactive(), {"status": "suspended"}, "is suspended"),
        (Inactive(), {"status": "retired"}, "is retired"),
        (EmployedByBidder(), {"employer": Organisation("x", uscc(21))},
         "employed by bidder 单位21"),
        (EmployedByTenderer(), {"employer": Organisation("x", uscc(10))}, "staff of 单位10"),
        (EmployedByTenderer(), {"employer": Organisation("x", uscc(11))}, "staff of 单位11"),
        (DeclaredRelationship(),
         {"relationships": (Relationship("organisation", "x", uscc(20)),)},
         "relationship to bidder 单位20"),
        (DeclaredRelationship(), {"relationships": (Relationship("person", "顾建华"),)},
         "顾建华, principal of bidder 单位20"),
        (RecentPenalty(3), {"penalties": (Penalty(_dt.date(2023, 12, 2)),)},
         "penalised on 2023-12-02"),
        (RecentPenalty(None), {"penalties": (Penalty(_dt.date(2001, 1, 1)),)},
         "penalised on 2001-01-01"),
        (RecentCollaboration(3),
         {"collaborations": (Collaboration(uscc(21), _dt.date(2024, 5, 1)),)},
         "collaborated with bidder 单位21 on 2024-05-01"),
        (FrequentEvaluator(2),
         {"evaluations": (Evaluation(uscc(10), _dt.date(2026, 1, 1)),
                          Evaluation(uscc(10), _dt.date(2026, 11, 30)))},
         "2 times in the last year"),
    ],
)
def test_each_recusal_rule_names_itself_and_the_expert(
    rule: ExpertRule, kw: dict[str, Any], words: str
) -> None:
    e = expert("E42", **kw)
    violation = rule.check(e, CTX)
    assert violation is not None
    assert violation.rule == rule.name and violation.expert_id == "E42"
    assert f"rule {rule.name}" in violation.message and "expert E42" in violation.message
    assert words in violation.message
    pool = Pool.from_experts([e, expert("E01")])
    assert exclusions(rule, pool, CTX)[0] == {pool.index_of("E42")}


@pytest.mark.parametrize(
    ("rule", "kw"),
    [
        (EmployedByBidder(), {"employer": Organisation("x", uscc(30))}),
        (DeclaredRelationship(), {"relationships": (Relationship("organisation", "x", uscc(30)),
                                                    Relationship("person", "沈立新"))}),
        # exactly three years ago is outside "within three years"
        (RecentPenalty(3), {"penalties": (Penalty(_dt.date(2023, 12, 1)),)}),
        (RecentCollaboration(3),
         {"collaborations": (Collaboration(uscc(30), _dt.date(2026, 5, 1)),
                             Collaboration(uscc(21), _dt.date(2023, 11, 30)))}),
        (FrequentEvaluator(2),
         {"evaluations": (Evaluation(uscc(10), _dt.date(2025, 12, 1)),
                          Evaluation(uscc(10), _dt.date(2026, 11, 30)),
                          Evaluation(uscc(30), _dt.date(2026, 11, 30)))}),
    ],
)
def test_recusal_rules_leave_unrelated_experts_alone(rule: ExpertRule, kw: dict[str, Any]) -> None:
    e = expert("E42", **kw)
    assert rule.check(e, CTX) is None
    assert exclusions(rule, Pool.from_experts([e]), CTX)[0] == set()


def test_unsafe_no_recusal_recuses_nobody() -> None:
    e = expert("E1", status="suspended", employer=Organisation("x", uscc(20)))
    assert UnsafeNoRecusal().check(e, CTX) is None
    assert AllOf([UnsafeNoRecusal()]).check(e, CTX) is None


def test_all_of_reports_the_first_violation_in_order_and_all_on_request() -> None:
    e = expert("E1", status="suspended", employer=Organisation("x", uscc(20)))
    rule = AllOf([EmployedByBidder(), Inactive()])
    first = rule.check(e, CTX)
    assert first is not None and first.rule == "employed_by_bidder"
    assert [v.rule for v in rule.violations(e, CTX)] == ["employed_by_bidder", "inactive"]


def test_years_before_handles_leap_days() -> None:
    assert years_before(_dt.date(2028, 2, 29), 3) == _dt.date(2025, 2, 28)
    assert years_before(_dt.date(2026, 12, 1), 1) == _dt.date(2025, 12, 1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), on_offset=st.integers(-800, 800), k=st.integers(1, 4))
def test_index_path_agrees_with_check_on_synthetic_pools(seed: int, on_offset: int, k: int) -> None:
    experts = synthetic_experts(400, seed=seed, as_of=AS_OF)
    pool = Pool.from_experts(experts)
    # Bidders: the well-known ones plus employers of a few pool experts.
    extra = {experts[n].employer for n in (0, 1, 2)}
    bidders = tuple(
        [party_of(WELL_KNOWN[b], WELL_KNOWN_PRINCIPALS[b]) for b in ("bidder1", "bidder2")]
        + [party_of(o) for o in sorted(extra, key=lambda o: o.uscc)]
    )
    ctx = DrawContext("S", AS_OF + _dt.timedelta(days=on_offset),
                      party_of(WELL_KNOWN["tenderer"]), bidders,
                      (party_of(WELL_KNOWN["supervisor"]),))
    for rule in [*ALL_RULES, FrequentEvaluator(k), AllOf(ALL_RULES)]:
        fast, residual = exclusions(rule, pool, ctx)
        assert residual == ()
        slow = {i for i in range(len(pool)) if rule.check(pool.expert(i), ctx) is not None}
        assert fast == slow, rule.name


def party_of(org: Organisation, *principals: str) -> Any:
    from evalsvc.experts.rules import Party

    return Party(org.name, org.uscc, tuple(principals))


# --------------------------------------------------------------------------- composition


def _committee(*members: Any, reps: int = 0, seats: tuple[Seat, ...] | None = None) -> Committee:
    if seats is None:
        seats = tuple(Seat("v", "A01", ("SH",)) for _ in members)
    return Committee(seats, tuple(members), reps)


@pytest.mark.parametrize("n", [3, 4, 6])
def test_committee_size_needs_five_or_more_and_odd(n: int) -> None:
    v = CommitteeSize().check(_committee(*[expert(f"E{i}") for i in range(n)]), CTX)
    assert v is not None and v.rule == "committee_size" and f"has {n} members" in v.message


def test_committee_of_five_or_seven_is_fine() -> None:
    for n in (5, 7):
        assert CommitteeSize().check(_committee(*[expert(f"E{i}") for i in range(n)]), CTX) is None


def test_tenderer_representatives_at_most_a_third() -> None:
    members = [expert(f"E{i}") for i in range(4)]
    v = TendererRepresentatives().check(_committee(*members, reps=3), CTX)
    assert v is not None and "3 tenderer representatives of 7" in v.message
    five = [*members, expert("E5")]
    assert TendererRepresentatives().check(_committee(*five, reps=2), CTX) is None


def test_seat_rules_name_the_expert() -> None:
    seats = (Seat("suzhou", "B03", ("JS",)),)
    v = SeatSpecialty().check(_committee(expert("E9"), seats=seats), CTX)
    assert v is not None and "expert E9" in v.message and "B03" in v.message
    v = SeatRegion().check(_committee(expert("E9"), seats=seats), CTX)
    assert v is not None and "expert E9 is from SH" in v.message
    v = RegionCaps({"SH": 1}).check(_committee(expert("E1"), expert("E2")), CTX)
    assert v is not None and "expert E2" in v.message and "cap is 1" in v.message
    v = DistinctMembers().check(_committee(expert("E1"), expert("E1")), CTX)
    assert v is not None and "expert E1 holds more than one seat" in v.message


# --------------------------------------------------------------------------- loading


def test_example_rules_file_loads(example_rules_doc: dict[str, Any]) -> None:
    config = load_rules(example_rules_doc)
    assert [s.venue for s in config.seats] == ["shanghai"] * 3 + ["suzhou"] * 2 + ["hefei"] * 2
    assert config.seats[3].regions == ("JS",)
    assert config.rules.alternates == 2
    assert config.rules.region_caps == {"SH": 3}
    assert config.document["draw"]["date"] == "2026-12-01"
    names = [r.name for r in config.rules.expert_rule.rules]  # type: ignore[attr-defined]
    assert names == ["inactive", "employed_by_bidder", "employed_by_tenderer",
                     "declared_relationship", "recent_penalty", "recent_collaboration",
                     "frequent_evaluator"]
    # The document is stable: loading its JSON form again gives the same document.
    assert load_rules(config.document).document == config.document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["seats"][0].update(count=4), "committee_size"),
        (lambda d: d["seats"][0].update(specialty="Z9"), "not a known specialty"),
        (lambda d: d["seats"][0].update(venue="nowhere"), "not a declared venue"),
        (lambda d: d["bidders"][0].update(uscc="913205051346601128"), "check character"),
        (lambda d: d["draw"].update(tenderer_representatives=4), "tenderer_representatives"),
        (lambda d: d["recusal"].update(shortcut=True), "unknown recusal options shortcut"),
        (lambda d: d["region_caps"].update(BJ=1), "region_caps"),
        (lambda d: d["draw"].pop("date"), "draw.date"),
        (lambda d: d["draw"].update(date="2026-13-01"), "draw.date"),
        (lambda d: d.update(venues={"id": "x"}), "array of tables"),
        (lambda d: d["seats"].__setitem__(0, "shanghai"), "seats\\[0\\] must be a table"),
    ],
)
def test_bad_rules_are_refused(example_rules_doc: dict[str, Any], change: Any,
                               message: str) -> None:
    doc = copy.deepcopy(example_rules_doc)
    change(doc)
    with pytest.raises(ConfigError, match=message):
        load_rules(doc)


def test_match_venue_region_false_opens_every_region(example_rules_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(example_rules_doc)
    doc["draw"]["match_venue_region"] = False
    assert load_rules(doc).seats[0].regions == ("SH", "JS", "ZJ", "AH")
