"""GB 32100 and GB 11643 check characters."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from evalsvc.ids import (
    USCC_ALPHABET,
    mask_resident_id,
    resident_id_check_char,
    uscc_check_char,
    validate_resident_id,
    validate_uscc,
)


def test_published_examples() -> None:
    # Codes printed on public business licences.
    assert validate_uscc("91350100M000100Y43") is None
    assert validate_uscc("911100001000044477") is None
    # GB 11643-1999 appendix example.
    assert validate_resident_id("11010519491231002X") is None


def test_reasons_name_the_problem() -> None:
    assert "18 characters" in (validate_uscc("9135") or "")
    assert "outside GB 32100" in (validate_uscc("91350100M000100YI3") or "")
    assert "expected '3'" in (validate_uscc("91350100M000100Y4X") or "")
    assert "expected 'X'" in (validate_resident_id("110105194912310021") or "")
    assert "not a date" in (validate_resident_id("110105194913310021") or "")


@given(
    st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17),
    st.integers(0, 16),
    st.sampled_from(USCC_ALPHABET),
)
def test_uscc_any_single_substitution_is_caught(body: str, pos: int, ch: str) -> None:
    code = body + uscc_check_char(body)
    assert validate_uscc(code) is None
    changed = code[:pos] + ch + code[pos + 1 :]
    assert (validate_uscc(changed) is None) == (changed == code)


@given(
    st.dates(min_value=dt.date(1900, 1, 1)),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.integers(0, 16),
    st.sampled_from("0123456789"),
)
def test_resident_id_any_single_substitution_is_caught(
    d: object, digits: str, pos: int, ch: str
) -> None:
    born = d.strftime("%Y%m%d")  # type: ignore[attr-defined]
    first17 = digits[:6] + born + digits[6:9]
    number = first17 + resident_id_check_char(first17)
    assert validate_resident_id(number) is None
    changed = number[:pos] + ch + number[pos + 1 :]
    if changed != number:
        assert validate_resident_id(changed) is not None


def test_mask_keeps_prefix_and_last() -> None:
    assert mask_resident_id("11010519491231002X") == "110105***********X"
