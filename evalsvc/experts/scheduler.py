"""Deadlines of the draws, kept by apscheduler (``AsyncIOScheduler``).

Jobs run on the application's scheduler (``evalsvc.typedefs.SCHEDULER``): one job per
session with something pending (a ceremony deadline, an invitation
deadline), replaced whenever the draw changes. The job calls
:meth:`~evalsvc.experts.service.DrawService.tick`, which acts on whatever has passed and
answers the next deadline. The jobs live in memory only: the database is the record
(``draw_state.next_deadline_ms``), and :meth:`DrawDeadlines.recover` rebuilds them on
start-up — handling at once every deadline that passed while the server was down.
"""

from __future__ import annotations

__all__ = ["DrawDeadlines"]

import asyncio
import datetime as _dt
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.errors import NotFound

log = logging.getLogger(__name__)

# A job fires a little after the deadline: a deadline is "passed" strictly after it.
_MARGIN = _dt.timedelta(milliseconds=20)
# Ticks of one firing at most (each acts on every deadline passed by then; a draw that
# keeps changing under it is scheduled again, as a job, after these).
_MAX_ROUNDS = 10


class DrawDeadlines:
    """Runs ``tick(session_id) -> next deadline`` at each draw's next deadline."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        tick: Callable[[str], Awaitable[_dt.datetime | None]],
    ) -> None:
        self._scheduler = scheduler  # started and stopped by the application
        self._tick = tick
        # Sessions whose tick is running, and whether the draw changed meanwhile. A job
        # (re)scheduled while its own instance runs is skipped by apscheduler
        # (max_instances) and, being a date job, lost: a deadline due by then would
        # wait for the next change of the draw. So :meth:`at` only notes it, and
        # :meth:`_fire` ticks again before it schedules what is next.
        self._running: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # due deadlines being ticked

    def at(self, session_id: str, when: _dt.datetime | None) -> None:
        """(Re)schedule the draw of ``session_id`` for ``when``; None removes its job."""
        if session_id in self._running:
            self._running[session_id] = True  # _fire ticks again, then schedules
            return
        job_id = f"draw:{session_id}"
        if when is None or when + _MARGIN <= _dt.datetime.now(_dt.UTC):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)
            if when is not None:
                # Due already: ticked now, in a task of ours claimed at once — a date
                # job in the past would race its own running instance (see __init__).
                self._running[session_id] = False
                task = asyncio.get_running_loop().create_task(
                    self._fire(session_id, claimed=True)
                )
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

    async def _fire(self, session_id: str, *, claimed: bool = False) -> None:
        """Tick until the next deadline lies ahead and nothing changed meanwhile (at
        most :data:`_MAX_ROUNDS` times), then schedule it. ``claimed``: :meth:`at`
        already marked the session running."""
        nxt: _dt.datetime | None = None
        if not claimed:
            if session_id in self._running:  # ticking already: it will tick again
                self._running[session_id] = True
                return
            self._running[session_id] = False
        try:
            for _ in range(_MAX_ROUNDS):
                self._running[session_id] = False
                try:
                    nxt = await self._tick(session_id)
                except NotFound:
                    nxt = None  # the session is gone: nothing to wait for
                    break
                except Exception:
                    log.exception(
                        "draw deadline of session %s failed; retrying in 5 s", session_id
                    )
                    nxt = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=5)
                    break
                changed = self._running[session_id]
                due = nxt is not None and nxt <= _dt.datetime.now(_dt.UTC)
                if not (changed or due):
                    break
        finally:
            del self._running[session_id]
        self.at(session_id, nxt)

    async def recover(self, pending: list[tuple[str, _dt.datetime]]) -> int:
        """On start-up: handle what is due now, schedule the rest; how many were due."""
        now = _dt.datetime.now(_dt.UTC)
        due = 0
        for session_id, when in pending:
            if when <= now:
                due += 1
                await self._fire(session_id)
            else:
                self.at(session_id, when)
        return due
