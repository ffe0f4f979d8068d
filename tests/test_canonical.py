"""Canonical JSON: our fast path agrees with the rfc8785 reference byte for byte."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evalsvc.canonical import canonical_bytes, canonical_plain_bytes, storage_json, to_jsonable

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # incl. controls, astral
leaves = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | text
docs = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=25,
)


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
