"""What the pattern rules look at, folded from a session's events. Pure.

The rules never read the database: they read the session's own event log (the same
events a sealed bundle holds, unredacted) folded into :class:`Facts`, and the history
of the seated experts in earlier sessions (the observations those sessions' checks
recorded). See ``docs/alerts.md`` "Input".
"""

from __future__ import annotations

__all__ = ["BidFacts", "Facts", "fold"]

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class BidFacts:
    id: str
    bidder: str
    uscc: str
    price_fen: int
    provenance: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Facts:
    """A session as the rules see it (built by :func:`fold`)."""

    session_id: str = ""
    method: str = "weighted_scoring"
    bids: dict[str, BidFacts] = field(default_factory=dict)
    # criterion id → (category, max points)
    criteria: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    experts: dict[int, str] = field(default_factory=dict)  # seat → expert id
    stage_started_ms: dict[str, int] = field(default_factory=dict)
    submitted_ms: dict[tuple[str, int, int], int] = field(default_factory=dict)
    # stage → seat → (version, sheet document) of the locked sheets
    opened: dict[str, dict[int, tuple[int, Mapping[str, Any]]]] = field(default_factory=dict)
    qualified: list[str] | None = None
    deviations: list[tuple[int, str]] = field(default_factory=list)
    explanations: list[tuple[int, str, str]] = field(default_factory=list)


def fold(events: Iterable[Mapping[str, Any]]) -> Facts:
    """The facts of a session from its events, oldest first (event documents:
    ``type``, ``payload``, ``time_ms``, ``session_id``)."""
    f = Facts()
    for e in events:
        kind, pl, t = e["type"], e["payload"], int(e.get("time_ms", 0))
        f.session_id = str(e.get("session_id", f.session_id))
        if kind == "session.created":
            f.method = str(pl.get("method", f.method))
        elif kind == "bid.added":
            b = pl["bid"]
            prov = b.get("provenance") or {}
            f.bids[b["id"]] = BidFacts(
                b["id"], b["bidder"], b["uscc"], int(b["price_fen"]),
                {str(k): str(v) for k, v in prov.items()},
            )
        elif kind == "criterion.added":
            c = pl["criterion"]
            f.criteria[c["id"]] = (c["category"], Decimal(c["max_points"]))
        elif kind == "seat.assigned":
            if pl.get("expert_id") is not None:
                f.experts[int(pl["seat"])] = str(pl["expert_id"])
        elif kind == "designation.rejected":
            for seat in pl.get("seats", []):
                f.experts.pop(int(seat), None)
        elif kind == "session.state_changed":
            to = pl.get("to")
            started = to in ("evaluating/qualification", "evaluating/scoring")
            if started and pl.get("from") != "paused":  # a resume is no new start
                f.stage_started_ms.setdefault(to.split("/")[1], t)
        elif kind == "sheet.submitted":
            f.submitted_ms[(pl["stage"], int(pl["seat"]), int(pl["version"]))] = t
        elif kind == "sheets.opened":
            f.opened[pl["stage"]] = {
                int(x["seat"]): (int(x["version"]), x["sheet"]) for x in pl["sheets"]
            }
        elif kind == "stage.locked":
            if pl["stage"] in ("qualification", "compliance"):
                f.qualified = list(pl.get("qualified", []))
            elif "result" in pl:  # (a technical lock, split stages, has no result)
                f.deviations = [
                    (int(d["seat"]), str(d["bid_id"])) for d in pl["result"].get("deviations", [])
                ]
        elif kind == "deviation.explained":
            f.explanations.append((int(pl["seat"]), str(pl["bid_id"]), str(pl["text"])))
    return f
