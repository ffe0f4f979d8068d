"""Supervision by scope (docs/api.md "Supervision by scope"): the tender's supervisor
(行政监督) bound to sessions or tenders, and each venue's site supervisor (现场监督), who
sees its venue and records incidents, and approves nothing."""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import Harness, make_token, session_doc
from wshelp import connect

from evalsvc.report.document import INCIDENTS_HEADING, report_document
from evalsvc.report.render import ReportView, Table, report_blocks
from evalsvc.sessions.model import Incident, ScoringRules, State, new_session
from evalsvc.sessions.scoring import aggregate

BJ = _dt.timezone(_dt.timedelta(hours=8))


def _now_bj(minutes_ago: int = 0) -> str:
    return (_dt.datetime.now(BJ) - _dt.timedelta(minutes=minutes_ago)).isoformat(
        timespec="seconds")


def _incident(**over: Any) -> dict[str, Any]:
    return {"category": "device", "text": "3号席专家在评审期间使用手机，已当场制止",
            "occurred_at": _now_bj(), **over}


async def _record(api: Harness, sid: str, token: str, **over: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/sessions/{sid}/incidents", token,
                          json=_incident(**over))


async def test_a_site_supervisor_records_an_incident_at_its_venue_and_only_it_and_the_tender_supervisor_read_it(  # noqa: E501
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("qualification")
    suzhou, hefei = api.site_sup("js-suzhou"), api.site_sup("ah-hefei")
    status, body = await _record(api, sid, suzhou)
    assert status == 201, body["detail"]
    assert body["incident"]["venue_id"] == "js-suzhou" and body["incident"]["id"] == 1
    assert body["incident"]["category"] == "device"

    readers = {"supervisor": api.sup, "site supervisor of Suzhou": suzhou}
    others = {"site supervisor of Hefei": hefei, "operator of Suzhou": api.op("js-suzhou"),
              "primary operator": api.op(), "expert": experts[0][1]}
    for who, tok in {**readers, **others}.items():
        status, events = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", tok)
        assert status == 200, (who, events)
        [ev] = [e for e in events["events"] if e["type"] == "incident.recorded"]
        _, doc = await api.call("GET", f"/api/sessions/{sid}", tok)
        if who in readers:
            assert ev["payload"]["text"] == _incident()["text"], who
            assert ev["actor"] == "site_supervisor:site-sup-js-suzhou"
            assert [x["text"] for x in doc["incidents"]] == [_incident()["text"]], who
        else:
            assert ev["payload"] == {"masked": True}, who
            assert ev["actor"] == "site_supervisor", who  # not who recorded it
            assert doc["incidents"] == [], who

    # Alerts: the site supervisor's venue's incidents, no pattern alerts.
    status, alerts = await api.call("GET", f"/api/sessions/{sid}/alerts", suzhou)
    assert status == 200, alerts
    assert alerts["checks"] == [] and [x["venue_id"] for x in alerts["incidents"]] == ["js-suzhou"]
    status, alerts = await api.call("GET", f"/api/sessions/{sid}/alerts", hefei)
    assert status == 200 and alerts["incidents"] == []
    status, alerts = await api.call("GET", f"/api/sessions/{sid}/alerts", api.sup)
    assert status == 200 and len(alerts["incidents"]) == 1 and alerts["checks"]


async def test_a_site_supervisor_acts_for_its_own_venue_only_and_approves_nothing(
    api: Harness,
) -> None:
    sid, _ = await api.to_stage("drawing")
    suzhou = api.site_sup("js-suzhou")
    status, body = await _record(api, sid, suzhou, venue_id="ah-hefei")
    assert status == 403, body
    assert "js-suzhou" in body["detail"] and "ah-hefei" in body["detail"]
    status, body = await api.command(sid, api.op(), "designate_experts", reason="测试: 指定")
    assert status == 200, body
    for command, fields in (
        ("decide_designation", {"approve": True, "reason": "同意"}),
        ("pause", {"reason": "断网"}),
        ("abort", {"reason": "终止"}),
        ("complete_draw", {}),
    ):
        status, body = await api.command(sid, suzhou, command, **fields)
        assert status == 403, (command, body)
    # The approval is still the tender supervisor's to give.
    status, body = await api.command(sid, api.sup, "decide_designation", approve=True,
                                     reason="同意")
    assert status == 200, body
    status, body = await api.command(sid, api.op(), "complete_draw")
    assert status == 200, body
    status, body = await api.command(sid, api.op(), "start_check_in")
    assert status == 200, body
    status, body = await api.command(sid, suzhou, "check_in", seat=3)
    assert status == 403, body  # checking in is the venue operator's
    # A site supervisor of a venue that does not take part: the session does not exist.
    wuhu = api.site_sup("ah-wuhu")
    assert (await api.call("GET", f"/api/sessions/{sid}", wuhu))[0] == 404
    assert (await _record(api, sid, wuhu))[0] == 404
    _, listed = await api.call("GET", "/api/sessions", wuhu)
    assert listed["sessions"] == []
    # Nor may an operator or an expert record incidents.
    assert (await _record(api, sid, api.op("js-suzhou")))[0] == 403
    # The tender's supervisor records at the venue it names, and must name one.
    status, body = await _record(api, sid, api.sup)
    assert (status, body.get("field")) == (422, "venue_id"), body
    status, body = await _record(api, sid, api.sup, venue_id="ah-hefei")
    assert status == 201 and body["incident"]["venue_id"] == "ah-hefei", body


async def test_bad_incidents_are_refused_naming_the_field(api: Harness) -> None:
    sid, _ = await api.create()
    suzhou = api.site_sup("js-suzhou")
    status, body = await _record(api, sid, suzhou)
    assert status == 409, body  # a draft: nothing happens at the venues yet
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    for over, field in (
        ({"category": "gossip"}, "category"),
        ({"occurred_at": "2026-12-06 14:03"}, "occurred_at"),  # no UTC offset
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": _now_bj(-120)}, "occurred_at"),  # two hours ahead
        ({"occurred_at": "2001-01-01T00:00:00+08:00"}, "occurred_at"),  # before the session
        ({"text": "   "}, "text"),
        ({"text": ""}, "text"),
        ({"command": "seal"}, "command"),
        ({"extra": 1}, "extra"),
    ):
        status, body = await _record(api, sid, suzhou, **over)
        assert status == 422, (over, body)
        assert body["field"] == field, (over, body)
    status, body = await api.call("POST", f"/api/sessions/{sid}/incidents", suzhou, json=[1])
    assert status in (400, 422), body  # not an object: refused before the fields
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["incidents"] == []  # nothing was recorded by the refusals


async def test_a_supervisor_token_is_bound_to_its_scope(api: Harness) -> None:
    sid, _ = await api.create()
    other, _ = await api.create()
    by_session = make_token(api.settings, "supervisor", subject="sup-a", scope=(sid,))
    by_tender = make_token(api.settings, "supervisor", subject="sup-b",
                           scope=("CS-2026-0001",))
    elsewhere = make_token(api.settings, "supervisor", subject="sup-c", scope=("ZJ-2026-9",))
    _, listed = await api.call("GET", "/api/sessions", by_session)
    assert [x["id"] for x in listed["sessions"]] == [sid]
    assert (await api.call("GET", f"/api/sessions/{other}", by_session))[0] == 404
    assert (await api.call("GET", f"/api/sessions/{other}/events", by_session))[0] == 404
    assert (await api.call("GET", f"/api/sessions/{other}/alerts", by_session))[0] == 404
    assert (await api.call("GET", f"/api/sessions/{other}/audit/key", by_session))[0] == 404
    status, body = await api.command(other, by_session, "abort", reason="越权")
    assert status == 404, body
    assert (await api.call("GET", f"/api/sessions/{sid}", by_session))[0] == 200
    _, listed = await api.call("GET", "/api/sessions", by_tender)
    assert {x["id"] for x in listed["sessions"]} == {sid, other}  # both of that tender
    _, listed = await api.call("GET", "/api/sessions", elsewhere)
    assert listed["sessions"] == []
    # What spans every session is not for a bound supervisor: an expert's review record,
    # the expert pool, the trust stores.
    for method, path in (("GET", "/api/experts/E-0001/review"), ("GET", "/api/experts/pool"),
                         ("GET", "/api/experts"), ("POST", "/api/admin/trust/reload")):
        status, body = await api.call(method, path, by_tender)
        assert status == 403 and "spans every session" in body["detail"], (path, body)
    assert (await api.call("GET", "/api/experts/E-0001/review", api.sup))[0] == 200
    assert (await api.call("GET", "/api/experts/pool", api.sup))[0] == 200
    _, me = await api.call("GET", "/api/me", by_session)
    assert me["scope"] == [sid]
    # Over the WebSocket alike: the session out of scope is not found.
    ws = await api.client.ws_connect(f"/ws/sessions/{other}")
    await ws.send_json({"type": "auth", "token": by_session})
    refused = await ws.receive_json(timeout=10)
    assert refused["code"] == "not_found", refused
    await ws.close()
    inside, ok, _, _ = await connect(api, sid, by_session)
    assert ok["type"] == "auth_ok"
    await inside.ws.close()


async def test_presence_and_incidents_over_the_websocket(api: Harness) -> None:
    sid, experts = await api.to_stage("qualification")
    ws, _, _, _ = await connect(api, sid, api.site_sup("js-suzhou"))
    hefei_ws, _, _, _ = await connect(api, sid, api.site_sup("ah-hefei"))
    # A Hefei member comes online, then a Suzhou one (seats 3-4 Suzhou, 5-6 Hefei): the
    # Suzhou site supervisor is told of its own venue's member only, by name.
    await connect(api, sid, experts[5][1])
    await connect(api, sid, experts[3][1])
    while True:
        msg = await ws.next("presence")
        if msg["who"].get("seat") == 3:
            break
        assert msg["who"]["venue"] == "js-suzhou", msg
    assert msg["who"]["subject"] == "E-JS-1"
    assert {w["venue"] for w in msg["connected"]} == {"js-suzhou"}, msg
    await ws.send({"type": "command", "id": "inc-ws-1",
                   "body": {"command": "record_incident", **_incident(category="discipline")}})
    ack = await ws.next("ack")
    assert ack["id"] == "inc-ws-1", ack
    assert ack["result"]["incident"]["venue_id"] == "js-suzhou", ack
    own = await ws.next("event")
    while own["event"] != "incident.recorded":
        own = await ws.next("event")
    assert own["payload"]["category"] == "discipline"
    ev = await hefei_ws.next("event")
    while ev["event"] != "incident.recorded":
        ev = await hefei_ws.next("event")
    assert (ev["payload"], ev["actor"], ev["venue"]) == ({"masked": True}, "site_supervisor", None)
    # The replay gives the other venue's site supervisor the same masked event.
    _, _, replay, _ = await connect(api, sid, api.site_sup("ah-hefei"))
    [again] = [m for m in replay if m["type"] == "event" and m["event"] == "incident.recorded"]
    assert again == ev


def test_the_report_lists_the_incidents_with_venue_category_and_time() -> None:
    s = new_session(session_doc(), session_id="s-inc", now=1_780_000_000,
                    defaults=ScoringRules())
    s = replace(s, state=State.REPORTING, qualified=("B1", "B2", "B3"), incidents=(
        Incident("js-suzhou", "device", "专家使用手机", 1_780_003_600, 1_780_003_700,
                 "site_supervisor:s1"),))
    doc = report_document(s, aggregate(s, []))
    assert doc["incidents"] == [{"id": 1, "venue_id": "js-suzhou", "category": "device",
                                 "text": "专家使用手机", "occurred_at": 1_780_003_600}]
    blocks = report_blocks(ReportView(doc, "0" * 64, True, (), None))
    at = next(i for i, b in enumerate(blocks) if getattr(b, "text", None) == INCIDENTS_HEADING)
    table = blocks[at + 1]
    assert isinstance(table, Table)
    assert table.rows == (("1", "苏州中心", "通讯工具", "2026-05-29 05:26（北京时间）",
                           "专家使用手机"),)
    # Without incidents the report keeps its bytes (no key) and the section says 无.
    plain = report_document(replace(s, incidents=()), aggregate(s, []))
    assert "incidents" not in plain


async def test_the_sealed_report_shows_the_incidents_to_every_reader(
    api: Harness, tmp_path: Path
) -> None:
    from report.helpers import fetch, pdftotext, sealed_session

    suzhou = api.site_sup("js-suzhou")

    async def incident(sid: str) -> None:
        status, body = await _record(api, sid, suzhou)
        assert status == 201, body
        status, body, _ = await fetch(api, sid, "html", suzhou)
        assert status == 409, body  # no report yet

    sid, _ = await sealed_session(api, during=incident)
    for tok in (suzhou, api.sup, api.op("ah-hefei"), api.site_sup("ah-hefei")):
        status, html, _ = await fetch(api, sid, "html", tok)
        assert status == 200, html
        text = html.decode("utf-8")
        assert INCIDENTS_HEADING in text and _incident()["text"] in text and "通讯工具" in text
    status, pdf, _ = await fetch(api, sid, "pdf", api.op("ah-hefei"))
    assert status == 200
    words = pdftotext(pdf, tmp_path)
    assert "现场监督记录" in words and "通讯工具" in words, words[-800:]


async def test_an_incident_sent_twice_with_one_key_is_recorded_once(api: Harness) -> None:
    sid, _ = await api.to_stage("drawing")
    suzhou = api.site_sup("js-suzhou")
    body = _incident()
    first = await api.call("POST", f"/api/sessions/{sid}/incidents", suzhou, json=body,
                           headers={"Idempotency-Key": "incident-once-1"})
    again = await api.call("POST", f"/api/sessions/{sid}/incidents", suzhou, json=body,
                           headers={"Idempotency-Key": "incident-once-1"})
    assert first == again and first[0] == 201, (first, again)
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert len(doc["incidents"]) == 1
