"""Session store: synchronous functions of a SQLAlchemy ``Connection``.

They run inside a transaction opened by :class:`evalsvc.db.Database` on a worker thread.
:func:`record` is the one place a change is written: the new session document, its
``last_seq`` and one event row per event, all in the caller's transaction.
"""

from __future__ import annotations

__all__ = [
    "StoredEvent",
    "find_idempotent",
    "insert_session",
    "latest_sheets",
    "list_events",
    "list_sessions",
    "load_session",
    "own_sheets",
    "record",
    "save_idempotent",
    "sheet_progress",
    "store_sheet",
]

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.audit.log import append_leaf
from evalsvc.canonical import canonical_bytes, storage_json, to_jsonable
from evalsvc.errors import NotFound
from evalsvc.sessions.machine import Event
from evalsvc.sessions.model import Session, Sheet, session_from_doc, session_to_doc
from evalsvc.sessions.scoring import sheet_from_doc, sheet_to_doc
from evalsvc.sessions.tables import EventRow, IdempotencyRow, SessionRow, SheetRow

_S = cast(sa.Table, SessionRow.__table__)  # type: ignore[attr-defined]
_E = cast(sa.Table, EventRow.__table__)  # type: ignore[attr-defined]
_SH = cast(sa.Table, SheetRow.__table__)  # type: ignore[attr-defined]
_I = cast(sa.Table, IdempotencyRow.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoredEvent:
    session_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    actor: str
    venue: str | None
    time_ms: int

    def leaf(self) -> bytes:
        """The audit-log leaf of this event: RFC 8785 bytes of who did what, when."""
        return canonical_bytes(
            {
                "session": self.session_id,
                "seq": self.seq,
                "venue": self.venue,
                "actor": self.actor,
                "action": self.type,
                "payload": self.payload,
                "time_ms": self.time_ms,
            }
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


_dumps = storage_json

# The hot path (every submission runs these seven statements) talks to the DB-API cursor
# of the transaction's connection: SQLAlchemy's per-execute bookkeeping cost more than
# SQLite's own work. The tables are still the SQLModel ones above; the SQL is written once
# with ``?`` placeholders and converted for psycopg (``%s``).
_SQL = {
    "load": "SELECT doc, last_seq FROM session WHERE id = ?",
    "load_for_update": "SELECT doc, last_seq FROM session WHERE id = ? FOR UPDATE",
    "bump": "UPDATE session SET last_seq = ?, updated_at = ? WHERE id = ? AND last_seq = ?",
    "save": "UPDATE session SET last_seq = ?, updated_at = ?, state = ?, doc = ? "
    "WHERE id = ? AND last_seq = ?",
    "event": "INSERT INTO event (session_id, seq, type, payload, actor, venue, time_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "max_version": "SELECT MAX(version) FROM score_sheet WHERE session_id = ? AND seat = ? "
    "AND stage = ?",
    "sheet": "INSERT INTO score_sheet (session_id, seat, stage, version, expert_id, doc, sha256, "
    "seq, submitted_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "find_key": "SELECT request_sha256, status, response FROM idempotency_key "
    "WHERE actor = ? AND key = ?",
    "save_key": "INSERT INTO idempotency_key (actor, key, session_id, request_sha256, status, "
    "response, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
}
_SQL_PG = {k: v.replace("?", "%s") for k, v in _SQL.items()}
_SQL_LITE = {k: v.replace(" FOR UPDATE", "") for k, v in _SQL.items()}


def _run(conn: Connection, name: str, params: Sequence[Any], *, many: bool = False) -> Any:
    """Execute one hot-path statement on the transaction's DB-API connection."""
    sql = (_SQL_PG if conn.dialect.name == "postgresql" else _SQL_LITE)[name]
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if many:
        cur.executemany(sql, params)
    else:
        cur.execute(sql, params)
    return cur


def insert_session(conn: Connection, session: Session, *, now_ms: int) -> None:
    """Insert a new session row at seq 0 (events are added by :func:`record`)."""
    conn.execute(
        sa.insert(_S).values(
            id=session.id,
            title=session.title,
            primary_venue=session.primary.id,
            state=session.state.value,
            last_seq=0,
            doc=_dumps(session_to_doc(session)),
            created_at=now_ms,
            updated_at=now_ms,
        )
    )


def load_session(
    conn: Connection, session_id: str, *, for_update: bool = False
) -> tuple[Session, int]:
    """The session and its last seq; ``for_update`` row-locks it (PostgreSQL)."""
    row = _run(conn, "load_for_update" if for_update else "load", (session_id,)).fetchone()
    if row is None:
        raise NotFound(f"no session {session_id!r}")
    return _parse_session(session_id, row[0]), int(row[1])


# session id → (document text, parsed session): a submission does not change the
# document, so the next one reuses the parse when the stored text is the same.
_PARSED: dict[str, tuple[str, Session]] = {}


def _parse_session(session_id: str, text: str) -> Session:
    hit = _PARSED.get(session_id)
    if hit is not None and hit[0] == text:
        return hit[1]
    session = session_from_doc(json.loads(text))
    if len(_PARSED) > 1024:
        _PARSED.clear()
    _PARSED[session_id] = (text, session)
    return session


def record(
    conn: Connection,
    session: Session,
    events: Sequence[Event],
    *,
    base_seq: int,
    actor: str,
    venue: str | None,
    now_ms: int,
    changed: bool = True,
) -> list[StoredEvent]:
    """Write the new session state (unless ``changed`` is false), its events
    (seq base_seq+1, +2, …) and their audit-log leaves."""
    stored = [
        StoredEvent(
            session.id, base_seq + i + 1, e.type, to_jsonable(e.payload), actor, venue, now_ms
        )
        for i, e in enumerate(events)
    ]
    last = base_seq + len(stored)
    # The WHERE on last_seq makes a lost update impossible even if a caller forgot the
    # row lock: a concurrent writer would have moved last_seq and we would update 0 rows.
    if changed:
        doc = _dumps(session_to_doc(session))
        cur = _run(conn, "save", (last, now_ms, session.state.value, doc, session.id, base_seq))
    else:
        cur = _run(conn, "bump", (last, now_ms, session.id, base_seq))
    if cur.rowcount != 1:
        raise RuntimeError(f"session {session.id} changed concurrently (expected seq {base_seq})")
    if stored:
        _run(
            conn,
            "event",
            [
                (e.session_id, e.seq, e.type, _dumps(e.payload), e.actor, e.venue, e.time_ms)
                for e in stored
            ],
            many=True,
        )
        # The same transaction appends each event to the session's audit log
        # (leaf index = seq - 1), so an event exists if and only if its leaf does.
        for e in stored:
            append_leaf(conn, session_id=e.session_id, index=e.seq - 1, data=e.leaf())
    return stored


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


def store_sheet(
    conn: Connection, sheet: Sheet, *, session_id: str, expert_id: str, seq: int, now_ms: int
) -> tuple[int, str]:
    """Store a new version of a seat's sheet; returns (version, sha256 of its document)."""
    doc = sheet_to_doc(sheet)
    body = canonical_bytes(doc)
    digest = hashlib.sha256(body).hexdigest()
    prev = _run(conn, "max_version", (session_id, sheet.seat, sheet.stage.value)).fetchone()[0]
    version = int(prev or 0) + 1
    _run(
        conn,
        "sheet",
        (
            session_id,
            sheet.seat,
            sheet.stage.value,
            version,
            expert_id,
            body.decode("utf-8"),
            digest,
            seq,
            now_ms,
        ),
    )
    return version, digest


def latest_sheets(conn: Connection, session_id: str, stage: str) -> list[Sheet]:
    """The latest version of each seat's sheet for ``stage``."""
    latest = (
        sa.select(_SH.c.seat, sa.func.max(_SH.c.version).label("v"))
        .where(_SH.c.session_id == session_id, _SH.c.stage == stage)
        .group_by(_SH.c.seat)
        .subquery()
    )
    rows = conn.execute(
        sa.select(_SH.c.seat, _SH.c.doc)
        .join(latest, sa.and_(_SH.c.seat == latest.c.seat, _SH.c.version == latest.c.v))
        .where(_SH.c.session_id == session_id, _SH.c.stage == stage)
        .order_by(_SH.c.seat)
    ).all()
    return [sheet_from_doc(r[0], json.loads(r[1])) for r in rows]


def sheet_progress(conn: Connection, session_id: str) -> dict[str, dict[int, int]]:
    """stage → seat → number of versions submitted (no contents)."""
    rows = conn.execute(
        sa.select(_SH.c.stage, _SH.c.seat, sa.func.max(_SH.c.version))
        .where(_SH.c.session_id == session_id)
        .group_by(_SH.c.stage, _SH.c.seat)
    ).all()
    out: dict[str, dict[int, int]] = {}
    for stage, seat, v in rows:
        out.setdefault(stage, {})[int(seat)] = int(v)
    return out


def own_sheets(conn: Connection, session_id: str, seat: int) -> list[dict[str, Any]]:
    """Every version of one seat's sheets (for that expert)."""
    rows = conn.execute(
        sa.select(
            _SH.c.stage, _SH.c.version, _SH.c.doc, _SH.c.sha256, _SH.c.seq, _SH.c.submitted_ms
        )
        .where(_SH.c.session_id == session_id, _SH.c.seat == seat)
        .order_by(_SH.c.stage, _SH.c.version)
    ).all()
    return [
        {
            "stage": r[0],
            "version": r[1],
            "sheet": json.loads(r[2]),
            "sha256": r[3],
            "seq": r[4],
            "submitted_ms": r[5],
        }
        for r in rows
    ]


def find_idempotent(conn: Connection, *, actor: str, key: str) -> tuple[str, int, Any] | None:
    """(request sha256, status, response document) stored for this actor's key, if any."""
    row = _run(conn, "find_key", (actor, key)).fetchone()
    if row is None:
        return None
    return row[0], int(row[1]), json.loads(row[2])


def save_idempotent(
    conn: Connection,
    *,
    actor: str,
    key: str,
    session_id: str,
    request_sha256: str,
    status: int,
    response: Any,
    now_ms: int,
) -> None:
    """Remember the response to this actor's key, in the same transaction as the change."""
    _run(
        conn, "save_key", (actor, key, session_id, request_sha256, status, _dumps(response), now_ms)
    )
