"""Durable per-session audit log on SQLAlchemy Core (SQLite or PostgreSQL).

Adapter: every function takes a SQLAlchemy ``Connection`` inside the caller's
transaction, so the session service appends a leaf in the same transaction as the
event it records. The tree math is :mod:`evalsvc.audit.ranges` /
:mod:`evalsvc.audit.merkle`; proofs read O(log n) stored subtree hashes in one query.
"""

from __future__ import annotations

__all__ = [
    "StoredCheckpoint",
    "add_cosignature",
    "append_leaf",
    "append_needs",
    "append_rows",
    "checkpoint_note",
    "consistency_proof_from_store",
    "cosigners",
    "fetch_append_nodes",
    "inclusion_proof_from_store",
    "list_checkpoints",
    "lock_session_log",
    "log_size",
    "read_leaves",
    "root_at",
    "sign_checkpoint",
    "sign_checkpoints",
    "tlog_proof_from_store",
    "unsigned_sizes",
]

import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from evalsvc.audit.merkle import leaf_hash, node_hash
from evalsvc.audit.note import (
    Checkpoint,
    TlogProof,
    format_tlog_proof,
    parse_checkpoint,
    split_note,
    verify_cosignature,
)
from evalsvc.audit.note import sign_checkpoint as _sign_checkpoint_note
from evalsvc.audit.ranges import consistency_ranges, inclusion_ranges, perfect_subtrees
from evalsvc.audit.tables import audit_checkpoint, audit_cosignature, audit_leaf, audit_node
from evalsvc.db import raw_cursor
from evalsvc.errors import AuditLogInconsistent, Conflict, InvalidInput, NotFound

_EMPTY_ROOT = hashlib.sha256(b"").digest()
_Key = tuple[int, int]  # (level, index) of a perfect subtree


def lock_session_log(conn: Connection, session_id: str) -> None:
    """Serialize appenders of one session's log across processes.

    PostgreSQL: a transaction-scoped advisory lock on the session id. SQLite has one
    writer at a time already (the caller's ``BEGIN IMMEDIATE`` or write lock).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": "evalsvc.audit:" + session_id},
        )


def _needs(index: int) -> list[_Key]:
    # Left siblings of every subtree leaf ``index`` completes; (0, index-1) also proves
    # that the log has no gap before this leaf.
    needed: list[_Key] = []
    if index > 0:
        needed.append((0, index - 1))
    level = 2
    while (index + 1) % (1 << level) == 0:
        needed.append((level - 1, ((index + 1) >> (level - 1)) - 2))
        level += 1
    return needed


def append_needs(first: int, count: int = 1) -> list[_Key]:
    """The stored subtree hashes that appending leaves ``first … first+count-1`` reads
    (those the leaves themselves complete are computed, not read)."""
    out: list[_Key] = []
    for index in range(first, first + count):
        for key in _needs(index):
            # Node (level, i) was completed by leaf (i + 1) * 2**level - 1.
            if ((key[1] + 1) << key[0]) - 1 < first and key not in out:
                out.append(key)
    return out


def append_rows(
    session_id: str, first: int, leaves: Sequence[bytes], have: dict[_Key, bytes]
) -> list[tuple[int, int, bytes]]:
    """The ``audit_node`` rows (level, index, hash) of appending ``leaves`` at ``first``:
    each leaf hash and the hash of every subtree it completes (RFC 6962 §2.1).

    ``have`` holds at least the :func:`append_needs` keys, read from the store; raises
    ``Conflict`` when the leaf before ``first`` is not there (the log would have a gap).
    """
    if first < 0:
        raise InvalidInput(f"audit leaf index must be >= 0, got {first}", field="index")
    if first > 0 and (0, first - 1) not in have:
        raise Conflict(
            f"audit log of session {session_id} has no leaf {first - 1}: "
            f"leaf {first} would leave a gap"
        )
    have = dict(have)
    rows: list[tuple[int, int, bytes]] = []
    for index, data in enumerate(leaves, start=first):
        cur = leaf_hash(data)
        rows.append((0, index, cur))
        have[(0, index)] = cur
        pos, lvl = index, 1
        while (index + 1) % (1 << lvl) == 0:
            # ``pos`` is the right child's index at level lvl-1; its left sibling is pos-1.
            cur = node_hash(have[(lvl - 1, pos - 1)], cur)
            pos >>= 1
            rows.append((lvl, pos, cur))
            have[(lvl, pos)] = cur
            lvl += 1
    return rows


def fetch_append_nodes(
    conn: Connection, session_id: str, first: int, count: int = 1
) -> dict[_Key, bytes]:
    """Read the stored hashes :func:`append_rows` needs to append ``count`` leaves."""
    needed = append_needs(first, count)
    return _fetch_nodes(conn, session_id, needed, raw=True) if needed else {}


def append_leaf(conn: Connection, *, session_id: str, index: int, data: bytes) -> bytes:
    """Append leaf ``index`` (= event seq - 1) to the session's log; return its leaf hash.

    Stores the leaf and the hash of every subtree it completes (RFC 6962 §2.1), in the
    caller's transaction. Raises ``Conflict`` when ``index`` is not the next index.
    """
    if index < 0:
        raise InvalidInput(f"audit leaf index must be >= 0, got {index}", field="index")
    rows = append_rows(session_id, index, [data], fetch_append_nodes(conn, session_id, index))
    ph = _placeholder(conn)
    cur = _cursor(conn)
    try:
        cur.execute(
            f"INSERT INTO {audit_leaf.name} (session_id, idx, data) VALUES ({ph}, {ph}, {ph})",
            (session_id, index, data),
        )
        cur.executemany(
            f"INSERT INTO {audit_node.name} (session_id, level, idx, hash) "
            f"VALUES ({ph}, {ph}, {ph}, {ph})",
            [(session_id, *r) for r in rows],
        )
    except (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError) as exc:
        raise Conflict(f"audit log of session {session_id} already has leaf {index}") from exc
    return rows[0][2]


def _cursor(conn: Connection) -> Any:
    # The DB-API cursor of the caller's transaction: on the append path even
    # exec_driver_sql's bookkeeping cost more than SQLite's work.
    return raw_cursor(conn)


def _placeholder(conn: Connection) -> str:
    # The hot paths below talk to the driver directly (exec_driver_sql): building Core
    # expressions costs more than the SQLite statement itself. Both drivers in use take
    # positional parameters: sqlite3 "?" (qmark), psycopg "%s" (format).
    style = conn.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"audit log: driver paramstyle {style!r} is not supported")


@functools.lru_cache(maxsize=256)
def _select_nodes_sql(ph: str, count: int) -> str:
    # A UNION ALL of primary-key point lookups: each part is an index seek on both
    # SQLite and PostgreSQL (an OR list or a row-value IN list makes SQLite scan the
    # session's nodes).
    one = (
        f"SELECT level, idx, hash FROM {audit_node.name} "
        f"WHERE session_id = {ph} AND level = {ph} AND idx = {ph}"
    )
    return " UNION ALL ".join([one] * count)


def _fetch_nodes(
    conn: Connection, session_id: str, keys: Iterable[_Key], *, raw: bool = False
) -> dict[_Key, bytes]:
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    params: list[object] = []
    for lvl, i in keys:
        params += (session_id, lvl, i)
    sql = _select_nodes_sql(_placeholder(conn), len(keys))
    if raw:  # the append path: straight to the DB-API cursor, as the inserts
        cur = _cursor(conn)
        cur.execute(sql, tuple(params))
        return {(int(r[0]), int(r[1])): bytes(r[2]) for r in cur.fetchall()}
    rows = conn.exec_driver_sql(sql, tuple(params))
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


def _range_keys(ranges: Sequence[tuple[int, int]]) -> list[list[_Key]]:
    return [perfect_subtrees(s, e) for s, e in ranges]


def _hashes(conn: Connection, session_id: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    parts = _range_keys(ranges)
    have = _fetch_nodes(conn, session_id, (k for p in parts for k in p))
    out = []
    for (start, end), keys in zip(ranges, parts, strict=True):
        missing = [k for k in keys if k not in have]
        if missing:
            raise NotFound(
                f"audit log of session {session_id} has no subtree for leaves "
                f"[{start}, {end}) (missing level/index {missing[0]})"
            )
        # RFC 6962 §2.1: the range's hash folds its perfect subtrees right to left.
        h = have[keys[-1]]
        for k in reversed(keys[:-1]):
            h = node_hash(have[k], h)
        out.append(h)
    return out


def log_size(conn: Connection, session_id: str) -> int:
    """Number of leaves in the session's log."""
    n = conn.execute(
        select(func.max(audit_leaf.c.idx)).where(audit_leaf.c.session_id == session_id)
    ).scalar()
    return 0 if n is None else int(n) + 1


def root_at(conn: Connection, session_id: str, size: int) -> bytes:
    """Merkle tree hash of the session's first ``size`` leaves (RFC 6962 §2.1)."""
    if size < 0:
        raise InvalidInput(f"tree size must be >= 0, got {size}", field="size")
    if size == 0:
        return _EMPTY_ROOT
    return _hashes(conn, session_id, [(0, size)])[0]


def inclusion_proof_from_store(
    conn: Connection, session_id: str, index: int, size: int
) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 §2.1.1)."""
    try:
        ranges = inclusion_ranges(index, size)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="index") from exc
    return _hashes(conn, session_id, ranges)


def consistency_proof_from_store(
    conn: Connection, session_id: str, old_size: int, new_size: int
) -> list[bytes]:
    """Consistency proof between two sizes of the session's log (RFC 6962 §2.1.2)."""
    try:
        ranges = consistency_ranges(old_size, new_size)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="old_size") from exc
    if new_size and not _fetch_nodes(conn, session_id, [(0, new_size - 1)]):
        raise NotFound(f"audit log of session {session_id} has fewer than {new_size} leaves")
    return _hashes(conn, session_id, ranges)


def read_leaves(
    conn: Connection, session_id: str, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """``(index, data)`` of the session's leaves in ``[start, end)``, in order."""
    c = audit_leaf.c
    q = select(c.idx, c.data).where(c.session_id == session_id, c.idx >= start)
    if end is not None:
        q = q.where(c.idx < end)
    for row in conn.execute(q.order_by(c.idx)):
        yield int(row.idx), bytes(row.data)


# --- checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: the log-signed note and the witnesses' cosignature lines."""

    size: int
    root: bytes
    note: str
    cosignatures: tuple[str, ...]

    def cosigned(self) -> str:
        """The note with every cosignature line appended (C2SP tlog-cosignature)."""
        return self.note + "".join(self.cosignatures)


def sign_checkpoint(
    conn: Connection,
    *,
    session_id: str,
    origin: str,
    skey: str,
    size: int | None = None,
    extensions: Sequence[str] = (),
) -> str:
    """Sign and store a checkpoint of the log at ``size`` (default: all leaves).

    Idempotent per size: a checkpoint already stored for that size is returned as is.
    Returns the log-signed note (without cosignatures).
    """
    if size is None:
        size = log_size(conn, session_id)
    c = audit_checkpoint.c
    existing = conn.execute(
        select(c.note).where(c.session_id == session_id, c.size == size)
    ).scalar()
    if existing is not None:
        return str(existing)
    root = root_at(conn, session_id, size)
    note = _sign_checkpoint_note(Checkpoint(origin, size, root, tuple(extensions)), skey)
    conn.execute(
        insert(audit_checkpoint),
        [{"session_id": session_id, "size": size, "root": root, "note": note}],
    )
    return note


# Sessions per statement of the batched checkpoint queries (SQLite allows 500 terms in a
# compound SELECT).
_BATCH = 100


def unsigned_sizes(conn: Connection, session_ids: Sequence[str]) -> dict[str, int]:
    """The log size of each of ``session_ids`` whose leaves run past its latest
    checkpoint — one statement per hundred sessions, each part two index lookups."""
    ph = _placeholder(conn)
    one = (
        f"SELECT {ph}, (SELECT MAX(idx) FROM {audit_leaf.name} WHERE session_id = {ph}), "
        f"(SELECT MAX(size) FROM {audit_checkpoint.name} WHERE session_id = {ph})"
    )
    out: dict[str, int] = {}
    for i in range(0, len(session_ids), _BATCH):
        chunk = session_ids[i : i + _BATCH]
        rows = conn.exec_driver_sql(
            " UNION ALL ".join([one] * len(chunk)), tuple(p for sid in chunk for p in (sid,) * 3)
        )
        for sid, last, signed in rows:
            size = -1 if last is None else int(last)
            if size + 1 > int(signed or 0):
                out[str(sid)] = size + 1
    return out


def sign_checkpoints(conn: Connection, logs: Sequence[tuple[str, str, str, int]]) -> int:
    """Sign and store a checkpoint of each (session, origin, signing key, size) — sizes
    past the latest checkpoints (:func:`unsigned_sizes`) — reading the roots in few
    statements and storing them in one. Returns how many."""
    keys = {(sid, size): perfect_subtrees(0, size) for sid, _, _, size in logs}
    wanted = [(sid, k) for (sid, _), ks in keys.items() for k in ks]
    ph = _placeholder(conn)
    one = (
        f"SELECT session_id, level, idx, hash FROM {audit_node.name} "
        f"WHERE session_id = {ph} AND level = {ph} AND idx = {ph}"
    )
    have: dict[tuple[str, int, int], bytes] = {}
    for i in range(0, len(wanted), _BATCH):
        chunk = wanted[i : i + _BATCH]
        rows = conn.exec_driver_sql(
            " UNION ALL ".join([one] * len(chunk)),
            tuple(p for sid, (lvl, idx) in chunk for p in (sid, lvl, idx)),
        )
        have.update({(str(r[0]), int(r[1]), int(r[2])): bytes(r[3]) for r in rows})
    stored = []
    for sid, origin, skey, size in logs:
        subtrees = keys[(sid, size)]
        missing = [k for k in subtrees if (sid, *k) not in have]
        if missing:
            raise NotFound(
                f"audit log of session {sid} has no subtree for leaves [0, {size}) "
                f"(missing level/index {missing[0]})"
            )
        # RFC 6962 §2.1: the tree hash folds its perfect subtrees right to left.
        root = have[(sid, *subtrees[-1])]
        for k in reversed(subtrees[:-1]):
            root = node_hash(have[(sid, *k)], root)
        note = _sign_checkpoint_note(Checkpoint(origin, size, root, ()), skey)
        stored.append({"session_id": sid, "size": size, "root": root, "note": note})
    if stored:
        conn.execute(insert(audit_checkpoint), stored)
    return len(stored)


def add_cosignature(
    conn: Connection, *, session_id: str, size: int, line: str, witness_vkey: str
) -> int:
    """Verify a witness's cosignature line over the stored checkpoint and store it.

    Returns its timestamp. A second cosignature by the same witness for the same size
    is verified and then ignored (the first one is kept).
    """
    c = audit_checkpoint.c
    note = conn.execute(select(c.note).where(c.session_id == session_id, c.size == size)).scalar()
    if note is None:
        raise NotFound(f"no checkpoint of size {size} for session {session_id}")
    ts = verify_cosignature(str(note), line, witness_vkey)
    witness = line.removeprefix("\u2014 ").split(" ", 1)[0]
    w = audit_cosignature.c
    seen = conn.execute(
        select(w.witness).where(w.session_id == session_id, w.size == size, w.witness == witness)
    ).first()
    if seen is None:
        conn.execute(
            insert(audit_cosignature),
            [
                {
                    "session_id": session_id,
                    "size": size,
                    "witness": witness,
                    "timestamp": ts,
                    "line": line if line.endswith("\n") else line + "\n",
                }
            ],
        )
    return ts


def cosigners(conn: Connection, session_id: str, size: int) -> list[str]:
    """Names of the witnesses whose (verified) cosignature is stored for ``size``.

    The service compares this with the session's quorum before a milestone moves on.
    """
    w = audit_cosignature.c
    rows = conn.execute(
        select(w.witness).where(w.session_id == session_id, w.size == size).order_by(w.witness)
    )
    return [str(r.witness) for r in rows]


def list_checkpoints(conn: Connection, session_id: str) -> list[StoredCheckpoint]:
    """Every stored checkpoint of the session, by size, with its cosignature lines."""
    c, w = audit_checkpoint.c, audit_cosignature.c
    lines: dict[int, list[str]] = {}
    for r in conn.execute(
        select(w.size, w.line).where(w.session_id == session_id).order_by(w.size, w.witness)
    ):
        lines.setdefault(int(r.size), []).append(str(r.line))
    return [
        StoredCheckpoint(int(r.size), bytes(r.root), str(r.note), tuple(lines.get(r.size, [])))
        for r in conn.execute(
            select(c.size, c.root, c.note).where(c.session_id == session_id).order_by(c.size)
        )
    ]


def checkpoint_note(conn: Connection, session_id: str, size: int | None = None) -> str | None:
    """The cosigned checkpoint note at ``size`` (default: the latest), or ``None``."""
    cps = list_checkpoints(conn, session_id)
    if size is not None:
        cps = [cp for cp in cps if cp.size == size]
    return cps[-1].cosigned() if cps else None


def tlog_proof_from_store(
    conn: Connection, session_id: str, index: int, *, size: int | None = None
) -> str:
    """C2SP tlog-proof text for leaf ``index`` against the latest (or given) checkpoint."""
    note = checkpoint_note(conn, session_id, size)
    if note is None:
        raise NotFound(f"no checkpoint for session {session_id}")
    cp = parse_checkpoint(split_note(note)[0])
    if index >= cp.size:
        raise NotFound(f"leaf {index} is not yet covered by a checkpoint (size {cp.size})")
    proof = inclusion_proof_from_store(conn, session_id, index, cp.size)
    if root_at(conn, session_id, cp.size) != cp.root:
        raise AuditLogInconsistent(
            f"stored checkpoint of size {cp.size} does not match the stored tree"
        )
    return format_tlog_proof(TlogProof(index, tuple(proof), note))
