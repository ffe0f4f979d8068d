"""The draw: agrees with a naive reading of docs/draw.md, honours every rule, is uniform."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import math
import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import VerificationError
from evalsvc.experts import draw as draw_module
from evalsvc.experts.draw import NoEligibleExpert, draw, pick_index, verify_draw
from evalsvc.experts.pool import (
    REGIONS,
    Collaboration,
    Evaluation,
    Expert,
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
    DrawRules,
    EmployedByBidder,
    EmployedByTenderer,
    ExpertRule,
    FrequentEvaluator,
    Inactive,
    MembersPass,
    RecentCollaboration,
    RecentPenalty,
    RegionCaps,
    Seat,
    SeatRegion,
    SeatSpecialty,
    TendererRepresentatives,
    UnsafeNoRecusal,
)
from evalsvc.experts.specialties import matches

from ._helpers import expert, party, resident_id, uscc

ON = _dt.date(2026, 12, 1)
CTX = DrawContext("S-7", ON, tenderer=party(0), bidders=(party(2, "甲"), party(3, "乙")),
                  supervising_departments=(party(5),))
RECUSAL: AllOf[Expert] = AllOf[Expert](
    [Inactive(), EmployedByBidder(), EmployedByTenderer(), DeclaredRelationship(),
     RecentPenalty(3), RecentCollaboration(2), FrequentEvaluator(2)],
    name="recusal",
)
SPECS = ("A01.01", "A01.02", "A02.01", "B03", "C01.01")
SEAT_SPECS = ("A01", "A", "A", "A01", "A01.02", "B03", "C01")


def make_rules(expert_rule: ExpertRule = RECUSAL, *, caps: dict[str, int] | None = None,
               alternates: int = 2, reps: int = 0) -> DrawRules:
    caps = caps or {}
    committee = AllOf[Committee](
        [CommitteeSize(), TendererRepresentatives(), DistinctMembers(), SeatSpecialty(),
         SeatRegion(), RegionCaps(caps), MembersPass(expert_rule)],
        name="composition",
    )
    return DrawRules(CTX, expert_rule, committee, alternates, caps, reps)


# --------------------------------------------------------------------------- a reference


def reference_draw(experts: list[Expert], rules: DrawRules, seats: list[Seat],
                   seed: bytes) -> dict[str, Any] | None:
    """docs/draw.md read literally: no indexes, every rule asked of every expert."""
    ctx = rules.context
    ok = sorted((e for e in experts if rules.expert_rule.check(e, ctx) is None),
                key=lambda e: e.id.encode())
    picked: set[str] = set()
    members: list[Expert] = []
    picks: list[list[dict[str, Any]]] = [[] for _ in seats]
    for rnd in range(rules.alternates + 1):
        for s, seat in enumerate(seats):
            count = Counter(m.region for m in members)
            if rnd > 0:
                count[members[s].region] -= 1
            eligible = [
                e for e in ok
                if e.region in seat.regions
                and any(matches(c, seat.specialty) for c in e.specialties)
                and e.id not in picked
                and count[e.region] + 1 <= rules.region_caps.get(e.region, 10**9)
            ]
            if not eligible:
                if rnd == 0:
                    return None
                continue
            n, counter = len(eligible), 0
            while True:
                msg = s.to_bytes(4, "big") + rnd.to_bytes(4, "big") + counter.to_bytes(4, "big")
                x = int.from_bytes(hmac.new(seed, msg, hashlib.sha256).digest(), "big")
                if x < 2**256 - 2**256 % n:
                    break
                counter += 1
            chosen = eligible[x % n]
            picked.add(chosen.id)
            if rnd == 0:
                members.append(chosen)
            picks[s].append({"expert": chosen.id, "eligible": n, "counter": counter})
    return {
        "algorithm": "evalsvc-draw-v1",
        "session": ctx.session_id,
        "seed": seed.hex(),
        "alternates_per_seat": rules.alternates,
        "seats": [
            {"index": s, "venue": seat.venue, "specialty": seat.specialty,
             "regions": list(seat.regions), "member": picks[s][0], "alternates": picks[s][1:]}
            for s, seat in enumerate(seats)
        ],
    }


# --------------------------------------------------------------------------- strategies

def random_expert(rng: random.Random, n: int) -> Expert:
    """An expert with a bit of everything the recusal rules read, drawn from ``rng``."""

    def org() -> Organisation:
        k = rng.randrange(7)
        return Organisation(f"单位{k}", uscc(k))

    def day() -> _dt.date:
        return _dt.date(2020, 1, 1) + _dt.timedelta(days=rng.randrange(7 * 366))

    def some(p: float) -> bool:
        return rng.random() < p

    rel: tuple[Relationship, ...] = ()
    if some(0.15):
        o = org()
        rel = (Relationship("organisation", o.name, o.uscc),)
    elif some(0.15):
        rel = (Relationship("person", rng.choice(("甲", "乙", "丙"))),)
    return expert(
        f"E{n:03d}",
        region=rng.choice(REGIONS),
        employer=org(),
        specialties=tuple(sorted(set(rng.sample(SPECS, rng.randint(1, 3))))),
        status=rng.choice(("active",) * 6 + ("suspended", "retired")),
        penalties=(Penalty(day()),) if some(0.1) else (),
        relationships=rel,
        collaborations=(Collaboration(org().uscc, day()),) if some(0.15) else (),
        evaluations=tuple(Evaluation(org().uscc, day()) for _ in range(rng.randint(0, 3))),
    )


@st.composite
def scenarios(draw_: Any) -> tuple[list[Expert], DrawRules, list[Seat], bytes]:
    rng = random.Random(draw_(st.integers(0, 2**32)))
    experts = [random_expert(rng, n) for n in range(draw_(st.integers(30, 100)))]
    n_seats = draw_(st.sampled_from((5, 7)))
    seats = [
        Seat(f"v{draw_(st.integers(0, 2))}", draw_(st.sampled_from(SEAT_SPECS)),
             tuple(r for r in REGIONS if r in draw_(st.sets(st.sampled_from(REGIONS),
                                                            min_size=1))))
        for _ in range(n_seats)
    ]
    caps = draw_(st.dictionaries(st.sampled_from(REGIONS), st.integers(2, 5), max_size=2))
    rules = make_rules(caps=caps, alternates=draw_(st.integers(0, 3)))
    seed = draw_(st.binary(min_size=32, max_size=32))
    return experts, rules, seats, seed


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_draw_matches_the_specification_and_honours_every_rule(
    scenario: tuple[list[Expert], DrawRules, list[Seat], bytes],
) -> None:
    experts, rules, seats, seed = scenario
    pool = Pool.from_experts(experts)
    expected = reference_draw(experts, rules, seats, seed)
    if expected is None:
        with pytest.raises(NoEligibleExpert):
            draw(pool, rules, seats, seed)
        return
    result = draw(pool, rules, seats, seed)
    assert result.to_json() == expected
    # Same inputs, same bytes.
    assert draw(pool, rules, seats, seed).canonical() == result.canonical()
    by_id = {e.id: e for e in experts}
    members = [by_id[i] for i in result.member_ids]
    committee = Committee(tuple(seats), tuple(members))
    assert rules.committee_rule.check(committee, CTX) is None
    everyone = [*result.member_ids, *(a.expert_id for s in result.seats for a in s.alternates)]
    assert len(set(everyone)) == len(everyone)
    for expert_id in everyone:
        e = by_id[expert_id]
        assert e.status == "active"
        assert RECUSAL.violations(e, CTX) == []
    # Calling any alternate in place of its seat's member keeps every composition rule.
    for s in result.seats:
        for alt in s.alternates:
            replaced = list(members)
            replaced[s.index] = by_id[alt.expert_id]
            assert rules.committee_rule.check(Committee(tuple(seats), tuple(replaced)),
                                              CTX) is None


def test_a_different_seed_gives_a_different_committee() -> None:
    experts = [expert(f"E{n:03d}", region=REGIONS[n % 4]) for n in range(200)]
    pool = Pool.from_experts(experts)
    seats = [Seat("v", "A01", REGIONS)] * 5
    a = draw(pool, make_rules(), seats, b"\x01" * 32)
    b = draw(pool, make_rules(), seats, b"\x02" * 32)
    assert a.member_ids != b.member_ids


def test_the_masked_personal_fields_do_not_change_the_draw() -> None:
    # Non-interference: other names, ID numbers, employer names and titles (the fields a
    # draw view masks) give the same committee from the same seed.
    import dataclasses

    experts = [expert(f"E{n:03d}", region=REGIONS[n % 4]) for n in range(200)]
    renamed = [dataclasses.replace(x, name=f"化名{n}", resident_id=resident_id(n + 500),
                                   employer=dataclasses.replace(x.employer, name=f"单位{n}"),
                                   title="高级工程师") for n, x in enumerate(experts)]
    seats = [Seat("v", "A01", REGIONS)] * 5
    a, b = (draw(Pool.from_experts(group), make_rules(), seats, b"\x03" * 32)
            for group in (experts, renamed))
    assert a.canonical() == b.canonical()


def test_a_seat_without_eligible_experts_fails_and_says_which() -> None:
    experts = [expert(f"E{n}") for n in range(10)]
    seats = [Seat("primary", "A01", ("SH",))] * 4 + [Seat("hefei", "B03", ("AH",))]
    with pytest.raises(NoEligibleExpert, match=r"seat 4 \(hefei/B03\)"):
        draw(Pool.from_experts(experts), make_rules(), seats, b"\x00" * 32)


def test_short_alternate_lists_are_allowed() -> None:
    experts = [expert(f"E{n}") for n in range(6)]
    seats = [Seat("primary", "A01", ("SH",))] * 5
    result = draw(Pool.from_experts(experts), make_rules(alternates=2), seats, b"\x00" * 32)
    assert sum(len(s.alternates) for s in result.seats) == 1
    assert [len(s.alternates) for s in result.seats] == [1, 0, 0, 0, 0]


def test_rejection_sampling_draws_again_instead_of_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    real_new = hmac.new

    class Fake:
        def __init__(self, key: bytes, msg: bytes, digestmod: Any) -> None:
            self.msg = msg
            self.real = real_new(key, msg, digestmod)

        def digest(self) -> bytes:
            # Counter 0 yields 2^256 - 1, above the acceptance limit for n = 3.
            return b"\xff" * 32 if self.msg.endswith(b"\x00\x00\x00\x00") else self.real.digest()

    monkeypatch.setattr(draw_module.hmac, "new", Fake)
    k, counter = pick_index(b"s" * 32, 3, seat=0, round_=0)
    assert counter == 1
    monkeypatch.undo()
    x = int.from_bytes(hmac.new(b"s" * 32, bytes(8) + (1).to_bytes(4, "big"),
                                hashlib.sha256).digest(), "big")
    assert k == x % 3


def test_verify_draw_names_the_first_seat_that_differs() -> None:
    experts = [expert(f"E{n:02d}") for n in range(30)]
    pool = Pool.from_experts(experts)
    seats = [Seat("primary", "A01", ("SH",))] * 5
    rules = make_rules()
    recorded = draw(pool, rules, seats, b"\x05" * 32).to_json()
    assert verify_draw(recorded, pool, rules, seats).to_json() == recorded
    recorded["seats"][2]["alternates"][1]["expert"] = "E99"
    with pytest.raises(VerificationError, match="seat 2: recorded member"):
        verify_draw(recorded, pool, rules, seats)
    recorded = draw(pool, rules, seats, b"\x05" * 32).to_json()
    recorded["note"] = "added later"
    with pytest.raises(VerificationError, match=r"outside the seats \(fields \['note'\]"):
        verify_draw(recorded, pool, rules, seats)


def test_rules_without_an_index_are_still_applied() -> None:
    class NoOddIds:
        name = "no_odd_ids"

        def check(self, e: Expert, context: DrawContext) -> Any:
            return "odd" if int(e.id[1:]) % 2 else None

    experts = [expert(f"E{n:02d}") for n in range(40)]
    rules = make_rules(AllOf[Expert]([Inactive(), NoOddIds()]))
    seats = [Seat("primary", "A01", ("SH",))] * 5
    for seed in range(20):
        result = draw(Pool.from_experts(experts), rules, seats, seed.to_bytes(32, "big"))
        assert all(int(i[1:]) % 2 == 0 for i in result.member_ids)


# --------------------------------------------------------------------------- uniformity


def chi_square_p(stat: float, df: int) -> float:
    """P(X ≥ stat) for X ~ χ²(df): the regularised upper incomplete gamma Q(df/2, stat/2)."""
    a, x = df / 2, stat / 2
    if x <= 0:
        return 1.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        # Series for the lower function P, then Q = 1 - P.
        term = total = 1 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1 - total * math.exp(log_prefactor))
    # Continued fraction for Q (modified Lentz).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    i = 1
    while True:
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
        i += 1
    return math.exp(log_prefactor) * h


def test_chi_square_p_value_matches_closed_forms() -> None:
    for stat in (0.5, 2.0, 7.3, 30.0):
        assert chi_square_p(stat, 2) == pytest.approx(math.exp(-stat / 2), rel=1e-9)
        assert chi_square_p(stat, 1) == pytest.approx(math.erfc(math.sqrt(stat / 2)), rel=1e-9)
    # Printed tables of chi-square quantiles (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4).
    assert chi_square_p(267.541, 200) == pytest.approx(0.001, rel=0.01)
    assert chi_square_p(124.342, 100) == pytest.approx(0.05, rel=0.01)
    assert chi_square_p(77.929, 100) == pytest.approx(0.95, rel=0.01)


def test_one_seat_draws_are_uniform_over_200_eligible_experts() -> None:
    experts = [expert(f"E{n:03d}") for n in range(200)]
    pool = Pool.from_experts(experts)
    seats = [Seat("primary", "A01", ("SH",))]
    # One seat is not a committee: composition is left out, recusal stays on.
    rules = DrawRules(CTX, RECUSAL, AllOf[Committee]([]), alternates=0)
    counts: Counter[str] = Counter()
    draws = 20_000
    for n in range(draws):
        seed = hashlib.sha256(b"uniformity" + n.to_bytes(4, "big")).digest()
        counts[draw(pool, rules, seats, seed).member_ids[0]] += 1
    assert len(counts) == 200
    expected = draws / 200
    stat = sum((counts[e.id] - expected) ** 2 / expected for e in experts)
    p = chi_square_p(stat, 199)
    assert p > 0.001, f"chi-square {stat:.1f} on 199 df, p = {p:.5f}"


def test_unsafe_no_recusal_draws_recused_experts_too() -> None:
    experts = [expert(f"E{n}", employer=Organisation("x", uscc(2))) for n in range(5)]
    seats = [Seat("primary", "A01", ("SH",))] * 5
    with pytest.raises(NoEligibleExpert):
        draw(Pool.from_experts(experts), make_rules(), seats, b"\x00" * 32)
    result = draw(Pool.from_experts(experts), make_rules(UnsafeNoRecusal()), seats, b"\x00" * 32)
    assert sorted(result.member_ids) == [e.id for e in experts]
    assert canonical_bytes(result.to_json()) == result.canonical()
