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


def test_a_supervisor_token_carries_its_scope_and_a_site_supervisor_its_venue() -> None:
    p = verify_token(SECRET, _token(scope=("s-0123456789ab", "CS-2026-0001")), now=1001)
    assert p.scope == ("CS-2026-0001", "s-0123456789ab")  # (sorted, canonical)
    assert verify_token(SECRET, _token(), now=1001).scope is None  # every session
    p = verify_token(SECRET, _token(role="site_supervisor", venue="js-suzhou"), now=1001)
    assert (p.role, p.venue, p.scope) == ("site_supervisor", "js-suzhou", None)
    with pytest.raises(InvalidInput, match="venue"):
        _token(role="site_supervisor")
    with pytest.raises(InvalidInput, match="only a supervisor token has a scope"):
        _token(role="site_supervisor", venue="js-suzhou", scope=("CS-2026-0001",))
    for bad in ((), ("has space",), ("",), tuple(f"s{i}" for i in range(101))):
        with pytest.raises(InvalidInput, match="scope"):
            _token(scope=bad)


def test_signed_claims_of_a_wrong_shape_are_refused() -> None:
    """A claim set the issuer never writes — a scope on an operator, a site supervisor
    without a venue, a scope that is not a list of ids — is refused even when signed."""
    import base64
    import hashlib
    import hmac

    from evalsvc.canonical import canonical_bytes

    def forged(**claims: object) -> str:
        base = {"role": "supervisor", "sub": "x", "name": "x", "venue": None, "exp": 2000,
                "jti": "abc"}
        body = "evs1." + base64.urlsafe_b64encode(
            canonical_bytes({**base, **claims})).rstrip(b"=").decode()
        mac = hmac.new(SECRET, body.encode(), hashlib.sha256).digest()
        return body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    assert verify_token(SECRET, forged(scope=["CS-1"]), now=1001).scope == ("CS-1",)
    for claims in ({"role": "operator", "venue": "v", "scope": ["CS-1"]},
                   {"role": "site_supervisor"}, {"scope": "CS-1"}, {"scope": [1]},
                   {"scope": []}):
        with pytest.raises(Unauthenticated, match="shape"):
            verify_token(SECRET, forged(**claims), now=1001)


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
