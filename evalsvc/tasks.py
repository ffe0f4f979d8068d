"""Stopping background tasks: the one way every ``stop()`` ends its tasks (generic, knows
no feature)."""

from __future__ import annotations

__all__ = ["cancel_and_wait"]

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait for each to end, whatever it ended with.

    A task's own failure is not the caller's: it is logged, not raised. A cancellation
    of the *caller* while it waits is not swallowed (``contextlib.suppress
    (BaseException)`` did): it propagates, so that cancelling a ``stop()`` stops it.
    """
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise
        except Exception:
            log.exception("a background task failed as it was stopped")
