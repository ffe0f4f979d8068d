"""SIGKILL during a burst of score submissions: nothing acknowledged is lost, no seq gap."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import EXPERT_IDS, committee_commands, make_token, scoring_sheet, session_doc
from procs import Server

from evalsvc.config import Settings

pytestmark = pytest.mark.e2e


async def _post(
    http: aiohttp.ClientSession, url: str, token: str, body: Any, key: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_sigkill_during_burst_loses_no_acknowledged_submission(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    server = Server(
        db_url=db_url,
        secret_file=Path(settings.auth.token_secret_file),
        log=tmp_path / "server.log",
    )
    server.start()
    acked: dict[str, dict[str, Any]] = {}  # idempotency key → 2xx response body
    sent: list[tuple[str, int, dict[str, Any]]] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            doc_base = server.url
            sid, experts = await _prepare(http, doc_base, settings)
            url = f"{doc_base}/api/sessions/{sid}/sheets"
            rng = random.Random(7)
            stop = asyncio.Event()

            async def client(i: int) -> None:
                _seat, tok = experts[i % len(experts)]
                n = 0
                while not stop.is_set():
                    key = f"crash-{i:02d}-{n:05d}"
                    sheet = scoring_sheet(
                        t1=str(rng.randint(0, 100) / 2), c1=str(rng.randint(0, 20) / 2)
                    )
                    sent.append((key, i, sheet))
                    n += 1
                    try:
                        status, body = await _post(http, url, tok, sheet, key)
                    except (TimeoutError, aiohttp.ClientError):
                        return  # the server died under us: this one was never acknowledged
                    if status == 201:
                        acked[key] = body
                    else:
                        raise AssertionError(f"unexpected {status}: {body}")

            tasks = [asyncio.create_task(client(i)) for i in range(20)]
            deadline = asyncio.get_running_loop().time() + 60
            while len(acked) < 300:
                ended = [t for t in tasks if t.done()]
                if len(ended) == len(tasks) or asyncio.get_running_loop().time() > deadline:
                    stop.set()
                    errors = [repr(t.exception()) for t in ended if t.exception() is not None]
                    raise AssertionError(
                        f"only {len(acked)} of 300 sheets acknowledged before the SIGKILL was "
                        f"due ({len(ended)} of 20 clients ended; errors: {errors[:3]})"
                    )
                await asyncio.sleep(0.02)
            server.kill()  # mid-burst
            stop.set()
            await asyncio.gather(*tasks)

            server.start()
            sup = make_token(settings, "supervisor")
            async with http.get(
                f"{doc_base}/api/sessions/{sid}/events?limit=1000",
                headers={"Authorization": f"Bearer {sup}"},
            ) as r:
                page = await r.json()
            events = page["events"]
            while len(events) < page["last_seq"]:
                async with http.get(
                    f"{doc_base}/api/sessions/{sid}/events?limit=1000&after={events[-1]['seq']}",
                    headers={"Authorization": f"Bearer {sup}"},
                ) as r:
                    events += (await r.json())["events"]
            seqs = [e["seq"] for e in events]
            assert seqs == list(range(1, len(seqs) + 1)), "a gap or duplicate in the event sequence"
            by_seq = {e["seq"]: e for e in events}
            for key, body in acked.items():
                ev = by_seq.get(body["seq"])
                assert ev is not None, f"acknowledged {key} (seq {body['seq']}) lost after SIGKILL"
                assert ev["type"] == "sheet.submitted"
                assert (
                    ev["payload"]["commitment"] == body["commitment"]
                    and ev["payload"]["seat"] == body["seat"]
                )
            # Replaying an acknowledged key returns the very same answer.
            key = next(iter(acked))
            i = int(key.split("-")[1])
            original = next(s for k, _, s in sent if k == key)
            status, again = await _post(http, url, experts[i % len(experts)][1], original, key)
            assert status == 201 and again == acked[key]
            print(
                f"\nacknowledged before SIGKILL: {len(acked)}, events after restart: {len(seqs)}, "
                f"lost: 0, gaps: 0"
            )
    finally:
        server.stop()


async def _prepare(
    http: aiohttp.ClientSession, base: str, settings: Settings
) -> tuple[str, list[tuple[int, str]]]:
    # No qualification criterion, so locking qualification needs no sheets.
    doc = session_doc()
    doc["criteria"] = [c for c in doc["criteria"] if c["category"] != "qualification"]
    op = {
        v: make_token(settings, "operator", venue=v) for v in ("sh-ggzy", "js-suzhou", "ah-hefei")
    }
    status, s = await _post(http, base + "/api/sessions", op["sh-ggzy"], doc)
    assert status == 201, s
    sid, seats = s["id"], s["seats"]
    cmd = base + f"/api/sessions/{sid}/commands"

    async def run(token: str, **body: Any) -> None:
        status, out = await _post(http, cmd, token, body)
        assert status == 200, out

    await run(op["sh-ggzy"], command="open_draw")
    experts = []
    for seat, eid in zip(seats, EXPERT_IDS, strict=False):
        await run(
            op["sh-ggzy"], command="assign_seat", seat=seat["index"], expert_id=eid, expert_name=eid
        )
        experts.append(
            (seat["index"], make_token(settings, "expert", venue=seat["venue_id"], subject=eid))
        )
    await run(op["sh-ggzy"], command="designate_experts", reason="测试: 招标人指定专家")
    await run(make_token(settings, "supervisor"), command="decide_designation", approve=True,
              reason="测试批准")
    for c in ("complete_draw", "start_check_in"):
        await run(op["sh-ggzy"], command=c)
    for seat in seats:
        await run(op[seat["venue_id"]], command="check_in", seat=seat["index"])
    for token, body in committee_commands(experts, [b["id"] for b in doc["bids"]],
                                          primary=op["sh-ggzy"]):
        await run(token, **body)
    await run(op["sh-ggzy"], command="start_evaluation")
    await run(op["sh-ggzy"], command="lock_qualification")
    return sid, experts
