"""The thresholds of the pattern alerts (``[alerts]`` in ``config/default.toml``). Pure.

Every rule of :mod:`evalsvc.analysis.rules` reads its thresholds from one frozen
:class:`Thresholds`; ``docs/alerts.md`` says where each default comes from. The
thresholds a check used are recorded with its alerts, so a verifier recomputes them
with the same values.
"""

from __future__ import annotations

__all__ = ["Thresholds", "thresholds_from_doc", "thresholds_problems", "thresholds_to_doc"]

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    """What makes each rule fire (docs/alerts.md, one section per rule)."""

    # 规律性差异: this many bids or more whose sorted prices step by the same amount
    # (or the same ratio), each step within this share of the mean step.
    spacing_min_bids: int = 4
    spacing_tolerance: Decimal = Decimal("0.002")
    # Sheets agreeing beyond chance: family-wise error over the committee's pairs
    # (Bonferroni), and the least share of items two members score identically.
    agreement_alpha: Decimal = Decimal("0.001")
    agreement_min_share: Decimal = Decimal("0.6")
    agreement_min_items: int = 8
    # A member extreme for or against one bidder in one session: family-wise error over
    # the (member, bid) cells, and the share of the bid's criteria on which the member
    # is at the committee's edge.
    extreme_alpha: Decimal = Decimal("0.001")
    extreme_consistency: Decimal = Decimal("1")
    # … across the pool's history: a leaning |z| ≥ history_z (same direction, same
    # bidder) recorded in at least this many sessions, this one included.
    history_z: Decimal = Decimal("2.5")
    history_min_sessions: int = 3
    # Sheets submitted implausibly fast: less than this many seconds per item scored.
    min_seconds_per_item: int = 10
    # Deviations explained perfunctorily (shorter than this, or the same text again)
    # this many times in one session …
    min_explanation_chars: int = 8
    unexplained_min: int = 2
    # … or flagged deviations in at least this many sessions of the member's history
    # (this one included), more often than the base rate explains (binomial tail below
    # deviation_alpha, Bonferroni over the committee).
    deviation_history_sessions: int = 3
    deviation_base_rate: Decimal = Decimal("0.05")
    deviation_alpha: Decimal = Decimal("0.001")


_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "spacing_min_bids": (Decimal(3), Decimal(1000)),
    "spacing_tolerance": (Decimal(0), Decimal("0.1")),
    "agreement_alpha": (Decimal("1e-12"), Decimal("0.1")),
    "agreement_min_share": (Decimal(0), Decimal(1)),
    "agreement_min_items": (Decimal(1), Decimal(100000)),
    "extreme_alpha": (Decimal("1e-12"), Decimal("0.1")),
    "extreme_consistency": (Decimal(0), Decimal(1)),
    "history_z": (Decimal("0.5"), Decimal(20)),
    "history_min_sessions": (Decimal(2), Decimal(1000)),
    "min_seconds_per_item": (Decimal(0), Decimal(86400)),
    "min_explanation_chars": (Decimal(0), Decimal(1000)),
    "unexplained_min": (Decimal(1), Decimal(1000)),
    "deviation_history_sessions": (Decimal(2), Decimal(1000)),
    "deviation_base_rate": (Decimal("0.0001"), Decimal("0.9")),
    "deviation_alpha": (Decimal("1e-12"), Decimal("0.1")),
}


def thresholds_problems(t: Thresholds) -> list[str]:
    """What is out of range in ``t``, as ``"name: must be between a and b"`` (empty: fine)."""
    out = []
    for f in dataclasses.fields(t):
        lo, hi = _BOUNDS[f.name]
        value = getattr(t, f.name)
        if not lo <= Decimal(value) <= hi:
            out.append(
                f"{f.name}: 须在 {lo} 与 {hi} 之间 (must be between {lo} and {hi}), 实为 {value}")
    return out


def thresholds_to_doc(t: Thresholds) -> dict[str, Any]:
    """JSON form (decimals as strings), as recorded with each check."""
    return {
        f.name: str(v) if isinstance(v := getattr(t, f.name), Decimal) else v
        for f in dataclasses.fields(t)
    }


def thresholds_from_doc(d: Mapping[str, Any]) -> Thresholds:
    """Inverse of :func:`thresholds_to_doc`; unknown keys are refused (ValueError)."""
    known = {f.name: f for f in dataclasses.fields(Thresholds)}
    kwargs: dict[str, Any] = {}
    for k, v in d.items():
        if k not in known:
            raise ValueError(f"unknown threshold {k!r}")
        default = getattr(Thresholds(), k)
        try:
            kwargs[k] = Decimal(str(v)) if isinstance(default, Decimal) else int(v)
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(f"threshold {k}: not a number: {v!r}") from exc
    return Thresholds(**kwargs)
