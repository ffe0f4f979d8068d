"""The sequential store driver: a transition read, decided and written in the caller's
transaction, one statement after another. It is the reference: the pipelined driver
(:mod:`evalsvc.sessions.store.pipelined`) and the batched one
(:mod:`evalsvc.sessions.store.batched`) must give the same rows, events, leaves and
responses (``tests/sessions/test_drivers.py``).

What a change writes is its :func:`record`: the new session document (when it
changed), its ``last_seq``, one ``event`` row and one audit leaf per event with the
Merkle nodes they complete, the score sheet and the idempotency record. It is written
by :func:`send_record` — one statement on PostgreSQL — or :func:`write_sqlite`, one
statement per table on SQLite for one record or a batch's: the only places events are
written.
"""

from __future__ import annotations

__all__ = [
    "Extra",
    "Record",
    "Wiring",
    "change_rows",
    "execute",
    "insert_session",
    "record",
    "seal_events",
    "send_record",
    "write_change",
    "write_sqlite",
]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.audit.log import append_needs, append_rows, fetch_append_nodes
from evalsvc.canonical import storage_json, to_jsonable
from evalsvc.db import pipeline_cursor, raw_cursor
from evalsvc.salts import SaltSource
from evalsvc.sessions.machine import Event
from evalsvc.sessions.model import Session, Sheet, session_to_doc
from evalsvc.sessions.store.reads import (
    Frontiers,
    SessionDocs,
    SnapshotReads,
    StoredEvent,
    find_idempotent,
    latest_sheets,
    load_session,
    parse_snapshot_reads,
    sheet_openings,
)
from evalsvc.sessions.store.sql import (
    SQL_LITE,
    Row,
    insert_sql,
    is_pg,
    record_sql_pg,
    snapshot_reads_sql,
)
from evalsvc.sessions.tables import SessionRow
from evalsvc.sessions.transitions import (
    Change,
    Replay,
    Result,
    SheetOpening,
    Snapshot,
    Transition,
    decide,
)

_S = cast(sa.Table, SessionRow.__table__)  # type: ignore[attr-defined]

# The salts of the audit leaves' field digests: 16 bytes of fresh CSPRNG output per
# field, read in batches (one getrandom per 4,096 fields, not one per field). A process
# owns one source as it owns its engine's pool: no state that outlives a salt handed out.
_FIELD_SALTS = SaltSource(size=16, batch=4096)
_dumps = storage_json


@dataclass(frozen=True)
class Extra:
    """A named extra a transition may read and write with the session (the draw state):
    ``load(conn, session)`` under the session's lock, ``save(conn, session, value,
    now_ms)`` with the change."""

    load: Callable[[Connection, Session], Any]
    save: Callable[[Connection, Session, Any, int], None] | None = None


@dataclass(frozen=True)
class Wiring:
    """What the drivers need besides the transition: the parsed-document cache, the
    registered extras, and the audit milestone hook (a checkpoint signed in the same
    transaction as a milestone event)."""

    docs: SessionDocs
    extras: Mapping[str, Extra] = field(default_factory=dict)
    milestone: Callable[[Connection, str, Sequence[StoredEvent]], None] | None = None
    # The salts of the audit leaves' field digests (None: the process's CSPRNG source).
    field_salt: Callable[[], bytes] | None = None
    # The audit-log hashes the batched driver committed last (None: read them each time).
    frontiers: Frontiers | None = None


def execute(
    conn: Connection, t: Transition, w: Wiring, now_ms: int
) -> tuple[Result, list[StoredEvent], Change | None]:
    """Read what ``t`` needs under the session's row lock, decide, write; returns the
    response, the stored events (to publish after COMMIT) and the change (None: a replay)."""
    needs = t.needs
    s: Session | None
    if needs.creates:
        s, last = None, 0
        found = None
        if t.key is not None:
            found = find_idempotent(
                conn, actor=t.actor, session=t.key_session, route=t.route, key=t.key
            )
        reads = SnapshotReads(found, 0, {})
    else:
        s, last = load_session(conn, t.session_id, for_update=True, docs=w.docs)
        reads = _reads(conn, t, s, last)
    sheets: tuple[Sheet, ...] = ()
    openings: tuple[SheetOpening, ...] = ()
    if needs.sheets is not None:
        # The sheets of members who left a re-formed committee are void (docs/scoring.md
        # "Faults by rule"): a lock counts only the members now seated.
        void = s.voided if s is not None else ()
        sheets = tuple(latest_sheets(conn, t.session_id, needs.sheets.value, void=void))
        if needs.sheets.value == "commercial":
            # Locking the commercial stage aggregates both parts (split stages).
            sheets += tuple(latest_sheets(conn, t.session_id, "technical", void=void))
        openings = tuple(sheet_openings(conn, t.session_id, needs.sheets.value))
    extras = {}
    for name in needs.extras:
        extra = w.extras.get(name)
        extras[name] = extra.load(conn, s) if extra is not None and s is not None else None
    snap = Snapshot(s, last, now_ms, reads.replay, reads.sheet_version, sheets, openings, extras)
    out = decide(t, snap)
    if isinstance(out, Replay):
        return Result(out.status, out.body, replayed=True), [], None
    if needs.creates:
        insert_session(conn, out.session, now_ms=now_ms)
    # The hashes read ahead are those appending one leaf needs (a sheet); a change of
    # several events reads what it needs when it writes.
    nodes = reads.nodes if len(out.events) == 1 else None
    stored = write_change(conn, t, w, out, base_seq=last, now_ms=now_ms, nodes=nodes)()
    return Result(out.status, out.body), stored, out


def _reads(conn: Connection, t: Transition, s: Session, last: int) -> SnapshotReads:
    # The reads after the lock in one statement: the key's response, the seat's latest
    # version, the audit-log hashes appending at last_seq needs.
    seat = stage = None
    if t.needs.sheet_version_of is not None and s.stage is not None:
        holder = s.seat_of(t.needs.sheet_version_of)
        seat, stage = (holder.index if holder else None), s.stage.value
    version = seat is not None
    keys = append_needs(last)
    params: list[Any] = [t.actor, t.key_session, t.route, t.key or ""]
    if version:
        params += [t.session_id, stage, seat]
    for level, idx in keys:
        params += [t.session_id, level, idx]
    cur = raw_cursor(conn)
    cur.execute(snapshot_reads_sql(is_pg(conn), version, len(keys)), params)
    reads = parse_snapshot_reads(cur.fetchall())
    return reads if t.key is not None else SnapshotReads(None, reads.sheet_version, reads.nodes)


def write_change(
    conn: Connection,
    t: Transition,
    w: Wiring,
    change: Change,
    *,
    base_seq: int,
    now_ms: int,
    nodes: dict[tuple[int, int], bytes] | None,
    pipelined: bool = False,
) -> Callable[[], list[StoredEvent]]:
    """Send ``change``'s writes; the returned function checks them and returns the
    stored events. Milestones and extras are written here too (never pipelined)."""
    rows = change_rows(t, change, base_seq=base_seq, now_ms=now_ms)
    check: Callable[[], list[StoredEvent]] = list
    if change.events or change.changed or rows:
        check = send_record(
            conn,
            record(
                change.session,
                change.events,
                base_seq=base_seq,
                actor=t.actor,
                venue=t.venue,
                now_ms=now_ms,
                changed=change.changed,
                rows=rows,
                salt=w.field_salt,
            ),
            nodes=nodes,
            pipelined=pipelined,
        )
    if pipelined:
        return check
    stored = check()
    for name, value in change.extras.items():
        extra = w.extras.get(name)
        if extra is None or extra.save is None:
            raise RuntimeError(f"no store for the extra {name!r}")
        extra.save(conn, change.session, value, now_ms)
    if stored and w.milestone is not None:
        w.milestone(conn, t.session_id, stored)
    return lambda: stored


def change_rows(t: Transition, change: Change, *, base_seq: int, now_ms: int) -> list[Row]:
    """The rows written with ``change``'s events besides them: the score sheet and the
    idempotency record of the request."""
    rows: list[Row] = []
    if change.sheet is not None:
        rows.append(_sheet_row(t.session_id, change, seq=base_seq + 1, now_ms=now_ms))
    if t.key is not None:
        rows.append(_idempotency_row(t, change, now_ms))
    return rows


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
    "commitment",
    "salt",
    "signature",
)
_KEY_COLUMNS = (
    "actor",
    "session_id",
    "route",
    "key",
    "request_sha256",
    "status",
    "response",
    "created_ms",
)


def _sheet_row(session_id: str, change: Change, *, seq: int, now_ms: int) -> Row:
    v = change.sheet
    assert v is not None
    values = (
        session_id,
        v.sheet.seat,
        v.sheet.stage.value,
        v.version,
        v.expert_id,
        v.doc,
        v.sha256,
        seq,
        now_ms,
        v.commitment,
        v.salt,
        _dumps(v.signature) if v.signature is not None else None,
    )
    return Row("score_sheet", _SHEET_COLUMNS, values)


def _idempotency_row(t: Transition, change: Change, now_ms: int) -> Row:
    values = (
        t.actor,
        t.key_session,
        t.route,
        t.key,
        t.request_sha256,
        change.status,
        _dumps(change.body),
        now_ms,
    )
    return Row("idempotency_key", _KEY_COLUMNS, values)


def insert_session(conn: Connection, session: Session, *, now_ms: int) -> None:
    """Insert a new session row at seq 0 (its events are added by :func:`record`)."""
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


def send_record(
    conn: Connection,
    w: Record,
    *,
    nodes: dict[tuple[int, int], bytes] | None = None,
    pipelined: bool = False,
) -> Callable[[], list[StoredEvent]]:
    """Send the write of a change (:func:`record`) now; the returned function checks it
    and returns the stored events — on PostgreSQL inside a pipeline (``pipelined``: on a
    cursor of its own, its result read after the pipeline synced). ``nodes``: the
    audit-log hashes appending at its ``base_seq`` needs, when the caller read them."""
    if w.events:
        if nodes is None:
            nodes = fetch_append_nodes(conn, w.session_id, w.base_seq, len(w.events))
        w.nodes = append_rows(w.session_id, w.base_seq, w.hashed, nodes)
    # The WHERE on last_seq makes a lost update impossible even if a caller forgot the
    # row lock: a concurrent writer would have moved last_seq and we would update 0 rows.
    pg = is_pg(conn)
    cur: Any = None
    written = False
    if pg:
        # Several requests' results are pending together in a pipeline: a cursor each.
        cur = pipeline_cursor(conn) if pipelined else raw_cursor(conn)
        _write_pg(cur, w)
    else:
        written = write_sqlite(conn, [w])

    def check() -> list[StoredEvent]:
        if not (int(cur.fetchone()[0]) == 1 if pg else written):
            raise RuntimeError(
                f"session {w.session_id} changed concurrently (expected seq {w.base_seq})"
            )
        return w.events

    return check


def seal_events(
    session_id: str,
    events: Sequence[Event],
    *,
    base_seq: int,
    actor: str,
    venue: str | None,
    now_ms: int,
    salt: Callable[[], bytes] | None,
) -> tuple[list[StoredEvent], list[bytes], list[bytes]]:
    """The events as stored after ``base_seq``, their audit-log entries (the stored
    ``audit_leaf.data``) and the leaves the tree hashes."""
    stored = [
        StoredEvent(
            session_id, base_seq + i + 1, e.type, to_jsonable(e.payload), actor, venue, now_ms
        )
        for i, e in enumerate(events)
    ]
    # The same transaction appends each event to the session's audit log
    # (leaf index = seq - 1), so an event exists if and only if its leaf does.
    # The stored entry discloses every field with its salt; the tree commits to the
    # leaf over the fields' salted digests (audit/leaf.py, docs/audit.md "Leaves").
    sealed = [e.seal(salt or _FIELD_SALTS) for e in stored]
    return stored, [entry for entry, _ in sealed], [leaf for _, leaf in sealed]


@dataclass(slots=True)
class Record:
    """Everything one change writes, for the statement(s) of one dialect: made by
    :func:`record`, its audit-log ``nodes`` added once the hashes they need are read."""

    session_id: str
    base_seq: int
    last_seq: int
    now_ms: int
    actor: str
    venue: str | None
    state_doc: tuple[str, str] | None
    events: list[StoredEvent]
    payloads: list[str]
    leaves: list[bytes]  # the stored entries (audit_leaf.data)
    hashed: list[bytes]  # the leaves the Merkle tree hashes
    rows: tuple[Row, ...]
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)


def record(
    session: Session,
    events: Sequence[Event],
    *,
    base_seq: int,
    actor: str,
    venue: str | None,
    now_ms: int,
    changed: bool,
    rows: Sequence[Row],
    salt: Callable[[], bytes] | None,
) -> Record:
    """What a change writes after ``base_seq``: its events sealed (field salts drawn
    now), the document if it ``changed``, and ``rows``; the Merkle nodes still to add."""
    stored, leaves, hashed = seal_events(
        session.id, events, base_seq=base_seq, actor=actor, venue=venue, now_ms=now_ms,
        salt=salt,
    )
    return Record(
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
        hashed=hashed,
        rows=tuple(rows),
    )


def write_sqlite(conn: Connection, records: Sequence[Record]) -> bool:
    """SQLite: write ``records`` — one change, or a group's changes of one or more
    sessions, each session's in seq order — with one statement per table (executemany
    for several rows) and one ``UPDATE`` per session, each table's rows in the order
    given. False when a session's ``last_seq`` was not its first record's ``base_seq``
    (it changed concurrently: the caller raises, and its rollback takes the rest back).
    """
    # Statements cost no round trip on SQLite, but each costs a call into sqlite3 (and
    # a release of the GIL): one per table for the whole group, not one per change.
    sql, cur = SQL_LITE, raw_cursor(conn)
    sessions: dict[str, list[Any]] = {}  # id -> [base_seq, last record, document]
    for w in records:
        at = sessions.setdefault(w.session_id, [w.base_seq, w, None])
        at[1] = w
        if w.state_doc is not None:
            at[2] = w.state_doc
    bumps, saves = [], []
    for sid, (base, last, doc) in sessions.items():
        if doc is None:
            bumps.append((last.last_seq, last.now_ms, sid, base))
        else:
            saves.append((last.last_seq, last.now_ms, *doc, sid, base))
    updated = 0
    for name, params in (("bump", bumps), ("save", saves)):
        if len(params) == 1:
            cur.execute(sql[name], params[0])
        elif params:
            cur.executemany(sql[name], params)
        else:
            continue
        updated += int(cur.rowcount)
    if updated != len(sessions):
        return False
    events = [
        (w.session_id, e.seq, e.type, p, w.actor, w.venue, w.now_ms)
        for w in records
        for e, p in zip(w.events, w.payloads, strict=True)
    ]
    if events:
        cur.executemany(sql["event"], events)
        cur.executemany(
            sql["leaf"],
            [
                (w.session_id, e.seq - 1, d)
                for w in records
                for e, d in zip(w.events, w.leaves, strict=True)
            ],
        )
        cur.executemany(sql["node"], [(w.session_id, *r) for w in records for r in w.nodes])
    tables: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    for w in records:
        for row in w.rows:
            tables.setdefault((row.table, row.columns), []).append(row.values)
    for (table, columns), values in tables.items():
        if len(values) == 1:
            cur.execute(insert_sql(table, columns, "?"), values[0])
        else:
            cur.executemany(insert_sql(table, columns, "?"), values)
    return True


def _write_pg(cur: Any, w: Record) -> None:
    # One statement, one round trip (record_sql_pg); scalar parameters only (psycopg
    # dumps a list parameter as an array in Python, which costs more).
    params: list[Any] = [w.last_seq, w.now_ms, *(w.state_doc or ()), w.session_id, w.base_seq]
    for e, payload in zip(w.events, w.payloads, strict=True):
        params += (e.seq, e.type, payload, w.actor, w.venue, w.now_ms)
    for e, data in zip(w.events, w.leaves, strict=True):
        params += (e.seq - 1, data)
    for node in w.nodes:
        params += node
    for row in w.rows:
        params += row.values
    sql = record_sql_pg(
        w.state_doc is not None,
        len(w.events),
        len(w.nodes),
        tuple((r.table, r.columns) for r in w.rows),
    )
    cur.execute(sql, params)
