"""Issue certificates and CRLs with RSA, ECDSA or SM2 keys (for the dev PKI and tests).

``cryptography``'s builders cannot sign with SM2 nor embed an SM2 public key, so when
either side is SM2 the TBSCertificate (RFC 5280 §4.1) / TBSCertList (§5.1) is encoded
here with :mod:`evalsvc.pki.der`, signed SM2-with-SM3 (GM/T 0015-2012 §6: algorithm
1.2.156.10197.1.501, no parameters; signer id ``1234567812345678``), and loaded back
with ``cryptography`` so callers get ordinary ``x509.Certificate`` objects.
Pure apart from the randomness of signatures.
"""

from __future__ import annotations

__all__ = ["issue_certificate", "issue_crl"]

import datetime as _dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evalsvc.pki import der
from evalsvc.pki.signatures import PrivateKey, PublicKey, sign
from evalsvc.pki.sm2 import OID_SM2_WITH_SM3, Sm2PrivateKey, Sm2PublicKey

_SHA256_RSA = "1.2.840.113549.1.1.11"  # RFC 4055 §5
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"  # RFC 5758 §3.2
_ECDSA_SHA384 = "1.2.840.10045.4.3.3"


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


def _algorithm_identifier(key: PrivateKey) -> bytes:
    if isinstance(key, Sm2PrivateKey):
        return der.sequence(der.oid(OID_SM2_WITH_SM3))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        oid = _ECDSA_SHA384 if isinstance(key.curve, ec.SECP384R1) else _ECDSA_SHA256
        return der.sequence(der.oid(oid))  # RFC 5758 §3.2: parameters absent
    return der.sequence(der.oid(_SHA256_RSA), der.null())  # RFC 4055 §5: NULL present


def _spki(key: PublicKey) -> bytes:
    if isinstance(key, Sm2PublicKey):
        return key.spki_der()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _extensions_der(extensions: Sequence[x509.Extension[x509.ExtensionType]]) -> bytes:
    items = []
    for ext in extensions:
        fields = [der.oid(ext.oid.dotted_string)]
        if ext.critical:
            fields.append(der.boolean(True))  # DER: DEFAULT FALSE is omitted
        fields.append(der.octet_string(ext.value.public_bytes()))
        items.append(der.sequence(*fields))
    return der.sequence(*items)


def _needs_own_encoder(signing_key: PrivateKey, subject_key: PublicKey | None) -> bool:
    return isinstance(signing_key, Sm2PrivateKey) or isinstance(subject_key, Sm2PublicKey)


def issue_certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    signing_key: PrivateKey,
    serial: int,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
    extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
) -> x509.Certificate:
    """An X.509 v3 certificate signed by ``signing_key`` (any of RSA, ECDSA, SM2)."""
    if not _needs_own_encoder(signing_key, public_key):
        assert not isinstance(public_key, Sm2PublicKey)
        assert not isinstance(signing_key, Sm2PrivateKey)
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for ext in extensions:
            b = b.add_extension(ext.value, critical=ext.critical)
        if isinstance(signing_key, rsa.RSAPrivateKey):
            return b.sign(signing_key, hashes.SHA256(), rsa_padding=padding.PKCS1v15())
        return b.sign(signing_key, _hash_for(signing_key))
    alg = _algorithm_identifier(signing_key)
    fields = [
        der.context(0, der.integer(2)),  # RFC 5280 §4.1.2.1: v3
        der.integer(serial),
        alg,
        issuer.public_bytes(),
        der.sequence(der.time(not_before), der.time(not_after)),
        subject.public_bytes(),
        _spki(public_key),
    ]
    if extensions:
        fields.append(der.context(3, _extensions_der(extensions)))
    tbs = der.sequence(*fields)
    signature = sign(signing_key, tbs)
    return x509.load_der_x509_certificate(der.sequence(tbs, alg, der.bit_string(signature)))


def issue_crl(
    *,
    issuer: x509.Certificate,
    signing_key: PrivateKey,
    this_update: _dt.datetime,
    next_update: _dt.datetime,
    revoked: Sequence[tuple[int, _dt.datetime]] = (),
    number: int = 1,
) -> x509.CertificateRevocationList:
    """A v2 CRL (RFC 5280 §5) listing ``(serial, revocation date)`` pairs."""
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
    ]
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        extensions.append(
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            )
        )
    except x509.ExtensionNotFound:
        pass
    if not isinstance(signing_key, Sm2PrivateKey):
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(this_update)
            .next_update(next_update)
        )
        for serial, when in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        for ext in extensions:
            b = b.add_extension(ext.value, critical=ext.critical)
        if isinstance(signing_key, rsa.RSAPrivateKey):
            return b.sign(signing_key, hashes.SHA256(), rsa_padding=padding.PKCS1v15())
        return b.sign(signing_key, _hash_for(signing_key))
    alg = _algorithm_identifier(signing_key)
    fields = [
        der.integer(1),  # RFC 5280 §5.1.2.1: v2
        alg,
        issuer.subject.public_bytes(),
        der.time(this_update),
        der.time(next_update),
    ]
    if revoked:
        fields.append(
            der.sequence(*(der.sequence(der.integer(s), der.time(w)) for s, w in revoked))
        )
    fields.append(der.context(0, _extensions_der(extensions)))
    tbs = der.sequence(*fields)
    signature = sign(signing_key, tbs)
    return x509.load_der_x509_crl(der.sequence(tbs, alg, der.bit_string(signature)))
