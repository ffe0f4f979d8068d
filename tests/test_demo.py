"""The demo's sealed session (evalsvc.demo.seal_demo): every step the rules have, taken
through the services, as a supervisor and the report show it."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from evalsvc.app import create_app
from evalsvc.config import Settings
from evalsvc.demo import (
    DISSENT,
    RECUSED_SEAT,
    REFUSAL_NOTE,
    REFUSING_SEAT,
    REREVIEWED_SEAT,
    SUPERVISOR,
    seal_demo,
)
from evalsvc.experts.routes import DRAWS
from evalsvc.sessions.routes import SESSIONS


async def _sealed(settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        svc = app[SESSIONS]
        sid = await seal_demo(svc, app[DRAWS])
        doc = await svc.get(SUPERVISOR, sid)
        events = (await svc.events(SUPERVISOR, sid, after=0, limit=1000, wait=0))["events"]
        report = await svc.report(SUPERVISOR, sid)
        return doc, list(events), report
    finally:
        await runner.cleanup()


async def test_the_sealed_demo_session_runs_every_step_of_the_rules(settings: Settings) -> None:
    doc, events, report = await _sealed(settings)
    assert doc["state"] == "sealed"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e["payload"])
    # A conflict declared at check-in; the seat's alternate (rank 1 of the draw) seated.
    vacated = by_type["seat.vacated"]
    assert [(v["seat"], v["reason"]) for v in vacated] == [(RECUSED_SEAT, "recusal")]
    alternate = [i for i in by_type["invitation.sent"] if i["rank"] == 1]
    assert [i["seat"] for i in alternate] == [RECUSED_SEAT]
    seat = doc["seats"][RECUSED_SEAT]
    assert seat["expert_id"] == alternate[0]["expert_id"] != vacated[0]["expert_id"]
    # Two rounds: no majority, then the runoff elects the leader.
    assert [r["round"] for r in by_type["election.round_closed"]] == [1, 2]
    assert by_type["leader.elected"] == [{**by_type["leader.elected"][0], "by": "runoff"}]
    assert doc["leader"] == by_type["leader.elected"][0]["seat"]
    # A clarification, answered; a re-review approved by the supervisor, the stage
    # locked again with what changed.
    assert [c["answer"] is not None for c in doc["clarifications"]] == [True]
    assert [r["seats"] for r in by_type["rereview.approved"]] == [[REREVIEWED_SEAT]]
    relocked = [x for x in by_type["stage.locked"] if x["stage"] == "scoring"]
    assert len(relocked) == 2 and relocked[1]["rereview"]["seats"] == [REREVIEWED_SEAT]
    assert relocked[0]["result"] != relocked[1]["result"]
    # A dissent; the refusing member deemed to agree, confirmed; everyone else signed.
    assert [d["text"] for d in by_type["dissent.recorded"]] == [DISSENT]
    assert by_type["report.deemed_agreed"] == [{"seat": REFUSING_SEAT, "note": REFUSAL_NOTE}]
    signed = sorted(x["seat"] for x in by_type["report.signed"])
    assert signed == [i for i in range(7) if i != REFUSING_SEAT]
    assert {x["report_sha256"] for x in by_type["report.signed"]} == {report["sha256"]}
    # The handover of each secondary venue, acknowledged.
    assert sorted(h["venue_id"] for h in by_type["handover.acknowledged"]) == [
        "ah-hefei", "js-suzhou", "zj-hangzhou"]
    # Every record lies before the real now (the demo's clock jumps over the signing
    # deadline, it does not wait it); from check-in on, in order.
    times = [e["time_ms"] for e in events]
    assert max(times) < time.time() * 1000
    since = times[[e["type"] for e in events].index("expert.checked_in"):]
    assert since == sorted(since)
