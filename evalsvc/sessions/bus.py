"""In-process event bus: wakes waiters when a session's events are committed.

It carries only ``(session, seq)`` — readers fetch the events from the table, so a
wake-up that is missed or coalesced loses nothing. (The scaled deployment adds a
PostgreSQL ``LISTEN/NOTIFY`` source that feeds the same :meth:`LocalBus.publish`.)
"""

from __future__ import annotations

__all__ = ["LocalBus"]

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

# (session, seq, the committed events when the commit was made here — else None)
Listener = Callable[[str, int, Sequence[Any] | None], None]
Forwarder = Callable[[str, int, Sequence[Any] | None], None]


class LocalBus:
    """Per-session "something new after seq N" notifications."""

    def __init__(self) -> None:
        self._top: dict[str, int] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        self._listeners: list[Listener] = []
        self._forwarders: list[Forwarder] = []

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(session, seq, events)`` on every wake-up, local or from another
        instance (the WebSocket hub); ``events`` is None for the latter."""
        self._listeners.append(fn)

    def add_forwarder(self, fn: Forwarder) -> None:
        """Call ``fn(session, seq, events)`` for commits made by *this* process only (the
        PostgreSQL NOTIFY sender tells the other instances)."""
        self._forwarders.append(fn)

    def publish(self, session_id: str, seq: int, events: Sequence[Any] | None = None) -> None:
        """A commit made here (``events``: what it stored): wake local waiters and
        forward to other instances."""
        self.wake(session_id, seq, events)
        for fn in self._forwarders:
            fn(session_id, seq, events)

    def wake(self, session_id: str, seq: int, events: Sequence[Any] | None = None) -> None:
        """Record that ``session_id`` has events up to ``seq``; wake its waiters."""
        for fn in self._listeners:
            fn(session_id, seq, events)
        if seq > self._top.get(session_id, 0):
            self._top[session_id] = seq
        ev = self._waiters.pop(session_id, None)
        if ev is not None:
            ev.set()

    async def wait(self, session_id: str, *, after: int, timeout: float) -> bool:
        """Wait until an event after ``after`` is published, at most ``timeout`` s."""
        if self._top.get(session_id, 0) > after:
            return True
        ev = self._waiters.setdefault(session_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # (not wait_for: see pgpresence._serve)
                await ev.wait()
            return True
        return False
