"""Property tests for the DER codec and identifier normalisation (pure core)."""

from __future__ import annotations

import contextlib
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from evalsvc.ids import resident_id_check_char
from evalsvc.pki import der
from evalsvc.pki.identity import IdentityKind, normalise_identifier

arcs = st.lists(st.integers(min_value=0, max_value=2**40), min_size=0, max_size=8)


@given(first=st.integers(0, 2), second=st.integers(0, 39), rest=arcs)
def test_oid_round_trip(first: int, second: int, rest: list[int]) -> None:
    dotted = ".".join(str(a) for a in [first, second, *rest])
    assert der.decode_oid(der.parse(der.oid(dotted))) == dotted


@given(st.integers(min_value=-(2**300), max_value=2**300))
def test_integer_round_trip(n: int) -> None:
    assert der.decode_integer(der.parse(der.integer(n))) == n


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_nested_lengths(chunks: list[bytes]) -> None:
    encoded = der.sequence(*(der.octet_string(c) for c in chunks))
    assert [t.content for t in der.parse(encoded).children()] == chunks


@given(st.binary(max_size=64))
def test_parser_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(der.DerError):
        der.parse_all(data)


@given(
    region=st.sampled_from(["310104", "320106", "330102", "340104"]),
    birth=st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2008, 12, 31)),
    seq=st.integers(0, 999),
    prefix=st.sampled_from(["", "ID:", "SF", "sfz-", "身份证：", "IDCARD "]),
)
def test_every_valid_resident_id_normalises_with_any_prefix(
    region: str, birth: dt.date, seq: int, prefix: str
) -> None:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    number = first17 + resident_id_check_char(first17)
    assert normalise_identifier(prefix + number) == (IdentityKind.PERSON, number)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    if prefix:  # a person prefix: never re-read as a USCC
        assert normalise_identifier(prefix + wrong) is None
    else:  # bare 18 digits: at most a (check-valid) USCC, never a person
        assert normalise_identifier(wrong) in (None, (IdentityKind.ORGANISATION, wrong))
