"""The rules' steps through the API: the pledge and the bidders' names after check-in,
a recusal calling the draw's next alternate (or a new ceremony), the sealed leader
election, and a refusal to sign confirmed as deemed agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    run_ceremony,
    scoring_sheet,
)

from evalsvc.sessions.routes import SESSIONS

NO_CONFLICT = [{"bid_id": b, "conflict": False} for b in ("B1", "B2", "B3")]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def _pledge(api: Harness, sid: str, token: str) -> dict[str, Any]:
    status, body = await api.call("GET", f"/api/sessions/{sid}/pledge", token)
    assert status == 200, body
    return dict(body)


async def _ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> Any:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)
    return body


# --- pledge and the bidders' names ----------------------------------------------------------


async def test_after_check_in_the_expert_sees_the_bidders_and_pledges_the_text_read(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("checking_in")
    seat, tok = experts[0]
    _, before = await api.call("GET", f"/api/sessions/{sid}", tok)
    assert "bidders" not in before and before["bids"] == []
    status, body = await api.command(sid, tok, "accept_pledge", sha256="0" * 64)
    assert status == 409  # not checked in yet
    await _ok(api, sid, api.op(), "check_in", seat=seat)
    _, after = await api.call("GET", f"/api/sessions/{sid}", tok)
    # The names, to declare bid by bidder; not the prices, not the project.
    assert after["bidders"] == [{"id": "B1", "bidder": "甲公司"}, {"id": "B2", "bidder": "乙公司"},
                                {"id": "B3", "bidder": "丙公司"}]
    assert after["bids"] == [] and after["title"] is None
    pledge = await _pledge(api, sid, tok)
    assert "承诺" in pledge["text"] and pledge["version"] == "2026.1"
    status, body = await api.command(sid, tok, "accept_pledge", sha256="0" * 64)
    assert status == 409 and "pledge text has changed" in body["detail"]
    status, body = await api.command(sid, api.op(), "accept_pledge", sha256=pledge["sha256"])
    assert status == 403
    status, body = await api.command(sid, tok, "declare_interests", declarations=NO_CONFLICT)
    assert status == 409 and "accept the pledge before" in body["detail"]
    await _ok(api, sid, tok, "accept_pledge", sha256=pledge["sha256"])
    status, body = await api.command(
        sid, tok, "declare_interests", declarations=NO_CONFLICT[:2])
    assert status == 422 and body["field"] == "declarations" and "B3" in body["detail"]
    status, body = await api.command(
        sid, tok, "declare_interests",
        declarations=[*NO_CONFLICT[:2], {"bid_id": "B3", "conflict": True}])
    assert status == 422 and body["field"] == "declarations/2/reason"
    await _ok(api, sid, tok, "declare_interests", declarations=NO_CONFLICT)
    events = await api.events(sid)
    accepted = [e for e in events if e["type"] == "pledge.accepted"]
    assert accepted[0]["payload"] == {"seat": seat, "venue_id": "sh-ggzy", "version": "2026.1",
                                      "sha256": pledge["sha256"]}


async def test_the_bidders_an_expert_sees_do_not_depend_on_the_prices(api: Harness) -> None:
    """Non-interference: two sessions whose bids differ only in price give a checked-in
    expert the same view (but for the session's own id and sequence)."""
    views = []
    for price in (100_000_00, 777_777_77):
        from conftest import session_doc

        doc = session_doc()
        doc["bids"][1]["price_fen"] = price
        sid, experts = await api.to_stage("checked_in", doc)
        _, view = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
        views.append({k: v for k, v in view.items() if k not in ("id", "created_at")})
    assert views[0] == views[1]


# --- recusal and the draw's alternates ------------------------------------------------------


async def _drawn_and_checked_in(api: Harness, db_url: str, tmp_path: Path,
                                *, alternates: int) -> tuple[str, list[dict[str, Any]]]:
    import_pool(db_url, tmp_path, count=600)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules(alternates=alternates))
    _, draw = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    for s in draw["seats"]:
        status, body = await api.call("POST", f"/api/sessions/{sid}/invitation",
                                      api.expert(s["expert_id"], s["venue_id"]),
                                      json={"accept": True})
        assert status == 200, body
    await _ok(api, sid, api.op(), "start_check_in")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    for seat in doc["seats"]:
        await _ok(api, sid, api.op(seat["venue_id"]), "check_in", seat=seat["index"])
    return sid, doc["seats"]


async def _recuse(api: Harness, sid: str, seat: dict[str, Any]) -> str:
    tok = api.expert(seat["expert_id"], seat["venue_id"])
    await _ok(api, sid, tok, "accept_pledge", sha256=(await _pledge(api, sid, tok))["sha256"])
    declarations = [*NO_CONFLICT[:1], {"bid_id": "B2", "conflict": True,
                                       "reason": "配偶在乙公司任项目经理"}, NO_CONFLICT[2]]
    body = await _ok(api, sid, tok, "declare_interests", declarations=declarations)
    assert body["state"] == "checking_in"
    return tok


async def test_a_conflict_at_check_in_seats_the_next_alternate_of_the_recorded_draw(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid, seats = await _drawn_and_checked_in(api, db_url, tmp_path, alternates=1)
    gone = seats[3]  # a Suzhou seat
    tok = await _recuse(api, sid, gone)
    events = await api.events(sid)
    tail = events[-4:]
    assert _types(tail) == ["interests.declared", "seat.vacated", "invitation.recused",
                            "invitation.sent"]
    assert tail[0]["payload"]["conflicts"] == [{"bid_id": "B2", "reason": "配偶在乙公司任项目经理"}]
    assert tail[2]["payload"]["expert_id"] == gone["expert_id"]
    # 补抽: the same seat's first alternate, at the same venue, from the recorded draw.
    alt = tail[3]["payload"]
    assert (alt["seat"], alt["venue_id"], alt["rank"]) == (3, "js-suzhou", 1)
    drawn = next(e for e in events if e["type"] == "draw.drawn")["payload"]["result"]
    seat_map = next(e for e in events if e["type"] == "draw.opened")["payload"]["seat_map"]
    assert alt["expert_id"] == drawn["seats"][seat_map.index(3)]["alternates"][0]["expert"]
    # The member who recused no longer sees the session; the seat waits.
    assert (await api.call("GET", f"/api/sessions/{sid}", tok))[0] == 404
    status, body = await api.command(sid, api.op(), "open_election")
    assert status == 409 and "3 (vacant)" in body["detail"]
    status, body = await api.command(sid, api.op("js-suzhou"), "check_in", seat=3)
    assert status == 409 and "vacant" in body["detail"]
    # Other venues' operators learn no reason (it names the member's relations).
    _, as_hefei = await api.call("GET", f"/api/sessions/{sid}/events", api.op("ah-hefei"))
    declared = [e for e in as_hefei["events"] if e["type"] == "interests.declared"]
    assert declared[-1]["payload"]["conflicts"] == [{"bid_id": "B2", "reason": None}]
    # The alternate accepts, is checked in, pledges and declares: the committee is whole.
    new = api.expert(alt["expert_id"], "js-suzhou")
    status, body = await api.call("POST", f"/api/sessions/{sid}/invitation", new,
                                  json={"accept": True})
    assert status == 200 and body["session_state"] == "checking_in", body
    await _ok(api, sid, api.op("js-suzhou"), "check_in", seat=3)
    members = [(s["index"], api.expert(s["expert_id"], s["venue_id"]))
               for s in seats if s["index"] != 3] + [(3, new)]
    await api.pledge_and_elect(sid, sorted(members))
    body = await _ok(api, sid, api.op(), "start_evaluation")
    assert body["state"] == "evaluating"
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["seats"][3]["expert_id"] == alt["expert_id"]
    assert doc["recusals"] == [[3, gone["expert_id"], ["B2"]]]


async def test_with_no_alternate_left_a_new_ceremony_draws_the_seat(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid, seats = await _drawn_and_checked_in(api, db_url, tmp_path, alternates=0)
    await _recuse(api, sid, seats[5])  # a Hefei seat
    events = await api.events(sid)
    assert _types(events[-2:]) == ["invitation.recused", "draw.seat_exhausted"]
    # A replacement draw with a fresh seed (every venue and the supervisor contribute).
    await run_ceremony(api, sid)
    events = await api.events(sid)
    seeded = [e for e in events if e["type"] == "draw.seeded"]
    assert len(seeded) == 2 and seeded[0]["payload"]["seed"] != seeded[1]["payload"]["seed"]
    sent = [e for e in events if e["type"] == "invitation.sent"][-1]["payload"]
    assert (sent["seat"], sent["venue_id"]) == (5, "ah-hefei")
    assert sent["expert_id"] not in {s["expert_id"] for s in seats}
    status, body = await api.call("POST", f"/api/sessions/{sid}/invitation",
                                  api.expert(sent["expert_id"], "ah-hefei"),
                                  json={"accept": True})
    assert status == 200 and body["seat"] == 5, body
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["state"] == "checking_in" and doc["seats"][5]["expert_id"] == sent["expert_id"]


# --- the leader election --------------------------------------------------------------------


async def _declared(api: Harness) -> tuple[str, list[tuple[int, str]]]:
    sid, experts = await api.to_stage("checked_in")
    sha = (await _pledge(api, sid, experts[0][1]))["sha256"]
    for _, tok in experts:
        await _ok(api, sid, tok, "accept_pledge", sha256=sha)
        await _ok(api, sid, tok, "declare_interests", declarations=NO_CONFLICT)
    return sid, experts


async def test_the_leader_election_by_sealed_ballots_with_a_runoff(api: Harness) -> None:
    sid, experts = await _declared(api)
    status, body = await api.command(sid, experts[0][1], "open_election")
    assert status == 403
    status, body = await api.command(sid, api.op(), "start_evaluation")
    assert status == 409 and "not elected its leader" in body["detail"]
    await _ok(api, sid, api.op(), "open_election")
    status, body = await api.command(sid, api.op(), "cast_vote", candidate=0)
    assert status == 403
    for (_, tok), choice in zip(experts, [0, 0, 1, 1, 2, 3, 4], strict=True):
        await _ok(api, sid, tok, "cast_vote", candidate=choice)
    status, body = await api.command(sid, experts[0][1], "cast_vote", candidate=1)
    assert status == 409 and "already voted" in body["detail"]
    # Sealed until the round closes: every role sees commitments, nobody a choice.
    for tok in (api.sup, api.op(), experts[1][1]):
        _, doc = await api.call("GET", f"/api/sessions/{sid}", tok)
        assert all(set(b) == {"seat", "commitment"} for b in doc["election"]["ballots"])
        _, evs = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", tok)
        cast = [e["payload"] for e in evs["events"] if e["type"] == "vote.cast"]
        assert len(cast) == 7 and all(set(c) == {"round", "seat", "commitment"} for c in cast)
    await _ok(api, sid, api.op(), "close_round")
    events = await api.events(sid)
    closed = next(e for e in events if e["type"] == "election.round_closed")["payload"]
    assert closed["tally"]["0"] == 2 and closed["tally"]["1"] == 2
    runoff = events[-1]["payload"]
    assert (events[-1]["type"], runoff["round"], runoff["candidates"]) == (
        "election.opened", 2, [0, 1])
    for (_, tok), choice in zip(experts, [0, 0, 0, 1, 1, 1, 0], strict=True):
        await _ok(api, sid, tok, "cast_vote", candidate=choice)
    await _ok(api, sid, api.op(), "close_round")
    events = await api.events(sid)
    assert events[-1]["type"] == "leader.elected"
    assert events[-1]["payload"] == {"seat": 0, "round": 2, "votes": 4, "by": "runoff"}
    body = await _ok(api, sid, api.op(), "start_evaluation")
    assert body["state"] == "evaluating"


async def test_a_ballot_discloses_nothing_before_the_round_closes(api: Harness) -> None:
    """Non-interference: two sessions that differ only in one member's choice give the
    other roles the same bytes — but the commitment, which is keyed by a secret salt —
    until the round closes."""
    app = api.client.server.app
    app[SESSIONS].salt = lambda: bytes(range(32))  # fixed, so only the choice differs
    seen: list[list[Any]] = []
    for choice in (1, 2):
        sid, experts = await _declared(api)
        await _ok(api, sid, api.op(), "open_election")
        await _ok(api, sid, experts[0][1], "cast_vote", candidate=choice)
        views = []
        for tok in (api.sup, api.op(), api.op("js-suzhou"), experts[1][1], experts[0][1]):
            _, doc = await api.call("GET", f"/api/sessions/{sid}", tok)
            _, evs = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", tok)
            views.append(_strip(doc, sid) | {"events": _strip(evs["events"], sid)})
        seen.append(views)
    assert seen[0] == seen[1]


def _strip(node: Any, sid: str) -> Any:
    """``node`` without what differs between two otherwise equal sessions anyway: ids,
    times, and commitments (HMAC under a secret salt)."""
    if isinstance(node, dict):
        return {k: _strip(v, sid) for k, v in node.items()
                if k not in ("id", "session_id", "created_at", "time_ms", "commitment")}
    if isinstance(node, list):
        return [_strip(v, sid) for v in node]
    return node.replace(sid, "SID") if isinstance(node, str) else node


# --- refusing to sign -----------------------------------------------------------------------


async def test_a_refusal_to_sign_is_recorded_confirmed_and_lets_the_session_seal(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("scoring")
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-0001")
        assert status == 201, body
    await _ok(api, sid, api.op(), "lock_scoring")
    await _ok(api, sid, api.op(), "start_report")
    uow = api.client.server.app[SESSIONS].uow
    real = uow.clock_ms
    events = await api.events(sid)
    # start_report's own event (the alert check of the report point follows it)
    started = next(e for e in reversed(events) if "sign_deadline" in e["payload"])
    deadline = started["payload"]["sign_deadline"]
    assert deadline == started["time_ms"] // 1000 + 30 * 60
    for _, tok in experts[:-1]:
        await _ok(api, sid, tok, "sign_report")
    leader, last = experts[0][1], experts[-1][0]
    status, body = await api.command(sid, leader, "record_refusal", seat=last, note="拒签")
    assert status == 409 and "may still sign" in body["detail"]
    uow.clock_ms = lambda: (deadline + 1) * 1000
    try:
        status, body = await api.command(sid, experts[1][1], "record_refusal", seat=last,
                                         note="拒签")
        assert status == 403  # not the leader
        status, body = await api.command(sid, api.op("js-suzhou"), "record_refusal",
                                         seat=last, note="拒签")
        assert status == 403
        note = f"{last}号评委在规定时间内既未签字也未陈述不同意见及理由，评标委员会予以书面记录"
        await _ok(api, sid, leader, "record_refusal", seat=last, note=note)
        status, body = await api.command(sid, api.op(), "seal")
        assert status == 409 and "not deemed to agree" in body["detail"]
        status, body = await api.command(sid, api.op(), "confirm_deemed_agreement", seat=last)
        assert status == 403
        await _ok(api, sid, api.sup, "confirm_deemed_agreement", seat=last)
        # It stands for a signature: a signed milestone checkpoint, as a signature is.
        _, checkpoint = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
        assert f"evalsvc-milestone report-deemed-agreed-seat-{last}" in checkpoint
        # The note is in the report now: the signatures given before it are cleared and
        # given again over the report that carries it (docs/scoring.md).
        status, body = await api.command(sid, api.op(), "seal")
        assert status == 409, body
        for _, tok in experts[:-1]:
            await _ok(api, sid, tok, "sign_report")
        body = await _ok(api, sid, api.op(), "seal")
    finally:
        uow.clock_ms = real
    assert body["state"] == "sealed"
    events = await api.events(sid)
    kinds = _types(events)
    assert "report.refusal_recorded" in kinds
    deemed = next(e for e in events if e["type"] == "report.deemed_agreed")
    assert deemed["payload"] == {"seat": last, "note": note}
    assert deemed["actor"].startswith("supervisor")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["deemed"] == [last] and set(doc["signed"]) == {s for s, _ in experts[:-1]}


async def test_ballots_and_the_election_travel_over_the_websocket(api: Harness) -> None:
    """A member votes over the socket (``command``); every venue's socket gets the sealed
    ``vote.cast`` at once and the opened round when it closes."""
    from wshelp import connect

    sid, experts = await _declared(api)
    await _ok(api, sid, api.op(), "open_election")
    watcher, *_ = await connect(api, sid, api.op("ah-hefei"))
    voters = []
    for i, (_, tok) in enumerate(experts):
        ws, *_ = await connect(api, sid, tok)
        await ws.send({"type": "command", "id": f"vote-{i:04d}",
                       "body": {"command": "cast_vote", "candidate": 2}})
        _, ack = await ws.until("ack")
        assert ack["result"]["command"] == "cast_vote", ack
        voters.append(ws)
        _, ev = await watcher.until("event")
        assert ev["event"] == "vote.cast"
        assert set(ev["payload"]) == {"round", "seat", "commitment"}
    await _ok(api, sid, api.op(), "close_round")
    _, closed = await watcher.until("event")
    assert closed["event"] == "election.round_closed"
    assert {b["candidate"] for b in closed["payload"]["ballots"]} == {2}
    _, elected = await watcher.until("event")
    assert (elected["event"], elected["payload"]["seat"]) == ("leader.elected", 2)


# --- re-review ------------------------------------------------------------------------------


async def test_a_rereview_approved_by_a_supervisor_reopens_scoring_for_one_seat(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("scoring")
    for seat, tok in experts:
        t1 = "45" if seat == 2 else "40"
        status, body = await api.submit(sid, tok, scoring_sheet(t1=t1), key=f"first-{seat}-0001")
        assert status == 201, body["detail"]
    await _ok(api, sid, api.op(), "lock_scoring")
    await _ok(api, sid, api.op(), "start_report")
    _, before = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    leader, member = experts[0][1], experts[1][1]
    await _ok(api, sid, member, "sign_report")
    why = "2号评委技术方案一项客观分与其他评委不一致，申请复核"
    status, body = await api.command(sid, member, "request_rereview", seats=[2], reason=why)
    assert status == 403  # not the leader
    await _ok(api, sid, leader, "request_rereview", seats=[2], reason=why)
    status, body = await api.command(sid, api.op(), "decide_rereview", approve=True, reason="同意")
    assert status == 403
    body = await _ok(api, sid, api.sup, "decide_rereview", approve=True, reason="同意复核")
    assert (body["state"], body["stage"]) == ("evaluating", "scoring")
    status, body = await api.submit(sid, experts[3][1], scoring_sheet(t1="41"), key="other-0001")
    assert status == 409 and "seat(s) 2 only" in body["detail"]
    status, body = await api.submit(sid, experts[2][1], scoring_sheet(t1="40"), key="fix-2-0001")
    assert status == 201 and body["version"] == 2, body
    await _ok(api, sid, api.op(), "lock_scoring")
    await _ok(api, sid, api.op(), "start_report")
    _, after = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    assert after["signed"] == [] and after["sha256"] != before["sha256"]
    assert after["report"]["rereviews"] == [
        {"round": 1, "stage": "scoring", "seats": [2], "reason": why, "decision": "同意复核"}]
    # The superseded result stays in the record: two scoring locks, the second says why.
    locks = [e["payload"] for e in await api.events(sid)
             if e["type"] == "stage.locked" and e["payload"]["stage"] == "scoring"]
    assert len(locks) == 2 and "rereview" not in locks[0]
    assert locks[1]["rereview"]["seats"] == [2]
    assert locks[0]["result"] != locks[1]["result"]


async def test_the_pledge_text_and_version_come_from_the_rules_config(
    aiohttp_client: Any, settings: Any, tmp_path: Path
) -> None:
    import dataclasses
    import hashlib

    import pytest

    from evalsvc.app import create_app
    from evalsvc.config import RulesSettings
    from evalsvc.errors import ConfigError

    text = "本人承诺：遵守评标纪律，与投标人无利害关系。\n（测试用承诺书）\n"
    path = tmp_path / "pledge.txt"
    path.write_text(text, encoding="utf-8")
    custom = dataclasses.replace(settings, rules=RulesSettings(pledge_file=str(path),
                                                               pledge_version="2027.1"))
    api = Harness(await aiohttp_client(create_app(custom)), custom)
    sid, experts = await api.to_stage("checked_in")
    pledge = await _pledge(api, sid, experts[0][1])
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert pledge == {"version": "2027.1", "text": text, "sha256": sha}
    await _ok(api, sid, experts[0][1], "accept_pledge", sha256=sha)
    accepted = (await api.events(sid))[-1]["payload"]
    assert (accepted["version"], accepted["sha256"]) == ("2027.1", sha)
    # A pledge file that cannot be read stops the server at start, saying which.
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    broken = dataclasses.replace(settings, rules=RulesSettings(pledge_file=str(empty)))
    with pytest.raises(ConfigError, match="pledge_file"):
        await aiohttp_client(create_app(broken))


async def test_the_tenderers_representative_cannot_be_elected(api: Harness) -> None:
    from conftest import session_doc

    status, body = await api.call("POST", "/api/sessions", api.op(),
                                  json=session_doc(tenderer_representative_seats=[7]))
    assert status == 422 and body["field"] == "tenderer_representative_seats/0"
    sid, experts = await api.to_stage(
        "checked_in", session_doc(tenderer_representative_seats=[6]))
    sha = (await _pledge(api, sid, experts[0][1]))["sha256"]
    for _, tok in experts:
        await _ok(api, sid, tok, "accept_pledge", sha256=sha)
        await _ok(api, sid, tok, "declare_interests", declarations=NO_CONFLICT)
    await _ok(api, sid, api.op(), "open_election")
    opened = (await api.events(sid))[-1]["payload"]
    assert opened["candidates"] == [0, 1, 2, 3, 4, 5] and opened["excluded"] == [6]
    status, body = await api.command(sid, experts[0][1], "cast_vote", candidate=6)
    assert status == 422 and body["field"] == "candidate"


async def test_an_alternate_who_does_not_answer_at_check_in_is_replaced_by_the_next(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    """The draw's deadlines run at check-in too, while a seat waits for its alternate."""
    from evalsvc.experts.routes import DRAWS

    sid, seats = await _drawn_and_checked_in(api, db_url, tmp_path, alternates=2)
    await _recuse(api, sid, seats[3])
    first = (await api.events(sid))[-1]["payload"]
    assert first["rank"] == 1
    app = api.client.server.app
    uow = app[SESSIONS].uow
    real = uow.clock_ms
    uow.clock_ms = lambda: real() + 3 * 3600 * 1000  # past the invitation's deadline
    try:
        await app[DRAWS].tick(sid)
    finally:
        uow.clock_ms = real
    tail = (await api.events(sid))[-2:]
    assert [e["type"] for e in tail] == ["invitation.expired", "invitation.sent"]
    assert tail[0]["payload"]["expert_id"] == first["expert_id"]
    assert (tail[1]["payload"]["seat"], tail[1]["payload"]["rank"]) == (3, 2)
