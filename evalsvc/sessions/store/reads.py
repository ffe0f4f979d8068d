"""What the session store reads: synchronous functions of a SQLAlchemy ``Connection``,
run in a transaction opened by :class:`evalsvc.db.Database` on a worker thread."""

from __future__ import annotations

__all__ = [
    "Frontiers",
    "SessionDocs",
    "StoredEvent",
    "alert_checks",
    "alert_history",
    "find_idempotent",
    "latest_sheets",
    "list_events",
    "list_sessions",
    "load_session",
    "own_sheets",
    "parse_snapshot_reads",
    "sessions_in_state",
    "sheet_openings",
    "sheet_progress",
]

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.audit.leaf import seal_event
from evalsvc.errors import NotFound
from evalsvc.sessions.model import Session, Sheet, Stage, State, session_from_doc
from evalsvc.sessions.scoring import sheet_from_doc
from evalsvc.sessions.store.sql import run
from evalsvc.sessions.tables import EventRow, SessionRow, SheetRow
from evalsvc.sessions.transitions import SheetOpening, StoredResponse

_S = cast(sa.Table, SessionRow.__table__)  # type: ignore[attr-defined]
_E = cast(sa.Table, EventRow.__table__)  # type: ignore[attr-defined]
_SH = cast(sa.Table, SheetRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: its session, seq, who and when."""

    session_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    actor: str
    venue: str | None
    time_ms: int

    def seal(self, salt: Callable[[], bytes]) -> tuple[bytes, bytes]:
        """(entry, leaf) of this event in the audit log, each field salted with a fresh
        ``salt()`` (:func:`evalsvc.audit.leaf.seal_event`)."""
        return seal_event(
            session_id=self.session_id,
            seq=self.seq,
            venue=self.venue,
            actor=self.actor,
            action=self.type,
            payload=self.payload,
            time_ms=self.time_ms,
            salt=salt,
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "type": self.type,
            "payload": self.payload,
            "actor": self.actor,
            "venue": self.venue,
            "time_ms": self.time_ms,
        }


class SessionDocs:
    """Parsed session documents by id, kept while the stored text is unchanged (a score
    sheet does not change it). Owned by the unit of work of one app, not the module."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._parsed: dict[str, tuple[str, Session]] = {}

    def parse(self, session_id: str, text: str) -> Session:
        """The session stored as ``text`` (parsed again only when the text changed)."""
        hit = self._parsed.get(session_id)
        if hit is not None and hit[0] == text:
            return hit[1]
        session = session_from_doc(json.loads(text))
        if len(self._parsed) > self._size:
            self._parsed.clear()
        self._parsed[session_id] = (text, session)
        return session

    def last(self, session_id: str) -> Session | None:
        """The last parse of ``session_id`` (a guess: it may be stale)."""
        hit = self._parsed.get(session_id)
        return hit[1] if hit else None

    def forget(self, session_id: str) -> None:
        self._parsed.pop(session_id, None)


class Frontiers:
    """The audit-log hashes appending to each session's log reads (its frontier: the
    perfect subtrees and the last leaf), as the batched driver last *committed* them,
    by session and log size. A log only grows, so (session, size) names them; the
    driver still reads the last leaf's hash and uses an entry only when it matches
    (a database replaced under the server, another process on the file). Owned by the
    unit of work of one app, not the module; used by its one SQLite writer thread."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._by: dict[str, tuple[int, dict[tuple[int, int], bytes]]] = {}

    def get(self, session_id: str, size: int) -> dict[tuple[int, int], bytes] | None:
        hit = self._by.get(session_id)
        return hit[1] if hit is not None and hit[0] == size else None

    def put(self, entries: Sequence[tuple[str, int, dict[tuple[int, int], bytes]]]) -> None:
        """After COMMIT: each (session, size, hashes) written."""
        if len(self._by) + len(entries) > self._size:
            self._by.clear()
        for session_id, size, hashes in entries:
            self._by[session_id] = (size, hashes)

    def forget(self, session_id: str) -> None:
        self._by.pop(session_id, None)


def load_session(
    conn: Connection,
    session_id: str,
    *,
    for_update: bool = False,
    docs: SessionDocs | None = None,
) -> tuple[Session, int]:
    """The session and its last seq; ``for_update`` row-locks it (PostgreSQL)."""
    row = run(conn, "load_for_update" if for_update else "load", (session_id,)).fetchone()
    if row is None:
        raise NotFound(f"no session {session_id!r}")
    if docs is not None:
        return docs.parse(session_id, row[0]), int(row[1])
    return session_from_doc(json.loads(row[0])), int(row[1])


def list_events(conn: Connection, session_id: str, *, after: int, limit: int) -> list[StoredEvent]:
    """Events with seq > ``after``, oldest first, at most ``limit``."""
    rows = conn.execute(
        sa.select(_E.c.seq, _E.c.type, _E.c.payload, _E.c.actor, _E.c.venue, _E.c.time_ms)
        .where(_E.c.session_id == session_id, _E.c.seq > after)
        .order_by(_E.c.seq)
        .limit(limit)
    ).all()
    return [StoredEvent(session_id, r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]


def list_sessions(conn: Connection) -> list[tuple[Session, int]]:
    """Every session with its last seq, newest first."""
    rows = conn.execute(sa.select(_S.c.doc, _S.c.last_seq).order_by(_S.c.created_at.desc())).all()
    return [(session_from_doc(json.loads(r[0])), int(r[1])) for r in rows]


def sessions_in_state(conn: Connection, state: str) -> list[Session]:
    """Every session in ``state`` (the handover deadlines read the sealed ones)."""
    rows = conn.execute(sa.select(_S.c.doc).where(_S.c.state == state)).all()
    return [session_from_doc(json.loads(r[0])) for r in rows]


def latest_sheets(
    conn: Connection, session_id: str, stage: str, *, void: Iterable[tuple[int, str]] = ()
) -> list[Sheet]:
    """The latest version of each seat's sheet for ``stage``; for ``scoring``, of each
    scoring stage the session has (``scoring``, or ``technical`` and ``commercial``:
    what :func:`evalsvc.sessions.scoring.aggregate` reads) — none for a seat whose
    latest sheet is one of ``void`` ((seat, expert id): a member who left the
    committee; the next member's sheet is a later version of the seat)."""
    stages = ["scoring", "technical", "commercial"] if stage == "scoring" else [stage]
    latest = (
        sa.select(_SH.c.seat, _SH.c.stage, sa.func.max(_SH.c.version).label("v"))
        .where(_SH.c.session_id == session_id, _SH.c.stage.in_(stages))
        .group_by(_SH.c.seat, _SH.c.stage)
        .subquery()
    )
    rows = conn.execute(
        sa.select(_SH.c.seat, _SH.c.doc, _SH.c.expert_id)
        .join(latest, sa.and_(_SH.c.seat == latest.c.seat, _SH.c.stage == latest.c.stage,
                              _SH.c.version == latest.c.v))
        .where(_SH.c.session_id == session_id, _SH.c.stage.in_(stages))
        .order_by(_SH.c.seat, _SH.c.stage)
    ).all()
    gone = set(void)
    return [sheet_from_doc(r[0], json.loads(r[1])) for r in rows
            if (int(r[0]), r[2]) not in gone]


def sheet_openings(conn: Connection, session_id: str, stage: str) -> list[SheetOpening]:
    """Every version of every seat's sheet at ``stage``, with what opens its commitment."""
    rows = conn.execute(
        sa.select(_SH.c.seat, _SH.c.version, _SH.c.doc, _SH.c.salt, _SH.c.signature)
        .where(_SH.c.session_id == session_id, _SH.c.stage == stage)
        .order_by(_SH.c.seat, _SH.c.version)
    ).all()
    return [
        SheetOpening(int(r[0]), int(r[1]), r[2], r[3], json.loads(r[4]) if r[4] else None)
        for r in rows
    ]


def sheet_progress(
    conn: Connection, session_id: str, *, void: Iterable[tuple[int, str]] = ()
) -> dict[str, dict[int, int]]:
    """stage → seat → number of versions submitted (no contents); the sheets of the
    members in ``void`` ((seat, expert id), who left a re-formed committee) not counted."""
    rows = conn.execute(
        sa.select(_SH.c.stage, _SH.c.seat, _SH.c.expert_id, sa.func.max(_SH.c.version))
        .where(_SH.c.session_id == session_id)
        .group_by(_SH.c.stage, _SH.c.seat, _SH.c.expert_id)
    ).all()
    gone = set(void)
    out: dict[str, dict[int, int]] = {}
    for stage, seat, expert, v in rows:
        if (int(seat), expert) in gone:
            continue
        by_seat = out.setdefault(stage, {})
        by_seat[int(seat)] = max(by_seat.get(int(seat), 0), int(v))
    return out


def own_sheets(
    conn: Connection, session_id: str, seat: int | None, *, expert_id: str | None = None
) -> list[dict[str, Any]]:
    """Every version of one seat's sheets (for that expert: ``expert_id``, so a member
    who took a re-formed committee's seat never sees the sheets of the one who left),
    or of every seat's (None: for supervisors), with what opens each commitment."""
    where = [_SH.c.session_id == session_id]
    if seat is not None:
        where.append(_SH.c.seat == seat)
    if expert_id is not None:
        where.append(_SH.c.expert_id == expert_id)
    rows = conn.execute(
        sa.select(
            _SH.c.seat,
            _SH.c.stage,
            _SH.c.version,
            _SH.c.doc,
            _SH.c.sha256,
            _SH.c.seq,
            _SH.c.submitted_ms,
            _SH.c.commitment,
            _SH.c.salt,
            _SH.c.signature,
        )
        .where(*where)
        .order_by(_SH.c.seat, _SH.c.stage, _SH.c.version)
    ).all()
    return [
        {
            "seat": r[0],
            "stage": r[1],
            "version": r[2],
            "sheet": json.loads(r[3]),
            "sha256": r[4],
            "seq": r[5],
            "submitted_ms": r[6],
            "commitment": r[7],
            "salt": r[8],
            "signature": json.loads(r[9]) if r[9] else None,
        }
        for r in rows
    ]


def find_idempotent(
    conn: Connection, *, actor: str, session: str, route: str, key: str
) -> StoredResponse | None:
    """The response stored for this actor's key in this session and route, if any."""
    row = run(conn, "find_key", (actor, session, route, key)).fetchone()
    if row is None:
        return None
    return StoredResponse(row[0], int(row[1]), json.loads(row[2]))


@dataclass(frozen=True)
class SnapshotReads:
    """What a change reads in one statement once it holds the session's row lock."""

    replay: StoredResponse | None
    sheet_version: int  # of the seat's sheet at the stage (0: none yet)
    nodes: dict[tuple[int, int], bytes]  # audit-log hashes appending at last_seq needs


def parse_snapshot_reads(rows: Sequence[Any]) -> SnapshotReads:
    """The rows of :func:`evalsvc.sessions.store.sql.snapshot_reads_sql`."""
    replay: StoredResponse | None = None
    latest = 0
    nodes: dict[tuple[int, int], bytes] = {}
    for kind, n1, n2, text, response, blob in rows:
        if kind == 0:
            replay = StoredResponse(text, int(n1), json.loads(response))
        elif kind == 1:
            latest = int(n1 or 0)
        elif kind == 2 and blob is not None:
            nodes[(int(n1), int(n2))] = bytes(blob)
    return SnapshotReads(replay, latest, nodes)


ALERTS_EVENT = "alerts.checked"


def alert_checks(conn: Connection, *, session_id: str | None = None,
                 types: tuple[str, ...] = (ALERTS_EVENT,)) -> list[StoredEvent]:
    """The ``alerts.checked`` events (evalsvc.analysis) — or those of ``types`` — oldest
    first: of one session, or of every session (an expert's review record and history
    read them all: there is no index on the event type, so this scans the events table
    — fine while check points are four per session; docs/alerts.md "Known limits")."""
    q = sa.select(_E.c.session_id, _E.c.seq, _E.c.type, _E.c.payload, _E.c.actor, _E.c.venue,
                  _E.c.time_ms).where(_E.c.type.in_(types))
    if session_id is not None:
        q = q.where(_E.c.session_id == session_id)
    rows = conn.execute(q.order_by(_E.c.time_ms, _E.c.session_id, _E.c.seq)).all()
    return [StoredEvent(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]


def alert_history(conn: Connection, session: Session) -> dict[str, Any]:
    """What a check point of ``session`` reads (evalsvc.analysis.check): the session's
    events so far, and the observations earlier sessions' checks recorded about the
    experts now seated (their review records)."""
    events = [e.to_doc() for e in list_events(conn, session.id, after=0, limit=2**31 - 1)]
    seated = {x.expert_id for x in session.seats if x.expert_id}
    history: list[dict[str, Any]] = []
    # Only the scoring and report checks read the history (lock_scoring, start_report).
    if seated and (session.state is State.AGGREGATING or session.stage is Stage.SCORING):
        for e in alert_checks(conn):
            if e.session_id != session.id:
                history += [o for o in e.payload.get("observations", [])
                            if o.get("expert_id") in seated]
    return {"events": events, "history": history}
