"""The commit-reveal seed ceremony."""

from __future__ import annotations

import datetime as _dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.errors import InvalidInput
from evalsvc.experts.seed import (
    Commitment,
    InsufficientContributions,
    Reveal,
    combine_seed,
    commitment_digest,
    seed_from_reveals,
    verify_reveal,
)

UTC = _dt.UTC
T0 = _dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
COMMIT_BY = T0 + _dt.timedelta(minutes=10)
REVEAL_BY = T0 + _dt.timedelta(minutes=20)
SESSION = "SH-2026-GC-0042"
SECRETS = {"shanghai": bytes(range(32)), "suzhou": bytes(range(1, 33)),
           "hefei": bytes(range(2, 34))}


def _lp(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def test_commitment_is_sha256_over_length_prefixed_fields() -> None:
    secret = SECRETS["suzhou"]
    expected = hashlib.sha256(_lp(secret) + _lp(b"suzhou") + _lp(SESSION.encode())).hexdigest()
    assert commitment_digest(secret, party="suzhou", session_id=SESSION) == expected
    assert verify_reveal(secret, expected.upper(), party="suzhou", session_id=SESSION)
    assert not verify_reveal(secret, expected, party="hefei", session_id=SESSION)
    assert not verify_reveal(secret, expected, party="suzhou", session_id="other")


def test_length_prefixes_keep_fields_apart() -> None:
    a = commitment_digest(b"k" * 16 + b"ab", party="c", session_id="S")
    b = commitment_digest(b"k" * 16 + b"a", party="bc", session_id="S")
    assert a != b


def test_short_secrets_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 16"):
        commitment_digest(b"short", party="p", session_id="S")


def _ceremony(
    parties: dict[str, bytes],
    *,
    commit_at: _dt.datetime = T0,
    reveal_at: _dt.datetime | None = None,
) -> tuple[list[Commitment], list[Reveal]]:
    reveal_at = reveal_at or COMMIT_BY + _dt.timedelta(minutes=1)
    cs = [Commitment(p, commitment_digest(s, party=p, session_id=SESSION), commit_at)
          for p, s in parties.items()]
    rs = [Reveal(p, s, reveal_at) for p, s in parties.items()]
    return cs, rs


def test_seed_is_sha256_over_session_and_sorted_reveals() -> None:
    cs, rs = _ceremony(SECRETS)
    result = combine_seed(SESSION, cs, rs, commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY)
    expected = hashlib.sha256(
        _lp(SESSION.encode())
        + _lp(b"hefei") + _lp(SECRETS["hefei"])
        + _lp(b"shanghai") + _lp(SECRETS["shanghai"])
        + _lp(b"suzhou") + _lp(SECRETS["suzhou"])
    ).digest()
    assert result.seed == expected
    assert result.contributors == ("hefei", "shanghai", "suzhou")
    assert result.dropped == ()
    assert result.to_json()["seed"] == expected.hex()


@given(st.permutations(list(SECRETS)))
def test_seed_does_not_depend_on_arrival_order(order: list[str]) -> None:
    assert seed_from_reveals(SESSION, {p: SECRETS[p] for p in order}) == seed_from_reveals(
        SESSION, SECRETS
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda cs, rs: rs.pop(), "no_reveal"),
        (lambda cs, rs: rs.__setitem__(-1, Reveal(rs[-1].party, rs[-1].secret,
                                                  REVEAL_BY + _dt.timedelta(seconds=1))),
         "late_reveal"),
        (lambda cs, rs: rs.__setitem__(-1, Reveal(rs[-1].party, rs[-1].secret, COMMIT_BY)),
         "early_reveal"),
        (lambda cs, rs: rs.__setitem__(-1, Reveal(rs[-1].party, b"x" * 32, rs[-1].at)),
         "reveal_mismatch"),
        (lambda cs, rs: cs.__setitem__(-1, Commitment(cs[-1].party, cs[-1].digest,
                                                      COMMIT_BY + _dt.timedelta(seconds=1))),
         "late_commitment"),
        (lambda cs, rs: cs.pop(), "no_commitment"),
    ],
)
def test_a_party_that_fails_is_dropped_and_the_reason_recorded(tamper: object,
                                                               reason: str) -> None:
    cs, rs = _ceremony(SECRETS)  # insertion order shanghai, suzhou, hefei
    tamper(cs, rs)  # type: ignore[operator]
    result = combine_seed(SESSION, cs, rs, commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY)
    assert [(d.party, d.reason) for d in result.dropped] == [("hefei", reason)]
    assert result.contributors == ("shanghai", "suzhou")
    assert result.seed == seed_from_reveals(
        SESSION, {"shanghai": SECRETS["shanghai"], "suzhou": SECRETS["suzhou"]}
    )


def test_fewer_than_two_contributions_is_an_error_naming_the_drops() -> None:
    cs, rs = _ceremony({"shanghai": SECRETS["shanghai"], "suzhou": SECRETS["suzhou"]})
    rs.pop()
    with pytest.raises(InsufficientContributions, match=r"got 1 .*suzhou no_reveal"):
        combine_seed(SESSION, cs, rs, commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY)


def test_duplicate_submissions_are_refused() -> None:
    cs, rs = _ceremony(SECRETS)
    with pytest.raises(InvalidInput, match="two commitments from shanghai"):
        combine_seed(SESSION, [*cs, cs[0]], rs, commit_deadline=COMMIT_BY,
                     reveal_deadline=REVEAL_BY)


def test_reveal_deadline_must_follow_commit_deadline() -> None:
    cs, rs = _ceremony(SECRETS)
    with pytest.raises(InvalidInput, match="after the commitment deadline"):
        combine_seed(SESSION, cs, rs, commit_deadline=REVEAL_BY, reveal_deadline=COMMIT_BY)
