"""A secondary venue's agent (``evalsvc venue``) as a real process against a real primary:
it mirrors exactly what the venue's operator may see, keeps serving its records while the
primary is dead, and catches up after the primary comes back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import make_token, scoring_sheet
from procs import Server, free_port, spawn, stop_process
from test_chaos import all_events, prepare

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e
FIELDS = ("seq", "type", "payload", "actor", "venue", "time_ms")


# The venue's view token (the agent creates it; its operators are given it).
VIEW: dict[str, str] = {}


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {VIEW['token']}"} if "token" in VIEW else {}
    async with http.get(url, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def _wait_mirror(http: aiohttp.ClientSession, base: str, sid: str, top: int) -> list[Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, doc = await _get(http, f"{base}/sessions/{sid}/events?limit=1000")
        except aiohttp.ClientError:
            status, doc = 0, {}
        if status == 200 and doc["last_seq"] >= top:
            events = list(doc["events"])
            while len(events) < doc["last_seq"]:
                _, more = await _get(
                    http, f"{base}/sessions/{sid}/events?limit=1000&after={events[-1]['seq']}"
                )
                events += more["events"]
            return events
        await asyncio.sleep(0.1)
    raise AssertionError(f"the mirror did not reach seq {top}")


async def test_venue_keeps_its_records_when_the_primary_dies_and_catches_up(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    server = Server(
        db_url=db_url, secret_file=Path(settings.auth.token_secret_file), log=tmp_path / "s.log"
    )
    server.start()
    port = free_port()
    mirror_url = f"http://127.0.0.1:{port}"
    agent: subprocess.Popen[bytes] | None = None
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10),
            connector=aiohttp.TCPConnector(force_close=True),
        ) as http:
            sid, ops, experts = await prepare(http, server.url, settings)
            op_js = ops["js-suzhou"]
            # Another venue's token is refused: the mirror would hold the wrong view.
            wrong = subprocess.run(
                [
                    *(sys.executable, "-m", "evalsvc", "venue", "--primary", server.url),
                    *("--venue", "ah-hefei", "--token", op_js, "--listen", "off"),
                    *("--mirror", str(tmp_path / "wrong.db")),
                ],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert wrong.returncode == 1 and "operator token of venue ah-hefei" in wrong.stderr
            agent = spawn(
                [
                    sys.executable,
                    "-m",
                    "evalsvc",
                    "venue",
                    "--primary",
                    server.url,
                    "--venue",
                    "js-suzhou",
                    "--token",
                    op_js,
                    "--mirror",
                    str(tmp_path / "venue.db"),
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--discover",
                    "0.3",
                    "--view-token-file",
                    str(tmp_path / "view-token"),
                ],
                log=tmp_path / "agent.log",
            )

            async def submit(n: int, tag: str) -> int:
                seq = 0
                for i in range(n):
                    _, _, tok = experts[i % len(experts)]
                    async with http.post(
                        f"{server.url}/api/sessions/{sid}/sheets",
                        json=scoring_sheet(t1=str(i % 50)),
                        headers={
                            "Authorization": f"Bearer {tok}",
                            "Idempotency-Key": f"{tag}-{i:06d}",
                        },
                    ) as r:
                        assert r.status == 201
                        seq = (await r.json())["seq"]
                return seq

            top = await submit(40, "a")
            for _ in range(100):
                if (tmp_path / "view-token").exists():
                    break
                await asyncio.sleep(0.1)
            VIEW.clear()
            # Without the view token the venue's records are not readable.
            for _ in range(100):
                try:
                    status, doc = await _get(
                        http, f"{mirror_url}/sessions/{sid}/events?limit=1000"
                    )
                    break
                except aiohttp.ClientError:  # the listener is still starting
                    await asyncio.sleep(0.1)
            assert status == 401 and doc["code"] == "unauthenticated"
            VIEW["token"] = (tmp_path / "view-token").read_text().strip()
            mirrored = await _wait_mirror(http, mirror_url, sid, top)
            view = await all_events(http, server.url, sid, op_js)
            assert [{k: e[k] for k in FIELDS} for e in mirrored] == [
                {k: e[k] for k in FIELDS} for e in view
            ], "the mirror differs from the venue operator's view"
            # Other venues' experts stay blinded in the venue's own records.
            assigned = [e["payload"] for e in mirrored if e["type"] == "seat.assigned"]
            assert all(
                p["expert_id"] is None for p in assigned if p["venue_id"] != "js-suzhou"
            ) and any(p["expert_id"] for p in assigned)

            server.kill()  # the primary goes away
            status, doc = await _get(http, f"{mirror_url}/sessions/{sid}/events?limit=1000")
            assert status == 200 and doc["last_seq"] == top and len(doc["events"]) == top
            status, health = await _get(http, f"{mirror_url}/healthz")
            assert status == 200 and health["venue"] == "js-suzhou"
            async with http.post(f"{mirror_url}/sessions/{sid}/events", json={}) as r:
                assert r.status == 405  # read-only

            await asyncio.sleep(1.0)  # the agent retries with backoff meanwhile
            server.start()
            top2 = await submit(25, "b")
            await _wait_mirror(http, mirror_url, sid, top2)
            # The server may append events of its own after the last sheet (a CI run saw
            # three more): the mirror catches up to the view's last event, whatever it is.
            view = await all_events(http, server.url, sid, op_js)
            mirrored = await _wait_mirror(http, mirror_url, sid, view[-1]["seq"])
            sup = make_token(settings, "supervisor")
            assert [e["seq"] for e in mirrored] == list(range(1, len(mirrored) + 1))
            assert len(mirrored) >= len(view) >= top2
            assert [{k: e[k] for k in FIELDS} for e in mirrored[: len(view)]] == [
                {k: e[k] for k in FIELDS} for e in view
            ]
            assert (await all_events(http, server.url, sid, sup))[-1]["seq"] >= view[-1]["seq"]
    finally:
        try:
            stop_process(agent)
        finally:
            server.stop()
