"""Bearer tokens (pure): one spelling per token, claims of one shape, the app's cache
and deny list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.auth import TokenRevoked, TokenVerifier, issue_token, token_expiry, verify_token
from evalsvc.errors import InvalidInput, Unauthenticated

SECRET = b"k" * 32


def _token(**kw: object) -> str:
    args: dict[str, object] = {
        "role": "supervisor",
        "subject": "sup-zhao",
        "name": "赵",
        "venue": None,
        "now": 1000,
        "ttl_seconds": 600,
        "nonce": "a1b2c3d4e5f60718",
    }
    args.update(kw)
    return issue_token(SECRET, **args)  # type: ignore[arg-type]


def test_a_token_round_trips_with_its_id_and_expiry() -> None:
    p = verify_token(SECRET, _token(), now=1001)
    assert (p.actor, p.name, p.token_id, p.expires_at) == (
        "supervisor:sup-zhao",
        "赵",
        "a1b2c3d4e5f60718",
        1600,
    )
    assert token_expiry(_token()) == 1600


@given(st.integers(min_value=0), st.characters(codec="utf-8"))
def test_every_other_spelling_is_refused(pos: int, ch: str) -> None:
    token = _token()
    i = pos % (len(token) + 1)
    for other in (token[:i] + ch + token[i:], token[:i] + ch + token[i + 1 :]):
        if other == token:
            continue
        with pytest.raises(Unauthenticated):
            verify_token(SECRET, other, now=1001)


def test_a_subject_and_an_id_are_required() -> None:
    with pytest.raises(InvalidInput, match="subject"):
        _token(subject=" ")
    with pytest.raises(InvalidInput, match="token id"):
        _token(nonce="a b")


def test_the_verifier_caches_until_expiry_and_refuses_revoked_ids() -> None:
    v = TokenVerifier(SECRET)
    t = _token()
    assert v.verify(t, now=1001).subject == "sup-zhao"
    assert v.verify(t, now=1001) is v.verify(t, now=1002)  # cached
    with pytest.raises(Unauthenticated, match="expired"):
        v.verify(t, now=1600)
    assert v.revoke([("a1b2c3d4e5f60718", 1600), ("other", None)]) == {
        "a1b2c3d4e5f60718",
        "other",
    }
    assert v.revoke([("other", None)]) == set()
    with pytest.raises(TokenRevoked) as exc:
        v.verify(t, now=1001)
    assert exc.value.code == "token_revoked"
    v.prune(1600)  # expired: refused as expired anyway, no need to remember
    assert not v.is_revoked("a1b2c3d4e5f60718") and v.is_revoked("other")
