"""The pure WebSocket message parser and builders (no event loop, no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc import jsonin
from evalsvc.errors import InvalidInput, MalformedBody
from evalsvc.sessions import protocol as p

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
TYPES = st.sampled_from(["auth", "hello", "submit", "command", "heartbeat", "x", "", "AUTH"])


@given(st.text(max_size=300) | st.binary(max_size=100))
def test_any_frame_parses_or_is_refused_with_a_code(raw: str | bytes) -> None:
    try:
        msg = p.parse_client_message(raw)
    except InvalidInput as exc:
        assert exc.code in {
            "invalid_input",
            "malformed_body",
            "binary_not_supported",
            "message_too_large",
            "unknown_type",
        }
    else:
        assert isinstance(msg, p.Auth | p.Hello | p.Submit | p.Command | p.Heartbeat)


@given(
    TYPES,
    st.dictionaries(
        st.sampled_from(["id", "token", "epoch", "last_seq", "seq", "sheet", "body"]), JSON
    ),
)
def test_any_object_with_a_type_parses_or_names_what_is_wrong(
    kind: str, fields: dict[str, Any]
) -> None:
    raw = json.dumps({"type": kind, **fields})
    try:
        p.parse_client_message(raw)
    except InvalidInput as exc:
        assert exc.message  # says what was wrong
        if kind not in ("auth", "hello", "submit", "command", "heartbeat"):
            # The strict reader refuses the frame first when a value breaks its rules
            # (an integer beyond ±(2**53-1), a lone surrogate: evalsvc.jsonin).
            try:
                jsonin.loads(raw)
            except MalformedBody:
                assert exc.code == "malformed_body"
            else:
                assert exc.code == "unknown_type"


def test_each_message_type() -> None:
    assert p.parse_client_message('{"type":"auth","token":"evs1.a.b"}') == p.Auth("evs1.a.b")
    assert p.parse_client_message('{"type":"hello","epoch":null,"last_seq":0}') == p.Hello(None, 0)
    assert p.parse_client_message('{"type":"hello","epoch":"ep-1","last_seq":7}') == p.Hello(
        "ep-1", 7
    )
    assert p.parse_client_message(
        '{"type":"submit","id":"sheet-0001","sheet":{"stage":"scoring"}}'
    ) == p.Submit("sheet-0001", {"stage": "scoring"})
    assert p.parse_client_message(
        '{"type":"command","id":"cmd-000001","body":{"command":"pause","reason":"x"}}'
    ) == p.Command("cmd-000001", {"command": "pause", "reason": "x"})
    assert p.parse_client_message('{"type":"heartbeat","seq":12}') == p.Heartbeat(12)
    assert p.parse_client_message(
        '{"type":"hello","epoch":null,"last_seq":0,"witness":true}'
    ) == p.Hello(None, 0, witness=True)


def test_auth_by_the_connection_s_tls_client_certificate() -> None:
    assert p.parse_client_message('{"type":"auth","method":"tls"}') == p.Auth(None, "tls")
    assert p.parse_client_message('{"type":"auth","method":"token","token":"t"}') == p.Auth("t")
    for raw, field in (
        ('{"type":"auth","method":"tls","token":"t"}', "token"),
        ('{"type":"auth","method":"cookie"}', "method"),
        ('{"type":"auth"}', "token"),
    ):
        with pytest.raises(InvalidInput) as caught:
            p.parse_client_message(raw)
        assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("{", "malformed_body", None),
        ("[1]", "malformed_body", None),
        ('{"type":"auth","type":"auth","token":"x"}', "malformed_body", "type"),
        ('{"type":"hello","last_seq":NaN}', "malformed_body", "last_seq"),
        ('{"type":"hello","last_seq":-1}', "invalid_input", "last_seq"),
        ('{"type":"hello","last_seq":true}', "invalid_input", "last_seq"),
        ('{"type":"hello","last_seq":0,"witness":"yes"}', "invalid_input", "witness"),
        ('{"type":"submit","id":"bad id!","sheet":{}}', "invalid_input", "id"),
        ('{"type":"submit","id":"sheet-0001","sheet":[]}', "invalid_input", "sheet"),
        ('{"type":"ping"}', "unknown_type", "type"),
        ('{"kind":"auth"}', "invalid_input", "type"),
        (b"{}", "binary_not_supported", None),
        ("[" * 100_000, "message_too_large", None),
        ("[" * 60_000 + "]" * 60_000, "message_too_large", None),
        ("[" * 20_000 + "]" * 20_000, "malformed_body", None),
    ],
)
def test_refusals_name_the_problem(raw: str | bytes, code: str, field: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        p.parse_client_message(raw)
    assert info.value.code == code
    assert info.value.field == field


def test_builders_write_the_documented_shapes() -> None:
    ev = {
        "seq": 9,
        "type": "sheet.submitted",
        "payload": {"seat": 1, "stage": "scoring", "version": 2, "sha256": "ab"},
        "actor": "expert",
        "venue": "js-suzhou",
        "time_ms": 1700000000000,
    }
    assert json.loads(p.event_message(ev)) == {
        "type": "event",
        "seq": 9,
        "event": "sheet.submitted",
        "payload": ev["payload"],
        "actor": "expert",
        "venue": "js-suzhou",
        "time": 1700000000000,
    }
    assert json.loads(p.ack_message("k-0000001", 9, result={"seq": 9}, replayed=False)) == {
        "type": "ack",
        "id": "k-0000001",
        "seq": 9,
        "replayed": False,
        "result": {"seq": 9},
    }
    assert json.loads(p.error_message(None, "unknown_type", "no", field="type")) == {
        "type": "error",
        "id": None,
        "code": "unknown_type",
        "message": "no",
        "field": "type",
    }
    assert "专家" in p.dumps({"type": "x", "name": "专家"})  # UTF-8, not \\u escapes


def test_chain_hash_depends_on_every_event_and_their_order() -> None:
    a, b = {"seq": 1, "type": "a"}, {"seq": 2, "type": "b"}
    h = p.chain_hash(p.chain_hash("", a), b)
    assert h == p.chain_hash(p.chain_hash("", a), dict(reversed(list(b.items()))))
    assert h != p.chain_hash(p.chain_hash("", b), a)
    assert h != p.chain_hash(p.chain_hash("", a), {**b, "type": "c"})
