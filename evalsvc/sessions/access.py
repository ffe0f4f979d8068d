"""Who may see and do what in a session, and what each role's view hides. Pure.

- **supervisor** (行政监督, the tender's supervisor): sees everything the disclosure
  schedule allows, may pause and abort, approves (designations, re-reviews, deemed
  agreements); bound by its token to every session or to named sessions and tenders
  (``Principal.scope``): any other session is not found.
- **site_supervisor** (现场监督) of a venue: sees the sessions its venue takes part in as
  that venue's operator does — its own venue's members by name, the other venues' by
  seat only, never the draw's inputs, never a sheet before its lock, no pattern alerts —
  and its own venue's incidents; records incidents at its venue and nothing else.
- **operator** of a venue: sees sessions its venue takes part in; sees the identity of
  experts seated at *its own* venue only; the primary venue's operator runs the session,
  each venue's operator checks in its own experts; any participating operator may pause.
- **expert**: sees only sessions where they hold a seat, their own identity, and acts
  only for their own seat.

**Blinding (四不知)**, before the session starts (state before ``evaluating``, or paused
from such a state): an expert sees only the time and the venue — no title, tenderer,
bids or criteria, and no other venue; a secondary venue's operator sees no project
either (and, as always, no identity of another venue's experts); the primary venue's
operator and supervisors see the project. Events follow the same rules
(:func:`redact_event`): ``session.created``, ``bid.added``, ``criterion.added`` and the
draw's rules document (``draw.opened``) carry the project; ``draw.drawn`` and
``invitation.*`` carry identities, masked per venue like ``seat.assigned``.

**Pattern alerts** (``alerts.checked``, evalsvc.analysis) and the bids' provenance
(what the alerts compare) are the supervisors' alone: for every other role an
``alerts.checked`` event is the constant ``{"masked": true}`` — one is recorded at each
check point whatever was found, so neither its presence nor its size tells anything —
and a bid shows no ``provenance``. So is an ``alert.raised`` event (a split view a
venue reported, docs/audit.md "Split views"): for every other role its payload is
``{"masked": true}`` and its actor only the role — that one was raised is visible to all
who see the session, as with an incident, never by whom, where or about what. The
same holds for ``pool.field_opened`` (a supervisor opened one masked field of an expert
in the pool snapshot, docs/audit.md "Opening one field"): which expert, which field, the
reason and the commitment are the supervisors'; the others see ``{"masked": true}``.

After check-in an expert's view also carries ``bidders`` — the bidders' names, nothing
else of the project — to declare a conflict bid by bidder. An open election round's
ballots show ``{seat, commitment}`` only, to every role (its candidates are seats, with
no name); the reasons of a declared conflict reach supervisors, the primary's operator
and the seat's venue's operator only.

Incidents (``incident.recorded``, 现场监督记录) are the tender supervisor's and the
incident's venue's site supervisor's: for everyone else the event is the constant
``{"masked": true}`` with the actor reduced to its role, and the session document lists
no incident. (That an incident was recorded somewhere — the event's place in the
sequence — is visible to all who see the session, as with ``alerts.checked``.)

Clarifications (澄清) are recorded during the evaluation only, so every role that sees
the session sees them (the project is no longer hidden); the handover's overdue alert
(``handover.overdue``) is for operators and supervisors, masked for experts.

**暗标** (a session with ``anonymous``, docs/scoring.md "暗标"): during the technical
stage an expert's view shows the bids only by their codes (``{"code": "A01"}``, in code
order), the qualified bids as codes, and nothing that names or orders a bidder (no
clarifications, no rejections, no price), and the events that describe the project
(``session.created``, ``bid.added``, ``criterion.added``, clarifications, ``draw.opened``)
replay masked: whatever the bidders are called, the expert receives the same bytes.
The codes' salt is in no one's view; ``codes.opened`` publishes it when the technical
stage locks.

A session the principal may not see is reported as not found, so its existence is not
revealed.
"""

from __future__ import annotations

__all__ = [
    "BLINDED_STATES",
    "anonymous_now",
    "can_see",
    "decode_bid_codes",
    "encode_bid_codes",
    "encode_sheet_error",
    "in_scope",
    "is_blinded",
    "own_sheets_view",
    "public_bid",
    "redact_event",
    "require_expert_seat",
    "require_primary_operator",
    "require_seat_operator",
    "require_unscoped",
    "sees_draw_inputs",
    "sees_incident",
    "sees_project",
    "view_session",
]

from typing import Any

from evalsvc.auth import Principal
from evalsvc.errors import FieldError, Forbidden, InvalidInput, NotFound
from evalsvc.sessions.machine import bid_codes
from evalsvc.sessions.model import Seat, Session, Stage, State, session_to_doc

# Before the evaluation starts the project is hidden from experts and secondary venues.
# (A suspended session is held again on a new date: the project stays hidden.)
BLINDED_STATES = frozenset({State.DRAFT, State.DRAWING, State.READY, State.CHECKING_IN,
                            State.SUSPENDED})
_PROJECT_FIELDS = ("title", "tenderer", "tender_number", "tenderer_uscc",
                   "supervising_departments", "bids", "criteria")
# Events whose payload describes the project (title, tenderer, bids, criteria).
# (Clarifications name a bidder; they only happen once the evaluation started, the
# masking is a second line.)
_PROJECT_EVENTS = frozenset({"session.created", "bid.added", "criterion.added",
                             "clarification.requested", "clarification.answered"})


def in_scope(s: Session, p: Principal) -> bool:
    """Whether the supervisor ``p``'s scope covers ``s`` (by session id or tender
    number); a supervisor without a scope covers every session."""
    return p.scope is None or s.id in p.scope or (
        s.tender_number is not None and s.tender_number in p.scope)


def can_see(s: Session, p: Principal) -> bool:
    """Whether ``p`` may know this session exists."""
    if p.role == "supervisor":
        return in_scope(s, p)
    if p.role in ("operator", "site_supervisor"):
        return s.venue(p.venue or "") is not None
    seat = s.seat_of(p.subject)
    # A designation takes effect only when a supervisor approves it (docs/draw.md §6.7):
    # until then the proposed expert is not told the session exists.
    return (seat is not None and seat.venue_id == p.venue
            and seat.source not in ("proposed", "requested"))


def require_unscoped(p: Principal, action: str) -> None:
    """:class:`Forbidden` for a supervisor bound to named sessions or tenders: what spans
    every session (the expert pool, the trust stores, an expert's record) is for a
    supervisor of every session."""
    if p.scope is not None:
        raise Forbidden(f"a supervisor bound to named sessions or tenders may not {action}:"
                        " it spans every session")


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
    if p.role in ("operator", "site_supervisor"):
        return p.venue == venue_id
    return expert_id is not None and expert_id == p.subject


def is_blinded(s: Session) -> bool:
    """Whether the session has not started yet (四不知 applies)."""
    state = s.paused.from_state if s.state is State.PAUSED and s.paused else s.state
    return state in BLINDED_STATES


def sees_project(s: Session, p: Principal) -> bool:
    """Whether ``p`` may see the project (title, tenderer, bids, criteria) now."""
    if p.role == "supervisor" or (
            p.role in ("operator", "site_supervisor") and p.venue == s.primary.id):
        return True
    return not is_blinded(s)


def sees_incident(p: Principal, venue_id: str | None) -> bool:
    """Whether ``p`` may read an incident recorded at ``venue_id``: the tender's
    supervisor, and the site supervisor of that venue (DESIGN.md, the schedule's
    alerts row: "its venue's incidents")."""
    return p.role == "supervisor" or (p.role == "site_supervisor" and p.venue == venue_id)


def view_session(s: Session, p: Principal, *, last_seq: int) -> dict[str, Any]:
    """The session document as ``p`` may see it (identities masked per role, and the
    project hidden before the start from those who may not see it)."""
    doc = session_to_doc(s)
    doc.pop("code_salt", None)  # committed at the start, opened by codes.opened
    if p.role != "supervisor":
        doc["bids"] = [public_bid(b) for b in doc["bids"]]
    doc["incidents"] = [x for x in doc["incidents"] if sees_incident(p, x["venue_id"])]
    if p.role == "expert" and anonymous_now(s):
        _anonymise(s, doc)
    if not sees_project(s, p):
        for name in _PROJECT_FIELDS:
            doc[name] = [] if name in ("bids", "criteria", "supervising_departments") else None
        doc["blinded"] = list(_PROJECT_FIELDS)
        doc["clarifications"] = []
        if p.role == "expert":
            # An expert is told the time and the venue: their own venue only, and of the
            # committee their own seat (not how many sit where).
            doc["venues"] = [v for v in doc["venues"] if v["id"] == p.venue]
            doc["seats"] = [x for x in doc["seats"] if x["expert_id"] == p.subject]
            doc["blinded"].append("seats")
    if p.role == "expert" and not sees_project(s, p):
        own = s.seat_of(p.subject)
        if own is not None and own.checked_in:
            # After check-in the member learns the bidders' names, and only them, to
            # declare a conflict bid by bidder (回避声明) before the evaluation starts.
            doc["bidders"] = [{"id": b.id, "bidder": b.bidder} for b in s.bids]
    if doc["election"] is not None:
        # A ballot is sealed until its round closes: its commitment only, for everyone
        # (the opening is published by election.round_closed).
        doc["election"]["ballots"] = [
            {"seat": b["seat"], "commitment": b["commitment"]} for b in doc["election"]["ballots"]
        ]
    doc["voided"] = [[a, b if _sees_identity(s, p, _voided_venue(s, a), b) else None]
                     for a, b in doc["voided"]]
    if p.role == "expert" and "seats" in doc.get("blinded", ()):
        # (四不知: not even which other venue's link went.)
        doc["links_lost"] = [x for x in doc["links_lost"] if x[0] == p.venue]
        if doc["fault"] is not None and doc["fault"]["venue_id"] != p.venue:
            doc["fault"] = {**doc["fault"], "venue_id": None}
    for seat in doc["seats"]:
        if not _sees_identity(s, p, seat["venue_id"], seat["expert_id"]):
            seat["expert_id"] = None
            seat["expert_name"] = None
            seat["masked"] = True
    doc["last_seq"] = last_seq
    doc["you"] = {
        "role": p.role,
        "venue": p.venue,
        "seat": own.index if p.role == "expert" and (own := s.seat_of(p.subject)) else None,
    }
    return doc


def _seat_venue(s: Session, index: int) -> str:
    return s.seats[index].venue_id if 0 <= index < len(s.seats) else ""


def _voided_venue(s: Session, index: int) -> str:
    # A voided member sat where the seat was before a re-form moved it.
    return next((v for i, v in s.moved if i == index), None) or _seat_venue(s, index)
def anonymous_now(s: Session) -> bool:
    """Whether experts see ``s``'s bids by code only now (暗标, the technical stage)."""
    stage = s.paused.from_stage if s.state is State.PAUSED and s.paused else s.stage
    return s.anonymous and stage is Stage.TECHNICAL and s.code_salt is not None


def _anonymise(s: Session, doc: dict[str, Any]) -> None:
    assert s.code_salt is not None
    codes = bid_codes(s.id, s.code_salt, [b.id for b in s.bids])
    doc["bids"] = [{"code": c} for c in sorted(codes.values())]
    doc["qualified"] = sorted(codes[b.id] for b in s.qualified_bids)
    doc["clarifications"] = []
    doc.pop("rejections", None)
    doc["anonymised"] = True


def own_sheets_view(s: Session, p: Principal, items: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
    """An expert's own sheets as they may see them: during a 暗标 technical stage its
    technical sheets keyed by code, in code order, without the digest, salt or signature
    of the stored (bid-id keyed) bytes — with those the few permutations of its own
    scores could be tried until one matched, linking codes to bids."""
    if p.role != "expert" or not anonymous_now(s):
        return items
    out = []
    for it in items:
        if it.get("stage") == Stage.TECHNICAL.value:
            it = {**it, "sheet": encode_bid_codes(s, it["sheet"]),
                  "sha256": None, "salt": None, "signature": None, "anonymised": True}
        out.append(it)
    return out


def encode_bid_codes(s: Session, doc: dict[str, Any]) -> dict[str, Any]:
    """A technical sheet of a 暗标 session as its expert sees and signs it: ``bids`` keyed
    by code, in code order (the inverse of :func:`decode_bid_codes`; docs/pki.md
    "Signed sheets")."""
    assert s.code_salt is not None
    codes = bid_codes(s.id, s.code_salt, [b.id for b in s.bids])
    bids = {codes.get(b, b): v for b, v in doc.get("bids", {}).items()}
    return {**doc, "bids": dict(sorted(bids.items()))}


def decode_bid_codes(s: Session, doc: Any) -> Any:
    """An expert's technical sheet of a 暗标 session, keyed by bid code, as the store
    keeps it (keyed by bid id). A key that is no code stays as it is, to be refused by
    the sheet's validation naming it."""
    if not (anonymous_now(s) and isinstance(doc, dict) and isinstance(doc.get("bids"), dict)):
        return doc
    assert s.code_salt is not None
    by_code = {c: b for b, c in bid_codes(s.id, s.code_salt, [b.id for b in s.bids]).items()}
    return {**doc, "bids": {by_code.get(k, f"?{k}"): v for k, v in doc["bids"].items()}}


def encode_sheet_error(s: Session, err: InvalidInput) -> InvalidInput:
    """A sheet refused under 暗标, as its expert may read it: every field named by code
    (``bids/A02/T1``), never by the bid id :func:`decode_bid_codes` gave — one bad
    value per code would otherwise open every code — and the errors in code order, not
    the bids' (which, with the ids an expert knows from check-in, orders the codes)."""
    if not anonymous_now(s) or not err.errors:
        return err
    assert s.code_salt is not None
    codes = bid_codes(s.id, s.code_salt, [b.id for b in s.bids])

    def field(path: str) -> str:
        parts = path.split("/")
        if len(parts) > 1 and parts[0] in ("bids", "reasons"):
            k = parts[1]
            parts[1] = k[1:] if k.startswith("?") else codes.get(k, k)
        return "/".join(parts)

    errors = sorted((FieldError(field(e.field), e.reason) for e in err.errors),
                    key=lambda e: e.field)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidInput(f"invalid sheet: {errors[0].field}: {errors[0].reason}{more}",
                        field=errors[0].field, errors=tuple(errors))


def sees_draw_inputs(s: Session, p: Principal) -> bool:
    """Whether ``p`` may see what makes the draw recomputable — the seed, the
    supervisor's secret (the last contribution), each pick's eligible count and counter
    (docs/draw.md §6.6): supervisors at once, everyone once the session is sealed.
    Before that, an operator who knows the pool and the rules still cannot rerun the
    draw and name the members at other venues."""
    return p.role == "supervisor" or s.state is State.SEALED


def _mask_pick(s: Session, p: Principal, venue: str, pick: dict[str, Any]) -> dict[str, Any]:
    if not sees_draw_inputs(s, p):
        # eligible and counter narrow the candidate set: gone, for every venue's picks.
        pick = {k: v for k, v in pick.items() if k not in ("eligible", "counter")}
    if _sees_identity(s, p, venue, pick.get("expert")) and not _drawn_unseated(s, p):
        return pick
    return {**pick, "expert": None, "masked": True}


def _drawn_unseated(s: Session, p: Principal) -> bool:
    # An operator learns its own venue's experts once they accept (seat.assigned), not
    # when drawn or invited (docs/draw.md §6.6): the drawn list, with its alternates, is
    # the supervisors' until the seal.
    return p.role in ("operator", "site_supervisor") and not sees_draw_inputs(s, p)


def public_bid(bid: dict[str, Any]) -> dict[str, Any]:
    """A bid document without its provenance (what non-supervisors see)."""
    return {k: v for k, v in bid.items() if k != "provenance"}


def redact_event(s: Session, p: Principal, event: dict[str, Any]) -> dict[str, Any]:
    """An event document as ``p`` may see it."""
    kind = event["type"]
    if kind == "sheet.submitted" and p.role in _SHEET_FAST_ROLES:
        # The live stream is mostly these: of the rules below only the signature's and
        # the actor's concern them (tests/sessions/test_machine.py checks the shortcut
        # against the whole walk for every role).
        if p.role == "supervisor":
            return event
        if "signature" not in event["payload"]:
            return _actor_masked(s, p, event)
    if kind == "incident.recorded" and not sees_incident(p, event["payload"].get("venue_id")):
        # Neither what happened nor where, nor who recorded it.
        masked = {**event, "actor": event["actor"].split(":", 1)[0], "payload": {"masked": True}}
        if "venue" in masked:
            masked["venue"] = None  # (the recording site supervisor's venue)
        return masked
    if p.role != "supervisor":
        if kind == "alerts.checked":
            return {**event, "payload": {"masked": True}}
        if kind in _SUPERVISORS_ONLY:
            # Who reported it, where and what (a split view, docs/audit.md), or which
            # expert's personal field a supervisor opened and why: nothing.
            return {**event, "actor": event["actor"].split(":", 1)[0],
                    "payload": {"masked": True}}
        if kind == "bid.added" and "provenance" in event["payload"].get("bid", {}):
            event = {**event, "payload": {**event["payload"],
                                          "bid": public_bid(event["payload"]["bid"])}}
    if not sees_project(s, p):
        if kind in _PROJECT_EVENTS:
            event = {**event, "payload": {"masked": True}}
        elif kind == "draw.opened":
            # The rules document names the tenderer and the bidders; its digest stays.
            event = {**event, "payload": {**event["payload"], "rules": None, "masked": True}}
    if p.role == "expert" and anonymous_now(s) and (kind in _PROJECT_EVENTS
                                                     or kind == "draw.opened"):
        # 暗标: during the technical stage nothing the expert receives, replayed history
        # included, depends on who the bidders are.
        return {**event, "payload": {"masked": True}}
    if kind == "handover.overdue" and p.role == "expert":
        # An operational alert for the venues and the supervisors (交接), not the members'.
        return {**event, "payload": {"masked": True}}
    if kind == "draw.drawn" and p.role != "supervisor":
        pl = event["payload"]
        result = pl["result"]
        seats = [
            {
                **seat,
                "member": _mask_pick(s, p, seat["venue"], seat["member"]),
                "alternates": [_mask_pick(s, p, seat["venue"], a) for a in seat["alternates"]],
            }
            for seat in result["seats"]
        ]
        if not sees_draw_inputs(s, p):
            # The result digest covers the masked picks: disclosed with the inputs.
            result = {**result, "seed": None}
            pl = {**pl, "result_sha256": None}
        event = {**event, "payload": {**pl, "result": {**result, "seats": seats}}}
    if kind == "draw.opened" and not sees_draw_inputs(s, p):
        # The pool snapshot's digest is an input too (it confirms a guessed pool).
        event = {**event, "payload": {**event["payload"], "pool_sha256": None}}
    if kind == "draw.seeded" and not sees_draw_inputs(s, p):
        event = {**event, "payload": {**event["payload"], "seed": None, "masked": True}}
    if (kind == "draw.revealed" and event["payload"].get("party") == "supervisor"
            and not sees_draw_inputs(s, p)):
        # The venues' secrets alone do not give the seed; the supervisor's completes it.
        event = {**event, "payload": {**event["payload"], "secret": None, "masked": True}}
    if kind.startswith("invitation.") or kind == "draw.seat_exhausted":
        pl = event["payload"]
        if "expert_id" in pl and (not _sees_identity(s, p, pl["venue_id"], pl["expert_id"])
                                  or _drawn_unseated(s, p)):
            event = {**event, "payload": {**pl, "expert_id": None, "masked": True}}
    if kind == "interests.declared" and "conflicts" in event["payload"]:
        pl = event["payload"]
        if not (p.role == "supervisor"
                or (p.role == "operator" and p.venue in (pl["venue_id"], s.primary.id))
                or (p.role == "site_supervisor" and p.venue == pl["venue_id"])):
            # Who is in conflict with which bidder, and why, is the supervisor's, the
            # primary's and the seat's venue's (the member has left the committee).
            pl = {**pl, "conflicts": [{"bid_id": c["bid_id"], "reason": None}
                                      for c in pl["conflicts"]], "masked": True}
            event = {**event, "payload": pl}
    if kind in ("seat.assigned", "seat.vacated"):
        pl = event["payload"]
        if not _sees_identity(s, p, pl["venue_id"], pl["expert_id"]):
            event = {
                **event,
                "payload": {**pl, "expert_id": None, "expert_name": None, "masked": True},
            }
    if (p.role == "expert" and not sees_project(s, p) and kind == "session.state_changed"
            and event["payload"].get("venue_id") not in (None, p.venue)):
        # A pause by rule names the venue whose link went: not another venue's, to a
        # blinded expert (the state change itself is everyone's).
        pl = {k: v for k, v in event["payload"].items() if k != "venue_id"}
        event = {**event, "payload": {**pl, "venue_id": None}}
    if kind == "sheets.voided":
        # The members whose sheets were voided by a re-formed committee: by seat, their
        # identity as the seat's (the members have left).
        pl = event["payload"]
        seats = [x if _sees_identity(s, p, x.get("venue_id") or _voided_venue(s, x["seat"]),
                                     x["expert_id"])
                 else {**x, "expert_id": None, "masked": True} for x in pl["seats"]]
        event = {**event, "payload": {**pl, "seats": seats}}
    if (
        kind in ("sheet.submitted", "report.signed")
        and "signature" in event["payload"]
        and p.role != "supervisor"
    ):
        # The signer's certificate hash identifies the expert: only supervisors and the
        # signer's own seat see it.
        own = s.seat_of(p.subject) if p.role == "expert" else None
        if own is None or own.index != event["payload"].get("seat"):
            pl = {k: v for k, v in event["payload"].items() if k != "signature"}
            event = {**event, "payload": {**pl, "signed": True}}
    if kind == "sheets.opened" and p.role != "supervisor":
        # The disclosure schedule (DESIGN.md): after the lock the other roles see the
        # committee's result, not each member's sheet; the openings stay in the audit
        # log for supervisors and the sealed bundle. They learn which versions closed.
        pl = event["payload"]
        closed = [{"seat": x["seat"], "version": x["version"]} for x in pl["sheets"]]
        event = {**event, "payload": {"stage": pl["stage"], "sheets": closed, "masked": True}}
    if (
        p.role == "expert"
        and not sees_project(s, p)
        and kind in ("seat.assigned", "expert.checked_in", "seat.vacated", "pledge.accepted",
                     "interests.declared", "venue.link_lost", "venue.link_restored",
                     "materials.sealed", "committee.reformed")
        and event["payload"].get("venue_id") != p.venue
    ):
        # 四不知: before the start an expert learns nothing of the other venues, not even
        # that a seat there was filled or checked in.
        event = {**event, "payload": {"masked": True}}
    if p.role != "supervisor":
        event = _actor_masked(s, p, event)
    return event


# Events whose payload and actor are the supervisors' alone: a split view a venue
# reported (alert.raised) and a masked pool field opened (pool.field_opened).
_SUPERVISORS_ONLY = frozenset({"alert.raised", "pool.field_opened"})

# The roles whose view of a sheet.submitted event redact_event's shortcut gives.
_SHEET_FAST_ROLES = frozenset({"supervisor", "operator", "expert"})


def _actor_masked(s: Session, p: Principal, event: dict[str, Any]) -> dict[str, Any]:
    """Hide which expert acted unless ``p`` may see that identity."""
    if event["actor"].startswith("expert:"):
        sub = event["actor"].split(":", 1)[1]
        seat = s.seat_of(sub)
        if seat is None or not _sees_identity(s, p, seat.venue_id, sub):
            return {**event, "actor": "expert"}
    return event
