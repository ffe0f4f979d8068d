"""Certificate login: the server's challenge, the holder's signature, one pure check.

Flow (the HTTP endpoints live in the app):

1. the server calls :func:`make_challenge` with a fresh random nonce and sends
   :meth:`Challenge.to_json` to the browser / venue agent;
2. the holder signs :meth:`Challenge.signing_bytes` (RFC 8785 canonical JSON) with the
   certificate's key — SM2 (signer id ``1234567812345678``), ECDSA or RSA PKCS#1 v1.5,
   see :mod:`evalsvc.pki.signatures`;
3. the server calls :func:`verify_challenge_response` with the challenge *it stored*
   (never the one echoed back), the certificate, the signature and the time.

The signed document names its type, the session, the purpose and the audience, so a
signature made for one session, purpose or server cannot be replayed against another.
Single use of the nonce is the caller's job (delete the stored challenge on first use).
"""

from __future__ import annotations

__all__ = [
    "CHALLENGE_TYPE",
    "PURPOSES",
    "Challenge",
    "LoginProof",
    "make_challenge",
    "parse_presented_chain",
    "sign_document",
    "verify_challenge_response",
    "verify_document_signature",
]

import base64
import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import InvalidInput, Unauthenticated
from evalsvc.pki.identity import Identity, IdentityKind
from evalsvc.pki.names import subject_text
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import PrivateKey, sign, verify_signature
from evalsvc.pki.sm2 import DEFAULT_SIGNER_ID
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, ValidationResult, validate

CHALLENGE_TYPE = "evalsvc-cert-challenge/v1"
# What a challenge may be for; "venue-agent" is the signed-challenge fallback for
# SM2-only venues that cannot do mutual TLS.
PURPOSES = frozenset({"login", "venue-agent", "step-up"})
_MIN_NONCE = 16  # bytes; 128 bits of randomness


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Challenge:
    """A login challenge; what is signed is :meth:`signing_bytes`."""

    nonce: str  # base64url, no padding
    session: str  # the evaluation session id (or "-" for a session-less operator login)
    purpose: str
    audience: str  # the server / venue origin the signature is for
    issued_at: _dt.datetime
    expires_at: _dt.datetime

    def to_json(self) -> dict[str, str]:
        """The document sent to the client, and (canonicalised) signed by it."""
        return {
            "type": CHALLENGE_TYPE,
            "nonce": self.nonce,
            "session": self.session,
            "purpose": self.purpose,
            "audience": self.audience,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
        }

    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of :meth:`to_json` — the exact bytes to sign."""
        return canonical_bytes(self.to_json())

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Challenge:
        """Parse a stored challenge document."""
        if doc.get("type") != CHALLENGE_TYPE:
            raise InvalidInput(f"challenge type must be {CHALLENGE_TYPE!r}", field="type")
        try:
            return cls(
                nonce=str(doc["nonce"]),
                session=str(doc["session"]),
                purpose=str(doc["purpose"]),
                audience=str(doc["audience"]),
                issued_at=_dt.datetime.fromisoformat(str(doc["issued_at"])),
                expires_at=_dt.datetime.fromisoformat(str(doc["expires_at"])),
            )
        except KeyError as exc:
            raise InvalidInput(f"challenge lacks {exc.args[0]}", field=str(exc.args[0])) from exc


def make_challenge(
    *,
    nonce: bytes,
    session: str,
    purpose: str,
    audience: str,
    issued_at: _dt.datetime,
    ttl: _dt.timedelta = _dt.timedelta(minutes=2),
) -> Challenge:
    """A challenge for ``purpose`` in ``session``; ``nonce`` from ``secrets.token_bytes``."""
    if len(nonce) < _MIN_NONCE:
        raise InvalidInput(f"nonce must be at least {_MIN_NONCE} bytes, got {len(nonce)}")
    if purpose not in PURPOSES:
        raise InvalidInput(f"purpose must be one of {sorted(PURPOSES)}, got {purpose!r}")
    if issued_at.tzinfo is None:
        raise InvalidInput("issued_at must be timezone-aware")
    issued = issued_at.astimezone(_dt.UTC).replace(microsecond=0)
    return Challenge(_b64url(nonce), session, purpose, audience, issued, issued + ttl)


@dataclass(frozen=True)
class LoginProof:
    """A verified challenge response: who signed, with which validated certificate."""

    identity: Identity
    validation: ValidationResult
    challenge: Challenge


def verify_challenge_response(
    challenge: Challenge,
    *,
    certificate: x509.Certificate,
    signature: bytes,
    trust: TrustConfig,
    at: _dt.datetime,
    intermediates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    revocation: RevocationMode = RevocationMode.SOFT_FAIL,
    signer_id: bytes = DEFAULT_SIGNER_ID,
    require_person: bool = True,
) -> LoginProof:
    """Validate ``certificate`` for login and its ``signature`` over ``challenge``.

    Raises :class:`~evalsvc.errors.Unauthenticated` for an expired challenge or a
    certificate with no usable identity, a ``CertificateRejected`` subclass for the
    certificate, :class:`~evalsvc.errors.SignatureInvalid` for the signature.
    Revocation warnings (soft-fail) are on ``result.validation.warnings``.
    """
    if not challenge.issued_at <= at <= challenge.expires_at:
        raise Unauthenticated(
            f"challenge valid from {_iso(challenge.issued_at)} to {_iso(challenge.expires_at)}, "
            f"answered at {_iso(at)}; ask for a new one"
        )
    usage = Usage.VENUE_CLIENT if challenge.purpose == "venue-agent" else Usage.LOGIN
    result = validate(
        certificate,
        trust=trust,
        at=at,
        usage=usage,
        intermediates=intermediates,
        crls=crls,
        revocation=revocation,
    )
    verify_signature(certificate, challenge.signing_bytes(), signature, signer_id=signer_id)
    identity = result.identity
    if identity is None:
        raise Unauthenticated(
            f"certificate of {subject_text(certificate)} carries no resident ID "
            f"number or USCC in the identity fields region {result.region} reads"
        )
    if require_person and usage is Usage.LOGIN and identity.kind is not IdentityKind.PERSON:
        raise Unauthenticated("login needs a personal certificate (resident ID number)")
    return LoginProof(identity=identity, validation=result, challenge=challenge)


def parse_presented_chain(
    data: bytes, *, max_certificates: int = 8
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """``(leaf, intermediates)`` from what a client sent: PEM (leaf first) or one DER cert."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidInput(f"certificate does not parse: {exc}", field="certificate") from exc
    if not certs:
        raise InvalidInput("no certificate presented", field="certificate")
    if len(certs) > max_certificates:
        raise InvalidInput(
            f"{len(certs)} certificates presented; at most {max_certificates} accepted",
            field="certificate",
        )
    return certs[0], tuple(certs[1:])


def sign_document(key: PrivateKey, document: Any, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Signature over the RFC 8785 canonical bytes of ``document`` (score sheet, report)."""
    return sign(key, canonical_bytes(document), signer_id=signer_id)


def verify_document_signature(
    cert: x509.Certificate,
    document: Any,
    signature: bytes,
    *,
    signer_id: bytes = DEFAULT_SIGNER_ID,
) -> None:
    """Check a :func:`sign_document` signature; raise ``SignatureInvalid``.

    Validate ``cert`` first with ``validate(..., usage=Usage.SIGNING,
    revocation=RevocationMode.REQUIRE)``.
    """
    verify_signature(cert, canonical_bytes(document), signature, signer_id=signer_id)
