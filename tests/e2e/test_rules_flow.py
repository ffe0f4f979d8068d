"""A whole evaluation as the rules run it, against a real server process: the committee
drawn from a pool, a conflict declared at check-in and the seat's alternate seated, a
leader elected in a runoff (a ballot cast over the WebSocket), both stages, a member
who neither signs nor dissents recorded and confirmed as deemed to agree, the seal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    qualification_sheet,
    run_ceremony,
    scoring_sheet,
)
from procs import Server
from wshelp import connect

from evalsvc.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.e2e

NO_CONFLICT = [{"bid_id": b, "conflict": False} for b in ("B1", "B2", "B3")]


async def _ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> Any:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)
    return body


async def test_recusal_runoff_and_deemed_agreement_through_a_real_server(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    import_pool(db_url, tmp_path)
    config = tmp_path / "server.toml"
    # The suite's draw floors, and a signing deadline that has passed at once.
    config.write_text((PROJECT_ROOT / "config" / "test.toml").read_text(encoding="utf-8")
                      + "\n[rules]\nsign_deadline_minutes = 0\n", encoding="utf-8")
    server = Server(db_url=db_url, secret_file=Path(settings.auth.token_secret_file),
                    log=tmp_path / "log", env={"EVALSVC_CONFIG": str(config)})
    server.start()
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=20)
        ) as http:
            api = Harness(http, settings)
            await _run(api)
    finally:
        server.stop()


async def _run(api: Harness) -> None:
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules(alternates=2))
    _, draw = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    for s in draw["seats"]:
        status, body = await api.call("POST", f"/api/sessions/{sid}/invitation",
                                      api.expert(s["expert_id"], s["venue_id"]),
                                      json={"accept": True})
        assert status == 200, body
    await _ok(api, sid, api.op(), "start_check_in")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    seats = doc["seats"]
    for seat in seats:
        await _ok(api, sid, api.op(seat["venue_id"]), "check_in", seat=seat["index"])
    tokens = {s["index"]: api.expert(s["expert_id"], s["venue_id"]) for s in seats}
    _, pledge = await api.call("GET", f"/api/sessions/{sid}/pledge", tokens[0])

    # Hefei's operator watches live; Suzhou's seat 4 declares a conflict with 乙公司.
    watcher, *_ = await connect(api, sid, api.op("ah-hefei"))
    await _ok(api, sid, tokens[4], "accept_pledge", sha256=pledge["sha256"])
    await _ok(api, sid, tokens[4], "declare_interests", declarations=[
        NO_CONFLICT[0], {"bid_id": "B2", "conflict": True, "reason": "近亲属在乙公司任职"},
        NO_CONFLICT[2]])
    seen = []
    while not seen or seen[-1]["event"] != "invitation.sent":
        _, ev = await watcher.until("event")
        seen.append(ev)
    vacated = next(e for e in seen if e["event"] == "seat.vacated")["payload"]
    assert vacated["seat"] == 4 and vacated["expert_id"] is None  # another venue's member
    alt = next(e for e in await api.events(sid) if e["type"] == "invitation.sent"
               and e["payload"]["rank"] == 1)["payload"]
    assert (alt["seat"], alt["venue_id"]) == (4, "js-suzhou")
    tokens[4] = api.expert(alt["expert_id"], "js-suzhou")
    status, body = await api.call("POST", f"/api/sessions/{sid}/invitation", tokens[4],
                                  json={"accept": True})
    assert status == 200 and body["session_state"] == "checking_in", body
    await _ok(api, sid, api.op("js-suzhou"), "check_in", seat=4)
    for tok in tokens.values():  # (the alternate included: nobody has pledged yet)
        await _ok(api, sid, tok, "accept_pledge", sha256=pledge["sha256"])
        await _ok(api, sid, tok, "declare_interests", declarations=NO_CONFLICT)

    # The election: no majority in round 1, a runoff between seats 0 and 5.
    await _ok(api, sid, api.op(), "open_election")
    for seat, choice in zip(range(6), [0, 0, 5, 5, 1, 2], strict=True):
        await _ok(api, sid, tokens[seat], "cast_vote", candidate=choice)
    ws, *_ = await connect(api, sid, tokens[6])
    await ws.send({"type": "command", "id": "ballot-0001",
                   "body": {"command": "cast_vote", "candidate": 3}})
    _, ack = await ws.until("ack")
    assert ack["result"]["command"] == "cast_vote", ack
    await _ok(api, sid, api.op(), "close_round")
    opened = (await api.events(sid))[-1]
    assert (opened["type"], opened["payload"]["candidates"]) == ("election.opened", [0, 5])
    for seat in range(7):
        await _ok(api, sid, tokens[seat], "cast_vote", candidate=5 if seat < 4 else 0)
    await _ok(api, sid, api.op(), "close_round")
    elected = (await api.events(sid))[-1]["payload"]
    assert (elected["seat"], elected["by"]) == (5, "runoff")

    # Both stages, the report, a refusal confirmed as deemed agreement, the seal.
    await _ok(api, sid, api.op(), "start_evaluation")
    for seat, tok in tokens.items():
        status, body = await api.submit(sid, tok, qualification_sheet(), key=f"q-{seat}-0001")
        assert status == 201, body
    await _ok(api, sid, api.op(), "lock_qualification")
    for seat, tok in tokens.items():
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"s-{seat}-0001")
        assert status == 201, body
    await _ok(api, sid, api.op(), "lock_scoring")
    await _ok(api, sid, api.op(), "start_report")
    for seat in range(6):
        await _ok(api, sid, tokens[seat], "sign_report")
    status, body = await api.command(sid, api.op(), "seal")
    assert status == 409
    await _ok(api, sid, tokens[5], "record_refusal", seat=6,
              note="6号评委既未签字也未陈述不同意见，评标委员会书面记录在案")
    await _ok(api, sid, api.sup, "confirm_deemed_agreement", seat=6)
    # The committee's note is in the report now: the six sign again over it.
    for seat in range(6):
        await _ok(api, sid, tokens[seat], "sign_report")
    body = await _ok(api, sid, api.op(), "seal")
    assert body["state"] == "sealed"
    kinds = [e["type"] for e in await api.events(sid)]
    for k in ("pledge.accepted", "interests.declared", "seat.vacated", "invitation.recused",
              "vote.cast", "election.round_closed", "leader.elected",
              "report.refusal_recorded", "report.deemed_agreed"):
        assert k in kinds, k
    # The seal, then the pool's record of the members' evaluation (the same change).
    assert kinds[-2:] == ["session.state_changed", "pool.evaluations_recorded"]
