"""The generated dev PKI: what the issue asks for is in it, and it round-trips through files."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from evalsvc.pki.devpki import DevPki, load_private_key, write_dev_pki
from evalsvc.pki.signatures import key_algorithm, public_key_of, sign, verify_signature
from evalsvc.pki.trust import load_certificates

from .conftest import NOW


def test_four_regions_with_rsa_ecdsa_and_sm2(pki: DevPki) -> None:
    algs = {code: key_algorithm(public_key_of(r.root.cert)) for code, r in pki.regions.items()}
    assert algs == {"SH": "rsa", "JS": "ecdsa", "ZJ": "sm2", "AH": "ecdsa"}
    assert all(r.intermediate.cert.issuer == r.root.cert.subject for r in pki.regions.values())
    assert len(pki.regions["SH"].cross) == 1


def test_revoked_and_expired_are_there(pki: DevPki) -> None:
    revoked = pki.leaves["expert-revoked-SH"].cert.serial_number
    crl = pki.regions["SH"].crls[1]
    assert crl.get_revoked_certificate_by_serial_number(revoked) is not None
    assert pki.leaves["expert-expired-JS"].cert.not_valid_after_utc < NOW


def test_files_round_trip(pki: DevPki, tmp_path: Path) -> None:
    files = write_dev_pki(pki, tmp_path)
    assert (tmp_path / "README.txt") in files
    for name, leaf in pki.leaves.items():
        cert = load_certificates(tmp_path / "leaves" / f"{name}.pem")[0]
        key = load_private_key((tmp_path / "leaves" / f"{name}.key").read_bytes())
        assert cert == leaf.cert
        verify_signature(cert, b"round trip", sign(key, b"round trip"))
    chain = x509.load_pem_x509_certificates(
        (tmp_path / "leaves" / "venue-SH-server.chain.pem").read_bytes()
    )
    assert chain == [pki.regions["SH"].intermediate.cert]
