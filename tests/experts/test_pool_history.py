"""The pool remembers (issue 14 item 10): sealing a session adds each member's
evaluation (the tenderer's USCC, the evaluation date) to the pool, in one transaction with
the seal and its audited event, so the next draw's frequency rule counts it."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    qualification_sheet,
    run_ceremony,
    scoring_sheet,
    session_doc,
    uscc,
)

from evalsvc.experts.pool import expert_from_view
from evalsvc.experts.rules import DrawContext, FrequentEvaluator, Party

COMMIT_S = 4.0


async def _invited(api: Harness, sid: str) -> dict[int, tuple[str, str]]:
    status, body = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    assert status == 200, body
    return {s["seat"]: (s["expert_id"], s["venue_id"])
            for s in body["seats"] if s["status"] == "invited"}


async def _drawn_committee(
    api: Harness, sid: str, rules: dict[str, Any]
) -> dict[int, tuple[str, str]]:
    # A commit window wider than the helper's 1 s: a loaded machine opens slowly.
    await run_ceremony(api, sid, rules=rules, commit_s=COMMIT_S)
    invited = await _invited(api, sid)
    for expert, venue in invited.values():
        status, body = await api.call("POST", f"/api/sessions/{sid}/invitation",
                                      api.expert(expert, venue), json={"accept": True})
        assert status == 200, body
    return invited


async def _cmd(api: Harness, sid: str, token: str, name: str, **f: Any) -> None:
    status, body = await api.command(sid, token, name, **f)
    assert status == 200, (name, body)


async def _run_to_seal(api: Harness, sid: str, committee: dict[int, tuple[str, str]]) -> None:
    tokens = {seat: api.expert(e, v) for seat, (e, v) in committee.items()}
    await _cmd(api, sid, api.op(), "start_check_in")
    for seat, (_e, venue) in committee.items():
        await _cmd(api, sid, api.op(venue), "check_in", seat=seat)
    await api.pledge_and_elect(sid, list(tokens.items()))
    await _cmd(api, sid, api.op(), "start_evaluation")
    for seat, tok in tokens.items():
        status, body = await api.submit(sid, tok, qualification_sheet(), key=f"q-{seat}-0001")
        assert status == 201, body
    await _cmd(api, sid, api.op(), "lock_qualification")
    for seat, tok in tokens.items():
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"s-{seat}-0001")
        assert status == 201, body
    await _cmd(api, sid, api.op(), "lock_scoring")
    await _cmd(api, sid, api.op(), "start_report")
    for tok in tokens.values():
        await _cmd(api, sid, tok, "sign_report")
    await _cmd(api, sid, api.op(), "seal")


async def _pool(api: Harness) -> dict[str, dict[str, Any]]:
    status, body = await api.call("GET", "/api/experts?limit=500", api.sup)
    assert status == 200, body
    out = {e["id"]: e for e in body["experts"]}
    status, body = await api.call("GET", "/api/experts?limit=500&offset=500", api.sup)
    out.update({e["id"]: e for e in body["experts"]})
    return out


def _recent_for(experts: list[Any], ids: set[str], uscc: str) -> dict[str, int]:
    """Evaluations for the tenderer per expert in ``ids`` (the imported history)."""
    return {e.id: sum(1 for v in e.evaluations if v.tenderer_uscc == uscc)
            for e in experts if e.id in ids}


async def test_a_sealed_sessions_members_count_in_the_next_draws_frequency_rule(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    experts = import_pool(db_url, tmp_path)
    rules = draw_rules()
    tenderer = session_doc()["tenderer_uscc"]  # the draw takes it from the session

    sid = await drawing_session(api)
    committee = await _drawn_committee(api, sid, rules)
    members = {e for e, _v in committee.values()}
    before = await _pool(api)
    imported = _recent_for(experts, members, tenderer)
    await _run_to_seal(api, sid, committee)

    # The seal and the pool's record of it are one change, audited as an event.
    events = await api.events(sid)
    sealed = [i for i, e in enumerate(events) if e["payload"].get("to") == "sealed"]
    recorded = [e for e in events if e["type"] == "pool.evaluations_recorded"]
    assert len(sealed) == 1 and len(recorded) == 1
    assert events.index(recorded[0]) == sealed[0] + 1
    drawn_on = recorded[0]["payload"]["date"]
    assert recorded[0]["payload"] == {
        "tenderer_uscc": tenderer, "date": drawn_on, "seats": sorted(committee),
    }

    # What a supervisor sees in the pool: one more evaluation, dated, for each member only.
    after = await _pool(api)
    for eid in members:
        assert after[eid]["evaluation_count"] == before[eid]["evaluation_count"] + 1
        assert after[eid]["last_evaluation"] == drawn_on
    others = set(after) - members
    assert all(after[e]["evaluation_count"] == before[e]["evaluation_count"] for e in others)

    # The next draw for the same tenderer, whose rules allow one evaluation a year for
    # it: every member of the sealed session now has one (or more), so none is drawn,
    # as member or alternate — and they were eligible before this seal if new to it.
    assert any(n == 0 for n in imported.values()), "no member was new to the tenderer"
    # Another tender of the same tenderer (the same one again would be a re-tender).
    doc2 = session_doc(title="同一招标人的另一项目")
    doc2["tender_number"] = "ANOTHER-TENDER-2"
    doc2["bids"] = [{**b, "uscc": uscc(f"N{i}")} for i, b in enumerate(doc2["bids"])]
    strict = draw_rules()
    strict.setdefault("recusal", {})["max_evaluations_per_tenderer_per_year"] = 1
    sid2 = await drawing_session(api, doc2)
    await run_ceremony(api, sid2, rules=strict, commit_s=COMMIT_S)
    status, draw = await api.call("GET", f"/api/sessions/{sid2}/draw", api.sup)
    assert status == 200, draw
    status, bundle = await api.call("GET", f"/api/sessions/{sid2}/draw/bundle", api.sup)
    assert status == 200, bundle
    picked = {
        p["expert"]
        for seat in bundle["result"]["seats"]
        for p in (seat["member"], *seat["alternates"])
    }
    assert picked and not (picked & members)
    # The frequency rule is what kept them out: the archived pool the draw used holds
    # their evaluation of the sealed session.
    snapshot = {v["id"]: v for v in bundle["pool"]}
    context = DrawContext(sid2, _dt.date.fromisoformat(drawn_on), Party("招标人", tenderer))
    rule = FrequentEvaluator(max_per_year=1)
    for eid in members:
        assert {"tenderer_uscc": tenderer, "date": drawn_on} in snapshot[eid]["evaluations"]
        assert rule.check(expert_from_view(snapshot[eid]), context) is not None


async def test_designated_members_count_under_the_sessions_tenderer(api: Harness) -> None:
    # Seats filled by designation (a supervisor approved it): no draw rules, so the
    # evaluation is recorded under the tenderer the session registered.
    sid, experts = await api.to_stage("scoring")
    for seat, tok in experts:
        assert (await api.submit(sid, tok, scoring_sheet(), key=f"s-{seat}-0001"))[0] == 201
    await _cmd(api, sid, api.op(), "lock_scoring")
    await _cmd(api, sid, api.op(), "start_report")
    for _seat, tok in experts:
        await _cmd(api, sid, tok, "sign_report")
    await _cmd(api, sid, api.op(), "seal")
    recorded = [e for e in await api.events(sid) if e["type"] == "pool.evaluations_recorded"]
    assert len(recorded) == 1
    assert recorded[0]["payload"]["tenderer_uscc"] == session_doc()["tenderer_uscc"]
    assert recorded[0]["payload"]["seats"] == sorted(seat for seat, _ in experts)
