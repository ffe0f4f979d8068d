"""Canonical identity from the region's OIDs, never from the DN alone."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evalsvc.ids import resident_id_check_char
from evalsvc.pki import der
from evalsvc.pki.builder import issue_certificate
from evalsvc.pki.devpki import LI_ID, SH_VENUE_USCC, ZHANG_ID, DevPki
from evalsvc.pki.identity import IdentityKind, extract_identity, normalise_identifier
from evalsvc.pki.trust import DEFAULT_IDENTITY_OIDS


@pytest.mark.parametrize(
    "text",
    [
        ZHANG_ID,
        f"ID:{ZHANG_ID}",
        f"SF{ZHANG_ID}",
        f"sfz: {ZHANG_ID}",
        f"身份证号码：{ZHANG_ID}",
        f" {ZHANG_ID.lower()} ",
    ],
)
def test_resident_id_prefixes_are_normalised(text: str) -> None:
    assert normalise_identifier(text) == (IdentityKind.PERSON, ZHANG_ID)


def test_first_generation_15_digit_number_is_upgraded() -> None:
    old = "310104800101123"  # GB 11643-1989: no century, no check character
    first17 = "31010419800101123"
    assert normalise_identifier(old) == (
        IdentityKind.PERSON,
        first17 + resident_id_check_char(first17),
    )


def test_uscc_is_an_organisation() -> None:
    assert normalise_identifier(SH_VENUE_USCC) == (IdentityKind.ORGANISATION, SH_VENUE_USCC)
    assert normalise_identifier(f"USCC:{SH_VENUE_USCC}") == (
        IdentityKind.ORGANISATION,
        SH_VENUE_USCC,
    )


@pytest.mark.parametrize(
    "text", ["", "张伟", ZHANG_ID[:-1] + ("0" if ZHANG_ID[-1] != "0" else "1"), "12345"]
)
def test_invalid_numbers_are_not_identities(text: str) -> None:
    assert normalise_identifier(text) is None


def test_one_person_with_certificates_from_two_provinces(pki: DevPki) -> None:
    sh = extract_identity(pki.leaves["expert-zhang-SH"].cert, DEFAULT_IDENTITY_OIDS)
    zj = extract_identity(pki.leaves["expert-zhang-ZJ"].cert, DEFAULT_IDENTITY_OIDS)
    assert sh is not None and zj is not None
    assert (sh.source, zj.source) == (
        "1.2.86.11.7.1",
        "1.2.156.10260.4.1.1",
    )  # RSA era, GM/T 0015-2012
    assert sh == zj and sh.key == zj.key == f"person:{ZHANG_ID}"
    assert len({sh, zj}) == 1


def test_subject_serial_number_and_2023_sub_arc(pki: DevPki) -> None:
    li = extract_identity(pki.leaves["expert-li-JS"].cert, DEFAULT_IDENTITY_OIDS)
    assert li is not None and (li.number, li.source) == (LI_ID, "subject.serialNumber")
    wang = extract_identity(pki.leaves["expert-wang-AH"].cert, DEFAULT_IDENTITY_OIDS)
    assert wang is not None and wang.source == "1.2.156.10260.4.1.1.1"


def _cert(name: x509.Name, *exts: x509.UnrecognizedExtension) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return issue_certificate(
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        signing_key=key,
        serial=1,
        not_before=now,
        not_after=now + dt.timedelta(days=1),
        extensions=[x509.Extension(e.oid, False, e) for e in exts],
    )


def test_priority_order_is_the_regions() -> None:
    other = "11010519491231002" + resident_id_check_char("11010519491231002")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "x"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"SF{other}"),
        ]
    )
    ext = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.2.3.4.5"), der.encode(der.UTF8_STRING, ZHANG_ID.encode())
    )
    cert = _cert(name, ext)
    by_ext = extract_identity(cert, ["1.2.3.4.5", "subject.serialNumber"])
    by_sn = extract_identity(cert, ["subject.serialNumber", "1.2.3.4.5"])
    assert by_ext is not None and by_ext.number == ZHANG_ID  # a CA-specific OID first
    assert by_sn is not None and by_sn.number == other


def test_never_by_dn_alone() -> None:
    # A resident ID number in the CN is not an identity: CNs are free text.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ZHANG_ID)])
    assert extract_identity(_cert(name), DEFAULT_IDENTITY_OIDS) is None


def test_bare_text_extension_value() -> None:
    # Some CAs store the number without any DER wrapper.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    ext = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.2.86.11.7.3"), f"SF{ZHANG_ID}".encode()
    )
    found = extract_identity(_cert(name, ext), DEFAULT_IDENTITY_OIDS)
    assert found is not None and found.number == ZHANG_ID


def test_prefix_announces_the_kind() -> None:
    # 18 digits can pass the USCC check by chance; a person prefix must not become a company.
    from evalsvc.ids import uscc_check_char

    digits17 = "91310000123456789"
    as_uscc = digits17 + uscc_check_char(digits17)
    assert normalise_identifier(as_uscc) == (IdentityKind.ORGANISATION, as_uscc)
    assert normalise_identifier(f"SF{as_uscc}") is None
    assert normalise_identifier(f"USCC:{ZHANG_ID}") is None
