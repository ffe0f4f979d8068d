"""In-process event bus: wakes waiters when a session's events are committed.

It carries only ``(session, seq)`` — readers fetch the events from the table, so a
wake-up that is missed or coalesced loses nothing. (The scaled deployment adds a
PostgreSQL ``LISTEN/NOTIFY`` source that feeds the same :meth:`LocalBus.publish`.)
"""

from __future__ import annotations

__all__ = ["LocalBus"]

import asyncio
import contextlib


class LocalBus:
    """Per-session "something new after seq N" notifications."""

    def __init__(self) -> None:
        self._top: dict[str, int] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def publish(self, session_id: str, seq: int) -> None:
        """Record that ``session_id`` has events up to ``seq``; wake its waiters."""
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
            await asyncio.wait_for(ev.wait(), timeout)
            return True
        return False
