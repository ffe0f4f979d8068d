"""Who may see and do what in a session, and what each role's view hides. Pure.

- **supervisor** (监督): sees everything, may pause and abort.
- **operator** of a venue: sees sessions its venue takes part in; sees the identity of
  experts seated at *its own* venue only; the primary venue's operator runs the session,
  each venue's operator checks in its own experts; any participating operator may pause.
- **expert**: sees only sessions where they hold a seat, their own identity, and acts
  only for their own seat.

A session the principal may not see is reported as not found, so its existence is not
revealed.
"""

from __future__ import annotations

__all__ = [
    "can_see",
    "redact_event",
    "require_expert_seat",
    "require_primary_operator",
    "require_seat_operator",
    "view_session",
]

from typing import Any

from evalsvc.auth import Principal
from evalsvc.errors import Forbidden, NotFound
from evalsvc.sessions.model import Seat, Session, session_to_doc


def can_see(s: Session, p: Principal) -> bool:
    """Whether ``p`` may know this session exists."""
    if p.role == "supervisor":
        return True
    if p.role == "operator":
        return s.venue(p.venue or "") is not None
    return s.seat_of(p.subject) is not None and s.seat_of(p.subject).venue_id == p.venue  # type: ignore[union-attr]


def require_visible(s: Session, p: Principal) -> None:
    """:class:`NotFound` unless ``p`` may see the session."""
    if not can_see(s, p):
        raise NotFound(f"no session {s.id!r}")


def require_primary_operator(s: Session, p: Principal, action: str) -> None:
    """Only the primary venue's operator may ``action``."""
    require_visible(s, p)
    if p.role != "operator" or p.venue != s.primary.id:
        raise Forbidden(f"only the primary venue's operator ({s.primary.id}) may {action}")


def require_seat_operator(s: Session, p: Principal, seat: Seat, action: str) -> None:
    """Only the operator of the seat's venue may ``action`` for that seat."""
    require_visible(s, p)
    if p.role != "operator" or p.venue != seat.venue_id:
        raise Forbidden(
            f"only the operator of venue {seat.venue_id} may {action} seat {seat.index}"
        )


def require_expert_seat(s: Session, p: Principal, action: str) -> Seat:
    """The seat of the expert ``p``; :class:`Forbidden` for any other role."""
    require_visible(s, p)
    seat = s.seat_of(p.subject) if p.role == "expert" else None
    if seat is None or seat.venue_id != p.venue:
        raise Forbidden(f"only a seated expert may {action}")
    return seat


def _sees_identity(s: Session, p: Principal, venue_id: str, expert_id: str | None) -> bool:
    if p.role == "supervisor":
        return True
    if p.role == "operator":
        return p.venue == venue_id
    return expert_id is not None and expert_id == p.subject


def view_session(s: Session, p: Principal, *, last_seq: int) -> dict[str, Any]:
    """The session document as ``p`` may see it (identities masked per role)."""
    doc = session_to_doc(s)
    for seat in doc["seats"]:
        if not _sees_identity(s, p, seat["venue_id"], seat["expert_id"]):
            seat["expert_id"] = None
            seat["expert_name"] = None
            seat["masked"] = True
    doc["last_seq"] = last_seq
    doc["you"] = {
        "role": p.role,
        "venue": p.venue,
        "seat": s.seat_of(p.subject).index if p.role == "expert" and s.seat_of(p.subject) else None,  # type: ignore[union-attr]
    }
    return doc


def redact_event(s: Session, p: Principal, event: dict[str, Any]) -> dict[str, Any]:
    """An event document as ``p`` may see it."""
    if event["type"] == "seat.assigned":
        pl = event["payload"]
        if not _sees_identity(s, p, pl["venue_id"], pl["expert_id"]):
            event = {
                **event,
                "payload": {**pl, "expert_id": None, "expert_name": None, "masked": True},
            }
    if p.role != "supervisor" and event["actor"].startswith("expert:"):
        # Hide which expert acted unless they may see that identity.
        sub = event["actor"].split(":", 1)[1]
        seat = s.seat_of(sub)
        if seat is None or not _sees_identity(s, p, seat.venue_id, sub):
            event = {**event, "actor": "expert"}
    return event
