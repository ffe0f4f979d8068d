"""The one table from error class to HTTP status and WebSocket error code.

Responses are RFC 9457 problem details (``application/problem+json``)::

    {"type": "https://evalsvc.org/problems/invalid_input", "title": "Invalid input",
     "status": 422, "detail": "bids/0/uscc: not a valid unified social credit code: …",
     "code": "invalid_input", "field": "bids/0/uscc",
     "errors": [{"field": "bids/0/uscc", "reason": "…"}]}

Anything not an :class:`~evalsvc.errors.EvalsvcError` becomes a 500 with no details
(they can be security-sensitive); the stack trace goes to the log only.
"""

from __future__ import annotations

__all__ = [
    "PROBLEM_BASE",
    "WS_CLOSE_CODES",
    "problem_for",
    "status_for",
    "ws_close_code",
    "ws_error_for",
]

from typing import Any

from evalsvc import errors as e

PROBLEM_BASE = "https://evalsvc.org/problems/"

# Most specific first: the first class in the MRO found here wins.
_TABLE: dict[type[e.EvalsvcError], tuple[int, str]] = {
    e.PayloadTooLarge: (413, "Payload too large"),
    e.MalformedBody: (400, "Malformed request body"),
    e.MalformedRequest: (400, "Malformed request"),
    e.UpgradeRequired: (426, "WebSocket upgrade required"),
    e.UnsupportedMediaType: (415, "Unsupported media type"),
    e.InvalidInput: (422, "Invalid input"),
    e.Unauthenticated: (401, "Authentication required"),
    e.Forbidden: (403, "Forbidden"),
    e.NotFound: (404, "Not found"),
    e.MethodNotAllowed: (405, "Method not allowed"),
    e.IdempotencyConflict: (409, "Idempotency key reused"),
    e.InvalidTransition: (409, "Command not allowed in this state"),
    # The draw (docs/draw.md): too few reveals for a seed; a seat nobody may fill.
    e.InsufficientContributions: (409, "Too few contributions to the seed"),
    e.NoEligibleExpert: (409, "No eligible expert for a seat"),
    e.Conflict: (409, "Conflict"),
    e.CertificateRejected: (403, "Certificate rejected"),
    e.VerificationError: (422, "Verification failed"),
    e.Unavailable: (503, "Service unavailable"),
    e.SchemaMismatch: (503, "Database schema mismatch"),
    e.ConfigError: (500, "Configuration error"),
}


def status_for(exc: e.EvalsvcError) -> tuple[int, str]:
    """(HTTP status, title) for an evalsvc error."""
    for cls in type(exc).__mro__:
        if cls in _TABLE:
            return _TABLE[cls]
    return (500, "Internal error")


def problem_for(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, problem document) for any exception."""
    if not isinstance(exc, e.EvalsvcError):
        return 500, {
            "type": PROBLEM_BASE + "internal_error",
            "title": "Internal error",
            "status": 500,
            "code": "internal_error",
            "detail": "an internal error occurred; it has been logged",
        }
    status, title = status_for(exc)
    doc: dict[str, Any] = {
        "type": PROBLEM_BASE + exc.code,
        "title": title,
        "status": status,
        "code": exc.code,
        "detail": exc.message,
    }
    if exc.field is not None:
        doc["field"] = exc.field
    if isinstance(exc, e.InvalidInput) and exc.errors:
        doc["errors"] = [{"field": f.field, "reason": f.reason} for f in exc.errors]
    if isinstance(exc, e.InvalidTransition):
        doc["state"] = exc.state
        doc["command"] = exc.command
    return status, doc


# --- WebSocket (docs/protocol.md) -----------------------------------------------------
# In-band ``error`` messages carry the error's ``code`` (the same string as the problem
# document's ``code``); the connection stays open. When the server closes a connection
# on purpose it sends ``bye {code}`` and closes with the status below: RFC 6455 §7.4.1
# codes where one fits, else the private range 4000-4999 (§7.4.2), mirroring HTTP.
WS_CLOSE_CODES: dict[str, int] = {
    "normal": 1000,
    "going_away": 1001,  # server shutting down
    "binary_not_supported": 1003,  # §7.4.1 "data it cannot accept"
    "message_too_large": 1009,  # §7.4.1 "message too big" (beyond the hard frame limit)
    "internal_error": 1011,
    "unauthenticated": 4401,
    "token_revoked": 4401,  # `evalsvc tokens revoke`: authenticate again, another token
    "forbidden": 4403,
    "venue_agent_unknown": 4403,  # a venue certificate mapped to no venue
    "not_found": 4404,
    "auth_timeout": 4408,
    "slow_consumer": 4429,  # resume from your last seq
}


def ws_close_code(code: str) -> int:
    """The WebSocket close status for a ``bye`` reason code."""
    if code.startswith("certificate_"):
        return 4403  # a refused client certificate, as HTTP answers 403
    return WS_CLOSE_CODES.get(code, 1008)  # §7.4.1 1008: policy violation


def ws_error_for(exc: BaseException) -> tuple[str, str, str | None]:
    """(code, message, field) of an in-band ``error`` message; unknown errors become
    ``internal_error`` with no details (the stack goes to the log)."""
    if not isinstance(exc, e.EvalsvcError):
        return "internal_error", "an internal error occurred; it has been logged", None
    return exc.code, exc.message, exc.field
