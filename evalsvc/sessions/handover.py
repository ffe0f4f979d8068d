"""The handover's deadline (交接): N working days after the seal. Pure.

Working days are counted on the calendar of the primary venue (China Standard Time,
UTC+8, no daylight saving): Saturdays, Sundays and the configured public holidays
(``[rules] holidays``) do not count, nor does the day of the seal itself; working
weekend days (调休) are listed in ``[rules] workdays``. The handover is overdue from
00:00 CST of the day after the N-th working day.

Worked example: sealed Thursday 2026-12-31 at 16:00 CST, ``handover_days = 3``,
``holidays = ["2027-01-01"]``: the working days counted are Mon 01-04, Tue 01-05 and
Wed 01-06, so the handover is overdue from Thu 2027-01-07 00:00 CST.
"""

from __future__ import annotations

__all__ = ["CST", "HandoverRules", "handover_due", "parse_dates", "working_days_after"]

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass

from evalsvc.errors import InvalidInput

CST = _dt.timezone(_dt.timedelta(hours=8), "CST")  # 中国标准时间, no DST
_MAX_DAYS = 366  # a calendar that never yields a working day must not loop forever


def parse_dates(values: Iterable[str], *, field: str) -> frozenset[_dt.date]:
    """ISO dates (``2027-01-01``); a bad one is an error naming ``field``."""
    out = set()
    for i, v in enumerate(values):
        try:
            out.add(_dt.date.fromisoformat(v))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"not a date (YYYY-MM-DD): {v!r}", field=f"{field}/{i}") from exc
    return frozenset(out)


def _working(day: _dt.date, holidays: frozenset[_dt.date], workdays: frozenset[_dt.date]) -> bool:
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def working_days_after(
    start: _dt.date,
    days: int,
    *,
    holidays: frozenset[_dt.date] = frozenset(),
    workdays: frozenset[_dt.date] = frozenset(),
) -> _dt.date:
    """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise InvalidInput("the number of working days must not be negative",
                           field="handover_days")
    day, counted, scanned = start, 0, 0
    while counted < days:
        day += _dt.timedelta(days=1)
        scanned += 1
        if scanned > _MAX_DAYS * max(days, 1):
            raise InvalidInput("the calendar has no working day in a year", field="holidays")
        if _working(day, holidays, workdays):
            counted += 1
    return day


def handover_due(
    sealed_at: int,
    days: int,
    *,
    holidays: frozenset[_dt.date] = frozenset(),
    workdays: frozenset[_dt.date] = frozenset(),
) -> int:
    """When (unix seconds) a handover not acknowledged becomes overdue: 00:00 CST of
    the day after the ``days``-th working day after the seal's day (CST)."""
    sealed_day = _dt.datetime.fromtimestamp(sealed_at, CST).date()
    last = working_days_after(sealed_day, days, holidays=holidays, workdays=workdays)
    nxt = last + _dt.timedelta(days=1)
    return int(_dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=CST).timestamp())


@dataclass(frozen=True)
class HandoverRules:
    """The handover as configured (``[rules] handover_items``, ``handover_days``,
    ``holidays``, ``workdays``)."""

    items: tuple[str, ...] = ("签字评审表", "承诺书", "回避声明")
    days: int = 3
    holidays: tuple[str, ...] = ()
    workdays: tuple[str, ...] = ()

    def due(self, sealed_at: int) -> int:
        """When (unix seconds) the handover of a session sealed at ``sealed_at`` is overdue."""
        return handover_due(
            sealed_at, self.days, holidays=parse_dates(self.holidays, field="holidays"),
            workdays=parse_dates(self.workdays, field="workdays"))
