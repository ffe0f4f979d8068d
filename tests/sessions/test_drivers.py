"""The store drivers mean the same thing.

The sequential driver (evalsvc.sessions.store.writes) is the reference. On PostgreSQL
the pipelined one (evalsvc.sessions.store.pipelined) runs a group of score sheets with
one round trip per step for all of them; on SQLite the batched one
(evalsvc.sessions.store.batched) with a few statements for the whole group. For the same
batch of transitions — sheets valid and invalid, keys fresh, repeated and reused with
another body, a pause and a resume that make a session's requests go the sequential
way — each must give the same responses and errors as the reference, and leave the same
rows: sessions, events, audit leaves and nodes, sheets and idempotency records (on
SQLite every table, byte for byte, each session's rows in the order they were inserted).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from conftest import EXPERT_IDS, fresh_database, qualification_sheet, scoring_sheet, session_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsvc.audit.log import append_needs
from evalsvc.auth import Principal
from evalsvc.config import DatabaseSettings
from evalsvc.db import Database
from evalsvc.errors import EvalsvcError
from evalsvc.schema import ensure_schema
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.committee import pledge_declare_elect
from evalsvc.sessions.model import ScoringRules
from evalsvc.sessions.service import SessionService
from evalsvc.sessions.store import writes
from evalsvc.sessions.store.batched import Batched, frontier
from evalsvc.sessions.store.pipelined import Pipelined
from evalsvc.sessions.uow import UnitOfWork

# The pipelined driver's tests: PostgreSQL only (the batched driver's run on SQLite).
POSTGRES = [pytest.mark.postgres_only, pytest.mark.db]

OP = Principal("operator", "op-sh", "上海操作员", venue="sh-ggzy")
SUP = Principal("supervisor", "sup-1", "监督员")
SEAT_VENUES = ("sh-ggzy",) * 3 + ("js-suzhou",) * 2 + ("ah-hefei",) * 2
EXPERTS = [Principal("expert", e, e, venue=v) for e, v in zip(EXPERT_IDS, SEAT_VENUES, strict=True)]
TABLES = {
    "session": "id, state, last_seq, doc, updated_at",
    "event": "session_id, seq, type, payload, actor, venue, time_ms",
    "audit_leaf": "session_id, idx, data",
    "audit_node": "session_id, level, idx, hash",
    "score_sheet": "session_id, seat, stage, version, expert_id, doc, sha256, seq, submitted_ms",
    "idempotency_key": "actor, key, session_id, request_sha256, status, response, created_ms",
}


async def _scoring_sessions(svc: SessionService, count: int) -> list[str]:
    """``count`` sessions taken to the scoring stage, the same way in every database."""
    sids = []
    for _ in range(count):
        created = await svc.create(OP, session_doc(), key=None)
        sid = str(created.body["id"])
        await svc.command(OP, sid, {"command": "open_draw"}, key=None)
        for i, p in enumerate(EXPERTS):
            await svc.command(
                OP,
                sid,
                {
                    "command": "assign_seat",
                    "seat": i,
                    "expert_id": p.subject,
                    "expert_name": p.name,
                },
                key=None,
            )
        await svc.command(OP, sid, {"command": "designate_experts", "reason": "指定"}, key=None)
        await svc.command(SUP, sid, {"command": "decide_designation", "approve": True,
                                     "reason": "批准"}, key=None)
        for name in ("complete_draw", "start_check_in"):
            await svc.command(OP, sid, {"command": name}, key=None)
        for i, p in enumerate(EXPERTS):
            venue_op = Principal("operator", f"op-{p.venue}", "操作员", venue=p.venue)
            await svc.command(venue_op, sid, {"command": "check_in", "seat": i}, key=None)
        await pledge_declare_elect(svc, sid, primary=OP, members=EXPERTS,
                                   bids=["B1", "B2", "B3"])
        await svc.command(OP, sid, {"command": "start_evaluation"}, key=None)
        for p in EXPERTS:
            await svc.submit_sheet(p, sid, qualification_sheet(), key=f"q-{sid}-{p.subject}")
        await svc.command(OP, sid, {"command": "lock_qualification"}, key=None)
        sids.append(sid)
    return sids


Op = tuple[str, int, int, int, int]  # (kind, session, expert, value, key)
ops = st.lists(
    st.tuples(
        st.sampled_from(["sheet", "sheet", "sheet", "bad_sheet", "wrong_stage", "pause", "resume"]),
        st.integers(0, 1),
        st.integers(0, len(EXPERTS) - 1),
        st.integers(0, 55),  # T1's points: over 50 is refused
        st.integers(0, 3),  # a few keys per expert: repeats replay or conflict
    ),
    min_size=1,
    max_size=14,
)


def _key(sid: str, k: int, *, scoped: bool) -> str:
    # Scoped: the key names the session, as the PostgreSQL runs always did. Not: the same
    # key in both sessions (a key is scoped to actor, session and route by the server).
    return f"{sid}-k{k}" if scoped else f"key-{k:04d}"


async def _gated(
    db: Database, calls: Sequence[Awaitable[Any]], *, then: Callable[[], None] = lambda: None
) -> list[Any]:
    """Run ``calls`` (one database write each) as one group of the writer: it is held
    on a write of its own until all of them are queued, then takes them at once (and
    calls ``then`` in its thread just before). Their results, or what they raised."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: Any) -> None:
        started.set()
        release.wait(60)
        then()

    held = asyncio.ensure_future(db.write(hold))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 60)
    tasks = [asyncio.ensure_future(c) for c in calls]
    queued = db._writers[0]._q  # (the writer's queue: what its next group takes)
    for _ in range(60_000):
        if queued.qsize() + sum(t.done() for t in tasks) >= len(tasks):
            break
        await asyncio.sleep(0.001)
    release.set()
    await held
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def _run(
    url: str, groups: list[list[Op]], *, pipelined: bool, gated: bool = False,
    scoped: bool = True,
) -> tuple[list[Any], dict[str, Any]]:
    """Every group of ``groups`` at once; ``gated``: each group as one group commit."""
    db = Database(DatabaseSettings(url=url, pool_size=2))
    try:
        await asyncio.get_running_loop().run_in_executor(None, ensure_schema, db.engine)
        ids = iter(f"s-{n:012x}" for n in range(100))
        # The audit leaves' field salts: one constant, as a group run again the ordinary
        # way (after a request failed in it, or after a batch failed) draws its salts
        # again (fresh CSPRNG output in the server; here only the drivers are compared,
        # so every leaf must come out the same in both runs).
        uow = UnitOfWork(
            db, bus=LocalBus(), clock_ms=lambda: 1_700_000_000_000, pipelined=pipelined,
            field_salt=lambda: bytes(16),
        )
        salts = (n.to_bytes(32, "big") for n in itertools.count())  # the same in both runs
        svc = SessionService(
            uow, new_id=lambda: next(ids), defaults=ScoringRules(), salt=lambda: next(salts)
        )
        sids = await _scoring_sessions(svc, 2)

        async def one(op: Op) -> Any:
            kind, s, e, value, k = op
            sid, p = sids[s], EXPERTS[e]
            key = _key(sid, k, scoped=scoped)
            try:
                if kind in ("pause", "resume"):
                    # A supervisor pauses; the primary's operator resumes.
                    fields = {"reason": "网络中断"} if kind == "pause" else {}
                    r = await svc.command(
                        SUP if kind == "pause" else OP, sid, {"command": kind, **fields},
                        key=f"{sid}-{kind}-{k}",
                    )
                elif kind == "wrong_stage":
                    r = await svc.submit_sheet(p, sid, qualification_sheet(), key=key)
                else:
                    t1 = str(value if kind == "sheet" else 51 + value)
                    r = await svc.submit_sheet(p, sid, scoring_sheet(t1=t1), key=key)
                return (r.status, r.body, r.replayed)
            except EvalsvcError as exc:
                return (type(exc).__name__, exc.message)

        responses: list[Any] = []
        for group in groups:
            if gated:
                responses += await _gated(db, [one(op) for op in group])
            else:  # All at once: the writer takes them in groups, in this order per session.
                responses += await asyncio.gather(*(one(op) for op in group))

        def dump(conn: Any) -> dict[str, Any]:
            if conn.dialect.name == "sqlite":
                return _dump_sqlite(conn)
            return {
                table: [
                    tuple(r)
                    for r in conn.exec_driver_sql(
                        f"SELECT {cols} FROM {table} ORDER BY "
                        + ", ".join(str(i + 1) for i in range(cols.count(",") + 1))
                    )
                ]
                for table, cols in TABLES.items()
            }

        return responses, await db.read(dump)
    finally:
        db.close()


def _dump_sqlite(conn: Any) -> dict[str, Any]:
    """Every table: each session's rows in the order they were inserted, every column
    but the sheet row's id (its rowid, which no reader sees: a group's rows of several
    sessions are inserted one session after another by the batched driver, in the
    order the requests were queued by the sequential one)."""
    out: dict[str, Any] = {}
    names = [r[0] for r in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for name in names:
        cols = [r[1] for r in conn.exec_driver_sql(f'PRAGMA table_info("{name}")')]
        cols = [c for c in cols if (name, c) != ("score_sheet", "id")]
        rows = conn.exec_driver_sql(f'SELECT {", ".join(cols)} FROM "{name}" ORDER BY rowid')
        if "session_id" not in cols:
            out[name] = [tuple(r) for r in rows]
            continue
        by_session: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_session.setdefault(r[cols.index("session_id")], []).append(tuple(r))
        out[name] = by_session
    return out


def _compare(batch: list[Op]) -> int:
    """Run ``batch`` with each driver on a fresh database; returns how many decisions the
    pipelined driver made in a pipeline (the rest fell back to the sequential way)."""
    results = []
    planned = 0
    real_plan = Pipelined.plan

    def counting_plan(self: Pipelined, conn: Any) -> None:
        nonlocal planned
        planned += 1
        real_plan(self, conn)

    for pipelined in (False, True):
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(Path(tmp)) as url,
            mock.patch.object(Pipelined, "plan", counting_plan),
        ):
            results.append(asyncio.run(_run(url, [batch], pipelined=pipelined)))
    (seq_responses, seq_rows), (pipe_responses, pipe_rows) = results
    assert pipe_responses == seq_responses
    for table in TABLES:
        assert pipe_rows[table] == seq_rows[table], table
    return planned


@POSTGRES[0]
@POSTGRES[1]
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=ops)
def test_the_pipelined_driver_writes_what_the_sequential_one_does(batch: list[Op]) -> None:
    _compare(batch)


@POSTGRES[0]
@POSTGRES[1]
def test_a_group_of_sheets_is_decided_in_a_pipeline() -> None:
    # Sheets only, on both sessions, with replays and a conflicting reuse of a key: the
    # pipelined driver must actually have run (and written what the reference did).
    batch: list[Op] = [("sheet", n % 2, n % 7, 10 + n, n % 3) for n in range(16)]
    batch += [("sheet", 0, 0, 10, 0), ("bad_sheet", 1, 1, 0, 1)]
    assert _compare(batch) >= len(batch) // 2


# --- SQLite: the batched driver ---------------------------------------------------------


def test_the_hashes_read_before_deciding_are_all_a_batch_can_append_with() -> None:
    # The batch reads a session's audit-log hashes before its decisions say how many
    # leaves it appends: what it reads must cover what appending any number needs.
    for size in range(300):
        read = set(frontier(size))
        for count in (1, 2, 3, 7, 50, 333):
            assert set(append_needs(size, count)) <= read, (size, count)


def _compare_sqlite(groups: list[list[Op]]) -> tuple[list[Any], list[int]]:
    """Run ``groups`` (each one group commit) with the sequential and the batched driver
    on fresh SQLite databases; both must answer and store the same. Returns the answers
    and the sizes of the groups the batched driver ran (not those it gave up on, which
    the writer ran again the sequential way)."""
    results = []
    sizes: list[int] = []
    real = Batched.run_group

    def counting(self: Batched, conn: Any, group: Any) -> Any:
        outcomes = real(self, conn, group)
        sizes.append(len(group))
        return outcomes

    for pipelined in (False, True):
        with (
            tempfile.TemporaryDirectory() as tmp,
            mock.patch.object(Batched, "run_group", counting),
        ):
            url = f"sqlite:///{Path(tmp) / 'drivers.db'}"
            results.append(
                asyncio.run(_run(url, groups, pipelined=pipelined, gated=True, scoped=False))
            )
    (seq_responses, seq_rows), (batch_responses, batch_rows) = results
    assert batch_responses == seq_responses
    assert batch_rows.keys() == seq_rows.keys()
    for table in seq_rows:
        assert batch_rows[table] == seq_rows[table], table
    return batch_responses, sizes


def _batchable(group: list[Op]) -> int:
    """How many of ``group``'s requests the batched driver decides: those of a session
    with no command in the group (a command's session goes the sequential way), when
    there are two or more (one alone goes the sequential way too)."""
    commanded = {s for kind, s, *_ in group if kind in ("pause", "resume")}
    n = sum(1 for kind, s, *_ in group if s not in commanded)
    return n if n > 1 else 0


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(groups=st.lists(ops, min_size=1, max_size=2))
def test_the_batched_driver_writes_what_the_sequential_one_does(groups: list[list[Op]]) -> None:
    _, sizes = _compare_sqlite(groups)
    assert sum(sizes) == sum(_batchable(g) for g in groups)


def test_a_mixed_group_is_answered_as_the_sequential_driver_answers_it() -> None:
    first: list[Op] = [
        ("sheet", 0, 0, 10, 0),  # 0: seat 0, version 1
        ("sheet", 0, 1, 11, 0),  # 1: another expert's key of the same name: a new request
        ("sheet", 0, 0, 12, 1),  # 2: seat 0 again in the same group: version 2
        ("bad_sheet", 0, 2, 0, 2),  # 3: refused (T1 over 50)
        ("sheet", 0, 3, 14, 3),  # 4
        ("sheet", 0, 3, 14, 3),  # 5: the same key and body: 4's answer again
        ("sheet", 0, 4, 15, 4),  # 6
        ("sheet", 0, 4, 16, 4),  # 7: the same key, another body: refused
        ("wrong_stage", 0, 5, 0, 5),  # 8: refused (a qualification sheet while scoring)
        ("sheet", 0, 2, 17, 6),  # 9: after the refused 3, seat 2's first version
        ("sheet", 1, 0, 20, 0),  # 10: the other session, the same key: a new request
        ("pause", 1, 0, 0, 0),  # 11: a command: session 1's requests go the sequential way
        ("sheet", 1, 1, 21, 1),  # 12: refused while paused
        ("resume", 1, 0, 0, 0),  # 13
        ("sheet", 1, 2, 22, 2),  # 14
    ]
    second: list[Op] = [
        ("sheet", 0, 0, 10, 0),  # 15: 0's key and body, a group later: read, and replayed
        ("sheet", 0, 0, 13, 7),  # 16: seat 0, version 3
        ("sheet", 1, 1, 23, 3),  # 17
    ]
    answers, sizes = _compare_sqlite([first, second])
    assert sizes == [10, 3]  # session 0's requests, then the whole second group
    version = [a[1]["version"] if a[0] == 201 else None for a in answers]
    assert version[0] == 1 and version[2] == 2 and version[16] == 3
    assert version[9] == version[10] == version[14] == version[17] == 1
    assert answers[3][0] == "InvalidInput"
    assert answers[5] == (*answers[4][:2], True)
    assert answers[7][0] == "IdempotencyConflict"
    assert answers[8][0] == "InvalidInput"
    assert answers[12][0] == "InvalidTransition", answers[12]
    assert answers[15] == (*answers[0][:2], True)
    # Each answer's seq is the session's after it: consecutive for session 0's sheets.
    assert [answers[n][1]["seq"] for n in (0, 1, 2, 4, 6, 9)] == list(
        range(answers[0][1]["seq"], answers[0][1]["seq"] + 6)
    )


def test_a_failed_batch_runs_again_the_ordinary_way() -> None:
    # The batch's writes fail (a database error after its reads): the writer rolls the
    # group back and runs every request the ordinary way; nothing is lost or doubled.
    group: list[Op] = [("sheet", n % 2, n % 7, 10 + n, n % 3) for n in range(9)]
    group += [("bad_sheet", 0, 1, 0, 5), ("sheet", 0, 0, 10, 0)]
    failed = 0
    real = writes.write_sqlite

    def failing(conn: Any, records: Any) -> bool:
        nonlocal failed
        if not failed:
            failed += 1
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, records)

    with mock.patch("evalsvc.sessions.store.batched.write_sqlite", failing):
        answers, sizes = _compare_sqlite([group])
    assert failed == 1 and sizes == []
    assert [a[0] for a in answers] == [201] * 9 + ["InvalidInput", 201]
    assert answers[-1] == (*answers[0][:2], True)


async def _one_scoring_session(db: Database) -> tuple[SessionService, str]:
    """A service on ``db`` (a new schema) and one session of it at the scoring stage."""
    await asyncio.get_running_loop().run_in_executor(None, ensure_schema, db.engine)
    ids = iter(f"s-{n:012x}" for n in range(100))
    uow = UnitOfWork(db, bus=LocalBus(), clock_ms=lambda: 1_700_000_000_000)
    svc = SessionService(uow, new_id=lambda: next(ids), defaults=ScoringRules())
    (sid,) = await _scoring_sessions(svc, 1)
    return svc, sid


def test_a_group_whose_commit_fails_acknowledges_nothing(tmp_path: Path) -> None:
    # Nothing is acknowledged before COMMIT returned: when the COMMIT of a group of
    # sheets fails, every sheet of it is refused (and none is stored: sent again, each
    # is a new one, not a replay).
    async def run() -> None:
        url = f"sqlite:///{tmp_path / 'commit.db'}"
        db = Database(DatabaseSettings(url=url, pool_size=2))
        commits = -1  # the writer's commits to let through (-1: all)

        def commit(conn: Any) -> None:
            nonlocal commits
            if threading.current_thread().name.startswith("evalsvc-writer") and commits >= 0:
                commits -= 1
                if commits < 0:
                    raise sqlite3.OperationalError("disk I/O error")

        def fail_the_next_group() -> None:
            nonlocal commits
            commits = 1  # (the group holding the writer commits first)

        sa.event.listen(db.engine, "commit", commit)
        try:
            svc, sid = await _one_scoring_session(db)

            def sheets() -> list[Awaitable[Any]]:
                return [svc.submit_sheet(EXPERTS[n], sid, scoring_sheet(t1=str(20 + n)),
                                         key=f"commit-{n}") for n in range(5)]

            failed = await _gated(db, sheets(), then=fail_the_next_group)
            assert [type(r).__name__ for r in failed] == ["Unavailable"] * 5, failed
            again = await _gated(db, sheets())
            assert [(r.status, r.replayed, r.body["version"]) for r in again] == [
                (201, False, 1)
            ] * 5
        finally:
            db.close()

    asyncio.run(run())


def _nodes_match_leaves(db_file: Path, sid: str) -> list[tuple[int, int]]:
    """The stored audit-log nodes of ``sid`` that are not the hash of their leaves."""
    from evalsvc.audit.leaf import leaf_of_entry
    from evalsvc.audit.merkle import leaf_hash, root_hash

    with sqlite3.connect(db_file) as c:
        entries = [bytes(r[0]) for r in c.execute(
            "SELECT data FROM audit_leaf WHERE session_id = ? ORDER BY idx", (sid,))]
        nodes = c.execute("SELECT level, idx, hash FROM audit_node WHERE session_id = ?",
                          (sid,)).fetchall()
    hashes = [leaf_hash(leaf_of_entry(e)) for e in entries]
    return [(level, idx) for level, idx, h in nodes
            if root_hash(hashes[idx << level:(idx + 1) << level]) != bytes(h)]


def test_a_log_replaced_under_the_writer_is_read_again_not_taken_from_memory(
    tmp_path: Path,
) -> None:
    # The batched driver keeps the audit-log hashes it committed last and, for a log of
    # the size it left, reads only the last leaf's hash to check them. Here the database
    # is restored from a backup and another instance writes the log back to that size
    # with other sheets: the hashes in memory are wrong, the check sees it, and the
    # group runs the ordinary way — every stored node is the hash of its leaves.
    db_file = tmp_path / "replaced.db"
    url = f"sqlite:///{db_file}"

    def size() -> int:
        with sqlite3.connect(db_file) as c:
            return int(c.execute("SELECT last_seq FROM session").fetchone()[0])

    async def run() -> None:
        db = Database(DatabaseSettings(url=url, pool_size=2))
        other = Database(DatabaseSettings(url=url, pool_size=2))
        try:
            svc, sid = await _one_scoring_session(db)
            n = itertools.count()

            def pair(service: SessionService = svc) -> list[Awaitable[Any]]:
                k = next(n)
                return [service.submit_sheet(EXPERTS[(k + j) % 7], sid,
                                             scoring_sheet(t1=str(10 + k % 40)),
                                             key=f"replaced-{k}-{j}") for j in range(2)]

            async def group() -> None:
                # Two sheets in one group: the batched driver's.
                assert [r.status for r in await _gated(db, pair())] == [201, 201]

            await group()
            if size() % 2 == 0:  # the log's size after the next group must be odd
                await svc.submit_sheet(EXPERTS[0], sid, scoring_sheet(t1="9"), key="odd")
            backup = tmp_path / "backup.db"
            with sqlite3.connect(db_file) as src, sqlite3.connect(backup) as dst:
                src.backup(dst)
            await group()  # remembered: the hashes of a log of odd size M
            m = size()
            assert m % 2 == 1
            with sqlite3.connect(backup) as src, sqlite3.connect(db_file) as dst:
                src.backup(dst)
            assert size() == m - 2
            # Another instance (the sequential driver) writes it back to size M.
            ids2 = iter(f"x-{i:012x}" for i in range(100))
            uow2 = UnitOfWork(other, bus=LocalBus(), clock_ms=lambda: 1_700_000_000_001,
                              pipelined=False)
            svc2 = SessionService(uow2, new_id=lambda: next(ids2), defaults=ScoringRules())
            for r in await asyncio.gather(*pair(svc2)):
                assert r.status == 201
            assert size() == m
            # Leaf M pairs with leaf M - 1, which is not the one remembered.
            await group()
            assert size() == m + 2
        finally:
            db.close()
            other.close()

    asyncio.run(run())
    with sqlite3.connect(db_file) as c:
        (sid,) = [r[0] for r in c.execute("SELECT id FROM session")]
    assert _nodes_match_leaves(db_file, sid) == []


def _count_statements(sizes: tuple[int, ...], *, pipelined: bool) -> dict[int, int]:
    """sqlite3 statements run (Cursor.execute and executemany calls, BEGIN included) by
    the writer for one group of ``n`` sheets on one session, for each ``n`` of ``sizes``."""
    counting = False
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if counting and event == "c_call" and isinstance(
                getattr(arg, "__self__", None), sqlite3.Cursor) and arg.__name__ in (
                "execute", "executemany"):
            calls += 1

    async def run(tmp: Path) -> dict[int, int]:
        nonlocal counting, calls
        threading.setprofile(profile)  # (the writer thread starts with the Database)
        try:
            db = Database(DatabaseSettings(url=f"sqlite:///{tmp / 'n.db'}", pool_size=2))
        finally:
            threading.setprofile(None)
        out = {}
        try:
            await asyncio.get_running_loop().run_in_executor(None, ensure_schema, db.engine)
            ids = iter(f"s-{n:012x}" for n in range(100))
            uow = UnitOfWork(db, bus=LocalBus(), clock_ms=lambda: 1_700_000_000_000,
                             pipelined=pipelined)
            svc = SessionService(uow, new_id=lambda: next(ids), defaults=ScoringRules())
            (sid,) = await _scoring_sessions(svc, 1)
            for n in sizes:

                def start() -> None:
                    nonlocal counting, calls
                    calls, counting = 0, True  # from the next group's BEGIN on

                sheets = [svc.submit_sheet(EXPERTS[k % 7], sid, scoring_sheet(t1=str(k % 50)),
                                           key=f"n{n}-{k}") for k in range(n)]
                answers = await _gated(db, sheets, then=start)
                counting = False
                assert all(a.status == 201 for a in answers)
                out[n] = calls
        finally:
            db.close()
        return out

    with tempfile.TemporaryDirectory() as tmp:
        assert sys.getprofile() is None
        return asyncio.run(run(Path(tmp)))


def test_a_group_of_sheets_costs_the_same_few_statements_whatever_its_size() -> None:
    # The point of the batched driver: each statement is a call into sqlite3 (and a
    # release of the GIL). The sequential driver runs eight per sheet; batched, a group
    # of sheets runs one per table and step (BEGIN, two reads, the session's UPDATE, the
    # events, leaves, nodes, sheets and keys), whatever its size.
    sizes = (1, 7, 40)
    sequential = _count_statements(sizes, pipelined=False)
    grouped = _count_statements(sizes, pipelined=True)
    assert sequential == {n: 1 + 8 * n for n in sizes}
    assert grouped == dict.fromkeys(sizes, 9)
