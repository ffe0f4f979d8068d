"""Draw use-cases: the seed ceremony, the draw and the invitations of one session.

Every step is one unit of work (:mod:`evalsvc.sessions.uow`), like the session
service's: under the session's row lock the store reads the draw state (the extra
``draw``) and hands the decision a read port to the pool (``pool``); the pure core
decides (:mod:`.ceremony`, :mod:`.draw`, :mod:`.invitations`, and the session machine's
``AssignSeat`` / ``CompleteDraw``), and the change — session, events, the new draw state,
the pool snapshot a new ceremony archives — is written in one transaction. Events are
published only after the commit, and the scheduler is told the draw's next deadline
(:meth:`DrawService.tick` runs there).

Events (``docs/draw.md`` §4.1 and §6.3): ``draw.opened``, ``draw.committed``,
``draw.revealed``, ``draw.seeded``, ``draw.drawn``, ``draw.failed``,
``invitation.sent|accepted|declined|expired|skipped``, ``draw.seat_exhausted``, and the
session's own ``seat.assigned`` / ``session.state_changed``.

An expert is seated (``AssignSeat``) when they *confirm*, not when drawn: the session's
seats hold confirmed experts only, so ``CompleteDraw`` — applied here as soon as every
seat is confirmed — means every seat has a confirmed expert, and an expert who declined
never holds a seat (nor sees the session).
"""

from __future__ import annotations

__all__ = ["DEFAULT_INVITATION_TIMEOUT", "POOL_FIELD_OPENED", "DrawService"]

import asyncio
import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictStr
from sqlalchemy.engine import Connection

from evalsvc.audit.rederive import POOL_FIELD_OPENED
from evalsvc.auth import Principal
from evalsvc.canonical import canonical_sha256, storage_sha256
from evalsvc.config import DrawSettings
from evalsvc.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from evalsvc.experts import ceremony as cer
from evalsvc.experts import invitations as inv
from evalsvc.experts import store as xstore
from evalsvc.experts.binding import bind_rules, draw_day, request_part
from evalsvc.experts.draw import NoEligibleExpert, draw
from evalsvc.experts.drawstate import DrawState, map_seats
from evalsvc.experts.pool import Expert, Pool, expert_from_view
from evalsvc.experts.rules import load_rules
from evalsvc.experts.seed import InsufficientContributions
from evalsvc.ids import mask_resident_id
from evalsvc.sessions import machine as m
from evalsvc.sessions import store
from evalsvc.sessions.access import (
    can_see,
    require_primary_operator,
    require_visible,
    sees_draw_inputs,
)
from evalsvc.sessions.model import Session, State
from evalsvc.sessions.schemas import parse_body
from evalsvc.sessions.service import DRAW, POOL_HISTORY
from evalsvc.sessions.store.writes import Extra
from evalsvc.sessions.transitions import Change, Needs, Snapshot, Transition
from evalsvc.sessions.uow import UnitOfWork

DEFAULT_INVITATION_TIMEOUT = inv.DEFAULT_TIMEOUT
SUPERVISOR_PARTY = "supervisor"
SYSTEM_ACTOR = "system:scheduler"
PAUSED_RECHECK = _dt.timedelta(seconds=30)
POOL = "pool"  # extra: the pool's read port, and the snapshot a new ceremony archives
MAX_REASON = 500  # characters of a pool opening's reason


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrawOpenIn(_In):
    """Open a seed ceremony for the session's draw (primary operator)."""

    rules: dict[str, Any] | None = Field(
        default=None,
        description="the rules document (config/draw-rules.example.toml as JSON) without"
        " `tenderer`, `supervising_departments` and `bidders`: the server takes them from"
        " the session (a document naming them is refused, 422); optional when re-drawing"
        " exhausted seats (the previous rules are reused)",
    )
    commit_deadline: AwareDatetime
    reveal_deadline: AwareDatetime
    include_supervisor: StrictBool = Field(
        default=False, description="the supervisor is a party of the ceremony too"
    )
    invitation_timeout_seconds: int | None = Field(
        default=None, ge=1, le=7 * 86400, description="time an expert has to answer"
    )
    starts_at: AwareDatetime | None = Field(
        default=None, description="when the evaluation starts (told to invited experts)"
    )


class CommitmentIn(_In):
    digest: StrictStr = Field(description="hex SHA-256(lp(secret) ‖ lp(party) ‖ lp(session))")


class RevealIn(_In):
    secret: StrictStr = Field(description="the committed secret, hex")


class ApprovalIn(_In):
    """A supervisor's approval of what the primary may not do alone (docs/draw.md §6.8)."""

    action: Literal["reopen", "change_terms", "retender"] = Field(
        description="reopen: a new ceremony after a failed one; change_terms: the next"
        " ceremony may use the terms with this digest (rules, invitation timeout);"
        " retender: this session may draw although an earlier session of the same tender"
        " exists")
    reason: StrictStr = Field(min_length=1, max_length=2000)
    terms_sha256: StrictStr | None = Field(
        default=None, description="change_terms: the digest of the approved terms")


class AnswerIn(_In):
    accept: StrictBool = Field(description="true confirms, false declines")


_Step = tuple[Session, DrawState | None, list[m.Event], dict[str, Any]]


def _utc(ms: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC)


class DrawService:
    """The draw use-cases over one :class:`~evalsvc.db.Database`."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        default_timeout: _dt.timedelta = DEFAULT_INVITATION_TIMEOUT,
        schedule: Callable[[str, _dt.datetime | None], None] | None = None,
        floors: DrawSettings | None = None,
    ) -> None:
        self.uow = uow
        self.floors = floors or DrawSettings()
        self.db = uow.db
        # The draw state and the pool are read (and written) with the session.
        uow.register(DRAW, Extra(load=_load_draw, save=_save_draw))
        uow.register(POOL, Extra(load=_pool_reads, save=_archive_pool))
        # On seal the pool records the evaluation of every member (the frequency rule).
        uow.register(POOL_HISTORY, Extra(load=_history_basis, save=_record_history))
        self.default_timeout = default_timeout
        self.reform_needs = (DRAW, POOL)  # what reform_followup reads
        # Called after each commit with the draw's next deadline (None: nothing pending).
        self.schedule = schedule or (lambda _sid, _when: None)
        # Pools of open ceremonies by snapshot digest, built off the writer thread when
        # the ceremony opens, so that closing it does not rebuild 100,000 experts there.
        self._pools: dict[str, Pool] = {}
        self._warming: set[asyncio.Task[None]] = set()

    # --- plumbing -----------------------------------------------------------------------

    async def _step(
        self,
        session_id: str,
        *,
        actor: str,
        venue: str | None,
        fn: Callable[[_Pool, Session, DrawState | None, _dt.datetime], _Step],
    ) -> dict[str, Any]:
        decided: list[tuple[DrawState | None, _dt.datetime]] = []

        def decide(snap: Snapshot) -> Change:
            now = _utc(snap.now_ms)
            session, state = snap.locked, snap.extras.get(DRAW)
            pool = _Pool(snap.extras[POOL])
            new, new_state, events, body = fn(pool, session, state, now)
            decided[:] = [(new_state, now)]
            extras: dict[str, Any] = {}
            if pool.archived is not None:
                extras[POOL] = pool.archived
            if new_state is not None and new_state is not state:
                extras[DRAW] = new_state
            return Change(new, tuple(events), 200, body, changed=new is not session,
                          extras=extras)

        t = Transition(session_id, actor, venue, decide, needs=Needs(extras=(DRAW, POOL)))
        outcome = await self.uow.commit(t)
        state, now = decided[-1]
        if state is not None:
            self.schedule(session_id, state.next_deadline(now))
        return outcome.result.body

    # --- the ceremony -------------------------------------------------------------------

    async def open(self, p: Principal, session_id: str, data: Any) -> dict[str, Any]:
        """Open a seed ceremony: the first draw, or a new one for exhausted seats."""
        body = parse_body(DrawOpenIn, data)

        def prepare(conn: Connection) -> tuple[xstore.Snapshot, list[dict[str, Any]]]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            require_primary_operator(s, p, "open the draw")
            snap = xstore.prepare_snapshot(conn, _taken(s, xstore.load_draw(conn, session_id)))
            return snap, xstore.earlier_sessions(conn, s)

        prepared, earlier = await self.db.read(prepare)

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            require_primary_operator(s, p, "open the draw")
            _require_drawing(s, "open a draw ceremony")
            if st is not None and st.ceremony is not None:
                raise Conflict(f"ceremony {st.number} of this session is still open")
            approval = st.approval if st is not None else None
            if st is not None and st.number == 0:
                st = None  # only an approval so far: this is the first ceremony
            if st is None and earlier and not (approval and approval.get("action")
                                               == "retender"):
                # Registering the tender again must not be a free restart (§6.8).
                raise Forbidden(
                    "earlier session(s) of the same tender exist ("
                    + ", ".join(f"{e['session_id']} {e['state']}" for e in earlier)
                    + "): drawing again needs a supervisor's approval"
                    " (POST …/draw/approvals, action retender)")
            failed = st is not None and st.failure is not None
            # Approved new terms include leave to open the next ceremony.
            if failed and not (approval and approval.get("action") in ("reopen",
                                                                       "change_terms")):
                assert st is not None
                # No free restarts (docs/draw.md §6.8): a failed ceremony is reopened
                # only with a supervisor's approval, recorded with its reason.
                raise Forbidden(
                    f"ceremony {st.number} failed ({st.failure}); a new ceremony needs a"
                    " supervisor's approval (POST …/draw/approvals, action reopen)")
            if (st is not None and not failed and st.book is not None
                    and not st.book.exhausted):
                raise Conflict("every seat has a member or a pending invitation: nothing to draw")
            raw = (body.rules if body.rules is not None
                   else (request_part(st.rules) if st else None))
            if raw is None:
                raise InvalidInput("the first draw needs a rules document", field="rules")
            doc = bind_rules(raw, s, now=now, min_alternates=self.floors.min_alternates)
            try:
                config = load_rules(doc)
            except ConfigError as exc:
                raise InvalidInput(exc.message, field="rules") from exc
            seat_map = map_seats(config.seats, config.document, s)
            if st is not None and st.seat_map != seat_map:
                raise InvalidInput(
                    "rules: a new ceremony must keep the seats of the first one"
                    " (same venues and seat order)", field="rules/seats")
            timeout = (_dt.timedelta(seconds=body.invitation_timeout_seconds)
                       if body.invitation_timeout_seconds else
                       (st.timeout if st else self.default_timeout))
            floors = self.floors
            if timeout.total_seconds() < floors.min_invitation_timeout_seconds:
                raise InvalidInput(
                    f"the invitation timeout is {int(timeout.total_seconds())} s; at least"
                    f" {floors.min_invitation_timeout_seconds} s",
                    field="invitation_timeout_seconds")
            window = (body.commit_deadline - now).total_seconds()
            if window < floors.min_commit_window_seconds:
                raise InvalidInput(
                    f"the commitment window is {window:.0f} s; every party needs at least"
                    f" {floors.min_commit_window_seconds} s", field="commit_deadline")
            reveal_window = (body.reveal_deadline - body.commit_deadline).total_seconds()
            if reveal_window < floors.min_reveal_window_seconds:
                raise InvalidInput(
                    f"the reveal window is {reveal_window:.0f} s; every party needs at least"
                    f" {floors.min_reveal_window_seconds} s", field="reveal_deadline")
            terms = _terms_sha256(config.document, timeout)
            if st is not None and st.terms_sha256 not in (None, terms) and not (
                    approval and approval.get("action") == "change_terms"
                    and approval.get("terms_sha256") == terms):
                # Frozen at the first ceremony (docs/draw.md §6.8).
                raise Forbidden(
                    f"the rules or the invitation timeout differ from ceremony 1's"
                    f" (terms {st.terms_sha256}); new terms {terms} need a supervisor's"
                    " approval (POST …/draw/approvals, action change_terms)")
            # Every venue of the session and the supervisor: each must contribute, and
            # the supervisor reveals last (docs/draw.md §1.1). include_supervisor is
            # accepted for older clients; the supervisor always takes part. (A venue a
            # re-formed committee left is no longer in the rules: §6.9.)
            parties = _parties(s, config.document)
            number = (st.number if st else 0) + 1
            ceremony = cer.open_ceremony(
                ceremony_id(s.id, number), parties, commit_deadline=body.commit_deadline,
                reveal_deadline=body.reveal_deadline, now=now, minimum=len(parties),
                last=SUPERVISOR_PARTY,
            )
            # The pool the ceremony draws from (docs/draw.md §6.2): every expert of the
            # pool but those already seated or invited in this session. Prepared before
            # this transaction (100,000 views take seconds to serialise, and the SQLite
            # writer serves every session); redone here only if the session moved since.
            snap = prepared
            if snap.excluded != _taken(s, st):
                snap = pool.reads.prepare_snapshot(_taken(s, st))
            if not snap.size:
                raise Conflict("the expert pool is empty: import experts first"
                               " (`evalsvc experts import FILE`)")
            pool.archived = snap  # archived with the change (the pool drawn from)
            digest = snap.sha256
            new_state = DrawState(
                session_id=s.id,
                number=number,
                rules=config.document,
                rules_sha256=canonical_sha256(config.document),
                seat_map=seat_map,
                seat_venues=tuple(x.venue for x in config.seats),
                timeout=timeout,
                starts_at=(body.starts_at.isoformat() if body.starts_at
                           else (st.starts_at if st else None)),
                pool_sha256=digest,
                ceremony=ceremony,
                book=st.book if st else None,
                failure=None,
                spent=st.spent if st else (),
                terms_sha256=terms,
                approval=None,  # used up by this ceremony
            )
            payload = {
                **_opened(new_state, snap),
                "approval": dict(approval) if approval else None,
                "earlier_sessions": [e["session_id"] for e in earlier],
            }
            out = {"ceremony": number, "parties": list(ceremony.parties),
                   "pool_sha256": digest, "pool_size": snap.size,
                   "rules_sha256": new_state.rules_sha256}
            return s, new_state, [m.Event("draw.opened", payload)], out

        out = await self._step(session_id, actor=p.actor, venue=p.venue, fn=fn)
        if out.get("pool_sha256") == prepared.sha256:
            task = asyncio.create_task(self._warm(prepared))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)
        return out

    async def _warm(self, snap: xstore.Snapshot) -> None:
        def build() -> Pool:
            return Pool.from_experts(expert_from_view(v) for v in snap.views)

        pool = await asyncio.get_running_loop().run_in_executor(None, build)
        self._keep_pool(snap.sha256, pool)

    def _keep_pool(self, digest: str, pool: Pool) -> None:
        while len(self._pools) >= 4:
            self._pools.pop(next(iter(self._pools)))
        self._pools[digest] = pool

    async def commit(self, p: Principal, session_id: str, data: Any) -> dict[str, Any]:
        """A party's commitment to its secret."""
        body = parse_body(CommitmentIn, data)

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            c, st = _open_ceremony(s, p, st)
            if body.digest.lower() in st.spent:
                # A commitment is bound to (session, ceremony, party); one this session
                # has seen is refused for good (docs/draw.md §6.2).
                raise Conflict("this commitment was already submitted in this session;"
                               " commit to a fresh secret for each ceremony")
            new_c, commitment = cer.commit(c, _party(p), body.digest, now=now)
            new_st = replace(st, ceremony=new_c, spent=(*st.spent, commitment.digest))
            return s, new_st, [m.Event("draw.committed", commitment.to_json())], {
                "party": commitment.party, "at": commitment.at.isoformat()}

        return await self._step(session_id, actor=p.actor, venue=p.venue, fn=fn)

    async def reveal(self, p: Principal, session_id: str, data: Any) -> dict[str, Any]:
        """A party's reveal; the last one due computes the seed and runs the draw."""
        body = parse_body(RevealIn, data)
        try:
            secret = bytes.fromhex(body.secret)
        except ValueError:
            raise InvalidInput("the secret must be hex", field="secret") from None

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            c, st = _open_ceremony(s, p, st)
            new_c, rv = cer.reveal(c, _party(p), secret, now=now)
            new_st = replace(st, ceremony=new_c)
            events = [m.Event("draw.revealed", rv.to_json())]
            out: dict[str, Any] = {"party": rv.party, "at": rv.at.isoformat(), "drawn": False}
            if cer.is_ready(new_c, now=now):
                s, new_st, more = self._finish(pool, s, new_st, now)
                events += more
                out["drawn"] = new_st.ceremony is None and new_st.failure is None
            return s, new_st, events, out

        return await self._step(session_id, actor=p.actor, venue=p.venue, fn=fn)

    def _finish(
        self, port: _Pool, s: Session, st: DrawState, now: _dt.datetime
    ) -> tuple[Session, DrawState, list[m.Event]]:
        """Close the ceremony: seed, draw, invitations (or ``draw.failed``)."""
        assert st.ceremony is not None and st.pool_sha256 is not None
        closed = replace(st, ceremony=None)
        try:
            seed = cer.close(st.ceremony, now=now)
        except InsufficientContributions as exc:
            # Every named party that did not contribute is in the record, a party shut
            # out by the window as much as one that withheld (docs/draw.md §6.2).
            return s, replace(closed, failure=exc.message), [m.Event("draw.failed", {
                "ceremony": st.number, "reason": exc.code, "message": exc.message,
                "dropped": cer.missing(st.ceremony)})]
        events = [m.Event("draw.seeded", {"ceremony": st.number, **seed.to_json()})]
        config = load_rules(st.rules)
        pool = self._pools.get(st.pool_sha256)
        if pool is None:  # after a restart, or before the warm-up finished
            pool = Pool.from_experts(port.reads.snapshot_experts(st.pool_sha256))
            self._keep_pool(st.pool_sha256, pool)
        try:
            result = draw(pool, config.rules, config.seats, seed.seed)
        except NoEligibleExpert as exc:
            events.append(m.Event("draw.failed", {
                "ceremony": st.number, "reason": exc.code, "message": exc.message}))
            return s, replace(closed, failure=exc.message), events
        events.append(m.Event("draw.drawn", {
            "ceremony": st.number, "result": result.to_json(),
            "result_sha256": result.digest()}))
        before = _exhausted(st)
        if st.book is None:
            book, sent = inv.start(result, pool, caps=config.rules.region_caps, now=now,
                                   timeout=st.timeout)
        else:
            # A new ceremony for exhausted seats (docs/draw.md §6.4): each such seat's new
            # member and alternates join the end of its candidate list, and are called in
            # rank order as before; the other seats keep their members.
            book = st.book
            sent_l: list[inv.Invitation] = []
            for b in book.exhausted:
                seat = result.seats[b]
                # Someone invited since the ceremony opened (an alternate called at
                # another seat meanwhile) is not asked twice.
                asked = {i.expert_id for i in book.invitations}
                ids = tuple(x for x in (seat.member.expert_id,
                                        *(a.expert_id for a in seat.alternates))
                            if x not in asked)
                cands = list(book.candidates)
                cands[b] = (*cands[b], *ids)
                regions = {**book.regions,
                           **{i: pool.region_of(pool.index_of(i)) for i in ids}}
                book = replace(book, candidates=tuple(cands), regions=regions)
                # Calling the next candidate is the book's own step; it is private to
                # keep callers on answer/expire_due, and this is the one other entry.
                book, more = inv._call_next(book, b, now=now)
                sent_l += more
            sent = tuple(sent_l)
        new_st = replace(closed, book=book)
        events += [_invitation_event(new_st, i) for i in sent]
        events += _exhaustion_events(new_st, before)
        return s, new_st, events

    async def approve(self, p: Principal, session_id: str, data: Any) -> dict[str, Any]:
        """A supervisor approves, with a reason, what the primary may not do alone:
        a new ceremony after a failed one, or new terms for the next ceremony."""
        body = parse_body(ApprovalIn, data)
        if p.role != "supervisor":
            raise Forbidden("only a supervisor approves a new ceremony or new draw terms")
        if body.action == "change_terms" and not (
                body.terms_sha256 and len(body.terms_sha256) == 64):
            raise InvalidInput("change_terms names the approved terms_sha256",
                               field="terms_sha256")

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            _require_drawing(s, "approve a draw change")
            if body.action == "retender":
                if st is not None and st.number > 0:
                    raise Conflict("this session has drawn already: nothing to approve")
                approval = {"action": "retender", "after_ceremony": 0,
                            "reason": body.reason, "by": p.actor, "terms_sha256": None}
                placeholder = DrawState(
                    session_id=s.id, number=0, rules={}, rules_sha256="", seat_map=(),
                    seat_venues=(), timeout=self.default_timeout, starts_at=None,
                    approval=approval)
                return s, placeholder, [m.Event("draw.approved", approval)], approval
            if st is None or st.number == 0:
                raise Conflict("this session has no draw yet: nothing to approve")
            if st.ceremony is not None:
                raise Conflict(f"ceremony {st.number} is still open")
            if body.action == "reopen" and st.failure is None:
                raise Conflict(f"ceremony {st.number} did not fail: nothing to reopen")
            approval = {"action": body.action, "after_ceremony": st.number,
                        "reason": body.reason, "by": p.actor,
                        "terms_sha256": body.terms_sha256}
            new_st = replace(st, approval=approval)
            return s, new_st, [m.Event("draw.approved", approval)], approval

        return await self._step(session_id, actor=p.actor, venue=p.venue, fn=fn)

    # --- invitations --------------------------------------------------------------------

    async def answer(self, p: Principal, session_id: str, data: Any) -> dict[str, Any]:
        """The invited expert ``p`` confirms or declines."""
        body = parse_body(AnswerIn, data)
        if p.role != "expert":
            raise Forbidden("only an invited expert may answer an invitation")

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            book = st.book if st else None
            pending = next((i for i in book.invitations if i.expert_id == p.subject
                            and i.status == "pending"), None) if book else None
            if st is None or book is None or pending is None:
                raise NotFound(f"you have no pending invitation in session {session_id!r}")
            venue = st.seat_venues[pending.seat]
            if p.venue != venue:
                raise Forbidden(f"the invitation is for a seat at venue {venue}; your token"
                                f" is for venue {p.venue}")
            _require_drawing(s, "answer an invitation")
            before = _exhausted(st)
            new_book, changed = inv.answer(book, p.subject, accept=body.accept, now=now)
            new_st = replace(st, book=new_book)
            events = [_invitation_event(new_st, i) for i in changed]
            s2 = s
            if body.accept:
                s2, more = self._seat(pool, s, new_st, pending.seat, now)
                events += more
            events += _exhaustion_events(new_st, before)
            return s2, new_st, events, {
                "status": "accepted" if body.accept else "declined",
                "seat": st.seat_map[pending.seat], "venue_id": venue,
                "session_state": s2.state.value}

        return await self._step(session_id, actor=p.actor, venue=p.venue, fn=fn)

    def _seat(
        self, pool: _Pool, s: Session, st: DrawState, b: int, now: _dt.datetime
    ) -> tuple[Session, list[m.Event]]:
        """Seat the confirmed expert of book seat ``b``; complete the draw when all are
        (at check-in, an alternate takes a vacated seat of a formed committee)."""
        assert st.book is not None
        expert_id = inv.seated(st.book)[b]
        found = pool.reads.load_experts([expert_id])
        name = found[expert_id].name if expert_id in found else expert_id
        when = int(now.timestamp())
        s, events = m.apply(s, m.AssignSeat(st.seat_map[b], expert_id, name,
                                         source=f"draw:{st.number}"), when)
        if s.state is State.DRAWING and len(inv.seated(st.book)) == len(st.book.candidates):
            s, more = m.apply(s, m.CompleteDraw(), when)
            events += more
        return s, events

    def recusal_followup(
        self, s: Session, st: Any, seat: int, now_ms: int
    ) -> tuple[list[m.Event], DrawState | None]:
        """After the member of session seat ``seat`` declared a conflict (the session
        already shows the seat vacated): close their invitation as ``recused`` and
        invite the seat's next alternate from the recorded draw (补抽); with none left
        the seat is exhausted and a new ceremony — a fresh seed — draws it."""
        if not isinstance(st, DrawState) or st.book is None or seat not in st.seat_map:
            return [], None  # a designated committee: no draw to call an alternate from
        now = _utc(now_ms)
        b = st.seat_map.index(seat)
        before = _exhausted(st)
        book, changed = inv.recuse(st.book, b, now=now, reason="recusal (回避) declared")
        new_st = replace(st, book=book)
        events = [_invitation_event(new_st, i) for i in changed]
        events += _exhaustion_events(new_st, before)
        return events, new_st

    def reform_followup(
        self, s: Session, extras: Mapping[str, Any], reformed: Mapping[str, Any], now_ms: int
    ) -> tuple[list[m.Event], dict[str, Any]]:
        """After a committee re-formed by rule (``reformed``: the ``committee.reformed``
        payload; ``s`` shows the absent venues' seats vacant and moved to the primary),
        in the same transaction: the leaving members' invitations close, and the
        replacement draw (补抽) opens — a new ceremony, a fresh seed from every venue
        still linked and the supervisor, over the same rules with the moved seats at
        their new venue and the absent venues left out; the pool leaves out everyone
        drawn in this session. Its result fills the moved seats only (docs/draw.md
        §6.9). Returns the events and the extras to write."""
        st, port = extras.get(DRAW), extras.get(POOL)
        moved = {int(x["seat"]): str(x["to"]) for x in reformed.get("moved", ())}
        if not isinstance(st, DrawState) or st.book is None or port is None or not moved:
            return [], {}  # a designated committee: its seats wait (no draw to redraw)
        now = _utc(now_ms)
        rule = reformed.get("rule")
        targets = [b for b, seat in enumerate(st.seat_map) if seat in moved]
        book, changed = inv.withdraw(st.book, targets, now=now,
                                     reason="venue_link_lost: the committee was re-formed")
        venues = tuple(moved[st.seat_map[b]] if b in targets else v
                       for b, v in enumerate(st.seat_venues))
        st = replace(st, book=book, seat_venues=venues)
        events = [_invitation_event(st, i) for i in changed]
        if st.ceremony is not None:
            # A ceremony for exhausted seats is open: its draw fills these seats too.
            return events, {DRAW: st}
        absent = set(reformed.get("venues", ()))
        doc = dict(st.rules)
        # Dated the day it is held, as any draw of a session (the recusal rules count
        # years and evaluations up to it).
        doc["draw"] = {**dict(doc.get("draw", {})), "date": draw_day(now).isoformat()}
        doc["venues"] = [v for v in doc.get("venues", []) if v.get("id") not in absent]
        specialties = [x.specialty for x in load_rules(st.rules).seats]
        doc["seats"] = [{"venue": v, "specialty": sp, "count": 1}
                        for v, sp in zip(venues, specialties, strict=True)]
        config = load_rules(doc)
        pool = _Pool(port)
        drawn = {e for c in book.candidates for e in c}
        snap = pool.reads.prepare_snapshot(_taken(s, st) | drawn)
        number = st.number + 1
        parties = _parties(s, config.document)
        # Nobody chose the windows: each is the floor every party is owed ([draw]
        # min_*_window_seconds), and a minute at least.
        commit = now + _dt.timedelta(seconds=max(60, self.floors.min_commit_window_seconds))
        ceremony = cer.open_ceremony(
            ceremony_id(s.id, number), parties, commit_deadline=commit,
            reveal_deadline=commit + _dt.timedelta(
                seconds=max(60, self.floors.min_reveal_window_seconds)),
            now=now, minimum=len(parties), last=SUPERVISOR_PARTY)
        st = replace(st, number=number, rules=config.document,
                     rules_sha256=canonical_sha256(config.document),
                     pool_sha256=snap.sha256, ceremony=ceremony, failure=None,
                     terms_sha256=_terms_sha256(config.document, st.timeout), approval=None)
        events.append(m.Event("draw.opened", {**_opened(st, snap), "replacement": {
            "reason": "venue_link_lost", "rule": rule, "venues": sorted(absent),
            "seats": sorted(moved), "to": sorted(set(moved.values()))}}))
        return events, {DRAW: st, POOL: snap}

    async def reschedule(self, session_id: str) -> None:
        """Tell the scheduler the draw's next deadline (after a recusal called an
        alternate, whose invitation expires)."""
        st = await self.db.read(lambda c: xstore.load_draw(c, session_id))
        if st is not None:
            self.schedule(session_id, st.next_deadline(_utc(self.uow.clock_ms())))

    async def tick(self, session_id: str) -> _dt.datetime | None:
        """Act on whatever deadline of this draw has passed (scheduler and start-up);
        returns the next deadline."""

        def fn(pool: _Pool, s: Session, st: DrawState | None, now: _dt.datetime) -> _Step:
            if st is None or not _draws(s):
                # A paused session's draw waits (looked at again later: deadlines that
                # passed meanwhile are handled once it resumes); any other state ends it.
                later = now + PAUSED_RECHECK if s.state is State.PAUSED else None
                return s, None, [], {"next": later.isoformat() if later else None}
            events: list[m.Event] = []
            new_st = st
            if st.ceremony is not None and cer.is_ready(st.ceremony, now=now):
                s, new_st, events = self._finish(pool, s, st, now)
            if new_st.book is not None:
                before = _exhausted(new_st)
                book, changed = inv.expire_due(new_st.book, now=now)
                if changed:
                    new_st = replace(new_st, book=book)
                    events += [_invitation_event(new_st, i) for i in changed]
                    events += _exhaustion_events(new_st, before)
            nxt = new_st.next_deadline(now)
            return s, new_st, events, {"next": nxt.isoformat() if nxt else None}

        body = await self._step(session_id, actor=SYSTEM_ACTOR, venue=None, fn=fn)
        nxt = body.get("next")
        return _dt.datetime.fromisoformat(nxt) if nxt else None

    async def pending(self) -> list[tuple[str, _dt.datetime]]:
        """(session id, next deadline) of every draw waiting for one (for start-up)."""
        rows = await self.db.read(xstore.pending_draws)
        return [(sid, _utc(ms)) for sid, ms in rows]

    # --- reading ------------------------------------------------------------------------

    async def status(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The draw as ``p`` may see it: ceremony progress, seats, invitations."""

        def tx(conn: Connection) -> tuple[Session, DrawState | None]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            return s, xstore.load_draw(conn, session_id)

        s, st = await self.db.read(tx)
        require_visible(s, p)
        if p.role == "expert":
            raise Forbidden("experts see their own invitation (GET /api/invitations)")
        doc = draw_view_for(s, st, p, now=_utc(self.uow.clock_ms()))
        if p.role == "supervisor":
            # Every earlier session of the same tender, with everyone its draws invited
            # or seated (docs/draw.md §6.8).
            doc["earlier_sessions"] = await self.db.read(
                lambda c: xstore.earlier_sessions(c, s))
        return doc

    async def my_invitations(self, p: Principal) -> list[dict[str, Any]]:
        """The invitations of the expert ``p``: time and venue only (四不知)."""
        if p.role != "expert":
            raise Forbidden("only experts have invitations")

        def tx(conn: Connection) -> list[dict[str, Any]]:
            out = []
            for row in xstore.invitations_of(conn, p.subject):
                s, _ = store.load_session(conn, row["session_id"], docs=self.uow.docs)
                st = xstore.load_draw(conn, row["session_id"])
                v = s.venue(row["venue_id"])
                # 四不知: the time and the venue, never the project, tenderer or bids.
                out.append({
                    "session_id": row["session_id"],
                    "status": row["status"],
                    "deadline": _utc(row["deadline_ms"]).isoformat(),
                    "starts_at": st.starts_at if st else None,
                    "date": str(st.rules.get("draw", {}).get("date")) if st else None,
                    "venue": {"id": v.id, "name": v.name, "city": v.city} if v else None,
                })
            return out

        return await self.db.read(tx)

    async def pool(self, p: Principal) -> dict[str, Any]:
        """Size and composition of the pool (supervisors: docs/draw.md §6.6)."""
        _require_pool_reader(p)
        return await self.db.read(xstore.pool_status)

    async def bundle(self, p: Principal, session_id: str, *, ceremony: int | None
                     ) -> dict[str, Any]:
        """The draw bundle of a recorded ceremony (pool snapshot, rules, ceremony, seed,
        result): supervisors at any time, anyone who sees the session once it is sealed."""

        def tx(conn: Connection) -> tuple[Session, dict[str, Any]]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            require_visible(s, p)
            if not sees_draw_inputs(s, p):
                raise Forbidden("the draw's inputs are disclosed to supervisors, and to"
                                " everyone once the session is sealed")
            return s, xstore.session_bundle(conn, session_id, ceremony=ceremony)

        return (await self.db.read(tx))[1]

    async def open_pool_field(
        self, p: Principal, session_id: str, data: Any, *, key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """``POST …/audit/pool-openings``: open one masked personal field of an expert in
        the pool snapshot a draw of the session used, for the tender's supervisor
        (docs/audit.md "Opening one field"). The opening is recorded first — a
        ``pool.field_opened`` event with the expert, the field, the reason and the
        commitment opened, never the value — and the value and salt go back in the
        response only. An expert in no snapshot of the session, or without a kept
        opening, gets one and the same 404, whoever they are."""
        expert, name, reason = _opening_request(data)

        def read(conn: Connection) -> dict[str, Any]:
            s, _ = store.load_session(conn, session_id, docs=self.uow.docs)
            _require_tender_supervisor(s, p)
            try:
                return xstore.pool_opening(conn, session_id, expert, name)
            except NotFound:
                # The same answer for every reason (not in the pool, not in this
                # session's snapshot, no commitment kept): no oracle of who is in it.
                raise NotFound(
                    f"专家 {expert} 的字段 {name} 在本会话的专家库快照中没有可开启的承诺 / "
                    f"no opening of {expert}.{name} in this session's pool snapshot"
                ) from None

        opening = await self.db.read(read)
        payload = {"expert_id": expert, "field": name, "reason": reason,
                   "pool_sha256": opening["pool_sha256"], "commitment": opening["commitment"]}

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            _require_tender_supervisor(s, p)
            return Change(s, (m.Event(POOL_FIELD_OPENED, payload),), 201,
                          {"expert_id": expert, "field": name}, changed=False)

        t = Transition(session_id, p.actor, p.venue, decide, key=key,
                       request_sha256=storage_sha256(
                           {"op": "pool_opening", "body": [expert, name, reason]}),
                       route="pool_opening")
        outcome = await self.uow.commit(t)
        # Value and salt are in the response alone (never in the event nor the stored
        # idempotent answer): the record says what was opened, why and by whom.
        r = outcome.result
        return {**r.body, "opening": opening}, r.replayed

    async def experts(
        self, p: Principal, *, offset: int, limit: int, region: str | None
    ) -> dict[str, Any]:
        """One page of the pool (supervisors: docs/draw.md §6.6)."""
        _require_pool_reader(p)

        def tx(conn: Connection) -> tuple[dict[str, Any], list[Any]]:
            return (xstore.pool_status(conn),
                    xstore.list_experts(conn, offset=offset, limit=limit, region=region))

        status, page = await self.db.read(tx)
        full = p.role == "supervisor"
        return {
            "size": status["size"],
            "offset": offset,
            "experts": [
                {
                    "id": e.id,
                    "name": e.name,
                    "resident_id": e.resident_id if full else mask_resident_id(e.resident_id),
                    "region": e.region,
                    "status": e.status,
                    "specialties": list(e.specialties),
                    "title": e.title,
                    "employer": e.employer.name,
                    # What the frequency rule counts (imported history and the sessions
                    # sealed here): how many evaluations, the latest date.
                    "evaluation_count": len(e.evaluations),
                    "last_evaluation": _last_evaluation(e),
                }
                for e in page
            ],
        }


# --- helpers ----------------------------------------------------------------------------


def _last_evaluation(e: Expert) -> str | None:
    return max(v.date for v in e.evaluations).isoformat() if e.evaluations else None


class _Pool:
    """A draw step's access to the pool: reads through the port, and the snapshot to
    archive with the change (when a ceremony opens)."""

    def __init__(self, reads: xstore.PoolReads) -> None:
        self.reads = reads
        self.archived: xstore.Snapshot | None = None


def _opening_request(data: Any) -> tuple[str, str, str]:
    """``{expert_id, field, reason}`` of a pool opening, checked field by field."""
    from evalsvc.experts.pool import MASKED_FIELDS

    if not isinstance(data, dict):
        raise InvalidInput("请求须为 JSON 对象 {expert_id, field, reason} / expected a JSON"
                           " object {expert_id, field, reason}", field="(body)")
    for extra in sorted(set(data) - {"expert_id", "field", "reason"}):
        raise InvalidInput(f"未知字段 {extra} / unknown field", field=extra)
    expert = data.get("expert_id")
    if not isinstance(expert, str) or not 0 < len(expert) <= 64 or not expert.isprintable():
        raise InvalidInput("expert_id：须为专家库中的专家编号（1–64 个字符） / the pool id"
                           " of an expert (1–64 characters)", field="expert_id")
    name = data.get("field")
    if name not in MASKED_FIELDS:
        raise InvalidInput(f"field：可开启的遮蔽字段为 {'、'.join(MASKED_FIELDS)} / one of"
                           f" {', '.join(MASKED_FIELDS)}", field="field")
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput(f"reason：请写明开启理由（1–{MAX_REASON} 个字符），它记入审计日志"
                           f" / the reason, recorded in the audit log (1–{MAX_REASON}"
                           " characters)", field="reason")
    return expert, str(name), reason.strip()


def _require_tender_supervisor(s: Session, p: Principal) -> None:
    """The tender's supervisor (行政监督) only; a role that may not see the session is
    told it is not found, as everywhere."""
    require_visible(s, p)
    if p.role != "supervisor":
        raise Forbidden("仅本项目的行政监督人员可开启专家库快照中的遮蔽字段 / only the"
                        " tender's supervisor may open a masked field of the pool snapshot")


def _require_pool_reader(p: Principal) -> None:
    # An operator's job needs no page of the pool: the primary's imports it with the
    # CLI, a venue learns its own drawn experts as they accept. A pool page in an
    # operator's hands (with the seed and rules) named the members at other venues.
    if p.role != "supervisor":
        raise Forbidden("only supervisors read the expert pool")


def _load_draw(conn: Connection, s: Session) -> DrawState | None:
    return xstore.load_draw(conn, s.id)


def _save_draw(conn: Connection, s: Session, state: DrawState, now_ms: int) -> None:
    xstore.save_draw(conn, state, now_ms=now_ms)


def _pool_reads(conn: Connection, s: Session) -> xstore.PoolReads:
    return xstore.PoolReads(conn)


def _archive_pool(conn: Connection, s: Session, snap: xstore.Snapshot, now_ms: int) -> None:
    xstore.archive_snapshot(conn, snap, now_ms=now_ms)


def _history_basis(conn: Connection, s: Session) -> dict[str, str] | None:
    """What the pool records of this evaluation: the tenderer's USCC and the evaluation
    date, from the draw's rules; for a committee seated without a draw (designated
    experts, approved by a supervisor), the session's tenderer and the day of the seal
    (this read runs in the seal's transaction). None: a session registered before the
    tenderer's USCC was part of it."""
    st = xstore.load_draw(conn, s.id)
    if st is None:
        if not s.tenderer_uscc:
            return None
        today = _dt.datetime.now(_dt.UTC).date()
        return {"tenderer_uscc": s.tenderer_uscc, "date": today.isoformat()}
    context = load_rules(st.rules).rules.context
    return {"tenderer_uscc": context.tenderer.uscc, "date": context.on.isoformat()}


def _record_history(conn: Connection, s: Session, value: dict[str, Any], now_ms: int) -> None:
    xstore.record_evaluations(
        conn,
        value["experts"],
        tenderer_uscc=value["tenderer_uscc"],
        on=_dt.date.fromisoformat(value["date"]),
    )


def _taken(s: Session, st: DrawState | None) -> frozenset[str]:
    """Experts a new ceremony leaves out: seated or already invited in this session."""
    taken = {x.expert_id for x in s.seats if x.expert_id}
    if st is not None and st.book is not None:
        taken |= {i.expert_id for i in st.book.invitations if i.status != "skipped"}
    return frozenset(taken)


def _draws(s: Session) -> bool:
    """Whether the session's draw is running: while drawing, and at check-in while a
    seat vacated by a recusal waits for its alternate (or a new ceremony)."""
    return s.state is State.DRAWING or (
        s.state is State.CHECKING_IN and any(x.expert_id is None for x in s.seats))


def _require_drawing(s: Session, action: str) -> None:
    if not _draws(s):
        raise InvalidTransition(
            f"cannot {action}: session is {m.state_label(s)}",
            state=m.state_label(s), command="draw")


def ceremony_id(session_id: str, number: int) -> str:
    """The id a ceremony's commitments and seed are bound to: ``{session}#{n}``."""
    return f"{session_id}#{number}"


def _undated(rules: Any) -> dict[str, Any]:
    doc = dict(rules)
    doc["draw"] = {k: v for k, v in dict(doc.get("draw", {})).items() if k != "date"}
    return doc


def _terms_sha256(document: Any, timeout: _dt.timedelta) -> str:
    """Digest of what a later ceremony must keep: the rules but their date (a re-draw
    may fall on another day) and the invitation timeout."""
    return canonical_sha256({"rules": _undated(document),
                             "invitation_timeout_seconds": int(timeout.total_seconds())})


def _party(p: Principal) -> str:
    if p.role == "supervisor":
        return SUPERVISOR_PARTY
    if p.role == "operator" and p.venue:
        return p.venue
    raise Forbidden("only venue operators and the supervisor take part in the ceremony")


def _open_ceremony(s: Session, p: Principal, st: DrawState | None) -> tuple[
        cer.CeremonyState, DrawState]:
    if not can_see(s, p):
        raise NotFound(f"no session {s.id!r}")
    _require_drawing(s, "take part in the ceremony")
    if st is None or st.ceremony is None:
        raise Conflict("no draw ceremony is open for this session")
    return st.ceremony, st


def _parties(s: Session, rules_doc: Mapping[str, Any]) -> list[str]:
    """A ceremony's parties: the session's venues the rules name, and the supervisor."""
    named = {str(v.get("id")) for v in rules_doc.get("venues", []) if isinstance(v, Mapping)}
    return [v.id for v in s.venues if v.id in named] + [SUPERVISOR_PARTY]


def _opened(st: DrawState, snap: xstore.Snapshot) -> dict[str, Any]:
    """The ``draw.opened`` payload of the ceremony ``st`` just opened over ``snap``."""
    c = st.ceremony
    assert c is not None
    return {
        "ceremony": st.number,
        "rules": st.rules,
        "rules_sha256": st.rules_sha256,
        "pool_sha256": snap.sha256,
        "pool_size": snap.size,
        "excluded": len(snap.excluded),
        "parties": list(c.parties),
        "commit_deadline": c.commit_deadline.isoformat(),
        "reveal_deadline": c.reveal_deadline.isoformat(),
        "minimum": c.minimum,
        "seat_map": list(st.seat_map),
        "invitation_timeout_seconds": int(st.timeout.total_seconds()),
        "ceremony_id": c.session_id,
        "last": c.last,
        "terms_sha256": st.terms_sha256,
    }


def _exhausted(st: DrawState) -> tuple[int, ...]:
    return st.book.exhausted if st.book is not None else ()


def _invitation_event(st: DrawState, i: inv.Invitation) -> m.Event:
    kind = {"pending": "sent"}.get(i.status, i.status)
    return m.Event(f"invitation.{kind}", {
        "seat": st.seat_map[i.seat],
        "venue_id": st.seat_venues[i.seat],
        "expert_id": i.expert_id,
        "rank": i.rank,
        "deadline": i.deadline.isoformat(),
        "reason": i.reason,
    })


def _exhaustion_events(st: DrawState, before: tuple[int, ...]) -> list[m.Event]:
    # The operator is told (an event, and the draw status): a new ceremony draws the seat.
    return [
        m.Event("draw.seat_exhausted", {
            "seat": st.seat_map[b], "venue_id": st.seat_venues[b],
            "message": f"seat {st.seat_map[b]} has no alternate left: open a new draw"
                       " ceremony for it"})
        for b in _exhausted(st) if b not in before
    ]


def _seat_status(book: inv.InvitationBook | None, b: int) -> tuple[str, inv.Invitation | None]:
    if book is None:
        return "waiting", None
    holder = next((i for i in reversed(book.invitations)
                   if i.seat == b and i.status in ("pending", "accepted")), None)
    if holder is not None:
        return ("confirmed" if holder.status == "accepted" else "invited"), holder
    if b in book.exhausted:
        return "exhausted", None
    return "waiting", None


def draw_view_for(
    s: Session, st: DrawState | None, p: Principal, *, now: _dt.datetime
) -> dict[str, Any]:
    """The draw status document as ``p`` (operator or supervisor) may see it."""
    # The approval waiting to be used by the next ceremony (docs/draw.md §6.8), for the
    # supervisor who gave it and the primary who needs it — so neither asks twice.
    sees_approval = p.role == "supervisor" or (p.role == "operator" and p.venue == s.primary.id)
    approval = dict(st.approval) if st is not None and st.approval and sees_approval else None
    if st is None or st.number == 0:
        return {"session_id": s.id, "phase": "none", "seats": [], "approval": approval}
    c = st.ceremony
    phase = ("ceremony" if c is not None else "failed" if st.book is None
             else "complete" if len(inv.seated(st.book)) == len(st.book.candidates)
             else "inviting")
    seats = []
    for b, index in enumerate(st.seat_map):
        venue = st.seat_venues[b]
        status, holder = _seat_status(st.book, b)
        # An operator never sees who sits at another venue (四不知), and its own
        # venue's experts only once they accept (docs/draw.md §6.6).
        sees = p.role == "supervisor" or (p.venue == venue and status == "confirmed")
        seats.append({
            "seat": index,
            "venue_id": venue,
            "status": status,
            "expert_id": (holder.expert_id if holder and sees else None),
            "rank": holder.rank if holder else None,
            "deadline": holder.deadline.isoformat() if holder and status == "invited" else None,
            "masked": holder is not None and not sees,
        })
    doc: dict[str, Any] = {
        "session_id": s.id,
        "phase": phase,
        "ceremony_number": st.number,
        "rules_sha256": st.rules_sha256,
        "pool_sha256": st.pool_sha256 if sees_draw_inputs(s, p) else None,
        "invitation_timeout_seconds": int(st.timeout.total_seconds()),
        "failure": st.failure,
        "exhausted": [st.seat_map[b] for b in _exhausted(st)],
        "seats": seats,
        "now": now.isoformat(),
        "approval": approval,
    }
    if c is not None:
        doc["ceremony"] = {
            "parties": list(c.parties),
            "commit_deadline": c.commit_deadline.isoformat(),
            "reveal_deadline": c.reveal_deadline.isoformat(),
            "minimum": c.minimum,
            "committed": [x.party for x in c.commitments],
            "revealed": [x.party for x in c.reveals],
        }
    if p.role == "supervisor" or (p.role == "operator" and p.venue == s.primary.id):
        doc["rules"] = dict(st.rules)  # names the tenderer and bidders: the project
    return doc
