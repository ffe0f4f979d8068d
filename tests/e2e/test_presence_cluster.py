"""Presence across two ``evalsvc serve`` instances on one PostgreSQL database (default
settings: a 2 s presence heartbeat, a 6 s time-to-live).

A supervisor connected to instance A sees an expert connected to instance B join and
leave; a supervisor connecting to B is shown everyone, on both instances; after B is
SIGKILLed, its connections disappear from A's presence within the TTL and a heartbeat.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token
from procs import Server
from test_chaos import prepare
from test_resume import hello
from wsclient import Client

from evalsvc.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]
TTL_S, HEARTBEAT_S = 6.0, 2.0  # config/default.toml [realtime]


class Watcher(Client):
    """A client that keeps the presence messages it receives, with their time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presence: list[tuple[float, dict[str, Any]]] = []

    def _on(self, m: dict[str, Any]) -> None:
        if m["type"] == "presence":
            self.presence.append((time.monotonic(), m))
        super()._on(m)

    def seen(self, kind: str, subject: str) -> float | None:
        """When a ``kind`` message about ``subject`` last arrived (None: never)."""
        times = [
            t for t, m in self.presence if m["event"] == kind and m["who"]["subject"] == subject
        ]
        return times[-1] if times else None

    def roster(self) -> list[str]:
        return sorted(w["subject"] for w in self.presence[-1][1]["connected"])


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.01)


async def test_a_supervisor_on_one_instance_sees_the_whole_cluster(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    secret = Path(settings.auth.token_secret_file)
    a = Server(db_url=db_url, secret_file=secret, log=tmp_path / "a.log")
    b = Server(db_url=db_url, secret_file=secret, log=tmp_path / "b.log")
    stop = asyncio.Event()
    runners: list[asyncio.Task[None]] = []
    try:
        a.start()
        b.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            sid, _, experts = await prepare(http, a.url, settings)
            sup_a = Watcher(
                "sup-a", [a.url], sid, make_token(settings, "supervisor", subject="sup-a")
            )

            def run(c: Client) -> Client:
                runners.append(asyncio.create_task(c.run(http, stop)))
                return c

            run(sup_a)
            await sup_a.wait_synced(10)
            await wait_for(lambda: sup_a.seen("join", "sup-a") is not None, 10, "sup-a's own join")
            assert sup_a.roster() == ["sup-a"]

            # An expert joins on B: A's supervisor is told.
            _, eid, tok = experts[0]
            ex, *_ = await hello(http, b.url, sid, tok, None, 0)
            synced_at = time.monotonic()
            await wait_for(lambda: sup_a.seen("join", eid) is not None, 10, f"{eid} joining on B")
            join_s = sup_a.seen("join", eid) - synced_at  # type: ignore[operator]
            assert sup_a.roster() == sorted(["sup-a", eid])

            # Someone connecting to B is shown the whole cluster, A's supervisor too.
            sup_b = run(
                Watcher("sup-b", [b.url], sid, make_token(settings, "supervisor", subject="sup-b"))
            )
            await wait_for(lambda: sup_b.seen("join", "sup-b") is not None, 10, "sup-b's own join")
            assert sup_b.roster() == sorted(["sup-a", "sup-b", eid])
            await wait_for(lambda: sup_a.seen("join", "sup-b") is not None, 10, "sup-b seen on A")

            # The expert leaves B: A's supervisor is told.
            await ex.close()
            left_at = time.monotonic()
            await wait_for(lambda: sup_a.seen("leave", eid) is not None, 10, f"{eid} leaving B")
            leave_s = sup_a.seen("leave", eid) - left_at  # type: ignore[operator]
            assert sup_a.roster() == sorted(["sup-a", "sup-b"])

            # Two more experts on B; then B is SIGKILLed: no goodbye reaches anyone.
            names = [e for _, e, _ in experts[1:3]]
            held = [(await hello(http, b.url, sid, t, None, 0))[0] for _, _, t in experts[1:3]]
            for e in names:
                await wait_for(lambda e=e: sup_a.seen("join", e) is not None, 10, f"{e} on B")
            b.kill()
            killed_at = time.monotonic()
            gone = ["sup-b", *names]
            await wait_for(
                lambda: all(sup_a.seen("leave", s) for s in gone),
                TTL_S + HEARTBEAT_S + 10,
                f"{gone} gone from A after B's SIGKILL",
            )
            expiry_s = max(sup_a.seen("leave", s) for s in gone) - killed_at  # type: ignore[type-var]
            assert sup_a.roster() == ["sup-a"]
            # Bounded by the TTL and one heartbeat of A (plus the read itself).
            assert expiry_s < TTL_S + HEARTBEAT_S + 1.0, expiry_s
            assert sup_a.problems == []
            for ws in held:
                await ws.close()
            print(
                f"\npresence across instances: join seen on A {1000 * join_s:.0f} ms after the "
                f"expert synced on B, leave {1000 * leave_s:.0f} ms after it closed; B's 3 "
                f"connections gone from A {expiry_s:.1f} s after SIGKILL (TTL {TTL_S:g} s, "
                f"heartbeat {HEARTBEAT_S:g} s)"
            )
    finally:
        stop.set()
        for t in runners:
            t.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        a.stop()
        b.stop()
