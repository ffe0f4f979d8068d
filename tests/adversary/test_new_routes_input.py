"""Malformed input on the routes of the last rounds — the split-view report, the
designation commands, criteria with guidance — from an insider holding a valid token:
deep nesting, huge numbers, lone surrogates, wrong types. Each is a 4xx problem naming
the field, never a 500, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Harness, session_doc

pytestmark = pytest.mark.db

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
SURROGATE = '"\\ud800"'


def _body(template: str, value: str) -> bytes:
    return template.replace("@", value).encode("utf-8")


SPLIT_VIEW = [
    ("deep evidence", b'{"evidence": ' + DEEP + b"}"),
    ("evidence an array", b'{"evidence": [1, 2]}'),
    ("huge number", b'{"evidence": {"kind": "fork", "trusted": 1' + b"0" * 5000
     + b', "served": "x"}}'),
    ("lone surrogate", _body('{"evidence": {"kind": "fork", "trusted": @, "served": "x"}}',
                             SURROGATE)),
    ("not a checkpoint", b'{"evidence": {"kind": "fork", "trusted": "x", "served": "y"}}'),
    ("wrong kind", b'{"evidence": {"kind": "split", "trusted": "x", "served": "y"}}'),
    ("extra member", b'{"evidence": {"kind": "fork", "trusted": "x", "served": "y"}, "z": 1}'),
]

COMMANDS = [
    ("seat huge", '{"command": "assign_seat", "seat": 1' + "0" * 400
     + ', "expert_id": "E1", "expert_name": "张三"}'),
    ("seat negative", '{"command": "assign_seat", "seat": -1, "expert_id": "E1",'
     ' "expert_name": "张三"}'),
    ("seat a string", '{"command": "assign_seat", "seat": "0", "expert_id": "E1",'
     ' "expert_name": "张三"}'),
    ("seat a float", '{"command": "assign_seat", "seat": 0.5, "expert_id": "E1",'
     ' "expert_name": "张三"}'),
    ("expert id surrogate", '{"command": "assign_seat", "seat": 0, "expert_id": '
     + SURROGATE + ', "expert_name": "张三"}'),
    ("expert name surrogate", '{"command": "assign_seat", "seat": 0, "expert_id": "E1",'
     ' "expert_name": ' + SURROGATE + "}"),
    ("expert name nested", '{"command": "assign_seat", "seat": 0, "expert_id": "E1",'
     ' "expert_name": ' + '{"a":' * 200 + "1" + "}" * 200 + "}"),
    ("expert name huge", '{"command": "assign_seat", "seat": 0, "expert_id": "E1",'
     ' "expert_name": "' + "名" * 20000 + '"}'),
    ("reason a number", '{"command": "designate_experts", "reason": 7}'),
    ("reason surrogate", '{"command": "designate_experts", "reason": ' + SURROGATE + "}"),
    ("approve a string", '{"command": "decide_designation", "approve": "yes", "reason": "x"}'),
]

CRITERIA = [
    ("guidance nested", '{"id": "T9", "name": "售后", "category": "technical",'
     ' "max_points": 5, "guidance": ' + '[' * 300 + "]" * 300 + "}"),
    ("guidance surrogate", '{"id": "T9", "name": "售后", "category": "technical",'
     ' "max_points": 5, "guidance": ' + SURROGATE + "}"),
    ("name surrogate", '{"id": "T9", "name": ' + SURROGATE + ', "category": "technical",'
     ' "max_points": 5}'),
    ("max points huge", '{"id": "T9", "name": "售后", "category": "technical",'
     ' "max_points": 1e999}'),
]


async def _refused(api: Harness, sid: str, path: str, token: str, data: bytes,
                   key: str) -> dict[str, Any]:
    before = await api.events(sid)
    status, body = await api.call("POST", path, token, data=data, headers={
        "Content-Type": "application/json", "Idempotency-Key": key})
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and body.get("detail"), body
    assert await api.events(sid) == before, "a refused request wrote to the log"
    return body


@pytest.mark.parametrize(("what", "data"), SPLIT_VIEW, ids=[c[0] for c in SPLIT_VIEW])
async def test_split_view_refuses_malformed_evidence(api: Harness, what: str,
                                                     data: bytes) -> None:
    sid, _ = await api.create()
    body = await _refused(api, sid, f"/api/sessions/{sid}/audit/split-view",
                          api.op("js-suzhou"), data, f"sv-{abs(hash(what))}")
    # (A body that is no JSON document at all has no field to name.)
    assert body.get("field") or body["code"] == "malformed_body", body


@pytest.mark.parametrize(("what", "data"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_designation_commands_refuse_malformed_input(api: Harness, what: str,
                                                           data: str) -> None:
    sid, _ = await api.create(session_doc())
    # Drawing, no ceremony: the state in which the primary proposes its designation.
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    token = api.sup if "approve" in data else api.op()
    body = await _refused(api, sid, f"/api/sessions/{sid}/commands", token,
                          data.encode("utf-8"), f"cmd-{abs(hash(what))}")
    assert body.get("field"), body


@pytest.mark.parametrize(("what", "data"), CRITERIA, ids=[c[0] for c in CRITERIA])
async def test_criteria_refuse_malformed_input(api: Harness, what: str, data: str) -> None:
    sid, _ = await api.create(session_doc())
    body = await _refused(api, sid, f"/api/sessions/{sid}/criteria", api.op(),
                          data.encode("utf-8"), f"crit-{abs(hash(what))}")
    assert body.get("field"), body
