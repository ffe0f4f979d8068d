"""PostgreSQL ``LISTEN/NOTIFY`` fan-out between server instances (the scaled deployment).

After a commit, the instance that made it sends ``NOTIFY evalsvc_events, '<session> <seq>'``
(:meth:`PgFanout.forward`, a bus forwarder). Every instance ``LISTEN``s and turns each
notification into a local wake-up (:meth:`LocalBus.wake`); the hub then reads the new
events from the ``event`` table — a notification is only a hint, never the data.

No event can be skipped:

- the listener reconnects with exponential backoff and jitter after a lost connection,
  and on every (re)connection wakes all feeds, which re-read the table from the seq they
  fanned out last;
- a notification lost between a commit and its NOTIFY (the sending instance died) is
  caught by a periodic check of ``session.last_seq`` for the sessions with sockets here.

The same LISTEN connection carries the presence channel (``evalsvc.sessions.pgpresence``):
its notifications, and every (re)connection, go to :class:`PgPresence`.
"""

from __future__ import annotations

__all__ = ["CHANNEL", "PgFanout", "psycopg_url"]

import asyncio
import contextlib
import logging
import os
import random
from typing import TYPE_CHECKING

import psycopg

from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.hub import Hub

if TYPE_CHECKING:
    from evalsvc.sessions.pgpresence import PgPresence

log = logging.getLogger(__name__)

CHANNEL = "evalsvc_events"
PRESENCE_CHANNEL = "evalsvc_presence"  # evalsvc.sessions.pgpresence.CHANNEL
CATCH_UP_S = 2.0


def psycopg_url(url: str) -> str:
    """A libpq URL from an SQLAlchemy one (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgresql") else url


def _backoff(attempt: int) -> float:
    # Exponential backoff with full jitter, capped at 5 s.
    return random.uniform(0, min(5.0, 0.1 * 2**attempt))


class PgFanout:
    """One LISTEN connection, one NOTIFY connection, one catch-up timer per instance."""

    def __init__(
        self, url: str, bus: LocalBus, hub: Hub, presence: PgPresence | None = None
    ) -> None:
        self.url = psycopg_url(url)
        self.bus = bus
        self.hub = hub
        self.presence = presence
        # Tests find (and terminate) this instance's LISTEN connection by this name.
        self.application_name = f"evalsvc-listen-{os.getpid()}"
        self._pending: dict[str, int] = {}
        self._has_pending = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()
        self.reconnects = 0

    def start(self) -> None:
        """Start the listener, the sender and the catch-up timer."""
        self.bus.add_forwarder(self.forward)
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._send()),
            asyncio.create_task(self._tick()),
        ]

    async def stop(self) -> None:
        """Cancel the tasks (their connections close with them)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t

    def forward(self, session_id: str, seq: int) -> None:
        """Bus forwarder: queue a NOTIFY for a commit made here (coalesced per session)."""
        if seq > self._pending.get(session_id, 0):
            self._pending[session_id] = seq
        self._has_pending.set()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name=self.application_name
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.presence is not None:
                        await conn.execute(f"LISTEN {PRESENCE_CHANNEL}")
                        self.presence.resync()  # who came and went meanwhile: read again
                    attempt = 0
                    self.listening.set()
                    # Anything committed while we were not listening is in the table.
                    self.hub.wake_all()
                    async for note in conn.notifies():
                        if note.channel == PRESENCE_CHANNEL:
                            if self.presence is not None:
                                self.presence.notified(note.payload)
                            continue
                        sid, _, seq = note.payload.rpartition(" ")
                        if sid and seq.isdigit():
                            self.bus.wake(sid, int(seq))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                self.reconnects += 1
                delay = _backoff(attempt)
                attempt += 1
                log.warning("LISTEN connection lost (%s); reconnecting in %.2f s", exc, delay)
                await asyncio.sleep(delay)

    async def _send(self) -> None:
        attempt = 0
        conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        while True:
            await self._has_pending.wait()
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                while self._pending:
                    batch, self._pending = self._pending, {}
                    self._has_pending.clear()
                    for sid, seq in batch.items():
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{sid} {seq}"))
                self._has_pending.clear()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Lost notifications are caught by the other instances' catch-up timer.
                log.warning("NOTIFY failed (%s); retrying", exc)
                conn = None
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(CATCH_UP_S)
            try:
                await self.hub.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("catch-up check failed: %s", exc)
