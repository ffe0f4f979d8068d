"""Cluster presence on PostgreSQL, with two hubs in this process standing for two
instances (each with its own presence task and LISTEN connection) and fake sockets.

Heartbeats are slowed down where a test must show that a notification, or the re-read
after a lost LISTEN connection, is what carried a change — not the periodic re-read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import EXPERT_IDS, Harness

from evalsvc.auth import Principal
from evalsvc.db import Database
from evalsvc.pg_listen import PgListener
from evalsvc.sessions import protocol
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.hub import Connection, Hub
from evalsvc.sessions.pgnotify import PgFanout
from evalsvc.sessions.pgpresence import PgPresence

pytestmark = pytest.mark.postgres_only


@dataclass
class Instance:
    db: Database
    hub: Hub
    presence: PgPresence
    fanout: PgFanout
    listener: PgListener


class Socket:
    """A fake socket: what was sent to it, as documents."""

    def __init__(self, hub: Hub, principal: Principal) -> None:
        self.hub = hub
        self.frames: list[dict[str, Any]] = []
        self.conn: Connection = hub.connection(principal, self._send, self._close)

    async def _send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    async def _close(self, code: int, reason: str) -> None:
        pass

    async def join(self, sid: str) -> None:
        await self.hub.join(self.conn, sid, protocol.Hello(epoch=None, last_seq=0))

    async def leave(self) -> None:
        self.hub.leave(self.conn)
        self.hub.forget(self.conn)
        await self.conn.aclose()

    def presence(self) -> list[tuple[str, str | None]]:
        return [
            (m["event"], m["who"].get("subject")) for m in self.frames if m["type"] == "presence"
        ]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
async def cluster(api: Harness) -> AsyncIterator[Callable[..., Any]]:
    """Start instances on the test's database (the app's own instance is a third one)."""
    from evalsvc.sessions.ws import HUB

    epoch = api.client.server.app[HUB].epoch
    made: list[Instance] = []

    async def make(name: str, *, heartbeat_s: float = 3600, ttl_s: float = 7200) -> Instance:
        db = Database(api.settings.database)
        hub = Hub(db, epoch=epoch, instance=name)
        listener = PgListener(api.settings.database.url)
        presence = PgPresence(
            api.settings.database.url, hub, listener, heartbeat_s=heartbeat_s, ttl_s=ttl_s
        )
        await presence.start()
        hub.cluster = presence
        inst = Instance(
            db, hub, presence, PgFanout(presence.url, LocalBus(), hub, listener), listener
        )
        inst.fanout.start()
        listener.start()
        await asyncio.wait_for(listener.listening.wait(), 10)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        await inst.listener.stop()
        await inst.fanout.stop()
        await inst.presence.stop()
        await inst.hub.close()
        await asyncio.to_thread(inst.db.close)


def expert(n: int) -> Principal:
    return Principal("expert", EXPERT_IDS[n], EXPERT_IDS[n], venue="js-suzhou")


SUP = Principal("supervisor", "sup-a", "sup-a")


async def test_joins_and_leaves_cross_instances_also_after_a_lost_listen(
    api: Harness, cluster: Callable[..., Any]
) -> None:
    sid, _ = await api.to_stage("drawing")
    a, b = await cluster("i-a"), await cluster("i-b")
    sup = Socket(a.hub, SUP)
    await sup.join(sid)
    e1 = Socket(b.hub, expert(3))
    await e1.join(sid)
    # The heartbeats are an hour apart: only B's NOTIFY can have told A.
    await until(lambda: ("join", EXPERT_IDS[3]) in sup.presence())

    # A loses its LISTEN connection; meanwhile a second expert joins on B.
    await a.listener.stop()
    e2 = Socket(b.hub, expert(4))
    await e2.join(sid)
    await asyncio.sleep(1.0)
    assert ("join", EXPERT_IDS[4]) not in sup.presence()  # the notification was lost
    a.listener.start()  # on (re)connecting, the current state is read again
    await until(lambda: ("join", EXPERT_IDS[4]) in sup.presence())
    last = next(m for m in reversed(sup.frames) if m["type"] == "presence")
    assert sorted(w["subject"] for w in last["connected"]) == sorted(
        ["sup-a", EXPERT_IDS[3], EXPERT_IDS[4]]
    )

    await e1.leave()
    await until(lambda: ("leave", EXPERT_IDS[3]) in sup.presence())
    # A clean shutdown of B takes its connections out at once (no waiting for the TTL).
    await b.presence.stop()
    await until(lambda: ("leave", EXPERT_IDS[4]) in sup.presence())
    assert a.hub.feeds[sid].remote == {}
    await e2.leave()
    await sup.leave()


async def test_a_silent_instance_expires_and_a_lost_heartbeat_row_is_published_again(
    api: Harness, cluster: Callable[..., Any]
) -> None:
    sid, _ = await api.to_stage("drawing")
    a = await cluster("i-a", heartbeat_s=0.2, ttl_s=1.0)
    b = await cluster("i-b", heartbeat_s=0.2, ttl_s=1.0)
    sup = Socket(a.hub, SUP)
    await sup.join(sid)
    e1 = Socket(b.hub, expert(3))
    await e1.join(sid)
    await until(lambda: ("join", EXPERT_IDS[3]) in sup.presence())

    # B's heartbeat row disappears (PostgreSQL emptied the unlogged table after a crash,
    # or the others expired B): B notices at its next heartbeat and publishes again.
    def drop_row() -> None:
        with a.db.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM evalsvc_presence_instance WHERE id = 'i-b'")

    def rows_of_b() -> int:
        with a.db.engine.begin() as c:
            return int(
                c.exec_driver_sql(
                    "SELECT count(*) FROM evalsvc_presence p JOIN evalsvc_presence_instance i"
                    " ON i.id = p.instance WHERE i.id = 'i-b'"
                ).scalar_one()
            )

    await asyncio.to_thread(drop_row)
    assert await asyncio.to_thread(rows_of_b) == 0
    for _ in range(250):
        if await asyncio.to_thread(rows_of_b) == 1:
            break
        await asyncio.sleep(0.02)
    assert await asyncio.to_thread(rows_of_b) == 1
    # Whether or not A read the table in the gap, it shows the expert again.
    await until(lambda: sup.presence()[-1] == ("join", EXPERT_IDS[3]))

    # B goes silent (its task dies with no goodbye, as in a SIGKILL): after the TTL its
    # expert leaves A's presence.
    await b.listener.stop()
    await b.fanout.stop()
    assert b.presence._task is not None
    b.presence._task.cancel()
    await until(lambda: sup.presence()[-1] == ("leave", EXPERT_IDS[3]))
    b.presence._task = None  # nothing left to cancel in the fixture
    await e1.leave()
    await sup.leave()


async def test_an_instance_stops_when_a_change_comes_as_it_stops(
    api: Harness, cluster: Callable[..., Any]
) -> None:
    """A socket closing as the server stops wakes the presence task in the same moment
    as it is cancelled: the cancellation must still stop it (on 3.11 ``wait_for``
    swallowed it, and shutdown waited for ever — a CI run hung here)."""
    sid, _ = await api.to_stage("drawing")
    a = await cluster("i-a")
    for n in range(3):
        await asyncio.sleep(0.05)  # the task is waiting for a change or its heartbeat
        a.presence.changed(sid)
        for _ in range(n):
            await asyncio.sleep(0)
        task = a.presence._task
        stopping = asyncio.create_task(a.presence.stop())
        await asyncio.wait([stopping], timeout=10)  # (a hang, not a speed: seconds spare)
        assert stopping.done() and task is not None and task.done(), f"not stopped ({n})"
        await a.presence.start()
