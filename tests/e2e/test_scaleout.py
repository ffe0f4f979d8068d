"""Scale-out: two ``evalsvc serve`` instances on one PostgreSQL database, clients split
across them. Every event reaches every client in order; when one instance's LISTEN
connection is killed (``pg_terminate_backend``) it reconnects and catches up from the
table without skipping an event."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from conftest import make_token, scoring_sheet
from procs import Server
from test_chaos import all_events, prepare
from wsclient import Client, expected_hash, stop_clients

from evalsvc.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]
SHEETS = 600


def _terminate_listener(db_url: str, pid: int) -> int:
    """Kill the LISTEN connection of server process ``pid``; returns how many."""
    url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            return len(
                c.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": f"evalsvc-listen-{pid}"},
                ).all()
            )
    finally:
        engine.dispose()


async def test_two_instances_every_event_reaches_every_client_in_order(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("scale-out needs PostgreSQL: set EVALSVC_TEST_DATABASE (./dev test does)")
    secret = Path(settings.auth.token_secret_file)
    a = Server(db_url=db_url, secret_file=secret, log=tmp_path / "a.log")
    b = Server(db_url=db_url, secret_file=secret, log=tmp_path / "b.log")
    acked: dict[str, dict[str, Any]] = {}
    try:
        a.start()
        b.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            sid, ops, experts = await prepare(http, a.url, settings)
            sup = make_token(settings, "supervisor")
            # Alternate instances: half the experts and watchers on each.
            bases = [[a.url], [b.url]]
            clients = [
                Client(eid, bases[i % 2], sid, tok, seed=i)
                for i, (_, eid, tok) in enumerate(experts)
            ]
            watchers = [
                Client(f"op-{v}", bases[i % 2], sid, t, seed=20 + i)
                for i, (v, t) in enumerate(ops.items())
            ]
            watchers += [Client("sup-a", [a.url], sid, sup), Client("sup-b", [b.url], sid, sup)]
            everyone = clients + watchers
            stop = asyncio.Event()
            runners = [asyncio.create_task(c.run(http, stop)) for c in everyone]
            for c in everyone:
                await c.wait_synced(10)
            per = SHEETS // len(clients)

            async def expert(i: int, c: Client) -> None:
                rng = random.Random(i)
                for n in range(per):
                    key = f"scale-{i}-{n:05d}"
                    sheet = scoring_sheet(t1=str(rng.randint(0, 100) / 2))
                    reply = await c.request({"type": "submit", "id": key, "sheet": sheet})
                    assert reply["type"] == "ack", reply
                    acked[key] = reply

            async def cut_listener() -> None:
                while len(acked) < SHEETS // 3:
                    await asyncio.sleep(0.01)
                assert b.proc is not None
                killed = await asyncio.to_thread(_terminate_listener, db_url, b.proc.pid)
                assert killed == 1, "instance B's LISTEN connection was not found"

            await asyncio.wait_for(
                asyncio.gather(cut_listener(), *(expert(i, c) for i, c in enumerate(clients))),
                120,
            )
            table = await all_events(http, a.url, sid, sup)
            top = table[-1]["seq"]
            for _ in range(300):
                if all(c.last_seq >= top for c in everyone):
                    break
                await asyncio.sleep(0.1)
            await stop_clients(everyone, runners, stop)

            assert [e["seq"] for e in table] == list(range(1, top + 1))
            assert sum(e["type"] == "sheet.submitted" for e in table) == per * len(clients)
            for c in everyone:
                assert c.problems == [], (c.name, c.problems[:5])
                assert [e["seq"] for e in c.events] == list(range(1, top + 1)), c.name
                assert c.hash == expected_hash(await all_events(http, a.url, sid, c.token)), c.name
            assert "LISTEN connection lost" in b.log.read_text()
    finally:
        a.stop()
        b.stop()
