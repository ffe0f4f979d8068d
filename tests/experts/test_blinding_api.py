"""Blinding (四不知) through the API, per role, before the session starts.

- an expert sees only the time and the venue, not the project (title, tenderer, bids);
- a secondary venue's operator sees neither the project nor other venues' experts;
- an operator never sees the identity of an expert at another venue;
- the primary operator and the supervisor see the project; once the evaluation starts,
  the experts see it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import EXPERT_IDS, Harness, draw_rules, drawing_session, import_pool, run_ceremony

PROJECT_WORDS = ("测试项目", "某某招标人", "甲公司", "乙公司", "丙公司")


def _leaks(doc: Any) -> list[str]:
    import json

    text = json.dumps(doc, ensure_ascii=False)
    return [w for w in PROJECT_WORDS if w in text]


async def _everything(api: Harness, sid: str, token: str) -> list[Any]:
    """What this token can read about the session: the session, its list entry, events."""
    out: list[Any] = []
    for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/events?limit=1000",
                 f"/api/sessions/{sid}/progress"):
        status, body = await api.call("GET", path, token)
        assert status == 200, (path, body)
        out.append(body)
    return out


async def test_an_expert_sees_only_time_and_venue_before_the_start(api: Harness) -> None:
    sid, experts = await api.to_stage("checking_in")
    seat, token = experts[3]  # a Suzhou seat
    session, events, _ = await _everything(api, sid, token)
    assert session["title"] is None and session["tenderer"] is None
    assert session["bids"] == [] and session["criteria"] == []
    assert [v["id"] for v in session["venues"]] == ["js-suzhou"]
    assert session["you"]["seat"] == seat
    assert _leaks(session) == [] and _leaks(events) == []
    masked = [e for e in events["events"] if e["type"] in ("bid.added", "session.created")]
    assert masked and all(e["payload"] == {"masked": True} for e in masked)
    # Other experts' identities stay hidden too.
    others = [x for x in session["seats"] if x["index"] != seat]
    assert all(x["expert_id"] is None for x in others)


async def test_a_secondary_operator_sees_no_project_and_no_other_venues_experts(
    api: Harness,
) -> None:
    sid, _ = await api.to_stage("checking_in")
    session, events, _ = await _everything(api, sid, api.op("ah-hefei"))
    assert session["title"] is None and session["bids"] == []
    assert _leaks(session) == [] and _leaks(events) == []
    for seat in session["seats"]:
        if seat["venue_id"] == "ah-hefei":
            assert seat["expert_id"] in EXPERT_IDS
        else:
            assert seat["expert_id"] is None and seat["masked"] is True
    for e in events["events"]:
        if e["type"] == "seat.assigned" and e["payload"]["venue_id"] != "ah-hefei":
            assert e["payload"]["expert_id"] is None


async def test_the_primary_operator_sees_the_project_but_not_other_venues_experts(
    api: Harness,
) -> None:
    sid, _ = await api.to_stage("checking_in")
    session, _events, _ = await _everything(api, sid, api.op())
    assert session["title"] == "测试项目" and len(session["bids"]) == 3
    for seat in session["seats"]:
        assert (seat["expert_id"] is None) == (seat["venue_id"] != "sh-ggzy")
    _status, sup = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert sup["title"] == "测试项目" and all(x["expert_id"] for x in sup["seats"])


async def test_the_project_is_shown_once_the_evaluation_starts(api: Harness) -> None:
    sid, experts = await api.to_stage("qualification")
    session, _events, _ = await _everything(api, sid, experts[3][1])
    assert session["title"] == "测试项目" and len(session["bids"]) == 3
    session, _, _ = await _everything(api, sid, api.op("ah-hefei"))
    assert session["title"] == "测试项目"
    # Identities of other venues' experts stay hidden from operators for good.
    assert all(x["expert_id"] is None for x in session["seats"] if x["venue_id"] != "ah-hefei")


async def test_the_draw_is_blinded_per_role(api: Harness, db_url: str, tmp_path: Path) -> None:
    import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules(), starts_at="2026-12-01T09:00:00+08:00")

    # Secondary operator: no rules document (it names the tenderer and the bidders), and
    # no drawn or invited expert, not even its own venue's until they accept.
    hefei = api.op("ah-hefei")
    status, view = await api.call("GET", f"/api/sessions/{sid}/draw", hefei)
    assert status == 200 and "rules" not in view
    assert all(seat["expert_id"] is None for seat in view["seats"])
    _, events = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", hefei)
    assert _leaks(events) == []
    opened = next(e for e in events["events"] if e["type"] == "draw.opened")
    assert opened["payload"]["rules"] is None and opened["payload"]["rules_sha256"]
    drawn = next(e for e in events["events"] if e["type"] == "draw.drawn")
    for seat in drawn["payload"]["result"]["seats"]:
        picks = [seat["member"], *seat["alternates"]]
        assert all(p["expert"] is None and p["masked"] for p in picks)
    for e in events["events"]:
        if e["type"].startswith("invitation."):
            assert e["payload"]["expert_id"] is None

    # The supervisor sees every identity (and can recompute the draw from the events).
    _, sup = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", api.sup)
    drawn = next(e for e in sup["events"] if e["type"] == "draw.drawn")
    assert all(s["member"]["expert"] for s in drawn["payload"]["result"]["seats"])

    # An invited expert: time and venue, nothing of the project; not yet the session.
    _, sview = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    seat = next(s for s in sview["seats"] if s["venue_id"] == "js-suzhou")
    token = api.expert(seat["expert_id"], "js-suzhou")
    status, mine = await api.call("GET", "/api/invitations", token)
    assert status == 200 and len(mine["invitations"]) == 1
    inv = mine["invitations"][0]
    assert set(inv) == {"session_id", "status", "deadline", "starts_at", "date", "venue"}
    assert inv["venue"]["id"] == "js-suzhou" and inv["starts_at"].startswith("2026-12-01T09:00")
    assert _leaks(mine) == []
    status, _ = await api.call("GET", f"/api/sessions/{sid}", token)
    assert status == 404  # not seated until they confirm
    status, _ = await api.call("GET", f"/api/sessions/{sid}/draw", token)
    assert status in (403, 404)
    status, _ = await api.call(
        "POST", f"/api/sessions/{sid}/invitation", token, json={"accept": True}
    )
    assert status == 200
    session, events, _ = await _everything(api, sid, token)
    assert _leaks(session) == [] and _leaks(events) == []
    assert [v["id"] for v in session["venues"]] == ["js-suzhou"]


async def test_the_session_list_hides_the_title_from_blinded_roles(api: Harness) -> None:
    sid, experts = await api.to_stage("checking_in")
    for token in (experts[3][1], api.op("ah-hefei")):
        status, body = await api.call("GET", "/api/sessions", token)
        assert status == 200
        assert [s["id"] for s in body["sessions"]] == [sid]
        assert _leaks(body) == []
    # The primary venue and supervisors see the title; so does everyone once it starts.
    status, body = await api.call("GET", "/api/sessions", api.op())
    assert body["sessions"][0]["title"]
