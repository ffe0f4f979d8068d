"""validate(): one accepted case per region/algorithm, and one test per refusal reason."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRejected,
    CertificateRevoked,
    CertificateSignatureInvalid,
    ChainTooDeep,
    RevocationUnavailable,
    UnknownIssuer,
    WrongCertificateRole,
    WrongKeyUsage,
)
from evalsvc.pki.builder import issue_crl
from evalsvc.pki.devpki import DevPki
from evalsvc.pki.identity import IdentityKind
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.trust import RegionTrust, TrustConfig
from evalsvc.pki.validate import Usage, validate

from .conftest import NOW

REQUIRE = RevocationMode.REQUIRE


def _tamper(cert: x509.Certificate) -> x509.Certificate:
    """Flip the last byte (inside the signature value) of the certificate's DER."""
    der = bytearray(cert.public_bytes(Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


@pytest.mark.parametrize(
    ("name", "region", "algorithm", "engine"),
    [
        ("expert-zhang-SH", "SH", "rsa", "cryptography"),
        ("expert-li-JS", "JS", "ecdsa", "cryptography"),
        ("expert-zhang-ZJ", "ZJ", "sm2", "evalsvc"),
        ("expert-wang-AH", "AH", "ecdsa", "cryptography"),
    ],
)
def test_expert_certificates_of_every_region_are_accepted(
    pki: DevPki, trust: TrustConfig, name: str, region: str, algorithm: str, engine: str
) -> None:
    for usage in (Usage.LOGIN, Usage.SIGNING):
        result = validate(
            pki.leaves[name].cert, trust=trust, at=NOW, usage=usage, revocation=REQUIRE
        )
        assert (result.region, result.algorithm, result.engine) == (region, algorithm, engine)
        assert result.identity is not None and result.identity.kind is IdentityKind.PERSON
        assert len(result.chain) == 3 and result.warnings == ()


def test_cross_certificate_ends_the_chain_in_the_cross_signing_region(pki: DevPki) -> None:
    # A Shanghai-only relying party accepts a Jiangsu expert through the SH→JS cross-cert.
    js = pki.regions["JS"]
    result = validate(
        pki.leaves["expert-li-JS"].cert,
        trust=pki.trust("SH"),
        at=NOW,
        usage=Usage.LOGIN,
        intermediates=[js.intermediate.cert],
        crls=js.crls,
        revocation=REQUIRE,
    )
    assert result.region == "SH"
    assert [c.subject for c in result.chain[2:]] == [
        js.root.cert.subject,
        pki.regions["SH"].root.cert.subject,
    ]


def test_expired(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(CertificateExpired, match="expired at"):
        validate(pki.leaves["expert-expired-JS"].cert, trust=trust, at=NOW, usage=Usage.LOGIN)


def test_not_yet_valid(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(CertificateNotYetValid, match="not valid before"):
        validate(
            pki.leaves["expert-li-JS"].cert,
            trust=trust,
            at=NOW - dt.timedelta(days=60),
            usage=Usage.LOGIN,
        )


def test_revoked(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(CertificateRevoked, match="was revoked at"):
        validate(pki.leaves["expert-revoked-SH"].cert, trust=trust, at=NOW, usage=Usage.SIGNING)


def test_revoked_by_an_sm2_signed_crl(pki: DevPki, trust: TrustConfig) -> None:
    zj = pki.regions["ZJ"]
    leaf = pki.leaves["expert-zhang-ZJ"].cert
    crl = issue_crl(
        issuer=zj.intermediate.cert,
        signing_key=zj.intermediate.key,
        this_update=NOW - dt.timedelta(hours=1),
        next_update=NOW + dt.timedelta(days=1),
        revoked=[(leaf.serial_number, NOW - dt.timedelta(hours=2))],
        number=2,
    )
    with pytest.raises(CertificateRevoked):
        validate(leaf, trust=trust, at=NOW, usage=Usage.SIGNING, crls=[crl])


def test_wrong_key_usage_encryption_only(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(WrongKeyUsage, match="encryption-only"):
        validate(pki.leaves["expert-zhao-ZJ-enc"].cert, trust=trust, at=NOW, usage=Usage.LOGIN)


def test_unknown_ca(pki: DevPki) -> None:
    with pytest.raises(UnknownIssuer, match="not a trust anchor of any region"):
        validate(
            pki.leaves["expert-zhang-SH"].cert, trust=pki.trust("AH"), at=NOW, usage=Usage.LOGIN
        )


def test_unknown_ca_sm2(pki: DevPki) -> None:
    with pytest.raises(UnknownIssuer):
        validate(
            pki.leaves["expert-zhang-ZJ"].cert, trust=pki.trust("AH"), at=NOW, usage=Usage.LOGIN
        )


@pytest.mark.parametrize("name", ["expert-zhang-SH", "expert-zhang-ZJ"])
def test_chain_too_deep(pki: DevPki, trust: TrustConfig, name: str) -> None:
    with pytest.raises(ChainTooDeep):
        validate(pki.leaves[name].cert, trust=trust, at=NOW, usage=Usage.LOGIN, max_depth=0)


def test_stale_crl_in_require_mode(pki: DevPki, trust: TrustConfig) -> None:
    later = NOW + dt.timedelta(days=10)  # the intermediates' CRLs expire after 7 days
    with pytest.raises(RevocationUnavailable, match="no fresh CRL"):
        validate(
            pki.leaves["expert-zhang-ZJ"].cert,
            trust=trust,
            at=later,
            usage=Usage.SIGNING,
            revocation=REQUIRE,
        )


def test_stale_crl_soft_fail_warns(pki: DevPki, trust: TrustConfig) -> None:
    later = NOW + dt.timedelta(days=10)
    result = validate(pki.leaves["expert-li-JS"].cert, trust=trust, at=later, usage=Usage.LOGIN)
    assert len(result.warnings) == 1
    assert "no fresh CRL" in str(result.warnings[0])


def test_crl_signed_by_another_key_is_not_trusted(pki: DevPki) -> None:
    sh = pki.regions["SH"]
    forged = issue_crl(
        issuer=sh.intermediate.cert,  # right name ...
        signing_key=pki.regions["JS"].intermediate.key,  # ... wrong key
        this_update=NOW - dt.timedelta(hours=1),
        next_update=NOW + dt.timedelta(days=1),
    )
    region = RegionTrust(
        code="SH",
        name="SH",
        anchors=(sh.root.cert,),
        intermediates=(sh.intermediate.cert,),
        crls=(sh.crls[0], forged),
    )
    with pytest.raises(RevocationUnavailable, match="not signed by the issuer's key"):
        validate(
            pki.leaves["expert-zhang-SH"].cert,
            trust=TrustConfig.of(region),
            at=NOW,
            usage=Usage.SIGNING,
            revocation=REQUIRE,
        )


@pytest.mark.parametrize("name", ["expert-zhang-SH", "expert-li-JS", "expert-zhang-ZJ"])
def test_tampered_certificate_signature(pki: DevPki, trust: TrustConfig, name: str) -> None:
    with pytest.raises(CertificateSignatureInvalid, match="does not verify"):
        validate(_tamper(pki.leaves[name].cert), trust=trust, at=NOW, usage=Usage.LOGIN)


@pytest.mark.parametrize("name", ["venue-SH-server", "venue-JS-client", "venue-ZJ-client"])
def test_venue_certificate_used_as_an_experts(pki: DevPki, trust: TrustConfig, name: str) -> None:
    with pytest.raises(WrongCertificateRole, match="cannot be used as an expert's"):
        validate(pki.leaves[name].cert, trust=trust, at=NOW, usage=Usage.LOGIN)


def test_expert_certificate_used_as_a_venue_agents(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(WrongCertificateRole, match="venue agent"):
        validate(pki.leaves["expert-li-JS"].cert, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT)


@pytest.mark.parametrize("name", ["venue-JS-client", "venue-ZJ-client"])
def test_venue_client_certificates(pki: DevPki, trust: TrustConfig, name: str) -> None:
    result = validate(
        pki.leaves[name].cert, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT, revocation=REQUIRE
    )
    assert result.identity is not None and result.identity.kind is IdentityKind.ORGANISATION


def test_venue_server_name_checked(pki: DevPki, trust: TrustConfig) -> None:
    cert = pki.leaves["venue-SH-server"].cert
    ok = validate(
        cert, trust=trust, at=NOW, usage=Usage.VENUE_SERVER, server_name="primary.sh.evalsvc.test"
    )
    assert ok.region == "SH"
    with pytest.raises(CertificateRejected):
        validate(
            cert, trust=trust, at=NOW, usage=Usage.VENUE_SERVER, server_name="evil.example.com"
        )


def test_expert_certificate_is_not_a_tls_server(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(CertificateRejected):
        validate(
            pki.leaves["expert-li-JS"].cert,
            trust=trust,
            at=NOW,
            usage=Usage.VENUE_SERVER,
            server_name="x.test",
        )


def test_ca_usage(pki: DevPki, trust: TrustConfig) -> None:
    for code, region in pki.regions.items():
        assert (
            validate(region.intermediate.cert, trust=trust, at=NOW, usage=Usage.CA).region == code
        )
    assert validate(pki.regions["SH"].cross[0], trust=trust, at=NOW, usage=Usage.CA).region == "SH"
    with pytest.raises(WrongKeyUsage, match="not a CA certificate"):
        validate(pki.leaves["expert-li-JS"].cert, trust=trust, at=NOW, usage=Usage.CA)


def test_region_algorithm_policy(pki: DevPki) -> None:
    zj = pki.region_trust("ZJ")
    no_sm2 = RegionTrust(
        code="ZJ",
        name="ZJ",
        anchors=zj.anchors,
        intermediates=zj.intermediates,
        crls=zj.crls,
        algorithms=frozenset({"rsa", "ecdsa"}),
    )
    with pytest.raises(CertificateRejected, match="does not accept sm2"):
        validate(
            pki.leaves["expert-zhang-ZJ"].cert,
            trust=TrustConfig.of(no_sm2),
            at=NOW,
            usage=Usage.LOGIN,
        )


def test_naive_time_is_a_programming_error(pki: DevPki, trust: TrustConfig) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate(
            pki.leaves["expert-li-JS"].cert,
            trust=trust,
            at=NOW.replace(tzinfo=None),
            usage=Usage.LOGIN,
        )


def test_ca_usage_accepts_rfc5280_quirks_of_real_roots() -> None:
    # Real roots often carry a non-critical basicConstraints and no keyUsage; RFC 5280
    # allows that for trust anchors, so `--usage ca` must accept a CA issued under one.
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from evalsvc.pki.builder import issue_certificate

    root_key, ca_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old root")])
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "new issuing CA")])
    root = issue_certificate(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        serial=1,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=9),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, False, x509.BasicConstraints(True, None))
        ],
    )
    ca = issue_certificate(
        subject=ca_name,
        issuer=root_name,
        public_key=ca_key.public_key(),
        signing_key=root_key,
        serial=2,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=9),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(True, 0))
        ],
    )
    trust = TrustConfig.of(RegionTrust(code="OLD", name="old", anchors=(root,)))
    assert validate(ca, trust=trust, at=NOW, usage=Usage.CA).region == "OLD"
    assert validate(root, trust=trust, at=NOW, usage=Usage.CA).chain == (root,)


def test_refusals_do_not_leak_resident_id_numbers(pki: DevPki, trust: TrustConfig) -> None:
    from evalsvc.pki.devpki import LI_ID, ZHAO_ID

    with pytest.raises(CertificateExpired) as expired:
        validate(pki.leaves["expert-expired-JS"].cert, trust=trust, at=NOW, usage=Usage.LOGIN)
    with pytest.raises(CertificateRevoked) as revoked:
        validate(pki.leaves["expert-revoked-SH"].cert, trust=trust, at=NOW, usage=Usage.LOGIN)
    assert LI_ID not in expired.value.message and "serialNumber=ID:320" in expired.value.message
    assert ZHAO_ID not in revoked.value.message


def test_sm2_chain_through_an_ecdsa_cross_certificate(pki: DevPki) -> None:
    # Anhui's ECDSA root cross-certifies Zhejiang's SM2 root: an AH-only relying party
    # accepts a Zhejiang SM2 expert, and the result names AH.
    from evalsvc.pki.builder import issue_certificate

    ah, zj = pki.regions["AH"], pki.regions["ZJ"]
    cross = issue_certificate(
        subject=zj.root.cert.subject,
        issuer=ah.root.cert.subject,
        public_key=zj.root.key.public_key(),
        signing_key=ah.root.key,
        serial=77,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(True, 1))
        ],
    )
    region = RegionTrust(
        code="AH", name="安徽", anchors=(ah.root.cert,), intermediates=(cross,), crls=ah.crls
    )
    result = validate(
        pki.leaves["expert-zhang-ZJ"].cert,
        trust=TrustConfig.of(region),
        at=NOW,
        usage=Usage.SIGNING,
        intermediates=[zj.intermediate.cert],
        crls=zj.crls,
        revocation=RevocationMode.SOFT_FAIL,
    )
    assert result.region == "AH" and result.engine == "evalsvc" and len(result.chain) == 4
    # The AH root's CRL does not list the cross-certificate's serial: fresh, so no warning
    # for it; only the ZJ root CRL (signed by the SM2 root key) covers the intermediate.
    assert result.warnings == ()


def test_sm2_venue_server_name_is_checked(pki: DevPki, trust: TrustConfig) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from evalsvc.pki.builder import issue_certificate
    from evalsvc.pki.sm2 import Sm2PrivateKey

    zj = pki.regions["ZJ"]
    key = Sm2PrivateKey.generate()
    ski = zj.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = issue_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "venue.zj.evalsvc.test")]),
        issuer=zj.intermediate.cert.subject,
        public_key=key.public_key(),
        signing_key=zj.intermediate.key,
        serial=4242,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(False, None)),
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            ),
            x509.Extension(
                x509.SubjectKeyIdentifier.oid, False, x509.SubjectKeyIdentifier(b"\x01" * 20)
            ),
            x509.Extension(
                x509.ExtendedKeyUsage.oid,
                False,
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            ),
            x509.Extension(
                x509.SubjectAlternativeName.oid,
                False,
                x509.SubjectAlternativeName([x509.DNSName("venue.zj.evalsvc.test")]),
            ),
        ],
    )
    ok = validate(
        cert, trust=trust, at=NOW, usage=Usage.VENUE_SERVER, server_name="venue.zj.evalsvc.test"
    )
    assert (ok.region, ok.engine) == ("ZJ", "evalsvc")
    with pytest.raises(CertificateRejected, match="not valid for server name"):
        validate(
            cert, trust=trust, at=NOW, usage=Usage.VENUE_SERVER, server_name="other.zj.evalsvc.test"
        )


def test_ecdsa_chain_reaching_an_sm2_anchor_through_a_cross_certificate(pki: DevPki) -> None:
    from evalsvc.pki.builder import issue_certificate

    js, zj = pki.regions["JS"], pki.regions["ZJ"]
    cross = issue_certificate(
        subject=js.root.cert.subject,
        issuer=zj.root.cert.subject,
        public_key=js.root.key.public_key(),
        signing_key=zj.root.key,
        serial=78,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(True, 1))
        ],
    )
    region = RegionTrust(code="ZJ", name="浙江", anchors=(zj.root.cert,), intermediates=(cross,))
    result = validate(
        pki.leaves["expert-li-JS"].cert,
        trust=TrustConfig.of(region),
        at=NOW,
        usage=Usage.LOGIN,
        intermediates=[js.intermediate.cert],
    )
    assert (result.region, result.engine, len(result.chain)) == ("ZJ", "evalsvc", 4)


def test_signing_certificate_with_email_protection_eku(pki: DevPki, trust: TrustConfig) -> None:
    # Chinese CAs often mark personal signing certificates emailProtection only: fine for
    # signing a sheet, not for logging in (which needs clientAuth or no EKU).
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from evalsvc.pki.builder import issue_certificate
    from evalsvc.pki.devpki import LI_ID

    js = pki.regions["JS"]
    key = ec.generate_private_key(ec.SECP256R1())
    ski = js.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = issue_certificate(
        subject=x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "李娜"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"ID:{LI_ID}"),
            ]
        ),
        issuer=js.intermediate.cert.subject,
        public_key=key.public_key(),
        signing_key=js.intermediate.key,
        serial=4343,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        extensions=[
            x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(False, None)),
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            ),
            x509.Extension(
                x509.SubjectKeyIdentifier.oid,
                False,
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            ),
            x509.Extension(
                x509.ExtendedKeyUsage.oid,
                False,
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            ),
        ],
    )
    assert validate(cert, trust=trust, at=NOW, usage=Usage.SIGNING).region == "JS"
    with pytest.raises(WrongKeyUsage, match="without clientAuth"):
        validate(cert, trust=trust, at=NOW, usage=Usage.LOGIN)


def test_sm2_path_length_constraint(pki: DevPki, trust: TrustConfig) -> None:
    # ZJ's issuing CA has pathLenConstraint 0: a CA below it cannot issue valid leaves.
    from cryptography.x509.oid import NameOID

    from evalsvc.pki.builder import issue_certificate
    from evalsvc.pki.sm2 import Sm2PrivateKey

    zj = pki.regions["ZJ"]
    sub_key, leaf_key = Sm2PrivateKey.generate(), Sm2PrivateKey.generate()
    sub_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue sub-CA")])
    ca = [x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(True, None))]
    sub = issue_certificate(
        subject=sub_name,
        issuer=zj.intermediate.cert.subject,
        public_key=sub_key.public_key(),
        signing_key=zj.intermediate.key,
        serial=5000,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        extensions=ca,
    )
    leaf = issue_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")]),
        issuer=sub_name,
        public_key=leaf_key.public_key(),
        signing_key=sub_key,
        serial=5001,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
    )
    with pytest.raises(ChainTooDeep, match="pathLenConstraint"):
        validate(leaf, trust=trust, at=NOW, usage=Usage.LOGIN, intermediates=[sub])


def test_sm2_root_with_explicit_null_parameters_and_non_critical_bc() -> None:
    # Many SM2 CA certificates encode AlgorithmIdentifier {sm2-with-SM3, NULL} and a
    # non-critical basicConstraints; both are accepted for `--usage ca`.
    from cryptography.x509.oid import NameOID

    from evalsvc.pki import der
    from evalsvc.pki.sm2 import Sm2PrivateKey

    key = Sm2PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quirky SM2 root")]).public_bytes()
    alg = der.sequence(der.oid("1.2.156.10197.1.501"), der.null())
    bc = der.sequence(der.oid("2.5.29.19"), der.octet_string(der.sequence(der.boolean(True))))
    validity = der.sequence(
        der.time(NOW - dt.timedelta(days=1)), der.time(NOW + dt.timedelta(days=9))
    )
    tbs = der.sequence(
        der.context(0, der.integer(2)),
        der.integer(1),
        alg,
        name,
        validity,
        name,
        key.public_key().spki_der(),
        der.context(3, der.sequence(bc)),
    )
    root = x509.load_der_x509_certificate(der.sequence(tbs, alg, der.bit_string(key.sign(tbs))))
    trust = TrustConfig.of(RegionTrust(code="Q", name="q", anchors=(root,)))
    assert validate(root, trust=trust, at=NOW, usage=Usage.CA).region == "Q"
    # A CA it issued, in the same encoding: its signature is checked over the NULL form.
    sub_key = Sm2PrivateKey.generate()
    sub_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quirky SM2 CA")]).public_bytes()
    sub_tbs = der.sequence(
        der.context(0, der.integer(2)),
        der.integer(2),
        alg,
        name,
        validity,
        sub_name,
        sub_key.public_key().spki_der(),
        der.context(3, der.sequence(bc)),
    )
    sub = x509.load_der_x509_certificate(
        der.sequence(sub_tbs, alg, der.bit_string(key.sign(sub_tbs)))
    )
    assert validate(sub, trust=trust, at=NOW, usage=Usage.CA).chain == (sub, root)


def test_revocation_default_depends_on_usage(pki: DevPki) -> None:
    sh = pki.region_trust("SH")
    no_crls = TrustConfig.of(
        RegionTrust(code="SH", name="SH", anchors=sh.anchors, intermediates=sh.intermediates)
    )
    leaf = pki.leaves["expert-zhang-SH"].cert
    with pytest.raises(RevocationUnavailable, match="no CRL from"):
        validate(leaf, trust=no_crls, at=NOW, usage=Usage.SIGNING)  # signing: require
    login = validate(leaf, trust=no_crls, at=NOW, usage=Usage.LOGIN)  # read-only: soft-fail
    assert len(login.warnings) == 2  # the intermediate's CRL and the root's
