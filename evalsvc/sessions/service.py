"""Session use-cases: parse, authorise, decide, and commit one unit of work.

Each write is a :class:`~evalsvc.sessions.transitions.Transition`: the request is
parsed here, and its decision — authorise against the locked session, call the pure
machine (:mod:`.machine`), build the response — is a function of the snapshot the
store reads under the session's row lock. :class:`~evalsvc.sessions.uow.UnitOfWork`
runs it in one transaction and publishes the events after COMMIT. Reads (``get``,
``events``, …) go to the database directly.
"""

from __future__ import annotations

__all__ = ["Result", "SaltSource", "SessionService"]

import base64
import builtins
import dataclasses
import datetime as _dt
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from evalsvc import analysis
from evalsvc.audit import splitview
from evalsvc.auth import Principal
from evalsvc.canonical import canonical_bytes, canonical_plain_bytes, storage_sha256
from evalsvc.db import Database
from evalsvc.errors import Conflict, Forbidden, InvalidInput
from evalsvc.report.access import require_report_reader
from evalsvc.report.document import report_document, report_sha256
from evalsvc.salts import SaltSource
from evalsvc.sessions import machine as m
from evalsvc.sessions import schemas, store
from evalsvc.sessions.access import (
    anonymous_now,
    can_see,
    decode_bid_codes,
    encode_bid_codes,
    encode_sheet_error,
    own_sheets_view,
    public_bid,
    redact_event,
    require_expert_seat,
    require_primary_operator,
    require_seat_operator,
    require_visible,
    sees_project,
    view_session,
)
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.handover import HandoverRules
from evalsvc.sessions.model import (
    ACTIVE_STATES,
    FaultRules,
    ScoringRules,
    Session,
    Stage,
    State,
    new_session,
    parse_bid,
    parse_criterion,
    stage_plan,
)
from evalsvc.sessions.pledge import DEFAULT_PLEDGE_TEXT, DEFAULT_PLEDGE_VERSION, Pledge, pledge_of
from evalsvc.sessions.scoring import aggregate, aggregation_to_doc, parse_sheet, sheet_to_doc
from evalsvc.sessions.store.writes import Extra
from evalsvc.sessions.transitions import (
    Change,
    Needs,
    Result,
    SheetOpening,
    SheetVersion,
    Snapshot,
    Transition,
)
from evalsvc.sessions.uow import UnitOfWork

# Commands that move the session on past a milestone (pause, resume and abort never
# wait): the venues must have cosigned the last milestone first (the "quorum" extra,
# registered by evalsvc.audit.witnessing when witnesses are configured).
_ADVANCING = frozenset(
    {
        "start_check_in",
        "start_evaluation",
        "lock_qualification",
        "lock_scoring",
        "lock_compliance",
        "lock_technical",
        "lock_commercial",
        "start_report",
        "seal",
    }
)
# Commands after which the venue-link rules' next deadline may have moved.
_FAULT_TIMED = frozenset({"pause", "resume", "start_evaluation", "abort"})
_LOCKS = {"lock_qualification": Stage.QUALIFICATION, "lock_scoring": Stage.SCORING,
          "lock_compliance": Stage.COMPLIANCE, "lock_technical": Stage.TECHNICAL,
          "lock_commercial": Stage.COMMERCIAL}
_RESULT_STATES = (State.AGGREGATING, State.REPORTING, State.SEALED)
MAX_EVENTS_PAGE = 1000
_NOTHING = Needs()
SYSTEM_ACTOR = "system:scheduler"  # who acts when a deadline passes
QUORUM = "quorum"  # extra: why the last milestone lacks its cosignatures (None: it has them)
DRAW = "draw"  # extra: the session's draw state (evalsvc.experts), None before any draw
# extra: on seal, what the pool records of this evaluation ({"tenderer_uscc", "date"} from
# the draw's rules; None without a draw) — and, written, the members it is recorded for.
POOL_HISTORY = "pool_history"
# extra: what a check point of the pattern alerts reads (store.alert_history)
ALERTS = "alerts"
# extra: the split views recorded so far, [(seq, alert.raised payload)] (one per fork)
SPLIT_VIEWS = "split_views"
# Commands after which the pattern alerts check (evalsvc.analysis "Check points"): each
# records one alerts.checked event, whatever is found.
_CHECKED = frozenset({"open_draw", "lock_qualification", "lock_scoring", "start_report"})

# Checks a sheet's signature before its transaction (evalsvc.pki.service): returns the
# sheet without its signature fields, the canonical bytes signed and the record kept in
# the event payload — or (sheet, None, None) for an unsigned sheet it accepts.
SheetSignatures = Callable[
    [Principal, Any], Awaitable[tuple[Any, bytes | None, dict[str, Any] | None]]
]


# Verifies a signature over a document's canonical bytes (evalsvc.pki.service
# document_signature, bound to what="report"): (p, document, signature, certificate) →
# (the bytes signed, the record for the event payload), or None when unsigned and allowed.
DocumentSignatures = Callable[
    [Principal, Any, Any, Any], Awaitable[tuple[bytes, dict[str, Any]] | None]
]


# What a recusal does to the draw (evalsvc.experts, registered by create_app): given the
# session after the seat was vacated, the draw state (the "draw" extra), the vacated
# seat and the time (ms), the events of calling the seat's next alternate and the new
# draw state to write (None: unchanged).
RecusalFollowup = Callable[[Session, Any, int, int], tuple[list[m.Event], Any]]

# What a committee re-formed by rule does to the draw (evalsvc.experts, registered by
# create_app): given the re-formed session, the extras read (ReformFollowup's needs),
# the committee.reformed payload and the time (ms), the events of the replacement draw
# and the extras to write.
ReformFollowup = Callable[
    [Session, Mapping[str, Any], Mapping[str, Any], int], tuple[list[m.Event], dict[str, Any]]
]


class SessionService:
    """The session use-cases over one :class:`~evalsvc.sessions.uow.UnitOfWork`."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        new_id: Callable[[], str],
        defaults: ScoringRules,
        salt: Callable[[], bytes] | None = None,
        report_candidates: int = 3,
        alerts: analysis.Thresholds | None = None,
        pledge: Pledge | None = None,
        sign_within: int = 30 * 60,
        exclude_tenderer: bool = True,
        handover: HandoverRules | None = None,
        faults: FaultRules | None = None,
    ) -> None:
        self.uow = uow
        self.db: Database = uow.db
        self.bus: LocalBus = uow.bus
        self.new_id = new_id
        self.defaults = defaults
        # A fresh random key for each sheet's (and ballot's) commitment.
        self.salt = salt or SaltSource()
        # 中标候选人 the report recommends (1–3, config [report] candidates).
        self.report_candidates = report_candidates
        self.thresholds = alerts or analysis.Thresholds()
        uow.register(ALERTS, Extra(load=store.alert_history))
        uow.register(SPLIT_VIEWS, Extra(load=_split_views))
        self.sheet_signatures: SheetSignatures | None = None  # set by create_app
        self.report_signatures: DocumentSignatures | None = None  # set by create_app
        # The pledge text every member accepts ([rules] pledge_file / pledge_version).
        self.pledge = pledge or pledge_of(DEFAULT_PLEDGE_TEXT, DEFAULT_PLEDGE_VERSION)
        self.sign_within = sign_within  # seconds ([rules] sign_deadline_minutes)
        self.exclude_tenderer = exclude_tenderer
        self.recusal: RecusalFollowup | None = None  # set by create_app (the draw)
        # After a declaration committed: the draw's deadlines may have changed.
        self.after_recusal: Callable[[str], Awaitable[None]] | None = None
        # The handover after the seal ([rules] handover_*), and its deadlines' job
        # (evalsvc.sessions.deadlines.HandoverDeadlines.at, set by create_app).
        self.handover = handover or HandoverRules()
        self.schedule_handover: Callable[[str, _dt.datetime | None], None] | None = None
        # Venue link faults ([rules] link_lost_pause_minutes, …; docs/scoring.md "Faults
        # by rule") and their deadlines' job (evalsvc.sessions.deadlines.FaultDeadlines.at).
        self.faults = faults or FaultRules(600, 7200, 14400)
        self.schedule_fault: Callable[[str, _dt.datetime | None], None] | None = None
        # The replacement draw of a re-formed committee and the extras it reads (set by
        # create_app: the draw's state and the pool).
        self.reform: ReformFollowup | None = None
        self.reform_needs: tuple[str, ...] = ()

    async def _commit(
        self,
        p: Principal,
        session_id: str,
        decide: Callable[[Snapshot], Change],
        *,
        key: str | None,
        request: dict[str, Any],
        needs: Needs = _NOTHING,
    ) -> Result:
        t = Transition(
            session_id,
            p.actor,
            p.venue,
            decide,
            key=key,
            request_sha256=storage_sha256(request),
            needs=needs,
            route=request["op"],
        )
        return (await self.uow.commit(t)).result

    # --- use-cases ----------------------------------------------------------------------

    async def create(self, p: Principal, data: Any, *, key: str | None) -> Result:
        """Register a new session; the caller's venue must be the primary venue."""
        body = schemas.parse_body(schemas.SessionCreate, data)
        if p.role != "operator":
            raise Forbidden("only a venue operator may register a session")
        if body.primary_venue.id != p.venue:
            raise Forbidden(
                f"you operate venue {p.venue}; "
                "a session you register must have it as its primary venue",
            )
        doc, session_id = body.model_dump(), self.new_id()

        def decide(snap: Snapshot) -> Change:
            draft = new_session(
                doc, session_id=session_id, now=snap.now_ms // 1000, defaults=self.defaults
            )
            session, events = m.apply(draft, m.CreateSession(draft), snap.now_ms // 1000)
            view = view_session(session, p, last_seq=len(events))
            return Change(session, tuple(events), 201, view, with_seq=False)

        return await self._commit(
            p,
            session_id,
            decide,
            key=key,
            request={"op": "create", "body": data},
            needs=Needs(creates=True),
        )

    async def get(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The session as ``p`` may see it."""
        session, last = await self.db.read(
            lambda c: store.load_session(c, session_id, docs=self.uow.docs)
        )
        require_visible(session, p)
        doc = view_session(session, p, last_seq=last)
        if session.state is State.SEALED:
            doc["handover_items"] = list(self.handover.items)  # what record_handover lists
        return doc

    async def list(self, p: Principal) -> list[dict[str, Any]]:
        """Summaries of the sessions ``p`` may see."""
        rows = await self.db.read(store.list_sessions)
        out = []
        for s, last in rows:
            if not can_see(s, p):
                continue
            out.append(
                {
                    "id": s.id,
                    # 四不知: before the start, blinded roles see no project, not even its title.
                    "title": s.title if sees_project(s, p) else None,
                    "state": s.state.value,
                    "stage": s.stage.value if s.stage else None,
                    "primary_venue": s.primary.id,
                    "last_seq": last,
                    "created_at": s.created_at,
                }
            )
        return out

    async def add_bid(self, p: Principal, session_id: str, data: Any, *, key: str | None) -> Result:
        """Register one more bid (draft only, primary operator)."""
        bid = parse_bid(schemas.parse_body(schemas.BidIn, data).model_dump())
        return await self._draft_addition(
            p, session_id, data, key=key, op="bid", action="register bids", command=m.AddBid(bid)
        )

    async def add_criterion(
        self, p: Principal, session_id: str, data: Any, *, key: str | None
    ) -> Result:
        """Add one more criterion (draft only, primary operator)."""
        crit = parse_criterion(schemas.parse_body(schemas.CriterionIn, data).model_dump())
        return await self._draft_addition(
            p,
            session_id,
            data,
            key=key,
            op="criterion",
            action="define criteria",
            command=m.AddCriterion(crit),
        )

    async def _draft_addition(
        self,
        p: Principal,
        session_id: str,
        data: Any,
        *,
        key: str | None,
        op: str,
        action: str,
        command: m.AddBid | m.AddCriterion,
    ) -> Result:
        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            require_visible(s, p)
            require_primary_operator(s, p, action)
            new, events = m.apply(s, command, snap.now_ms // 1000)
            # The response is the added item as its event records it (a bid's
            # provenance is the supervisors', access.public_bid).
            body = dict(events[0].payload)
            if "bid" in body:
                body["bid"] = public_bid(body["bid"])
            return Change(new, tuple(events), 201, body)

        return await self._commit(p, session_id, decide, key=key, request={"op": op, "body": data})

    async def command(self, p: Principal, session_id: str, data: Any, *, key: str | None) -> Result:
        """Run a lifecycle command (see :mod:`evalsvc.sessions.machine`)."""
        cmd = schemas.parse_command(data)
        name: str = cmd.command
        if name == "sign_report":
            return await self._sign_report(p, session_id, cmd, data, key=key)
        extras: tuple[str, ...] = (
            (DRAW,) if name in ("assign_seat", "declare_interests") else ())
        if name in _ADVANCING:
            extras += (QUORUM,)
        if name == "seal":
            extras += (POOL_HISTORY,)
        if name in _CHECKED:
            extras += (ALERTS,)
        nonce = self.salt().hex() if name in _CHECKED else ""
        salt = self.salt() if name in ("cast_vote", "start_evaluation") else b""

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            require_visible(s, p)
            core = self._rules_command(snap, p, cmd, salt) or _authorised_command(snap, p, cmd)
            if isinstance(core, m.StartEvaluation) and snap.locked.anonymous:
                # 暗标: the codes' salt, committed now, opened at the technical lock.
                core = m.StartEvaluation(code_salt=salt.hex())
            if name in _ADVANCING and snap.extras.get(QUORUM):
                # The venues must have cosigned the last milestone before it moves on.
                raise Conflict(f"cannot {name.replace('_', ' ')}: {snap.extras[QUORUM]}")
            new, events = m.apply(s, core, snap.now_ms // 1000)
            written: dict[str, Any] = {}
            vacated = [e.payload["seat"] for e in events if e.type == "seat.vacated"]
            state = snap.extras.get(DRAW)
            if vacated and self.recusal is not None and state is not None:
                # 补抽: the seat's next alternate of the recorded draw is called, in the
                # same transaction as the recusal (the draw's own rules and events).
                more, new_state = self.recusal(new, state, vacated[0], snap.now_ms)
                events += more
                if new_state is not None:
                    written[DRAW] = new_state
            if name in _CHECKED:
                events = [*events, *_alerts_checked(snap, p, events, self.thresholds, nonce)]
            body: dict[str, Any] = {
                "command": name,
                "state": new.state.value,
                "stage": new.stage.value if new.stage else None,
            }
            if name == "record_incident":
                body["incident"] = events[0].payload
            basis = snap.extras.get(POOL_HISTORY)
            if name == "seal" and new.state is State.SEALED and basis is not None:
                recorded, written[POOL_HISTORY] = _pool_history(new, basis)
                events = [*events, recorded]
            return Change(new, tuple(events), 200, body, changed=new is not s, extras=written)

        # An incident's event names no venue in its envelope: the envelope is public in
        # every venue's audit view (docs/audit.md "Venue views"), and where an incident
        # happened is the incident's venue's and the tender supervisor's to know.
        by = dataclasses.replace(p, venue=None) if name == "record_incident" else p
        result = await self._commit(
            by,
            session_id,
            decide,
            key=key,
            request={"op": "command", "body": data},
            needs=Needs(sheets=_LOCKS.get(name), extras=extras),
        )
        if name == "declare_interests" and self.after_recusal is not None:
            await self.after_recusal(session_id)
        if name in ("seal", "acknowledge_handover") and not result.replayed:
            await self.reschedule_handover(session_id)
        if name in _FAULT_TIMED and not result.replayed:
            await self.reschedule_fault(session_id)
        return result

    def _rules_command(
        self, snap: Snapshot, p: Principal, cmd: Any, salt: bytes
    ) -> m.Command | None:
        """The core command of the steps the rules add (pledge, declaration, election,
        refusal to sign), authorised; None for the other commands."""
        s = snap.locked
        name = cmd.command
        if name == "accept_pledge":
            seat = require_expert_seat(s, p, "accept the pledge")
            if cmd.sha256 != self.pledge.sha256:
                raise Conflict(
                    f"the pledge text has changed (version {self.pledge.version}, sha256"
                    f" {self.pledge.sha256}): read it again (GET …/pledge) and accept that one")
            return m.AcceptPledge(seat.index, self.pledge.version, self.pledge.sha256)
        if name == "declare_interests":
            seat = require_expert_seat(s, p, "declare interests")
            conflicts: dict[str, str] = {}
            for i, d in enumerate(cmd.declarations):
                if d.conflict:
                    conflicts[d.bid_id] = d.reason or ""
                elif d.reason:
                    raise InvalidInput("a reason is given only with a conflict",
                                       field=f"declarations/{i}/reason")
            return m.DeclareInterests(
                seat.index, tuple(d.bid_id for d in cmd.declarations), conflicts)
        if name == "cast_vote":
            seat = require_expert_seat(s, p, "vote")
            m.require_state(s, "cast_vote")
            round_ = s.election.round if s.election is not None else 0
            commitment = hmac.digest(
                salt, m.ballot_bytes(s.id, round_, seat.index, cmd.candidate), "sha256").hex()
            return m.CastVote(seat.index, cmd.candidate, salt.hex(), commitment)
        if name == "open_election":
            require_primary_operator(s, p, "open the leader election")
            return m.OpenElection(s.tenderer_seats if self.exclude_tenderer else ())
        if name == "close_round":
            require_primary_operator(s, p, "close the election round")
            return m.CloseRound()
        if name == "start_report":
            require_primary_operator(s, p, "start the report")
            return m.StartReport(self.sign_within)
        if name == "record_refusal":
            own = s.seat_of(p.subject) if p.role == "expert" else None
            leader = (own is not None and own.venue_id == p.venue and s.leader == own.index)
            if not leader:
                require_primary_operator(
                    s, p, "record a refusal to sign (or the committee's leader)")
            return m.RecordRefusal(cmd.seat, cmd.note)
        if name == "request_rereview":
            own = s.seat_of(p.subject) if p.role == "expert" else None
            if own is None or own.venue_id != p.venue or s.leader != own.index:
                raise Forbidden("only the committee's leader may request a re-review")
            return m.RequestReReview(Stage(cmd.stage), tuple(cmd.seats), cmd.reason)
        if name == "decide_rereview":
            if p.role != "supervisor":
                raise Forbidden("only a supervisor may approve or reject a re-review")
            return m.DecideReReview(cmd.approve, cmd.reason)
        if name == "confirm_deemed_agreement":
            if p.role != "supervisor":
                raise Forbidden("only a supervisor may confirm a deemed agreement")
            return m.ConfirmDeemedAgreement(cmd.seat)
        if name == "request_clarification":
            own = s.seat_of(p.subject) if p.role == "expert" else None
            if own is None or own.venue_id != p.venue or s.leader != own.index:
                raise Forbidden("only the committee's leader may ask a bidder for a"
                                " clarification")
            return m.RequestClarification(own.index, cmd.bid_id, cmd.question)
        if name == "record_clarification_answer":
            require_primary_operator(s, p, "record a bidder's clarification")
            return m.RecordClarificationAnswer(cmd.id, cmd.answer, cmd.attachment_sha256)
        if name == "record_handover":
            venue = s.venue(p.venue or "") if p.role == "operator" else None
            if venue is None or venue.primary:
                raise Forbidden("only a secondary venue's operator records the handover of"
                                " its materials")
            for i, item in enumerate(cmd.items):
                if not item.confirmed:
                    raise InvalidInput(f"{item.item!r} is not confirmed: confirm every item"
                                       " handed over", field=f"items/{i}/confirmed")
            return m.RecordHandover(
                venue.id, tuple(x.item for x in cmd.items), self.handover.items)
        if name == "acknowledge_handover":
            require_primary_operator(s, p, "acknowledge a venue's handover")
            return m.AcknowledgeHandover(cmd.venue_id)
        if name == "record_incident":
            return _incident_command(s, p, cmd, snap.now_ms // 1000)
        return None

    async def record_incident(
        self, p: Principal, session_id: str, data: Any, *, key: str | None
    ) -> Result:
        """``POST …/incidents``: the ``record_incident`` command with its own body."""
        if not isinstance(data, dict):
            raise InvalidInput("expected a JSON object {category, text, occurred_at}",
                               field="(body)")
        if "command" in data:
            raise InvalidInput("unknown field: this route records an incident, it takes no"
                               " command", field="command")
        return await self.command(p, session_id, {"command": "record_incident", **data}, key=key)

    async def report_split_view(
        self, p: Principal, session_id: str, data: Any, *, origin: str, log_vkey: str,
        key: str | None,
    ) -> Result:
        """``POST …/audit/split-view``: a participating venue's operator (its agent)
        hands in fork evidence; checked against the session log's ``origin`` and key, it
        is recorded as an ``alert.raised`` event of rule ``split_view``, the supervisors'
        alone (access.redact_event). Evidence that proves nothing records nothing."""

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            require_visible(s, p)
            venue = s.venue(p.venue or "") if p.role == "operator" else None
            if venue is None:
                raise Forbidden("only a participating venue's operator (its agent) may report"
                                " a split view")
            if not isinstance(data, dict) or data.keys() != {"evidence"}:
                raise InvalidInput("expected a JSON object {evidence}", field="(body)")
            fork = splitview.check_fork(data["evidence"], origin=origin, log_vkey=log_vkey)
            body = {"rule": splitview.SPLIT_VIEW, "size": fork.size}
            for seq, known in snap.extras.get(SPLIT_VIEWS) or ():
                if splitview.same_fork(known, fork):
                    # The same fork again (another key, another venue): recorded once.
                    return Change(s, (), 200, {**body, "seq": seq}, changed=False,
                                  with_seq=False)
            payload = splitview.alert_payload(fork, venue_id=venue.id, venue_name=venue.city)
            return Change(s, (m.Event(splitview.ALERT_EVENT, payload),), 201, body,
                          changed=False)

        # As an incident's: the envelope (public in every venue's audit view) names no
        # venue; which venue saw the split is in the payload, for supervisors.
        by = dataclasses.replace(p, venue=None)
        return await self._commit(by, session_id, decide, key=key,
                                  request={"op": "split_view", "body": data},
                                  needs=Needs(extras=(SPLIT_VIEWS,)))

    # --- the handover's deadline (交接) ------------------------------------------------------

    def handover_due(self, s: Session) -> _dt.datetime | None:
        """When the handover of ``s`` is overdue, if some secondary venue's handover is
        still unacknowledged and not yet flagged; None otherwise."""
        if s.state is not State.SEALED or s.sealed_at is None:
            return None
        done = {h.venue_id for h in s.handovers if h.acknowledged_at is not None or h.overdue}
        if all(v.primary or v.id in done for v in s.venues):
            return None
        return _dt.datetime.fromtimestamp(self.handover.due(s.sealed_at), _dt.UTC)

    async def reschedule_handover(self, session_id: str) -> None:
        """(Re)schedule the handover deadline of ``session_id`` from what is stored."""
        if self.schedule_handover is None:
            return
        session, _ = await self.db.read(
            lambda c: store.load_session(c, session_id, docs=self.uow.docs))
        self.schedule_handover(session_id, self.handover_due(session))

    async def handover_pending(self) -> builtins.list[tuple[str, _dt.datetime]]:
        """(session id, deadline) of every sealed session whose handover is pending."""
        sealed = await self.db.read(lambda c: store.sessions_in_state(c, State.SEALED.value))
        return [(s.id, due) for s in sealed if (due := self.handover_due(s)) is not None]

    async def handover_tick(self, session_id: str) -> _dt.datetime | None:
        """The scheduler: raise ``handover.overdue`` for the venues whose handover is
        overdue now; returns the next deadline (None: nothing left to wait for)."""
        rules = self.handover

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            due = self.handover_due(s)
            if due is None or snap.now_ms < int(due.timestamp() * 1000):
                body = {"next": due.isoformat() if due is not None else None}
                return Change(s, (), 200, body, changed=False, with_seq=False)
            new, events = m.apply(
                s, m.FlagHandoverOverdue(rules.days, rules.holidays, rules.workdays),
                snap.now_ms // 1000)
            nxt = self.handover_due(new)
            return Change(new, tuple(events), 200,
                          {"next": nxt.isoformat() if nxt is not None else None})

        t = Transition(session_id, SYSTEM_ACTOR, None, decide, route="handover")
        body = (await self.uow.commit(t)).result.body
        nxt = body.get("next")
        return _dt.datetime.fromisoformat(nxt) if nxt else None

    # --- venue link faults (docs/scoring.md "Faults by rule") ---------------------------

    def fault_due(self, s: Session) -> _dt.datetime | None:
        """When the next step of the venue-link rules falls due for ``s`` (None: none)."""
        due = m.fault_deadline(s, self.faults)
        return None if due is None else _dt.datetime.fromtimestamp(due, _dt.UTC)

    async def reschedule_fault(self, session_id: str) -> None:
        """(Re)schedule the venue-link deadline of ``session_id`` from what is stored."""
        if self.schedule_fault is None:
            return
        session, _ = await self.db.read(
            lambda c: store.load_session(c, session_id, docs=self.uow.docs))
        self.schedule_fault(session_id, self.fault_due(session))

    async def fault_pending(self) -> builtins.list[tuple[str, _dt.datetime]]:
        """(session id, deadline) of every session with a venue-link step pending."""
        found = await self.db.read(_running)
        return [(s.id, due) for s in found if (due := self.fault_due(s)) is not None]

    async def venue_link(
        self, session_id: str, venue_id: str, up: bool, *, at_ms: int | None = None
    ) -> None:
        """The hub saw secondary venue ``venue_id``'s link go (its agent and every one of
        its experts' sockets closed: ``up`` False; ``at_ms`` when) or come back: record
        it (an event), once, while the session runs; then reschedule the rules'
        deadline."""
        name = "record_link_restored" if up else "record_link_lost"

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            v = s.venue(venue_id)
            lost = any(x == venue_id for x, _ in s.links_lost)
            if v is None or v.primary or lost is not up or not m.takes(s, name):
                return Change(s, (), 200, {}, changed=False, with_seq=False)
            # (A loss counts from the next whole second after it went: the rule never
            # pauses early.)
            went = min(at_ms if at_ms is not None else snap.now_ms, snap.now_ms)
            cmd = (m.RecordLinkRestored(venue_id) if up
                   else m.RecordLinkLost(venue_id, since=(went + 999) // 1000))
            new, events = m.apply(s, cmd, (snap.now_ms + 999) // 1000)
            return Change(new, tuple(events), 200, {})

        t = Transition(session_id, SYSTEM_ACTOR, None, decide, route="venue_link")
        await self.uow.commit(t)
        await self.reschedule_fault(session_id)

    async def links_to_watch(self) -> builtins.list[tuple[str, str]]:
        """On start-up: (session id, venue id) of every secondary venue whose link must be
        up — a running (or paused) session's venue with a member checked in, whose link is
        not recorded lost. The new process has seen nobody connect, and cannot tell a
        venue that was up when the server stopped from one that never connected: from
        the check-in on, a venue with members at their seats is expected on the line,
        and must come back within the grace or is lost from the start."""
        out = []
        for s in await self.db.read(_running):
            lost = {v for v, _ in s.links_lost}
            seated = {x.venue_id for x in s.seats if x.checked_in}
            out += [(s.id, v.id) for v in s.venues
                    if not v.primary and v.id in seated and v.id not in lost]
        return out

    async def fault_tick(self, session_id: str) -> _dt.datetime | None:
        """The scheduler: take the venue-link step due now (pause; seal and re-form, the
        moved seats' replacement draw opened; suspend); returns the next deadline
        (None: nothing left to wait for)."""

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            due = m.fault_deadline(s, self.faults)
            if due is None or snap.now_ms < due * 1000:
                nxt = self.fault_due(s)
                return Change(s, (), 200, {"next": nxt.isoformat() if nxt else None},
                              changed=False, with_seq=False)
            new, events = m.apply(s, m.ApplyFaultRules(self.faults), snap.now_ms // 1000)
            written: dict[str, Any] = {}
            reformed = next((e.payload for e in events if e.type == "committee.reformed"),
                            None)
            if self.reform is not None and reformed is not None:
                # 补抽: a replacement draw with a fresh seed seats the moved seats' new
                # members at a venue still linked (docs/draw.md §6.9).
                more, written = self.reform(new, snap.extras, reformed, snap.now_ms)
                events += more
            nxt = self.fault_due(new)
            return Change(new, tuple(events), 200, {"next": nxt.isoformat() if nxt else None},
                          extras=written)

        t = Transition(session_id, SYSTEM_ACTOR, None, decide, route="faults",
                       needs=Needs(extras=self.reform_needs))
        body = (await self.uow.commit(t)).result.body
        if self.after_recusal is not None:
            await self.after_recusal(session_id)  # the alternates' invitations expire
        nxt = body.get("next")
        return _dt.datetime.fromisoformat(nxt) if nxt else None

    async def pledge_text(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The pledge a member of this session accepts: version, text, SHA-256."""
        session, _ = await self.db.read(
            lambda c: store.load_session(c, session_id, docs=self.uow.docs)
        )
        require_visible(session, p)
        return {"version": self.pledge.version, "text": self.pledge.text,
                "sha256": self.pledge.sha256}

    async def _sign_report(
        self, p: Principal, session_id: str, cmd: Any, data: Any, *, key: str | None
    ) -> Result:
        """``sign_report``: the signature covers the canonical report; checked before the
        transaction, and in it the report must still be the one signed."""
        signed: tuple[bytes, dict[str, Any]] | None = None
        wants_signature = (
            cmd.signature is not None or cmd.certificate is not None or p.key_sha256 is not None
        )
        if self.report_signatures is not None and wants_signature:

            def read(conn: Connection) -> dict[str, Any] | None:
                seen = key is not None and store.find_idempotent(
                    conn, actor=p.actor, session=session_id, route="command", key=key
                )
                if seen:
                    return None  # a retry: the unit of work answers as the first time
                s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
                require_visible(s, p)
                require_expert_seat(s, p, "sign the report")
                m.require_state(s, "sign_report")
                sheets = store.latest_sheets(conn, s.id, Stage.SCORING.value)
                return _report_of(s, sheets, self.report_candidates)

            current = await self.db.read(read)
            if current is not None:
                _same_report(cmd.report_sha256, report_sha256(current))
                signed = await self.report_signatures(p, current, cmd.signature, cmd.certificate)

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            require_visible(s, p)
            seat = require_expert_seat(s, p, "sign the report")
            digest = None
            if s.state is State.REPORTING:  # otherwise the machine refuses the command
                digest = report_sha256(_report_of(s, snap.sheets, self.report_candidates))
                _same_report(cmd.report_sha256, digest)
                if signed is not None:
                    _same_report(hashlib.sha256(signed[0]).hexdigest(), digest)
            record = signed[1] if signed is not None else None
            new, events = m.apply(s, m.SignReport(seat.index, digest, record), snap.now_ms // 1000)
            body = {
                "command": "sign_report",
                "state": new.state.value,
                "stage": None,
                "report_sha256": digest,
                "signed": record is not None,
            }
            return Change(new, tuple(events), 200, body)

        return await self._commit(
            p,
            session_id,
            decide,
            key=key,
            request={"op": "command", "body": data},
            needs=Needs(sheets=Stage.SCORING),
        )

    async def report(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The final report to sign (and, once sealed, the report as signed)."""

        def tx(conn: Connection) -> tuple[Session, int, dict[str, Any]]:
            s, last = store.load_session(conn, session_id, docs=self.uow.docs)
            require_report_reader(s, p)  # the draft: members and supervisors only
            sheets = store.latest_sheets(conn, s.id, Stage.SCORING.value)
            return s, last, _report_of(s, sheets, self.report_candidates)

        s, last, doc = await self.db.read(tx)
        signing = canonical_bytes(doc)
        return {
            "report": doc,
            "sha256": hashlib.sha256(signing).hexdigest(),
            "signing_bytes": base64.b64encode(signing).decode("ascii"),
            "signed": list(s.signed),
            "state": s.state.value,
            "last_seq": last,
        }

    async def submit_sheet(self, p: Principal, session_id: str, data: Any, *, key: str) -> Result:
        """Store a new version of the caller's sheet for the current stage."""
        # The shape is checked by parse_sheet in the decision (it needs the session's
        # bids and criteria anyway); schemas.SheetIn documents it in the OpenAPI.
        request = {"op": "sheet", "body": data}
        signed: bytes | None = None
        signature: dict[str, Any] | None = None
        if self.sheet_signatures is not None:
            data, signed, signature = await self.sheet_signatures(p, data)
        salt = self.salt()

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            require_visible(s, p)
            seat = require_expert_seat(s, p, "submit a score sheet")
            m.require_state(s, "submit_sheet")
            # 暗标: the technical sheet names bids by code (access.view_session).
            try:
                sheet = parse_sheet(s, seat=seat.index, doc=decode_bid_codes(s, data))
            except InvalidInput as err:
                raise encode_sheet_error(s, err) from None
            stored = sheet_to_doc(sheet)
            body = canonical_plain_bytes(stored)
            # The signature must cover the stored document, so that the event's sha256
            # is the hash of exactly the bytes signed (docs/pki.md "Signed sheets") —
            # except under 暗标, where the expert knows the bids by code only and signs
            # the document keyed by code, as it was shown (the lock opens the codes).
            by_code = anonymous_now(s)
            if signed is not None and signed != (
                    canonical_plain_bytes(encode_bid_codes(s, stored)) if by_code else body):
                raise InvalidInput(
                    "the signed sheet is not in canonical form: sign the RFC 8785 bytes of "
                    '{"stage", "bids"} with every score as a decimal string'
                    + (" and the bids keyed by their 暗标 codes" if by_code else ""),
                    field="signature",
                )
            version = snap.sheet_version + 1
            digest = hashlib.sha256(body).hexdigest()
            commitment = sheet_commitment(salt, body)
            _, events = m.apply(s, m.SubmitSheet(sheet, version, commitment), snap.now_ms // 1000)
            response = {
                "seat": seat.index,
                "stage": sheet.stage.value,
                "version": version,
                # 暗标: the digest of the bid-keyed bytes would link codes to bids.
                "sha256": None if anonymous_now(s) else digest,
                "commitment": commitment,
            }
            written = SheetVersion(
                sheet,
                p.subject,
                version,
                body.decode("utf-8"),
                digest,
                commitment,
                salt.hex(),
                # Verifiers re-key the opened sheet by the opened codes before checking.
                {**signature, "bid_keys": "codes"} if signature and by_code else signature,
            )
            return Change(s, tuple(events), 201, response, changed=False, sheet=written)

        return await self._commit(
            p,
            session_id,
            decide,
            key=key,
            request=request,
            needs=Needs(sheet_version_of=p.subject if p.role == "expert" else None, batch=True),
        )

    async def aggregation(self, p: Principal, session_id: str) -> dict[str, Any]:
        """Committee result, once scoring is locked."""

        def tx(conn: Connection) -> tuple[Session, int, list[Any]]:
            s, last = store.load_session(conn, session_id, docs=self.uow.docs)
            require_visible(s, p)
            state = s.paused.from_state if s.paused else s.state
            if state not in _RESULT_STATES:
                raise Conflict(
                    "the aggregation is available once scoring is locked "
                    f"(session is {m.state_label(s)})"
                )
            return s, last, store.latest_sheets(conn, session_id, Stage.SCORING.value)

        s, last, sheets = await self.db.read(tx)
        doc = aggregation_to_doc(aggregate(s, sheets))
        doc["pending_explanations"] = [{"seat": a, "bid_id": b} for a, b in s.pending_explanations]
        doc["explanations"] = [{"seat": a, "bid_id": b, "text": t} for a, b, t in s.explanations]
        doc["dissents"] = [{"seat": a, "text": t} for a, t in s.dissents]
        doc["signed"] = list(s.signed)
        doc["last_seq"] = last
        return doc

    async def progress(self, p: Principal, session_id: str) -> dict[str, Any]:
        """Which seats have submitted which stage (never the contents); an expert's own
        sheets, and for supervisors every sheet with what opens its commitment."""

        def tx(conn: Connection) -> tuple[Session, dict[str, dict[int, int]], list[dict[str, Any]]]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            require_visible(s, p)
            own: list[dict[str, Any]] = []
            if p.role == "expert":
                seat = s.seat_of(p.subject)
                if seat is not None:
                    own = store.own_sheets(conn, session_id, seat.index,
                                           expert_id=p.subject)
            elif p.role == "supervisor":
                own = store.own_sheets(conn, session_id, None)
            return s, store.sheet_progress(conn, session_id, void=s.voided), own

        s, prog, own = await self.db.read(tx)
        own = own_sheets_view(s, p, own)  # 暗标: by code, nothing that links them
        seats = s.seats
        if p.role == "expert" and not sees_project(s, p):
            seats = tuple(x for x in s.seats if x.expert_id == p.subject)  # 四不知
        return {
            "state": s.state.value,
            "stage": s.stage.value if s.stage else None,
            "seats": [
                {
                    "seat": x.index,
                    "venue_id": x.venue_id,
                    "checked_in": x.checked_in,
                    "versions": {
                        st.value: prog.get(st.value, {}).get(x.index, 0)
                        for st in stage_plan(s)
                    },
                }
                for x in seats
            ],
            # (Named for the expert's view; a supervisor's holds every seat's.)
            "own_sheets": own,
        }

    async def alerts(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The pattern alerts of a session, check point by check point, and its
        incidents (supervisors); a site supervisor's: its venue's incidents only."""
        if p.role != "site_supervisor":
            _supervisor_only(p, "read pattern alerts")
        tender = p.role == "supervisor"

        def tx(conn: Connection) -> tuple[Session, list[store.StoredEvent]]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            require_visible(s, p)
            if not tender:
                return s, []
            return s, store.alert_checks(conn, session_id=session_id,
                                         types=(analysis.ALERTS_EVENT, splitview.ALERT_EVENT))

        s, checks = await self.db.read(tx)
        return {
            "session_id": s.id,
            # Each check point of the pattern alerts, and each split view a venue
            # reported (docs/audit.md "Split views") as a point of its own, by seq.
            "checks": [
                {"seq": e.seq, "time_ms": e.time_ms, "point": e.payload["point"],
                 "alerts": e.payload["alerts"]}
                if e.type == analysis.ALERTS_EVENT else
                {"seq": e.seq, "time_ms": e.time_ms, "point": splitview.SPLIT_VIEW,
                 "alerts": [splitview.alert_summary(e.payload)]}
                for e in sorted(checks, key=lambda e: e.seq)
                if e.type == analysis.ALERTS_EVENT
                or e.payload.get("rule") == splitview.SPLIT_VIEW
            ],
            "incidents": view_session(s, p, last_seq=0)["incidents"],
        }

    async def expert_review(self, p: Principal, expert_id: str) -> dict[str, Any]:
        """An expert's review record (专家评审质量, seed §(十六)): every alert that named
        them and every observation recorded about them, across sessions (supervisors)."""
        _supervisor_only(p, "read an expert's review record")
        if p.scope is not None:
            # The record spans every session: not for a supervisor bound to some.
            raise Forbidden("an expert's review record spans every session: a supervisor"
                            " bound to named sessions or tenders may not read it")
        checks = await self.db.read(store.alert_checks)
        alerts: list[dict[str, Any]] = []
        observations: list[dict[str, Any]] = []
        for e in checks:
            for a in e.payload.get("alerts", []):
                if expert_id in (a.get("subject", {}).get("experts") or []):
                    alerts.append({"session_id": e.session_id, "seq": e.seq,
                                   "time_ms": e.time_ms, **a})
            observations += [o for o in e.payload.get("observations", [])
                             if o.get("expert_id") == expert_id]
        by_rule: dict[str, int] = {}
        for a in alerts:
            by_rule[a["rule"]] = by_rule.get(a["rule"], 0) + 1
        sessions = {o["session_id"] for o in observations} | {a["session_id"] for a in alerts}
        return {
            "expert_id": expert_id,
            "sessions": len(sessions),
            "alerts_by_rule": by_rule,
            "alerts": alerts,
            "observations": observations,
        }

    async def events(
        self, p: Principal, session_id: str, *, after: int, limit: int, wait: float
    ) -> dict[str, Any]:
        """Events after ``after`` as ``p`` may see them; long-polls up to ``wait`` seconds."""
        limit = max(1, min(limit, MAX_EVENTS_PAGE))

        def tx(conn: Connection) -> tuple[Session, int, list[store.StoredEvent]]:
            s, last = store.load_session(conn, session_id, docs=self.uow.docs)
            require_visible(s, p)
            return s, last, store.list_events(conn, session_id, after=after, limit=limit)

        s, last, events = await self.db.read(tx)
        if not events and wait > 0:
            await self.bus.wait(session_id, after=after, timeout=wait)
            s, last, events = await self.db.read(tx)
        return {
            "last_seq": last,
            "events": [redact_event(s, p, e.to_doc()) for e in events],
        }


def _incident_command(s: Session, p: Principal, cmd: Any, now: int) -> m.RecordIncident:
    """Authorise ``record_incident``: a site supervisor at its own venue, the tender's
    supervisor at any venue it names; nobody else (docs/api.md "Incidents")."""
    if p.role == "site_supervisor":
        if cmd.venue_id is not None and cmd.venue_id != p.venue:
            raise Forbidden(f"a site supervisor of venue {p.venue} records incidents at its"
                            f" own venue only, not at {cmd.venue_id}")
        venue = p.venue or ""
    elif p.role == "supervisor":
        if cmd.venue_id is None:
            raise InvalidInput("venue_id: the tender's supervisor names the venue of the"
                               " incident", field="venue_id")
        venue = cmd.venue_id
    else:
        raise Forbidden("only a venue's site supervisor or the tender's supervisor may"
                        " record an incident")
    m.require_state(s, "record_incident")
    try:
        at = _dt.datetime.fromisoformat(cmd.occurred_at)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput("occurred_at: expected an ISO 8601 time with its UTC offset, like"
                           f" 2026-12-06T14:03:00+08:00, got {cmd.occurred_at[:40]!r}",
                           field="occurred_at")
    return m.RecordIncident(venue, cmd.category, cmd.text, int(at.timestamp()), p.actor)


def _supervisor_only(p: Principal, action: str) -> None:
    # The disclosure schedule (DESIGN.md): alerts are the supervisors' alone.
    if p.role != "supervisor":
        raise Forbidden(f"only a supervisor may {action}")


def _alerts_checked(
    snap: Snapshot, p: Principal, events: list[m.Event], t: analysis.Thresholds, nonce: str
) -> list[m.Event]:
    """The ``alerts.checked`` event of a check point (evalsvc.analysis): the rules run
    over the session's stored events and those the command just produced."""
    inputs = snap.extras.get(ALERTS) or {"events": [], "history": []}
    log = [
        *inputs["events"],
        *({"session_id": snap.locked.id, "seq": snap.last_seq + i + 1, "type": e.type,
           "payload": e.payload, "actor": p.actor, "venue": p.venue, "time_ms": snap.now_ms}
          for i, e in enumerate(events)),
    ]
    found = analysis.check(log, thresholds=t, history=inputs["history"])
    if found is None:
        return []
    return [m.Event(analysis.ALERTS_EVENT, found.payload(t, nonce=nonce))]


def _report_of(s: Session, sheets: Any, candidates: int) -> dict[str, Any]:
    """The report document of ``s`` from its locked scoring sheets."""
    return report_document(s, aggregate(s, list(sheets)), candidates=candidates)


def _opening_doc(o: SheetOpening) -> dict[str, Any]:
    doc: dict[str, Any] = {"seat": o.seat, "version": o.version, "sheet": json.loads(o.doc)}
    if o.salt is not None:
        doc["salt"] = o.salt
    if o.signature is not None:
        doc["signature"] = o.signature
    return doc


def sheet_commitment(salt: bytes, doc: bytes) -> str:
    """The commitment a ``sheet.submitted`` event carries: HMAC-SHA256 keyed by a random
    256-bit salt over the sheet's canonical bytes (docs/audit.md "Sealed score sheets").

    RFC 2104 spelled out over hashlib.sha256 (the verifier uses hmac.digest): it runs on
    every score sheet, and OpenSSL 3's one-shot HMAC looks the MAC and the digest up by
    name on each call — 2.9 µs against 1.5 µs here (tests/sessions/test_scoring.py
    checks the two agree)."""
    if len(salt) > 64:  # (never: salts are 32 bytes; RFC 2104 would hash the key first)
        return hmac.digest(salt, doc, "sha256").hex()
    key = salt.ljust(64, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD) + doc).digest()
    return hashlib.sha256(key.translate(_OPAD) + inner).hexdigest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _same_report(signed_sha256: str | None, current_sha256: str) -> None:
    if signed_sha256 is not None and signed_sha256 != current_sha256:
        raise Conflict(
            "the report has changed since you read it (a dissent was recorded): "
            "read it again and sign the new version"
        )


def _authorised_command(snap: Snapshot, p: Principal, cmd: Any) -> m.Command:
    """Check ``p`` may run ``cmd`` in the locked session and build the core command
    (lock commands take the stage's latest sheets from the snapshot)."""
    s = snap.locked
    name = cmd.command
    if name == "check_in":
        if not 0 <= cmd.seat < len(s.seats):
            raise InvalidInput(
                f"no seat {cmd.seat}: the committee has {len(s.seats)} seats", field="seat"
            )
        require_seat_operator(s, p, s.seats[cmd.seat], "check in")
        return m.CheckIn(cmd.seat)
    if name in ("explain_deviation", "record_dissent"):
        seat = require_expert_seat(s, p, name.replace("_", " "))
        if name == "explain_deviation":
            return m.ExplainDeviation(seat.index, cmd.bid_id, cmd.text)
        return m.RecordDissent(seat.index, cmd.text)
    if name == "pause":
        if not (p.role == "supervisor" or (p.role == "operator" and s.venue(p.venue or ""))):
            raise Forbidden("only a participating venue's operator or a supervisor may pause")
        return m.Pause(cmd.reason)
    if name == "abort":
        if p.role != "supervisor":
            require_primary_operator(s, p, "abort the session")
            if s.state is not State.DRAFT:
                # Aborting after the draw opened would let the primary start over until
                # it likes the committee (docs/draw.md §6.8): a supervisor decides.
                raise Forbidden(
                    "once the draw has opened only a supervisor may abort"
                    " the session (with a reason)"
                )
        return m.Abort(cmd.reason)
    if name == "decide_designation":
        if p.role != "supervisor":
            raise Forbidden("only a supervisor may approve or reject a designation")
        return m.DecideDesignation(cmd.approve, cmd.reason)
    require_primary_operator(s, p, name.replace("_", " "))
    simple: dict[str, m.Command] = {
        "open_draw": m.OpenDraw(),
        "complete_draw": m.CompleteDraw(),
        "start_check_in": m.StartCheckIn(),
        "start_evaluation": m.StartEvaluation(),
        "seal": m.Seal(),
        "resume": m.Resume(),
    }
    if name in simple:
        return simple[name]
    if name == "designate_experts":
        return m.DesignateExperts(cmd.reason)
    if name == "assign_seat":
        # Once a draw ceremony is opened, only the draw seats experts (when they confirm).
        if snap.extras.get(DRAW) is not None:
            raise Conflict(
                "this session's seats are filled by its draw ceremony; "
                "manual assignment is refused while a draw exists"
            )
        return m.AssignSeat(cmd.seat, cmd.expert_id, cmd.expert_name)
    openings = tuple(_opening_doc(o) for o in snap.openings)
    if name == "lock_qualification":
        return m.LockQualification(snap.sheets, openings)
    if name == "lock_scoring":
        return m.LockScoring(snap.sheets, openings)
    if name == "lock_compliance":
        return m.LockCompliance(snap.sheets, openings)
    if name == "lock_technical":
        return m.LockTechnical(snap.sheets, openings)
    if name == "lock_commercial":
        return m.LockCommercial(snap.sheets, openings)
    raise InvalidInput(f"unknown command {name!r}", field="command")  # pragma: no cover


def _running(c: Connection) -> list[Session]:
    """Every session whose venue links are watched: active or paused."""
    return [s for st in (*sorted(ACTIVE_STATES), State.PAUSED)
            for s in store.sessions_in_state(c, st.value)]


def _pool_history(s: Session, basis: Mapping[str, Any]) -> tuple[m.Event, dict[str, Any]]:
    """The pool remembers (issue 14 item 10): on seal, every member's evaluation — the
    tenderer's USCC and the evaluation date of the draw's rules — is added to the pool,
    so the frequency rule of the next draw counts it. The event records which seats; the
    members' ids are in the draw record and ``seat.assigned``."""
    seats = [x for x in s.seats if x.expert_id]
    event = m.Event(
        "pool.evaluations_recorded",
        {
            "tenderer_uscc": basis["tenderer_uscc"],
            "date": basis["date"],
            "seats": [x.index for x in seats],
        },
    )
    return event, {**basis, "experts": [x.expert_id for x in seats]}


def _split_views(conn: Connection, s: Session) -> list[tuple[int, dict[str, Any]]]:
    """The ``split_views`` extra: each ``alert.raised`` event of ``s`` with its seq."""
    return [(e.seq, e.payload) for e in store.alert_checks(
        conn, session_id=s.id, types=(splitview.ALERT_EVENT,))]
