"""The REST API as operators, experts and supervisors use it, end to end."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import EXPERT_IDS, Harness, scoring_sheet, session_doc


async def test_full_evaluation_from_registration_to_seal(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    for i, (seat, tok) in enumerate(experts):
        t1 = str(30 + i)
        status, body = await api.submit(sid, tok, scoring_sheet(t1=t1), key=f"s-{seat}-0001")
        assert status == 201, body
        assert body["seat"] == seat and body["version"] == 1
    status, body = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert status == 409 and "once scoring is locked" in body["detail"]
    status, body = await api.command(sid, api.op(), "lock_scoring")
    assert status == 200 and body["state"] == "aggregating", body

    status, agg = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert status == 200
    ranking = agg["ranking"]
    # Same technical/commercial means for every bid, so the price decides: B2 is cheapest.
    assert [r["bid_id"] for r in ranking] == ["B2", "B1", "B3"]
    assert ranking[0]["price_score"] == "40.00"
    assert ranking[0]["total"] == "81.00"  # mean T1 = 33, C1 = 8, price 40

    status, body = await api.command(sid, api.op(), "start_report")
    assert status == 200
    for _seat, tok in experts:
        status, body = await api.command(sid, tok, "sign_report")
        assert status == 200, body
    status, body = await api.command(sid, api.op(), "seal")
    assert status == 200 and body["state"] == "sealed"
    events = await api.events(sid)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    sealed = [e for e in events if e["payload"] == {"from": "reporting", "to": "sealed"}]
    assert len(sealed) == 1
    # The seal's own change: the pool records the members' evaluation, after it.
    assert events[-1]["type"] == "pool.evaluations_recorded"
    assert events[-1]["seq"] == sealed[0]["seq"] + 1


async def test_deviation_must_be_explained_before_the_report(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    for i, (seat, tok) in enumerate(experts):
        sheet = scoring_sheet(t1="5" if i == 0 else "45")
        assert (await api.submit(sid, tok, sheet, key=f"devi-{seat}-key"))[0] == 201
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    _, agg = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    flagged = {(d["seat"], d["bid_id"]) for d in agg["deviations"]}
    assert flagged == {(experts[0][0], b) for b in ("B1", "B2", "B3")}
    status, body = await api.command(sid, api.op(), "start_report")
    assert status == 409 and "not yet explained" in body["detail"]
    for b in ("B1", "B2", "B3"):
        status, body = await api.command(
            sid, experts[0][1], "explain_deviation", bid_id=b, text="技术方案存在重大缺陷"
        )
        assert status == 200, body
    assert (await api.command(sid, api.op(), "start_report"))[0] == 200


async def test_resubmission_replaces_the_sheet_but_keeps_history(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    _seat, tok = experts[0]
    assert (await api.submit(sid, tok, scoring_sheet(t1="10"), key="first-sheet"))[0] == 201
    status, body = await api.submit(sid, tok, scoring_sheet(t1="20"), key="second-sheet")
    assert status == 201 and body["version"] == 2
    status, prog = await api.call("GET", f"/api/sessions/{sid}/progress", tok)
    assert [
        s["sheet"]["bids"]["B1"]["T1"] for s in prog["own_sheets"] if s["stage"] == "scoring"
    ] == ["10", "20"]


async def test_idempotency_key_replays_and_refuses_a_different_body(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    _, tok = experts[0]
    first = await api.submit(sid, tok, scoring_sheet(t1="30"), key="same-key-123")
    again = await api.submit(sid, tok, scoring_sheet(t1="30"), key="same-key-123")
    assert first == again and first[0] == 201
    before = await api.events(sid)
    status, body = await api.submit(sid, tok, scoring_sheet(t1="31"), key="same-key-123")
    assert status == 409 and body["code"] == "idempotency_conflict"
    assert await api.events(sid) == before


async def test_pause_and_resume_return_to_the_same_stage(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    status, body = await api.command(sid, api.op("ah-hefei"), "pause", reason="合肥副场网络中断")
    assert status == 200 and body["state"] == "paused"
    status, body = await api.submit(sid, experts[0][1], scoring_sheet(), key="while-paused")
    assert status == 409 and body["code"] == "invalid_transition"
    status, body = await api.command(sid, api.op("ah-hefei"), "resume")
    assert status == 403  # only the primary venue resumes
    status, body = await api.command(sid, api.op(), "resume")
    assert status == 200 and (body["state"], body["stage"]) == ("evaluating", "scoring")


async def test_qualification_failures_leave_the_bid_out_of_scoring(api: Harness) -> None:
    sid, _seats = await api.create()
    experts = []
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    for s, eid in zip(_seats, EXPERT_IDS, strict=False):
        await api.command(
            sid, api.op(), "assign_seat", seat=s["index"], expert_id=eid, expert_name=eid
        )
        experts.append(api.expert(eid, s["venue_id"]))
    await api.designate(sid)
    for c in ("complete_draw", "start_check_in"):
        assert (await api.command(sid, api.op(), c))[0] == 200
    for s in _seats:
        assert (await api.command(sid, api.op(s["venue_id"]), "check_in", seat=s["index"]))[
            0
        ] == 200
    await api.pledge_and_elect(sid, [(s["index"], t) for s, t in zip(_seats, experts,
                                                                   strict=False)])
    assert (await api.command(sid, api.op(), "start_evaluation"))[0] == 200
    for i, tok in enumerate(experts):
        sheet = {
            "stage": "qualification",
            "bids": {"B1": {"Q1": True}, "B2": {"Q1": True}, "B3": {"Q1": i < 3}},
            "reasons": {"B3": {"Q1": "资质证书已过期"}} if i >= 3 else {},
        }  # 3 of 7 pass B3
        assert (await api.submit(sid, tok, sheet, key=f"qual-{i}-key"))[0] == 201
    assert (await api.command(sid, api.op(), "lock_qualification"))[0] == 200
    status, body = await api.submit(sid, experts[0], scoring_sheet(), key="with-b3-key")
    assert status == 422 and body["field"] == "bids/B3"
    status, body = await api.submit(
        sid, experts[0], scoring_sheet(bids=("B1", "B2")), key="no-b3-key"
    )
    assert status == 201, body


async def test_roles_and_venues_are_enforced(api: Harness) -> None:
    sid, experts = await api.to_stage("checking_in")
    # A secondary operator cannot run the primary's commands.
    status, body = await api.command(sid, api.op("js-suzhou"), "start_evaluation")
    assert status == 403 and "primary venue" in body["detail"]
    # An operator checks in only experts seated at their own venue.
    status, body = await api.command(sid, api.op("js-suzhou"), "check_in", seat=0)
    assert status == 403
    # An operator of a venue not in the session does not even see it.
    status, body = await api.call("GET", f"/api/sessions/{sid}", api.op("zj-hangzhou"))
    assert status == 404
    # Experts cannot run operator commands; no token → 401.
    status, body = await api.command(sid, experts[0][1], "start_evaluation")
    assert status == 403
    status, body = await api.call("GET", f"/api/sessions/{sid}")
    assert status == 401 and body["code"] == "unauthenticated"


async def test_identities_are_masked_per_role_and_venue(api: Harness) -> None:
    sid, experts = await api.to_stage("checking_in")
    _, as_suzhou = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    visible = {s["venue_id"] for s in as_suzhou["seats"] if s["expert_id"]}
    assert visible == {"js-suzhou"}
    _, as_expert = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
    assert [s["expert_id"] for s in as_expert["seats"] if s["expert_id"]] == [EXPERT_IDS[0]]
    _, as_sup = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert all(s["expert_id"] for s in as_sup["seats"])
    _status, evs = await api.call("GET", f"/api/sessions/{sid}/events", api.op("js-suzhou"))
    names = {e["payload"].get("expert_id") for e in evs["events"] if e["type"] == "seat.assigned"}
    assert names == {None, "E-JS-1", "E-JS-2"}


async def test_events_long_poll_wakes_on_commit(api: Harness) -> None:
    import asyncio

    sid, _ = await api.to_stage("drawing")
    top = len(await api.events(sid))
    poll = asyncio.create_task(
        api.call("GET", f"/api/sessions/{sid}/events?after={top}&wait=10", api.sup)
    )
    await asyncio.sleep(0.2)
    assert not poll.done()
    await api.command(sid, api.op(), "pause", reason="演练")
    status, body = await asyncio.wait_for(poll, 5)
    assert status == 200 and [e["seq"] for e in body["events"]] == [top + 1]


async def test_lowest_evaluated_price_ranks_by_adjusted_price(api: Harness) -> None:
    doc = session_doc(method="lowest_evaluated_price")
    sid, experts = await api.to_stage("scoring", doc)
    for seat, tok in experts:
        sheet: dict[str, Any] = {
            "stage": "scoring",
            "bids": {
                "B1": {"responsive": True, "adjustment_fen": 0},
                "B2": {"responsive": True, "adjustment_fen": 600_000},  # +6,000 yuan of deviations
                "B3": {"responsive": False, "adjustment_fen": 0},
            },
        }
        assert (await api.submit(sid, tok, sheet, key=f"lepr-{seat}-key"))[0] == 201
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    _, agg = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert [(r["bid_id"], r["evaluated_price_fen"]) for r in agg["ranking"]] == [
        ("B1", 10_000_000),
        ("B2", 10_100_000),
    ]
    assert agg["excluded"] == ["B3"]


@pytest.mark.parametrize("seats", [(1, 0, 0)])
async def test_healthz_and_me(api: Harness, seats: tuple[int, ...]) -> None:
    status, body = await api.call("GET", "/healthz")
    assert status == 200 and body["status"] == "ok"
    status, body = await api.call("GET", "/api/me", api.op("js-suzhou"))
    assert body == {
        "role": "operator",
        "subject": "op-js-suzhou",
        "name": "op-js-suzhou",
        "venue": "js-suzhou",
    }


async def test_bids_and_criteria_are_added_in_draft_only(api: Harness) -> None:
    from conftest import uscc

    sid, _ = await api.create()
    bid = {"id": "B4", "bidder": "丁公司", "uscc": uscc("D4"), "price_fen": 99_000_00}
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json=bid)
    assert status == 201 and body["bid"]["id"] == "B4"
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json=bid)
    assert status == 422 and "already exists" in body["detail"]
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op("js-suzhou"),
                                  json={**bid, "id": "B5"})
    assert status == 403
    crit = {"id": "T2", "name": "售后服务", "category": "technical", "max_points": "5.5"}
    status, body = await api.call("POST", f"/api/sessions/{sid}/criteria", api.op(), json=crit)
    assert status == 201 and body["criterion"]["max_points"] == "5.5"
    _, s = await api.call("GET", f"/api/sessions/{sid}", api.op())
    assert [b["id"] for b in s["bids"]][-1] == "B4" and s["criteria"][-1]["id"] == "T2"
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(),
                                  json={**bid, "id": "B6"})
    assert status == 409 and body["detail"] == "cannot add_bid: session is drawing"


async def test_events_after_beyond_any_seq_is_refused_not_a_500(api: Harness) -> None:
    """``after`` is bounded by what an event's seq column holds: on PostgreSQL a larger
    number failed the query (500, found by tests/test_schemathesis.py)."""
    sid, _ = await api.create()
    url = f"/api/sessions/{sid}/events"
    status, body = await api.call("GET", f"{url}?after={2**31 - 1}", api.sup)
    assert status == 200 and body["events"] == [], body
    for after in (2**31, 2**62 - 1):
        status, body = await api.call("GET", f"{url}?after={after}", api.sup)
        assert status == 422 and body["field"] == "after", body
