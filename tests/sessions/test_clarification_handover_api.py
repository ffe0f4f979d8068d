"""Clarification (澄清、说明、补正) and handover (交接) through the API: who may record
what, the bad inputs named, the clarification in report.html, the handover after the
seal leaving the sealed report as it was, and the overdue alert raised by the
scheduler — also for a deadline that passed while the server was down."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Harness, scoring_sheet

from evalsvc.sessions.handover import HandoverRules
from evalsvc.sessions.routes import SESSIONS
from evalsvc.typedefs import SCHEDULER

ITEMS = ["签字评审表", "承诺书", "回避声明"]
SHA = "0123456789abcdef" * 4
QUESTION = "请说明乙公司投标文件中工期180天能否保证"
ANSWER = "乙公司书面澄清：工期180天可以保证，详见附件施工组织计划"


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def _ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> Any:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)
    return body


async def _refused(api: Harness, sid: str, token: str, command: str, status: int,
                   **fields: Any) -> dict[str, Any]:
    got, body = await api.command(sid, token, command, **fields)
    assert got == status, (command, body)
    return dict(body)


async def _seal(api: Harness, sid: str, experts: list[tuple[int, str]]) -> None:
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-0001")
        assert status == 201, body
    await _ok(api, sid, api.op(), "lock_scoring")
    await _ok(api, sid, api.op(), "start_report")
    for _, tok in experts:
        await _ok(api, sid, tok, "sign_report")
    await _ok(api, sid, api.op(), "seal")


# --- clarification --------------------------------------------------------------------------


async def test_the_leader_asks_the_primary_records_the_answer_and_the_report_shows_both(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("scoring")
    leader, member = experts[0][1], experts[1][1]
    await _refused(api, sid, member, "request_clarification", 403, bid_id="B2",
                   question=QUESTION)
    await _refused(api, sid, api.op(), "request_clarification", 403, bid_id="B2",
                   question=QUESTION)
    bad = await _refused(api, sid, leader, "request_clarification", 422, bid_id="B9",
                         question=QUESTION)
    assert bad["field"] == "bid_id"
    bad = await _refused(api, sid, leader, "request_clarification", 422, bid_id="B2",
                         question="")
    assert bad["field"] == "question"
    await _ok(api, sid, leader, "request_clarification", bid_id="B2", question=QUESTION)

    await _refused(api, sid, api.op("js-suzhou"), "record_clarification_answer", 403,
                   id=1, answer=ANSWER, attachment_sha256=SHA)
    await _refused(api, sid, leader, "record_clarification_answer", 403,
                   id=1, answer=ANSWER, attachment_sha256=SHA)
    for wrong in ("xyz", SHA[:-1], SHA[:-1] + "g", 12):
        bad = await _refused(api, sid, api.op(), "record_clarification_answer", 422,
                             id=1, answer=ANSWER, attachment_sha256=wrong)
        assert bad["field"] == "attachment_sha256", bad
    bad = await _refused(api, sid, api.op(), "record_clarification_answer", 422,
                         id=2, answer=ANSWER, attachment_sha256=SHA)
    assert bad["field"] == "id"
    # Sheets wait while a question is open? No: the committee goes on; the report waits.
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-0001")
        assert status == 201, body
    await _ok(api, sid, api.op(), "lock_scoring")
    refused = await _refused(api, sid, api.op(), "start_report", 409)
    assert "clarification(s) 1 not yet answered" in refused["detail"]
    await _ok(api, sid, api.op(), "record_clarification_answer", id=1, answer=ANSWER,
              attachment_sha256=SHA.upper())
    await _refused(api, sid, api.op(), "record_clarification_answer", 409, id=1,
                   answer=ANSWER, attachment_sha256=SHA)

    shape = [{"bid_id": "B2", "bidder": "乙公司", "question": QUESTION, "answer": ANSWER,
              "attachment_sha256": SHA}]
    # The members and every venue see the clarifications once the evaluation started.
    for token in (member, api.op("ah-hefei"), api.sup):
        status, doc = await api.call("GET", f"/api/sessions/{sid}", token)
        assert status == 200 and doc["clarifications"] == shape, doc.get("clarifications")
    events = await api.events(sid)
    asked = next(e for e in events if e["type"] == "clarification.requested")
    assert asked["payload"] == {"id": 1, "bid_id": "B2", "bidder": "乙公司",
                                "question": QUESTION, "seat": experts[0][0]}
    answered = next(e for e in events if e["type"] == "clarification.answered")
    assert answered["payload"]["attachment_sha256"] == SHA
    assert answered["actor"].startswith("operator")

    await _ok(api, sid, api.op(), "start_report")
    status, rep = await api.call("GET", f"/api/sessions/{sid}/report", member)
    assert status == 200 and rep["report"]["clarifications"] == shape
    for _, tok in experts:
        await _ok(api, sid, tok, "sign_report")
    await _ok(api, sid, api.op(), "seal")
    resp = await api.client.get(f"/api/sessions/{sid}/report.html",
                                headers={"Authorization": f"Bearer {api.sup}"})
    html = await resp.text()
    assert resp.status == 200
    section = html[html.index("十、澄清、说明、补正事项纪要"):html.index("十一、")]
    for text in ("乙公司", QUESTION, ANSWER, SHA):
        assert text in section, text


async def test_no_clarification_before_the_evaluation_starts(api: Harness) -> None:
    sid, experts = await api.to_stage("checked_in")
    await api.pledge_and_elect(sid, experts)
    # The leader is elected, the bidders' names known, but the evaluation not started.
    body = await _refused(api, sid, experts[0][1], "request_clarification", 409,
                          bid_id="B1", question=QUESTION)
    assert "cannot request_clarification: session is checking_in" in body["detail"]
    status, doc = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    assert status == 200 and doc["clarifications"] == [] and doc["bids"] == []


async def test_clarifications_travel_over_the_websocket(api: Harness) -> None:
    from wshelp import connect

    sid, experts = await api.to_stage("scoring")
    watcher, *_ = await connect(api, sid, api.op("ah-hefei"))
    member, *_ = await connect(api, sid, experts[3][1])
    await _ok(api, sid, experts[0][1], "request_clarification", bid_id="B3",
              question=QUESTION)
    for ws in (watcher, member):
        _, ev = await ws.until("event")
        assert ev["event"] == "clarification.requested"
        assert ev["payload"]["question"] == QUESTION


# --- handover -------------------------------------------------------------------------------


def _confirmed(items: list[str]) -> list[dict[str, Any]]:
    return [{"item": x, "confirmed": True} for x in items]


async def test_each_secondary_venue_hands_over_and_the_primary_acknowledges(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("scoring")
    await _refused(api, sid, api.op("js-suzhou"), "record_handover", 409,
                   items=_confirmed(ITEMS))  # not sealed yet
    await _seal(api, sid, experts)
    _, before = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    scheduler = api.client.server.app[SCHEDULER]
    service = api.client.server.app[SESSIONS]
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    assert doc["handover_items"] == ITEMS  # what the venue's operator confirms
    due = HandoverRules().due(doc["sealed_at"])
    job = scheduler.get_job(f"handover:{sid}")
    assert job is not None and int(job.next_run_time.timestamp()) == due

    js = api.op("js-suzhou")
    await _refused(api, sid, api.op(), "record_handover", 403, items=_confirmed(ITEMS))
    await _refused(api, sid, experts[4][1], "record_handover", 403, items=_confirmed(ITEMS))
    bad = await _refused(api, sid, js, "record_handover", 422, items=[
        {"item": "签字评审表", "confirmed": True}, {"item": "承诺书", "confirmed": False},
        {"item": "回避声明", "confirmed": True}])
    assert bad["field"] == "items/1/confirmed"
    bad = await _refused(api, sid, js, "record_handover", 422, items=_confirmed(ITEMS[:2]))
    assert bad["field"] == "items" and "回避声明" in bad["detail"]
    bad = await _refused(api, sid, js, "record_handover", 422,
                         items=_confirmed([*ITEMS, "录像光盘"]))
    assert bad["field"] == "items/3/item"
    await _ok(api, sid, js, "record_handover", items=_confirmed(ITEMS))
    await _refused(api, sid, js, "record_handover", 409, items=_confirmed(ITEMS))

    await _refused(api, sid, js, "acknowledge_handover", 403, venue_id="js-suzhou")
    await _refused(api, sid, api.op(), "acknowledge_handover", 409, venue_id="ah-hefei")
    bad = await _refused(api, sid, api.op(), "acknowledge_handover", 422, venue_id="sh-ggzy")
    assert bad["field"] == "venue_id"
    await _ok(api, sid, api.op(), "acknowledge_handover", venue_id="js-suzhou")

    # Before its deadline the job changes nothing and waits again.
    await service.handover_tick(sid)
    assert "handover.overdue" not in _types(await api.events(sid))
    await _ok(api, sid, api.op("ah-hefei"), "record_handover", items=_confirmed(ITEMS))
    await _ok(api, sid, api.op(), "acknowledge_handover", venue_id="ah-hefei")
    assert scheduler.get_job(f"handover:{sid}") is None  # nothing left to wait for

    # The sealed report is the one signed; the handover is appended after the seal.
    _, after = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    assert after["sha256"] == before["sha256"] and after["state"] == "sealed"
    kinds = _types(await api.events(sid))
    sealed_at = max(i for i, e in enumerate(await api.events(sid))
                    if e["type"] == "session.state_changed" and e["payload"]["to"] == "sealed")
    assert kinds[sealed_at + 1:].count("handover.recorded") == 2
    assert kinds[sealed_at + 1:].count("handover.acknowledged") == 2
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    assert [(h["venue_id"], h["items"], h["acknowledged_at"] is not None)
            for h in doc["handovers"]] == [("js-suzhou", ITEMS, True), ("ah-hefei", ITEMS, True)]
    # The audit log covers them: its checkpoint grows past the seal.
    _, proof = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
    assert isinstance(proof, str)


async def test_the_overdue_alert_is_raised_once_even_across_restarts(
    aiohttp_client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evalsvc.app as appmod
    from evalsvc.app import create_app

    now_ms = [time.time_ns() // 1_000_000]
    monkeypatch.setattr(appmod, "_clock_ms", lambda: now_ms[0])
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    sid, experts = await api.to_stage("scoring")
    await _seal(api, sid, experts)
    await _ok(api, sid, api.op("js-suzhou"), "record_handover", items=_confirmed(ITEMS))
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    due = HandoverRules().due(doc["sealed_at"])
    await api.client.close()

    # Down over the deadline: on start-up the job is rebuilt and, being due, raises.
    now_ms[0] = due * 1000 + 1000
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    events = await api.events(sid)
    overdue = [e for e in events if e["type"] == "handover.overdue"]
    assert len(overdue) == 1, _types(events)
    assert overdue[0]["actor"] == "system:scheduler"
    assert overdue[0]["payload"]["venues"] == [
        {"venue_id": "js-suzhou", "missing": "acknowledgement"},
        {"venue_id": "ah-hefei", "missing": "handover"}]
    assert overdue[0]["payload"]["due"] == due
    assert api.client.server.app[SCHEDULER].get_job(f"handover:{sid}") is None
    # Operators and supervisors get the alert; the members do not.
    status, body = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000",
                                  experts[0][1])
    assert status == 200
    mine = [e for e in body["events"] if e["type"] == "handover.overdue"]
    assert mine and mine[0]["payload"] == {"masked": True}
    await api.client.close()

    # Restarted again: nothing more is raised.
    now_ms[0] += 86_400_000
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    assert _types(await api.events(sid)).count("handover.overdue") == 1


async def test_a_scheduled_job_raises_the_alert_when_its_deadline_passes(
    aiohttp_client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evalsvc.app as appmod
    from evalsvc.app import create_app

    now_ms = [time.time_ns() // 1_000_000]
    monkeypatch.setattr(appmod, "_clock_ms", lambda: now_ms[0])
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    sid, experts = await api.to_stage("scoring")
    await _seal(api, sid, experts)
    job = api.client.server.app[SCHEDULER].get_job(f"handover:{sid}")
    assert job is not None
    now_ms[0] = int(job.next_run_time.timestamp() * 1000) + 1
    await job.func(*job.args)  # what the scheduler runs at the deadline
    kinds = _types(await api.events(sid))
    assert kinds.count("handover.overdue") == 1
    assert api.client.server.app[SCHEDULER].get_job(f"handover:{sid}") is None


async def test_a_deadline_found_passed_when_rescheduling_is_handled_at_once(
    aiohttp_client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a date job in the past (apscheduler may skip it): the alert is raised by a
    task right away."""
    import asyncio

    import evalsvc.app as appmod
    from evalsvc.app import create_app

    now_ms = [time.time_ns() // 1_000_000]
    monkeypatch.setattr(appmod, "_clock_ms", lambda: now_ms[0])
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    sid, experts = await api.to_stage("scoring")
    await _seal(api, sid, experts)
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    now_ms[0] = HandoverRules().due(doc["sealed_at"]) * 1000 + 1000
    await api.client.server.app[SESSIONS].reschedule_handover(sid)
    for _ in range(500):
        if "handover.overdue" in _types(await api.events(sid)):
            break
        await asyncio.sleep(0.01)
    assert _types(await api.events(sid)).count("handover.overdue") == 1
    assert api.client.server.app[SCHEDULER].get_job(f"handover:{sid}") is None
