"""The one exception tree of evalsvc.

::

    EvalsvcError
     ├── InvalidInput            the request or file is malformed (names the field)
     │    ├── PayloadTooLarge
     │    ├── MalformedBody      not UTF-8, not JSON
     │    ├── MalformedRequest   the HTTP request itself (a header too long, …)
     │    ├── UpgradeRequired    a plain request to a WebSocket endpoint
     │    └── UnsupportedMediaType
     ├── Unauthenticated         no or bad credentials
     ├── Forbidden               authenticated, but this role/venue may not do it
     │    └── UnknownVenueAgent  a valid venue certificate mapped to no venue
     ├── NotFound
     ├── MethodNotAllowed
     ├── Conflict                valid, but clashes with what is stored
     │    ├── InvalidTransition  a lifecycle command the current state refuses
     │    ├── IdempotencyConflict  a reused client key with a different body
     │    ├── InsufficientContributions  too few reveals for a draw's seed
     │    └── NoEligibleExpert   a seat of the draw nobody may fill
     ├── Unavailable             a dependency is down; try again later
     ├── SchemaMismatch          the database schema is not the one this code needs
     ├── ConfigError             settings or config files are wrong
     └── VerificationError       a signature, proof or certificate failed to verify
          ├── CertificateRejected
          └── AuditLogInconsistent

Exceptions carry a message for humans (Chinese UI text is added by the caller where
shown to people) and, for input errors, the offending ``field`` as a JSON-pointer-like
path (``bids/0/uscc``). Transport mapping (HTTP status, WebSocket code) lives in
:mod:`evalsvc.http_errors` and nowhere else.
"""

from __future__ import annotations

__all__ = [
    "AuditLogInconsistent",
    "CertificateRejected",
    "ConfigError",
    "Conflict",
    "EvalsvcError",
    "FieldError",
    "Forbidden",
    "IdempotencyConflict",
    "InsufficientContributions",
    "InvalidInput",
    "InvalidTransition",
    "MalformedBody",
    "MalformedRequest",
    "MethodNotAllowed",
    "NoEligibleExpert",
    "NotFound",
    "PayloadTooLarge",
    "SchemaMismatch",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "UpgradeRequired",
    "VerificationError",
]

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of an input document."""

    field: str
    reason: str


class EvalsvcError(Exception):
    """Base of every error evalsvc raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(EvalsvcError):
    """The input is malformed or breaks a rule; ``errors`` lists every field problem."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: tuple[FieldError, ...] = (),
    ) -> None:
        super().__init__(message, field=field)
        if not errors and field is not None:
            errors = (FieldError(field, message),)
        self.errors = errors


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class MalformedBody(InvalidInput):
    """The body is not UTF-8 JSON of the expected media type."""

    code = "malformed_body"


class MalformedRequest(InvalidInput):
    """The HTTP message could not be read: a request line or header over the server's
    limits, too many headers, bytes that are not HTTP."""

    code = "malformed_request"


class UpgradeRequired(InvalidInput):
    """A plain HTTP request to an endpoint that speaks only WebSocket (RFC 6455 §4.2.1)."""

    code = "upgrade_required"


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"


class Unauthenticated(EvalsvcError):
    code = "unauthenticated"


class Forbidden(EvalsvcError):
    code = "forbidden"


class NotFound(EvalsvcError):
    code = "not_found"


class MethodNotAllowed(EvalsvcError):
    code = "method_not_allowed"


class Conflict(EvalsvcError):
    code = "conflict"


class InvalidTransition(Conflict):
    """A command the session's current state does not accept."""

    code = "invalid_transition"

    def __init__(self, message: str, *, state: str, command: str) -> None:
        super().__init__(message)
        self.state = state
        self.command = command


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


# The draw (docs/draw.md), raised by evalsvc.experts.seed and evalsvc.experts.draw.
class InsufficientContributions(Conflict):
    """Fewer than the required number of parties revealed in time."""

    code = "insufficient_contributions"


class NoEligibleExpert(Conflict):
    """A seat has no eligible expert left; the operator must change rules or pool."""

    code = "no_eligible_expert"


class Unavailable(EvalsvcError):
    code = "unavailable"


class SchemaMismatch(EvalsvcError):
    code = "schema_mismatch"


class ConfigError(EvalsvcError):
    code = "config_error"


class VerificationError(EvalsvcError):
    """A signature, proof, checkpoint or certificate did not verify."""

    code = "verification_failed"


class CertificateRejected(VerificationError):
    code = "certificate_rejected"


class AuditLogInconsistent(VerificationError):
    code = "audit_log_inconsistent"


# Certificate refusals (evalsvc.pki): one class per reason a user would want told apart.
__all__ += [
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "CertificateSignatureInvalid",
    "ChainTooDeep",
    "RevocationUnavailable",
    "SignatureInvalid",
    "UnknownIssuer",
    "UnknownVenueAgent",
    "WrongCertificateRole",
    "WrongKeyUsage",
]


class CertificateExpired(CertificateRejected):
    code = "certificate_expired"


class CertificateNotYetValid(CertificateRejected):
    code = "certificate_not_yet_valid"


class CertificateRevoked(CertificateRejected):
    code = "certificate_revoked"


class WrongKeyUsage(CertificateRejected):
    """Key usage / extended key usage does not allow what was asked."""

    code = "certificate_wrong_key_usage"


class WrongCertificateRole(CertificateRejected):
    """E.g. a venue (organisation or server) certificate presented as an expert's."""

    code = "certificate_wrong_role"


class UnknownIssuer(CertificateRejected):
    """No path to any trusted anchor of any region."""

    code = "certificate_unknown_issuer"


class ChainTooDeep(CertificateRejected):
    code = "certificate_chain_too_deep"


class RevocationUnavailable(CertificateRejected):
    """``require`` mode and no fresh, verified CRL for a certificate of the chain."""

    code = "certificate_revocation_unavailable"


class CertificateSignatureInvalid(CertificateRejected):
    """A certificate or CRL in the chain carries a signature its issuer did not make."""

    code = "certificate_signature_invalid"


class SignatureInvalid(VerificationError):
    """A signature over data (challenge, score sheet, report) does not verify."""

    code = "signature_invalid"


class UnknownVenueAgent(Forbidden):
    """A valid venue certificate whose organisation ``[pki] venue_agents`` maps to no
    venue (or to another venue than the one asked for)."""

    code = "venue_agent_unknown"
