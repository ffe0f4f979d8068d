"""Signatures by certificate keys — SM2, ECDSA and RSA — over canonical bytes.

Schemes (one per key type, so a signature has exactly one meaning):

- **SM2**: SM2-with-SM3 (GB/T 32918.2, GM/T 0009-2012 §7.3), signer id ``1234567812345678``
  unless the caller agreed another (GM/T 0009-2012 §10), signature DER ``SEQUENCE {r, s}``.
- **ECDSA**: P-256 with SHA-256, P-384 with SHA-384 (RFC 5480 §4), DER ``Ecdsa-Sig-Value``.
- **RSA**: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2). PKCS#1 v1.5 rather than PSS
  because it is what Chinese USB-key middleware (SKF, GM/T 0016 / CSP) and WebCrypto's
  ``RSASSA-PKCS1-v1_5`` produce for expert tokens; it is deterministic, so a re-signed
  sheet is byte-identical. PSS signatures are refused, never guessed at.

Also the certificate-signature helpers path building needs for SM2 (``cryptography``
verifies RSA/ECDSA certificate signatures, and cannot verify SM2 ones). Pure.
"""

from __future__ import annotations

__all__ = [
    "PrivateKey",
    "PublicKey",
    "crl_signed_by",
    "is_sm2_certificate",
    "issued_by",
    "key_algorithm",
    "public_key_of",
    "sign",
    "verify_signature",
]

from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import CertificateRejected, SignatureInvalid
from evalsvc.pki.names import subject_text
from evalsvc.pki.sm2 import (
    DEFAULT_SIGNER_ID,
    OID_SM2_WITH_SM3,
    Sm2PrivateKey,
    Sm2PublicKey,
    sm2_key_from_spki,
    spki_of_certificate,
)

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Sm2PublicKey
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Sm2PrivateKey


def public_key_of(cert: x509.Certificate) -> PublicKey:
    """The certificate's public key; SM2 keys are read from the SPKI ourselves."""
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        sm2_key = sm2_key_from_spki(spki_of_certificate(cert.public_bytes(Encoding.DER)))
        if sm2_key is None:
            raise CertificateRejected(
                f"unsupported public key in certificate {subject_text(cert)}; "
                "expected RSA, ECDSA P-256/P-384 or SM2"
            ) from None
        return sm2_key
    except ValueError as exc:
        raise CertificateRejected(
            f"public key of {subject_text(cert)} does not parse: {exc}"
        ) from exc
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key
    raise CertificateRejected(
        f"unsupported public key type {type(key).__name__}; expected RSA, ECDSA or SM2"
    )


def is_sm2_certificate(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is SM2-signed or carries an SM2 key (needs our path builder)."""
    if cert.signature_algorithm_oid.dotted_string == OID_SM2_WITH_SM3:
        return True
    try:
        cert.public_key()
    except UnsupportedAlgorithm:
        return True
    except ValueError:  # malformed key: not SM2; cryptography's verifier will refuse it
        return False
    return False


def key_algorithm(key: PublicKey) -> str:
    """``rsa``, ``ecdsa`` or ``sm2`` (the names ``region.toml`` uses)."""
    if isinstance(key, Sm2PublicKey):
        return "sm2"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa"
    return "rsa"


def _verify_tbs(
    key: PublicKey,
    signature: bytes,
    tbs: bytes,
    sig_oid: str,
    params: object,
    hash_alg: hashes.HashAlgorithm | None,
) -> bool:
    if sig_oid == OID_SM2_WITH_SM3:
        # GM/T 0015-2012 §6.2 / GM/T 0009-2012 §10: certificate signatures use the default id.
        return isinstance(key, Sm2PublicKey) and key.verify(signature, tbs)
    if isinstance(key, Sm2PublicKey) or hash_alg is None:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(params, padding.PKCS1v15 | padding.PSS):
                return False
            key.verify(signature, tbs, params, hash_alg)
        else:
            key.verify(signature, tbs, ec.ECDSA(hash_alg))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``child``'s signature (RFC 5280 §6.1.3 (a)(1)).

    Names are not compared here; path building does that.
    """
    try:
        key = public_key_of(issuer)
    except CertificateRejected:
        return False
    oid = child.signature_algorithm_oid.dotted_string
    if oid == OID_SM2_WITH_SM3:
        return _verify_tbs(key, child.signature, child.tbs_certificate_bytes, oid, None, None)
    try:
        return _verify_tbs(
            key,
            child.signature,
            child.tbs_certificate_bytes,
            oid,
            child.signature_algorithm_parameters,
            child.signature_hash_algorithm,
        )
    except UnsupportedAlgorithm:
        return False


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``crl`` (RFC 5280 §6.3.3 (f)/(g))."""
    try:
        key = public_key_of(issuer)
    except CertificateRejected:
        return False
    oid = crl.signature_algorithm_oid.dotted_string
    if oid == OID_SM2_WITH_SM3:
        return _verify_tbs(key, crl.signature, crl.tbs_certlist_bytes, oid, None, None)
    if isinstance(key, Sm2PublicKey):
        return False
    return crl.is_signature_valid(key)


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    # RFC 5480 §4: hash strength matching the curve.
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP256R1):
        return hashes.SHA256()
    raise SignatureInvalid(f"ECDSA curve {curve.name} not accepted; expected P-256 or P-384")


def sign(key: PrivateKey, data: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Sign ``data`` with the scheme of ``key``'s type (see the module docstring)."""
    if isinstance(key, Sm2PrivateKey):
        return key.sign(data, signer_id=signer_id)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_ec_hash(key.curve)))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify_signature(
    cert: x509.Certificate,
    data: bytes,
    signature: bytes,
    *,
    signer_id: bytes = DEFAULT_SIGNER_ID,
) -> None:
    """Check ``signature`` over ``data`` by ``cert``'s key; raise :class:`SignatureInvalid`.

    The certificate itself is not validated here: call
    :func:`evalsvc.pki.validate.validate` first (or use
    :func:`evalsvc.pki.challenge.verify_challenge_response`, which does both).
    """
    try:
        key = public_key_of(cert)
    except CertificateRejected as exc:
        raise SignatureInvalid(exc.message) from exc
    who = subject_text(cert)
    if isinstance(key, Sm2PublicKey):
        if not key.verify(signature, data, signer_id=signer_id):
            raise SignatureInvalid(
                f"SM2 signature by {who} does not verify (SM2-with-SM3, signer id "
                f"{signer_id.decode(errors='replace')!r}, DER r,s expected)"
            )
        return
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_ec_hash(key.curve)))
        else:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        scheme = (
            "ECDSA" if isinstance(key, ec.EllipticCurvePublicKey) else "RSA PKCS#1 v1.5/SHA-256"
        )
        raise SignatureInvalid(f"{scheme} signature by {who} does not verify") from exc
