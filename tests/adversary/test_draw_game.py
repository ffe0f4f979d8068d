"""The draw as a game against a dishonest primary (docs/draw.md §1.1, "What withholding
gains"), played against the pure core with the real ceremony and draw functions.

The primary (venue ``sh``) wants one expert, ``TARGET``, at its seat 0. It plays every
option the protocol leaves it, ceremony after ceremony (the supervisor approving every
reopen: the worst case):

- it grinds its secret: of many candidates it commits to the one whose predicted seed
  puts ``TARGET`` at seat 0;
- it tries to reveal after the supervisor (to see the seed first): refused;
- after the other venues reveal it withholds its reveal whenever its prediction is not
  ``TARGET`` — failing the ceremony and starting another, up to ``RESTARTS`` times;
- with one colluding venue (``js``), both grind and withhold together.

The committee it gets must be distributed as an honest draw's: seat 0 is uniform over
the eight eligible Shanghai experts. Pearson's chi-square over 800 games, 7 degrees of
freedom, is compared with the critical value at significance 0.001 (24.322). The games
are seeded, so the test is deterministic; the same strategy against the old rules (two
contributions suffice, anyone reveals at any time) is shown to be biased by the same
test, so the test has the power to see the bias it looks for.

**The committee as a whole** (the second half of this file): a primary who wants
*friends* anywhere on the committee — three of the Shanghai experts, one at Suzhou, one
at Hefei — grinds and withholds for the committee its prediction scores best, alone and
with Suzhou colluding. Every seat's member is tested against its honest law (uniform over
the seat's eight or three eligible experts), so is the set of Shanghai members (uniform
over the 56 sets of three), and so is the number of friends on the committee — the
attacker's own objective, the most powerful of the tests — against its exact honest law
(enumerated). Seven tests per scenario at a family-wise significance of 0.001
(Bonferroni: each at 0.001 / 7); the old rules fail the friends test.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import pytest
from experts._helpers import expert, uscc

from evalsvc.errors import Conflict
from evalsvc.experts import ceremony as cer
from evalsvc.experts.draw import draw
from evalsvc.experts.pool import Pool
from evalsvc.experts.rules import DrawConfig, load_rules
from evalsvc.experts.seed import InsufficientContributions, commitment_digest, seed_from_reveals

SESSION = "G-1"
T0 = _dt.datetime(2026, 12, 1, 1, 0, tzinfo=_dt.UTC)
COMMIT_BY = T0 + _dt.timedelta(minutes=10)
REVEAL_BY = T0 + _dt.timedelta(minutes=20)
VENUES = ("sh", "js", "ah")
PARTIES = (*VENUES, "supervisor")
SH = tuple(f"ESH{i}" for i in range(8))
TARGET = SH[3]
GAMES = 800
# The target's count in an honest draw is Binomial(GAMES, 1/8): mean + 4 standard deviations.
TARGET_BOUND = GAMES / 8 + 4 * (GAMES * 7 / 64) ** 0.5
RESTARTS = 8
GRIND = 16
GUESS = {"supervisor": bytes(32)}  # what the cheaters cannot know, they can only guess
CRITICAL_DF7_0_001 = 24.322  # chi-square, 7 degrees of freedom, upper 0.1 % point

RULES = {
    "draw": {"session": SESSION, "date": "2026-12-01", "alternates": 0},
    "tenderer": {"name": "招标人", "uscc": uscc(90)},
    "bidders": [{"name": "投标人", "uscc": uscc(91), "principals": []}],
    "venues": [{"id": "sh", "region": "SH"}, {"id": "js", "region": "JS"},
               {"id": "ah", "region": "AH"}],
    "seats": [{"venue": "sh", "specialty": "A01", "count": 3},
              {"venue": "js", "specialty": "A01", "count": 1},
              {"venue": "ah", "specialty": "A01", "count": 1}],
}


@pytest.fixture(scope="module")
def world() -> tuple[Pool, DrawConfig]:
    experts = [expert(i, region="SH") for i in SH]
    experts += [expert(f"EJS{i}", region="JS") for i in range(3)]
    experts += [expert(f"EAH{i}", region="AH") for i in range(3)]
    return Pool.from_experts(experts), load_rules(RULES)


def _seat0(world: tuple[Pool, DrawConfig], seed: bytes) -> str:
    pool, config = world
    return draw(pool, config.rules, config.seats, seed).seats[0].member.expert_id


def _chi2(counts: Counter[str]) -> float:
    n = sum(counts.values())
    expected = n / len(SH)
    return sum((counts.get(x, 0) - expected) ** 2 / expected for x in SH)


def _play(world: tuple[Pool, DrawConfig], rng: random.Random, *, cheaters: tuple[str, ...],
          stats: Counter[str]) -> str:
    """One game under the current rules: ceremonies until one draws; seat 0's member."""
    for number in range(1, RESTARTS + 2):
        binding = f"{SESSION}#{number}"
        honest = {p: rng.randbytes(32) for p in PARTIES if p not in cheaters}

        def predicted(mine: dict[str, bytes], honest: dict[str, bytes] = honest,
                      binding: str = binding) -> str:
            known = {**{p: s for p, s in honest.items() if p != "supervisor"}, **mine, **GUESS}
            return _seat0(world, seed_from_reveals(binding, known))

        # Grinding: the cheaters' secrets are chosen before anything is revealed.
        candidates = [{p: rng.randbytes(32) for p in cheaters} for _ in range(GRIND)]
        mine = next((c for c in candidates if predicted(c) == TARGET), candidates[0])
        stats["ground"] += 1
        secrets = {**honest, **mine}
        st = cer.open_ceremony(binding, PARTIES, commit_deadline=COMMIT_BY,
                               reveal_deadline=REVEAL_BY, now=T0, minimum=len(PARTIES),
                               last="supervisor")
        for p in PARTIES:
            st, _ = cer.commit(st, p, commitment_digest(secrets[p], party=p,
                                                        session_id=binding), now=T0)
        after = COMMIT_BY + _dt.timedelta(seconds=1)
        for p in VENUES:
            if p not in cheaters:
                st, _ = cer.reveal(st, p, secrets[p], now=after)
        # The cheaters would like the supervisor to reveal first: refused.
        try:
            cer.reveal(st, "supervisor", secrets["supervisor"], now=after)
        except Conflict:
            stats["supervisor_first_refused"] += 1
        # Withhold unless the prediction (all the cheaters can compute) suits them.
        withhold = number <= RESTARTS and predicted(mine) != TARGET
        if not withhold:
            for p in cheaters:
                st, _ = cer.reveal(st, p, secrets[p], now=after)
            st, _ = cer.reveal(st, "supervisor", secrets["supervisor"], now=after)
        try:
            seed = cer.close(st, now=REVEAL_BY + _dt.timedelta(seconds=1))
        except InsufficientContributions:
            stats["withheld"] += 1
            continue  # the ceremony failed; the supervisor approves a new one
        return _seat0(world, seed.seed)
    raise AssertionError("the last ceremony is always revealed")


def _play_old(world: tuple[Pool, DrawConfig], rng: random.Random, *,
              cheaters: tuple[str, ...], stats: Counter[str]) -> str:
    """The same primary under the old rules: two contributions suffice and anyone
    reveals at any time, so it sees every other secret and picks with or without its own."""
    secrets = {p: rng.randbytes(32) for p in PARTIES}
    others = {p: s for p, s in secrets.items() if p not in cheaters}
    with_all = _seat0(world, seed_from_reveals(SESSION, secrets))
    if with_all == TARGET:
        return with_all
    stats["withheld"] += 1
    return _seat0(world, seed_from_reveals(SESSION, others))


def _run(world: tuple[Pool, DrawConfig], play: Callable[..., str], cheaters: tuple[str, ...],
         seed: int) -> tuple[Counter[str], Counter[str]]:
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    counts: Counter[str] = Counter(play(world, rng, cheaters=cheaters, stats=stats)
                                   for _ in range(GAMES))
    return counts, stats


@pytest.mark.parametrize("cheaters", [("sh",), ("sh", "js")], ids=["alone", "with-js"])
def test_a_dishonest_primary_gets_an_honest_committee(
    world: tuple[Pool, DrawConfig], cheaters: tuple[str, ...]
) -> None:
    counts, stats = _run(world, _play, cheaters, seed=20261206)
    chi2 = _chi2(counts)
    # Every option was played: every ceremony ground and tried the supervisor first;
    # when grinding found no secret its prediction liked, it withheld.
    assert stats["ground"] == stats["supervisor_first_refused"] == GAMES + stats["withheld"]
    assert stats["withheld"] >= 20, stats
    print(f"\n{'+'.join(cheaters)}: chi2 = {chi2:.2f} (critical {CRITICAL_DF7_0_001}),"
          f" target {counts[TARGET]}/{GAMES}, {dict(stats)}")
    assert chi2 < CRITICAL_DF7_0_001, (chi2, counts)
    # And the one expert it wanted is not over-represented.
    assert counts[TARGET] < TARGET_BOUND, counts


def test_the_same_strategy_was_biased_under_the_old_rules(
    world: tuple[Pool, DrawConfig]
) -> None:
    counts, _ = _run(world, _play_old, ("sh",), seed=20261206)
    print(f"\nold rules: chi2 = {_chi2(counts):.2f}, target {counts[TARGET]}/{GAMES}")
    assert _chi2(counts) > CRITICAL_DF7_0_001, counts
    assert counts[TARGET] > TARGET_BOUND, counts


# --- the committee as a whole ----------------------------------------------------------

JS = ("EJS0", "EJS1", "EJS2")
AH = ("EAH0", "EAH1", "EAH2")
SEAT_LISTS = (SH, SH, SH, JS, AH)  # seats in draw order, each with its eligible experts
FRIENDS = frozenset({SH[0], SH[1], SH[2], JS[0], AH[0]})
WANT = 4  # the primary withholds unless its prediction seats at least this many friends
ALPHA = 0.001  # family-wise significance of the seven tests of one scenario
TESTS = len(SEAT_LISTS) + 2  # each seat, the Shanghai set, the number of friends


def _chi2_sf(x: float, df: int) -> float:
    """P(X ≥ x) for X chi-square with ``df`` degrees of freedom: one minus the
    regularized lower incomplete gamma P(df/2, x/2), summed as its power series."""
    s, z = df / 2, x / 2
    if z <= 0:
        return 1.0
    term = total = 1 / s
    n = 1
    while term > total * 1e-17:
        term *= z / (s + n)
        total += term
        n += 1
    return max(0.0, 1 - total * math.exp(-z + s * math.log(z) - math.lgamma(s)))


def test_the_chi_square_tail_matches_the_tables() -> None:
    # Upper points from the tables: (x, df, significance).
    for x, df, p in ((24.322, 7, 0.001), (13.816, 2, 0.001), (3.841, 1, 0.05),
                     (82.292, 55, 0.01)):
        assert abs(_chi2_sf(x, df) - p) < p * 0.01, (x, df, _chi2_sf(x, df))


def _p_value(counts: Counter[Any], law: Mapping[Any, Fraction]) -> float:
    """Pearson's chi-square p-value of ``counts`` against ``law``; cells expected fewer
    than five times are pooled with their neighbour (in the order of ``law``)."""
    n = sum(counts.values())
    cells: list[tuple[float, int]] = []
    expected, observed = 0.0, 0
    for key, prob in law.items():
        expected += n * float(prob)
        observed += counts.get(key, 0)
        if expected >= 5:
            cells.append((expected, observed))
            expected, observed = 0.0, 0
    if expected or observed:
        e, o = cells.pop()
        cells.append((e + expected, o + observed))
    assert sum(o for _, o in cells) == n
    chi2 = sum((o - e) ** 2 / e for e, o in cells)
    return _chi2_sf(chi2, len(cells) - 1)


def _friends(committee: tuple[str, ...]) -> int:
    return sum(x in FRIENDS for x in committee)


def _honest_friend_law() -> dict[int, Fraction]:
    """The number of friends on an honest committee, exactly: seats 0-2 an ordered draw
    without replacement from Shanghai's eight, seat 3 and 4 uniform over three."""
    law: Counter[int] = Counter()
    for sh in itertools.permutations(SH, 3):
        for js, ah in itertools.product(JS, AH):
            law[_friends((*sh, js, ah))] += 1
    total = sum(law.values())
    return {k: Fraction(law[k], total) for k in sorted(law)}


def _committee(world: tuple[Pool, DrawConfig], seed: bytes) -> tuple[str, ...]:
    pool, config = world
    return tuple(s.member.expert_id for s in draw(pool, config.rules, config.seats,
                                                  seed).seats)


def _play_committee(world: tuple[Pool, DrawConfig], rng: random.Random, *,
                    cheaters: tuple[str, ...], stats: Counter[str]) -> tuple[str, ...]:
    """One game for the whole committee under the current rules (as :func:`_play`)."""
    for number in range(1, RESTARTS + 2):
        binding = f"{SESSION}#{number}"
        honest = {p: rng.randbytes(32) for p in PARTIES if p not in cheaters}

        def predicted(mine: dict[str, bytes], honest: dict[str, bytes] = honest,
                      binding: str = binding) -> int:
            known = {**{p: s for p, s in honest.items() if p != "supervisor"}, **mine, **GUESS}
            return _friends(_committee(world, seed_from_reveals(binding, known)))

        candidates = [{p: rng.randbytes(32) for p in cheaters} for _ in range(GRIND)]
        mine = max(candidates, key=predicted)  # grinding for the most friends
        secrets = {**honest, **mine}
        st = cer.open_ceremony(binding, PARTIES, commit_deadline=COMMIT_BY,
                               reveal_deadline=REVEAL_BY, now=T0, minimum=len(PARTIES),
                               last="supervisor")
        for p in PARTIES:
            st, _ = cer.commit(st, p, commitment_digest(secrets[p], party=p,
                                                        session_id=binding), now=T0)
        after = COMMIT_BY + _dt.timedelta(seconds=1)
        for p in VENUES:
            if p not in cheaters:
                st, _ = cer.reveal(st, p, secrets[p], now=after)
        if number <= RESTARTS and predicted(mine) < WANT:
            stats["withheld"] += 1
            continue  # withheld: the ceremony fails, the supervisor approves another
        for p in cheaters:
            st, _ = cer.reveal(st, p, secrets[p], now=after)
        st, _ = cer.reveal(st, "supervisor", secrets["supervisor"], now=after)
        return _committee(world, cer.close(st, now=after).seed)
    raise AssertionError("the last ceremony is always revealed")


def _play_committee_old(world: tuple[Pool, DrawConfig], rng: random.Random, *,
                        cheaters: tuple[str, ...], stats: Counter[str]) -> tuple[str, ...]:
    """The old rules: the primary sees every other secret and keeps the better of the
    committees with and without its own reveal."""
    secrets = {p: rng.randbytes(32) for p in PARTIES}
    others = {p: s for p, s in secrets.items() if p not in cheaters}
    options = [_committee(world, seed_from_reveals(SESSION, x)) for x in (secrets, others)]
    return max(options, key=_friends)


def _committee_p_values(committees: list[tuple[str, ...]]) -> dict[str, float]:
    out = {}
    for seat, eligible in enumerate(SEAT_LISTS):
        law = {x: Fraction(1, len(eligible)) for x in eligible}
        out[f"seat {seat}"] = _p_value(Counter(c[seat] for c in committees), law)
    sets = [frozenset(s) for s in itertools.combinations(SH, 3)]
    out["shanghai set"] = _p_value(Counter(frozenset(c[:3]) for c in committees),
                                   {s: Fraction(1, len(sets)) for s in sets})
    out["friends"] = _p_value(Counter(_friends(c) for c in committees),
                              _honest_friend_law())
    assert len(out) == TESTS
    return out


def _games(world: tuple[Pool, DrawConfig], play: Callable[..., tuple[str, ...]],
           cheaters: tuple[str, ...]) -> tuple[list[tuple[str, ...]], Counter[str]]:
    rng = random.Random(20261207)
    stats: Counter[str] = Counter()
    return [play(world, rng, cheaters=cheaters, stats=stats) for _ in range(GAMES)], stats


@pytest.mark.parametrize("cheaters", [("sh",), ("sh", "js")], ids=["alone", "with-js"])
def test_every_seat_and_the_committee_are_honest(
    world: tuple[Pool, DrawConfig], cheaters: tuple[str, ...]
) -> None:
    committees, stats = _games(world, _play_committee, cheaters)
    assert stats["withheld"] >= GAMES // 4, stats  # it did play the option, often
    p = _committee_p_values(committees)
    mean = sum(map(_friends, committees)) / GAMES
    law = _honest_friend_law()
    mu = float(sum(k * q for k, q in law.items()))
    sd = sum((k - mu) ** 2 * float(q) for k, q in law.items()) ** 0.5
    print(f"\n{'+'.join(cheaters)}: friends {mean:.3f} (honest {mu:.3f}),"
          f" p-values {', '.join(f'{k} {v:.3f}' for k, v in p.items())}, {dict(stats)}")
    assert min(p.values()) > ALPHA / TESTS, p
    # The bias bound of docs/draw.md §1.1 is zero: the mean number of friends stays
    # within four standard errors of the honest mean.
    assert mean < mu + 4 * sd / GAMES ** 0.5, (mean, mu)


def test_the_committee_tests_see_the_old_rules_bias(world: tuple[Pool, DrawConfig]) -> None:
    committees, _ = _games(world, _play_committee_old, ("sh",))
    p = _committee_p_values(committees)
    print(f"\nold rules: p-values {', '.join(f'{k} {v:.2g}' for k, v in p.items())}")
    assert p["friends"] < ALPHA / TESTS, p
