"""The handover deadlines (交接), kept by apscheduler (``AsyncIOScheduler``).

One job per sealed session whose handover is not complete, at the moment it becomes
overdue (``evalsvc.sessions.handover.handover_due``). The job calls
:meth:`~evalsvc.sessions.service.SessionService.handover_tick`, which raises the
``handover.overdue`` alert if it is still due and answers the next deadline (None:
nothing left to wait for). As with the draw's deadlines
(:mod:`evalsvc.experts.scheduler`) the jobs live in memory only: the database is the
record (the sealed session's ``sealed_at`` and ``handovers``), and
:meth:`HandoverDeadlines.recover` rebuilds them on start-up — raising at once every
alert whose deadline passed while the server was down.
"""

from __future__ import annotations

__all__ = ["HandoverDeadlines"]

import asyncio
import datetime as _dt
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.errors import NotFound

log = logging.getLogger(__name__)

_MARGIN = _dt.timedelta(milliseconds=20)  # a deadline has passed strictly after it
_RETRY = _dt.timedelta(seconds=30)


class HandoverDeadlines:
    """Runs ``tick(session_id) -> next deadline`` at each handover's deadline."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        tick: Callable[[str], Awaitable[_dt.datetime | None]],
        *,
        clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
    ) -> None:
        self._scheduler = scheduler  # started and stopped by the application
        self._tick = tick
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()  # due deadlines being handled

    @staticmethod
    def job_id(session_id: str) -> str:
        """The scheduler job of ``session_id``'s handover."""
        return f"handover:{session_id}"

    def at(self, session_id: str, when: _dt.datetime | None) -> None:
        """(Re)schedule the handover check of ``session_id`` for ``when``; None removes it."""
        job_id = self.job_id(session_id)
        if when is None or when + _MARGIN <= self._clock():
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)
            if when is not None:
                # Due already: handled now in a task of ours. A date job in the past,
                # added while this session's job still runs, would be skipped by
                # apscheduler (max_instances) and lost (as DrawDeadlines learnt).
                task = asyncio.get_running_loop().create_task(self._fire(session_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        self._scheduler.add_job(
            self._fire,
            "date",
            run_date=when + _MARGIN,
            args=[session_id],
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,  # late is better than never
            coalesce=True,
        )

    async def _fire(self, session_id: str) -> None:
        try:
            nxt = await self._tick(session_id)
        except NotFound:
            nxt = None
        except Exception:
            log.exception("handover deadline of session %s failed; retrying", session_id)
            nxt = self._clock() + _RETRY
        self.at(session_id, nxt)

    async def recover(self, pending: list[tuple[str, _dt.datetime]]) -> int:
        """On start-up: raise what is due now, schedule the rest; how many were due."""
        now = self._clock()
        due = 0
        for session_id, when in pending:
            if when <= now:
                due += 1
                await self._fire(session_id)
            else:
                self.at(session_id, when)
        return due
