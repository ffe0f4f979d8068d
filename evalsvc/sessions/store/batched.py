"""The batched store driver (SQLite): the same meaning as the sequential driver
(:func:`evalsvc.sessions.store.writes.execute`) over a group of transitions, with a few
statements for the whole group instead of a few for each.

SQLite has no round trips to save, but every statement is a call into sqlite3 (Python
overhead, the GIL released and taken back): eight per score sheet the sequential way.
The database's writer (:class:`evalsvc.db.Groupable`) hands a group of transitions to
:func:`run_group`, in the group's transaction and in the order they were queued, which
runs the steps of the pipelined driver (:mod:`.pipelined`) once for all of them:

1. reads: every session row in one statement, then every idempotency key, seat version
   and audit-log hash the group needs in another (:data:`.sql.SQL_LITE_GROUP`);
2. decisions, in order, against the group's state in memory: the session's ``last_seq``
   and the sheet versions and keys written by the transitions before — two sheets of
   one seat get consecutive versions, a key used twice replays the first answer, and a
   refused transition writes nothing and leaves that state as it was;
3. writes: the Merkle nodes of each session's new leaves in one ``append_rows``, then
   one statement per table and one ``UPDATE`` per session for the group
   (:func:`.writes.write_sqlite`), each table's rows in the sequential driver's order;
4. the results, handed back by the writer once COMMIT returned.

Only transitions that say so (``Needs.batch``: score sheets) are batched; one whose
change rewrites the session document or writes extras raises, and the writer runs the
group the ordinary way, as it does after any error (``tests/sessions/test_drivers.py``
compares the rows and responses of both drivers).
"""

from __future__ import annotations

__all__ = ["Batched", "Unbatchable", "available", "frontier", "run_group"]

import contextlib
import functools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from evalsvc.audit.log import append_rows
from evalsvc.audit.ranges import perfect_subtrees
from evalsvc.canonical import response_json, storage_json
from evalsvc.db import AFTER_COMMIT, raw_cursor
from evalsvc.errors import NotFound
from evalsvc.sessions.model import Session
from evalsvc.sessions.store.reads import Frontiers, StoredEvent
from evalsvc.sessions.store.sql import SQL_LITE_GROUP
from evalsvc.sessions.store.writes import (
    Record,
    Wiring,
    change_rows,
    execute,
    record,
    write_sqlite,
)
from evalsvc.sessions.transitions import (
    Change,
    Replay,
    Result,
    Snapshot,
    StoredResponse,
    Transition,
    decide,
)

Outcome = tuple[tuple[Result, list[StoredEvent], Change | None] | None, BaseException | None]
_Key = tuple[str, str, str, str]  # (actor, session, route, key) of an idempotency record
_Seat = tuple[str, str, int]  # (session, stage, seat) of a sheet version


@functools.cache
def available() -> bool:
    """Whether this Python's SQLite has the JSON functions the group's reads use (built
    in since SQLite 3.38; without them every batch would fail and run again)."""
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            db.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.Error:
        return False
    return True


class Batched:
    """One transition as a :class:`evalsvc.db.Groupable`; called, it runs sequentially."""

    __slots__ = ("now_ms", "t", "w")

    def __init__(self, t: Transition, w: Wiring, now_ms: int) -> None:
        self.t = t
        self.w = w
        self.now_ms = now_ms

    def __call__(self, conn: Connection) -> tuple[Result, list[StoredEvent], Change | None]:
        return execute(conn, self.t, self.w, self.now_ms)

    def run_group(self, conn: Connection, group: Sequence[Batched]) -> list[Outcome]:
        return run_group(conn, group)


class Unbatchable(RuntimeError):
    """The group holds a transition this driver does not write: the writer rolls back
    and runs the group the ordinary way."""


@dataclass(slots=True)
class _Open:
    """A session of the group: as read, and as the decisions so far leave it."""

    session: Session
    last: int
    have: dict[tuple[int, int], bytes] = field(default_factory=dict)  # hashes read
    records: list[Record] = field(default_factory=list)  # its changes, in order
    cached: bool = False  # ``have`` is the writer's last commit (Frontiers), checked


def run_group(conn: Connection, group: Sequence[Batched]) -> list[Outcome]:
    """Read, decide and write ``group`` in the caller's transaction (see the module
    docstring); each transition's outcome, in order: its result, or the exception that
    refused it alone. Raises when the group cannot be written this way."""
    w = group[0].w
    for b in group:
        needs = b.t.needs
        if b.w is not w or not needs.batch or needs.creates or needs.sheets or needs.extras:
            raise Unbatchable("only transitions of Needs.batch are batched")
    frontiers = w.frontiers
    sessions = _load(conn, w, group)
    keys, versions = _read(conn, group, sessions, frontiers)
    records: list[Record] = []  # in the order decided
    outcomes = [_decide(b, sessions, keys, versions, records) for b in group]
    committed: list[tuple[str, int, dict[tuple[int, int], bytes]]] = []
    for sid, st in sessions.items():
        leaves = [r for r in st.records for _ in r.hashed]  # the record of each new leaf
        if not leaves:
            continue
        hashed = [h for r in st.records for h in r.hashed]
        n = -1
        nodes = append_rows(sid, leaves[0].base_seq, hashed, st.have)
        for node in nodes:
            n += node[0] == 0  # a leaf's hash comes first, then the subtrees it completes
            leaves[n].nodes.append(node)
        if frontiers is not None:
            # What the next group appending to this log reads, once this one committed.
            known = {**st.have, **{(level, idx): h for level, idx, h in nodes}}
            need = frontier(st.last)
            if all(node in known for node in need):
                committed.append((sid, st.last, {node: known[node] for node in need}))
    if records and not write_sqlite(conn, records):
        raise RuntimeError("a session of the group changed concurrently")
    if w.milestone is not None:
        for r in records:
            if r.events:
                w.milestone(conn, r.session_id, r.events)
    if committed and frontiers is not None:
        conn.info.setdefault(AFTER_COMMIT, []).append(functools.partial(frontiers.put, committed))
    return outcomes


def _load(conn: Connection, w: Wiring, group: Sequence[Batched]) -> dict[str, _Open]:
    ids = list(dict.fromkeys(b.t.session_id for b in group))
    cur = raw_cursor(conn)
    cur.execute(SQL_LITE_GROUP["load"], (response_json(ids),))
    return {
        sid: _Open(w.docs.parse(sid, doc), int(last))
        for sid, doc, last in cur.fetchall()
    }


def _read(
    conn: Connection,
    group: Sequence[Batched],
    sessions: dict[str, _Open],
    frontiers: Frontiers | None = None,
) -> tuple[dict[_Key, StoredResponse | tuple[str, Change]], dict[_Seat, int]]:
    """The keys' stored responses, the seats' latest sheet versions and each session's
    audit-log hashes (into ``sessions``) the group needs, in one statement. A session
    whose hashes ``frontiers`` holds for its size reads its last leaf's hash only, to
    check them: a mismatch raises :class:`Unbatchable` (the group runs again the
    ordinary way, which reads every hash)."""
    keys: list[_Key] = []
    seats: list[_Seat] = []
    for b in group:
        t = b.t
        st = sessions.get(t.session_id)
        if st is None:
            continue
        if t.key is not None:
            keys.append((t.actor, t.key_session, t.route, t.key))
        seat = _seat(t, st.session)
        if seat is not None:
            seats.append(seat)
    keys = list(dict.fromkeys(keys))
    seats = list(dict.fromkeys(seats))
    hashes: list[tuple[str, int, int]] = []
    for sid, st in sessions.items():
        known = frontiers.get(sid, st.last) if frontiers is not None and st.last else None
        if known is not None:
            st.have, st.cached = known, True
            hashes.append((sid, 0, st.last - 1))
        else:
            hashes += [(sid, *node) for node in frontier(st.last)]
    cur = raw_cursor(conn)
    # (JSON arrays, one per kind, that the statement reads with json_each)
    cur.execute(SQL_LITE_GROUP["reads"], tuple(map(response_json, (keys, seats, hashes))))
    found: dict[_Key, StoredResponse | tuple[str, Change]] = {}
    versions = dict.fromkeys(seats, 0)
    for kind, pos, n, sha, response, blob, *stored in cur.fetchall():
        if kind == 0:
            if tuple(stored) != keys[pos]:  # (json_each must give back what was sent)
                raise Unbatchable(f"idempotency key read back as {stored!r}")
            found[keys[pos]] = StoredResponse(sha, int(n), json.loads(response))
        elif kind == 1:
            versions[seats[pos]] = int(n or 0)
        else:
            sid, level, idx = hashes[pos]
            st = sessions[sid]
            if st.cached:
                if blob is None or bytes(blob) != st.have.get((level, idx)):
                    if frontiers is not None:
                        frontiers.forget(sid)
                    raise Unbatchable(f"the audit log of session {sid} is not as last written")
            elif blob is not None:
                st.have[(level, idx)] = bytes(blob)
    return found, versions


def frontier(size: int) -> list[tuple[int, int]]:
    """The stored hashes appending any number of leaves to a log of ``size`` reads: the
    perfect subtrees of its left part, and the last leaf's hash, which proves there is
    no gap (a superset of :func:`evalsvc.audit.log.append_needs` whatever the count:
    the group's reads are sent before its decisions say how many leaves it appends)."""
    if size == 0:
        return []
    return list(dict.fromkeys([*perfect_subtrees(0, size), (0, size - 1)]))


def _decide(
    b: Batched,
    sessions: dict[str, _Open],
    keys: dict[_Key, StoredResponse | tuple[str, Change]],
    versions: dict[_Seat, int],
    records: list[Record],
) -> Outcome:
    """Decide ``b`` against the group's state so far; what it writes goes to ``records``
    and the state."""
    t = b.t
    st = sessions.get(t.session_id)
    if st is None:
        return None, NotFound(f"no session {t.session_id!r}")
    key = (t.actor, t.key_session, t.route, t.key) if t.key is not None else None
    replay = keys.get(key) if key is not None else None
    if isinstance(replay, tuple):  # a key used earlier in this group, read as stored
        sha, first = replay
        replay = StoredResponse(sha, first.status, json.loads(storage_json(first.body)))
    seat = _seat(t, st.session)
    version = versions.get(seat, 0) if seat is not None else 0
    snap = Snapshot(st.session, st.last, b.now_ms, replay, version)
    try:
        out = decide(t, snap)
    except Exception as exc:  # refused: it writes nothing, the others go on
        return None, exc
    if isinstance(out, Replay):
        return (Result(out.status, out.body, replayed=True), [], None), None
    if out.changed or out.extras:
        raise Unbatchable("a batched transition rewrote the session or wrote extras")
    rows = change_rows(t, out, base_seq=st.last, now_ms=b.now_ms)
    if not (out.events or rows):
        return (Result(out.status, out.body), [], out), None
    r = record(
        st.session,
        out.events,
        base_seq=st.last,
        actor=t.actor,
        venue=t.venue,
        now_ms=b.now_ms,
        changed=False,
        rows=rows,
        salt=b.w.field_salt,
    )
    records.append(r)
    st.records.append(r)
    st.last = r.last_seq
    if key is not None:
        keys[key] = (t.request_sha256, out)
    if out.sheet is not None:
        written = (t.session_id, out.sheet.sheet.stage.value, out.sheet.sheet.seat)
        versions[written] = max(versions.get(written, 0), out.sheet.version)
    return (Result(out.status, out.body), r.events, out), None


def _seat(t: Transition, s: Session) -> _Seat | None:
    # The seat and stage whose latest version the sequential driver reads (writes._reads).
    expert = t.needs.sheet_version_of
    if expert is None or s.stage is None:
        return None
    holder = s.seat_of(expert)
    return (t.session_id, s.stage.value, holder.index) if holder is not None else None

