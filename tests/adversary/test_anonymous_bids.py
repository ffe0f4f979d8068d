"""暗标 as an insider attacks it: an expert who knows the bidders' ids and names (they
are shown at check-in, to declare conflicts) and sees the technical bids by code only,
and a primary operator who registers the project. Nothing either can do may link a code
to a bidder while the technical stage runs (docs/scoring.md "暗标")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Harness, session_doc, uscc

pytestmark = pytest.mark.db

CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "K1", "name": "投标有效期", "category": "compliance"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
    {"id": "T2", "name": "实施计划", "category": "technical", "max_points": 10},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 30},
]
BIDS = ("B1", "B2", "B3")


async def _technical(api: Harness) -> tuple[str, list[tuple[int, str]], list[str]]:
    doc = session_doc(criteria=CRITERIA, stages="split", anonymous=True)
    sid, experts = await api.to_stage("qualification", doc)
    for stage, crit in (("qualification", "Q1"), ("compliance", "K1")):
        for seat, tok in experts:
            status, body = await api.submit(sid, tok, {
                "stage": stage, "bids": {b: {crit: True} for b in BIDS}},
                key=f"{stage}-{seat}-key")
            assert status == 201, body["detail"]
        assert (await api.command(sid, api.op(), f"lock_{stage}"))[0] == 200
    status, view = await api.call("GET", f"/api/sessions/{sid}", experts[0][1])
    assert status == 200 and view["stage"] == "technical" and view["anonymised"]
    return sid, experts, list(view["qualified"])


def _names_no_bid(body: Any) -> None:
    text = json.dumps(body, ensure_ascii=False)
    assert not any(b in text for b in BIDS), text


async def test_a_refused_technical_sheet_names_the_code_not_the_bid(api: Harness) -> None:
    """The expert knows B1 is 甲公司 (check-in) and sees A01..A03. A sheet refused for
    one code's score must name that code: were the error keyed by the bid id it was
    decoded to, one bad value per code would open every code."""
    sid, experts, codes = await _technical(api)
    tok = experts[0][1]
    for bad in codes:
        sheet = {"stage": "technical",
                 "bids": {c: {"T1": "99" if c == bad else "40", "T2": "5"} for c in codes}}
        status, body = await api.submit(sid, tok, sheet, key=f"bad-{bad}-key")
        assert status == 422 and body["field"] == f"bids/{bad}/T1", body
        _names_no_bid(body)
    # A code left out is named as the code; an unknown one as sent.
    status, body = await api.submit(sid, tok, {"stage": "technical", "bids": {
        codes[0]: {"T1": "40", "T2": "5"}}}, key="missing-key")
    assert status == 422 and body["field"] == f"bids/{codes[1]}", body
    _names_no_bid(body)
    status, body = await api.submit(sid, tok, {"stage": "technical", "bids": {
        **{c: {"T1": "40", "T2": "5"} for c in codes}, "B1": {"T1": "40", "T2": "5"}}},
        key="by-id-key")
    assert status == 422 and body["field"] == "bids/B1", body
    assert "B2" not in json.dumps(body) and "B3" not in json.dumps(body)


async def test_every_error_of_a_technical_sheet_is_in_code_order(api: Harness) -> None:
    """Several errors at once: their order is the codes', not the bids' registration
    order (which, with the ids the expert knows, would order the codes)."""
    sid, experts, codes = await _technical(api)
    sheet = {"stage": "technical", "bids": {c: {"T1": "99", "T2": "99"} for c in codes}}
    status, body = await api.submit(sid, experts[0][1], sheet, key="all-bad-key")
    assert status == 422, body
    fields = [e["field"] for e in body["errors"]]
    assert fields == sorted(fields) and fields[0] == f"bids/{codes[0]}/T1", fields
    _names_no_bid(body)


def _with_technical(**changes: Any) -> list[dict[str, Any]]:
    return [{**c, **changes} if c["id"] == "T1" else c for c in CRITERIA]


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@pytest.mark.parametrize(("changes", "field"), [
    # The criterion's name is shown beside the codes as its guidance is.
    ({"name": "甲公司方案的亮点"}, "criteria/2/name"),
    # A name split by spaces or across a line, or a USCC in full-width digits, still
    # names the bidder.
    ({"guidance": "参照 甲 公 司 的做法"}, "criteria/2/guidance"),
    ({"guidance": "参照甲公\n司的做法"}, "criteria/2/guidance"),
    ({"guidance": f"参照{_full_width(uscc('A1'))}的做法"}, "criteria/2/guidance"),
])
async def test_a_technical_criterion_may_not_name_a_bidder_in_any_dress(
        api: Harness, changes: dict[str, Any], field: str) -> None:
    """The primary operator registers the criteria the experts read beside the codes: a
    bidder's name in the criterion's name, or in its guidance spaced out or in
    full-width forms, is refused by field as plain guidance naming it is."""
    doc = session_doc(criteria=_with_technical(**changes), stages="split", anonymous=True)
    status, body = await api.call("POST", "/api/sessions", api.op(), json=doc)
    assert status == 422 and body["field"] == field, body
    assert "暗标" in body["detail"], body
    # The same criterion added on its own to a 暗标 draft is refused by the same field.
    sid, _ = await api.create(session_doc(criteria=CRITERIA, stages="split", anonymous=True))
    crit = {**_with_technical(**changes)[2], "id": "T9"}
    status, body = await api.call("POST", f"/api/sessions/{sid}/criteria", api.op(), json=crit)
    assert status == 422 and body["field"] == field.split("/", 2)[2], body


async def test_a_title_naming_a_bidder_is_refused_under_anonymity(api: Harness) -> None:
    """The experts read the project's title beside the codes: it may not name a bidder
    — when registered, nor when the bidder is added later."""
    doc = session_doc(criteria=CRITERIA, stages="split", anonymous=True,
                      title="智慧水务项目（甲 公 司 参考方案）")
    status, body = await api.call("POST", "/api/sessions", api.op(), json=doc)
    assert status == 422 and body["field"] == "title" and "项目名称" in body["detail"], body
    sid, _ = await api.create(session_doc(criteria=CRITERIA, stages="split", anonymous=True,
                                          title="智慧水务项目（丁公司参考方案）"))
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json={
        "id": "B4", "bidder": "丁公司", "uscc": uscc("D4"), "price_fen": 99_000_00})
    assert status == 422 and "丁公司" in body["detail"], body
