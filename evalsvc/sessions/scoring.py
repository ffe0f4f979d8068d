"""Score sheets, price scores, aggregation, ranking and deviation. Pure: no I/O.

Arithmetic (documented in docs/scoring.md):

- Expert points are ``Decimal`` multiples of the session's step, ``0 ≤ v ≤ max``.
- Means, price scores and totals are computed exactly as :class:`fractions.Fraction`;
  a published figure is rounded **once**, half-up, to 2 decimal places
  (:data:`QUANT`), from the exact value. The ranking uses the rounded total — the figure
  the committee publishes — so two bids shown with equal totals are treated as tied.
- Price score, formula ``lowest_price_ratio``: benchmark = lowest price among the
  qualified bids; score = benchmark / price × max points.
- Price score, formula ``average_benchmark`` (评标基准价法): benchmark = mean of the
  qualified bids' prices (without the one highest and one lowest when the session says
  so and there are enough prices) × factor; deviation = (price − benchmark) / benchmark
  × 100 (percent); score = max − deduct_above × deviation above, max − deduct_below ×
  |deviation| below (pro rata: 0.5 % costs half a step), never below the floor. The
  parameters are Decimals; everything is computed exactly and the score rounded once.
- Ties (weighted scoring): higher total, then lower price, then higher technical total
  (rounded), then registration order of the bid; if that last step decides, the result
  says ``tie_unresolved`` so the committee resolves it as its rules say.
- Lowest evaluated price: evaluated price = price + mean of the experts' adjustments
  (fen, rounded half-up once); bids a majority finds non-responsive are excluded;
  ranking by evaluated price, then price, then registration order.
- Deviation: an expert's scored total for a bid (technical + commercial, the part the
  expert controls) is flagged when it differs from the committee mean of those totals by
  more than ``deviation_share`` × mean.
"""

from __future__ import annotations

__all__ = [
    "QUANT",
    "Aggregation",
    "BidResult",
    "Deviation",
    "PriceBasis",
    "aggregate",
    "aggregation_to_doc",
    "average_benchmark_price",
    "average_benchmark_score",
    "parse_sheet",
    "price_scores",
    "qualification_outcome",
    "rejections_of",
    "round_points",
    "scoring_sheets",
    "sheet_from_doc",
    "sheet_to_doc",
    "under_review",
]

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from evalsvc.errors import FieldError, InvalidInput
from evalsvc.sessions.model import (
    PRICE_SCORE_FORMULAS,
    REVIEW_STAGES,
    AverageBenchmark,
    Bid,
    Category,
    Method,
    Rejection,
    Session,
    Sheet,
    Stage,
)

QUANT = Decimal("0.01")
# What a score may look like as a string: "35", "35.5", "-1" (refused later as below 0).
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def round_points(x: Fraction) -> Decimal:
    """Round an exact value once, half-up, to 2 decimal places."""
    # Decimal division at high precision is exact enough for half-up at 2 dp only if we
    # avoid double rounding: do the rounding in integers.
    scaled = x * 100
    n, d = scaled.numerator, scaled.denominator
    q, r = divmod(abs(n), d)
    if 2 * r >= d:
        q += 1
    return (Decimal(q if n >= 0 else -q) / 100).quantize(QUANT)


def _round_fen(x: Fraction) -> int:
    n, d = x.numerator, x.denominator
    q, r = divmod(abs(n), d)
    if 2 * r >= d:
        q += 1
    return q if n >= 0 else -q


# --- sheets ------------------------------------------------------------------------------


def parse_sheet(session: Session, *, seat: int, doc: Mapping[str, Any]) -> Sheet:
    """Validate a sheet document against the session's current stage and criteria.

    Every criterion of every bid under review must be present, nothing else may be;
    every error names its field (``bids/B1/T1``).
    """
    errs: list[FieldError] = []
    for extra in sorted(set(doc) - {"stage", "bids", "reasons"}):
        raise InvalidInput("unknown field", field=extra)
    try:
        stage = Stage(str(doc.get("stage")))
    except ValueError:
        raise InvalidInput(
            f"stage must be one of {', '.join(s.value for s in Stage)}", field="stage"
        ) from None
    if session.stage is not stage:
        raise InvalidInput(
            f"the session is in stage {session.stage.value if session.stage else '-'}, "
            f"not {stage.value}",
            field="stage",
        )
    bids_doc = doc.get("bids")
    if not isinstance(bids_doc, Mapping):
        raise InvalidInput("bids must be an object keyed by bid id", field="bids")
    expected_bids = [b.id for b in under_review(session, stage)]
    reasons_doc = doc.get("reasons", {})
    if not isinstance(reasons_doc, Mapping):
        raise InvalidInput("reasons must be an object keyed by bid id", field="reasons")
    if reasons_doc and stage not in REVIEW_STAGES:
        raise InvalidInput("only a pass/fail stage (qualification, compliance) has reasons",
                           field="reasons")
    for extra in sorted(set(bids_doc) - set(expected_bids)):
        errs.append(FieldError(f"bids/{extra}", "not a bid under review in this stage"))
    for b in expected_bids:
        if b not in bids_doc:
            errs.append(
                FieldError(f"bids/{b}", "missing: every bid under review must be evaluated")
            )

    verdicts: dict[str, dict[str, bool]] = {}
    reasons: dict[str, dict[str, str]] = {}
    scores: dict[str, dict[str, Decimal]] = {}
    evaluations: dict[str, tuple[bool, int]] = {}
    for bid_id in expected_bids:
        entry = bids_doc.get(bid_id)
        if entry is None:
            continue
        path = f"bids/{bid_id}"
        if not isinstance(entry, Mapping):
            errs.append(FieldError(path, "must be an object"))
            continue
        if stage in REVIEW_STAGES:
            verdicts[bid_id] = _verdicts(session, stage, path, entry, errs)
            why = _reasons(verdicts[bid_id], f"reasons/{bid_id}",
                           reasons_doc.get(bid_id, {}), errs)
            if why:
                reasons[bid_id] = why
        elif session.method is Method.WEIGHTED_SCORING:
            scores[bid_id] = _scores(session, stage, path, entry, errs)
        else:
            ev = _evaluation(path, entry, errs)
            if ev is not None:
                evaluations[bid_id] = ev
    for extra in sorted(set(reasons_doc) - set(expected_bids)):
        errs.append(FieldError(f"reasons/{extra}", "not a bid under review in this stage"))
    if errs:
        first = errs[0]
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise InvalidInput(
            f"invalid sheet: {first.field}: {first.reason}{more}",
            field=first.field,
            errors=tuple(errs),
        )
    return Sheet(seat=seat, stage=stage, verdicts=verdicts, reasons=reasons, scores=scores,
                 evaluations=evaluations)


def under_review(session: Session, stage: Stage) -> tuple[Bid, ...]:
    """The bids a sheet of ``stage`` covers: every bid at qualification; at compliance,
    those the committee did not fail at qualification; when scoring, the bids that passed
    every pass/fail stage (暂行规定 第21-23条: a rejected bid is not evaluated further)."""
    if stage is Stage.QUALIFICATION:
        return session.bids
    if stage is Stage.COMPLIANCE:
        out = {r.bid_id for r in session.rejections if r.stage is Stage.QUALIFICATION}
        return tuple(b for b in session.bids if b.id not in out)
    return session.qualified_bids


def _reasons(verdicts: Mapping[str, bool], path: str, given: Any,
             errs: list[FieldError]) -> dict[str, str]:
    # 暂行规定 第20-23条: a bid is rejected for stated reasons: every fail needs one
    # (Chinese text, shown in the report), and only a fail has one.
    if not isinstance(given, Mapping):
        errs.append(FieldError(path, "must be an object keyed by criterion id"))
        return {}
    out: dict[str, str] = {}
    for cid in sorted(set(given) - {c for c, ok in verdicts.items() if not ok}):
        errs.append(FieldError(f"{path}/{cid}", "only a failed criterion has a reason"))
    for cid, ok in verdicts.items():
        if ok:
            continue
        text = given.get(cid)
        if not isinstance(text, str) or not text.strip():
            errs.append(FieldError(f"{path}/{cid}",
                                   "a fail needs its reason (不通过须填写理由), non-empty text"))
        elif len(text) > 500:
            errs.append(FieldError(f"{path}/{cid}", "must be at most 500 characters"))
        else:
            out[cid] = text
    return out


def _expect_keys(
    path: str, entry: Mapping[str, Any], expected: Sequence[str], errs: list[FieldError]
) -> None:
    if len(entry) == len(expected) and all(k in entry for k in expected):
        return  # (the usual sheet: exactly the criteria asked for)
    for k in sorted(set(entry) - set(expected)):
        errs.append(FieldError(f"{path}/{k}", "unknown criterion or field"))
    for k in expected:
        if k not in entry:
            errs.append(FieldError(f"{path}/{k}", "missing"))


def _verdicts(
    session: Session, stage: Stage, path: str, entry: Mapping[str, Any],
    errs: list[FieldError],
) -> dict[str, bool]:
    crits = [c.id for c in session.stage_criteria(stage)]
    _expect_keys(path, entry, crits, errs)
    out: dict[str, bool] = {}
    for cid in crits:
        v = entry.get(cid)
        if cid in entry and not isinstance(v, bool):
            errs.append(FieldError(f"{path}/{cid}", "must be true (pass) or false (fail)"))
        elif isinstance(v, bool):
            out[cid] = v
    return out


def _scores(
    session: Session, stage: Stage, path: str, entry: Mapping[str, Any],
    errs: list[FieldError],
) -> dict[str, Decimal]:
    crits = session.stage_criteria(stage)
    _expect_keys(path, entry, [c.id for c in crits], errs)
    out: dict[str, Decimal] = {}
    step = session.rules.step
    for c in crits:
        if c.id not in entry:
            continue
        raw = entry[c.id]
        t = type(raw)
        if t is str:
            # Points are written as people write them: digits with an optional fraction.
            # Decimal() alone accepts "1e1" and "NaN" and stores "1E+1" (issue 15); what
            # matches is a finite plain decimal, so Decimal() cannot fail on it.
            if not _PLAIN_DECIMAL.fullmatch(raw):
                errs.append(FieldError(f"{path}/{c.id}", f"not a plain decimal number: {raw!r}"))
                continue
            v = Decimal(raw)
        elif t is int:
            v = Decimal(raw)
        elif t is Decimal:
            # (a JSON number read as Decimal: its exponent is the same check as above)
            if raw.is_finite() and raw.as_tuple().exponent > 0:
                errs.append(FieldError(f"{path}/{c.id}", f"not a plain decimal number: {raw!r}"))
                continue
            v = raw
        else:
            errs.append(FieldError(f"{path}/{c.id}", "must be a number of points"))
            continue
        if not v.is_finite():
            errs.append(FieldError(f"{path}/{c.id}", "must be finite"))
        elif v < 0 or v > c.max_points:
            errs.append(
                FieldError(f"{path}/{c.id}", f"must be between 0 and {c.max_points}, got {v}")
            )
        elif v % step != 0:
            errs.append(
                FieldError(f"{path}/{c.id}", f"must be a multiple of {step}, got {v}")
            )
        else:
            out[c.id] = v
    return out


def _evaluation(
    path: str, entry: Mapping[str, Any], errs: list[FieldError]
) -> tuple[bool, int] | None:
    _expect_keys(path, entry, ["responsive", "adjustment_fen"], errs)
    responsive = entry.get("responsive")
    adj = entry.get("adjustment_fen")
    ok = True
    if "responsive" in entry and not isinstance(responsive, bool):
        errs.append(FieldError(f"{path}/responsive", "must be true or false"))
        ok = False
    if "adjustment_fen" in entry and (isinstance(adj, bool) or not isinstance(adj, int)):
        errs.append(FieldError(f"{path}/adjustment_fen", "must be an integer number of fen"))
        ok = False
    elif isinstance(adj, int) and abs(adj) > 10**15:
        errs.append(FieldError(f"{path}/adjustment_fen", "out of range"))
        ok = False
    if not ok or not isinstance(responsive, bool) or not isinstance(adj, int):
        return None
    return (responsive, adj)


# --- qualification ----------------------------------------------------------------------


def qualification_outcome(
    session: Session, sheets: Sequence[Sheet], stage: Stage = Stage.QUALIFICATION
) -> tuple[str, ...]:
    """Bids under review at ``stage`` that pass every one of its criteria by a majority
    of the committee.

    A tie (e.g. 2 of 4) is not a majority, so the bid fails that criterion.
    """
    crits = [c.id for c in session.stage_criteria(stage)]
    n = len(sheets)
    out = []
    for b in under_review(session, stage):
        if all(
            2 * sum(1 for s in sheets if s.verdicts.get(b.id, {}).get(cid, False)) > n
            for cid in crits
        ):
            out.append(b.id)
    return tuple(out)


def rejections_of(session: Session, sheets: Sequence[Sheet], stage: Stage,
                  passed: Sequence[str]) -> tuple[Rejection, ...]:
    """The bids under review at ``stage`` not in ``passed``, each with the criteria it
    failed by the committee's result and every member's reason for them (in seat order,
    each text once)."""
    crits = [c.id for c in session.stage_criteria(stage)]
    n = len(sheets)
    ordered = sorted(sheets, key=lambda x: x.seat)
    out = []
    for b in under_review(session, stage):
        if b.id in passed:
            continue
        reasons: list[tuple[str, str]] = []
        for cid in crits:
            if 2 * sum(1 for x in sheets if x.verdicts.get(b.id, {}).get(cid, False)) > n:
                continue
            texts = dict.fromkeys(
                x.reasons[b.id][cid] for x in ordered if cid in x.reasons.get(b.id, {}))
            reasons += [(cid, text) for text in texts] or [(cid, "")]
        out.append(Rejection(b.id, stage, tuple(reasons)))
    return tuple(out)


def scoring_sheets(sheets: Sequence[Sheet]) -> list[Sheet]:
    """Each seat's scoring sheet: its ``scoring`` sheet, or (split stages) its
    ``technical`` and ``commercial`` sheets merged into one."""
    scoring = {x.seat: x for x in sheets if x.stage is Stage.SCORING}
    if scoring:
        return [scoring[k] for k in sorted(scoring)]
    parts: dict[int, list[Sheet]] = {}
    for x in sheets:
        if x.stage in (Stage.TECHNICAL, Stage.COMMERCIAL):
            parts.setdefault(x.seat, []).append(x)
    out = []
    for seat in sorted(parts):
        merged: dict[str, dict[str, Decimal]] = {}
        for x in parts[seat]:
            for bid, points in x.scores.items():
                merged.setdefault(bid, {}).update(points)
        out.append(Sheet(seat=seat, stage=Stage.SCORING, scores=merged))
    return out


# --- aggregation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BidResult:
    bid_id: str
    bidder: str
    price_fen: int
    rank: int
    total: Decimal  # weighted scoring: rounded total; lowest price: 0
    criteria: Mapping[str, Decimal]  # criterion → rounded committee mean (price: computed)
    technical: Decimal
    commercial: Decimal
    price_score: Decimal
    evaluated_price_fen: int | None  # lowest evaluated price only
    tie_unresolved: bool = False


@dataclass(frozen=True)
class Deviation:
    seat: int
    bid_id: str
    expert_total: Decimal
    committee_mean: Decimal
    share: Decimal  # signed, (expert - mean) / mean, 4 dp


@dataclass(frozen=True)
class PriceBasis:
    """How a price criterion was scored: its formula and benchmark price (评标基准价),
    shown rounded half-up to the fen (the scores use the exact value)."""

    criterion_id: str
    formula: str
    benchmark_fen: int


@dataclass(frozen=True)
class Aggregation:
    method: Method
    results: tuple[BidResult, ...]  # in rank order
    excluded: tuple[str, ...]  # bids not ranked (non-responsive in lowest evaluated price)
    deviations: tuple[Deviation, ...]
    price_basis: tuple[PriceBasis, ...] = ()


def average_benchmark_price(prices: Sequence[int], params: AverageBenchmark) -> Fraction:
    """评标基准价: the mean of the valid prices (fen) × factor, exactly.

    With ``drop_extremes`` and at least ``drop_min_count`` prices, one highest and one
    lowest price are left out of the mean first.
    """
    if not prices:
        raise InvalidInput("no valid price to compute the benchmark from", field="bids")
    vals = sorted(prices)
    if params.drop_extremes and len(vals) >= params.drop_min_count:
        vals = vals[1:-1]
    return Fraction(sum(vals), len(vals)) * Fraction(params.factor)


def average_benchmark_score(
    price_fen: int, benchmark: Fraction, max_points: Decimal, params: AverageBenchmark
) -> Fraction:
    """Exact price score of one price against the benchmark (docs/scoring.md).

    Deviation in percent = (price − benchmark) / benchmark × 100; above the benchmark
    ``deduct_above`` points per 1 %, below it ``deduct_below`` per 1 %, pro rata; the
    score never goes below ``floor`` (nor above ``max_points``).
    """
    top = Fraction(max_points)
    deviation = (Fraction(price_fen) - benchmark) * 100 / benchmark
    per_percent = Fraction(params.deduct_above if deviation > 0 else params.deduct_below)
    floor = min(Fraction(params.floor), top)
    return max(top - per_percent * abs(deviation), floor)


def _benchmark(
    bids: Sequence[Bid], formula: str, params: AverageBenchmark | None
) -> Fraction:
    if formula == "lowest_price_ratio":
        return Fraction(min(b.price_fen for b in bids))
    if formula == "average_benchmark":
        if params is None:
            raise InvalidInput("average_benchmark needs its parameters", field="rules")
        return average_benchmark_price([b.price_fen for b in bids], params)
    raise InvalidInput(f"unknown price formula {formula!r}", field="formula")


def price_scores(
    bids: Sequence[Bid],
    max_points: Decimal,
    formula: str,
    params: AverageBenchmark | None = None,
) -> dict[str, Fraction]:
    """Exact price score per bid under ``formula``: ``lowest_price_ratio`` or
    ``average_benchmark`` (with ``params``). ``bids`` are the valid (qualified) bids."""
    if formula not in PRICE_SCORE_FORMULAS:
        raise InvalidInput(f"unknown price formula {formula!r}", field="formula")
    if not bids:
        return {}
    benchmark = _benchmark(bids, formula, params)
    if formula == "lowest_price_ratio":
        return {b.id: benchmark / b.price_fen * Fraction(max_points) for b in bids}
    assert params is not None
    return {
        b.id: average_benchmark_score(b.price_fen, benchmark, max_points, params) for b in bids
    }


def _mean(values: Sequence[Fraction], *, drop_extremes: bool) -> Fraction:
    vals = sorted(values)
    # Drop one highest and one lowest only with ≥ 7 members (option of the session).
    if drop_extremes and len(vals) >= 7:
        vals = vals[1:-1]
    return sum(vals, Fraction(0)) / len(vals)


def aggregate(session: Session, sheets: Sequence[Sheet]) -> Aggregation:
    """Committee result from the latest scoring sheet of each seat (order does not matter)."""
    ordered = scoring_sheets(sheets)
    if session.method is Method.LOWEST_EVALUATED_PRICE:
        return _aggregate_lowest_price(session, ordered)
    return _aggregate_weighted(session, ordered)


def _aggregate_weighted(session: Session, sheets: Sequence[Sheet]) -> Aggregation:
    bids = session.qualified_bids
    drop = session.rules.drop_extremes
    scored = session.criteria_of(Category.TECHNICAL, Category.COMMERCIAL)
    price_crits = session.criteria_of(Category.PRICE)
    bench = session.rules.average_benchmark
    formulas = {pc.id: pc.formula or session.rules.price_formula for pc in price_crits}
    per_price: dict[str, dict[str, Fraction]] = {
        pc.id: price_scores(bids, pc.max_points, formulas[pc.id], bench) for pc in price_crits
    }
    basis = tuple(
        PriceBasis(pc.id, formulas[pc.id], _round_fen(_benchmark(bids, formulas[pc.id], bench)))
        for pc in price_crits
        if bids
    )
    price = {b.id: sum((per_price[pc.id][b.id] for pc in price_crits), Fraction(0)) for b in bids}

    rows = []
    deviations: list[Deviation] = []
    for b in bids:
        means: dict[str, Fraction] = {}
        for c in scored:
            values = [Fraction(s.scores[b.id][c.id]) for s in sheets if b.id in s.scores]
            means[c.id] = _mean(values, drop_extremes=drop) if values else Fraction(0)
        tech = sum((means[c.id] for c in scored if c.category is Category.TECHNICAL), Fraction(0))
        comm = sum((means[c.id] for c in scored if c.category is Category.COMMERCIAL), Fraction(0))
        total = tech + comm + price[b.id]
        crit_out = {cid: round_points(v) for cid, v in means.items()}
        crit_out.update({pc.id: round_points(per_price[pc.id][b.id]) for pc in price_crits})
        rows.append(
            (
                b,
                round_points(total),
                round_points(tech),
                round_points(comm),
                round_points(price[b.id]),
                crit_out,
            )
        )
        deviations.extend(_deviations(session, b.id, sheets, scored))

    order = {b.id: i for i, b in enumerate(session.bids)}
    # Total, then price, then technical total, then registration order (documented).
    rows.sort(key=lambda r: (-r[1], r[0].price_fen, -r[2], order[r[0].id]))
    results = []
    for i, (b, r_total, r_tech, r_comm, pscore, crit) in enumerate(rows):
        key = (r_total, b.price_fen, r_tech)
        neighbours = [rows[j] for j in (i - 1, i + 1) if 0 <= j < len(rows)]
        unresolved = any((n[1], n[0].price_fen, n[2]) == key for n in neighbours)
        results.append(
            BidResult(
                bid_id=b.id,
                bidder=b.bidder,
                price_fen=b.price_fen,
                rank=i + 1,
                total=r_total,
                criteria=crit,
                technical=r_tech,
                commercial=r_comm,
                price_score=pscore,
                evaluated_price_fen=None,
                tie_unresolved=unresolved,
            )
        )
    return Aggregation(Method.WEIGHTED_SCORING, tuple(results), (), tuple(deviations), basis)


def _deviations(
    session: Session, bid_id: str, sheets: Sequence[Sheet], scored: Sequence[Any]
) -> list[Deviation]:
    totals = {
        s.seat: sum((Fraction(s.scores[bid_id][c.id]) for c in scored), Fraction(0))
        for s in sheets
        if bid_id in s.scores
    }
    if not totals:
        return []
    mean = sum(totals.values(), Fraction(0)) / len(totals)
    if mean == 0:
        return []
    share = Fraction(session.rules.deviation_share)
    out = []
    for seat, t in sorted(totals.items()):
        if abs(t - mean) > share * mean:
            ratio = (t - mean) / mean
            out.append(
                Deviation(
                    seat=seat,
                    bid_id=bid_id,
                    expert_total=round_points(t),
                    committee_mean=round_points(mean),
                    share=(Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(
                        Decimal("0.0001"), rounding=ROUND_HALF_UP
                    ),
                )
            )
    return out


def _aggregate_lowest_price(session: Session, sheets: Sequence[Sheet]) -> Aggregation:
    n = len(sheets)
    rows = []
    excluded = []
    for b in session.qualified_bids:
        evs = [s.evaluations[b.id] for s in sheets if b.id in s.evaluations]
        responsive = 2 * sum(1 for r, _ in evs if r) > n
        if not responsive:
            excluded.append(b.id)
            continue
        adj = _round_fen(Fraction(sum(a for _, a in evs), len(evs))) if evs else 0
        rows.append((b, b.price_fen + adj))
    order = {b.id: i for i, b in enumerate(session.bids)}
    rows.sort(key=lambda r: (r[1], r[0].price_fen, order[r[0].id]))
    results = []
    zero = Decimal("0.00")
    for i, (b, ev) in enumerate(rows):
        neighbours = [rows[j] for j in (i - 1, i + 1) if 0 <= j < len(rows)]
        unresolved = any((x[1], x[0].price_fen) == (ev, b.price_fen) for x in neighbours)
        results.append(
            BidResult(
                bid_id=b.id,
                bidder=b.bidder,
                price_fen=b.price_fen,
                rank=i + 1,
                total=zero,
                criteria={},
                technical=zero,
                commercial=zero,
                price_score=zero,
                evaluated_price_fen=ev,
                tie_unresolved=unresolved,
            )
        )
    return Aggregation(Method.LOWEST_EVALUATED_PRICE, tuple(results), tuple(excluded), ())


def aggregation_to_doc(a: Aggregation) -> dict[str, Any]:
    """JSON-able form (points as 2-dp strings, money in fen)."""
    doc: dict[str, Any] = {
        "method": a.method.value,
        "ranking": [
            {
                "rank": r.rank,
                "bid_id": r.bid_id,
                "bidder": r.bidder,
                "price_fen": r.price_fen,
                "total": str(r.total),
                "technical": str(r.technical),
                "commercial": str(r.commercial),
                "price_score": str(r.price_score),
                "criteria": {k: str(v) for k, v in r.criteria.items()},
                "evaluated_price_fen": r.evaluated_price_fen,
                "tie_unresolved": r.tie_unresolved,
            }
            for r in a.results
        ],
        "excluded": list(a.excluded),
        "deviations": [
            {
                "seat": d.seat,
                "bid_id": d.bid_id,
                "expert_total": str(d.expert_total),
                "committee_mean": str(d.committee_mean),
                "share": str(d.share),
            }
            for d in a.deviations
        ],
    }
    if any(p.formula != "lowest_price_ratio" for p in a.price_basis):
        # Only then: a report under lowest_price_ratio keeps the bytes it was signed as
        # before this field existed (the report is rebuilt from the sheets).
        doc["price_basis"] = [
            {"criterion_id": p.criterion_id, "formula": p.formula,
             "benchmark_fen": p.benchmark_fen}
            for p in a.price_basis
        ]
    return doc


def sheet_to_doc(s: Sheet) -> dict[str, Any]:
    """The canonical document of a validated sheet (what is stored and hashed)."""
    bids: dict[str, Any]
    if s.stage in REVIEW_STAGES:
        bids = {b: dict(v) for b, v in s.verdicts.items()}
        if s.reasons:
            # Only with a fail: a sheet of passes keeps the bytes it was committed as.
            return {"stage": s.stage.value, "bids": bids,
                    "reasons": {b: dict(v) for b, v in s.reasons.items()}}
    elif s.scores:
        bids = {b: {c: str(p) for c, p in v.items()} for b, v in s.scores.items()}
    else:
        bids = {b: {"responsive": r, "adjustment_fen": a} for b, (r, a) in s.evaluations.items()}
    return {"stage": s.stage.value, "bids": bids}


def sheet_from_doc(seat: int, d: Mapping[str, Any]) -> Sheet:
    """Inverse of :func:`sheet_to_doc` (trusted: our own store)."""
    stage = Stage(d["stage"])
    if stage in REVIEW_STAGES:
        return Sheet(seat=seat, stage=stage, verdicts=d["bids"], reasons=d.get("reasons", {}))
    first: Mapping[str, Any] = next(iter(d["bids"].values()), {})
    if "responsive" in first:
        return Sheet(
            seat=seat,
            stage=stage,
            evaluations={b: (v["responsive"], v["adjustment_fen"]) for b, v in d["bids"].items()},
        )
    return Sheet(
        seat=seat,
        stage=stage,
        scores={b: {c: Decimal(p) for c, p in v.items()} for b, v in d["bids"].items()},
    )
