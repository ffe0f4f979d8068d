"""SM2 keys and SM2-with-SM3 signatures (GM/T 0003-2012, GM/T 0009-2012, GM/T 0015-2012).

``gmalglib`` (C implementation of GB/T 32918 / GB/T 32905) does the arithmetic; this
module handles encodings, which ``cryptography`` cannot parse for the SM2 curve:

- SubjectPublicKeyInfo: ``id-ecPublicKey`` with the named curve ``sm2p256v1``
  (1.2.156.10197.1.301), the point uncompressed (GM/T 0009-2012 §7.1, §10).
- Signature value: ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009-2012 §7.3), the
  signer id defaulting to ``1234567812345678`` (GM/T 0009-2012 §10) and mixed into
  the digest through Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) (GB/T 32918.2 §5.5).
- Private key: SEC 1 ``ECPrivateKey`` (RFC 5915 §3) with the curve OID, PEM label
  ``EC PRIVATE KEY`` — what GmSSL and Tongsuo write.

Pure: keys and randomness come from the caller (``Sm2PrivateKey.generate`` uses the
library's CSPRNG; tests and the dev PKI call it explicitly).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SIGNER_ID",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "sm2_key_from_spki",
    "spki_of_certificate",
]

import base64
from dataclasses import dataclass

from gmalglib import sm2 as _sm2

from evalsvc.pki import der

# GM/T 0006-2012 (cryptographic application identifier criterion).
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"  # RFC 5480 §2.1.1
# GM/T 0009-2012 §10: the default user identity when none was agreed.
DEFAULT_SIGNER_ID = b"1234567812345678"


def _sig_to_der(raw: bytes) -> bytes:
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    return der.sequence(der.integer(r), der.integer(s))


def _sig_from_der(signature: bytes) -> bytes | None:
    try:
        seq = der.parse(signature)
        if seq.tag != der.SEQUENCE:
            return None
        items = seq.children()
        if len(items) != 2:
            return None
        r, s = der.decode_integer(items[0]), der.decode_integer(items[1])
    except der.DerError:
        return None
    if not (0 < r < 2**256 and 0 < s < 2**256):
        return None
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Sm2PublicKey:
    """An SM2 public key: the uncompressed point ``04 ‖ x ‖ y`` (65 bytes)."""

    point: bytes

    def __post_init__(self) -> None:
        if len(self.point) != 65 or self.point[0] != 4 or not _sm2.SM2.is_pk_valid(self.point):
            raise ValueError("not an SM2 public key point on sm2p256v1")

    def verify(
        self, signature: bytes, data: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID
    ) -> bool:
        """True when ``signature`` (DER r,s) is this key's SM2-with-SM3 signature over ``data``."""
        raw = _sig_from_der(signature)
        if raw is None:
            return False
        return bool(_sm2.SM2(pk=self.point, uid=signer_id).verify(data, raw))

    def spki_der(self) -> bytes:
        """SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, GM/T 0009-2012 §7.1)."""
        alg = der.sequence(der.oid(OID_EC_PUBLIC_KEY), der.oid(OID_SM2_CURVE))
        return der.sequence(alg, der.bit_string(self.point))


@dataclass(frozen=True, slots=True)
class Sm2PrivateKey:
    """An SM2 private key (32-byte scalar)."""

    secret: bytes

    def __post_init__(self) -> None:
        if not _sm2.SM2.is_sk_valid(self.secret):
            raise ValueError("not an SM2 private key")

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        """A fresh key from the library's CSPRNG."""
        sk, _pk = _sm2.SM2().generate_keypair()
        return cls(bytes(sk))

    def public_key(self) -> Sm2PublicKey:
        """The matching public key."""
        return Sm2PublicKey(bytes(_sm2.SM2.get_pk(self.secret)))

    def sign(self, data: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
        """SM2-with-SM3 signature over ``data``, DER ``SEQUENCE {r, s}``."""
        raw = _sm2.SM2(sk=self.secret, uid=signer_id).sign(data)
        return _sig_to_der(bytes(raw))

    def to_der(self) -> bytes:
        """RFC 5915 §3 ECPrivateKey with the sm2p256v1 curve OID and public key."""
        return der.sequence(
            der.integer(1),
            der.octet_string(self.secret),
            der.context(0, der.oid(OID_SM2_CURVE)),
            der.context(1, der.bit_string(self.public_key().point)),
        )

    def to_pem(self) -> bytes:
        """PEM ``EC PRIVATE KEY`` (as GmSSL and Tongsuo write SM2 keys)."""
        b64 = base64.encodebytes(self.to_der()).replace(b"\n", b"")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        return (
            b"-----BEGIN EC PRIVATE KEY-----\n"
            + b"\n".join(lines)
            + b"\n-----END EC PRIVATE KEY-----\n"
        )

    @classmethod
    def from_der(cls, data: bytes) -> Sm2PrivateKey:
        """Parse an RFC 5915 ECPrivateKey on sm2p256v1."""
        items = der.parse(data).children()
        if len(items) < 2 or der.decode_integer(items[0]) != 1:
            raise ValueError("not an RFC 5915 ECPrivateKey")
        for item in items[2:]:
            if item.tag == 0xA0 and der.decode_oid(der.parse(item.content)) != OID_SM2_CURVE:
                raise ValueError("EC private key is not on the SM2 curve")
        return cls(items[1].content.rjust(32, b"\x00"))

    @classmethod
    def from_pem(cls, data: bytes) -> Sm2PrivateKey:
        """Parse PEM ``EC PRIVATE KEY`` on sm2p256v1."""
        text = data.decode("ascii")
        start = text.index("-----BEGIN EC PRIVATE KEY-----") + len("-----BEGIN EC PRIVATE KEY-----")
        end = text.index("-----END EC PRIVATE KEY-----")
        return cls.from_der(base64.b64decode("".join(text[start:end].split())))


def spki_of_certificate(cert_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo element of a DER certificate (RFC 5280 §4.1)."""
    tbs = der.parse(cert_der).children()[0].children()
    # RFC 5280 §4.1: [0] version is optional; SPKI is the 6th field after it.
    offset = 1 if tbs[0].tag == 0xA0 else 0
    return tbs[offset + 5].raw


def sm2_key_from_spki(spki: bytes) -> Sm2PublicKey | None:
    """The SM2 key in a SubjectPublicKeyInfo, or ``None`` when it is not an SM2 key."""
    try:
        alg, key = der.parse(spki).children()
        parts = alg.children()
        if der.decode_oid(parts[0]) != OID_EC_PUBLIC_KEY or len(parts) != 2:
            return None
        if parts[1].tag != der.OID or der.decode_oid(parts[1]) != OID_SM2_CURVE:
            return None
        return Sm2PublicKey(der.decode_bit_string(key))
    except (der.DerError, ValueError):
        return None
