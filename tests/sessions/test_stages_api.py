"""The stages through the REST API: compliance with reasons, split technical and
commercial scoring, 暗标 (docs/scoring.md "Stages", "暗标")."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from conftest import Harness, session_doc

from evalsvc.auth import Principal
from evalsvc.sessions import machine as m
from evalsvc.sessions.access import redact_event, view_session
from evalsvc.sessions.model import Bid, ScoringRules, Sheet, Stage, State, new_session

CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    # The experts read the guidance beside the codes (it may name no bidder).
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50,
     "guidance": "方案完整可行的得 40–50 分"},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
]
NAMES = ("甲公司", "乙公司", "丙公司")


async def test_a_split_anonymous_evaluation_by_codes_to_the_result(api: Harness) -> None:
    doc = session_doc(criteria=CRITERIA, stages="split", anonymous=True)
    sid, experts = await api.to_stage("qualification", doc)
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, {
            "stage": "qualification", "bids": {b: {"Q1": True} for b in ("B1", "B2", "B3")}},
            key=f"qual-{seat}-key")
        assert status == 201, body["detail"]
    assert (await api.command(sid, api.op(), "lock_qualification"))[0] == 200
    # A fail without its reason: 422 naming the field; with it, accepted.
    status, body = await api.submit(sid, experts[0][1], {
        "stage": "compliance", "bids": {"B1": {"K1": True}, "B2": {"K1": False},
                                        "B3": {"K1": True}}}, key="compliance-bad-key")
    assert status == 422 and body["field"] == "reasons/B2/K1", body
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, {
            "stage": "compliance", "bids": {"B1": {"K1": True}, "B2": {"K1": False},
                                            "B3": {"K1": True}},
            "reasons": {"B2": {"K1": "投标有效期不足90天"}}}, key=f"compliance-{seat}-key")
        assert status == 201, body["detail"]
    status, body = await api.command(sid, api.op(), "lock_compliance")
    assert status == 200 and body["stage"] == "technical", body

    # 暗标: the expert sees codes, no bidder, no id, no price.
    status, view = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
    assert status == 200 and view["stage"] == "technical"
    assert [b["code"] for b in view["bids"]] == ["A01", "A02", "A03"]
    text = json.dumps(view, ensure_ascii=False)
    assert not any(n in text for n in NAMES) and "code_salt" not in text
    codes = view["qualified"]
    assert len(codes) == 2
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, {
            "stage": "technical", "bids": {c: {"T1": "40"} for c in codes}},
            key=f"technical-{seat}-key")
        assert status == 201, body["detail"]
        # No digest of the bid-keyed bytes: its few permutations would link codes to bids.
        assert body["sha256"] is None
    _, progress = await api.call("GET", f"/api/sessions/{sid}/progress", experts[0][1])
    mine = next(x for x in progress["own_sheets"] if x["stage"] == "technical")
    assert mine["sheet"]["bids"] == {c: {"T1": "40"} for c in codes}
    assert (mine["sha256"], mine["salt"], mine["signature"]) == (None, None, None)
    assert (await api.command(sid, api.op(), "lock_technical"))[0] == 200
    status, view = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
    assert view["stage"] == "commercial" and {b["bidder"] for b in view["bids"]} == set(NAMES)
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, {
            "stage": "commercial", "bids": {b: {"C1": "8"} for b in ("B1", "B3")}},
            key=f"commercial-{seat}-key")
        assert status == 201, body["detail"]
    status, body = await api.command(sid, api.op(), "lock_commercial")
    assert status == 200 and body["state"] == "aggregating", body
    status, agg = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert [r["bid_id"] for r in agg["ranking"]] == ["B1", "B3"]
    assert agg["ranking"][0]["total"] == "88.00"  # 40 + 8 + price 40
    events = await api.events(sid)
    opened = next(e["payload"] for e in events if e["type"] == "codes.opened")
    assert sorted(opened["codes"]) == ["A01", "A02", "A03"]
    assert sorted(opened["codes"][c] for c in codes) == ["B1", "B3"]
    # The report's check point (pattern alerts) reads every stage's lock.
    status, body = await api.command(sid, api.op(), "start_report")
    assert status == 200 and body["state"] == "reporting", body
    events = await api.events(sid)
    locked = [e["payload"] for e in events if e["type"] == "stage.locked"]
    assert [x["stage"] for x in locked] == [
        "qualification", "compliance", "technical", "commercial"]
    assert locked[1]["rejected"] == [{"bid_id": "B2", "reasons": [
        {"criterion_id": "K1", "reason": "投标有效期不足90天"}]}]


def _technical(names: tuple[str, ...]) -> Any:
    s = new_session(session_doc(seats=(3, 2), criteria=CRITERIA, stages="split",
                                anonymous=True), session_id="s-1", now=1,
                    defaults=ScoringRules())
    s = replace(s, bids=tuple(replace(b, bidder=n, uscc=b.uscc, price_fen=b.price_fen)
                              for b, n in zip(s.bids, names, strict=True)))
    seats = tuple(replace(x, expert_id=f"e{x.index}", expert_name="x", source="draw:1",
                          checked_in=True, pledged="b" * 64, declared=True) for x in s.seats)
    return replace(s, seats=seats, state=State.EVALUATING, stage=Stage.TECHNICAL, leader=0,
                   code_salt="ef" * 32, qualified=("B1", "B3"))


def test_during_the_technical_stage_the_expert_bytes_do_not_depend_on_the_bidders() -> None:
    """Non-interference (DESIGN.md disclosure schedule, 暗标): rename every bidder (and
    change their prices and codes); what an expert receives — the session view and each
    event of the technical stage — is byte for byte the same."""
    expert = Principal(role="expert", subject="e1", name="专家", venue="sh-ggzy")
    other = tuple(f"另一家{i}有限公司" for i in range(3))
    a, b = _technical(NAMES), _technical(other)
    b = replace(b, bids=tuple(replace(x, price_fen=x.price_fen + 1, uscc=y.uscc)
                              for x, y in zip(b.bids, reversed(a.bids), strict=True)))
    assert a.bids != b.bids
    va = view_session(a, expert, last_seq=40)
    vb = view_session(b, expert, last_seq=40)
    assert json.dumps(va, ensure_ascii=False) == json.dumps(vb, ensure_ascii=False)
    assert [c.get("guidance") for c in va["criteria"]][2] == "方案完整可行的得 40–50 分"
    for s in (a, b):
        assert not any(x.bidder in json.dumps(va, ensure_ascii=False) for x in s.bids)
    # The log replayed to the expert now (GET events, WebSocket resume): the project's
    # events name the bidders, so they are masked.
    history = []
    for s in (a, b):
        created = replace(s, state=State.DRAFT, stage=None)
        events = m.apply(created, m.CreateSession(created), 1)[1]
        history.append(json.dumps([redact_event(s, expert, {
            "type": e.type, "payload": e.payload, "actor": "operator:sh"}) for e in events],
            ensure_ascii=False))
    assert history[0] == history[1] and "甲公司" not in history[0]
    # The technical stage's events, as fanned out to the expert.
    sheets = [Sheet(seat=x.index, stage=Stage.TECHNICAL,
                    scores={bid: {"T1": Decimal(40)} for bid in ("B1", "B3")})
              for x in a.seats]
    for s in (a, b):
        sub = m.apply(s, m.SubmitSheet(sheets[1], 1, "c" * 64), 1)[1]
        assert [redact_event(s, expert, {"type": e.type, "payload": e.payload,
                                         "actor": "expert:e2"})
                for e in sub] == [{"type": "sheet.submitted", "actor": "expert", "payload": {
                    "seat": 1, "stage": "technical", "version": 1, "commitment": "c" * 64}}]
    assert isinstance(a.bids[0], Bid)
