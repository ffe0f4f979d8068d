"""An Idempotency-Key is scoped to (actor, session, route): tried as an insider, a key
first used in one session must not replay that session's answer in another, nor one
route's answer on another route."""

from __future__ import annotations

from conftest import Harness, scoring_sheet, session_doc, uscc


async def test_a_key_used_in_another_session_is_a_new_request(api: Harness) -> None:
    a, experts = await api.to_stage("scoring")
    b, _ = await api.to_stage("scoring")  # the same experts sit in both
    tok = experts[0][1]
    sa, first = await api.submit(a, tok, scoring_sheet(t1="11"), key="reused-key-0001")
    sb, second = await api.submit(b, tok, scoring_sheet(t1="11"), key="reused-key-0001")
    assert sa == sb == 201, (first, second)
    assert first["seq"] != second["seq"] or first["commitment"] != second["commitment"]
    # Each session's log holds its own sheet: b's answer is not a's, replayed.
    for sid, ack in ((a, first), (b, second)):
        (ev,) = [
            e
            for e in await api.events(sid)
            if e["type"] == "sheet.submitted" and e["payload"]["stage"] == "scoring"
        ]
        assert ev["payload"]["commitment"] == ack["commitment"] and ev["seq"] == ack["seq"]


async def test_a_key_used_on_another_route_is_a_new_request(api: Harness) -> None:
    sid, _ = await api.create(session_doc())
    headers = {"Idempotency-Key": "route-key-00001"}
    status, bid = await api.call(
        "POST",
        f"/api/sessions/{sid}/bids",
        api.op(),
        json={"id": "B9", "bidder": "丁公司", "uscc": uscc("D4"), "price_fen": 1},
        headers=headers,
    )
    status2, crit = await api.call(
        "POST",
        f"/api/sessions/{sid}/criteria",
        api.op(),
        json={"id": "T9", "name": "服务", "category": "technical", "max_points": 5},
        headers=headers,
    )
    assert status == 201 and bid["bid"]["id"] == "B9", bid
    assert status2 == 201 and crit["criterion"]["id"] == "T9", crit
