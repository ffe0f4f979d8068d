"""Session store: synchronous functions of a SQLAlchemy ``Connection``.

They run inside a transaction opened by :class:`evalsvc.db.Database` on a worker thread.
:func:`record` is the one place a change is written: the new session document, its
``last_seq`` and one event row per event, all in the caller's transaction.
"""

from __future__ import annotations

__all__ = [
    "Row",
    "StoredEvent",
    "SubmissionReads",
    "append_keys_sql_pg",
    "find_idempotent",
    "idempotency_row",
    "insert_session",
    "latest_sheets",
    "list_events",
    "list_sessions",
    "load_for_submission",
    "load_session",
    "own_sheets",
    "record",
    "save_idempotent",
    "send_record",
    "send_submission_reads",
    "sheet_progress",
    "sheet_row",
]

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.audit.log import append_needs, append_rows, fetch_append_nodes
from evalsvc.canonical import canonical_bytes, storage_json, to_jsonable
from evalsvc.db import Busy, pipeline_cursor, raw_cursor
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

# The hot path talks to the DB-API cursor of the transaction's connection: SQLAlchemy's
# per-execute bookkeeping cost more than SQLite's own work. The tables are still the
# SQLModel ones above; the SQL is written once with ``?`` placeholders and converted for
# psycopg (``%s``). A submission runs three statements: lock the session row, read
# everything else it needs in one (both in :func:`load_for_submission`, one round trip
# on PostgreSQL), and write everything in one on PostgreSQL (:func:`record`).
_SQL = {
    "load": "SELECT doc, last_seq FROM session WHERE id = ?",
    "load_for_update": "SELECT doc, last_seq FROM session WHERE id = ? FOR UPDATE",
    "load_for_update_skip": "SELECT doc, last_seq FROM session WHERE id = ? FOR UPDATE SKIP LOCKED",
    "bump": "UPDATE session SET last_seq = ?, updated_at = ? WHERE id = ? AND last_seq = ?",
    "save": "UPDATE session SET last_seq = ?, updated_at = ?, state = ?, doc = ? "
    "WHERE id = ? AND last_seq = ?",
    "event": "INSERT INTO event (session_id, seq, type, payload, actor, venue, time_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "leaf": "INSERT INTO audit_leaf (session_id, idx, data) VALUES (?, ?, ?)",
    "node": "INSERT INTO audit_node (session_id, level, idx, hash) VALUES (?, ?, ?, ?)",
    # The newest version by the index (session, stage, seat, version), read backwards.
    "max_version": "SELECT MAX(version) FROM (SELECT version FROM score_sheet "
    "WHERE session_id = ? AND seat = ? AND stage = ? ORDER BY version DESC LIMIT 1) AS v",
    "find_key": "SELECT request_sha256, status, response FROM idempotency_key "
    "WHERE actor = ? AND key = ?",
}
_SQL_PG = {k: v.replace("?", "%s") for k, v in _SQL.items()}
_SQL_LITE = {
    k: v.replace(" FOR UPDATE SKIP LOCKED", "").replace(" FOR UPDATE", "") for k, v in _SQL.items()
}


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _run(conn: Connection, name: str, params: Sequence[Any], *, many: bool = False) -> Any:
    """Execute one hot-path statement on the transaction's DB-API connection."""
    sql = (_SQL_PG if _pg(conn) else _SQL_LITE)[name]
    cur = raw_cursor(conn)
    if many:
        cur.executemany(sql, params)
    else:
        cur.execute(sql, params)
    return cur


@dataclass(frozen=True)
class Row:
    """One more row that :func:`record` inserts with the events (same statement on
    PostgreSQL): a score sheet, the idempotency record of the request."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]


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
    nodes: dict[tuple[int, int], bytes] | None = None,
    rows: Sequence[Row] = (),
) -> list[StoredEvent]:
    """Write the new session state (unless ``changed`` is false), its events
    (seq base_seq+1, +2, …), their audit-log leaves and ``rows``.

    ``nodes``: the stored audit-log hashes appending at ``base_seq`` needs, when the
    caller read them already (:func:`load_for_submission`); otherwise they are read here.
    """
    return send_record(
        conn,
        session,
        events,
        base_seq=base_seq,
        actor=actor,
        venue=venue,
        now_ms=now_ms,
        changed=changed,
        nodes=nodes,
        rows=rows,
    )()


def send_record(
    conn: Connection,
    session: Session,
    events: Sequence[Event],
    *,
    base_seq: int,
    actor: str,
    venue: str | None,
    now_ms: int,
    changed: bool = True,
    nodes: dict[tuple[int, int], bytes] | None = None,
    rows: Sequence[Row] = (),
    pipelined: bool = False,
) -> Callable[[], list[StoredEvent]]:
    """:func:`record` in two steps: send the write now, and return the function that
    checks it and returns the stored events — on PostgreSQL inside a pipeline
    (``pipelined``: on a cursor of its own, its result read after the pipeline synced).
    """
    stored = [
        StoredEvent(
            session.id, base_seq + i + 1, e.type, to_jsonable(e.payload), actor, venue, now_ms
        )
        for i, e in enumerate(events)
    ]
    # The same transaction appends each event to the session's audit log
    # (leaf index = seq - 1), so an event exists if and only if its leaf does.
    leaves = [e.leaf() for e in stored]
    node_rows: list[tuple[int, int, bytes]] = []
    if stored:
        if nodes is None:
            nodes = fetch_append_nodes(conn, session.id, base_seq, len(stored))
        node_rows = append_rows(session.id, base_seq, leaves, nodes)
    w = _Write(
        session_id=session.id,
        base_seq=base_seq,
        last_seq=base_seq + len(stored),
        now_ms=now_ms,
        actor=actor,
        venue=venue,
        # The document is rewritten only when it changed (a sheet leaves it as it is).
        state_doc=(session.state.value, _dumps(session_to_doc(session))) if changed else None,
        events=stored,
        payloads=[_dumps(e.payload) for e in stored],
        leaves=leaves,
        nodes=node_rows,
        rows=tuple(rows),
    )
    # The WHERE on last_seq makes a lost update impossible even if a caller forgot the
    # row lock: a concurrent writer would have moved last_seq and we would update 0 rows.
    pg = _pg(conn)
    cur: Any = None
    updated = 0
    if pg:
        # Several requests' results are pending together in a pipeline: a cursor each.
        cur = pipeline_cursor(conn) if pipelined else raw_cursor(conn)
        _write_pg(cur, w)
    else:
        updated = _write_sqlite(conn, w)

    def check() -> list[StoredEvent]:
        if (int(cur.fetchone()[0]) if pg else updated) != 1:
            raise RuntimeError(
                f"session {session.id} changed concurrently (expected seq {base_seq})"
            )
        return stored

    return check


@dataclass(frozen=True)
class _Write:
    """Everything :func:`record` writes, for the statement(s) of one dialect."""

    session_id: str
    base_seq: int
    last_seq: int
    now_ms: int
    actor: str
    venue: str | None
    state_doc: tuple[str, str] | None
    events: list[StoredEvent]
    payloads: list[str]
    leaves: list[bytes]
    nodes: list[tuple[int, int, bytes]]
    rows: tuple[Row, ...]


def _write_sqlite(conn: Connection, w: _Write) -> int:
    # Statements cost no round trip on SQLite: one per table (executemany for several rows).
    sid, sql, cur = w.session_id, _SQL_LITE, raw_cursor(conn)
    if w.state_doc is not None:
        cur.execute(sql["save"], (w.last_seq, w.now_ms, *w.state_doc, sid, w.base_seq))
    else:
        cur.execute(sql["bump"], (w.last_seq, w.now_ms, sid, w.base_seq))
    updated = int(cur.rowcount)
    if updated != 1:
        return updated
    if w.events:
        cur.executemany(
            sql["event"],
            [
                (sid, e.seq, e.type, p, w.actor, w.venue, w.now_ms)
                for e, p in zip(w.events, w.payloads, strict=True)
            ],
        )
        cur.executemany(
            sql["leaf"], [(sid, e.seq - 1, d) for e, d in zip(w.events, w.leaves, strict=True)]
        )
        cur.executemany(sql["node"], [(sid, *r) for r in w.nodes])
    for row in w.rows:
        cur.execute(_insert_sql(row.table, row.columns, "?"), row.values)
    return updated


def _write_pg(cur: Any, w: _Write) -> None:
    # One statement, one round trip (see _record_sql_pg); scalar parameters only
    # (psycopg dumps a list parameter as an array in Python, which costs more).
    params: list[Any] = [w.last_seq, w.now_ms, *(w.state_doc or ()), w.session_id, w.base_seq]
    for e, payload in zip(w.events, w.payloads, strict=True):
        params += (e.seq, e.type, payload, w.actor, w.venue, w.now_ms)
    for e, data in zip(w.events, w.leaves, strict=True):
        params += (e.seq - 1, data)
    for node in w.nodes:
        params += node
    for row in w.rows:
        params += row.values
    sql = _record_sql_pg(
        w.state_doc is not None,
        len(w.events),
        len(w.nodes),
        tuple((r.table, r.columns) for r in w.rows),
    )
    cur.execute(sql, params)


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], ph: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([ph] * len(columns))})"


def _values(types: tuple[str, ...], count: int) -> str:
    # A VALUES list of ``count`` rows; the first row's casts type the columns.
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    rest = "(" + ", ".join(["%s"] * len(types)) + ")"
    return "(VALUES " + ", ".join([first] + [rest] * (count - 1)) + ")"


@functools.lru_cache(maxsize=256)
def _record_sql_pg(
    changed: bool, events: int, nodes: int, rows: tuple[tuple[str, tuple[str, ...]], ...]
) -> str:
    # Data-modifying CTEs. The event and audit inserts select FROM the UPDATE's result,
    # so nothing is inserted unless the guarded update matched (count 0: the caller
    # raises, and the rollback of its transaction takes ``rows`` back too). The text
    # depends only on the shape, so psycopg prepares each shape once per connection.
    setting = "last_seq = %s, updated_at = %s" + (", state = %s, doc = %s" if changed else "")
    parts = [f"s AS (UPDATE session SET {setting} WHERE id = %s AND last_seq = %s RETURNING id)"]
    if events:
        event_types = ("integer", "text", "text", "text", "text", "bigint")
        parts += [
            "e AS (INSERT INTO event (session_id, seq, type, payload, actor, venue, time_ms) "
            f"SELECT s.id, x.* FROM s, {_values(event_types, events)} AS x)",
            "l AS (INSERT INTO audit_leaf (session_id, idx, data) "
            f"SELECT s.id, x.* FROM s, {_values(('bigint', 'bytea'), events)} AS x)",
            "n AS (INSERT INTO audit_node (session_id, level, idx, hash) "
            f"SELECT s.id, x.* FROM s, {_values(('smallint', 'bigint', 'bytea'), nodes)} AS x)",
        ]
    parts += [
        f"r{i} AS ({_insert_sql(table, columns, '%s')})" for i, (table, columns) in enumerate(rows)
    ]
    return "WITH " + ", ".join(parts) + " SELECT count(*) FROM s"


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


def sheet_row(
    sheet: Sheet, *, session_id: str, expert_id: str, version: int, seq: int, now_ms: int
) -> tuple[Row, str]:
    """The ``score_sheet`` row of a sheet's ``version``, and the sha256 of its document."""
    body = canonical_bytes(sheet_to_doc(sheet))
    digest = hashlib.sha256(body).hexdigest()
    values = (
        session_id,
        sheet.seat,
        sheet.stage.value,
        version,
        expert_id,
        body.decode("utf-8"),
        digest,
        seq,
        now_ms,
    )
    return Row("score_sheet", _SHEET_COLUMNS, values), digest


_SHEET_COLUMNS = (
    "session_id",
    "seat",
    "stage",
    "version",
    "expert_id",
    "doc",
    "sha256",
    "seq",
    "submitted_ms",
)


def _insert(conn: Connection, row: Row) -> None:
    ph = "%s" if _pg(conn) else "?"
    raw_cursor(conn).execute(_insert_sql(row.table, row.columns, ph), row.values)


@dataclass(frozen=True)
class SubmissionReads:
    """What a submission reads once it holds the session's row lock."""

    replay: tuple[str, int, Any] | None  # as find_idempotent
    latest_version: int  # of the seat's sheet at the stage (0: none yet)
    nodes: dict[tuple[int, int], bytes]  # audit-log hashes appending at last_seq needs


def load_for_submission(
    conn: Connection, session_id: str, *, actor: str, key: str, expert_id: str | None
) -> tuple[Session, int, SubmissionReads]:
    """The session, row-locked, and its last seq; then, read once the lock is held, the
    response stored under the actor's key, the latest version of ``expert_id``'s sheet
    at the session's stage and the audit-log hashes that appending the next event needs.

    On PostgreSQL the two statements go in one round trip (a psycopg pipeline, see
    :func:`send_submission_reads`).
    """
    if not _pg(conn):
        s, last = load_session(conn, session_id, for_update=True)
        seat, stage = _seat_and_stage(s, expert_id)
        return s, last, _submission_reads(conn, session_id, actor, key, seat, stage, last)
    with conn.connection.dbapi_connection.pipeline():  # type: ignore[union-attr]
        finish = send_submission_reads(
            conn, session_id, actor=actor, key=key, expert_id=expert_id, pipelined=False
        )
    return finish()


def send_submission_reads(
    conn: Connection,
    session_id: str,
    *,
    actor: str,
    key: str,
    expert_id: str | None,
    pipelined: bool = True,
    wait: bool = True,
) -> Callable[[], tuple[Session, int, SubmissionReads]]:
    """PostgreSQL, inside a psycopg pipeline: send :func:`load_for_submission`'s two
    statements; the returned function reads their results once the pipeline synced.

    The second statement runs after the first and sees what was committed before it,
    including the commit the lock may have waited for. Its seat and stage come from
    this process's last parse of the session (a seat is assigned once); when the locked
    document says otherwise, the version is read again (one more round trip).

    Not ``wait``: the lock skips a row another transaction holds, and the function
    raises :class:`~evalsvc.db.Busy` (the request goes to the writer's next group).
    """
    hit = _PARSED.get(session_id)
    seat, stage = _seat_and_stage(hit[1], expert_id) if hit else (None, None)
    params: list[Any] = [actor, key]
    if seat is not None and stage is not None:
        params += [session_id, stage, seat]
    params.append(session_id)
    if not wait:
        params.append(session_id)
    if pipelined:  # several requests' results are pending together: cursors of their own
        lock, reads = pipeline_cursor(conn), pipeline_cursor(conn)
    else:
        lock, reads = raw_cursor(conn), raw_cursor(conn, 1)
    lock.execute(_SQL_PG["load_for_update" if wait else "load_for_update_skip"], (session_id,))
    version = seat is not None and stage is not None
    reads.execute(_submission_sql(True, version, -1, exists=not wait), params)

    def finish() -> tuple[Session, int, SubmissionReads]:
        row = lock.fetchone()
        rows = reads.fetchall()
        if row is None:
            if any(r[0] == 3 for r in rows):  # it exists: another transaction holds it
                raise Busy(f"session {session_id} is locked")
            raise NotFound(f"no session {session_id!r}")
        s, last = _parse_session(session_id, row[0]), int(row[1])
        found = _parse_reads(rows)
        actual = _seat_and_stage(s, expert_id)
        if actual != (seat, stage) and None not in actual:
            prev = _run(conn, "max_version", (session_id, *actual)).fetchone()[0]
            found = SubmissionReads(found.replay, int(prev or 0), found.nodes)
        return s, last, found

    return finish


def _seat_and_stage(s: Session, expert_id: str | None) -> tuple[int | None, str | None]:
    seat = s.seat_of(expert_id) if expert_id is not None else None
    return (seat.index if seat else None), (s.stage.value if s.stage else None)


def _submission_reads(
    conn: Connection,
    session_id: str,
    actor: str,
    key: str,
    seat: int | None,
    stage: str | None,
    last_seq: int,
) -> SubmissionReads:
    # SQLite: the reads after the lock in one statement, the audit-log keys from last_seq.
    needs = append_needs(last_seq)
    params: list[Any] = [actor, key]
    if seat is not None and stage is not None:
        params += [session_id, stage, seat]
    for level, idx in needs:
        params += [session_id, level, idx]
    cur = raw_cursor(conn)
    cur.execute(
        _submission_sql(_pg(conn), seat is not None and stage is not None, len(needs)), params
    )
    return _parse_reads(cur.fetchall())


def _parse_reads(rows: Sequence[Any]) -> SubmissionReads:
    replay: tuple[str, int, Any] | None = None
    latest = 0
    nodes: dict[tuple[int, int], bytes] = {}
    for kind, n1, n2, text, response, blob in rows:
        if kind == 0:
            replay = (text, int(n1), json.loads(response))
        elif kind == 1:
            latest = int(n1 or 0)
        elif kind == 2 and blob is not None:
            nodes[(int(n1), int(n2))] = bytes(blob)
    return SubmissionReads(replay, latest, nodes)


def append_keys_sql_pg(last_seq: str) -> str:
    """PostgreSQL: (level, idx) of the stored audit-log hashes that appending leaf
    ``last_seq`` (an SQL expression) reads — :func:`evalsvc.audit.log.append_needs`
    in SQL: its left neighbour, and the left sibling at each level j ≥ 1 whose
    subtree it completes, i.e. where ``last_seq + 1`` is a multiple of 2**(j+1).
    (A seq is an INTEGER: levels up to 31.)"""
    n = f"({last_seq})"
    return (
        f"SELECT j AS level, (({n} + 1) >> j) - 2 AS idx FROM generate_series(0, 31) AS j "
        f"WHERE (j = 0 AND {n} > 0) OR (j > 0 AND mod({n} + 1, 2::bigint << j) = 0)"
    )


@functools.lru_cache(maxsize=64)
def _submission_sql(pg: bool, version: bool, nodes: int, *, exists: bool = False) -> str:
    # A UNION ALL of index lookups, tagged by kind, with one column layout (explicit
    # casts: PostgreSQL resolves a UNION's column types pair by pair). ``nodes``: how
    # many (session, level, idx) lookups follow; -1 (PostgreSQL): the keys come from the
    # session row's last_seq, for a session id given last.
    ph, blob = ("%s", "BYTEA") if pg else ("?", "BLOB")
    parts = [
        f"SELECT 0, status, CAST(NULL AS BIGINT), request_sha256, response, "
        f"CAST(NULL AS {blob}) FROM idempotency_key WHERE actor = {ph} AND key = {ph}"
    ]
    if version:
        # The newest version by the index (session, stage, seat, version), read backwards:
        # MAX() may be planned as an aggregate over every version of the seat.
        parts.append(
            f"SELECT 1, (SELECT version FROM score_sheet WHERE session_id = {ph} "
            f"AND stage = {ph} AND seat = {ph} ORDER BY version DESC LIMIT 1), "
            f"CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), "
            f"CAST(NULL AS {blob})"
        )
    if nodes < 0:
        # One primary-key lookup per key (a join may be planned as a scan of the
        # session's nodes at that level); a key with no node gives a NULL hash.
        parts.append(
            "SELECT 2, k.level, k.idx, CAST(NULL AS TEXT), CAST(NULL AS TEXT), "
            "(SELECT n.hash FROM audit_node n WHERE n.session_id = s.id "
            "AND n.level = k.level AND n.idx = k.idx) "
            "FROM session s CROSS JOIN LATERAL (" + append_keys_sql_pg("s.last_seq") + ") AS k "
            "WHERE s.id = %s"
        )
    parts += [
        f"SELECT 2, level, idx, CAST(NULL AS TEXT), CAST(NULL AS TEXT), hash FROM audit_node "
        f"WHERE session_id = {ph} AND level = {ph} AND idx = {ph}"
    ] * max(0, nodes)
    if exists:  # (a lock that skips a held row: tell "held" from "no such session")
        parts.append(
            f"SELECT 3, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), "
            f"CAST(NULL AS TEXT), CAST(NULL AS {blob}) FROM session WHERE id = {ph}"
        )
    return " UNION ALL ".join(parts)


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


def idempotency_row(
    *,
    actor: str,
    key: str,
    session_id: str,
    request_sha256: str,
    status: int,
    response: Any,
    now_ms: int,
) -> Row:
    """The ``idempotency_key`` row remembering the response to this actor's key."""
    values = (actor, key, session_id, request_sha256, status, _dumps(response), now_ms)
    return Row("idempotency_key", _KEY_COLUMNS, values)


_KEY_COLUMNS = (
    "actor",
    "key",
    "session_id",
    "request_sha256",
    "status",
    "response",
    "created_ms",
)


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
    _insert(
        conn,
        idempotency_row(
            actor=actor,
            key=key,
            session_id=session_id,
            request_sha256=request_sha256,
            status=status,
            response=response,
            now_ms=now_ms,
        ),
    )
