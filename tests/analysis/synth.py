"""A seeded generator of synthetic sessions, as event logs, for the pattern alerts.

``honest(rng, ...)`` is a session whose experts score independently around each bid's
quality (each with their own leniency and noise, on the session's step), take a
plausible time per item, and explain deviations in their own words; its bids have
independent prices and provenance. ``plant(kind, rng)`` is the same with one kind of
collusion or poor review planted (``KINDS``), and the rule that must find it.

Nothing here reads a database or a clock: every session is a list of event documents
as the log records them (docs/alerts.md "Input").
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from evalsvc.analysis.rules import PROVENANCE_FIELDS

STEP = Decimal("0.5")
MINUTE = 60_000


@dataclass
class Spec:
    """The knobs of one synthetic session (filled by :func:`honest_spec`)."""

    session_id: str
    bids: list[dict[str, Any]]
    criteria: list[tuple[str, str, Decimal]]  # id, category, max points
    experts: list[str]
    quality: dict[tuple[str, str], float]  # (bid, criterion) → 0..1
    leniency: list[float]
    noise: float
    seconds_per_item: list[float]  # per member
    # Overrides planted by plant(): seat → (bid, criterion) → points
    forced: dict[int, dict[tuple[str, str], Decimal]] = field(default_factory=dict)
    copy_of: dict[int, int] = field(default_factory=dict)  # seat → seat it copies
    explanations: dict[int, str] = field(default_factory=dict)  # seat → fixed text


_USCC_POOL = [f"91310000{n:09d}X" for n in range(60)]


def honest_spec(rng: random.Random, session_id: str, *, pool: int = 40) -> Spec:
    n_bids = rng.randint(3, 12)
    usccs = rng.sample(_USCC_POOL, n_bids)
    bids = []
    for i, uscc in enumerate(usccs):
        bids.append({
            "id": f"B{i + 1}",
            "bidder": f"投标人{uscc[-6:]}",
            "uscc": uscc,
            "price_fen": rng.randint(80_000_000, 120_000_000) * 100 + rng.randint(0, 99),
            "provenance": {
                "author": f"编制人{rng.getrandbits(40):x}",
                "machine_code": f"{rng.getrandbits(48):012X}",
                "software": f"投标文件制作工具 授权号{rng.getrandbits(32):08x}",
                "project_manager": f"项目经理{rng.getrandbits(40):x}",
                "agent": f"代理人{rng.getrandbits(40):x}",
                "deposit_account": f"6222{rng.getrandbits(48):015d}"[:19],
            },
        })
    criteria = [(f"T{j + 1}", "technical", Decimal(rng.choice([10, 15, 20, 25])))
                for j in range(rng.randint(3, 5))]
    criteria += [(f"C{j + 1}", "commercial", Decimal(rng.choice([5, 10])))
                 for j in range(rng.randint(1, 2))]
    members = rng.choice([5, 5, 7, 7, 9])
    base = {b["id"]: rng.uniform(0.45, 0.9) for b in bids}
    quality = {(b["id"], c): min(1.0, max(0.0, base[b["id"]] + rng.gauss(0, 0.08)))
               for b in bids for c, _, _ in criteria}
    return Spec(
        session_id=session_id,
        bids=bids,
        criteria=criteria,
        experts=[f"E{n:03d}" for n in rng.sample(range(pool), members)],
        quality=quality,
        leniency=[rng.gauss(0, 0.04) for _ in range(members)],
        noise=rng.uniform(0.05, 0.12),
        seconds_per_item=[rng.lognormvariate(4.4, 0.4) for _ in range(members)],  # ~80 s
    )


def _points(x: float, max_points: Decimal) -> Decimal:
    v = Decimal(str(min(1.0, max(0.0, x)))) * max_points
    return (v / STEP).quantize(Decimal(1)) * STEP


def events(spec: Spec, rng: random.Random) -> list[dict[str, Any]]:
    """The event log of ``spec`` from creation to the report's start."""
    out: list[dict[str, Any]] = []
    now = 1_760_000_000_000

    def emit(kind: str, payload: dict[str, Any], at: int | None = None) -> None:
        out.append({"session_id": spec.session_id, "seq": len(out) + 1, "type": kind,
                    "payload": payload, "actor": "operator:op", "venue": "sh",
                    "time_ms": now if at is None else at})

    emit("session.created", {"title": "t", "tenderer": "t", "method": "weighted_scoring",
                             "venues": ["sh"]})
    for b in spec.bids:
        emit("bid.added", {"bid": b})
    emit("criterion.added", {"criterion": {"id": "Q1", "name": "资格", "category":
                                           "qualification", "max_points": "0", "formula": None}})
    for cid, cat, mx in spec.criteria:
        emit("criterion.added", {"criterion": {"id": cid, "name": cid, "category": cat,
                                               "max_points": str(mx), "formula": None}})
    emit("session.state_changed", {"from": "draft", "to": "drawing"})
    for seat, e in enumerate(spec.experts):
        emit("seat.assigned", {"seat": seat, "venue_id": "sh", "expert_id": e,
                               "expert_name": e})
    now += 30 * MINUTE
    emit("session.state_changed", {"from": "checking_in", "to": "evaluating/qualification"})
    start = now
    qual = {b["id"]: {"Q1": True} for b in spec.bids}
    for seat in range(len(spec.experts)):
        at = start + int(len(spec.bids) * spec.seconds_per_item[seat] * 1000)
        emit("sheet.submitted", {"seat": seat, "stage": "qualification", "version": 1,
                                 "commitment": "00"}, at)
        now = max(now, at)
    now += MINUTE
    emit("sheets.opened", {"stage": "qualification", "sheets": [
        {"seat": s, "version": 1, "sheet": {"stage": "qualification", "bids": qual}}
        for s in range(len(spec.experts))]})
    emit("stage.locked", {"stage": "qualification", "qualified": [b["id"] for b in spec.bids],
                          "failed": []})
    emit("session.state_changed", {"from": "evaluating/qualification",
                                   "to": "evaluating/scoring"})
    start = now
    scores: dict[int, dict[str, dict[str, Decimal]]] = {}
    for seat in range(len(spec.experts)):
        scores[seat] = {
            b["id"]: {
                cid: _points(spec.quality[(b["id"], cid)] + spec.leniency[seat]
                             + rng.gauss(0, spec.noise), mx)
                for cid, _, mx in spec.criteria
            }
            for b in spec.bids
        }
    for seat, forced in spec.forced.items():
        for (bid, cid), pts in forced.items():
            scores[seat][bid][cid] = pts
    for seat, src in spec.copy_of.items():
        scores[seat] = {b: dict(v) for b, v in scores[src].items()}
    items = len(spec.bids) * len(spec.criteria)
    for seat in range(len(spec.experts)):
        at = start + int(items * spec.seconds_per_item[seat] * 1000)
        emit("sheet.submitted", {"seat": seat, "stage": "scoring", "version": 1,
                                 "commitment": "00"}, at)
        now = max(now, at)
    now += MINUTE
    emit("sheets.opened", {"stage": "scoring", "sheets": [
        {"seat": s, "version": 1, "sheet": {"stage": "scoring", "bids": {
            b: {c: str(p) for c, p in v.items()} for b, v in scores[s].items()}}}
        for s in scores]})
    # The deviation rule of evalsvc.sessions.scoring: |total − mean| > 30 % of the mean.
    deviations = []
    for b in spec.bids:
        totals = {s: sum(scores[s][b["id"]].values(), Decimal(0)) for s in scores}
        mean = sum(totals.values(), Decimal(0)) / len(totals)
        for s, tot in totals.items():
            if mean and abs(tot - mean) > Decimal("0.30") * mean:
                deviations.append({"seat": s, "bid_id": b["id"], "expert_total": str(tot),
                                   "committee_mean": str(mean), "share": "0"})
    emit("stage.locked", {"stage": "scoring", "result": {"ranking": [],
                                                         "deviations": deviations}})
    emit("session.state_changed", {"from": "evaluating/scoring", "to": "aggregating"})
    for d in deviations:
        text = spec.explanations.get(d["seat"]) or (
            f"该投标人{d['bid_id']}的技术方案在第{rng.randint(1, 9)}章"
            f"存在{rng.choice(['实施进度', '质量保证', '人员配置', '售后服务'])}方面的"
            f"{rng.choice(['明显缺陷', '突出优势'])}，依据评分细则第{rng.randint(1, 20)}条评分")
        emit("deviation.explained", {"seat": d["seat"], "bid_id": d["bid_id"], "text": text})
    emit("session.state_changed", {"from": "aggregating", "to": "reporting"})
    return out


# --- planted kinds ----------------------------------------------------------------------

KINDS = [
    "identical_price",
    "regular_spacing",
    *(f"same_{name}" for name in PROVENANCE_FIELDS),
    "agreement",
    "extreme_for",
    "extreme_against",
    "fast_sheet",
    "unexplained_deviations",
]
# What each planted kind must raise.
EXPECTED = {
    "identical_price": "bids.identical_price",
    "regular_spacing": "bids.regular_spacing",
    **{f"same_{name}": f"bids.same_{name}" for name in PROVENANCE_FIELDS},
    "agreement": "experts.agreement",
    "extreme_for": "experts.extreme_bidder",
    "extreme_against": "experts.extreme_bidder",
    "fast_sheet": "experts.fast_sheet",
    "unexplained_deviations": "experts.unexplained_deviations",
}


def plant(
    kind: str, rng: random.Random, session_id: str = "S-planted"
) -> tuple[Spec, dict[str, Any]]:
    """An honest spec with ``kind`` planted, and what the alert must name
    (``{"bids": [...]}`` or ``{"seats": [...]}``)."""
    spec = honest_spec(rng, session_id)
    while len(spec.bids) < 5:
        spec = honest_spec(rng, session_id)
    b = spec.bids
    if kind == "identical_price":
        b[3]["price_fen"] = b[1]["price_fen"]
        return spec, {"bids": sorted([b[1]["id"], b[3]["id"]])}
    if kind == "regular_spacing":
        base, step = b[0]["price_fen"], rng.choice([500_000, 1_000_000, 1_234_500])
        lowest = min(x["price_fen"] for x in b)
        base = lowest - 10 * step  # below every other bid: the run is contiguous
        for k in range(4):
            b[k]["price_fen"] = base + k * step
        return spec, {"bids": sorted(x["id"] for x in b[:4])}
    if kind.startswith("same_"):
        name = kind.removeprefix("same_")
        b[4]["provenance"][name] = b[2]["provenance"][name]
        return spec, {"bids": sorted([b[2]["id"], b[4]["id"]])}
    if kind == "agreement":
        spec.copy_of[2] = 0
        return spec, {"seats": [0, 2]}
    if kind in ("extreme_for", "extreme_against"):
        target = b[rng.randrange(len(b))]["id"]
        spec.forced[1] = {
            (target, cid): (mx if kind == "extreme_for" else Decimal(0))
            for cid, _, mx in spec.criteria
        }
        # A bid the others rate as middling: the member alone is at the edge.
        for cid, _, _ in spec.criteria:
            spec.quality[(target, cid)] = 0.35 if kind == "extreme_for" else 0.85
        return spec, {"seats": [1], "bids": [target]}
    if kind == "fast_sheet":
        spec.seconds_per_item[3] = 2.0
        return spec, {"seats": [3]}
    if kind == "unexplained_deviations":
        for x in b[:2]:
            for cid, _, _ in spec.criteria:
                spec.quality[(x["id"], cid)] = 0.8
            spec.forced.setdefault(4, {}).update(
                {(x["id"], cid): Decimal(0) for cid, _, _ in spec.criteria})
        spec.explanations[4] = "无"
        return spec, {"seats": [4]}
    raise ValueError(kind)


def honest_sessions(seed: int, count: int) -> Iterator[list[dict[str, Any]]]:
    """``count`` honest sessions from one seed, drawing members from one pool of 40."""
    rng = random.Random(seed)
    for i in range(count):
        yield events(honest_spec(rng, f"S{i:05d}"), rng)
