"""Invitations: confirmations, declines and timeouts call alternates in order."""

from __future__ import annotations

import datetime as _dt

import pytest

from evalsvc.errors import Conflict, NotFound
from evalsvc.experts.draw import DrawResult, Pick, SeatDraw
from evalsvc.experts.invitations import answer, expire_due, next_deadline, seated, start
from evalsvc.experts.pool import Pool
from evalsvc.experts.rules import Seat

from ._helpers import expert

T0 = _dt.datetime(2026, 12, 1, 1, 0, tzinfo=_dt.UTC)
MIN = _dt.timedelta(minutes=1)


def _result(rows: list[tuple[str, ...]]) -> DrawResult:
    seat = Seat("v", "A01", ("SH", "JS"))
    return DrawResult("S", b"\x00" * 32, 2, tuple(
        SeatDraw(n, seat, Pick(ids[0], 10, 0), tuple(Pick(i, 9, 0) for i in ids[1:]))
        for n, ids in enumerate(rows)
    ))


POOL = Pool.from_experts(
    [expert(f"S{n}", region="SH") for n in range(6)]
    + [expert(f"J{n}", region="JS") for n in range(6)]
)


def test_declines_and_timeouts_call_the_next_alternate() -> None:
    book, sent = start(_result([("S0", "S1", "S2"), ("J0", "J1", "J2")]), POOL, caps={},
                       now=T0)
    assert [i.expert_id for i in sent] == ["S0", "J0"]
    assert next_deadline(book) == T0 + 30 * MIN
    book, changed = answer(book, "S0", accept=False, now=T0 + MIN)
    assert [(i.expert_id, i.status) for i in changed] == [("S0", "declined"), ("S1", "pending")]
    book, _ = answer(book, "J0", accept=True, now=T0 + 2 * MIN)
    # The server was down past S1's deadline: handled on start.
    book, changed = expire_due(book, now=T0 + 40 * MIN)
    assert [(i.expert_id, i.status, i.rank) for i in changed] == [
        ("S1", "expired", 1), ("S2", "pending", 2)]
    assert changed[1].deadline == T0 + 70 * MIN
    book, _ = answer(book, "S2", accept=True, now=T0 + 41 * MIN)
    assert seated(book) == {0: "S2", 1: "J0"}
    assert book.exhausted == () and next_deadline(book) is None


def test_running_out_of_alternates_exhausts_the_seat() -> None:
    book, _ = start(_result([("S0", "S1"), ("J0",)]), POOL, caps={}, now=T0)
    book, _ = answer(book, "J0", accept=False, now=T0)
    assert book.exhausted == (1,)
    book, _ = expire_due(book, now=T0 + 31 * MIN)
    book, _ = expire_due(book, now=T0 + 62 * MIN)
    assert book.exhausted == (0, 1)


def test_replacements_at_two_seats_cannot_break_a_region_cap() -> None:
    # Cap SH = 2. Members: S0 (SH), J0 (JS), J1 (JS). Each seat's first alternate is SH,
    # which the draw allowed seat by seat; the second replacement would make 3 SH.
    book, _ = start(_result([("S0",), ("J0", "S1", "J2"), ("J1", "S2", "J3")]), POOL,
                    caps={"SH": 2}, now=T0)
    book, _ = answer(book, "J0", accept=False, now=T0)
    book, changed = answer(book, "J1", accept=False, now=T0)
    assert [(i.expert_id, i.status) for i in changed] == [
        ("J1", "declined"), ("S2", "skipped"), ("J3", "pending")]
    assert "rule region_cap: expert S2" in changed[1].reason


def test_answers_need_a_pending_invitation_within_its_deadline() -> None:
    book, _ = start(_result([("S0", "S1")]), POOL, caps={}, now=T0)
    with pytest.raises(NotFound):
        answer(book, "S1", accept=True, now=T0)
    with pytest.raises(Conflict, match="expired at"):
        answer(book, "S0", accept=True, now=T0 + 31 * MIN)
    book, _ = answer(book, "S0", accept=True, now=T0 + 30 * MIN)
    assert seated(book) == {0: "S0"}
    assert book.invitations[0].to_json()["status"] == "accepted"
