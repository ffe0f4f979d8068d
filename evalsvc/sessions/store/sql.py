"""The SQL of the session store's hot paths, written once for both databases.

Statements are written with ``?`` placeholders and converted for psycopg (``%s``); the
hot paths run them on the transaction's kept DB-API cursor (:func:`evalsvc.db.raw_cursor`):
SQLAlchemy's per-execute bookkeeping cost more than SQLite's own work. The tables are
the SQLModel ones of :mod:`evalsvc.sessions.tables`.
"""

from __future__ import annotations

__all__ = [
    "SQL_LITE",
    "SQL_LITE_GROUP",
    "SQL_PG",
    "Row",
    "append_keys_sql_pg",
    "insert_sql",
    "is_pg",
    "record_sql_pg",
    "run",
    "snapshot_reads_sql",
]

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from evalsvc.db import raw_cursor

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
    "WHERE actor = ? AND session_id = ? AND route = ? AND key = ?",
}
SQL_PG = {k: v.replace("?", "%s") for k, v in _SQL.items()}
SQL_LITE = {
    k: v.replace(" FOR UPDATE SKIP LOCKED", "").replace(" FOR UPDATE", "") for k, v in _SQL.items()
}


def _at(n: int) -> str:
    return f"json_extract(j.value, '$[{n}]')"


# SQLite, a group of transitions at once (evalsvc.sessions.store.batched): every session
# row in one statement, then every idempotency key, seat version and audit-log hash in
# another. Each list is one JSON array parameter (json_each), so a statement's text is
# the same whatever the group holds and sqlite3 prepares it once; each element is an
# index lookup (CROSS JOIN keeps json_each outside), tagged by kind (0: a key's stored
# response, with the key as stored; 1: a seat's latest sheet version; 2: a hash) and by
# the element's position in its list.
SQL_LITE_GROUP = {
    "load": "SELECT id, doc, last_seq FROM session WHERE id IN (SELECT value FROM json_each(?))",
    "reads": (
        "SELECT 0, j.key, i.status, i.request_sha256, i.response, NULL, "
        "i.actor, i.session_id, i.route, i.key FROM json_each(?1) AS j "
        f"CROSS JOIN idempotency_key AS i WHERE i.actor = {_at(0)} AND i.session_id = {_at(1)} "
        f"AND i.route = {_at(2)} AND i.key = {_at(3)} "
        "UNION ALL SELECT 1, j.key, (SELECT version FROM score_sheet "
        f"WHERE session_id = {_at(0)} AND stage = {_at(1)} AND seat = {_at(2)} "
        "ORDER BY version DESC LIMIT 1), NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        "FROM json_each(?2) AS j "
        "UNION ALL SELECT 2, j.key, NULL, NULL, NULL, (SELECT hash FROM audit_node "
        f"WHERE session_id = {_at(0)} AND level = {_at(1)} AND idx = {_at(2)}), "
        "NULL, NULL, NULL, NULL FROM json_each(?3) AS j"
    ),
}


def is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def run(conn: Connection, name: str, params: Sequence[Any]) -> Any:
    """Execute one hot-path statement on the transaction's DB-API connection."""
    cur = raw_cursor(conn)
    cur.execute((SQL_PG if is_pg(conn) else SQL_LITE)[name], params)
    return cur


@dataclass(frozen=True)
class Row:
    """One more row written with a change's events (in the same statement on
    PostgreSQL): a score sheet, the idempotency record of the request."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]


@functools.lru_cache(maxsize=64)
def insert_sql(table: str, columns: tuple[str, ...], ph: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([ph] * len(columns))})"


def _values(types: tuple[str, ...], count: int) -> str:
    # A VALUES list of ``count`` rows; the first row's casts type the columns.
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    rest = "(" + ", ".join(["%s"] * len(types)) + ")"
    return "(VALUES " + ", ".join([first] + [rest] * (count - 1)) + ")"


@functools.lru_cache(maxsize=256)
def record_sql_pg(
    changed: bool, events: int, nodes: int, rows: tuple[tuple[str, tuple[str, ...]], ...]
) -> str:
    """PostgreSQL: a change in one statement of data-modifying CTEs.

    The event and audit inserts select FROM the UPDATE's result, so nothing is inserted
    unless the guarded update matched (count 0: the caller raises, and the rollback of
    its transaction takes ``rows`` back too). The text depends only on the shape, so
    psycopg prepares each shape once per connection."""
    setting = "last_seq = %s, updated_at = %s" + (", state = %s, doc = %s" if changed else "")
    parts = [f"s AS (UPDATE session SET {setting} WHERE id = %s AND last_seq = %s RETURNING id)"]
    if events:
        event_types = ("integer", "text", "text", "text", "text", "bigint")
        parts += [
            "e AS (INSERT INTO event (session_id, seq, type, payload, actor, venue, time_ms) "
            f"SELECT s.id, x.* FROM s, {_values(event_types, events)} AS x)",
            "l AS (INSERT INTO audit_leaf (session_id, idx, data) "
            f"SELECT s.id, x.* FROM s, {_values(('bigint', 'bytea'), events)} AS x)",
        ]
        if nodes:
            parts.append(
                "n AS (INSERT INTO audit_node (session_id, level, idx, hash) "
                f"SELECT s.id, x.* FROM s, {_values(('smallint', 'bigint', 'bytea'), nodes)} AS x)"
            )
    parts += [
        f"r{i} AS ({insert_sql(table, columns, '%s')})" for i, (table, columns) in enumerate(rows)
    ]
    return "WITH " + ", ".join(parts) + " SELECT count(*) FROM s"


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
def snapshot_reads_sql(pg: bool, version: bool, nodes: int, *, exists: bool = False) -> str:
    """The reads after the row lock in one statement: a UNION ALL of index lookups,
    tagged by kind (0: the key's stored response, 1: the seat's latest sheet version,
    2: an audit-log hash, 3: the session exists), with one column layout (explicit
    casts: PostgreSQL resolves a UNION's column types pair by pair). ``nodes``: how many
    (session, level, idx) lookups follow; -1 (PostgreSQL): the keys come from the
    session row's last_seq, for a session id given last."""
    ph, blob = ("%s", "BYTEA") if pg else ("?", "BLOB")
    parts = [
        f"SELECT 0, status, CAST(NULL AS BIGINT), request_sha256, response, "
        f"CAST(NULL AS {blob}) FROM idempotency_key WHERE actor = {ph} AND session_id = {ph} "
        f"AND route = {ph} AND key = {ph}"
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
