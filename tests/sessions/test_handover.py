"""The handover's deadline in working days (pure): weekends, holidays and worked
weekend days (调休), counted on China Standard Time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.errors import InvalidInput
from evalsvc.sessions.handover import CST, HandoverRules, handover_due, working_days_after


def _at(y: int, mo: int, d: int, h: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, tzinfo=CST).timestamp())


def test_the_worked_example_of_the_docs() -> None:
    # Sealed Thu 2026-12-31 16:00 CST; 01-01 a holiday; 3 days: Mon 4, Tue 5, Wed 6.
    rules = HandoverRules(days=3, holidays=("2027-01-01",))
    assert rules.due(_at(2026, 12, 31, 16)) == _at(2027, 1, 7)


def test_weekends_do_not_count_and_a_worked_weekend_day_does() -> None:
    friday = _at(2027, 1, 8, 10)
    assert handover_due(friday, 1) == _at(2027, 1, 12)  # Monday counted, due Tuesday 00:00
    worked = frozenset({dt.date(2027, 1, 9)})  # 调休: Saturday worked
    assert handover_due(friday, 1, workdays=worked) == _at(2027, 1, 10)


def test_the_day_is_the_china_standard_time_day() -> None:
    # 2027-01-07 23:30 UTC is already Friday 8th in Beijing: Monday 11th is day 1.
    late = int(dt.datetime(2027, 1, 7, 23, 30, tzinfo=dt.UTC).timestamp())
    assert handover_due(late, 1) == _at(2027, 1, 12)


def test_a_bad_holiday_is_named() -> None:
    with pytest.raises(InvalidInput) as bad:
        HandoverRules(holidays=("2027-02-30",)).due(0)
    assert bad.value.field == "holidays/0"


@given(st.dates(dt.date(2020, 1, 1), dt.date(2035, 1, 1)), st.integers(0, 30),
       st.sets(st.dates(dt.date(2020, 1, 1), dt.date(2035, 6, 1)), max_size=40))
def test_exactly_n_working_days_lie_between_the_seal_and_the_deadline(
    start: dt.date, days: int, holidays: set[dt.date]
) -> None:
    end = working_days_after(start, days, holidays=frozenset(holidays))
    between = [start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(1 for x in between if x.weekday() < 5 and x not in holidays) == days
    assert days == 0 or (end.weekday() < 5 and end not in holidays)
