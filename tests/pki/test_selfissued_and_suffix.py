"""Two rules added for x509-limbo SERVER ≥ 95 %, tested on their own:

- a wildcard over a public suffix never matches a server name (CABF BR 3.2.2.6);
- self-issued intermediates (CA key rollover) do not count toward the maximum depth
  or pathLenConstraint (RFC 5280 §4.2.1.9, §6.1.4 (l)).
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evalsvc.errors import CertificateRejected
from evalsvc.pki.pathbuild import build_path
from evalsvc.pki.webpki import check_wildcard_suffix

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: str | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
    ca: bool = True,
    pathlen: int | None = None,
    san: tuple[str, ...] = (),
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT - dt.timedelta(days=1))
        .not_valid_after(AT + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), True)
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), False)
    return b.sign(signer or key, hashes.SHA256())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("san", "host", "ok"),
    [
        (("*.com",), "example.com", False),
        (("*.com.cn",), "ggzy.com.cn", False),  # Chinese second-level registry suffix
        (("*.co.uk",), "example.co.uk", False),
        (("*.s3.amazonaws.com",), "bucket.s3.amazonaws.com", False),  # PSL private section
        (("*.ggzy.gov.cn",), "sh.ggzy.gov.cn", True),
        (("s3.amazonaws.com", "*.s3.amazonaws.com"), "s3.amazonaws.com", True),
    ],
)
def test_a_wildcard_over_a_public_suffix_never_matches(
    san: tuple[str, ...], host: str, ok: bool
) -> None:
    leaf = _cert(host, _key(), ca=False, san=san)
    if ok:
        check_wildcard_suffix(leaf, host)
    else:
        with pytest.raises(CertificateRejected, match="public suffix"):
            check_wildcard_suffix(leaf, host)


def test_a_self_issued_rollover_ca_does_not_count_toward_depth_or_pathlen() -> None:
    rk, k1, k2, ek = _key(), _key(), _key(), _key()
    root = _cert("Root", rk)
    ica = _cert("ICA", k1, issuer="Root", signer=rk, pathlen=0)
    # The same CA re-certifies its new key with its old one: self-issued (RFC 5280 §3.2).
    rollover = _cert("ICA", k2, issuer="ICA", signer=k1, pathlen=0)
    leaf = _cert("ee.example", ek, issuer="ICA", signer=k2, ca=False)
    path = build_path(leaf, anchors=[root], intermediates=[ica, rollover], at=AT, max_depth=1)
    assert path == (leaf, rollover, ica, root)
    # Logical CAs still count: Root -> ICA -> ICA(rollover) -> ICA2 -> leaf has two.
    k3 = _key()
    other = _cert("ICA2", k3, issuer="ICA", signer=k2)
    leaf2 = _cert("ee2.example", ek, issuer="ICA2", signer=k3, ca=False)
    loose_ica = _cert("ICA", k1, issuer="Root", signer=rk)
    loose_roll = _cert("ICA", k2, issuer="ICA", signer=k1)
    pool = [loose_roll, loose_ica, other]
    assert len(build_path(leaf2, anchors=[root], intermediates=pool, at=AT, max_depth=2)) == 5
    with pytest.raises(CertificateRejected):
        build_path(leaf2, anchors=[root], intermediates=pool, at=AT, max_depth=1)
    # ... and under a pathLen 0 CA, ICA2 is one too many (the rollover is not).
    with pytest.raises(CertificateRejected):
        build_path(leaf2, anchors=[root], intermediates=[rollover, ica, other], at=AT, max_depth=8)
