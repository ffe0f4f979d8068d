"""DrawDeadlines: a deadline already due when its own job reschedules is not lost."""

from __future__ import annotations

import asyncio
import datetime as _dt

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.experts.scheduler import DrawDeadlines


async def test_a_deadline_due_while_its_job_runs_is_handled_not_skipped() -> None:
    scheduler = AsyncIOScheduler(timezone=_dt.UTC)
    scheduler.start()
    try:
        past = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=1)
        calls: list[str] = []
        done = asyncio.Event()
        deadlines: DrawDeadlines

        async def tick(session_id: str) -> _dt.datetime | None:
            calls.append(session_id)
            if len(calls) == 1:
                # What the draw service does after a commit inside the tick: the next
                # deadline (here one that has passed already, as after a long pause).
                deadlines.at(session_id, past)
                await asyncio.sleep(0.05)
                return past
            done.set()
            return None

        deadlines = DrawDeadlines(scheduler, tick)
        deadlines.at("s-1", _dt.datetime.now(_dt.UTC))
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.1)
        # The second deadline was handled by the same firing, and nothing waits now.
        assert calls == ["s-1", "s-1"]
        assert scheduler.get_job("draw:s-1") is None
    finally:
        scheduler.shutdown(wait=False)
