"""Database adapter: engine, schema version, and off-loop execution of transactions.

The event loop never touches the database. Work is a plain function of a SQLAlchemy
:class:`~sqlalchemy.engine.Connection` that runs in a thread:

- **SQLite** (embedded): one writer thread owns the write connection and commits a
  *group* of queued requests in one transaction, each inside its own SAVEPOINT, so
  one failing request rolls back alone while a burst costs one fsync. Futures resolve
  only after the group's COMMIT returns: nothing is acknowledged before it is durable.
  WAL mode lets readers run in parallel threads.
- **PostgreSQL** (scaled): a few writer threads do the same group commit; a session's
  writes always go to the same writer (``write(fn, key=session_id)``), which runs a group
  in key order. Callers lock the session row (``SELECT … FOR UPDATE``) so per-session
  sequence numbers stay gap-free across instances; the key order means two instances
  locking several sessions in one group always lock them in the same order.

Schema: ``create_all`` on an empty database, then a ``schema_version`` row; a database
of another version is refused with :class:`~evalsvc.errors.SchemaMismatch` naming the
command that upgrades it (``evalsvc db upgrade``).
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "Database", "ensure_schema", "make_engine", "upgrade_schema"]

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from evalsvc.config import DatabaseSettings
from evalsvc.errors import SchemaMismatch, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1
# from-version → function upgrading the schema by one version, in a transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def _register_tables() -> None:
    # Import every module that declares tables so SQLModel.metadata knows them all.
    import evalsvc.audit.tables
    import evalsvc.experts.tables
    import evalsvc.pki.tables
    import evalsvc.sessions.tables  # noqa: F401


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: DatabaseSettings) -> Engine:
    """An engine for ``settings.url`` with the pragmas/driver choices we rely on."""
    url = settings.url
    if is_sqlite(url):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.pool_size + settings.pg_writers + 2,
            max_overflow=4,
        )
        sync = settings.sqlite_synchronous.upper()
        if sync not in {"NORMAL", "FULL", "EXTRA"}:
            raise SchemaMismatch(
                f"database.sqlite_synchronous must be NORMAL, FULL or EXTRA, got {sync}"
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, issue BEGIN (so SAVEPOINT works),
            # and take the write lock at BEGIN (IMMEDIATE) instead of at first write.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Readers take a plain (deferred) snapshot; writers the write lock up front.
            if conn.get_execution_options().get("evalsvc_read"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(
        url,
        pool_size=settings.pool_size + settings.pg_writers + 2,
        max_overflow=8,
        pool_pre_ping=True,
    )


_META = sa.Table(
    "evalsvc_meta",
    SQLModel.metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


def _current_version(conn: Connection) -> int | None:
    if not sa.inspect(conn).has_table("evalsvc_meta"):
        return None
    row = conn.execute(sa.select(_META.c.value).where(_META.c.key == "schema_version")).first()
    return int(row[0]) if row else None


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse a database of another version."""
    _register_tables()
    with engine.begin() as conn:
        version = _current_version(conn)
        if version is None:
            if sa.inspect(conn).get_table_names():
                raise SchemaMismatch(
                    "the database has tables but no evalsvc schema version: "
                    "is it another application's database?"
                )
            SQLModel.metadata.create_all(conn)
            conn.execute(sa.insert(_META).values(key="schema_version", value=str(SCHEMA_VERSION)))
            log.info("created database schema version %d", SCHEMA_VERSION)
            return
    if version < SCHEMA_VERSION:
        raise SchemaMismatch(
            f"the database schema is version {version}, this evalsvc needs {SCHEMA_VERSION}: "
            "back it up, then run `evalsvc db upgrade`"
        )
    if version > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"the database schema is version {version}, newer than this evalsvc "
            f"({SCHEMA_VERSION}): upgrade evalsvc"
        )


def upgrade_schema(engine: Engine) -> tuple[int, int]:
    """Run the migrations from the stored version to :data:`SCHEMA_VERSION`."""
    _register_tables()
    with engine.begin() as conn:
        version = _current_version(conn)
        if version is None:
            SQLModel.metadata.create_all(conn)
            conn.execute(sa.insert(_META).values(key="schema_version", value=str(SCHEMA_VERSION)))
            return (0, SCHEMA_VERSION)
        start = version
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(
            sa.update(_META).where(_META.c.key == "schema_version").values(value=str(version))
        )
        return (start, version)


_STOP = object()


class _GroupWriter:
    """A writer thread: runs queued functions, many per transaction (group commit).

    ``ordered``: run a group's functions sorted by their key (the session id they lock),
    so two PostgreSQL instances locking several sessions in one group always lock them
    in the same order and cannot deadlock.
    """

    def __init__(self, engine: Engine, max_group: int, *, name: str, ordered: bool) -> None:
        self._engine = engine
        self._max = max(1, max_group)
        self._ordered = ordered
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[[Connection], Any], key: str | None
    ) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._q.put((fn, fut, key or ""))
        return fut

    def close(self) -> None:
        self._q.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                item = self._q.get()
                if item is _STOP:
                    return
                group = [item]
                stop = False
                while len(group) < self._max:
                    try:
                        nxt = self._q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)
                if self._ordered:
                    group.sort(key=lambda item: item[2])
                if conn is None:
                    # Connect lazily, and again after a failure (a database restart): the
                    # writer must outlive an unreachable database, not die with it.
                    try:
                        conn = self._engine.connect()
                    except Exception:
                        log.exception("the database writer cannot connect")
                        self._fail(group)
                        conn = None
                if conn is not None and not self._run_group(conn, group):
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                        conn.close()
                    conn = None
                if stop:
                    return
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    @staticmethod
    def _fail(group: list[Any]) -> None:
        for _fn, fut, _key in group:
            if not fut.done():
                fut.set_exception(Unavailable("the database could not commit; try again"))

    def _run_group(self, conn: Connection, group: list[Any]) -> bool:
        outcomes: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            with conn.begin():
                cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                for fn, fut, _key in group:
                    if not fut.set_running_or_notify_cancel():
                        continue
                    # Plain SQL savepoints: SQLAlchemy's nested-transaction objects cost
                    # more than the statements they wrap, and this connection is ours alone.
                    cur.execute("SAVEPOINT req")
                    try:
                        result = fn(conn)
                    except BaseException as exc:
                        cur.execute("ROLLBACK TO req")
                        cur.execute("RELEASE req")
                        outcomes.append((fut, None, exc))
                    else:
                        cur.execute("RELEASE req")
                        outcomes.append((fut, result, None))
        except BaseException as exc:
            log.exception("group commit failed")
            self._fail(group)
            del exc
            return False
        # Only now, after COMMIT returned, are results handed back.
        for fut, result, err in outcomes:
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)
        return True


class Database:
    """Runs transaction functions off the event loop (see the module docstring)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sqlite = is_sqlite(settings.url)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.pool_size, thread_name_prefix="evalsvc-db"
        )
        # SQLite: one writer (the database has one write lock anyway). PostgreSQL: a few
        # writers, a session always on the same one, so that one session's requests —
        # serialised by its row lock in any case — share a transaction instead of queueing
        # on the lock one round trip at a time.
        count = 1 if self.sqlite else max(1, settings.pg_writers)
        self._writers = [
            _GroupWriter(
                self.engine,
                settings.sqlite_group_commit if self.sqlite else settings.pg_group_commit,
                name=f"evalsvc-writer-{i}",
                ordered=not self.sqlite,
            )
            for i in range(count)
        ]

    def _read_tx(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.connect().execution_options(evalsvc_read=True) as conn, conn.begin():
            return fn(conn)

    async def write(self, fn: Callable[[Connection], T], *, key: str | None = None) -> T:
        """Run ``fn`` in a write transaction; returns after COMMIT. ``key`` names the
        session it locks (same key, same writer; groups run in key order)."""
        writer = self._writers[zlib.crc32(key.encode()) % len(self._writers) if key else 0]
        return await asyncio.wrap_future(writer.submit(fn, key))

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read-only snapshot in a thread (no write lock on SQLite)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read_tx, fn)

    def close(self) -> None:
        """Stop the writer (after draining its queue) and dispose of connections."""
        for w in self._writers:
            w.close()
        self._pool.shutdown(wait=True)
        self.engine.dispose()
