"""The pattern rules of seed §(十六): signs of collusion among bidders and of poor
reviews by experts. Pure functions over :class:`~evalsvc.analysis.record.Facts`.

Each rule returns :class:`Alert`\\ s carrying the rule, its source, the evidence and a
Chinese message for supervisors. ``docs/alerts.md`` documents every rule, its statistic
and its threshold (:class:`~evalsvc.analysis.thresholds.Thresholds`).
"""

from __future__ import annotations

__all__ = [
    "PROVENANCE_FIELDS",
    "RULES",
    "Alert",
    "alert_from_doc",
    "alert_to_doc",
    "binomial_tail",
    "check_bids",
    "check_report",
    "check_scoring",
    "check_speed",
]

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from evalsvc.analysis.record import Facts
from evalsvc.analysis.thresholds import Thresholds

# Art. 40 of 招标投标法实施条例 (国务院令第613号) and what each provenance field evidences.
_ART40 = "招标投标法实施条例 第四十条"
_SAME_AUTHOR = f"{_ART40}第(一)项：不同投标人的投标文件由同一单位或者个人编制"
# field → (Chinese name, the item of Art. 40 it evidences)
PROVENANCE_FIELDS: dict[str, tuple[str, str]] = {
    "author": ("投标文件编制人", _SAME_AUTHOR),
    "machine_code": ("编制机器码", _SAME_AUTHOR),
    "software": ("编制软件及其授权号", _SAME_AUTHOR),
    "project_manager": ("项目负责人", f"{_ART40}第(三)项：项目管理成员为同一人"),
    "agent": ("委托代理人", f"{_ART40}第(二)项：委托同一单位或者个人办理投标事宜"),
    "deposit_account": (
        "保证金转出账户", f"{_ART40}第(六)项：投标保证金从同一单位或者个人的账户转出"),
}
_SEED = "上海市深化公共资源“一网交易”改革三年行动方案 (十六)：专家评标评审质量分析"
_DEVIATION = "评标委员会和评标方法暂行规定 第四十二条 (评标报告载明的评分差异与说明)；" + _SEED

# rule id → (its source, its Chinese title)
RULES: dict[str, tuple[str, str]] = {
    "bids.identical_price": (f"{_ART40}第(四)项：投标报价异常一致", "投标报价相同"),
    "bids.regular_spacing": (f"{_ART40}第(四)项：投标报价呈规律性差异", "投标报价呈规律性差异"),
    **{
        f"bids.same_{name}": (source, f"不同投标人的{zh}相同")
        for name, (zh, source) in PROVENANCE_FIELDS.items()
    },
    "experts.agreement": (_SEED + "；评分异常一致", "两名专家评分一致程度远超偶然"),
    "experts.extreme_bidder": (
        _SEED + "；对同一投标人明显偏向", "专家对某一投标人评分明显偏高或偏低"),
    "experts.extreme_bidder_history": (
        _SEED + "；跨项目对同一投标人持续偏向", "专家在多次评标中对同一投标人持续偏高或偏低"),
    "experts.fast_sheet": (
        _SEED + "；评标委员会和评标方法暂行规定 第十三条 (客观、公正地履行职务)",
        "评分表提交过快"),
    "experts.unexplained_deviations": (_DEVIATION, "评分偏离多次未作实质说明"),
    "experts.repeated_deviations": (_DEVIATION, "专家在多次评标中反复出现评分偏离"),
}


@dataclass(frozen=True)
class Alert:
    """One alert: the rule, the check it came from, whom it concerns, and why."""

    rule: str
    point: str  # bids | qualification | scoring | report
    subject: Mapping[str, Any]  # {"bids": [...]} or {"seats": [...], "experts": [...]}
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return RULES[self.rule][0]

    @property
    def title(self) -> str:
        return RULES[self.rule][1]


def alert_to_doc(a: Alert) -> dict[str, Any]:
    """JSON form, as the ``alerts.checked`` event carries it (no binary floats)."""
    return {
        "rule": a.rule,
        "point": a.point,
        "title": a.title,
        "source": a.source,
        "subject": dict(a.subject),
        "evidence": dict(a.evidence),
    }


def alert_from_doc(d: Mapping[str, Any]) -> Alert:
    """Inverse of :func:`alert_to_doc` (title and source follow from the rule)."""
    if d["rule"] not in RULES:
        raise ValueError(f"unknown alert rule {d['rule']!r}")
    return Alert(d["rule"], d["point"], dict(d["subject"]), dict(d["evidence"]))


def _g(x: float) -> str:
    return f"{x:.3g}"


# --- bids ----------------------------------------------------------------------------


def _norm(field_name: str, value: str) -> str:
    v = re.sub(r"[\s\-_:：.]+", "", value).casefold()
    return re.sub(r"\D", "", v) if field_name == "deposit_account" and any(
        c.isdigit() for c in v) else v


def _arith_runs(values: Sequence[Fraction], min_len: int, tol: Fraction) -> list[list[int]]:
    """Maximal runs (indices into ``values``, sorted ascending) of at least ``min_len``
    values whose consecutive steps are each within ``tol`` × the run's mean step."""
    runs: list[list[int]] = []
    n = len(values)
    i = 0
    while i + min_len <= n:
        j = i + 1
        best = i
        # extend while steps stay regular
        while j + 1 < n:
            steps = [values[k + 1] - values[k] for k in range(i, j + 1)]
            mean = sum(steps, Fraction(0)) / len(steps)
            if mean <= 0 or any(abs(s - mean) > tol * mean for s in steps):
                break
            best = j + 1
            j += 1
        if best - i + 1 >= min_len:
            runs.append(list(range(i, best + 1)))
            i = best
        else:
            i += 1
    return runs


def check_bids(f: Facts, t: Thresholds) -> list[Alert]:
    """Identical prices, regularly spaced prices and shared provenance among bids."""
    out: list[Alert] = []
    bids = sorted(f.bids.values(), key=lambda b: (b.price_fen, b.id))
    by_price: dict[int, list[str]] = defaultdict(list)
    for b in bids:
        by_price[b.price_fen].append(b.id)
    for price, ids in sorted(by_price.items()):
        if len(ids) > 1:
            out.append(Alert("bids.identical_price", "bids", {"bids": ids},
                             {"price_fen": price}))
    distinct = sorted(by_price)
    tol = Fraction(str(t.spacing_tolerance))
    for kind, values in (
        ("difference", [Fraction(p) for p in distinct]),
        # The same ratio between neighbours: equal steps of the logarithm, checked on
        # exact ratios (p[k+1]/p[k] within tol of their mean).
        ("ratio", None),
    ):
        if kind == "difference":
            assert values is not None
            runs = _arith_runs(values, t.spacing_min_bids, tol)
        else:
            runs = _ratio_runs(distinct, t.spacing_min_bids, tol)
        for run in runs:
            prices = [distinct[k] for k in run]
            ids = [i for p in prices for i in by_price[p]]
            steps = [prices[k + 1] - prices[k] for k in range(len(prices) - 1)]
            evidence: dict[str, Any] = {"kind": kind, "prices_fen": prices, "steps_fen": steps}
            if kind == "ratio":
                evidence["ratios"] = [_g(prices[k + 1] / prices[k]) for k in range(len(steps))]
            out.append(Alert("bids.regular_spacing", "bids", {"bids": ids}, evidence))
    for name in PROVENANCE_FIELDS:
        groups: dict[str, list[str]] = defaultdict(list)
        for b in sorted(f.bids.values(), key=lambda b: b.id):
            v = b.provenance.get(name)
            if v and _norm(name, v):
                groups[_norm(name, v)].append(b.id)
        for ids in sorted(groups.values()):
            if len(ids) > 1:
                shared = sorted({f.bids[i].provenance[name] for i in ids})
                out.append(Alert(f"bids.same_{name}", "bids", {"bids": ids},
                                 {"field": name, "values": shared}))
    return _dedupe_spacing(out)


def _ratio_runs(prices: Sequence[int], min_len: int, tol: Fraction) -> list[list[int]]:
    runs: list[list[int]] = []
    n = len(prices)
    i = 0
    while i + min_len <= n:
        best = i
        j = i + 1
        while j + 1 < n:
            ratios = [Fraction(prices[k + 1], prices[k]) - 1 for k in range(i, j + 1)]
            mean = sum(ratios, Fraction(0)) / len(ratios)
            if mean <= 0 or any(abs(r - mean) > tol * mean for r in ratios):
                break
            best = j + 1
            j += 1
        if best - i + 1 >= min_len:
            runs.append(list(range(i, best + 1)))
            i = best
        else:
            i += 1
    return runs


def _dedupe_spacing(alerts: list[Alert]) -> list[Alert]:
    # A run regular both by difference and by ratio (nearly equal prices) is one finding.
    seen: set[tuple[str, ...]] = set()
    out = []
    for a in alerts:
        if a.rule == "bids.regular_spacing":
            key = tuple(a.subject["bids"])
            if key in seen:
                continue
            seen.add(key)
        out.append(a)
    return out


# --- experts: the locked scoring sheets -------------------------------------------------


def _items(sheet: Mapping[str, Any], scored: set[str]) -> dict[tuple[str, str], str]:
    """(bid, criterion) → the value given, for every scored item of a sheet document."""
    out: dict[tuple[str, str], str] = {}
    for bid, v in sheet.get("bids", {}).items():
        if "responsive" in v:  # lowest evaluated price: responsiveness and adjustment
            out[(bid, "responsive")] = str(v["responsive"])
            out[(bid, "adjustment_fen")] = str(v["adjustment_fen"])
        else:
            for crit, pts in v.items():
                if crit in scored:
                    out[(bid, crit)] = str(pts)
    return out


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space (each term from the last:
    pmf(i+1)/pmf(i) = (n−i)/(i+1) · p/(1−p))."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq
    terms = [term]
    for i in range(k, n):
        term += math.log((n - i) / (i + 1)) + lp - lq
        terms.append(term)
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in terms))


def _agreement(f: Facts, sheets: Mapping[int, dict[tuple[str, str], str]],
               t: Thresholds) -> list[Alert]:
    seats = sorted(sheets)
    if len(seats) < 3:
        return []
    pairs = [(a, b) for i, a in enumerate(seats) for b in seats[i + 1:]]
    keys = sorted(set.intersection(*(set(sheets[s]) for s in seats)))
    if len(keys) < t.agreement_min_items:
        return []
    # Per item: how many pairs agree, to estimate each item's chance agreement without
    # the pair under test (leave-pair-out).
    agree_count: dict[tuple[str, str], int] = {}
    for key in keys:
        counts: dict[str, int] = defaultdict(int)
        for s in seats:
            counts[sheets[s][key]] += 1
        agree_count[key] = sum(c * (c - 1) // 2 for c in counts.values())
    others = len(pairs) - 1
    alpha = float(t.agreement_alpha) / len(pairs)  # Bonferroni over the pairs
    out = []
    for a, b in pairs:
        sa, sb = sheets[a], sheets[b]
        same = {key for key in keys if sa[key] == sb[key]}
        k, n = len(same), len(keys)
        if Fraction(k, n) < Fraction(str(t.agreement_min_share)):
            continue  # the share alone rules it out: no tail to compute
        p = sum((agree_count[key] - (key in same)) / others for key in keys) / n
        # Hoeffding (1956): for k ≥ np + 1 the tail of a sum of independent Bernoulli
        # trials with mean p̄ is at most the Binomial(n, p̄) tail; it is the bound used.
        tail = binomial_tail(k, n, p)
        if tail < alpha:
            out.append(Alert(
                "experts.agreement", "scoring",
                {"seats": [a, b], "experts": [f.experts.get(a), f.experts.get(b)]},
                {"items": n, "identical": k, "chance_rate": _g(p), "expected": _g(n * p),
                 "p_value": _g(tail), "threshold": _g(alpha),
                 "statistic": "binomial upper tail, leave-pair-out chance rate, Bonferroni"},
            ))
    return out


def _totals(sheets: Mapping[int, dict[tuple[str, str], str]], bids: Sequence[str],
            crits: Sequence[str]) -> dict[tuple[int, str], float]:
    return {
        (s, b): sum(float(sheets[s].get((b, c), "0")) for c in crits)
        for s in sheets for b in bids
    }


def leanings(f: Facts, t: Thresholds) -> tuple[list[Alert], list[dict[str, Any]]]:
    """Members extreme for or against one bid in this session (alerts), and every
    leaning with |z| ≥ ``history_z`` (observations for the expert's review record)."""
    sheet_docs = f.opened.get("scoring", {})
    crits = sorted(c for c, (cat, _) in f.criteria.items() if cat in ("technical", "commercial"))
    seats = sorted(sheet_docs)
    scored = set(crits)
    sheets = {s: _items(sheet_docs[s][1], scored) for s in seats}
    bids = sorted({b for s in seats for (b, c) in sheets[s] if c in scored})
    if len(seats) < 3 or not bids or not crits:
        return [], []
    tot = _totals(sheets, bids, crits)
    resid = {
        (s, b): tot[(s, b)] - statistics.median(tot[(o, b)] for o in seats if o != s)
        for s in seats for b in bids
    }
    # A robust scale (1.4826 × median absolute residual) so that one member's push does
    # not hide itself by inflating the spread.
    scale = 1.4826 * statistics.median(abs(r) for r in resid.values())
    if scale <= 0:  # most members agree exactly: fall back to the plain spread
        scale = statistics.pstdev(resid.values())
    if scale <= 0:
        return [], []
    cells = len(resid)
    z_crit = statistics.NormalDist().inv_cdf(1 - float(t.extreme_alpha) / (2 * cells))
    alerts, obs = [], []
    for (s, b), r in sorted(resid.items()):
        z = r / scale
        direction = "for" if z > 0 else "against"
        # Consistency: on how many of the bid's criteria the member is at the committee's edge.
        edge = 0
        for c in crits:
            mine = float(sheets[s].get((b, c), "0"))
            rest = [float(sheets[o].get((b, c), "0")) for o in seats if o != s]
            if (mine > max(rest)) if direction == "for" else (mine < min(rest)):
                edge += 1
        consistent = Fraction(edge, len(crits)) >= Fraction(str(t.extreme_consistency))
        uscc = f.bids[b].uscc if b in f.bids else ""
        evidence = {"bid": b, "uscc": uscc, "direction": direction, "z": _g(z),
                    "member_total": _g(tot[(s, b)]), "residual": _g(r), "scale": _g(scale),
                    "criteria_at_edge": edge, "criteria": len(crits)}
        if consistent and abs(z) >= z_crit:
            alerts.append(Alert(
                "experts.extreme_bidder", "scoring",
                {"seats": [s], "experts": [f.experts.get(s)], "bids": [b]},
                {**evidence, "z_threshold": _g(z_crit),
                 "statistic": "robust z of the member's total against the others' mean"},
            ))
        if consistent and abs(z) >= float(t.history_z) and f.experts.get(s):
            obs.append({"kind": "leaning", "session_id": f.session_id,
                        "expert_id": f.experts[s], "uscc": uscc, "direction": direction,
                        "z": _g(z)})
    return alerts, obs


def check_scoring(f: Facts, t: Thresholds, history: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[Alert], list[dict[str, Any]]]:
    """At the scoring lock: agreement beyond chance, extreme members (this session and
    across the history), sheets submitted too fast. Returns alerts and observations."""
    sheet_docs = f.opened.get("scoring", {})
    scored = {c for c, (cat, _) in f.criteria.items() if cat in ("technical", "commercial")}
    sheets = {s: _items(doc, scored) for s, (_, doc) in sheet_docs.items()}
    alerts = _agreement(f, sheets, t)
    lean_alerts, obs = leanings(f, t)
    alerts += lean_alerts
    # Across the history: the same (expert, bidder, direction) in enough sessions.
    seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for h in [*history, *obs]:
        if h.get("kind") == "leaning" and h.get("uscc"):
            seen[(h["expert_id"], h["uscc"], h["direction"])].add(h["session_id"])
    for o in obs:
        sessions = seen[(o["expert_id"], o["uscc"], o["direction"])]
        if len(sessions) >= t.history_min_sessions:
            seat = next(s for s, e in sorted(f.experts.items()) if e == o["expert_id"])
            alerts.append(Alert(
                "experts.extreme_bidder_history", "scoring",
                {"seats": [seat], "experts": [o["expert_id"]], "uscc": o["uscc"]},
                {"direction": o["direction"], "sessions": sorted(sessions), "z": o["z"],
                 "z_threshold": str(t.history_z)},
            ))
    return alerts + check_speed(f, t, "scoring"), obs


def _item_count(f: Facts, stage: str, doc: Mapping[str, Any]) -> int:
    # One item per (bid, criterion); a lowest-evaluated-price sheet has one per bid.
    return sum(1 if not isinstance(v, Mapping) or "responsive" in v else len(v)
               for v in doc.get("bids", {}).values())


def check_speed(f: Facts, t: Thresholds, stage: str) -> list[Alert]:
    """Locked sheets of ``stage`` whose version was submitted sooner after the stage
    started than ``min_seconds_per_item`` × its items."""
    start = f.stage_started_ms.get(stage)
    if start is None:
        return []
    out = []
    for seat, (version, doc) in sorted(f.opened.get(stage, {}).items()):
        at = f.submitted_ms.get((stage, seat, version))
        if at is None:
            continue
        items = _item_count(f, stage, doc)
        took = (at - start) / 1000
        need = items * t.min_seconds_per_item
        if items and took < need:
            out.append(Alert(
                "experts.fast_sheet", stage,
                {"seats": [seat], "experts": [f.experts.get(seat)]},
                {"stage": stage, "version": version, "seconds": _g(took), "items": items,
                 "minimum_seconds": need},
            ))
    return out


def _perfunctory(f: Facts, t: Thresholds) -> dict[int, list[str]]:
    by_seat: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for seat, bid, text in f.explanations:
        by_seat[seat].append((bid, re.sub(r"\s+", "", text)))
    out: dict[int, list[str]] = {}
    for seat, items in by_seat.items():
        texts = [x for _, x in items]
        bad = [b for b, x in items
               if len(x) < t.min_explanation_chars or texts.count(x) > 1]
        out[seat] = bad
    return out


def check_report(f: Facts, t: Thresholds, history: Sequence[Mapping[str, Any]]
                 ) -> tuple[list[Alert], list[dict[str, Any]]]:
    """When the report starts: deviations explained perfunctorily more than once, and
    members whose sheets deviated in enough sessions of their history."""
    bad = _perfunctory(f, t)
    count: dict[int, int] = defaultdict(int)
    for seat, _ in f.deviations:
        count[seat] += 1
    alerts: list[Alert] = []
    obs: list[dict[str, Any]] = []
    base = float(t.deviation_base_rate)
    members = max(1, len(f.experts))
    for seat in sorted(set(count) | set(bad) | set(f.experts)):
        perf = bad.get(seat, [])
        expert = f.experts.get(seat)
        if len(perf) >= t.unexplained_min:
            alerts.append(Alert(
                "experts.unexplained_deviations", "report",
                {"seats": [seat], "experts": [expert]},
                {"deviations": count[seat], "perfunctory": len(perf), "bids": perf,
                 "min_explanation_chars": t.min_explanation_chars},
            ))
        if not expert:
            continue
        # Every member's session is recorded, deviating or not: the rate needs both.
        obs.append({"kind": "deviations", "session_id": f.session_id,
                    "expert_id": expert, "count": count[seat], "perfunctory": len(perf)})
        if not count[seat]:
            continue
        sat = {h["session_id"]: int(h.get("count", 0)) for h in history
               if h.get("kind") == "deviations" and h.get("expert_id") == expert}
        sat[f.session_id] = count[seat]
        deviated = sorted(sid for sid, c in sat.items() if c > 0)
        tail = binomial_tail(len(deviated), len(sat), base)
        if len(deviated) >= t.deviation_history_sessions and tail < float(
                t.deviation_alpha) / members:
            alerts.append(Alert(
                "experts.repeated_deviations", "report",
                {"seats": [seat], "experts": [expert]},
                {"sessions": deviated, "sessions_sat": len(sat), "deviations_here": count[seat],
                 "base_rate": str(t.deviation_base_rate), "p_value": _g(tail),
                 "statistic": "binomial upper tail of sessions with a deviation, Bonferroni"},
            ))
    return alerts, obs
