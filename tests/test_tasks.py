"""Stopping background tasks: every ``stop()`` ends its tasks, and can itself be stopped."""

from __future__ import annotations

import asyncio
import logging

import pytest

from evalsvc.tasks import cancel_and_wait


async def test_tasks_are_cancelled_and_waited_for() -> None:
    ended: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append(name)

    tasks = [asyncio.create_task(worker(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks)
    assert sorted(ended) == ["a", "b"]
    assert all(t.cancelled() for t in tasks)


async def test_a_task_that_failed_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("lost the database")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="evalsvc.tasks"):
        await cancel_and_wait(task)
    assert "lost the database" in caplog.text


async def test_cancelling_the_caller_while_it_waits_is_not_swallowed() -> None:
    """``contextlib.suppress(BaseException)`` around ``await task`` swallowed this: a
    stop() cancelled while its task was still cleaning up returned as if done."""
    cleaning = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cleaning.set()
            await asyncio.sleep(60)  # a cleanup that takes its time
            raise

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await cleaning.wait()
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled()
    assert task.done()  # the caller's cancellation reached the task too


async def test_a_finally_of_a_cancelled_task_waits_for_all_and_cleans_up() -> None:
    """The venue agent's ``finally``: it is being cancelled, stops its links, then closes
    its HTTP session. Raising at the first task would leave the others running and the
    session open."""
    ended: list[str] = []

    async def link(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.01)  # closing its socket
            ended.append(name)

    async def agent() -> None:
        links = [asyncio.create_task(link(n)) for n in ("js", "zj", "ah")]
        try:
            await asyncio.sleep(60)
        finally:
            await cancel_and_wait(*links)
            ended.append("http closed")

    task = asyncio.create_task(agent())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(ended) == ["ah", "http closed", "js", "zj"]
    assert ended[-1] == "http closed"
