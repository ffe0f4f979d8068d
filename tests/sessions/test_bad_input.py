"""Bad input gets a 4xx problem naming what was wrong — never a 500 — and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Harness, scoring_sheet, session_doc, uscc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


async def _assert_rejected(
    api: Harness,
    sid: str,
    result: tuple[int, Any],
    status: int,
    *,
    code: str,
    field: str | None,
    before: list[Any],
) -> None:
    got, body = result
    assert got == status, body
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].endswith("/" + code)
    if field is not None:
        assert body["field"] == field, body
    assert await api.events(sid) == before, "a rejected request wrote to the event log"


SHEET_CASES = [
    # (description, raw body bytes or JSON doc, headers, status, code, field)
    ("malformed JSON", b'{"stage": "scoring", "bids": {', None, 400, "malformed_body", None),
    (
        "not UTF-8",
        '{"stage": "scoring", "bids": {"B1": "é"}}'.encode("latin-1"),
        None,
        400,
        "malformed_body",
        None,
    ),
    ("top-level array", b"[1, 2]", None, 400, "malformed_body", None),
    (
        "NaN",
        b'{"stage": "scoring", "bids": {"B1": {"T1": NaN}}}',
        None,
        400,
        "malformed_body",
        None,
    ),
    (
        "duplicate key",
        b'{"stage": "scoring", "stage": "scoring", "bids": {}}',
        None,
        400,
        "malformed_body",
        "stage",
    ),
    (
        "wrong content type",
        b"stage=scoring",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "unknown top-level field",
        {**scoring_sheet(), "note": "x"},
        None,
        422,
        "invalid_input",
        "note",
    ),
    (
        "unknown criterion",
        {
            "stage": "scoring",
            "bids": {b: {"T1": "1", "C1": "1", "X9": "1"} for b in ("B1", "B2", "B3")},
        },
        None,
        422,
        "invalid_input",
        "bids/B1/X9",
    ),
    ("missing bid", scoring_sheet(bids=("B1", "B2")), None, 422, "invalid_input", "bids/B3"),
    (
        "unknown bid",
        {"stage": "scoring", "bids": {**scoring_sheet()["bids"], "B9": {}}},
        None,
        422,
        "invalid_input",
        "bids/B9",
    ),
    ("score above max", scoring_sheet(t1="50.5"), None, 422, "invalid_input", "bids/B1/T1"),
    ("negative score", scoring_sheet(c1="-1"), None, 422, "invalid_input", "bids/B1/C1"),
    ("off-step score", scoring_sheet(t1="12.25"), None, 422, "invalid_input", "bids/B1/T1"),
    (
        "boolean as score",
        {"stage": "scoring", "bids": {b: {"T1": True, "C1": "1"} for b in ("B1", "B2", "B3")}},
        None,
        422,
        "invalid_input",
        "bids/B1/T1",
    ),
    ("float-looking text", scoring_sheet(t1="ten"), None, 422, "invalid_input", "bids/B1/T1"),
    ("wrong stage", {"stage": "qualification", "bids": {}}, None, 422, "invalid_input", "stage"),
    ("missing stage", {"bids": {}}, None, 422, "invalid_input", "stage"),
]


@pytest.mark.parametrize(
    ("desc", "body", "headers", "status", "code", "field"),
    SHEET_CASES,
    ids=[c[0] for c in SHEET_CASES],
)
async def test_bad_sheet_is_rejected_and_nothing_is_written(
    api: Harness,
    desc: str,
    body: Any,
    headers: dict[str, str] | None,
    status: int,
    code: str,
    field: str | None,
) -> None:
    sid, experts = await api.to_stage("scoring")
    before = await api.events(sid)
    h = {"Idempotency-Key": "bad-input-key", **(headers or {})}
    if isinstance(body, bytes):
        h.setdefault("Content-Type", "application/json")
        result = await api.call(
            "POST", f"/api/sessions/{sid}/sheets", experts[0][1], data=body, headers=h
        )
    else:
        result = await api.call(
            "POST", f"/api/sessions/{sid}/sheets", experts[0][1], json=body, headers=h
        )
    await _assert_rejected(api, sid, result, status, code=code, field=field, before=before)
    # The same key can still be used for a good sheet afterwards: nothing was remembered.
    ok = await api.submit(sid, experts[0][1], scoring_sheet(), key="bad-input-key")
    assert ok[0] == 201, ok


async def test_oversized_body_is_413(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    before = await api.events(sid)
    limit = api.settings.server.max_body_bytes
    body = json.dumps({"stage": "scoring", "bids": {"B1": {"T1": "1" * (limit + 10)}}}).encode()
    result = await api.call(
        "POST",
        f"/api/sessions/{sid}/sheets",
        experts[0][1],
        data=body,
        headers={"Idempotency-Key": "too-big-key", "Content-Type": "application/json"},
    )
    await _assert_rejected(
        api, sid, result, 413, code="payload_too_large", field=None, before=before
    )


async def test_missing_idempotency_key_on_sheets(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    before = await api.events(sid)
    result = await api.call(
        "POST", f"/api/sessions/{sid}/sheets", experts[0][1], json=scoring_sheet()
    )
    await _assert_rejected(
        api, sid, result, 422, code="invalid_input", field="Idempotency-Key", before=before
    )


COMMAND_CASES = [
    ("unknown command", "op", {"command": "launch"}, 422, "invalid_input", "command"),
    ("missing command", "op", {"reason": "x"}, 422, "invalid_input", "command"),
    (
        "unknown field",
        "op",
        {"command": "lock_scoring", "force": True},
        422,
        "invalid_input",
        "force",
    ),
    ("missing reason", "op", {"command": "pause"}, 422, "invalid_input", "reason"),
    ("empty reason", "op", {"command": "pause", "reason": " "}, 422, "invalid_input", "reason"),
    ("wrong state", "op", {"command": "seal"}, 409, "invalid_transition", None),
    ("wrong role", "expert", {"command": "lock_scoring"}, 403, "forbidden", None),
    ("wrong venue", "js", {"command": "lock_scoring"}, 403, "forbidden", None),
    ("not yet all sheets", "op", {"command": "lock_scoring"}, 409, "conflict", None),
    ("seat out of range", "op", {"command": "check_in", "seat": 99}, 422, "invalid_input", "seat"),
    ("string seat", "op", {"command": "check_in", "seat": "0"}, 422, "invalid_input", "seat"),
]


@pytest.mark.parametrize(
    ("desc", "who", "body", "status", "code", "field"),
    COMMAND_CASES,
    ids=[c[0] for c in COMMAND_CASES],
)
async def test_bad_command_is_rejected_and_nothing_is_written(
    api: Harness,
    desc: str,
    who: str,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    sid, experts = await api.to_stage("scoring")
    before = await api.events(sid)
    token = {"op": api.op(), "js": api.op("js-suzhou"), "expert": experts[0][1]}[who]
    result = await api.call("POST", f"/api/sessions/{sid}/commands", token, json=body)
    await _assert_rejected(api, sid, result, status, code=code, field=field, before=before)


async def test_invalid_transition_names_state_and_command(api: Harness) -> None:
    sid, _ = await api.to_stage("drawing")
    status, body = await api.command(sid, api.op(), "lock_scoring")
    assert status == 409
    assert (body["state"], body["command"]) == ("drawing", "lock_scoring")
    assert body["detail"] == "cannot lock_scoring: session is drawing"


REGISTRATION_CASES = [
    ("bad USCC check character", ("bids", 0, "uscc"), "91310000A100000001", "bids/0/uscc"),
    ("price as float", ("bids", 0, "price_fen"), 12.5, "bids/0/price_fen"),
    ("zero price", ("bids", 0, "price_fen"), 0, "bids/0/price_fen"),
    ("unknown region", ("primary_venue", "region"), "BJ", "primary_venue/region"),
    ("unknown category", ("criteria", 1, "category"), "beauty", "criteria/1/category"),
    ("max points too high", ("criteria", 1, "max_points"), 500, "criteria/1/max_points"),
    ("unknown method", ("method",), "lottery", "method"),
    ("unknown field", ("bids", 0, "discount"), 5, "bids/0/discount"),
    # The tender's recusal inputs (docs/draw.md §6.1), read by the draw from the session.
    ("tenderer USCC check character", ("tenderer_uscc",), "9131011513220001XM",
     "tenderer_uscc"),
    ("tenderer USCC of 17 characters", ("tenderer_uscc",), "9131011513220001X",
     "tenderer_uscc"),
    ("tenderer USCC missing", ("tenderer_uscc",), None, "tenderer_uscc"),
    ("tender number with a space", ("tender_number",), "CS 2026", "tender_number"),
    ("tender number empty", ("tender_number",), "", "tender_number"),
    ("department USCC", ("supervising_departments", 0, "uscc"), "91310115000000019N",
     "supervising_departments/0/uscc"),
    ("department without a name", ("supervising_departments", 0, "name"), " ",
     "supervising_departments/0/name"),
    ("empty principal", ("bids", 1, "principals"), ["沈立新", ""], "bids/1/principals/1"),
    ("legal representative padded", ("bids", 0, "legal_representative"), " 顾建华",
     "bids/0/legal_representative"),
]


@pytest.mark.parametrize(
    ("desc", "path", "value", "field"), REGISTRATION_CASES, ids=[c[0] for c in REGISTRATION_CASES]
)
async def test_bad_registration_names_the_field(
    api: Harness, desc: str, path: tuple[Any, ...], value: Any, field: str
) -> None:
    doc = session_doc()
    target: Any = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    if value is None:
        del target[path[-1]]
    status, body = await api.call("POST", "/api/sessions", api.op(), json=doc)
    assert status == 422, body
    assert body["field"] == field, body
    _, listed = await api.call("GET", "/api/sessions", api.sup)
    assert listed["sessions"] == []


async def test_a_bad_tenderer_uscc_is_explained_in_chinese(api: Harness) -> None:
    status, body = await api.call("POST", "/api/sessions", api.op(),
                                  json=session_doc(tenderer_uscc="9131011513220001XM"))
    assert status == 422 and body["field"] == "tenderer_uscc", body
    (error,) = body["errors"]
    assert "统一社会信用代码" in error["reason"] and "'N'" in error["reason"], error


async def test_bids_registered_later_keep_their_principals(api: Harness) -> None:
    sid, _ = await api.create()
    bid = {"id": "B4", "bidder": "丁公司", "uscc": uscc("D4"), "price_fen": 90_000_00,
           "legal_representative": "丁一", "principals": ["丁二"]}
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(),
                                  json={**bid, "principals": ["丁二", "\t"]})
    assert status == 422 and body["field"] == "principals/1", body
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json=bid)
    assert status == 201, body
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.op())
    (added,) = [b for b in doc["bids"] if b["id"] == "B4"]
    assert (added["legal_representative"], added["principals"]) == ("丁一", ["丁二"])


async def test_registering_for_another_venue_is_forbidden(api: Harness) -> None:
    status, _body = await api.call("POST", "/api/sessions", api.op("js-suzhou"), json=session_doc())
    assert status == 403
    _, listed = await api.call("GET", "/api/sessions", api.sup)
    assert listed["sessions"] == []


async def test_expired_and_forged_tokens_are_401(api: Harness) -> None:
    from conftest import make_token

    expired = make_token(api.settings, "supervisor", ttl=-10)
    status, body = await api.call("GET", "/api/sessions", expired)
    assert status == 401 and "expired" in body["detail"]
    forged = api.sup[:-4] + ("AAAA" if not api.sup.endswith("AAAA") else "BBBB")
    status, body = await api.call("GET", "/api/sessions", forged)
    assert status == 401


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["B1", "B2", "B3", "T1", "C1", "scoring", "qualification", "1.5"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["stage", "bids", "B1", "B2", "B3", "T1", "C1", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=json_values)
async def test_random_sheets_never_cause_a_500(api: Harness, body: Any) -> None:
    # One session per test function (hypothesis reuses the fixture across examples).
    if not hasattr(api, "_fuzz"):
        api._fuzz = await api.to_stage("scoring")  # type: ignore[attr-defined]
    sid, experts = api._fuzz  # type: ignore[attr-defined]
    status, problem = await api.call(
        "POST",
        f"/api/sessions/{sid}/sheets",
        experts[0][1],
        json=body,
        headers={"Idempotency-Key": "fuzzing-key-1"},
    )
    if status != 201:
        assert 400 <= status < 500, problem
        assert problem["detail"]
