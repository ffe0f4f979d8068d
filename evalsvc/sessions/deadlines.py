"""Session deadlines kept by apscheduler (``AsyncIOScheduler``): the draw's
(:mod:`evalsvc.experts.scheduler`), the handover's (交接) and the venue-link rules'
(:class:`FaultDeadlines`: pause, seal and re-form, suspend).

One job per session with something pending, replaced whenever what it waits for
changes. The job calls ``tick(session_id)``, which acts on whatever has passed and
answers the next deadline (None: nothing left). The jobs live in memory only: the
database is the record, and :meth:`Deadlines.recover` rebuilds them on start-up —
handling at once every deadline that passed while the server was down.

For the handover, ``tick`` is
:meth:`~evalsvc.sessions.service.SessionService.handover_tick`, which raises the
``handover.overdue`` alert if it is still due (``evalsvc.sessions.handover``).
"""

from __future__ import annotations

__all__ = ["Deadlines", "FaultDeadlines", "HandoverDeadlines"]

import asyncio
import datetime as _dt
import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.errors import NotFound

log = logging.getLogger(__name__)

# A job fires a little after the deadline: a deadline is "passed" strictly after it.
_MARGIN = _dt.timedelta(milliseconds=20)
# Ticks of one firing at most (each acts on every deadline passed by then; a session that
# keeps changing under it is scheduled again, as a job, after these).
_MAX_ROUNDS = 10


class Deadlines:
    """Runs ``tick(session_id) -> next deadline`` at each session's next deadline: one
    apscheduler job per session, named ``<name>:<session id>``. ``clock`` tells now
    (the unit of work's, where the writes take theirs); a failed tick is retried after
    ``retry``. Each kind of deadline is a subclass naming its jobs and its retry."""

    name: ClassVar[str]
    retry: ClassVar[_dt.timedelta] = _dt.timedelta(seconds=5)

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
        # Sessions whose tick is running, and whether its deadlines changed meanwhile. A job
        # (re)scheduled while its own instance runs is skipped by apscheduler
        # (max_instances) and, being a date job, lost: a deadline due by then would
        # wait for the next change. So :meth:`at` only notes it, and
        # :meth:`_fire` ticks again before it schedules what is next.
        self._running: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # due deadlines being ticked

    def at(self, session_id: str, when: _dt.datetime | None) -> None:
        """(Re)schedule ``session_id``'s tick for ``when``; None removes its job."""
        if session_id in self._running:
            self._running[session_id] = True  # _fire ticks again, then schedules
            return
        job_id = f"{self.name}:{session_id}"
        if when is None or when + _MARGIN <= self._clock():
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
                        "%s deadline of session %s failed; retrying in %s",
                        self.name, session_id, self.retry,
                    )
                    nxt = self._clock() + self.retry
                    break
                changed = self._running[session_id]
                due = nxt is not None and nxt <= self._clock()
                if not (changed or due):
                    break
        finally:
            del self._running[session_id]
        self.at(session_id, nxt)

    async def recover(self, pending: list[tuple[str, _dt.datetime]]) -> int:
        """On start-up: handle what is due now, schedule the rest; how many were due."""
        now = self._clock()
        due = 0
        for session_id, when in pending:
            if when <= now:
                due += 1
                await self._fire(session_id)
            else:
                self.at(session_id, when)
        return due


class HandoverDeadlines(Deadlines):
    """The handover checks of sealed sessions (jobs ``handover:<session id>``)."""

    name = "handover"
    retry = _dt.timedelta(seconds=30)


class FaultDeadlines(Deadlines):
    """The venue-link rules of running and paused sessions (jobs ``faults:<session
    id>``): the tick is :meth:`~evalsvc.sessions.service.SessionService.fault_tick`,
    the pending steps on start-up come from the stored sessions (their lost links and
    faults), so a pause pending when the server stopped is taken when it starts."""

    name = "faults"
