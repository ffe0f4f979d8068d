"""A rules document bound to its session: what the primary may and may not choose. Pure.

The rules document a primary operator sends to ``POST …/draw`` decides who may be drawn.
Everything in it that the session already knows is taken from the session, not from the
request (``docs/draw.md`` §6.1):

- ``draw.session`` is the session id; ``draw.date`` is the day of the draw at the server
  (Asia/Shanghai), the day every "within N years" rule counts back from;
- the bidders are the session's bids (name and USCC, each bidder once); the document may
  add their principals (主要负责人), never leave a bidder out or add another;
- the tenderer's name is the session's;
- the recusal options may be stricter than the defaults, never looser:
  ``unsafe_no_recusal`` and switching a rule off belong to ``evalsvc draw simulate``;
- the number of alternates is at least the configured floor (``[draw] min_alternates``).

:func:`bind_rules` returns the document to load, or raises :class:`InvalidInput` naming
the field that differs.
"""

from __future__ import annotations

__all__ = ["bind_rules", "draw_day"]

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from evalsvc.errors import InvalidInput
from evalsvc.sessions.model import Session

_CHINA = _dt.timezone(_dt.timedelta(hours=8), "Asia/Shanghai")

# The defaults of docs/draw.md §2.3 are the loosest a real draw may use.
_PENALTY_YEARS = 3
_COLLABORATION_YEARS = 3
_MAX_EVALUATIONS = 3


def draw_day(now: _dt.datetime) -> _dt.date:
    """The calendar day of ``now`` in China (the draw's ``draw.date``)."""
    return now.astimezone(_CHINA).date()


def _table(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"rules: [{key}] must be a table", field=f"rules/{key}")
    return dict(value)


def _recusal(rec: Mapping[str, Any]) -> None:
    if rec.get("unsafe_no_recusal", False) is not False:
        raise InvalidInput("rules: recusal.unsafe_no_recusal is for simulations only"
                           " (`evalsvc draw simulate`), never a session's draw",
                           field="rules/recusal/unsafe_no_recusal")
    checks = (
        ("penalty_years", _PENALTY_YEARS, "at least"),
        ("collaboration_years", _COLLABORATION_YEARS, "at least"),
        ("max_evaluations_per_tenderer_per_year", _MAX_EVALUATIONS, "at most"),
    )
    for key, default, how in checks:
        if key not in rec:
            continue
        value = rec[key]
        if key == "penalty_years" and rec.get("penalty_ever") is True:
            continue  # any penalty recuses: stricter than any number of years
        loose = (value is False or isinstance(value, bool) or not isinstance(value, int)
                 or (value < default if how == "at least" else value > default))
        if loose:
            raise InvalidInput(f"rules: recusal.{key} = {value!r} is looser than a real draw"
                               f" allows ({how} {default}; switching it off is for"
                               " simulations only)", field=f"rules/recusal/{key}")


def _bidders(doc: Mapping[str, Any], session: Session) -> list[dict[str, Any]]:
    given = doc.get("bidders", [])
    if not isinstance(given, list) or not all(isinstance(b, Mapping) for b in given):
        raise InvalidInput("rules: bidders must be an array of tables", field="rules/bidders")
    by_uscc: dict[str, Mapping[str, Any]] = {}
    for b in given:
        uscc = str(b.get("uscc", "")).upper()
        if uscc in by_uscc:
            raise InvalidInput(f"rules: bidder {uscc} is listed twice", field="rules/bidders")
        by_uscc[uscc] = b
    wanted: dict[str, str] = {}
    for bid in session.bids:  # a bidder may hand in more than one bid
        wanted.setdefault(bid.uscc.upper(), bid.bidder)
    extra = sorted(set(by_uscc) - set(wanted))
    if extra:
        raise InvalidInput(f"rules: bidder(s) {', '.join(extra)} have no bid in the session",
                           field="rules/bidders")
    out = []
    for uscc, name in wanted.items():
        b = by_uscc.get(uscc, {})
        if b and b.get("name") != name:
            raise InvalidInput(f"rules: bidder {uscc} is named {b.get('name')!r}; the"
                               f" session's bid says {name!r}", field="rules/bidders")
        principals = b.get("principals", [])
        # Every bidder of the session is in the rules, named as the session names it; a
        # bidder the document forgot is added (its employees and declared relations are
        # recused just the same), so leaving one out gains nothing.
        out.append({"name": name, "uscc": uscc, "principals": principals})
    return out


def bind_rules(
    doc: Mapping[str, Any], session: Session, *, now: _dt.datetime, min_alternates: int
) -> dict[str, Any]:
    """``doc`` with the session's facts in it; :class:`InvalidInput` if it contradicts
    them or asks for something only a simulation may do (see the module docstring)."""
    draw_t = _table(doc, "draw")
    named = draw_t.get("session")
    if named is not None and named != session.id:
        raise InvalidInput(f"rules: draw.session is {named!r}, this session is {session.id!r}",
                           field="rules/draw/session")
    day = draw_day(now)
    given_day = draw_t.get("date")
    if given_day is not None and str(given_day) != day.isoformat():
        raise InvalidInput(f"rules: draw.date is {given_day!s}; a session's draw is dated the"
                           f" day it is held ({day.isoformat()})", field="rules/draw/date")
    alternates = draw_t.get("alternates", 2)
    if isinstance(alternates, bool) or not isinstance(alternates, int) or (
            alternates < min_alternates):
        raise InvalidInput(f"rules: draw.alternates is {alternates!r}; at least"
                           f" {min_alternates} per seat", field="rules/draw/alternates")
    tenderer = _table(doc, "tenderer")
    if tenderer.get("name") != session.tenderer:
        raise InvalidInput(f"rules: the tenderer is {tenderer.get('name')!r}; the session's"
                           f" tenderer is {session.tenderer!r}", field="rules/tenderer/name")
    _recusal(_table(doc, "recusal"))
    return {
        **doc,
        "draw": {**draw_t, "session": session.id, "date": day.isoformat()},
        "bidders": _bidders(doc, session),
    }
