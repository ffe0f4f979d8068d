"""Signatures over canonical bytes with SM2, ECDSA and RSA keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from evalsvc.errors import SignatureInvalid
from evalsvc.pki.challenge import sign_document, verify_document_signature
from evalsvc.pki.devpki import DevPki
from evalsvc.pki.signatures import sign, verify_signature

SIGNERS = ["expert-zhang-SH", "expert-li-JS", "expert-zhang-ZJ", "expert-wang-AH"]


@pytest.mark.parametrize("name", SIGNERS)
def test_round_trip_and_tamper(pki: DevPki, name: str) -> None:
    leaf = pki.leaves[name]
    data = b"score sheet canonical bytes"
    sig = sign(leaf.key, data)
    verify_signature(leaf.cert, data, sig)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_signature(leaf.cert, data + b"!", sig)
    bad = bytearray(sig)
    bad[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        verify_signature(leaf.cert, data, bytes(bad))


@pytest.mark.parametrize("name", SIGNERS)
def test_document_signatures_are_over_canonical_json(pki: DevPki, name: str) -> None:
    leaf = pki.leaves[name]
    sheet = {"session": "s-1", "expert": "e-7", "scores": [{"criterion": "c1", "points": "87.50"}]}
    sig = sign_document(leaf.key, sheet)
    # Key order does not matter (RFC 8785); content does.
    verify_document_signature(leaf.cert, dict(reversed(list(sheet.items()))), sig)
    with pytest.raises(SignatureInvalid):
        verify_document_signature(leaf.cert, {**sheet, "expert": "e-8"}, sig)


def test_signature_by_another_key(pki: DevPki) -> None:
    sig = sign(pki.leaves["expert-li-JS"].key, b"x")
    with pytest.raises(SignatureInvalid):
        verify_signature(pki.leaves["venue-JS-client"].cert, b"x", sig)


def test_rsa_pss_is_refused_not_guessed(pki: DevPki) -> None:
    leaf = pki.leaves["expert-zhang-SH"]
    assert isinstance(leaf.key, rsa.RSAPrivateKey)
    pss = leaf.key.sign(
        b"x", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    with pytest.raises(SignatureInvalid, match=r"PKCS#1 v1\.5"):
        verify_signature(leaf.cert, b"x", pss)


def test_sm2_signature_must_be_der(pki: DevPki) -> None:
    leaf = pki.leaves["expert-zhang-ZJ"]
    with pytest.raises(SignatureInvalid):
        verify_signature(leaf.cert, b"x", b"\x00" * 64)  # raw r||s is not accepted
