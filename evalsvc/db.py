"""Database adapter: engine, schema version, and off-loop execution of transactions.

The event loop never touches the database. Work is a plain function of a SQLAlchemy
:class:`~sqlalchemy.engine.Connection` that runs in a thread:

- **SQLite** (embedded): one writer thread owns the write connection and commits a
  *group* of queued requests in one transaction, so a burst costs one fsync. One failing
  request fails alone: the group is rolled back and run again with each request but
  the first inside its own SAVEPOINT (savepoints only then: on PostgreSQL each costs a
  round trip and a subtransaction, and requests seldom fail). The sessions whose queued
  requests can all be batched (:class:`Groupable`: score sheets) run first as one batch,
  with a few statements for all of them. Results are handed back
  only after the group's COMMIT returns — nothing is acknowledged before it is durable
  — with one wake-up of the event loop per group. WAL mode lets readers run in
  parallel threads.
- **PostgreSQL** (scaled): a few writer threads do the same group commit; a session's
  writes always go to the same writer (``write(fn, key=session_id)``), which runs a group
  in key order. Callers lock the session row (``SELECT … FOR UPDATE``) so per-session
  sequence numbers stay gap-free across instances; the key order means two instances
  locking several sessions in one group always lock them in the same order.

Schema: not here. This adapter knows no feature's tables; :mod:`evalsvc.schema` creates
and upgrades them (alembic revisions in :mod:`evalsvc.migrations`).
"""

from __future__ import annotations

__all__ = [
    "AFTER_COMMIT",
    "META_TABLE",
    "Batchable",
    "Busy",
    "Database",
    "Groupable",
    "make_engine",
    "pipeline_cursor",
    "raw_cursor",
]

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from evalsvc.config import DatabaseSettings
from evalsvc.errors import SchemaMismatch, Unavailable
from evalsvc.files import narrow, private_file

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: DatabaseSettings) -> Engine:
    """An engine for ``settings.url`` with the pragmas/driver choices we rely on."""
    url = settings.url
    if is_sqlite(url):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            # The database holds every score: 0600 in a folder created 0700. SQLite
            # creates -wal and -shm with the database file's mode (os_unix.c
            # findCreateFileMode); ones left by an earlier version are narrowed here.
            db_file = Path(path).expanduser()
            private_file(db_file)
            for suffix in ("-wal", "-shm", "-journal"):
                narrow(db_file.with_name(db_file.name + suffix))
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
            # On the kept DB-API cursor: exec_driver_sql's bookkeeping cost more than the
            # statement, once per group commit.
            read = conn.get_execution_options().get("evalsvc_read")
            raw_cursor(conn).execute("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(
        url,
        pool_size=settings.pool_size + settings.pg_writers + 2,
        max_overflow=8,
        pool_pre_ping=True,
    )


# The adapter's own table (the database's epoch; before alembic, the schema version), on
# metadata of its own: the tables of the features are evalsvc.schema.METADATA's.
META_TABLE = sa.Table(
    "evalsvc_meta",
    sa.MetaData(),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


def raw_cursor(conn: Connection, slot: int = 0) -> Any:
    """A DB-API cursor of ``conn``'s driver connection, kept with it for reuse.

    Hot paths execute on it directly: SQLAlchemy's per-statement bookkeeping, and with
    psycopg a new cursor per statement, cost more than SQLite's own work. Callers fetch
    what they need before the next statement on the same cursor; ``slot`` names another
    cursor, for statements whose results are pending together (a psycopg pipeline).
    """
    fairy = conn.connection  # one lookup: the properties behind it are not free
    dbapi = fairy.dbapi_connection
    cursors = fairy.info.get("evalsvc.cursors")
    if cursors is None or cursors[0] is not dbapi:
        # (Kept with the driver connection: the pool clears ``info`` on a reconnect.)
        cursors = fairy.info["evalsvc.cursors"] = [dbapi]
    while len(cursors) <= slot + 1:
        cursors.append(dbapi.cursor())  # type: ignore[union-attr]
    return cursors[slot + 1]


def pipeline_cursor(conn: Connection) -> Any:
    """A cursor for one more statement of the current psycopg pipeline: its result is
    read after the pipeline synced, with the others', so each gets a cursor of its own
    (kept for reuse; the writer hands them out again from the first at each pipeline,
    once the previous ones' results were read)."""
    fairy = conn.connection
    pool = fairy.info.get("evalsvc.pipeline")
    if pool is None or pool[0] is not fairy.dbapi_connection:
        pool = fairy.info["evalsvc.pipeline"] = [fairy.dbapi_connection, 0, []]
    n, cursors = pool[1], pool[2]
    if n == len(cursors):
        cursors.append(pool[0].cursor())
    pool[1] = n + 1
    return cursors[n]


def _restart_pipeline_cursors(conn: Connection) -> None:
    pool = conn.connection.info.get("evalsvc.pipeline")
    if pool is not None:
        pool[1] = 0


class Batchable(Protocol):
    """A transaction function that can also run in steps, so that on PostgreSQL the
    writer runs a group of them with one round trip per step for all of them (psycopg
    pipelines) instead of a few round trips each:

    1. ``send_reads(conn, wait=...)``, in a pipeline: send its reads, the row lock first
       — not waiting for a row another transaction holds unless ``wait``;
    2. ``plan(conn)``, after the pipeline synced: read their results and decide — it
       may raise, which fails this request alone (it has written nothing), or raise
       :class:`Busy` when its row was locked (it runs again in the next group);
    3. ``send_writes(conn)``, in a second pipeline: send its writes;
    4. ``result()``, after that synced: check them and return what ``fn(conn)`` would.

    Any database error on the way, or from ``result()``, rolls the group back and runs
    it again the ordinary way, calling each function.
    """

    def __call__(self, conn: Connection) -> Any: ...
    def send_reads(self, conn: Connection, *, wait: bool) -> None: ...
    def plan(self, conn: Connection) -> None: ...
    def send_writes(self, conn: Connection) -> None: ...
    def result(self) -> Any: ...


class Groupable(Protocol):
    """A transaction function whose group can run as one on SQLite: statements cost no
    round trip there, but each is a call into sqlite3, so the writer hands every queued
    function of one class to ``run_group(conn, group)`` (called on the first of them),
    which reads and writes for the whole group with a few statements, in the group's
    transaction and order, and returns each one's outcome: ``(result, None)``, or
    ``(None, error)`` for one refused alone, having written nothing. An exception raised
    (a database error, a function it cannot run that way) rolls the group back and runs
    it again the ordinary way, calling each function.

    What holds only once the group committed (a cache of what it wrote) goes in the list
    ``conn.info[AFTER_COMMIT]``: the writer calls each after COMMIT returned, and drops
    them when the group rolls back.
    """

    def __call__(self, conn: Connection) -> Any: ...
    def run_group(
        self, conn: Connection, group: Sequence[Any]
    ) -> Sequence[tuple[Any, BaseException | None]]: ...


# conn.info key of a Groupable group's after-COMMIT callbacks.
AFTER_COMMIT = "evalsvc.after_commit"
_STOP = object()


@dataclass(slots=True)
class _Request:
    """One queued transaction function and the future of the coroutine awaiting it."""

    fn: Callable[[Connection], Any]
    key: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    deferred: int = 0  # times its rows were locked by another instance (Busy)


class Busy(Exception):
    """Raised by a :class:`Batchable`'s ``plan()`` when the rows it must lock are locked
    by another transaction (another instance): the writer runs it in its next group
    instead of waiting with the locks of the others held."""


# A request found its rows locked this many times waits for them (it may not starve).
MAX_DEFERRALS = 3
# Before a group of only deferred requests runs again, time for the holder to commit.
_DEFERRED_PAUSE_S = 0.002


class _Broken(Exception):
    """The writer's connection cannot go on (the group is refused, the writer reconnects)."""


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    # On the event loop: hand each request its result (skipping callers that gave up).
    for fut, result, err in outcomes:
        if fut.done():
            continue
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(result)


class _GroupWriter:
    """A writer thread: runs queued functions, many per transaction (group commit).

    ``ordered``: run a group's functions sorted by their key (the session id they lock),
    so two PostgreSQL instances locking several sessions in one group always lock them
    in the same order and cannot deadlock.
    """

    def __init__(
        self, engine: Engine, max_group: int, *, name: str, ordered: bool, sqlite: bool
    ) -> None:
        self._engine = engine
        self._max = max(1, max_group)
        self._ordered = ordered
        # PostgreSQL takes "RELEASE req; SAVEPOINT req" as one round trip; sqlite3 runs
        # one statement per execute (and a statement costs no round trip there).
        self._next_savepoint = (
            ("RELEASE req", "SAVEPOINT req") if sqlite else ("RELEASE req; SAVEPOINT req",)
        )
        self._pipelines = not sqlite
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, request: _Request) -> None:
        self._q.put(request)

    def close(self) -> None:
        self._q.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn: Connection | None = None
        carry: list[_Request] = []  # deferred by the last group: they go first
        try:
            stop = False
            while not stop:
                group, carry = carry, []
                try:
                    # With deferred requests only, give their holder a moment to commit.
                    item = self._q.get(timeout=_DEFERRED_PAUSE_S) if group else self._q.get()
                except queue.Empty:
                    item = None
                while item is not None and not stop:
                    if item is _STOP:
                        stop = True
                    else:
                        group.append(item)
                        if len(group) >= self._max:
                            break
                    try:
                        item = self._q.get_nowait()
                    except queue.Empty:
                        item = None
                if not group:
                    continue
                if self._ordered:
                    group.sort(key=lambda r: r.key)
                if conn is None:
                    # Connect lazily, and again after a failure (a database restart): the
                    # writer must outlive an unreachable database, not die with it.
                    try:
                        conn = self._engine.connect()
                    except Exception:
                        log.exception("the database writer cannot connect")
                        self._resolve([], refused=group)
                        continue
                # Stopping: no next group, so nothing is deferred (those wait instead).
                if not self._run_group(conn, group, None if stop else carry):
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    @staticmethod
    def _resolve(
        done: list[tuple[_Request, Any, BaseException | None]],
        *,
        refused: Sequence[_Request] = (),
    ) -> None:
        """Hand results back: one wake-up of each event loop per group, not per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for req, result, err in done:
            by_loop.setdefault(req.loop, []).append((req.future, result, err))
        for req in refused:
            err = Unavailable("the database could not commit; try again")
            by_loop.setdefault(req.loop, []).append((req.future, None, err))
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, outcomes)

    def _run_group(
        self, conn: Connection, group: list[_Request], carry: list[_Request] | None = None
    ) -> bool:
        """Run ``group``, normally in one transaction; False if the connection broke.
        Requests deferred to the next group (:class:`Busy`) are appended to ``carry``."""
        done: list[tuple[_Request, Any, BaseException | None]] = []
        todo = [r for r in group if not r.future.cancelled()]
        savepoints = False
        try:
            if todo:
                # The sessions whose requests can all be batched run as a batch; the others
                # (a command, the checkpoint job) in an ordinary transaction after it. One
                # session's requests stay together, in order. (A whole group falling back
                # to the ordinary way made a request deferred for a row another instance
                # held wait for it, with every other session's sheets queued behind.)
                # (Not isinstance: a runtime protocol check walks the protocol's members.)
                can = "send_writes" if self._pipelines else "run_group"
                mixed = {r.key for r in todo if not hasattr(r.fn, can)}
                batch = [r for r in todo if r.key not in mixed]
                rest = [r for r in todo if r.key in mixed]
                deferred: list[_Request] | None = []
                if self._pipelines and batch:
                    deferred = self._batched(conn, batch, done)
                elif len(batch) > 1:
                    deferred = self._grouped(conn, batch, done)
                else:  # (SQLite, one alone: the batch's reads cost more than they save)
                    rest = todo
                if deferred is None:
                    pass  # rolled back: everything runs the ordinary way
                elif carry is not None:
                    carry += deferred
                    todo = rest
                else:  # (no next group to run them in: run them now, waiting)
                    todo = deferred + rest
            while todo:
                todo, savepoints = self._transaction(conn, todo, done, savepoints=savepoints)
        except BaseException:
            # ``todo`` is the transaction that failed: none of it was committed. (Requests
            # in ``done`` committed in an earlier transaction, or failed on their own.)
            log.exception("group commit failed")
            self._resolve(done, refused=todo)
            return False
        # Only now, after COMMIT returned, are results handed back.
        self._resolve(done)
        return True

    def _batched(
        self,
        conn: Connection,
        todo: list[_Request],
        done: list[tuple[_Request, Any, BaseException | None]],
    ) -> list[_Request] | None:
        """PostgreSQL: run a group of :class:`Batchable` requests in one transaction
        with one round trip per step for all of them. Returns the requests deferred to
        the next group; None when it could not (not all batchable, or a database error:
        rolled back), and the group runs the ordinary way.

        A session's requests go in successive rounds (the second reads what the first
        wrote); the first round takes the row locks in the group's key order, as the
        ordinary way does — but does not wait for a row another transaction holds
        (SKIP LOCKED): that session's requests go to the next group, so that a writer
        holding some sessions' locks never waits for the other instance, which may be
        waiting for those (a convoy). A request deferred MAX_DEFERRALS times waits.
        """
        # (Not isinstance: a runtime protocol check walks the protocol's members each time.)
        if not all(hasattr(r.fn, "send_writes") for r in todo):  # (the caller split them)
            return None
        from psycopg.pq import TransactionStatus  # PostgreSQL only

        rounds: list[list[_Request]] = []
        per_key: dict[str, int] = {}
        for req in todo:
            n = per_key[req.key] = per_key.get(req.key, -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(req)
        dbapi: Any = conn.connection.dbapi_connection
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        deferred: list[_Request] = []
        busy: set[str] = set()
        trans = conn.begin()
        try:
            for batch in rounds:
                # A session deferred in an earlier round: its later requests follow it.
                deferred += [r for r in batch if r.key in busy]
                batch = [r for r in batch if r.key not in busy]
                _restart_pipeline_cursors(conn)
                with dbapi.pipeline():
                    for req in batch:
                        wait = req.deferred >= MAX_DEFERRALS
                        req.fn.send_reads(conn, wait=wait)  # type: ignore[attr-defined]
                planned = []
                for req in batch:
                    try:
                        req.fn.plan(conn)  # type: ignore[attr-defined]
                    except Busy:
                        req.deferred += 1
                        deferred.append(req)
                        busy.add(req.key)
                    except Exception as exc:
                        if dbapi.info.transaction_status != TransactionStatus.INTRANS:
                            raise  # the database refused something: not this request alone
                        outcomes.append((req, None, exc))
                    else:
                        planned.append(req)
                _restart_pipeline_cursors(conn)
                with dbapi.pipeline():
                    for req in planned:
                        req.fn.send_writes(conn)  # type: ignore[attr-defined]
                outcomes += [(req, req.fn.result(), None) for req in planned]  # type: ignore[attr-defined]
            trans.commit()
        except Exception:
            log.info("a pipelined group failed; running it again request by request")
            with contextlib.suppress(Exception):
                trans.rollback()
            if conn.invalidated or dbapi.closed:
                raise
            return None
        done += outcomes
        return deferred

    def _grouped(
        self,
        conn: Connection,
        todo: list[_Request],
        done: list[tuple[_Request, Any, BaseException | None]],
    ) -> list[_Request] | None:
        """SQLite: run a group of :class:`Groupable` requests in one transaction, each
        class's requests by one ``run_group`` call. Returns the requests deferred (none:
        one writer has no other instance to wait for); None when it could not (rolled
        back), and the group runs the ordinary way. A failed COMMIT raises: the group
        is refused, as an ordinary transaction's is."""
        kinds: dict[type, list[_Request]] = {}
        for req in todo:
            kinds.setdefault(type(req.fn), []).append(req)
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        hooks: list[Callable[[], None]] = []
        conn.info[AFTER_COMMIT] = hooks  # (a COMMIT that raised left the last group's)
        trans = conn.begin()
        try:
            for reqs in kinds.values():
                results = reqs[0].fn.run_group(conn, [r.fn for r in reqs])  # type: ignore[attr-defined]
                outcomes += [
                    (req, result, err) for req, (result, err) in zip(reqs, results, strict=True)
                ]
        except Exception:
            hooks.clear()
            log.info("a batched group failed; running it again request by request", exc_info=True)
            with contextlib.suppress(Exception):
                trans.rollback()
            if conn.invalidated:
                raise
            return None
        trans.commit()
        for hook in hooks:
            try:
                hook()
            except Exception:  # (a cache left unfilled: the group did commit)
                log.exception("an after-commit callback failed")
        hooks.clear()
        done += outcomes
        return []

    def _transaction(
        self,
        conn: Connection,
        todo: list[_Request],
        done: list[tuple[_Request, Any, BaseException | None]],
        *,
        savepoints: bool,
    ) -> tuple[list[_Request], bool]:
        """Run ``todo`` in one transaction; append the outcomes to ``done`` once it
        committed. Returns what is left to run, in a new transaction, and how.

        Requests normally fail before they write (validation, a refused transition), so
        a group first runs without savepoints — on PostgreSQL each is a round trip and
        a subtransaction. When a request fails the transaction is rolled back: if it was
        the first, its failure stands (the transaction held nothing else) and the rest
        runs again; otherwise the whole group runs again with each request but the
        first in a SAVEPOINT, so that one failing request rolls back alone. Raises
        :class:`_Broken` (or the driver's error) when the connection cannot go on.
        """
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        cur = raw_cursor(conn)
        trans = conn.begin()
        try:
            for n, req in enumerate(todo):
                # Plain SQL savepoints: SQLAlchemy's nested-transaction objects cost more
                # than the statements they wrap, and this connection is ours alone.
                if savepoints and n == 1:
                    cur.execute("SAVEPOINT req")
                elif savepoints and n > 1:
                    for sql in self._next_savepoint:
                        cur.execute(sql)
                try:
                    result = req.fn(conn)
                except BaseException as exc:
                    if n > 0 and savepoints:
                        cur.execute("ROLLBACK TO req")
                        outcomes.append((req, None, exc))
                        continue
                    trans.rollback()
                    if conn.invalidated:
                        raise _Broken("the connection was lost") from exc
                    if n > 0:
                        return [r for r in todo if not r.future.cancelled()], True
                    done.append((req, None, exc))
                    return todo[1:], savepoints
                outcomes.append((req, result, None))
            trans.commit()
        except BaseException:
            if trans.is_active:
                with contextlib.suppress(Exception):
                    trans.rollback()
            raise
        done += outcomes
        return [], savepoints


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
                sqlite=self.sqlite,
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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        writer.submit(_Request(fn, key or "", loop, future))
        return await future

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read-only snapshot in a thread (no write lock on SQLite)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read_tx, fn)

    def close(self) -> None:
        """Stop the writer (after draining its queue) and dispose of connections."""
        for w in self._writers:
            w.close()
        # Reads not started are dropped; a read stuck in the database (a lock held by
        # another instance) may not hold shutdown forever: each reader gets 30 s.
        self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in list(getattr(self._pool, "_threads", ())):
            thread.join(timeout=30)
            if thread.is_alive():
                log.warning("a database reader did not stop within 30 s: %s", thread.name)
        self.engine.dispose()
