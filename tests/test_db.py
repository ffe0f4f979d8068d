"""The database adapter: durable group commits, gap-free sequences, schema versions."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Harness, qualification_sheet, scoring_sheet

from evalsvc.config import PROJECT_ROOT, DatabaseSettings, load_settings
from evalsvc.db import Database
from evalsvc.errors import SchemaMismatch
from evalsvc.schema import HEAD, ensure_schema, upgrade_schema


async def test_concurrent_submissions_get_gap_free_sequence_numbers(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    before = len(await api.events(sid))

    async def one(i: int) -> tuple[int, dict[str, object]]:
        _seat, tok = experts[i % len(experts)]
        return await api.submit(sid, tok, scoring_sheet(t1=str(i % 50)), key=f"burst-{i:04d}-key")

    results = await asyncio.gather(*(one(i) for i in range(60)))
    assert all(status == 201 for status, _ in results), results
    acked = sorted(int(body["seq"]) for _, body in results)  # type: ignore[call-overload]
    assert acked == list(range(before + 1, before + 61))
    events = await api.events(sid)
    assert [e["seq"] for e in events] == list(range(1, before + 61))
    # Every seat's versions are 1..k with no gap either.
    per_seat: dict[int, list[int]] = {}
    for _, body in results:
        per_seat.setdefault(int(body["seat"]), []).append(int(body["version"]))  # type: ignore[call-overload]
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in per_seat.values())


async def _one_writer_two_scoring_sessions(
    aiohttp_client: Any, tmp_path: Path, db_url: str
) -> tuple[Harness, str, str, list[tuple[int, str]]]:
    """A server with one database writer, so that the sheets of both sessions share its
    groups (on PostgreSQL, its pipelines), and two sessions a and b at the scoring stage
    with the same experts: (harness, a, b, the experts' (seat, token))."""
    from evalsvc.app import create_app

    settings = load_settings(
        PROJECT_ROOT / "config" / "test.toml",
        env={},
        overrides={
            "database": {"url": db_url, "pool_size": 4, "pg_writers": 1},
            "auth": {"token_secret_file": str(tmp_path / "token-secret")},
            "audit": {"key_file": str(tmp_path / "audit-log.key")},
        },
    )
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    a, experts = await api.to_stage("scoring")
    # The same experts sit in b: their qualification sheets there need keys of their own.
    b, _ = await api.to_stage("qualification")
    for seat, tok in experts:
        status, body = await api.submit(b, tok, qualification_sheet(), key=f"qual-b-{seat}-key")
        assert status == 201, body
    assert (await api.command(b, api.op(), "lock_qualification"))[0] == 200
    return api, a, b, experts


async def test_failing_sheets_in_a_group_fail_alone(
    aiohttp_client: Any, tmp_path: Path, db_url: str
) -> None:
    # Sheets of both sessions share the writer's groups: invalid ones fail alone; a key
    # the same expert reuses in another session is a request of that session, not a
    # replay of the answer given in the first (keys are scoped to actor, session, route).
    api, a, b, experts = await _one_writer_two_scoring_sessions(aiohttp_client, tmp_path, db_url)
    before = {sid: len(await api.events(sid)) for sid in (a, b)}

    def sheet(i: int) -> dict[str, Any]:
        return scoring_sheet(t1=str(i)) if i % 4 else {"stage": "scoring", "bids": {}}

    calls = [(sid, i) for i in range(24) for sid in (a, b)]
    results = await asyncio.gather(
        *(api.submit(sid, experts[i % 7][1], sheet(i), key=f"g-{sid}-{i:03d}") for sid, i in calls),
        api.submit(a, experts[0][1], scoring_sheet(t1="7"), key="shared-key-1"),
        api.submit(b, experts[0][1], scoring_sheet(t1="7"), key="shared-key-1"),
    )
    statuses = [status for status, _ in results[:-2]]
    assert statuses == [422 if i % 4 == 0 else 201 for _, i in calls]
    (s1, first), (s2, second) = results[-2:]
    assert s1 == s2 == 201 and first["commitment"] != second["commitment"]
    for sid in (a, b):
        seqs = [e["seq"] for e in await api.events(sid)]
        assert seqs == list(range(1, len(seqs) + 1))
    stored = [len(await api.events(sid)) - before[sid] for sid in (a, b)]
    assert sum(stored) == 2 * 18 + 2


class _Put:
    """A batchable request inserting ``x`` (or refusing, before it writes)."""

    def __init__(self, x: int, *, refuse: bool = False) -> None:
        self.x, self.refuse = x, refuse

    def __call__(self, c: sa.Connection) -> int:
        if self.refuse:
            raise ValueError(f"refuse {self.x}")
        c.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": self.x})
        return self.x

    def send_reads(self, c: sa.Connection, *, wait: bool) -> None:
        self.read = c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self.read.execute("SELECT count(*) FROM t")

    def plan(self, c: sa.Connection) -> None:
        self.read.fetchone()
        if self.refuse:
            raise ValueError(f"refuse {self.x}")

    def send_writes(self, c: sa.Connection) -> None:
        cur = c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.execute("INSERT INTO t VALUES (%s)", (self.x,))

    def result(self) -> int:
        return self.x


async def test_a_batched_group_falls_back_request_by_request(db_url: str) -> None:
    # On PostgreSQL a group of batchable requests runs in pipelines: a request refusing
    # in plan() fails alone; a database error (a duplicate key) rolls the group back and
    # runs it the ordinary way, where only the duplicate fails.
    db = Database(DatabaseSettings(url=db_url, pool_size=2, pg_writers=1))

    async def group(puts: list[_Put]) -> list[object]:
        gate = threading.Event()
        busy = asyncio.ensure_future(db.write(lambda c: gate.wait(10)))
        await asyncio.sleep(0.1)  # the writer is inside that request
        queued = [asyncio.ensure_future(db.write(p)) for p in puts]
        await asyncio.sleep(0.1)  # all queued: the writer takes them as one group
        gate.set()
        await busy
        return [
            r if isinstance(r, int) else type(r).__name__
            for r in await asyncio.gather(*queued, return_exceptions=True)
        ]

    try:
        await db.write(lambda c: c.execute(sa.text("CREATE TABLE t (x INTEGER PRIMARY KEY)")))
        assert await group([_Put(1), _Put(2, refuse=True), _Put(3)]) == [1, "ValueError", 3]
        outcome = await group([_Put(4), _Put(5, refuse=True), _Put(6), _Put(3)])
        assert outcome == [4, "ValueError", 6, "IntegrityError"]
        rows = await db.read(
            lambda c: [r[0] for r in c.execute(sa.text("SELECT x FROM t ORDER BY x"))]
        )
        assert rows == [1, 3, 4, 6]
    finally:
        db.close()


@pytest.mark.postgres_only
async def test_a_sheet_whose_session_is_locked_elsewhere_does_not_hold_up_others(
    aiohttp_client: Any, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another instance holds session a's row: a's sheet goes to the writer's next
    # group (SKIP LOCKED) instead of making the writer wait with b's lock held; once
    # the row is free, a's sheet is stored with the next seq.
    import evalsvc.db

    api, a, b, experts = await _one_writer_two_scoring_sessions(aiohttp_client, tmp_path, db_url)
    last_a = len(await api.events(a))
    other = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    for max_deferrals in (10**6, evalsvc.db.MAX_DEFERRALS):
        monkeypatch.setattr(evalsvc.db, "MAX_DEFERRALS", max_deferrals)
        with other.connect() as c:
            c.execute(sa.text("SELECT 1 FROM session WHERE id = :a FOR UPDATE"), {"a": a})
            held = asyncio.ensure_future(
                api.submit(a, experts[0][1], scoring_sheet(), key=f"held-{max_deferrals}-k")
            )
            await asyncio.sleep(0.3)
            if max_deferrals > 100:  # still deferred: the writer is free for b
                status, _ = await asyncio.wait_for(
                    api.submit(b, experts[1][1], scoring_sheet(), key="free-b-key"), 5
                )
                assert status == 201
            assert not held.done()
            c.commit()
        status, body = await asyncio.wait_for(held, 10)
        last_a += 1
        assert status == 201 and body["seq"] == last_a, body
    other.dispose()


async def test_a_failing_request_rolls_back_alone(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url, pool_size=2))
    try:
        await db.write(lambda c: c.execute(sa.text("CREATE TABLE t (x INTEGER PRIMARY KEY)")))

        def insert(x: int) -> int:
            def fn(c: sa.Connection) -> int:
                c.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
                if x % 3 == 0:
                    raise ValueError(f"refuse {x}")
                return x

            return fn  # type: ignore[return-value]

        results = await asyncio.gather(
            *(db.write(insert(x)) for x in range(1, 31)),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        ok = [r for r in results if isinstance(r, int)]
        failed = [r for r in results if isinstance(r, ValueError)]
        assert len(ok) == 20 and len(failed) == 10
        rows = await db.read(
            lambda c: [r[0] for r in c.execute(sa.text("SELECT x FROM t ORDER BY x"))]
        )
        assert rows == sorted(ok)
    finally:
        db.close()


async def test_failing_requests_of_a_group_fail_alone(db_url: str) -> None:
    # A group runs without savepoints: when its first request fails, the transaction is
    # rolled back and the others run again in a new one; when a later one fails, the
    # group runs again with savepoints. Either way only the failing requests fail.
    db = Database(DatabaseSettings(url=db_url, pool_size=2, pg_writers=1))
    try:
        await db.write(lambda c: c.execute(sa.text("CREATE TABLE t (x INTEGER PRIMARY KEY)")))
        gate = threading.Event()
        busy = asyncio.ensure_future(db.write(lambda c: gate.wait(10)))
        await asyncio.sleep(0.1)  # the writer is inside that request

        def insert(x: int) -> Any:
            def fn(c: sa.Connection) -> int:
                c.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
                if x in (1, 3):
                    raise ValueError(f"refuse {x}")
                return x

            return fn

        queued = [asyncio.ensure_future(db.write(insert(x))) for x in (1, 2, 3, 4)]
        await asyncio.sleep(0.1)  # all four queued: the writer takes them as one group
        gate.set()
        await busy
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert [type(r) for r in results] == [ValueError, int, ValueError, int]
        rows = await db.read(
            lambda c: [r[0] for r in c.execute(sa.text("SELECT x FROM t ORDER BY x"))]
        )
        assert rows == [2, 4]
    finally:
        db.close()


def test_schema_version_mismatch_is_a_clear_error(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url, pool_size=1))
    try:
        ensure_schema(db.engine)
        ensure_schema(db.engine)  # idempotent on a current database
        with db.engine.begin() as c:
            c.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaMismatch, match="请升级 evalsvc"):
            ensure_schema(db.engine)
        with pytest.raises(SchemaMismatch, match="请升级 evalsvc"):
            upgrade_schema(db.engine)  # nothing it knows how to run
        with db.engine.begin() as c:
            c.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
        with pytest.raises(SchemaMismatch, match="evalsvc db upgrade"):
            ensure_schema(db.engine)
    finally:
        db.close()


def test_foreign_database_is_refused(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url, pool_size=1))
    try:
        with db.engine.begin() as c:
            c.execute(sa.text("CREATE TABLE customers (id INTEGER)"))
        with pytest.raises(SchemaMismatch, match="其他应用的数据库"):
            ensure_schema(db.engine)
        with pytest.raises(SchemaMismatch, match="其他应用的数据库"):
            upgrade_schema(db.engine)
    finally:
        db.close()


def test_upgrade_creates_an_empty_database_at_the_head(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url, pool_size=1))
    try:
        assert upgrade_schema(db.engine) == (None, HEAD)
        ensure_schema(db.engine)
        assert upgrade_schema(db.engine) == (HEAD, HEAD)  # nothing more to do
    finally:
        db.close()


@pytest.mark.postgres_only
async def test_a_writer_survives_its_connection_being_killed(db_url: str) -> None:
    from evalsvc.errors import Unavailable

    db = Database(DatabaseSettings(url=db_url, pool_size=2, pg_writers=1))
    admin = sa.create_engine(
        db_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        await db.write(lambda c: c.execute(sa.text("CREATE TABLE t (x INTEGER)")))
        await db.write(lambda c: c.execute(sa.text("INSERT INTO t VALUES (1)")))
        name = sa.engine.make_url(db_url).database
        with admin.connect() as c:  # what a database restart does to open connections
            c.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
        # The request that meets the dead connection is refused, never acknowledged.
        with contextlib.suppress(Unavailable):
            await db.write(lambda c: c.execute(sa.text("INSERT INTO t VALUES (2)")))
        await db.write(lambda c: c.execute(sa.text("INSERT INTO t VALUES (3)")))
        rows = await db.read(lambda c: [r[0] for r in c.execute(sa.text("SELECT x FROM t"))])
        assert 1 in rows and 3 in rows
    finally:
        db.close()
        admin.dispose()
