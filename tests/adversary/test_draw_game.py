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
"""

from __future__ import annotations

import datetime as _dt
import random
from collections import Counter
from collections.abc import Callable

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
