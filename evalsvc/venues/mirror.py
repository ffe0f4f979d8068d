"""The venue's durable mirror: its own SQLite file, written only by the agent.

Events are stored exactly as the venue received them (already redacted for the venue
operator's view by the primary), with the cursor ``(epoch, last_seq, chain hash)`` updated
in the same transaction, so after a crash the agent resumes from what is on disk and
never stores an event twice (primary key ``(session_id, seq)``). ``synchronous=FULL``:
an event the venue acknowledged to its operators survives a power cut.
"""

from __future__ import annotations

__all__ = ["AuditMirror", "AuditStatus", "Cursor", "Mirror", "open_readonly"]

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsvc.files import private_file
from evalsvc.sessions.protocol import chain_hash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (
    session_id TEXT PRIMARY KEY,
    epoch TEXT,
    last_seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    title TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    actor TEXT NOT NULL,
    venue TEXT,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS snapshot (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS audit_entry (
    session_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    session_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    origin TEXT NOT NULL,
    log_vkey TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (session_id, size)
);
CREATE TABLE IF NOT EXISTS split (
    session_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    evidence TEXT NOT NULL,
    detected_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS split_report (
    session_id TEXT PRIMARY KEY,
    reported INTEGER NOT NULL,
    detail TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Cursor:
    """Where the mirror of one session stands."""

    epoch: str | None
    last_seq: int
    hash: str


@dataclass(frozen=True)
class AuditStatus:
    """How much of one session's mirror is verified against the signed log."""

    verified: int  # entries (= events seq 1..verified) checked against a cosigned root
    events: int  # events held; those past ``verified`` are pending
    split: tuple[str, str, str] | None  # (kind, detail, evidence file) once detected
    # Whether the split was reported to the primary's supervisors (alert.raised), and
    # what the primary answered; None: not tried (yet).
    reported: tuple[bool, str] | None = None


class AuditMirror:
    """The verified part of the mirror (docs/audit.md "Venue views"): the venue's
    redacted entries, their leaf hashes, the checkpoints they re-derive, and any split
    view detected. Methods of :class:`Mirror` (one connection, one lock)."""

    _db: sqlite3.Connection
    _lock: threading.Lock

    def verified_hashes(self, session_id: str) -> list[bytes]:
        """Leaf hashes of the verified entries, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT leaf_hash FROM audit_entry WHERE session_id = ? ORDER BY idx",
                (session_id,),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def verified_entries(self, session_id: str) -> list[bytes]:
        """The verified entries (as the venue was served them), in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM audit_entry WHERE session_id = ? ORDER BY idx", (session_id,)
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def verified_entry(self, session_id: str, index: int) -> bytes | None:
        """One verified entry (leaf ``index`` = event seq − 1)."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM audit_entry WHERE session_id = ? AND idx = ?",
                (session_id, index),
            ).fetchone()
        return bytes(row[0]) if row else None

    def checkpoints(self, session_id: str) -> list[tuple[int, str, str, str]]:
        """(size, origin, log_vkey, note) of each checkpoint the entries re-derived."""
        with self._lock:
            rows = self._db.execute(
                "SELECT size, origin, log_vkey, note FROM audit_checkpoint "
                "WHERE session_id = ? ORDER BY size",
                (session_id,),
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def add_verified(
        self,
        session_id: str,
        *,
        start: int,
        entries: list[bytes],
        hashes: list[bytes],
        size: int,
        origin: str,
        log_vkey: str,
        note: str,
    ) -> None:
        """Store entries checked against the checkpoint ``note`` of ``size``, in one
        transaction with it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO audit_entry VALUES (?, ?, ?, ?)",
                    [(session_id, i, e, h)
                     for i, (e, h) in enumerate(zip(entries, hashes, strict=True), start)],
                )
                self._db.execute(
                    "INSERT OR IGNORE INTO audit_checkpoint VALUES (?, ?, ?, ?, ?)",
                    (session_id, size, origin, log_vkey, note),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_split(
        self, session_id: str, *, kind: str, detail: str, evidence: str, now_ms: int
    ) -> None:
        """Remember a detected split view (the first one stands)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO split VALUES (?, ?, ?, ?, ?)",
                (session_id, kind, detail, evidence, now_ms),
            )

    def record_split_report(
        self, session_id: str, *, reported: bool, detail: str, now_ms: int
    ) -> None:
        """Remember how reporting the split to the primary went (the last try stands)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO split_report VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO "
                "UPDATE SET reported = excluded.reported, detail = excluded.detail, "
                "updated_ms = excluded.updated_ms",
                (session_id, int(reported), detail, now_ms),
            )

    def split_of_origin(self, origin: str) -> str | None:
        """The session of log ``origin`` (``<log name>/<session id>``) if a split view of
        it was detected; None otherwise."""
        session_id = origin.rsplit("/", 1)[-1]
        with self._lock:
            row = self._db.execute(
                "SELECT session_id FROM split WHERE session_id = ?", (session_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def audit_status(self, session_id: str) -> AuditStatus:
        """Verified and pending counts and the split, if any."""
        with self._lock:
            v = self._db.execute(
                "SELECT count(*) FROM audit_entry WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            n = self._db.execute(
                "SELECT last_seq FROM cursor WHERE session_id = ?", (session_id,)
            ).fetchone()
            sp = self._db.execute(
                "SELECT kind, detail, evidence FROM split WHERE session_id = ?", (session_id,)
            ).fetchone()
            rp = self._db.execute(
                "SELECT reported, detail FROM split_report WHERE session_id = ?", (session_id,)
            ).fetchone()
        return AuditStatus(int(v), int(n[0]) if n else 0,
                           (str(sp[0]), str(sp[1]), str(sp[2])) if sp else None,
                           (bool(rp[0]), str(rp[1])) if rp else None)

    def event(self, session_id: str, seq: int) -> dict[str, Any] | None:
        """A stored event in its ``event`` message shape."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, type, payload, actor, venue, time_ms FROM event "
                "WHERE session_id = ? AND seq = ?",
                (session_id, seq),
            ).fetchone()
        if row is None:
            return None
        return {"seq": int(row[0]), "event": row[1], "payload": json.loads(row[2]),
                "actor": row[3], "venue": row[4], "time": int(row[5])}


class Mirror(AuditMirror):
    """Read/write access for the agent (one connection, serialised by a lock; the
    agent calls it from worker threads)."""

    def __init__(self, path: Path) -> None:
        private_file(path)  # 0600 in a folder created 0700; -wal/-shm follow its mode
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (the agent is stopping)."""
        with self._lock:
            self._db.close()

    def cursor(self, session_id: str) -> Cursor:
        """The stored cursor (a new session starts at seq 0, no epoch)."""
        with self._lock:
            row = self._db.execute(
                "SELECT epoch, last_seq, hash FROM cursor WHERE session_id = ?", (session_id,)
            ).fetchone()
        return Cursor(row[0], int(row[1]), row[2]) if row else Cursor(None, 0, "")

    def append(
        self, session_id: str, epoch: str, events: list[dict[str, Any]], *, now_ms: int
    ) -> Cursor:
        """Store ``events`` (``event`` messages, consecutive after the cursor) and move
        the cursor, in one transaction. Refuses a gap or a duplicate."""
        with self._lock:
            cur = self._db.execute(
                "SELECT last_seq, hash FROM cursor WHERE session_id = ?", (session_id,)
            ).fetchone()
            last, h = (int(cur[0]), cur[1]) if cur else (0, "")
            rows = []
            for m in events:
                if m["seq"] != last + 1:
                    raise ValueError(f"expected seq {last + 1}, got {m['seq']}")
                ev = {k: m[k] for k in ("seq", "event", "payload", "actor", "venue", "time")}
                h = chain_hash(h, ev)
                last = m["seq"]
                rows.append(
                    (
                        session_id,
                        m["seq"],
                        m["event"],
                        json.dumps(m["payload"], ensure_ascii=False),
                        m["actor"],
                        m["venue"],
                        m["time"],
                    )
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO event VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                self._save_cursor(session_id, epoch, last, h, now_ms)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Cursor(epoch, last, h)

    def snapshot(
        self,
        session_id: str,
        epoch: str,
        seq: int,
        reason: str,
        doc: dict[str, Any],
        *,
        now_ms: int,
    ) -> Cursor:
        """Store a snapshot and jump the cursor to its seq (the events in between are
        not available to replay; the snapshot stands for them). The chain hash restarts."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO snapshot VALUES (?, ?, ?, ?)",
                    (session_id, seq, reason, json.dumps(doc, ensure_ascii=False)),
                )
                if reason == "epoch":
                    # Another database: its seqs are not ours; keep the old rows under a
                    # renamed session id so nothing the venue held is lost.
                    self._db.execute(
                        "UPDATE event SET session_id = session_id || '@' || "
                        "coalesce((SELECT epoch FROM cursor WHERE session_id = ?), 'old') "
                        "WHERE session_id = ?",
                        (session_id, session_id),
                    )
                else:
                    self._db.execute(
                        "DELETE FROM event WHERE session_id = ? AND seq > ?", (session_id, seq)
                    )
                self._save_cursor(session_id, epoch, seq, "", now_ms)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Cursor(epoch, seq, "")

    def set_title(self, session_id: str, title: str) -> None:
        """Remember the session's title for the read-only listing."""
        with self._lock:
            self._db.execute(
                "UPDATE cursor SET title = ? WHERE session_id = ?", (title, session_id)
            )

    def _save_cursor(self, session_id: str, epoch: str, last: int, h: str, now_ms: int) -> None:
        self._db.execute(
            "INSERT INTO cursor (session_id, epoch, last_seq, hash, updated_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET "
            "epoch = excluded.epoch, last_seq = excluded.last_seq, hash = excluded.hash, "
            "updated_ms = excluded.updated_ms",
            (session_id, epoch, last, h, now_ms),
        )

    # --- witness state (C2SP tlog-witness: check and persist in one step) ----------------

    def witness_state(self, origin: str) -> tuple[int, bytes, str] | None:
        """(size, root, note) of the latest checkpoint cosigned for ``origin``."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, root, note FROM witness WHERE origin = ?", (origin,)
            ).fetchone()
        return (int(row[0]), bytes(row[1]), row[2]) if row else None

    def save_witness_state(
        self,
        origin: str,
        *,
        expected_size: int | None,
        size: int,
        root: bytes,
        note: str,
        now_ms: int,
    ) -> bool:
        """Store the new cosigned checkpoint only if the stored size is still
        ``expected_size`` (None: nothing stored); False if another request won."""
        with self._lock:
            if expected_size is None:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO witness VALUES (?, ?, ?, ?, ?)",
                    (origin, size, root, note, now_ms),
                )
            else:
                cur = self._db.execute(
                    "UPDATE witness SET size = ?, root = ?, note = ?, updated_ms = ? "
                    "WHERE origin = ? AND size = ?",
                    (size, root, note, now_ms, origin, expected_size),
                )
            return cur.rowcount == 1


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the mirror (the HTTP server can never write to it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn
