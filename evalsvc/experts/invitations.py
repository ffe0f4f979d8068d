"""Invitations of drawn experts and the call of alternates. Pure: ``now`` in, no scheduler.

The session service keeps an :class:`InvitationBook` (rebuilt from its events), calls
:func:`start` after a draw, :func:`answer` when an expert confirms or declines, and
:func:`expire_due` whenever a deadline may have passed (from the scheduler, and once on
start-up so that deadlines that passed while the server was down are handled). Each call
returns the new book and the invitations that changed, to be written as events.

A declined or expired invitation calls the seat's next alternate in rank order. An
alternate is *skipped* (recorded with the reason) when, with the other seats' current
holders, it would break a region cap or already sits on another seat: the draw judged
each alternate against the drawn committee with only its own seat replaced
(``docs/draw.md`` §3), and replacements at several seats can add up. A seat whose
alternates are used up is *exhausted*; the operator must run a new ceremony for it.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_TIMEOUT",
    "Invitation",
    "InvitationBook",
    "answer",
    "expire_due",
    "next_deadline",
    "recuse",
    "seated",
    "start",
    "withdraw",
]

import datetime as _dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from evalsvc.errors import Conflict, NotFound
from evalsvc.experts.draw import DrawResult
from evalsvc.experts.pool import Pool

DEFAULT_TIMEOUT = _dt.timedelta(minutes=30)
Status = Literal["pending", "accepted", "declined", "expired", "skipped", "recused"]


@dataclass(frozen=True)
class Invitation:
    """One invitation (or a skipped candidate) for one seat."""

    seat: int
    expert_id: str
    rank: int  # 0: the drawn member; r: alternate of rank r
    sent_at: _dt.datetime
    deadline: _dt.datetime
    status: Status = "pending"
    answered_at: _dt.datetime | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The event payload."""
        return {
            "seat": self.seat,
            "expert": self.expert_id,
            "rank": self.rank,
            "sent_at": self.sent_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class InvitationBook:
    """Candidates per seat in rank order, every invitation so far, and the region caps."""

    candidates: tuple[tuple[str, ...], ...]
    regions: Mapping[str, str]  # expert id -> region, for the candidates only
    caps: Mapping[str, int]
    timeout: _dt.timedelta
    invitations: tuple[Invitation, ...] = ()

    @property
    def exhausted(self) -> tuple[int, ...]:
        """Seats with no holder and no candidate left: a new ceremony must draw them."""
        return tuple(s for s in range(len(self.candidates))
                     if self._holder(s) is None and self._next_rank(s) is None)

    def _holder(self, seat: int) -> Invitation | None:
        for inv in reversed(self.invitations):
            if inv.seat == seat and inv.status in ("pending", "accepted"):
                return inv
        return None

    def _next_rank(self, seat: int) -> int | None:
        tried = {inv.rank for inv in self.invitations if inv.seat == seat}
        nxt = max(tried, default=-1) + 1
        return nxt if nxt < len(self.candidates[seat]) else None


def start(
    result: DrawResult,
    pool: Pool,
    *,
    caps: Mapping[str, int],
    now: _dt.datetime,
    timeout: _dt.timedelta = DEFAULT_TIMEOUT,
) -> tuple[InvitationBook, tuple[Invitation, ...]]:
    """Invite every drawn member; the book and the new invitations."""
    candidates = tuple(
        (s.member.expert_id, *(a.expert_id for a in s.alternates)) for s in result.seats
    )
    regions = {i: pool.region_of(pool.index_of(i)) for seat in candidates for i in seat}
    book = InvitationBook(candidates, regions, dict(caps), timeout)
    invitations = tuple(Invitation(s, c[0], 0, now, now + timeout)
                        for s, c in enumerate(candidates))
    return replace(book, invitations=invitations), invitations


def _call_next(
    book: InvitationBook, seat: int, *, now: _dt.datetime
) -> tuple[InvitationBook, list[Invitation]]:
    changed: list[Invitation] = []
    while True:
        rank = book._next_rank(seat)
        if rank is None:
            return book, changed
        expert_id = book.candidates[seat][rank]
        holders = {s: h.expert_id for s in range(len(book.candidates))
                   if s != seat and (h := book._holder(s)) is not None}
        reason = ""
        if expert_id in holders.values():
            reason = f"expert {expert_id} already holds another seat"
        else:
            region = book.regions[expert_id]
            count = Counter(book.regions[e] for e in holders.values())[region] + 1
            cap = book.caps.get(region)
            if cap is not None and count > cap:
                # Region cap (docs/draw.md §3): several replacements can add up.
                reason = (f"rule region_cap: expert {expert_id} would be member {count} from"
                          f" {region}; the cap is {cap}")
        if reason:
            inv = Invitation(seat, expert_id, rank, now, now, "skipped", now, reason)
            book = replace(book, invitations=(*book.invitations, inv))
            changed.append(inv)
            continue
        inv = Invitation(seat, expert_id, rank, now, now + book.timeout)
        book = replace(book, invitations=(*book.invitations, inv))
        changed.append(inv)
        return book, changed


def _close(
    book: InvitationBook, inv: Invitation, status: Status, *, now: _dt.datetime
) -> tuple[InvitationBook, list[Invitation]]:
    done = replace(inv, status=status, answered_at=now)
    book = replace(book, invitations=tuple(done if i is inv else i for i in book.invitations))
    changed = [done]
    if status in ("declined", "expired"):
        book, more = _call_next(book, inv.seat, now=now)
        changed += more
    return book, changed


def answer(
    book: InvitationBook, expert_id: str, *, accept: bool, now: _dt.datetime
) -> tuple[InvitationBook, tuple[Invitation, ...]]:
    """Record a confirmation or a decline; a decline calls the seat's next alternate.

    An answer after the deadline is refused (:class:`Conflict`); :func:`expire_due`
    has called, or will call, the next alternate.
    """
    pending = next((i for i in book.invitations
                    if i.expert_id == expert_id and i.status == "pending"), None)
    if pending is None:
        raise NotFound(f"expert {expert_id} has no pending invitation")
    if now > pending.deadline:
        raise Conflict(f"the invitation of expert {expert_id} expired at"
                       f" {pending.deadline.isoformat()}")
    book, changed = _close(book, pending, "accepted" if accept else "declined", now=now)
    return book, tuple(changed)


def recuse(
    book: InvitationBook, seat: int, *, now: _dt.datetime, reason: str
) -> tuple[InvitationBook, tuple[Invitation, ...]]:
    """The member of ``seat`` declared a conflict at check-in (回避): their accepted
    invitation is closed as ``recused`` and the seat's next alternate is called, as
    after a decline (补抽; same seat, same venue and rules, docs/draw.md §3)."""
    holder = book._holder(seat)
    if holder is None or holder.status != "accepted":
        raise Conflict(f"seat {seat} of the draw has no confirmed member to recuse")
    done = replace(holder, status="recused", answered_at=now, reason=reason)
    book = replace(book, invitations=tuple(done if i is holder else i
                                           for i in book.invitations))
    book, more = _call_next(book, seat, now=now)
    return book, (done, *more)


def withdraw(
    book: InvitationBook, seats: Sequence[int], *, now: _dt.datetime, reason: str
) -> tuple[InvitationBook, tuple[Invitation, ...]]:
    """The members (or invitees) of ``seats`` left with their venue (a re-formed
    committee, docs/draw.md §6.9): each holder's invitation is closed as ``recused``
    and nobody is called — the seat's untried alternates sit at the venue that left,
    so they are dropped and the seat is exhausted: the replacement ceremony's draw
    gives it new candidates, as any new ceremony does (docs/draw.md §6.4)."""
    changed: list[Invitation] = []
    cands = list(book.candidates)
    for seat in seats:
        holder = book._holder(seat)
        if holder is not None:
            done = replace(holder, status="recused", answered_at=now, reason=reason)
            book = replace(book, invitations=tuple(done if i is holder else i
                                                   for i in book.invitations))
            changed.append(done)
        tried = 1 + max((i.rank for i in book.invitations if i.seat == seat), default=-1)
        cands[seat] = cands[seat][:tried]
    return replace(book, candidates=tuple(cands)), tuple(changed)


def expire_due(
    book: InvitationBook, *, now: _dt.datetime
) -> tuple[InvitationBook, tuple[Invitation, ...]]:
    """Expire every pending invitation whose deadline has passed, calling alternates."""
    changed: list[Invitation] = []
    while True:
        due = sorted((i for i in book.invitations if i.status == "pending" and i.deadline < now),
                     key=lambda i: (i.deadline, i.seat))
        if not due:
            return book, tuple(changed)
        book, more = _close(book, due[0], "expired", now=now)
        changed += more


def next_deadline(book: InvitationBook) -> _dt.datetime | None:
    """The earliest pending deadline (when the scheduler should call :func:`expire_due`)."""
    return min((i.deadline for i in book.invitations if i.status == "pending"), default=None)


def seated(book: InvitationBook) -> dict[int, str]:
    """Seat → expert id of every confirmed member."""
    return {s: h.expert_id for s in range(len(book.candidates))
            if (h := book._holder(s)) is not None and h.status == "accepted"}
