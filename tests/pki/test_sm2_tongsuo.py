"""The Tongsuo SM2 test PKI (vectors/sm2-tongsuo; provenance in vectors/README.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from evalsvc.errors import CertificateExpired, SignatureInvalid, WrongKeyUsage
from evalsvc.pki.devpki import DevPki
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import issued_by, verify_signature
from evalsvc.pki.sm2 import Sm2PrivateKey
from evalsvc.pki.trust import RegionTrust, TrustConfig
from evalsvc.pki.validate import Usage, validate

from .conftest import load_vector_cert

# Some vectors carry non-positive serial numbers (RFC 5280 §4.1.2.2 forbids them, real CAs
# issue them); cryptography warns on every access. The warning is not what is tested.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tongsuo() -> TrustConfig:
    return TrustConfig.of(
        RegionTrust(
            code="TS",
            name="Tongsuo test PKI",
            anchors=(load_vector_cert("sm2-tongsuo/root.crt"),),
            intermediates=(load_vector_cert("sm2-tongsuo/sub.crt"),),
        )
    )


def test_client_sign_is_accepted_for_signing(tongsuo: TrustConfig) -> None:
    leaf = load_vector_cert("sm2-tongsuo/client_sign.crt")
    result = validate(
        leaf, trust=tongsuo, at=AT, usage=Usage.SIGNING, revocation=RevocationMode.OFF
    )
    assert result.region == "TS"
    assert result.algorithm == "sm2"
    assert [c.subject.rfc4514_string().split(",")[0] for c in result.chain] == [
        "CN=client sign",
        "CN=sub ca",
        "CN=root ca",
    ]


def test_client_sign_expire_is_rejected_as_expired(tongsuo: TrustConfig) -> None:
    leaf = load_vector_cert("sm2-tongsuo/client_sign_expire.crt")
    with pytest.raises(CertificateExpired, match="expired at 2001-01-01"):
        validate(leaf, trust=tongsuo, at=AT, usage=Usage.SIGNING)


@pytest.mark.parametrize("usage", [Usage.SIGNING, Usage.LOGIN])
def test_client_enc_is_refused_for_signing_and_login(tongsuo: TrustConfig, usage: Usage) -> None:
    leaf = load_vector_cert("sm2-tongsuo/client_enc.crt")
    with pytest.raises(WrongKeyUsage, match="encryption-only"):
        validate(leaf, trust=tongsuo, at=AT, usage=usage)


def test_chain_signatures_verify_with_default_signer_id() -> None:
    root = load_vector_cert("sm2-tongsuo/root.crt")
    sub = load_vector_cert("sm2-tongsuo/sub.crt")
    leaf = load_vector_cert("sm2-tongsuo/client_sign.crt")
    assert issued_by(root, root) and issued_by(sub, root) and issued_by(leaf, sub)
    assert not issued_by(leaf, root)


def test_signature_with_empty_signer_id_is_rejected(pki: DevPki) -> None:
    # Tongsuo ships no private keys; an SM2 key of the generated dev PKI stands in.
    leaf = pki.leaves["expert-zhang-ZJ"]
    assert isinstance(leaf.key, Sm2PrivateKey)
    data = b'{"sheet":"s-1"}'
    verify_signature(leaf.cert, data, leaf.key.sign(data))
    with pytest.raises(SignatureInvalid, match="signer id '1234567812345678'"):
        verify_signature(leaf.cert, data, leaf.key.sign(data, signer_id=b""))
