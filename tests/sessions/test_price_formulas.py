"""Price formulas (docs/scoring.md "Price formulas"): the worked examples, properties of
each formula, the session's choice validated at registration and used by the ranking."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from conftest import Harness, scoring_sheet, session_doc
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.errors import InvalidInput
from evalsvc.sessions.model import (
    AverageBenchmark,
    Bid,
    ScoringRules,
    Stage,
    State,
    new_session,
    session_from_doc,
    session_to_doc,
)
from evalsvc.sessions.scoring import (
    aggregate,
    aggregation_to_doc,
    average_benchmark_price,
    average_benchmark_score,
    parse_sheet,
    price_scores,
    round_points,
)

WAN = 10_000 * 100  # 1 万元 in fen

# --- the worked examples of docs/scoring.md ----------------------------------------------


def test_worked_example_average_benchmark_with_dropped_extremes_and_floor() -> None:
    params = AverageBenchmark(
        factor=Decimal("0.97"), drop_extremes=True, drop_min_count=5,
        deduct_above=Decimal("1"), deduct_below=Decimal("0.5"), floor=Decimal("10"),
    )
    prices = [480 * WAN, 500 * WAN, 520 * WAN, 540 * WAN, 610 * WAN]
    benchmark = average_benchmark_price(prices, params)
    assert benchmark == 504.4 * WAN  # (500 + 520 + 540) / 3 × 0.97 万元
    scores = [round_points(average_benchmark_score(p, benchmark, Decimal(30), params))
              for p in prices]
    assert scores == [Decimal(x) for x in ("27.58", "29.56", "26.91", "22.94", "10.00")]


def test_extremes_are_kept_below_the_minimum_count() -> None:
    params = AverageBenchmark(drop_extremes=True, drop_min_count=5)
    prices = [480 * WAN, 500 * WAN, 520 * WAN, 610 * WAN]  # four: nothing dropped
    assert average_benchmark_price(prices, params) == Fraction(2110 * WAN, 4)


def test_worked_example_lowest_price_ratio() -> None:
    bids = [Bid("B1", "甲", "-", 100_000_00), Bid("B2", "乙", "-", 95_000_00),
            Bid("B3", "丙", "-", 120_000_00)]
    scores = {k: round_points(v) for k, v in price_scores(bids, Decimal(40),
                                                          "lowest_price_ratio").items()}
    assert scores == {"B1": Decimal("38.00"), "B2": Decimal("40.00"), "B3": Decimal("31.67")}


# --- properties ----------------------------------------------------------------------------

prices_st = st.lists(st.integers(min_value=1, max_value=10**13), min_size=1, max_size=12)
points_st = st.decimals(min_value=0, max_value=5, places=2)
params_st = st.builds(
    AverageBenchmark,
    factor=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.5"), places=4),
    drop_extremes=st.booleans(),
    drop_min_count=st.integers(min_value=3, max_value=8),
    deduct_above=points_st,
    deduct_below=points_st,
    floor=st.decimals(min_value=0, max_value=30, places=2),
)
max_st = st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)


def _bids(prices: list[int]) -> list[Bid]:
    return [Bid(f"B{i}", f"投标人{i}", "-", p) for i, p in enumerate(prices)]


@given(prices_st, params_st, max_st)
def test_average_benchmark_scores_stay_between_floor_and_max(
    prices: list[int], params: AverageBenchmark, top: Decimal
) -> None:
    scores = price_scores(_bids(prices), top, "average_benchmark", params)
    for v in scores.values():
        assert min(Fraction(params.floor), Fraction(top)) <= v <= Fraction(top)


@given(prices_st, params_st, max_st, st.randoms(use_true_random=False))
def test_average_benchmark_does_not_depend_on_bid_order(
    prices: list[int], params: AverageBenchmark, top: Decimal, rnd: Any
) -> None:
    bids = _bids(prices)
    shuffled = list(bids)
    rnd.shuffle(shuffled)
    assert price_scores(bids, top, "average_benchmark", params) == price_scores(
        shuffled, top, "average_benchmark", params
    )


@given(prices_st, params_st, max_st, st.integers(1, 10**13), st.integers(1, 10**13))
def test_average_benchmark_closer_to_the_benchmark_never_scores_less(
    prices: list[int], params: AverageBenchmark, top: Decimal, a: int, b: int
) -> None:
    benchmark = average_benchmark_price(prices, params)
    sa = average_benchmark_score(a, benchmark, top, params)
    sb = average_benchmark_score(b, benchmark, top, params)
    # On the same side of the benchmark, the nearer price scores at least as much.
    if benchmark <= a <= b or b <= a <= benchmark:
        assert sa >= sb
    assert average_benchmark_score(0, benchmark, top, params) <= Fraction(top)
    # Exactly at the benchmark: full points (the benchmark may be a fraction of a fen).
    if benchmark.denominator == 1:
        assert average_benchmark_score(int(benchmark), benchmark, top, params) == Fraction(top)


@given(st.integers(1, 10**13), st.integers(1, 12), params_st, max_st)
def test_equal_prices_at_factor_one_all_score_full_points(
    price: int, n: int, params: AverageBenchmark, top: Decimal
) -> None:
    params = replace(params, factor=Decimal(1))
    scores = price_scores(_bids([price] * n), top, "average_benchmark", params)
    assert set(scores.values()) == {Fraction(top)}


@given(prices_st, max_st)
def test_lowest_price_ratio_gives_the_lowest_full_points_and_others_less(
    prices: list[int], top: Decimal
) -> None:
    scores = price_scores(_bids(prices), top, "lowest_price_ratio")
    low = min(prices)
    for i, p in enumerate(prices):
        v = scores[f"B{i}"]
        assert 0 < v <= Fraction(top)
        assert (v == Fraction(top)) == (p == low)


# --- the session's choice -------------------------------------------------------------------


def _session(rules: dict[str, Any] | None, **extra: Any) -> Any:
    doc = session_doc(seats=(3,), **extra)
    if rules is not None:
        doc["rules"] = rules
    return new_session(doc, session_id="s-f", now=0, defaults=ScoringRules())


def test_average_benchmark_is_validated_and_kept_in_the_session_document() -> None:
    s = _session({"price_formula": "average_benchmark",
                  "average_benchmark": {"factor": "0.95", "floor": 5}})
    doc = session_to_doc(s)
    assert doc["rules"]["price_formula"] == "average_benchmark"
    assert doc["rules"]["average_benchmark"] == {
        "factor": "0.95", "drop_extremes": False, "drop_min_count": 5,
        "deduct_above": "1", "deduct_below": "0.5", "floor": "5",
    }
    assert session_from_doc(doc) == s
    # A session stored before the formula existed reads as it did.
    assert "average_benchmark" not in session_to_doc(_session(None))["rules"]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"price_formula": "average_benchmark", "average_benchmark": {"factor": "2"}},
         "rules/average_benchmark/factor"),
        ({"price_formula": "average_benchmark", "average_benchmark": {"deduct_above": -1}},
         "rules/average_benchmark/deduct_above"),
        ({"price_formula": "average_benchmark", "average_benchmark": {"drop_min_count": 2}},
         "rules/average_benchmark/drop_min_count"),
        ({"price_formula": "average_benchmark", "average_benchmark": {"bonus": 1}},
         "rules/average_benchmark/bonus"),
        ({"price_formula": "average_benchmark", "average_benchmark": {"floor": "40.5"}},
         "criteria/3/max_points"),  # the floor above the price criterion's 40 points
        ({"price_formula": "lowest_evaluated_price"}, "rules/price_formula"),
        ({"price_formula": "guess"}, "rules/price_formula"),
    ],
)
def test_bad_formula_settings_name_their_field(rules: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        _session(rules)
    assert exc.value.field == field, exc.value


def test_lowest_evaluated_price_is_its_methods_formula() -> None:
    s = _session(None, method="lowest_evaluated_price")
    assert s.rules.price_formula == "lowest_evaluated_price"
    with pytest.raises(InvalidInput) as exc:
        _session({"price_formula": "lowest_price_ratio"}, method="lowest_evaluated_price")
    assert exc.value.field == "rules/price_formula"


def test_a_criterion_may_not_use_average_benchmark_without_parameters() -> None:
    doc = session_doc(seats=(3,))
    doc["criteria"][3]["formula"] = "average_benchmark"
    with pytest.raises(InvalidInput) as exc:
        new_session(doc, session_id="s-f", now=0, defaults=ScoringRules())
    assert exc.value.field == "criteria/3/formula"


def test_the_ranking_follows_the_sessions_formula() -> None:
    def ranked(rules: dict[str, Any] | None) -> list[str]:
        s = _session(rules)
        s = replace(s, state=State.EVALUATING, stage=Stage.SCORING,
                    qualified=tuple(b.id for b in s.bids))
        sheets = [
            parse_sheet(s, seat=i, doc=scoring_sheet(t1="40", c1="8")) for i in range(3)
        ]
        return [r.bid_id for r in aggregate(s, sheets).results]

    assert ranked(None) == ["B2", "B1", "B3"]  # lowest price: full points
    # Benchmark 105,000 × 0.95 = 99,750 yuan: B1 (100,000) is nearest.
    assert ranked({"price_formula": "average_benchmark",
                   "average_benchmark": {"factor": "0.95"}}) == ["B1", "B2", "B3"]


# --- through HTTP ---------------------------------------------------------------------------


async def test_average_benchmark_session_through_the_api(api: Harness) -> None:
    rules = {
        "price_formula": "average_benchmark",
        "average_benchmark": {"factor": 0.95, "deduct_above": "1", "deduct_below": "0.5"},
    }
    status, body = await api.call(
        "POST", "/api/sessions", api.op(),
        json=session_doc(rules={**rules, "average_benchmark": {"factor": "1.6"}}),
    )
    assert status == 422 and body["field"] == "rules/average_benchmark/factor", body
    assert "下浮系数" in body["detail"]

    sid, experts = await api.to_stage("scoring", session_doc(rules={
        **rules, "average_benchmark": {"factor": "0.95"}}))
    status, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert status == 200
    assert doc["rules"]["price_formula"] == "average_benchmark"
    assert doc["rules"]["average_benchmark"]["factor"] == "0.95"
    for seat, tok in experts:
        status, ack = await api.submit(sid, tok, scoring_sheet(), key=f"ab-{seat}-0001")
        assert status == 201, ack
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    status, agg = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert status == 200, agg
    assert [(r["bid_id"], r["price_score"]) for r in agg["ranking"]] == [
        ("B1", "39.75"), ("B2", "37.62"), ("B3", "19.70")
    ]
    assert agg["price_basis"] == [
        {"criterion_id": "P1", "formula": "average_benchmark", "benchmark_fen": 99_750_00}
    ]


def test_lowest_price_ratio_result_document_is_unchanged() -> None:
    # Reports are rebuilt from the sheets and were signed as bytes: a lowest_price_ratio
    # result carries no new field.
    s = _session(None)
    s = replace(s, state=State.EVALUATING, stage=Stage.SCORING,
                qualified=tuple(b.id for b in s.bids))
    sheets = [parse_sheet(s, seat=i, doc=scoring_sheet()) for i in range(3)]
    assert "price_basis" not in aggregation_to_doc(aggregate(s, sheets))


def test_worked_example_lowest_evaluated_price() -> None:
    s = _session(None, method="lowest_evaluated_price")
    s = replace(s, state=State.EVALUATING, stage=Stage.SCORING,
                qualified=tuple(b.id for b in s.bids))
    adjust = {"B1": (50_000, 70_000, 60_000), "B2": (600_000,) * 3}
    sheets = [
        parse_sheet(s, seat=i, doc={"stage": "scoring", "bids": {
            "B1": {"responsive": True, "adjustment_fen": adjust["B1"][i]},
            "B2": {"responsive": True, "adjustment_fen": adjust["B2"][i]},
            "B3": {"responsive": i == 0, "adjustment_fen": 0},
        }})
        for i in range(3)
    ]
    result = aggregate(s, sheets)
    assert [(r.bid_id, r.evaluated_price_fen) for r in result.results] == [
        ("B1", 100_600_00), ("B2", 101_000_00)
    ]
    assert result.excluded == ("B3",)


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(-10**8, 10**8)), min_size=9, max_size=9
    ),
    st.randoms(use_true_random=False),
)
def test_lowest_evaluated_price_ranks_by_evaluated_price_whatever_the_sheet_order(
    cells: list[tuple[bool, int]], rnd: Any
) -> None:
    s = _session(None, method="lowest_evaluated_price")
    s = replace(s, state=State.EVALUATING, stage=Stage.SCORING,
                qualified=tuple(b.id for b in s.bids))
    bids = [b.id for b in s.bids]
    sheets = [
        parse_sheet(s, seat=i, doc={"stage": "scoring", "bids": {
            b: {"responsive": cells[3 * i + j][0], "adjustment_fen": cells[3 * i + j][1]}
            for j, b in enumerate(bids)
        }})
        for i in range(3)
    ]
    result = aggregate(s, sheets)
    shuffled = list(sheets)
    rnd.shuffle(shuffled)
    assert aggregate(s, shuffled) == result
    # Non-decreasing evaluated price; a bid is ranked iff a majority found it responsive.
    prices = [r.evaluated_price_fen for r in result.results]
    assert None not in prices
    assert prices == sorted(p for p in prices if p is not None)
    for j, b in enumerate(bids):
        yes = sum(cells[3 * i + j][0] for i in range(3))
        assert (b in result.excluded) == (yes < 2)
