"""Issue "Blinding … hold against an insider", its draw parts: a secondary operator can
neither read the pool nor rerun the draw, and hand-picking does not form a committee."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Harness, make_token, session_doc

from evalsvc.experts.bundle import verify_bundle

from ._draw import drawn_session, session_with_pool


async def test_operators_do_not_read_the_pool(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    await session_with_pool(api, db_url, tmp_path, count=50)
    outsider = make_token(api.settings, "operator", venue="zj-nowhere")  # in no session
    for token in (api.op(), api.op("js-suzhou"), outsider):
        for path in ("/api/experts?limit=1000", "/api/experts/pool"):
            status, body = await api.call("GET", path, token)
            assert status == 403, (path, body)
    status, body = await api.call("GET", "/api/experts?limit=5", api.sup)
    assert status == 200 and len(body["experts"]) == 5


async def test_nothing_a_secondary_operator_receives_lets_it_rerun_the_draw(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await drawn_session(api, db_url, tmp_path)
    sup_events = await api.events(sid)
    seed = next(e for e in sup_events if e["type"] == "draw.seeded")["payload"]["seed"]
    sup_secret = next(e for e in sup_events if e["type"] == "draw.revealed"
                      and e["payload"]["party"] == "supervisor")["payload"]["secret"]
    status, events = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000",
                                    api.op("js-suzhou"))
    assert status == 200
    seen = json.dumps(events)
    assert seed not in seen and sup_secret not in seen
    (drawn,) = [e for e in events["events"] if e["type"] == "draw.drawn"]
    for seat in drawn["payload"]["result"]["seats"]:
        for pick in (seat["member"], *seat["alternates"]):
            assert "eligible" not in pick and "counter" not in pick
            if seat["venue"] != "js-suzhou":
                assert pick["expert"] is None and pick["masked"] is True
    # Not even its own venue's drawn or invited experts: only those who accepted.
    assert all(p["masked"] for seat in drawn["payload"]["result"]["seats"]
               for p in (seat["member"], *seat["alternates"]))
    _, view = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    mine = next(x for x in view["seats"] if x["venue_id"] == "js-suzhou")
    status, _ = await api.call("POST", f"/api/sessions/{sid}/invitation",
                               api.expert(mine["expert_id"], "js-suzhou"), json={"accept": True})
    assert status == 200
    _, seen_seats = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    assert [x["expert_id"] for x in seen_seats["seats"] if x["expert_id"]] == [mine["expert_id"]]
    _, status_view = await api.call("GET", f"/api/sessions/{sid}/draw", api.op("js-suzhou"))
    assert [x["expert_id"] for x in status_view["seats"] if x["expert_id"]] == [
        mine["expert_id"]]
    opened = next(e for e in events["events"] if e["type"] == "draw.opened")["payload"]
    assert opened["rules"] is None and opened["pool_sha256"] is None
    # The bundle that makes it recomputable: supervisors at once, others after the seal.
    url = f"/api/sessions/{sid}/draw/bundle"
    for token in (api.op(), api.op("js-suzhou")):
        assert (await api.call("GET", url, token))[0] == 403
    status, bundle = await api.call("GET", url, api.sup)
    assert status == 200 and verify_bundle(bundle).ok, verify_bundle(bundle).lines


def test_after_the_seal_the_draw_inputs_are_everyone_s() -> None:
    from dataclasses import replace

    from evalsvc.auth import Principal
    from evalsvc.sessions.access import redact_event
    from evalsvc.sessions.model import ScoringRules, State, new_session

    s = new_session(session_doc(), session_id="s-1", now=1, defaults=ScoringRules())
    op = Principal("operator", "op", "op", "js-suzhou")
    ev = {"type": "draw.seeded", "actor": "system", "seq": 9,
          "payload": {"seed": "ab" * 32, "contributors": []}}
    assert redact_event(replace(s, state=State.DRAWING), op, ev)["payload"]["seed"] is None
    assert redact_event(replace(s, state=State.SEALED), op, ev)["payload"]["seed"] == "ab" * 32


async def test_hand_picked_seats_do_not_form_a_committee(api: Harness) -> None:
    sid, experts = await api.to_stage("drawing")  # every seat assigned by hand
    # A proposed expert is not told the session exists before a supervisor approves.
    assert (await api.call("GET", f"/api/sessions/{sid}", experts[0][1]))[0] == 404
    status, body = await api.command(sid, api.op(), "complete_draw")
    assert status == 409 and "supervisor-approved" in body["detail"], body
    status, body = await api.command(sid, api.op(), "designate_experts", reason="")
    assert status == 422, body
    status, body = await api.command(sid, api.op(), "designate_experts",
                                     reason="特殊项目, 招标人直接确定")
    assert status == 200, body
    status, body = await api.command(sid, api.op(), "complete_draw")
    assert status == 409, body  # not before a supervisor decides
    for token in (api.op(), api.op("js-suzhou")):
        status, body = await api.command(sid, token, "decide_designation", approve=True,
                                         reason="自己批准")
        assert status == 403, body
    status, body = await api.command(sid, api.sup, "decide_designation", approve=True,
                                     reason="符合第10条")
    assert status == 200, body
    assert (await api.command(sid, api.op(), "complete_draw"))[0] == 200
    assert (await api.call("GET", f"/api/sessions/{sid}", experts[0][1]))[0] == 200
    kinds = [e["type"] for e in await api.events(sid)]
    assert "designation.requested" in kinds and "designation.approved" in kinds


async def test_a_committee_of_four_or_six_cannot_open_its_draw(api: Harness) -> None:
    for seats in ((2, 1, 1), (2, 2, 2)):
        sid, _ = await api.create(session_doc(seats=seats))
        status, body = await api.command(sid, api.op(), "open_draw")
        assert status == 409 and "odd number" in body["detail"], body

