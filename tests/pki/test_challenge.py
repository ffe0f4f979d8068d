"""Certificate login: challenge, signature, one verification call."""

from __future__ import annotations

import datetime as dt

import pytest

from evalsvc.errors import InvalidInput, SignatureInvalid, Unauthenticated, WrongCertificateRole
from evalsvc.pki.challenge import Challenge, make_challenge, verify_challenge_response
from evalsvc.pki.devpki import ZHANG_ID, DevPki
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import sign
from evalsvc.pki.trust import TrustConfig

from .conftest import NOW

NONCE = bytes(range(32))


def _challenge(session: str = "S-2026-0001", purpose: str = "login") -> Challenge:
    return make_challenge(
        nonce=NONCE,
        session=session,
        purpose=purpose,
        audience="https://primary.sh.evalsvc.test",
        issued_at=NOW,
    )


def test_signing_bytes_are_canonical_and_name_everything() -> None:
    c = _challenge()
    assert c.signing_bytes() == (
        b'{"audience":"https://primary.sh.evalsvc.test","expires_at":"2026-06-01T08:02:00Z",'
        b'"issued_at":"2026-06-01T08:00:00Z","nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",'
        b'"purpose":"login","session":"S-2026-0001","type":"evalsvc-cert-challenge/v1"}'
    )
    assert Challenge.from_json(c.to_json()) == c


@pytest.mark.parametrize(
    "name", ["expert-zhang-SH", "expert-li-JS", "expert-zhang-ZJ", "expert-wang-AH"]
)
def test_login_with_each_algorithm(pki: DevPki, trust: TrustConfig, name: str) -> None:
    leaf = pki.leaves[name]
    c = _challenge()
    proof = verify_challenge_response(
        c,
        certificate=leaf.cert,
        signature=sign(leaf.key, c.signing_bytes()),
        trust=trust,
        at=NOW + dt.timedelta(seconds=5),
        revocation=RevocationMode.REQUIRE,
    )
    assert proof.identity.kind.value == "person"
    assert proof.validation.region == name.rsplit("-", 1)[1]


def test_same_person_logs_in_with_either_province(pki: DevPki, trust: TrustConfig) -> None:
    c = _challenge()
    keys = set()
    for name in ("expert-zhang-SH", "expert-zhang-ZJ"):
        leaf = pki.leaves[name]
        proof = verify_challenge_response(
            c,
            certificate=leaf.cert,
            signature=sign(leaf.key, c.signing_bytes()),
            trust=trust,
            at=NOW,
        )
        keys.add(proof.identity.key)
    assert keys == {f"person:{ZHANG_ID}"}


def test_expired_challenge(pki: DevPki, trust: TrustConfig) -> None:
    leaf = pki.leaves["expert-li-JS"]
    c = _challenge()
    with pytest.raises(Unauthenticated, match="ask for a new one"):
        verify_challenge_response(
            c,
            certificate=leaf.cert,
            signature=sign(leaf.key, c.signing_bytes()),
            trust=trust,
            at=NOW + dt.timedelta(minutes=3),
        )


def test_signature_for_another_session_is_refused(pki: DevPki, trust: TrustConfig) -> None:
    leaf = pki.leaves["expert-zhang-ZJ"]
    other = _challenge(session="S-2026-0002")
    with pytest.raises(SignatureInvalid):
        verify_challenge_response(
            _challenge(),
            certificate=leaf.cert,
            signature=sign(leaf.key, other.signing_bytes()),
            trust=trust,
            at=NOW,
        )


def test_venue_certificate_cannot_log_in_as_expert(pki: DevPki, trust: TrustConfig) -> None:
    leaf = pki.leaves["venue-JS-client"]
    c = _challenge()
    with pytest.raises(WrongCertificateRole):
        verify_challenge_response(
            c,
            certificate=leaf.cert,
            signature=sign(leaf.key, c.signing_bytes()),
            trust=trust,
            at=NOW,
        )


def test_venue_agent_signed_challenge_fallback(pki: DevPki, trust: TrustConfig) -> None:
    leaf = pki.leaves["venue-ZJ-client"]  # SM2-only venue: no mutual TLS
    c = _challenge(purpose="venue-agent")
    proof = verify_challenge_response(
        c, certificate=leaf.cert, signature=sign(leaf.key, c.signing_bytes()), trust=trust, at=NOW
    )
    assert proof.identity.kind.value == "organisation"


@pytest.mark.parametrize(("nonce", "purpose"), [(b"short", "login"), (NONCE, "anything")])
def test_bad_challenge_parameters(nonce: bytes, purpose: str) -> None:
    with pytest.raises(InvalidInput):
        make_challenge(nonce=nonce, session="s", purpose=purpose, audience="a", issued_at=NOW)


def test_parse_presented_chain(pki: DevPki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from evalsvc.pki.challenge import parse_presented_chain

    leaf = pki.leaves["expert-zhang-ZJ"].cert
    inter = pki.regions["ZJ"].intermediate.cert
    got_leaf, got_inter = parse_presented_chain(
        leaf.public_bytes(Encoding.PEM) + inter.public_bytes(Encoding.PEM)
    )
    assert got_leaf == leaf and got_inter == (inter,)
    assert parse_presented_chain(leaf.public_bytes(Encoding.DER)) == (leaf, ())
    with pytest.raises(InvalidInput, match="does not parse"):
        parse_presented_chain(b"garbage")
