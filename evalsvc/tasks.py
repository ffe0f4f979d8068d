"""Stopping background tasks: the one way every ``stop()`` ends its tasks (generic, knows
no feature)."""

from __future__ import annotations

__all__ = ["cancel_and_wait"]

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait for every one of them to end, whatever it ended with.

    A task's own failure is not the caller's: it is logged, not raised. A cancellation
    of the *caller* that arrives while it waits is not swallowed (``contextlib.suppress
    (BaseException)`` around each ``await`` did): the tasks are still all waited for
    (it reaches the one being awaited too), then it is raised. A caller already being
    cancelled when it calls this (a ``finally`` cleaning up) waits for all of them and
    goes on with its cleanup; its own cancellation goes on after that.
    """
    me = asyncio.current_task()
    before = me.cancelling() if me is not None else 0
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            pass  # the task's end — or the caller's cancellation, passed on to it
        except Exception:
            log.exception("a background task failed as it was stopped")
    if me is not None and me.cancelling() > before:
        raise asyncio.CancelledError
