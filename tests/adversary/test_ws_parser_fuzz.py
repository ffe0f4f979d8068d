"""Fuzz of the WebSocket message parser (evalsvc/sessions/protocol.py) with what an
insider would send: deep nesting, huge and out-of-range numbers, lone surrogates,
NaN, duplicate keys, truncation. Every frame parses or is refused with one of the
codes docs/protocol.md lists — never an exception that would become internal_error."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsvc.errors import InvalidInput
from evalsvc.http_errors import ws_error_for
from evalsvc.sessions import protocol as p

DOCUMENTED = {
    "invalid_input",
    "malformed_body",
    "binary_not_supported",
    "message_too_large",
    "unknown_type",
}
TYPES = ["auth", "hello", "submit", "command", "heartbeat", "add_checkpoint_response", "x"]
FIELDS = ["type", "id", "token", "method", "epoch", "last_seq", "witness", "seq", "sheet",
          "body", "status", "content_type", "stage", "bids", "B1", "T1"]

numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**53 - 3, max_value=2**80).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e400", "1E-999", "-0", "0.1", "30.5", "1e2",
         "0e-99999999", "1." + "5" * 80]
    ),
)
strings = st.one_of(
    st.text(max_size=20).map(json.dumps),  # json.dumps writes surrogates as \\udXXX
    st.sampled_from(['"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"', '"a\\ud83d"', '"\\\\ud800"',
                     '"sheet-0001"', '"evs1.a.b"', '"tls"', '"scoring"']),
)
atoms = st.one_of(numbers, strings, st.sampled_from(["true", "false", "null"]))
keys = st.one_of(st.sampled_from(FIELDS).map(json.dumps), strings)


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
    objects = st.lists(st.tuples(keys, children), max_size=4).map(
        lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"
    )
    return arrays | objects


values = st.recursive(atoms, _containers, max_leaves=25)
deep = st.tuples(st.integers(1, 5000), st.sampled_from(["[", '{"a":['])).map(
    lambda t: t[1] * t[0] + "1" + ("]" if t[1] == "[" else "]}") * t[0]
)
messages = st.builds(
    lambda kind, fields: "{" + ",".join([f'"type":{json.dumps(kind)}', *fields]) + "}",
    st.sampled_from(TYPES),
    st.lists(st.tuples(keys, values | deep).map(lambda kv: f"{kv[0]}:{kv[1]}"), max_size=5),
)
frames = st.one_of(
    messages,
    values,
    deep,
    # Truncated and spliced messages.
    st.tuples(messages, st.integers(0, 200)).map(lambda t: t[0][: t[1]]),
    st.tuples(messages, st.text(max_size=5), st.integers(0, 100)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    ),
)


def _check(raw: str) -> None:
    try:
        msg = p.parse_client_message(raw)
    except InvalidInput as exc:
        assert exc.code in DOCUMENTED, exc.code
        assert exc.message
        code, _message, _field = ws_error_for(exc)
        assert code != "internal_error"
        # The error message is sent back: it must encode.
        p.error_message(p.message_id(raw), code, exc.message, field=exc.field).encode("utf-8")
    else:
        assert isinstance(msg, p.Auth | p.Hello | p.Submit | p.Command | p.Heartbeat
                          | p.WitnessAnswer)
        # Whatever was accepted can be stored and sent back (no lone surrogate got in).
        p.dumps({"echo": msg.__dict__}).encode("utf-8")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames)
def test_hostile_frames_parse_or_get_a_documented_code(raw: str) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_gets_a_documented_code(raw: str) -> None:
    _check(raw)
