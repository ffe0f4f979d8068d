"""The strict JSON reader: every refusal is a MalformedBody that says what was wrong."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.errors import MalformedBody
from evalsvc.jsonin import MAX_DEPTH, MAX_INTEGER, loads, loads_bytes


def refused(text: str) -> MalformedBody:
    with pytest.raises(MalformedBody) as info:
        loads(text)
    assert info.value.message
    return info.value


def test_plain_documents_parse_as_json_does() -> None:
    text = '{"a": [1, "x", null, true, false, {"b": "测试"}], "c": -7}'
    assert loads(text) == json.loads(text)


def test_fractions_are_exact_decimals_from_their_text() -> None:
    assert loads('{"p": 30.5, "q": 1e2, "r": -0.10}') == {
        "p": Decimal("30.5"),
        "q": Decimal("1E+2"),
        "r": Decimal("-0.10"),
    }
    assert str(loads("[0.1]")[0]) == "0.1"


def test_nesting_up_to_the_limit_is_accepted_and_beyond_refused() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    err = refused("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert f"deeper than {MAX_DEPTH}" in err.message
    deep_obj = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    err = refused(deep_obj)
    assert err.field is not None and err.field.startswith("a/a/")


def test_nesting_far_beyond_the_recursion_limit_is_refused_not_crashed() -> None:
    err = refused("[" * 100_000 + "]" * 100_000)
    assert "nested deeper" in err.message


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    s = "[" * (MAX_DEPTH * 2)
    assert loads(json.dumps({"s": s})) == {"s": s}


def test_integers_out_of_the_safe_range_are_refused_before_conversion() -> None:
    assert loads(str(MAX_INTEGER)) == MAX_INTEGER
    assert loads(str(-MAX_INTEGER)) == -MAX_INTEGER
    assert "out of range" in refused(str(MAX_INTEGER + 1)).message
    # Past Python's int-from-str limit (4300 digits) int() itself would raise ValueError.
    err = refused('{"n": ' + "9" * 5000 + "}")
    assert "5000 digits" in err.message


@pytest.mark.parametrize(
    "text", ["1e400", "1e-400", "0e-99999999", "1." + "1" * 60, "-" + "9" * 40 + ".5"]
)
def test_decimals_out_of_range_are_refused(text: str) -> None:
    assert refused(text).message


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(const: str) -> None:
    assert const in refused(f'{{"x": {const}}}').message


def test_duplicate_keys_are_refused_and_named() -> None:
    err = refused('{"stage": "a", "stage": "b"}')
    assert err.field == "stage" and "duplicate key" in err.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"title": "a\\ud800b"}', "title"),
        ('{"bids": {"B1": {"T1": "\\udfff"}}}', "bids/B1/T1"),
        ('{"list": ["ok", "\\ud83d"]}', "list/1"),
        ('{"\\ud800": 1}', None),
        ('{"x": {"\\udc00k": 1}}', "x"),
    ],
)
def test_lone_surrogates_are_refused_with_their_path(text: str, field: str | None) -> None:
    err = refused(text)
    assert "surrogate" in err.message
    assert err.field == field


def test_a_literal_lone_surrogate_in_text_is_refused_too() -> None:
    # Not from a UTF-8 decoder (a WebSocket library, a test): the code point itself.
    err = refused('{"title": "a\ud800"}')
    assert err.field == "title"


def test_surrogate_pairs_are_one_character() -> None:
    assert loads('{"e": "\\ud83d\\ude00"}') == {"e": "\U0001f600"}
    # An escaped backslash followed by "ud800" is six ordinary characters.
    assert loads('["\\\\ud800"]') == ["\\ud800"]


def test_invalid_utf8_is_refused_with_its_offset() -> None:
    with pytest.raises(MalformedBody, match="byte 7"):
        loads_bytes(b'{"a": "\xff"}')
    with pytest.raises(MalformedBody):  # an encoded surrogate is not UTF-8 either
        loads_bytes(b'["\xed\xa0\x80"]')


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"bids": {"B1": {"T1": 1' + "0" * 30 + "}}}", "bids/B1/T1"),
        ('{"bids": {"B1": {"T1": NaN}}}', "bids/B1/T1"),
        ('{"a": [1, 2, 1e999]}', "a/2"),
        ('{"bids": {"B1": {"T1": 1, "T1": 2}}}', "bids/B1/T1"),
        ('{"x": 1, "x": {"y": 2}}', "x"),
        ("[" + "9" * 20 + "]", "0"),
        ("9" * 20, None),
    ],
)
def test_refused_values_are_named_by_their_path(text: str, field: str | None) -> None:
    err = refused(text)
    assert err.field == field
    if field is not None:
        assert err.message.startswith(field + ": ")


def test_malformed_json_says_where() -> None:
    assert "line 1 column" in refused('{"a": ').message


json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(doc=json_text)
def test_any_document_parses_or_is_refused_as_malformed(doc: Any) -> None:
    text = json.dumps(doc)
    try:
        loads(text)
    except MalformedBody as exc:
        assert exc.message


@given(text=st.text(alphabet='[]{}":,0123456789.eE-+\\ud8ab ntrufl', max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    try:
        loads(text)
    except MalformedBody as exc:
        assert exc.message
