"""Session use-cases: load, authorise, call the core, write state + events, then publish.

Every mutation runs as one function in one database transaction
(:meth:`evalsvc.db.Database.write`): the session row is locked, the idempotency key is
checked, the core decides, :func:`~evalsvc.sessions.store.record` writes the new state
and its events, and the response is stored under the key. Events are published to the
bus only after the commit returned — nothing is broadcast that was not written down.
"""

from __future__ import annotations

__all__ = ["Result", "SessionService"]

import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from evalsvc.audit.service import AuditService
from evalsvc.audit.witnessing import WitnessCollector
from evalsvc.auth import Principal
from evalsvc.canonical import canonical_bytes, storage_sha256
from evalsvc.db import Database
from evalsvc.errors import Conflict, Forbidden, IdempotencyConflict, InvalidInput, InvalidTransition
from evalsvc.sessions import machine as m
from evalsvc.sessions import schemas, store
from evalsvc.sessions.access import (
    can_see,
    redact_event,
    require_expert_seat,
    require_primary_operator,
    require_seat_operator,
    require_visible,
    sees_project,
    view_session,
)
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.model import (
    ScoringRules,
    Session,
    Stage,
    State,
    new_session,
    parse_bid,
    parse_criterion,
)
from evalsvc.sessions.report import report_document, report_sha256
from evalsvc.sessions.scoring import aggregate, aggregation_to_doc, parse_sheet, sheet_to_doc

# Commands that move the session on past a milestone (pause, resume and abort never wait).
_ADVANCING = frozenset(
    {
        "start_check_in",
        "start_evaluation",
        "lock_qualification",
        "lock_scoring",
        "start_report",
        "seal",
    }
)
_RESULT_STATES = (State.AGGREGATING, State.REPORTING, State.SEALED)
MAX_EVENTS_PAGE = 1000


@dataclass(frozen=True)
class Result:
    """What a mutation answers: HTTP-ish status, the response document, replay flag."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


Mutation = Callable[[Connection, Session, Principal], tuple[Session, list[m.Event], dict[str, Any]]]
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


class SessionService:
    """The session use-cases over one :class:`~evalsvc.db.Database`."""

    def __init__(
        self,
        db: Database,
        *,
        clock_ms: Callable[[], int],
        new_id: Callable[[], str],
        bus: LocalBus,
        defaults: ScoringRules,
        audit: AuditService | None = None,
        witnesses: WitnessCollector | None = None,
    ) -> None:
        self.db = db
        self.clock_ms = clock_ms
        self.new_id = new_id
        self.bus = bus
        self.defaults = defaults
        self.audit = audit
        self.witnesses = witnesses
        self.sheet_signatures: SheetSignatures | None = None  # set by create_app
        self.report_signatures: DocumentSignatures | None = None  # set by create_app

    # --- plumbing -----------------------------------------------------------------------

    def _publish(self, session_id: str, events: list[store.StoredEvent]) -> None:
        if events:
            if self.audit is not None:
                self.audit.mark_dirty(session_id)
            # The committed events ride along so the hub can fan out without re-reading
            # them (it still reads the table whenever it is not exactly in step).
            self.bus.publish(session_id, events[-1].seq, events)

    async def _mutate(
        self,
        p: Principal,
        session_id: str,
        *,
        key: str | None,
        request: dict[str, Any],
        status: int,
        mutation: Mutation,
    ) -> Result:
        request_hash = storage_sha256(request)
        now_ms = self.clock_ms()

        def tx(conn: Connection) -> tuple[Result, list[store.StoredEvent]]:
            session, last = store.load_session(conn, session_id, for_update=True)
            require_visible(session, p)
            if key is not None:
                seen = store.find_idempotent(conn, actor=p.actor, key=key)
                if seen is not None:
                    return _replay(seen, request_hash, key), []
            new, events, body = mutation(conn, session, p)
            stored = store.record(
                conn,
                new,
                events,
                base_seq=last,
                actor=p.actor,
                venue=p.venue,
                now_ms=now_ms,
                changed=new is not session,
            )
            if self.audit is not None and stored:
                # A milestone commits together with the checkpoint that covers it.
                self.audit.milestone(
                    conn, session_id, [(e.type, e.payload) for e in stored], size=stored[-1].seq
                )
            body = {**body, "seq": stored[-1].seq if stored else last}
            if key is not None:
                store.save_idempotent(
                    conn,
                    actor=p.actor,
                    key=key,
                    session_id=session_id,
                    request_sha256=request_hash,
                    status=status,
                    response=body,
                    now_ms=now_ms,
                )
            return Result(status, body), stored

        result, stored = await self.db.write(tx, key=session_id)
        self._publish(session_id, stored)
        return result

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
        now_ms = self.clock_ms()
        session = new_session(
            body.model_dump(), session_id=self.new_id(), now=now_ms // 1000, defaults=self.defaults
        )
        request_hash = storage_sha256({"op": "create", "body": data})
        events = [
            m.Event(
                "session.created",
                {
                    "title": session.title,
                    "tenderer": session.tenderer,
                    "method": session.method.value,
                    "venues": [v.id for v in session.venues],
                },
            )
        ]
        events += [m.Event("bid.added", {"bid": m._bid_doc(b)}) for b in session.bids]
        events += [
            m.Event("criterion.added", {"criterion": m._crit_doc(c)}) for c in session.criteria
        ]

        def tx(conn: Connection) -> tuple[Result, list[store.StoredEvent]]:
            if key is not None:
                seen = store.find_idempotent(conn, actor=p.actor, key=key)
                if seen is not None:
                    return _replay(seen, request_hash, key), []
            store.insert_session(conn, session, now_ms=now_ms)
            stored = store.record(
                conn, session, events, base_seq=0, actor=p.actor, venue=p.venue, now_ms=now_ms
            )
            doc = view_session(session, p, last_seq=stored[-1].seq)
            if key is not None:
                store.save_idempotent(
                    conn,
                    actor=p.actor,
                    key=key,
                    session_id=session.id,
                    request_sha256=request_hash,
                    status=201,
                    response=doc,
                    now_ms=now_ms,
                )
            return Result(201, doc), stored

        result, stored = await self.db.write(tx, key=session.id)
        self._publish(session.id, stored)
        return result

    async def get(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The session as ``p`` may see it."""
        session, last = await self.db.read(lambda c: store.load_session(c, session_id))
        require_visible(session, p)
        return view_session(session, p, last_seq=last)

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
            p,
            session_id,
            data,
            key=key,
            op="bid",
            action="register bids",
            command=m.AddBid(bid),
            body={"bid": m._bid_doc(bid)},
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
            body={"criterion": m._crit_doc(crit)},
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
        command: m.Command,
        body: dict[str, Any],
    ) -> Result:
        def mutation(
            conn: Connection, s: Session, p: Principal
        ) -> tuple[Session, list[m.Event], dict[str, Any]]:
            require_primary_operator(s, p, action)
            new, events = m.apply(s, command, self.clock_ms() // 1000)
            return new, events, body

        return await self._mutate(
            p,
            session_id,
            key=key,
            request={"op": op, "body": data},
            status=201,
            mutation=mutation,
        )

    async def command(self, p: Principal, session_id: str, data: Any, *, key: str | None) -> Result:
        """Run a lifecycle command (see :mod:`evalsvc.sessions.machine`)."""
        cmd = schemas.parse_command(data)
        name: str = cmd.command
        if name == "sign_report":
            return await self._sign_report(p, session_id, cmd, data, key=key)

        def mutation(
            conn: Connection, s: Session, p: Principal
        ) -> tuple[Session, list[m.Event], dict[str, Any]]:
            core = _authorised_command(conn, s, p, cmd)
            if name in _ADVANCING and self.witnesses is not None:
                # The venues must have cosigned the last milestone before it moves on.
                self.witnesses.require_quorum(
                    conn, s.id, [v.id for v in s.venues if not v.primary], name.replace("_", " ")
                )
            new, events = m.apply(s, core, self.clock_ms() // 1000)
            return (
                new,
                events,
                {
                    "command": name,
                    "state": new.state.value,
                    "stage": new.stage.value if new.stage else None,
                },
            )

        return await self._mutate(
            p,
            session_id,
            key=key,
            request={"op": "command", "body": data},
            status=200,
            mutation=mutation,
        )

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
                if key is not None and store.find_idempotent(conn, actor=p.actor, key=key):
                    return None  # a retry: _mutate answers what was answered the first time
                s, _ = store.load_session(conn, session_id)
                require_visible(s, p)
                require_expert_seat(s, p, "sign the report")
                if s.state is not State.REPORTING:
                    raise InvalidTransition(
                        f"cannot sign_report: session is {m.state_label(s)}",
                        state=m.state_label(s),
                        command="sign_report",
                    )
                return _report_of(conn, s)

            current = await self.db.read(read)
            if current is not None:
                _same_report(cmd.report_sha256, report_sha256(current))
                signed = await self.report_signatures(p, current, cmd.signature, cmd.certificate)

        def mutation(
            conn: Connection, s: Session, p: Principal
        ) -> tuple[Session, list[m.Event], dict[str, Any]]:
            seat = require_expert_seat(s, p, "sign the report")
            digest = None
            if s.state is State.REPORTING:  # otherwise the machine refuses the command
                digest = report_sha256(_report_of(conn, s))
                _same_report(cmd.report_sha256, digest)
                if signed is not None:
                    _same_report(hashlib.sha256(signed[0]).hexdigest(), digest)
            record = signed[1] if signed is not None else None
            new, events = m.apply(
                s, m.SignReport(seat.index, digest, record), self.clock_ms() // 1000
            )
            return (
                new,
                events,
                {
                    "command": "sign_report",
                    "state": new.state.value,
                    "stage": None,
                    "report_sha256": digest,
                    "signed": record is not None,
                },
            )

        return await self._mutate(
            p,
            session_id,
            key=key,
            request={"op": "command", "body": data},
            status=200,
            mutation=mutation,
        )

    async def report(self, p: Principal, session_id: str) -> dict[str, Any]:
        """The final report to sign (and, once sealed, the report as signed)."""

        def tx(conn: Connection) -> tuple[Session, int, dict[str, Any]]:
            s, last = store.load_session(conn, session_id)
            require_visible(s, p)
            state = s.paused.from_state if s.paused else s.state
            if state not in (State.REPORTING, State.SEALED):
                raise Conflict(
                    "the report exists once the committee has started it "
                    f"(session is {m.state_label(s)})"
                )
            return s, last, _report_of(conn, s)

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
        # The shape is checked by parse_sheet in the transaction (it needs the session's
        # bids and criteria anyway); schemas.SheetIn documents it in the OpenAPI.
        request_hash = storage_sha256({"op": "sheet", "body": data})
        signed: bytes | None = None
        signature: dict[str, Any] | None = None
        if self.sheet_signatures is not None:
            data, signed, signature = await self.sheet_signatures(p, data)
        now_ms = self.clock_ms()

        tx = _SheetSubmission(p, session_id, data, key, request_hash, signed, signature, now_ms)
        result, stored = await self.db.write(tx, key=session_id)
        self._publish(session_id, stored)
        return result

    async def aggregation(self, p: Principal, session_id: str) -> dict[str, Any]:
        """Committee result, once scoring is locked."""

        def tx(conn: Connection) -> tuple[Session, int, list[Any]]:
            s, last = store.load_session(conn, session_id)
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
        """Which seats have submitted which stage (never the contents)."""

        def tx(conn: Connection) -> tuple[Session, dict[str, dict[int, int]], list[dict[str, Any]]]:
            s, _ = store.load_session(conn, session_id)
            require_visible(s, p)
            own: list[dict[str, Any]] = []
            if p.role == "expert":
                seat = s.seat_of(p.subject)
                if seat is not None:
                    own = store.own_sheets(conn, session_id, seat.index)
            return s, store.sheet_progress(conn, session_id), own

        s, prog, own = await self.db.read(tx)
        return {
            "state": s.state.value,
            "stage": s.stage.value if s.stage else None,
            "seats": [
                {
                    "seat": x.index,
                    "venue_id": x.venue_id,
                    "checked_in": x.checked_in,
                    "versions": {
                        st: prog.get(st, {}).get(x.index, 0) for st in ("qualification", "scoring")
                    },
                }
                for x in s.seats
            ],
            "own_sheets": own,
        }

    async def events(
        self, p: Principal, session_id: str, *, after: int, limit: int, wait: float
    ) -> dict[str, Any]:
        """Events after ``after`` as ``p`` may see them; long-polls up to ``wait`` seconds."""
        limit = max(1, min(limit, MAX_EVENTS_PAGE))

        def tx(conn: Connection) -> tuple[Session, int, list[store.StoredEvent]]:
            s, last = store.load_session(conn, session_id)
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


def _report_of(conn: Connection, s: Session) -> dict[str, Any]:
    """The report document of ``s`` (its scoring sheets are locked by now)."""
    return report_document(s, aggregate(s, store.latest_sheets(conn, s.id, Stage.SCORING.value)))


def _same_report(signed_sha256: str | None, current_sha256: str) -> None:
    if signed_sha256 is not None and signed_sha256 != current_sha256:
        raise Conflict(
            "the report has changed since you read it (a dissent was recorded): "
            "read it again and sign the new version"
        )


class _SheetSubmission:
    """The transaction of one score sheet (:meth:`SessionService.submit_sheet`).

    Called, it is a transaction function like any other. On PostgreSQL the writer may
    instead run a group of them step by step (:class:`evalsvc.db.Batchable`): every
    request's row lock and reads in one round trip, then every write in another.
    """

    def __init__(
        self,
        p: Principal,
        session_id: str,
        data: Any,
        key: str,
        request_hash: str,
        signed: bytes | None,
        signature: dict[str, Any] | None,
        now_ms: int,
    ) -> None:
        self.p = p
        self.session_id = session_id
        self.data = data
        self.key = key
        self.request_hash = request_hash
        self.signed = signed
        self.signature = signature
        self.now_ms = now_ms
        self._reads: Callable[[], tuple[Session, int, store.SubmissionReads]] | None = None
        self._planned: tuple[Result, dict[str, Any] | None] | None = None
        self._written: Callable[[], list[store.StoredEvent]] | None = None

    def __call__(self, conn: Connection) -> tuple[Result, list[store.StoredEvent]]:
        # The row lock, then everything else this needs from the database: a response
        # already given under this key, the seat's latest version, audit-log hashes.
        result, write = self._plan(*store.load_for_submission(conn, **self._reads_args()))
        return result, store.record(conn, **write) if write is not None else []

    # --- evalsvc.db.Batchable -----------------------------------------------------------

    def send_reads(self, conn: Connection, *, wait: bool) -> None:
        self._reads = store.send_submission_reads(conn, **self._reads_args(), wait=wait)

    def plan(self, conn: Connection) -> None:
        assert self._reads is not None
        self._planned = self._plan(*self._reads())

    def send_writes(self, conn: Connection) -> None:
        assert self._planned is not None
        write = self._planned[1]
        if write is not None:
            self._written = store.send_record(conn, **write, pipelined=True)

    def result(self) -> tuple[Result, list[store.StoredEvent]]:
        assert self._planned is not None
        return self._planned[0], self._written() if self._written is not None else []

    # ------------------------------------------------------------------------------------

    def _reads_args(self) -> dict[str, Any]:
        p = self.p
        return {
            "session_id": self.session_id,
            "actor": p.actor,
            "key": self.key,
            "expert_id": p.subject if p.role == "expert" else None,
        }

    def _plan(
        self, s: Session, last: int, reads: store.SubmissionReads
    ) -> tuple[Result, dict[str, Any] | None]:
        """Decide from what was read: the response, and what :func:`store.record` writes
        (None: a replay, nothing to write)."""
        p, now_ms = self.p, self.now_ms
        require_visible(s, p)
        if reads.replay is not None:
            return _replay(reads.replay, self.request_hash, self.key), None
        seat = require_expert_seat(s, p, "submit a score sheet")
        if s.state is not State.EVALUATING:
            raise InvalidTransition(
                f"cannot submit_sheet: session is {m.state_label(s)}",
                state=m.state_label(s),
                command="submit_sheet",
            )
        sheet = parse_sheet(s, seat=seat.index, doc=self.data)
        if self.signed is not None and canonical_bytes(sheet_to_doc(sheet)) != self.signed:
            # The signature must cover the stored document, so that the event's sha256
            # is the hash of exactly the bytes signed (docs/pki.md "Signed sheets").
            raise InvalidInput(
                "the signed sheet is not in canonical form: sign the RFC 8785 bytes of "
                '{"stage", "bids"} with every score as a decimal string',
                field="signature",
            )
        # parse_sheet checked the sheet is for the session's stage (the one read).
        version = reads.latest_version + 1
        row, digest = store.sheet_row(
            sheet,
            session_id=s.id,
            expert_id=p.subject,
            version=version,
            seq=last + 1,
            now_ms=now_ms,
        )
        signature = self.signature
        event = m.Event(
            "sheet.submitted",
            {
                "seat": seat.index,
                "stage": sheet.stage.value,
                "version": version,
                "sha256": digest,
                **({"signature": signature} if signature is not None else {}),
            },
        )
        body = {
            "seat": seat.index,
            "stage": sheet.stage.value,
            "version": version,
            "sha256": digest,
            "seq": last + 1,
        }
        key_row = store.idempotency_row(
            actor=p.actor,
            key=self.key,
            session_id=s.id,
            request_sha256=self.request_hash,
            status=201,
            response=body,
            now_ms=now_ms,
        )
        write = {
            "session": s,
            "events": [event],
            "base_seq": last,
            "actor": p.actor,
            "venue": p.venue,
            "now_ms": now_ms,
            "changed": False,
            "nodes": reads.nodes,
            "rows": (row, key_row),
        }
        return Result(201, body), write


def _replay(seen: tuple[str, int, Any], request_hash: str, key: str) -> Result:
    stored_hash, status, body = seen
    if stored_hash != request_hash:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used with a different request body"
        )
    return Result(status, body, replayed=True)


def _authorised_command(conn: Connection, s: Session, p: Principal, cmd: Any) -> m.Command:
    """Check ``p`` may run ``cmd`` here and build the core command (lock commands
    read the latest sheets in the caller's transaction)."""
    name = cmd.command
    if name == "check_in":
        if not 0 <= cmd.seat < len(s.seats):
            raise InvalidInput(
                f"no seat {cmd.seat}: the committee has {len(s.seats)} seats", field="seat"
            )
        require_seat_operator(s, p, s.seats[cmd.seat], "check in")
        return m.CheckIn(cmd.seat)
    if name in ("explain_deviation", "record_dissent", "sign_report"):
        seat = require_expert_seat(s, p, name.replace("_", " "))
        if name == "explain_deviation":
            return m.ExplainDeviation(seat.index, cmd.bid_id, cmd.text)
        if name == "record_dissent":
            return m.RecordDissent(seat.index, cmd.text)
        return m.SignReport(seat.index)
    if name == "pause":
        if not (p.role == "supervisor" or (p.role == "operator" and s.venue(p.venue or ""))):
            raise Forbidden("only a participating venue's operator or a supervisor may pause")
        return m.Pause(cmd.reason)
    if name == "abort":
        if p.role != "supervisor":
            require_primary_operator(s, p, "abort the session")
        return m.Abort(cmd.reason)
    require_primary_operator(s, p, name.replace("_", " "))
    simple: dict[str, m.Command] = {
        "open_draw": m.OpenDraw(),
        "complete_draw": m.CompleteDraw(),
        "start_check_in": m.StartCheckIn(),
        "start_evaluation": m.StartEvaluation(),
        "start_report": m.StartReport(),
        "seal": m.Seal(),
        "resume": m.Resume(),
    }
    if name in simple:
        return simple[name]
    if name == "assign_seat":
        # Once a draw ceremony is opened, only the draw seats experts (when they confirm).
        from evalsvc.experts.store import load_draw  # experts builds on sessions

        if load_draw(conn, s.id) is not None:
            raise Conflict(
                "this session's seats are filled by its draw ceremony; "
                "manual assignment is refused while a draw exists"
            )
        return m.AssignSeat(cmd.seat, cmd.expert_id, cmd.expert_name)
    if name in ("lock_qualification", "lock_scoring"):
        stage = Stage.QUALIFICATION if name == "lock_qualification" else Stage.SCORING
        if s.state is not State.EVALUATING or s.stage is not stage:
            raise InvalidTransition(
                f"cannot {name}: session is {m.state_label(s)}",
                state=m.state_label(s),
                command=name,
            )
        sheets = tuple(store.latest_sheets(conn, s.id, stage.value))
        return (
            m.LockQualification(sheets) if stage is Stage.QUALIFICATION else m.LockScoring(sheets)
        )
    raise InvalidInput(f"unknown command {name!r}", field="command")  # pragma: no cover
