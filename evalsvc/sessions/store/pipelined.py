"""The pipelined store driver (PostgreSQL): the same meaning as the sequential driver
(:func:`evalsvc.sessions.store.writes.execute`) over a group of transitions, with one
round trip per step for all of them.

The database's group writer (:class:`evalsvc.db.Batchable`) runs each step for the
whole group: every transition's row lock and reads in one psycopg pipeline, then each
decision, then every write in a second pipeline, then COMMIT. In a group the lock is
``FOR UPDATE SKIP LOCKED``: a transition whose session another instance holds raises
:class:`~evalsvc.db.Busy` and goes to the writer's next group. Only transitions that
say so (``Needs.batch``: they read nothing but the session row, their key and a sheet
version, and never sign a milestone) run this way; a group with any other runs the
sequential way.
"""

from __future__ import annotations

__all__ = ["Pipelined"]

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from evalsvc.db import Busy, pipeline_cursor
from evalsvc.errors import NotFound
from evalsvc.sessions.model import Session
from evalsvc.sessions.store.reads import SnapshotReads, StoredEvent, parse_snapshot_reads
from evalsvc.sessions.store.sql import SQL_PG, run, snapshot_reads_sql
from evalsvc.sessions.store.writes import Wiring, execute, write_change
from evalsvc.sessions.transitions import Change, Replay, Result, Snapshot, Transition, decide


class Pipelined:
    """One transition as a :class:`evalsvc.db.Batchable`; called, it runs sequentially."""

    def __init__(self, t: Transition, w: Wiring, now_ms: int) -> None:
        self.t = t
        self.w = w
        self.now_ms = now_ms
        self._reads: Callable[[], tuple[Session, int, SnapshotReads]] | None = None
        self._planned: tuple[Result, Change | None, int, SnapshotReads] | None = None
        self._written: Callable[[], list[StoredEvent]] | None = None

    def __call__(self, conn: Connection) -> tuple[Result, list[StoredEvent], Change | None]:
        return execute(conn, self.t, self.w, self.now_ms)

    def send_reads(self, conn: Connection, *, wait: bool) -> None:
        self._reads = send_snapshot_reads(conn, self.t, self.w, wait=wait)

    def plan(self, conn: Connection) -> None:
        assert self._reads is not None
        s, last, reads = self._reads()
        snap = Snapshot(s, last, self.now_ms, reads.replay, reads.sheet_version)
        out = decide(self.t, snap)
        if isinstance(out, Replay):
            self._planned = (Result(out.status, out.body, replayed=True), None, last, reads)
        else:
            if len(out.events) > 1 or out.extras:
                # (The hashes read ahead are those one leaf needs; extras are not pipelined.)
                raise RuntimeError("a batched transition records at most one event, no extras")
            self._planned = (Result(out.status, out.body), out, last, reads)

    def send_writes(self, conn: Connection) -> None:
        assert self._planned is not None
        _, change, last, reads = self._planned
        if change is not None:
            self._written = write_change(
                conn,
                self.t,
                self.w,
                change,
                base_seq=last,
                now_ms=self.now_ms,
                nodes=reads.nodes,
                pipelined=True,
            )

    def result(self) -> tuple[Result, list[StoredEvent], Change | None]:
        assert self._planned is not None
        result, change, _, _ = self._planned
        return result, self._written() if self._written is not None else [], change


def send_snapshot_reads(
    conn: Connection, t: Transition, w: Wiring, *, wait: bool
) -> Callable[[], tuple[Session, int, SnapshotReads]]:
    """Inside a psycopg pipeline: send the row lock and the reads after it; the returned
    function reads their results once the pipeline synced.

    The reads run after the lock and see what was committed before it, including the
    commit the lock may have waited for. The audit-log keys come from the locked row's
    ``last_seq`` in SQL. The seat and stage of the sheet version come from this app's
    last parse of the session (a seat is assigned once); when the locked document says
    otherwise, the version is read again (one more round trip).

    Not ``wait``: the lock skips a row another transaction holds, and the function
    raises :class:`~evalsvc.db.Busy` (the transition goes to the writer's next group).
    """
    sid = t.session_id
    guess = w.docs.last(sid)
    seat, stage = _seat_and_stage(guess, t.needs.sheet_version_of) if guess else (None, None)
    params: list[Any] = [t.actor, t.key_session, t.route, t.key or ""]
    if seat is not None:
        params += [sid, stage, seat]
    params.append(sid)
    if not wait:
        params.append(sid)
    lock, reads = pipeline_cursor(conn), pipeline_cursor(conn)
    lock.execute(SQL_PG["load_for_update" if wait else "load_for_update_skip"], (sid,))
    reads.execute(snapshot_reads_sql(True, seat is not None, -1, exists=not wait), params)

    def finish() -> tuple[Session, int, SnapshotReads]:
        row = lock.fetchone()
        rows = reads.fetchall()
        if row is None:
            if any(r[0] == 3 for r in rows):  # it exists: another transaction holds it
                raise Busy(f"session {sid} is locked")
            raise NotFound(f"no session {sid!r}")
        s, last = w.docs.parse(sid, row[0]), int(row[1])
        found = parse_snapshot_reads(rows)
        if t.key is None:
            found = SnapshotReads(None, found.sheet_version, found.nodes)
        actual = _seat_and_stage(s, t.needs.sheet_version_of)
        if actual != (seat, stage) and actual[0] is not None:
            prev = run(conn, "max_version", (sid, *actual)).fetchone()[0]
            found = SnapshotReads(found.replay, int(prev or 0), found.nodes)
        return s, last, found

    return finish


def _seat_and_stage(s: Session, expert_id: str | None) -> tuple[int | None, str | None]:
    if expert_id is None or s.stage is None:
        return None, None
    seat = s.seat_of(expert_id)
    return (seat.index if seat else None), s.stage.value
