"""四不知, tried by an expert before the start: nothing of the other venues — not their
seats, not that a seat there was filled or checked in — by REST or the WebSocket."""

from __future__ import annotations

from conftest import Harness
from wshelp import connect


async def test_before_the_start_an_expert_sees_only_their_own_seat_and_venue(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("checking_in")
    seat, tok = experts[3]  # a Suzhou seat
    for other in (0, 5):  # Shanghai and Hefei check in their experts
        status, body = await api.command(
            sid, api.op("sh-ggzy" if other == 0 else "ah-hefei"), "check_in", seat=other
        )
        assert status == 200, body
    status, doc = await api.call("GET", f"/api/sessions/{sid}", tok)
    assert status == 200, doc
    assert [v["id"] for v in doc["venues"]] == ["js-suzhou"]
    assert [x["index"] for x in doc["seats"]] == [seat] and "seats" in doc["blinded"]
    status, prog = await api.call("GET", f"/api/sessions/{sid}/progress", tok)
    assert status == 200 and [x["seat"] for x in prog["seats"]] == [seat], prog
    status, page = await api.call("GET", f"/api/sessions/{sid}/events?after=0", tok)
    _, _, replay, _ = await connect(api, sid, tok)
    # REST names an event by "type", the WebSocket by "event" (docs/protocol.md).
    for events, name in ((page["events"], "type"), (replay, "event")):
        about_seats = [e for e in events if e[name] in ("seat.assigned", "expert.checked_in")]
        assert about_seats, "the expert's own seat events are there"
        for e in about_seats:
            assert e["payload"].get("venue_id") in (None, "js-suzhou"), e
            assert e["payload"].get("seat") in (None, 3, 4), e
