"""Pattern alerts (seed §(十六), 招标投标法实施条例 第四十条): pure functions over a
session's record. No I/O: the session service calls :func:`check` in the unit of work
at each check point, and a verifier calls :func:`recompute_alerts` on a bundle.

Check points — the event that triggers each, the rules run there:

================  ==================================================  =====================
point             trigger event                                       rules
================  ==================================================  =====================
``bids``          ``session.state_changed`` draft → drawing           ``bids.*``
``qualification`` ``stage.locked`` (qualification)                    ``experts.fast_sheet``
``scoring``       ``stage.locked`` (scoring)                          agreement, extremes,
                                                                      history, fast sheets
``report``        ``session.state_changed`` aggregating → reporting   deviations
================  ==================================================  =====================

Every check point records exactly one ``alerts.checked`` event (its alerts possibly
empty), right after the command's own events, so that the number and order of events —
what every role sees — does not depend on what was found.

**The record** :func:`recompute_alerts` takes (``docs/alerts.md`` "Input")::

    {
      "events": [ {"seq", "type", "payload", "time_ms", "session_id", ...}, ... ],
      "history": [ observation, ... ],          # optional
      "thresholds": {name: value, ...}          # optional
    }

``events`` is the session's whole event log, unredacted, oldest first (a sealed bundle's
entries). Without ``history`` / ``thresholds``, each check point uses those its own
``alerts.checked`` event recorded (an earlier session's observations are attested by
that session's log); without either, none and the defaults.
"""

from __future__ import annotations

__all__ = [
    "ALERTS_EVENT",
    "PROVENANCE_FIELDS",
    "RULES",
    "Alert",
    "Check",
    "MalformedRecord",
    "Thresholds",
    "alert_from_doc",
    "alert_to_doc",
    "check",
    "check_point",
    "missing_checks",
    "recompute_alerts",
    "recompute_checks",
    "recorded_alerts",
    "thresholds_from_doc",
    "thresholds_problems",
    "thresholds_to_doc",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsvc.analysis.record import fold
from evalsvc.analysis.rules import (
    PROVENANCE_FIELDS,
    RULES,
    Alert,
    alert_from_doc,
    alert_to_doc,
    check_bids,
    check_report,
    check_scoring,
    check_speed,
)
from evalsvc.analysis.thresholds import (
    Thresholds,
    thresholds_from_doc,
    thresholds_problems,
    thresholds_to_doc,
)

ALERTS_EVENT = "alerts.checked"


@dataclass(frozen=True)
class Check:
    """The outcome of one check point: its alerts and the observations it records for
    the experts' review records (the history of later sessions)."""

    point: str
    alerts: tuple[Alert, ...]
    observations: tuple[Mapping[str, Any], ...] = ()
    history: tuple[Mapping[str, Any], ...] = field(default=())

    def payload(self, t: Thresholds, *, nonce: str) -> dict[str, Any]:
        """The ``alerts.checked`` event payload. ``nonce`` (random, hex) keeps the audit
        leaf of an empty check from being guessed by a role that sees only its digest."""
        return {
            "point": self.point,
            "alerts": [alert_to_doc(a) for a in self.alerts],
            "observations": [dict(o) for o in self.observations],
            "history": [dict(h) for h in self.history],
            "thresholds": thresholds_to_doc(t),
            "nonce": nonce,
        }


def check_point(event: Mapping[str, Any]) -> str | None:
    """The check point an event triggers, or None."""
    kind, pl = event["type"], event["payload"]
    if kind == "session.state_changed":
        if pl.get("from") == "draft" and pl.get("to") == "drawing":
            return "bids"
        if pl.get("from") == "aggregating" and pl.get("to") == "reporting":
            return "report"
    elif kind == "stage.locked" and pl.get("stage") in ("qualification", "scoring"):
        return str(pl["stage"])
    return None


def check(events: Sequence[Mapping[str, Any]], *, thresholds: Thresholds,
          history: Sequence[Mapping[str, Any]] = ()) -> Check | None:
    """The check of the last check point among ``events`` (the session's log up to and
    including the command just decided), or None when they trigger none."""
    at = next((i for i in range(len(events) - 1, -1, -1) if check_point(events[i])), None)
    if at is None:
        return None
    point = check_point(events[at])
    assert point is not None
    f = fold(events[: at + 1])
    obs: list[dict[str, Any]] = []
    if point == "bids":
        alerts = check_bids(f, thresholds)
    elif point == "qualification":
        alerts = check_speed(f, thresholds, "qualification")
    elif point == "scoring":
        alerts, obs = check_scoring(f, thresholds, _of(history, f.experts.values()))
    else:
        alerts, obs = check_report(f, thresholds, _of(history, f.experts.values()))
    # What the check read of the history: the seated experts' observations (the store
    # reads no more than that; a record given with more is narrowed the same way).
    used = tuple(_of(history, f.experts.values())) if point in ("scoring", "report") else ()
    return Check(point, tuple(alerts), tuple(obs), used)


def _of(history: Sequence[Mapping[str, Any]], experts: Any) -> list[Mapping[str, Any]]:
    seated = set(experts)
    return [h for h in history if h.get("expert_id") in seated]


def recompute_alerts(record: Mapping[str, Any]) -> list[Alert]:
    """Every alert of a session recomputed from its record (see the module docstring),
    in the order the check points occurred. Equal to the alerts of its
    ``alerts.checked`` events when the log is what the rules say it should be."""
    return [a for c in recompute_checks(record) for a in c.alerts]


def recorded_alerts(events: Sequence[Mapping[str, Any]]) -> list[Alert]:
    """The alerts the ``alerts.checked`` events of a log recorded, in order: what a
    verifier compares with :func:`recompute_alerts` of the same log."""
    try:
        return [alert_from_doc(a) for e in events if e["type"] == ALERTS_EVENT
                for a in e["payload"]["alerts"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedRecord(f"not a session record as docs/alerts.md describes: "
                              f"{type(exc).__name__}: {exc}") from exc


def missing_checks(events: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indexes of check-point events not followed by their ``alerts.checked`` (before
    the next check point): a log the live service wrote has none."""
    out = []
    for i, e in enumerate(events):
        if check_point(e) is None:
            continue
        rest = events[i + 1:]
        nxt = next((j for j, x in enumerate(rest) if check_point(x) is not None), len(rest))
        if not any(x["type"] == ALERTS_EVENT for x in rest[:nxt]):
            out.append(i)
    return out


class MalformedRecord(ValueError):
    """The record is not in the documented shape (a field missing or of the wrong type)."""


def recompute_checks(record: Mapping[str, Any]) -> list[Check]:
    """As :func:`recompute_alerts`, each check point's whole :class:`Check`. Raises
    :class:`MalformedRecord` (a ValueError) naming what is wrong with the record."""
    try:
        return _recompute(record)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise MalformedRecord(f"not a session record as docs/alerts.md describes: "
                              f"{type(exc).__name__}: {exc}") from exc


def _recompute(record: Mapping[str, Any]) -> list[Check]:
    events: list[Mapping[str, Any]] = list(record["events"])
    fold(events)  # the whole log must be readable, not only up to the last check point
    given_t = record.get("thresholds")
    given_h = record.get("history")
    out: list[Check] = []
    for i, e in enumerate(events):
        if check_point(e) is None:
            continue
        recorded = next(
            (x["payload"] for x in events[i + 1:] if x["type"] == ALERTS_EVENT), None
        )
        t = thresholds_from_doc(given_t if given_t is not None
                                else (recorded or {}).get("thresholds", {}))
        h = given_h if given_h is not None else (recorded or {}).get("history", [])
        c = check(events[: i + 1], thresholds=t, history=h)
        assert c is not None
        out.append(c)
    return out
