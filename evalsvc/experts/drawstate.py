"""The draw of one session as the server keeps it between requests. Pure: JSON in and out.

A session's draw is a :class:`DrawState`: the rules document, how its seats map onto the
session's seats, the ceremony in progress (if any), and the invitation book once a draw
has run. The service stores it as one JSON document beside the session and writes every
change as session events (``docs/draw.md`` §4.1, §6); this module only converts it and
checks the rules against the session.

**Seat mapping** (``docs/draw.md`` §6.1). The rules document's seats, expanded in document
order, map onto the session's seats venue by venue: the *k*-th rules seat of venue ``V``
is the *k*-th session seat (ascending index) of venue ``V``. The rules must name every
venue of the session with the session's region, and give each venue exactly as many
seats as the session has there. Book seat ``b`` (the draw's seat ``b``) is session seat
``seat_map[b]``.
"""

from __future__ import annotations

__all__ = [
    "DrawState",
    "book_from_json",
    "book_to_json",
    "ceremony_from_state_json",
    "map_seats",
    "state_from_json",
    "state_to_json",
]

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalsvc.errors import InvalidInput
from evalsvc.experts.ceremony import CeremonyState
from evalsvc.experts.invitations import Invitation, InvitationBook
from evalsvc.experts.rules import Seat as RuleSeat
from evalsvc.experts.seed import Commitment, Reveal
from evalsvc.sessions.model import Session


@dataclass(frozen=True)
class DrawState:
    """Everything the server remembers about one session's draw."""

    session_id: str
    number: int  # ceremonies opened so far (1 for the first)
    rules: Mapping[str, Any]  # the normal rules document (DrawConfig.document)
    rules_sha256: str
    seat_map: tuple[int, ...]  # rules seat b -> session seat index
    seat_venues: tuple[str, ...]  # rules seat b -> its venue id
    timeout: _dt.timedelta  # how long an invited expert has to answer
    starts_at: str | None  # when the evaluation starts (what an invited expert is told)
    pool_sha256: str | None = None  # snapshot of the ceremony in progress
    ceremony: CeremonyState | None = None  # the ceremony in progress
    book: InvitationBook | None = None  # once a draw has run
    failure: str | None = None  # the last ceremony's failure, until the next one opens
    # Every commitment digest this session has received, in any ceremony: one is never
    # accepted twice (docs/draw.md §6.2).
    spent: tuple[str, ...] = ()
    # The terms fixed by the first ceremony (rules but its date, invitation timeout);
    # a later ceremony keeps them unless a supervisor approved new ones.
    terms_sha256: str | None = None
    # A supervisor's approval waiting to be used by the next ceremony:
    # {"action": "reopen" | "change_terms", "after_ceremony", "reason", "terms_sha256"}.
    approval: Mapping[str, Any] | None = None

    def next_deadline(self, now: _dt.datetime) -> _dt.datetime | None:
        """When the scheduler must look at this draw again (None: nothing pending).

        An open ceremony wakes it at the commitment deadline (if no party committed, the
        seed can be decided then) and at the reveal deadline; a pending invitation at
        its deadline (in the past if it expired while nobody looked)."""
        times: list[_dt.datetime] = []
        if self.ceremony is not None:
            c = self.ceremony
            times.append(c.commit_deadline if now <= c.commit_deadline else c.reveal_deadline)
        if self.book is not None:
            times += [i.deadline for i in self.book.invitations if i.status == "pending"]
        return min(times, default=None)


def map_seats(rule_seats: Sequence[RuleSeat], rules_doc: Mapping[str, Any],
              session: Session) -> tuple[int, ...]:
    """Session seat index of each rules seat (see the module docstring); refuses rules
    that do not describe this session's committee, naming what differs."""
    regions = {str(v.get("id")): str(v.get("region")) for v in rules_doc.get("venues", [])
               if isinstance(v, Mapping)}
    seated = {x.venue_id for x in session.seats}
    for v in session.venues:
        if v.id not in regions and v.id not in seated:
            continue  # a venue a re-formed committee left (its seats moved, §6.9)
        if v.id not in regions:
            raise InvalidInput(f"rules: venue {v.id} of the session is not among [[venues]]",
                               field="rules/venues")
        if regions[v.id] != v.region.value:
            raise InvalidInput(f"rules: venue {v.id} has region {regions[v.id]}, the session"
                               f" says {v.region.value}", field="rules/venues")
    by_venue: dict[str, list[int]] = {}
    for seat in session.seats:
        by_venue.setdefault(seat.venue_id, []).append(seat.index)
    wanted = {vid: len(ix) for vid, ix in by_venue.items()}
    given: dict[str, int] = {}
    for rs in rule_seats:
        given[rs.venue] = given.get(rs.venue, 0) + 1
    for vid in sorted(set(wanted) | set(given)):
        if wanted.get(vid, 0) != given.get(vid, 0):
            raise InvalidInput(
                f"rules: venue {vid} has {given.get(vid, 0)} seat(s) in the rules and"
                f" {wanted.get(vid, 0)} in the session; they must be equal",
                field="rules/seats")
    used: dict[str, int] = {}
    out: list[int] = []
    for rs in rule_seats:
        k = used.get(rs.venue, 0)
        used[rs.venue] = k + 1
        out.append(by_venue[rs.venue][k])
    return tuple(out)


def _dt_in(value: Any) -> _dt.datetime:
    return _dt.datetime.fromisoformat(str(value))


def _ceremony_to_json(c: CeremonyState) -> dict[str, Any]:
    return c.to_json()


def ceremony_from_state_json(doc: Mapping[str, Any]) -> CeremonyState:
    """A :class:`CeremonyState` from :meth:`CeremonyState.to_json`."""
    return CeremonyState(
        session_id=str(doc["session"]),
        parties=tuple(doc["parties"]),
        commit_deadline=_dt_in(doc["commit_deadline"]),
        reveal_deadline=_dt_in(doc["reveal_deadline"]),
        minimum=int(doc.get("minimum", 2)),
        last=doc.get("last"),
        commitments=tuple(Commitment(c["party"], c["digest"], _dt_in(c["at"]))
                          for c in doc.get("commitments", [])),
        reveals=tuple(Reveal(r["party"], bytes.fromhex(r["secret"]), _dt_in(r["at"]))
                      for r in doc.get("reveals", [])),
    )


def book_to_json(book: InvitationBook) -> dict[str, Any]:
    """JSON form of an invitation book."""
    return {
        "candidates": [list(c) for c in book.candidates],
        "regions": dict(book.regions),
        "caps": dict(book.caps),
        "timeout_seconds": int(book.timeout.total_seconds()),
        "invitations": [i.to_json() for i in book.invitations],
    }


def book_from_json(doc: Mapping[str, Any]) -> InvitationBook:
    """An invitation book from :func:`book_to_json`."""
    return InvitationBook(
        candidates=tuple(tuple(c) for c in doc["candidates"]),
        regions=dict(doc["regions"]),
        caps={k: int(v) for k, v in doc["caps"].items()},
        timeout=_dt.timedelta(seconds=int(doc["timeout_seconds"])),
        invitations=tuple(
            Invitation(
                seat=int(i["seat"]),
                expert_id=str(i["expert"]),
                rank=int(i["rank"]),
                sent_at=_dt_in(i["sent_at"]),
                deadline=_dt_in(i["deadline"]),
                status=i["status"],
                answered_at=_dt_in(i["answered_at"]) if i.get("answered_at") else None,
                reason=str(i.get("reason", "")),
            )
            for i in doc["invitations"]
        ),
    )


def state_to_json(s: DrawState) -> dict[str, Any]:
    """JSON form of a draw state (what the store keeps)."""
    return {
        "session": s.session_id,
        "number": s.number,
        "rules": dict(s.rules),
        "rules_sha256": s.rules_sha256,
        "seat_map": list(s.seat_map),
        "seat_venues": list(s.seat_venues),
        "timeout_seconds": int(s.timeout.total_seconds()),
        "starts_at": s.starts_at,
        "pool_sha256": s.pool_sha256,
        "ceremony": _ceremony_to_json(s.ceremony) if s.ceremony else None,
        "book": book_to_json(s.book) if s.book else None,
        "failure": s.failure,
        "spent": list(s.spent),
        "terms_sha256": s.terms_sha256,
        "approval": dict(s.approval) if s.approval is not None else None,
    }


def state_from_json(doc: Mapping[str, Any]) -> DrawState:
    """A draw state from :func:`state_to_json`."""
    return DrawState(
        session_id=str(doc["session"]),
        number=int(doc["number"]),
        rules=dict(doc["rules"]),
        rules_sha256=str(doc["rules_sha256"]),
        seat_map=tuple(int(x) for x in doc["seat_map"]),
        seat_venues=tuple(str(x) for x in doc["seat_venues"]),
        timeout=_dt.timedelta(seconds=int(doc["timeout_seconds"])),
        starts_at=doc.get("starts_at"),
        pool_sha256=doc.get("pool_sha256"),
        ceremony=ceremony_from_state_json(doc["ceremony"]) if doc.get("ceremony") else None,
        book=book_from_json(doc["book"]) if doc.get("book") else None,
        failure=doc.get("failure"),
        spent=tuple(str(x) for x in doc.get("spent", [])),
        terms_sha256=doc.get("terms_sha256"),
        approval=dict(doc["approval"]) if doc.get("approval") else None,
    )
