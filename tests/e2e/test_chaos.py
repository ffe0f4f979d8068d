"""Chaos: 3 venues × 3 experts submit 2,000 score sheets over WebSockets while the test
drops client sockets at random every 0.2-2 s and SIGKILLs the server once.

At the end every client (experts, venue operators, the supervisor) holds exactly the
events of its view, in order, without a gap or a duplicate — its chain hash equals the
one computed from the server's table — and every acknowledged submission is there.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import committee_commands, make_token, scoring_sheet, session_doc
from procs import Server
from wsclient import Client, expected_hash, stop_clients

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e

VENUES = ("sh-ggzy", "js-suzhou", "ah-hefei")
EXPERTS = [f"E-{v[:2].upper()}-{i}" for v in VENUES for i in (1, 2, 3)]
TOTAL_SHEETS = 2000
# The experts spread their sheets over about this long, so that every client is dropped
# several times while sheets flow (unpaced, a fast server takes the 2,000 in 5 s).
SPREAD_S = 12.0


async def post(http: aiohttp.ClientSession, url: str, token: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json(content_type=None)


async def all_events(http: aiohttp.ClientSession, base: str, sid: str, token: str) -> list[Any]:
    """Every event of ``sid`` as ``token``'s holder may see it (REST, paginated)."""
    out: list[Any] = []
    while True:
        after = out[-1]["seq"] if out else 0
        async with http.get(
            f"{base}/api/sessions/{sid}/events?limit=1000&after={after}",
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            page = await r.json()
        out += page["events"]
        if not page["events"] or out[-1]["seq"] >= page["last_seq"]:
            return out


async def prepare(
    http: aiohttp.ClientSession, base: str, settings: Settings
) -> tuple[str, dict[str, str], list[tuple[int, str, str]]]:
    """A session in the scoring stage with 3 seats per venue; (id, operator tokens,
    [(seat, expert id, token)])."""
    doc = session_doc(seats=(3, 3, 3))
    doc["criteria"] = [c for c in doc["criteria"] if c["category"] != "qualification"]
    ops = {v: make_token(settings, "operator", venue=v) for v in VENUES}
    status, s = await post(http, base + "/api/sessions", ops["sh-ggzy"], doc)
    assert status == 201, s
    sid, seats = s["id"], s["seats"]
    cmd = f"{base}/api/sessions/{sid}/commands"

    async def run(token: str, **body: Any) -> None:
        status, out = await post(http, cmd, token, body)
        assert status == 200, out

    await run(ops["sh-ggzy"], command="open_draw")
    by_venue: dict[str, list[str]] = {
        v: [e for e in EXPERTS if e[2:4] == v[:2].upper()] for v in VENUES
    }
    experts = []
    for seat in seats:
        eid = by_venue[seat["venue_id"]].pop(0)
        await run(
            ops["sh-ggzy"],
            command="assign_seat",
            seat=seat["index"],
            expert_id=eid,
            expert_name=eid,
        )
        experts.append(
            (
                seat["index"],
                eid,
                make_token(settings, "expert", venue=seat["venue_id"], subject=eid),
            )
        )
    await run(ops["sh-ggzy"], command="designate_experts", reason="测试: 招标人指定专家")
    await run(make_token(settings, "supervisor"), command="decide_designation", approve=True,
              reason="测试批准")
    for c in ("complete_draw", "start_check_in"):
        await run(ops["sh-ggzy"], command=c)
    for seat in seats:
        await run(ops[seat["venue_id"]], command="check_in", seat=seat["index"])
    for token, body in committee_commands([(i, t) for i, _, t in experts],
                                          [b["id"] for b in doc["bids"]],
                                          primary=ops["sh-ggzy"]):
        await run(token, **body)
    await run(ops["sh-ggzy"], command="start_evaluation")
    await run(ops["sh-ggzy"], command="lock_qualification")
    return sid, ops, experts


async def test_chaos_every_client_converges_and_nothing_acknowledged_is_lost(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    server = Server(
        db_url=db_url, secret_file=Path(settings.auth.token_secret_file), log=tmp_path / "s.log"
    )
    server.start()
    acked: dict[str, dict[str, Any]] = {}
    drops = 0
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            sid, ops, experts = await prepare(http, server.url, settings)
            sup = make_token(settings, "supervisor")
            clients = [
                Client(eid, [server.url], sid, tok, seed=i)
                for i, (_, eid, tok) in enumerate(experts)
            ]
            watchers = [
                Client(f"op-{v}", [server.url], sid, t, seed=20 + i)
                for i, (v, t) in enumerate(ops.items())
            ]
            watchers.append(Client("supervisor", [server.url], sid, sup, seed=30))
            everyone = clients + watchers
            stop = asyncio.Event()
            runners = [asyncio.create_task(c.run(http, stop)) for c in everyone]
            quota = [
                TOTAL_SHEETS // len(clients) + (i < TOTAL_SHEETS % len(clients))
                for i in range(len(clients))
            ]

            async def expert(i: int, c: Client) -> None:
                local = random.Random(i)
                pace = SPREAD_S / quota[i]
                for n in range(quota[i]):
                    await asyncio.sleep(local.uniform(0, 2 * pace))
                    key = f"chaos-{i}-{n:05d}"
                    sheet = scoring_sheet(
                        t1=str(local.randint(0, 100) / 2), c1=str(local.randint(0, 20) / 2)
                    )
                    reply = await c.request({"type": "submit", "id": key, "sheet": sheet})
                    assert reply["type"] == "ack", reply
                    acked[key] = reply

            async def dropper(c: Client, seed: int) -> None:
                # Every client's socket is dropped at random every 0.2-2 s.
                nonlocal drops
                local = random.Random(seed)
                while len(acked) < TOTAL_SHEETS:
                    await asyncio.sleep(local.uniform(0.2, 2.0))
                    await c.drop()
                    drops += 1

            async def killer() -> None:
                while len(acked) < TOTAL_SHEETS // 3:
                    await asyncio.sleep(0.01)
                server.kill()  # SIGKILL mid-stream: no cleanup, no goodbye
                await asyncio.sleep(0.3)
                server.start()

            chaos = [asyncio.create_task(dropper(c, 100 + i)) for i, c in enumerate(everyone)]
            chaos.append(asyncio.create_task(killer()))
            await asyncio.wait_for(
                asyncio.gather(*(expert(i, c) for i, c in enumerate(clients))), 150
            )
            await asyncio.gather(*chaos)

            # Let every client catch up to the top seq, then compare with the table.
            async with http.get(
                f"{server.url}/api/sessions/{sid}", headers={"Authorization": f"Bearer {sup}"}
            ) as r:
                doc = await r.json()
            top = doc["last_seq"]
            deadline = time.monotonic() + 30
            while any(c.last_seq < top for c in everyone) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await stop_clients(everyone, runners, stop)

            table = await all_events(http, server.url, sid, sup)
            assert [e["seq"] for e in table] == list(range(1, top + 1))
            by_seq = {e["seq"]: e for e in table}
            for key, ack in acked.items():
                ev = by_seq[ack["seq"]]
                assert ev["type"] == "sheet.submitted", key
                assert ev["payload"]["commitment"] == ack["result"]["commitment"], key
            sheets = [e for e in table if e["type"] == "sheet.submitted"]
            assert len(sheets) == TOTAL_SHEETS, "a submission was stored twice or lost"

            for c in everyone:
                # The chaos happened: every client lost its socket more than once.
                assert c.connects >= 3, (c.name, c.connects)
                assert c.problems == [], (c.name, c.problems[:5])
                assert c.last_seq == top, (c.name, c.last_seq, top)
                assert [e["seq"] for e in c.events] == list(range(1, top + 1)), c.name
                view = await all_events(http, server.url, sid, c.token)
                assert c.hash == expected_hash(view), f"{c.name} diverged from the server"
            print(
                f"\nchaos: {TOTAL_SHEETS} sheets acked, {top} events, {len(everyone)} clients, "
                f"{drops} socket drops, 1 SIGKILL, "
                f"{sum(c.connects for c in everyone)} connections, "
                f"{time.monotonic() - started:.1f} s; lost 0, duplicated 0"
            )
    finally:
        server.stop()
