"""The expert pool and the draw through the API: import into the database, the seed
ceremony, the draw, invitations with deadlines, alternates, exhausted seats and a new
ceremony, and ``evalsvc draw verify --session`` against the recorded events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    make_token,
    run_ceremony,
)

from evalsvc.cli import main


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def _draw(api: Harness, sid: str) -> dict[str, Any]:
    status, body = await api.call("GET", f"/api/sessions/{sid}/draw", api.op())
    assert status == 200, body
    return dict(body)


async def _invited(api: Harness, sid: str) -> dict[int, tuple[str, str]]:
    """Seat → (expert id, venue) of every pending invitation (supervisor's view)."""
    status, body = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    assert status == 200, body
    return {
        s["seat"]: (s["expert_id"], s["venue_id"])
        for s in body["seats"]
        if s["status"] == "invited"
    }


async def _answer(api: Harness, sid: str, expert: str, venue: str, accept: bool) -> Any:
    return await api.call(
        "POST",
        f"/api/sessions/{sid}/invitation",
        api.expert(expert, venue),
        json={"accept": accept},
    )


async def test_import_fills_the_pool_that_supervisors_read(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    experts = import_pool(db_url, tmp_path, count=50)
    status, pool = await api.call("GET", "/api/experts/pool", api.sup)
    assert status == 200 and pool["size"] == 50
    assert sum(pool["by_region"].values()) == 50 and set(pool["by_status"]) <= {
        "active",
        "suspended",
        "retired",
    }
    # Operators do not read the pool (docs/draw.md §6.6): tests/adversary.
    for path in ("/api/experts?limit=5", "/api/experts/pool"):
        assert (await api.call("GET", path, api.op()))[0] == 403
    experts_by_id = {e.id: e for e in experts}
    _, page = await api.call("GET", "/api/experts?limit=5", api.sup)
    assert all(r["resident_id"] == experts_by_id[r["id"]].resident_id for r in page["experts"])
    status, _ = await api.call("GET", "/api/experts/pool", api.expert("E-1", "sh-ggzy"))
    assert status == 403
    # Importing the same file again replaces the rows: the pool does not grow.
    import_pool(db_url, tmp_path, count=50)
    _, pool = await api.call("GET", "/api/experts/pool", api.sup)
    assert pool["size"] == 50


async def test_import_refuses_an_invalid_file_and_writes_nothing(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\nE1,张三\n", encoding="utf-8")
    report = tmp_path / "report.json"
    code = main(["experts", "import", str(bad), "--database", db_url, "--report", str(report)])
    assert code == 1 and report.exists()
    _, pool = await api.call("GET", "/api/experts/pool", api.sup)
    assert pool["size"] == 0


async def test_ceremony_draws_invites_and_seats_confirmed_experts(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    last = await run_ceremony(api, sid, rules=draw_rules())
    assert last["drawn"] is True
    types = _types(await api.events(sid))
    # Every venue and the supervisor (docs/draw.md §6.2).
    assert types.count("draw.committed") == 4 and types.count("draw.revealed") == 4
    assert types.index("draw.seeded") < types.index("draw.drawn")
    assert types.count("invitation.sent") == 7
    invited = await _invited(api, sid)
    assert sorted(invited) == list(range(7))
    # With a ceremony under way the operator cannot seat anyone by hand.
    before = await api.events(sid)
    status, body = await api.command(
        sid, api.op(), "assign_seat", seat=0, expert_id="E-FRIEND", expert_name="熟人"
    )
    assert status == 409 and "draw ceremony" in body["detail"]
    assert await api.events(sid) == before

    # The primary operator sees no invited expert, not even its own venue's, until they
    # accept (docs/draw.md §6.6).
    view = await _draw(api, sid)
    assert view["phase"] == "inviting"
    assert all(seat["expert_id"] is None and seat["masked"] for seat in view["seats"])

    # An invited expert cannot answer with a token of another venue.
    e0, v0 = invited[0]
    wrong = make_token(api.settings, "expert", venue="ah-hefei", subject=e0)
    status, _ = await api.call(
        "POST", f"/api/sessions/{sid}/invitation", wrong, json={"accept": True}
    )
    assert status == 403
    for seat, (expert, venue) in sorted(invited.items()):
        status, body = await _answer(api, sid, expert, venue, True)
        assert status == 200, body
        assert body["seat"] == seat
    status, s = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert s["state"] == "ready"
    assert [x["expert_id"] for x in s["seats"]] == [invited[i][0] for i in range(7)]
    assert (await _draw(api, sid))["phase"] == "complete"
    # Answering twice is refused.
    status, _ = await _answer(api, sid, e0, v0, True)
    assert status == 404

    code = main(["draw", "verify", "--session", sid, "--database", db_url])
    assert code == 0


async def test_decline_calls_the_next_alternate(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules())
    invited = await _invited(api, sid)
    expert, venue = invited[3]
    status, body = await _answer(api, sid, expert, venue, False)
    assert status == 200 and body["status"] == "declined"
    events = await api.events(sid)
    assert _types(events)[-2:] == ["invitation.declined", "invitation.sent"]
    sent = events[-1]["payload"]
    assert sent["seat"] == 3 and sent["rank"] == 1 and sent["expert_id"] != expert
    assert (await _invited(api, sid))[3][0] == sent["expert_id"]


async def test_timeout_calls_the_alternate_without_anyone_asking(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules(), invitation_timeout_seconds=1)
    first = await _invited(api, sid)
    await api.pass_deadline(api.now() + dt.timedelta(seconds=1), sid)
    events = await api.events(sid)
    assert _types(events).count("invitation.expired") == 7
    again = await _invited(api, sid)
    assert all(again[s][0] != first[s][0] for s in range(7))
    late = await _answer(api, sid, *first[0], True)
    assert late[0] == 404


async def test_exhausted_seat_tells_the_operator_and_a_new_ceremony_draws_it(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules(alternates=0))
    invited = await _invited(api, sid)
    for seat, (expert, venue) in invited.items():
        if seat != 5:
            assert (await _answer(api, sid, expert, venue, True))[0] == 200
    declined, venue = invited[5]
    assert (await _answer(api, sid, declined, venue, False))[0] == 200
    events = await api.events(sid)
    assert events[-1]["type"] == "draw.seat_exhausted" and events[-1]["payload"]["seat"] == 5
    view = await _draw(api, sid)
    assert view["exhausted"] == [5]
    status, body = await api.command(sid, api.op(), "complete_draw")
    assert status == 409, body  # seat 5 has no confirmed expert

    # A new ceremony (the same rules) draws seat 5 only; the others keep their experts.
    await run_ceremony(api, sid)
    again = await _invited(api, sid)
    assert list(again) == [5] and again[5][0] != declined
    assert (await _answer(api, sid, *again[5], True))[0] == 200
    _, s = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert s["state"] == "ready"
    assert main(["draw", "verify", "--session", sid, "--database", db_url]) == 0
    assert main(["draw", "verify", "--session", sid, "--ceremony", "1", "--database", db_url]) == 0


async def _open(api: Harness, sid: str, *, commit_s: float, reveal_s: float = 60,
                ) -> tuple[int, dt.datetime]:
    """A ceremony opened; its number and commitment deadline (:meth:`Harness.window`)."""
    commit_by = api.now() + dt.timedelta(seconds=api.window(commit_s))
    status, body = await api.call("POST", f"/api/sessions/{sid}/draw", api.op(), json={
        "rules": draw_rules(),
        "commit_deadline": commit_by.isoformat(),
        "reveal_deadline": (commit_by + dt.timedelta(seconds=reveal_s - commit_s)).isoformat()})
    assert status == 201, body
    return int(body["ceremony"]), commit_by


async def test_a_party_shut_out_fails_the_ceremony_and_is_recorded(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    from evalsvc.experts.seed import commitment_digest

    import_pool(db_url, tmp_path, count=100)
    sid = await drawing_session(api)
    n, commit_by = await _open(api, sid, commit_s=0.8)
    for party, token in (("sh-ggzy", api.op()), ("supervisor", api.sup)):
        digest = commitment_digest(bytes([7]) * 32, party=party, session_id=f"{sid}#{n}")
        status, body = await api.call("POST", f"/api/sessions/{sid}/draw/commitments", token,
                                      json={"digest": digest})
        assert status == 201, body
    await api.pass_deadline(commit_by, sid)  # the scheduler closes it then
    events = await api.events(sid)
    assert events[-1]["type"] == "draw.failed"
    failed = events[-1]["payload"]
    assert failed["reason"] == "insufficient_contributions"
    dropped = {d["party"]: d["reason"] for d in failed["dropped"]}
    assert dropped == {"js-suzhou": "no_commitment", "ah-hefei": "no_commitment",
                       "sh-ggzy": "no_reveal", "supervisor": "no_reveal"}
    view = await _draw(api, sid)
    assert view["phase"] == "failed" and view["failure"]
    # No free restart: a new ceremony needs a supervisor's approval.
    status, body = await api.call("POST", f"/api/sessions/{sid}/draw", api.op(), json={
        "commit_deadline": "2099-01-01T00:00:00+00:00",
        "reveal_deadline": "2099-01-01T01:00:00+00:00"})
    assert status == 403 and "approval" in body["detail"], body


async def test_rules_that_do_not_fit_the_session_are_refused(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    import_pool(db_url, tmp_path, count=50)
    sid = await drawing_session(api)
    rules = draw_rules()
    rules["seats"][0]["count"] = 5
    status, body = await api.call(
        "POST",
        f"/api/sessions/{sid}/draw",
        api.op(),
        json={"rules": rules, "commit_deadline": "2099-01-01T00:00:00+00:00",
              "reveal_deadline": "2099-01-01T01:00:00+00:00"},
    )
    assert status == 422 and "sh-ggzy" in body["detail"], body
    # Only the primary operator opens the draw.
    status, body = await api.call(
        "POST",
        f"/api/sessions/{sid}/draw",
        api.op("js-suzhou"),
        json={"rules": draw_rules(), "commit_deadline": "2099-01-01T00:00:00+00:00",
              "reveal_deadline": "2099-01-01T01:00:00+00:00"},
    )
    assert status == 403, body


async def test_every_venue_and_the_supervisor_contribute_and_the_supervisor_reveals_last(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    from evalsvc.experts.seed import commitment_digest

    import_pool(db_url, tmp_path, count=300)
    sid = await drawing_session(api)
    n, commit_by = await _open(api, sid, commit_s=1.0)
    parties = {"sh-ggzy": api.op(), "js-suzhou": api.op("js-suzhou"),
               "ah-hefei": api.op("ah-hefei"), "supervisor": api.sup}
    url = f"/api/sessions/{sid}/draw"
    for i, (party, token) in enumerate(parties.items()):
        digest = commitment_digest(bytes([i + 1]) * 32, party=party, session_id=f"{sid}#{n}")
        assert (await api.call("POST", url + "/commitments", token,
                               json={"digest": digest}))[0] == 201
    await api.pass_deadline(commit_by, sid)
    status, body = await api.call("POST", url + "/reveals", api.sup,
                                  json={"secret": (bytes([4]) * 32).hex()})
    assert status == 409 and "reveals last" in body["detail"], body
    for i, (_party, token) in enumerate(parties.items()):
        status, last = await api.call("POST", url + "/reveals", token,
                                      json={"secret": (bytes([i + 1]) * 32).hex()})
        assert status == 201, last
    assert last["drawn"] is True
    events = await api.events(sid)
    opened = next(e for e in events if e["type"] == "draw.opened")
    assert opened["payload"]["parties"] == ["sh-ggzy", "js-suzhou", "ah-hefei", "supervisor"]
    assert opened["payload"]["minimum"] == 4
    seeded = next(e for e in events if e["type"] == "draw.seeded")
    assert seeded["payload"]["contributors"] == ["ah-hefei", "js-suzhou", "sh-ggzy",
                                                 "supervisor"]


async def test_a_reveal_that_does_not_open_the_commitment_is_refused(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    from evalsvc.experts.seed import commitment_digest

    import_pool(db_url, tmp_path, count=100)
    sid = await drawing_session(api)
    _, commit_by = await _open(api, sid, commit_s=0.8)
    from evalsvc.experts.seed import commitment_digest as cd

    for party, token in (("js-suzhou", api.op("js-suzhou")), ("ah-hefei", api.op("ah-hefei")),
                         ("supervisor", api.sup)):
        other = cd(bytes([9]) * 32, party=party, session_id=f"{sid}#1")
        status, body = await api.call("POST", f"/api/sessions/{sid}/draw/commitments", token,
                                      json={"digest": other})
        assert status == 201, body
    digest = commitment_digest(b"\x01" * 32, party="sh-ggzy", session_id=f"{sid}#1")
    url = f"/api/sessions/{sid}/draw"
    status, body = await api.call("POST", url + "/reveals", api.op(), json={"secret": "01" * 32})
    assert status == 409, body  # not before the commitment deadline
    status, body = await api.call("POST", url + "/commitments", api.op(), json={"digest": digest})
    assert status == 201, body
    status, body = await api.call(
        "POST", url + "/commitments", api.op(), json={"digest": digest})
    assert status == 409, body  # a commitment cannot be changed
    status, body = await api.call(
        "POST", url + "/commitments", api.expert("E-1", "sh-ggzy"), json={"digest": digest})
    assert status == 403, body
    await api.pass_deadline(commit_by, sid)
    status, body = await api.call("POST", url + "/reveals", api.op(), json={"secret": "02" * 32})
    assert status == 422 and body["field"] == "secret", body
    status, body = await api.call("POST", url + "/commitments", api.op("js-suzhou"),
                                  json={"digest": digest})
    assert status == 409, body  # commitments are closed


async def test_experts_region_is_one_of_the_four_or_refused(api: Harness) -> None:
    """A region filter that is not SH, JS, ZJ or AH is refused by name: one with a NUL
    reached PostgreSQL and failed there (500, found by tests/test_schemathesis.py)."""
    for region in ("XX", "sh", "S%00H"):
        status, body = await api.call("GET", f"/api/experts?region={region}", api.sup)
        assert status == 422 and body["field"] == "region", (region, body)
    status, body = await api.call("GET", "/api/experts?region=JS", api.sup)
    assert status == 200 and body["experts"] == [], body
