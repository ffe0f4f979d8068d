"""Issue "A draw that holds against a dishonest primary": the recusal inputs are the
session's.

A primary who wants an expert on the committee that a bidder's principal knows would
leave that principal out of the draw request. The principals, the legal representative,
the supervising departments and the tenderer's USCC are registered with the session, and
no request to the draw can add, drop or reword them (docs/draw.md §6.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Harness, import_pool, session_doc, uscc

from evalsvc.experts.draw import base_lists
from evalsvc.experts.pool import Expert, Pool, expert_from_view
from evalsvc.experts.rules import load_rules
from evalsvc.experts.synth import WELL_KNOWN_PRINCIPALS

from ._draw import draw_rules, drawing_session, events_of, first_ceremony, open_ceremony


def _rules_with_principal(doc: dict[str, Any], principal: str | None) -> dict[str, Any]:
    """The bound rules a draw of ``doc`` would use, the second bidder naming
    ``principal`` (or nobody): what the server binds, built by hand."""
    rules = draw_rules()
    rules["draw"] = {**rules["draw"], "session": "S", "date": "2026-12-01"}
    rules["tenderer"] = {"name": doc["tenderer"], "uscc": doc["tenderer_uscc"]}
    rules["supervising_departments"] = doc["supervising_departments"]
    rules["bidders"] = [{"name": b["bidder"], "uscc": b["uscc"],
                         "principals": [principal] if principal and i == 1 else []}
                        for i, b in enumerate(doc["bids"])]
    return rules


def _eligible(experts: list[Expert], rules: dict[str, Any]) -> set[str]:
    config = load_rules(rules)
    pool = Pool.from_experts(experts)
    return {pool.expert(i).id for lst in base_lists(pool, config.rules, config.seats)
            for i in lst}


def _related_target(experts: list[Expert], doc: dict[str, Any]) -> tuple[str, str]:
    """An expert eligible for a seat, who declared a relationship to a person: (expert
    id, the person's name). With that person a principal of a bidder, it is recused."""
    eligible = _eligible(experts, _rules_with_principal(doc, None))
    known = set(WELL_KNOWN_PRINCIPALS.values())
    for e in experts:
        if e.id not in eligible:
            continue
        for rel in e.relationships:
            if rel.kind == "person" and rel.name not in known:
                return e.id, rel.name
    raise AssertionError("the synthetic pool has no eligible expert with a relationship")


async def test_a_principal_left_out_of_any_request_still_recuses(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    experts = import_pool(db_url, tmp_path, count=300)
    target, person = _related_target(experts, session_doc())
    # The relationship matters: with the person a principal the expert is out.
    assert target not in _eligible(experts, _rules_with_principal(session_doc(), person))
    doc = session_doc()
    doc["bids"][1] = {**doc["bids"][1], "legal_representative": person}
    sid = await drawing_session(api, doc)

    # Every way a request could drop the principal is refused, and nothing opens.
    bidders = [{"name": b["bidder"], "uscc": b["uscc"], "principals": []} for b in doc["bids"]]
    attempts: list[tuple[dict[str, Any], str]] = [
        ({**draw_rules(), "bidders": bidders}, "rules/bidders"),
        ({**draw_rules(), "bidders": bidders[:1] + bidders[2:]}, "rules/bidders"),
        ({**draw_rules(), "recusal": {"unsafe_no_recusal": True}},
         "rules/recusal/unsafe_no_recusal"),
    ]
    for rules, field in attempts:
        status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=1200, rules=rules)
        assert status == 422 and out["field"] == field, out
    # Nor can the bid be registered again without its principal once the draft is over.
    status, out = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json={
        "id": "B9", "bidder": doc["bids"][1]["bidder"], "uscc": uscc("Z9"),
        "price_fen": 1_00})
    assert status == 409, out
    assert await events_of(api, sid, "draw.opened") == []

    # The honest draw: the server binds the session's principal into the rules.
    await first_ceremony(api, sid)
    status, bundle = await api.call("GET", f"/api/sessions/{sid}/draw/bundle?ceremony=1",
                                    api.sup)
    assert status == 200, bundle
    assert person in bundle["rules"]["bidders"][1]["principals"]
    pool = [expert_from_view(v) for v in bundle["pool"]]
    assert any(e.id == target for e in pool)
    assert target not in _eligible(pool, bundle["rules"])
    picks = [p["expert"] for seat in bundle["result"]["seats"]
             for p in (seat["member"], *seat["alternates"])]
    assert target not in picks and len(picks) >= 7


async def test_tender_data_is_on_the_record_and_blinded(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    """The recusal inputs are in session.created and bid.added (for the audit log), and
    a secondary operator sees none of them before the start (四不知)."""
    doc = session_doc()
    doc["bids"][0] = {**doc["bids"][0], "legal_representative": "赵甲", "principals": ["钱乙"]}
    sid = await drawing_session(api, doc)
    (created,) = await events_of(api, sid, "session.created")
    assert created["payload"]["tender_number"] == doc["tender_number"]
    assert created["payload"]["tenderer_uscc"] == doc["tenderer_uscc"]
    bid = (await events_of(api, sid, "bid.added"))[0]["payload"]["bid"]
    assert (bid["legal_representative"], bid["principals"]) == ("赵甲", ["钱乙"])
    status, view = await api.call("GET", f"/api/sessions/{sid}", api.op("js-suzhou"))
    assert status == 200
    assert view["tender_number"] is None and view["tenderer_uscc"] is None
    assert view["supervising_departments"] == [] and view["bids"] == []
    status, events = await api.call("GET", f"/api/sessions/{sid}/events", api.op("js-suzhou"))
    assert status == 200
    assert "赵甲" not in str(events) and doc["tender_number"] not in str(events)
