"""Canonical JSON: our fast path agrees with the rfc8785 reference byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evalsvc.canonical import (
    canonical_bytes,
    canonical_plain_bytes,
    one_shot,
    storage_json,
    to_jsonable,
)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # incl. controls, astral
leaves = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | text


def _trees(of: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON documents (lists and objects, up to 25 leaves) of the leaves ``of``."""
    return st.recursive(
        of,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=25,
    )


docs = _trees(leaves)


@settings(max_examples=500)
@given(docs)
def test_fast_path_equals_rfc8785(doc: Any) -> None:
    assert canonical_bytes(doc) == bytes(rfc8785.dumps(doc))


@settings(max_examples=500)
@given(st.dictionaries(text, docs, max_size=4))
def test_plain_path_equals_rfc8785(doc: dict[str, Any]) -> None:
    # (score sheets take it: keys a bidder or an operator chose, astral ones included)
    assert canonical_plain_bytes(doc) == bytes(rfc8785.dumps(doc))


def test_rfc8785_key_order_is_utf16_not_code_points() -> None:
    doc = {"\U0001f600": 1, "\ufb01": 2}  # astral sorts before U+FB01 in UTF-16
    assert canonical_bytes(doc) == bytes(rfc8785.dumps(doc))
    assert canonical_bytes(doc).index("\U0001f600".encode()) < canonical_bytes(doc).index(
        "\ufb01".encode()
    )


def test_decimals_become_strings_and_floats_are_refused() -> None:
    assert canonical_bytes({"p": Decimal("8.50")}) == b'{"p":"8.50"}'
    assert to_jsonable((Decimal("1"), {"a": (1,)})) == ["1", {"a": [1]}]
    with pytest.raises(TypeError, match="floats"):
        canonical_bytes({"p": 8.5})


def test_unsafe_integers_are_refused_like_the_reference() -> None:
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_bytes({"n": 2**60})


def test_storage_json_is_deterministic() -> None:
    assert storage_json({"b": 1, "a": Decimal("2.0")}) == '{"a":"2.0","b":1}'


def _decimal_as_text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


ENCODERS = [
    json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_decimal_as_text),
    json.JSONEncoder(sort_keys=True, ensure_ascii=True, default=_decimal_as_text),
]
any_docs = _trees(leaves | st.floats() | st.integers() | st.decimals(allow_nan=False))


@settings(max_examples=300)
@given(any_docs)
def test_an_encoder_built_once_writes_what_its_json_encoder_writes(doc: Any) -> None:
    """canonical.py's encoders keep their C encoder (one_shot): the text is the one
    ``JSONEncoder.encode`` gives, floats, big integers, Decimals and escapes included."""
    def outcome(encode: Any) -> tuple[str, str]:
        try:
            return "text", encode(doc)
        except (TypeError, ValueError) as exc:  # (a Decimal where no default takes it)
            return type(exc).__name__, str(exc)

    for encoder in ENCODERS:
        assert outcome(one_shot(encoder)) == outcome(encoder.encode)


def test_an_encoder_built_once_refuses_what_its_json_encoder_refuses_and_goes_on() -> None:
    for encoder in ENCODERS:
        encode = one_shot(encoder)
        with pytest.raises(TypeError, match=r"not JSON seriali[sz]able"):
            encode({"a": [1, {"b": object()}]})
        # Nothing of the refused document is left in the encoder.
        assert encode({"a": [1, {"b": 2}]}) == encoder.encode({"a": [1, {"b": 2}]})
