"""Presence across the instances of the scaled deployment (PostgreSQL).

Every instance keeps a heartbeat row (``evalsvc_presence_instance``: its id and when the
database last heard of it) and one row per connection it holds (``evalsvc_presence``).
When its connections to a session change it replaces its rows of that session and sends
``NOTIFY evalsvc_presence, '<session> <instance>'`` in the same transaction; the other
instances (LISTENing on the process's connection, :class:`evalsvc.pg_listen.PgListener`)
re-read that session's rows and show the difference to their operators and supervisors
(:mod:`evalsvc.sessions.presence`). As with events, a notification is only a hint:

- every ``heartbeat_s`` an instance refreshes its heartbeat and re-reads the presence of
  every session it serves, so the connections of an instance whose heartbeat is older
  than ``ttl_s`` (killed, or cut off from the database) disappear within
  ``ttl_s + heartbeat_s``, and a lost notification is caught up;
- after a lost LISTEN connection the listener calls :meth:`PgPresence.resync`: the
  current state is read again;
- an instance that finds its heartbeat row gone (expired by the others, or the table
  emptied: it is UNLOGGED, so PostgreSQL truncates it after a crash) publishes all its
  connections again.

The tables hold runtime state, not data: they are UNLOGGED, outside the schema version,
created by the first instance that needs them. Presence is not an event and never
enters the event table or the audit log.
"""

from __future__ import annotations

__all__ = ["CHANNEL", "PgPresence"]

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from evalsvc.pg_listen import PgListener, psycopg_url, reconnecting
from evalsvc.sessions.hub import Hub
from evalsvc.sessions.presence import Member, PresenceRow, remote_rosters
from evalsvc.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "evalsvc_presence"
# Rows of instances silent this long are deleted (readers ignore them after ttl_s; an
# instance that comes back within this time is shown again by its next heartbeat).
GC_AFTER_S = 60.0

_DDL = (
    # One transaction, serialised by an advisory lock: two instances starting at once
    # would otherwise race on CREATE TABLE IF NOT EXISTS (pg_type's unique index).
    "SELECT pg_advisory_xact_lock(hashtext('evalsvc_presence'))",
    "CREATE UNLOGGED TABLE IF NOT EXISTS evalsvc_presence_instance ("
    " id text PRIMARY KEY, seen timestamptz NOT NULL DEFAULT now())",
    "CREATE UNLOGGED TABLE IF NOT EXISTS evalsvc_presence ("
    " instance text NOT NULL REFERENCES evalsvc_presence_instance (id) ON DELETE CASCADE,"
    " member text NOT NULL, session_id text NOT NULL, role text NOT NULL,"
    " subject text NOT NULL, name text NOT NULL, venue text,"
    " PRIMARY KEY (instance, member))",
    "CREATE INDEX IF NOT EXISTS evalsvc_presence_session ON evalsvc_presence (session_id)",
)

_READ = sa.text(
    "SELECT p.session_id, p.instance, EXTRACT(EPOCH FROM now() - i.seen),"
    " p.member, p.role, p.subject, p.name, p.venue"
    " FROM evalsvc_presence p JOIN evalsvc_presence_instance i ON i.id = p.instance"
    " WHERE p.session_id IN :ids AND p.instance <> :me"
).bindparams(sa.bindparam("ids", expanding=True))


def create_tables(c: SAConnection) -> None:
    """Create the presence tables if they do not exist (in ``c``'s transaction)."""
    for stmt in _DDL:
        c.exec_driver_sql(stmt)


class PgPresence:
    """This instance's side of cluster presence: a :class:`evalsvc.sessions.hub.
    PresenceBackend` for ``hub``, plus the task that publishes and refreshes."""

    def __init__(
        self, url: str, hub: Hub, listener: PgListener, *, heartbeat_s: float, ttl_s: float
    ) -> None:
        self.url = psycopg_url(url)
        self.hub = hub
        self.me = hub.instance
        self.heartbeat_s = heartbeat_s
        self.ttl_s = ttl_s
        self.application_name = f"evalsvc-presence-{os.getpid()}"
        self._dirty: set[str] = set()  # sessions whose rows of this instance are stale
        self._stale: set[str] = set()  # sessions whose other instances' rows changed
        self._resync = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Who came and went while the listener was not listening: read again.
        listener.subscribe(CHANNEL, self.notified, catch_up=self.resync)

    # --- PresenceBackend --------------------------------------------------------------

    def changed(self, session_id: str) -> None:
        """Publish this instance's connections to ``session_id`` (soon, coalesced)."""
        self._dirty.add(session_id)
        self._wake.set()

    def read(self, c: SAConnection, session_ids: Sequence[str]) -> dict[str, dict[str, Member]]:
        """The other live instances' members of ``session_ids``."""
        rows = c.execute(_READ, {"ids": list(session_ids), "me": self.me}).all()
        return remote_rosters(
            (
                PresenceRow(
                    session_id=str(r[0]),
                    instance=str(r[1]),
                    age_s=float(r[2]),
                    member=Member(
                        key=str(r[3]),
                        role=str(r[4]),
                        subject=str(r[5]),
                        name=str(r[6]),
                        venue=None if r[7] is None else str(r[7]),
                    ),
                )
                for r in rows
            ),
            me=self.me,
            ttl_s=self.ttl_s,
        )

    # --- the listener's hooks (PgListener) ---------------------------------------------

    def notified(self, note: psycopg.Notify) -> None:
        """A ``NOTIFY evalsvc_presence`` arrived: re-read that session (not our own)."""
        sid, _, instance = note.payload.rpartition(" ")
        if sid and instance != self.me and sid in self.hub.feeds:
            self._stale.add(sid)
            self._wake.set()

    def resync(self) -> None:
        """The LISTEN connection was (re)opened: notifications may have been missed."""
        self._resync = True
        self._wake.set()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Create the tables (before the first socket can join), start the task."""
        await asyncio.to_thread(self._create_tables)
        self._task = asyncio.create_task(
            reconnecting(
                self.url,
                application_name=self.application_name,
                setup=self._register,
                serve=self._serve,
                what="presence",
            )
        )

    def _create_tables(self) -> None:
        with self.hub.db.engine.begin() as c:
            create_tables(c)

    async def stop(self) -> None:
        """Stop, and take this instance's connections out of everyone's presence at
        once (instead of after ``ttl_s``)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn, conn.transaction():
                    sessions = await conn.execute(
                        "SELECT DISTINCT session_id FROM evalsvc_presence WHERE instance = %s",
                        (self.me,),
                    )
                    for (sid,) in await sessions.fetchall():
                        await conn.execute(
                            "SELECT pg_notify(%s, %s)", (CHANNEL, f"{sid} {self.me}")
                        )
                    await conn.execute(
                        "DELETE FROM evalsvc_presence_instance WHERE id = %s", (self.me,)
                    )

    async def _register(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        """(Re)write this instance's heartbeat, then publish every session it serves:
        after a lost connection nothing says which of the last writes arrived (a
        session whose publication failed stays dirty, so none is forgotten)."""
        await conn.execute(
            "INSERT INTO evalsvc_presence_instance (id, seen) VALUES (%s, now()) "
            "ON CONFLICT (id) DO UPDATE SET seen = now()",
            (self.me,),
        )
        self._dirty.update(self.hub.feeds)
        self._resync = True
        self._wake.set()

    async def _serve(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat_s
        while True:
            # (asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation
            # that arrives as the wake does, and stop() would wait for ever.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
            if self._dirty:
                dirty, self._dirty = self._dirty, set()
                try:
                    await self._publish(conn, sorted(dirty))
                except BaseException:
                    self._dirty |= dirty
                    raise
            if loop.time() >= next_beat:
                next_beat = loop.time() + self.heartbeat_s
                await self._heartbeat(conn)
                self._resync = True  # expiry of dead instances shows up on a full read
            if self._resync:
                self._resync = False
                self._stale.clear()
                await self.hub.refresh_presence()
            elif self._stale:
                stale, self._stale = self._stale, set()
                await self.hub.refresh_presence(stale)

    async def _publish(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], sessions: list[str]
    ) -> None:
        """Replace this instance's rows of ``sessions`` and notify, in one transaction
        (the notifications are delivered at commit, after the rows are visible)."""
        async with conn.transaction():
            for sid in sessions:
                await conn.execute(
                    "DELETE FROM evalsvc_presence WHERE instance = %s AND session_id = %s",
                    (self.me, sid),
                )
                members = self.hub.local_members(sid)
                if members:
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            "INSERT INTO evalsvc_presence "
                            "(instance, member, session_id, role, subject, name, venue) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                            [
                                (self.me, m.key, sid, m.role, m.subject, m.name, m.venue)
                                for m in members
                            ],
                        )
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{sid} {self.me}"))

    async def _heartbeat(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        cur = await conn.execute(
            "UPDATE evalsvc_presence_instance SET seen = now() WHERE id = %s", (self.me,)
        )
        if cur.rowcount == 0:
            # The others expired us (we were silent too long) or PostgreSQL restarted
            # and emptied the unlogged tables: publish everything again.
            log.warning("presence heartbeat row was gone; publishing this instance again")
            await self._register(conn)
        await conn.execute(
            "DELETE FROM evalsvc_presence_instance WHERE seen < now() - make_interval(secs => %s)",
            (max(GC_AFTER_S, 10 * self.ttl_s),),
        )
