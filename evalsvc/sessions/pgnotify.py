"""PostgreSQL ``LISTEN/NOTIFY`` fan-out between server instances (the scaled deployment).

After a commit, the instance that made it sends ``NOTIFY evalsvc_events, '<session> <seq>'``
(:meth:`PgFanout.forward`, a bus forwarder), followed by a newline and the committed event
rows as JSON when they fit in a notification (:func:`notification`). Every instance
``LISTEN``s and turns each notification into a local wake-up (:meth:`LocalBus.wake`). The
hub fans carried rows out as it does its own process's commits — only when they are
exactly the next ones and leave the session document unchanged (score sheets) — and
otherwise reads the new events from the ``event`` table: the rows spare the other
instances a read per commit, they are never needed for correctness.

No event can be skipped:

- the listener (the process's one LISTEN connection, :class:`evalsvc.pg_listen.
  PgListener`) reconnects with exponential backoff and jitter after a lost connection,
  and on every (re)connection wakes all feeds, which re-read the table from the seq they
  fanned out last;
- a notification lost between a commit and its NOTIFY (the sending instance died) is
  caught by a periodic check of ``session.last_seq`` for the sessions with sockets here.

The same LISTEN connection carries the presence channel (``evalsvc.sessions.pgpresence``).
"""

from __future__ import annotations

__all__ = ["CHANNEL", "PgFanout", "notification", "parse_notification"]

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from evalsvc.pg_listen import PgListener, backoff, psycopg_url
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.hub import Hub
from evalsvc.sessions.store import StoredEvent
from evalsvc.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "evalsvc_events"
CATCH_UP_S = 2.0
# PostgreSQL refuses a payload of 8000 bytes or more; larger commits go as a bare hint.
MAX_PAYLOAD_BYTES = 7999
_EVENT_FIELDS = ("seq", "type", "payload", "actor", "venue", "time_ms")


def notification(session_id: str, seq: int, events: Sequence[Any] | None = None) -> str:
    """The payload announcing a commit: ``<session> <seq>``, then a newline and the
    committed rows (:class:`StoredEvent`) as JSON when they are given and fit."""
    head = f"{session_id} {seq}"
    if not events or not all(isinstance(e, StoredEvent) for e in events):
        return head
    rows = [[getattr(e, f) for f in _EVENT_FIELDS] for e in events]
    text = head + "\n" + json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return text if len(text.encode("utf-8")) <= MAX_PAYLOAD_BYTES else head


def parse_notification(payload: str) -> tuple[str, int, list[StoredEvent] | None] | None:
    """(session, seq, the carried rows or None) of a :func:`notification`; None when it
    is not one."""
    head, _, body = payload.partition("\n")
    sid, _, seq = head.rpartition(" ")
    if not sid or not seq.isdigit():
        return None
    events: list[StoredEvent] | None = None
    if body:
        try:
            events = [StoredEvent(sid, *row) for row in json.loads(body)]
        except (ValueError, TypeError):
            events = None  # not ours to trust: the hub reads the table instead
    return sid, int(seq), events


class PgFanout:
    """One NOTIFY connection and one catch-up timer per instance; the notifications
    arrive on the instance's ``listener``."""

    def __init__(self, url: str, bus: LocalBus, hub: Hub, listener: PgListener) -> None:
        self.url = psycopg_url(url)
        self.bus = bus
        self.hub = hub
        self._pending: list[str] = []
        self._sender_pid = 0  # backend of our NOTIFY connection: its notifications are ours
        self._has_pending = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Anything committed while the listener was not listening is in the table.
        listener.subscribe(CHANNEL, self.notified, catch_up=hub.wake_all)

    def start(self) -> None:
        """Start the sender and the catch-up timer."""
        self.bus.add_forwarder(self.forward)
        self._tasks = [
            asyncio.create_task(self._send()),
            asyncio.create_task(self._tick()),
        ]

    async def stop(self) -> None:
        """Cancel the tasks (their connections close with them)."""
        await cancel_and_wait(*self._tasks)

    def forward(self, session_id: str, seq: int, events: Sequence[Any] | None = None) -> None:
        """Bus forwarder: queue a NOTIFY for a commit made here (with its rows if any)."""
        self._pending.append(notification(session_id, seq, events))
        self._has_pending.set()

    def notified(self, note: psycopg.Notify) -> None:
        """A commit notification: wake the local feeds (not for our own commits)."""
        if note.pid == self._sender_pid:
            return  # our own commit: the bus was woken before it was sent
        parsed = parse_notification(note.payload)
        if parsed is not None:
            self.bus.wake(*parsed)

    async def _send(self) -> None:
        attempt = 0
        conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        while True:
            await self._has_pending.wait()
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                    self._sender_pid = conn.info.backend_pid
                while self._pending:
                    batch, self._pending = self._pending, []
                    self._has_pending.clear()
                    # One statement (one round trip, one transaction) per batch; a
                    # function scan of unnest yields the array in order.
                    await conn.execute(
                        "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, batch)
                    )
                self._has_pending.clear()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Lost notifications are caught by the other instances' catch-up timer.
                log.warning("NOTIFY failed (%s); retrying", exc)
                conn = None
                await asyncio.sleep(backoff(attempt))
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
