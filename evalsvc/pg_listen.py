"""One PostgreSQL ``LISTEN`` connection per process, shared by whoever needs one.

:class:`PgListener` holds the connection; :meth:`PgListener.subscribe` names a channel,
the function each of its notifications goes to, and a catch-up function. After a lost
connection the listener reconnects with exponential backoff and full jitter
(:func:`backoff`), LISTENs on every channel again and then calls every catch-up
function: notifications sent while nobody listened are lost, so each subscriber reads
again what they would have told it (``evalsvc.sessions.pgnotify`` wakes every feed,
``evalsvc.sessions.pgpresence`` re-reads presence).
"""

from __future__ import annotations

__all__ = ["PgListener", "backoff", "psycopg_url", "reconnecting"]

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from evalsvc.tasks import cancel_and_wait

log = logging.getLogger(__name__)


def psycopg_url(url: str) -> str:
    """A libpq URL from an SQLAlchemy one (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgresql") else url


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnection ``attempt`` (0, 1, …): exponential backoff
    with full jitter, capped at 5 s."""
    return random.uniform(0, min(5.0, 0.1 * 2**attempt))


Connection = psycopg.AsyncConnection[tuple[object, ...]]


async def reconnecting(
    url: str,
    *,
    application_name: str,
    setup: Callable[[Connection], Awaitable[None]],
    serve: Callable[[Connection], Awaitable[None]],
    lost: Callable[[], None] | None = None,
    what: str,
) -> None:
    """Hold an autocommit connection until cancelled: ``setup`` it, then ``serve`` it;
    when it fails, call ``lost`` and connect again after :func:`backoff` (which starts
    again from the first delay once a ``setup`` succeeds)."""
    attempt = 0
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, application_name=application_name
            )
            async with conn:
                await setup(conn)
                attempt = 0
                await serve(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if lost is not None:
                lost()
            delay = backoff(attempt)
            attempt += 1
            log.warning("%s connection lost (%s); reconnecting in %.2f s", what, exc, delay)
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class _Subscription:
    channel: str
    notified: Callable[[psycopg.Notify], None]
    catch_up: Callable[[], None] | None


class PgListener:
    """This process's LISTEN connection: notifications go to the subscribers of their
    channel; every (re)connection calls the subscribers' catch-up functions."""

    def __init__(self, url: str, *, application_name: str | None = None) -> None:
        self.url = psycopg_url(url)
        # Tests find (and terminate) this process's LISTEN connection by this name.
        self.application_name = application_name or f"evalsvc-listen-{os.getpid()}"
        self._subscriptions: list[_Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.reconnects = 0

    def subscribe(
        self,
        channel: str,
        notified: Callable[[psycopg.Notify], None],
        *,
        catch_up: Callable[[], None] | None = None,
    ) -> None:
        """Send ``channel``'s notifications to ``notified``; call ``catch_up`` after every
        (re)connection, once LISTENing. Subscribe before :meth:`start`."""
        if not channel.isidentifier():
            raise ValueError(f"channel must be an identifier, got {channel!r}")
        if self._task is not None:
            raise RuntimeError("subscribe before the listener starts")
        self._subscriptions.append(_Subscription(channel, notified, catch_up))

    def start(self) -> None:
        """Connect and listen (in a task, reconnecting until :meth:`stop`)."""
        self._task = asyncio.create_task(
            reconnecting(
                self.url,
                application_name=self.application_name,
                setup=self._listen,
                serve=self._dispatch,
                lost=self._lost,
                what="LISTEN",
            )
        )

    async def stop(self) -> None:
        """Cancel the task (the connection closes with it); :meth:`start` may follow."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self.listening.clear()

    async def _listen(self, conn: Connection) -> None:
        for channel in dict.fromkeys(s.channel for s in self._subscriptions):
            await conn.execute(f"LISTEN {channel}")

    async def _dispatch(self, conn: Connection) -> None:
        # Anything sent while we were not listening is lost: read it again.
        for s in self._subscriptions:
            if s.catch_up is not None:
                s.catch_up()
        self.listening.set()
        async for note in conn.notifies():
            for s in self._subscriptions:
                if s.channel == note.channel:
                    s.notified(note)

    def _lost(self) -> None:
        self.listening.clear()
        self.reconnects += 1
