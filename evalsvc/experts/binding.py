"""A rules document bound to its session: what the primary may and may not choose. Pure.

The rules document a primary operator sends to ``POST …/draw`` decides who may be drawn.
Everything in it that the session already knows is taken from the session, not from the
request (``docs/draw.md`` §6.1):

- ``draw.session`` is the session id; ``draw.date`` is the day of the draw at the server
  (Asia/Shanghai), the day every "within N years" rule counts back from;
- the tenderer (name, USCC), the supervising departments and the bidders (name, USCC,
  legal representative and principals, each bidder once) are the session's, registered
  with it and fixed when it leaves draft; a document that names any of them is refused
  (``rules/tenderer``, ``rules/supervising_departments``, ``rules/bidders``), so that
  no request can leave a bidder or a principal out;
- the recusal options may be stricter than the defaults, never looser:
  ``unsafe_no_recusal`` and switching a rule off belong to ``evalsvc draw simulate``;
- the number of alternates is at least the configured floor (``[draw] min_alternates``).

:func:`bind_rules` returns the document to load, or raises :class:`InvalidInput` naming
the field that differs.
"""

from __future__ import annotations

__all__ = ["SESSION_KEYS", "bind_rules", "draw_day", "request_part"]

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


# What the session knows (docs/draw.md §6.1): a request naming any of these is refused,
# whatever it says, so that no request can add, drop or reword a recusal input.
SESSION_KEYS: dict[str, str] = {
    "tenderer": "招标人及其统一社会信用代码",
    "supervising_departments": "监督部门",
    "bidders": "投标人及其法定代表人、主要负责人",
}


def _session_facts(session: Session) -> dict[str, Any]:
    if not session.tender_number or not session.tenderer_uscc:
        raise InvalidInput(
            "会话未登记招标项目编号或招标人统一社会信用代码 (创建会话时提供"
            " tender_number、tenderer_uscc), 不能抽取专家", field="tenderer_uscc")
    bidders: dict[str, dict[str, Any]] = {}
    for bid in session.bids:  # a bidder may hand in more than one bid: each bidder once
        b = bidders.setdefault(bid.uscc.upper(), {"name": bid.bidder, "uscc": bid.uscc.upper(),
                                                  "principals": []})
        b["principals"] = list(dict.fromkeys([*b["principals"], *bid.recusal_names]))
    return {
        "tenderer": {"name": session.tenderer, "uscc": session.tenderer_uscc},
        "supervising_departments": [{"name": o.name, "uscc": o.uscc}
                                    for o in session.supervising_departments],
        "bidders": list(bidders.values()),
    }


def request_part(document: Mapping[str, Any]) -> dict[str, Any]:
    """A bound document without what :func:`bind_rules` took from the session (to bind
    it again for a later ceremony)."""
    out = {k: v for k, v in document.items() if k not in SESSION_KEYS}
    draw_t = out.get("draw")
    if isinstance(draw_t, Mapping):
        out["draw"] = {k: v for k, v in draw_t.items() if k not in ("session", "date")}
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
    for key, what in SESSION_KEYS.items():
        if key in doc:
            raise InvalidInput(
                f"规则文件不能含 {key}: {what}取自会话登记 (创建会话与登记投标时提供),"
                " 抽取请求不能给出或更改; 请删除该字段", field=f"rules/{key}")
    _recusal(_table(doc, "recusal"))
    return {
        **doc,
        "draw": {**draw_t, "session": session.id, "date": day.isoformat()},
        **_session_facts(session),
    }
