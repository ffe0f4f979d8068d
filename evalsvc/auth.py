"""Bearer tokens and principals. Pure: the secret and the time are passed in.

A token is ``evs1.<claims>.<mac>``: base64url (no padding) of the canonical JSON claims
``{role, venue, sub, name, exp, jti}`` and of HMAC-SHA256(secret, "evs1." + claims).
Certificate login (issue "cross-region digital certificates") replaces tokens for
people; tokens stay for tools and demos.
"""

from __future__ import annotations

__all__ = ["ROLES", "Principal", "issue_token", "token_expiry", "verify_token"]

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import InvalidInput, Unauthenticated

ROLES = ("operator", "expert", "supervisor")
_PREFIX = "evs1."


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, the venue it is bound to, and a subject id."""

    role: str
    subject: str
    name: str
    venue: str | None = None
    # SHA-256 (hex) of the SubjectPublicKeyInfo of the certificate this principal logged in
    # with; None for a token issued by `evalsvc tokens issue`. When set, score sheets must
    # be signed with that key (docs/pki.md "Signed sheets").
    key_sha256: str | None = None
    # A venue agent authenticated by its venue certificate (mutual TLS or the venue-agent
    # challenge): it reads what its venue's operator reads and may change nothing.
    read_only: bool = False

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.subject}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    secret: bytes,
    *,
    role: str,
    subject: str,
    name: str,
    venue: str | None,
    now: int,
    ttl_seconds: int,
    nonce: str,
    key_sha256: str | None = None,
    read_only: bool = False,
) -> str:
    """A signed bearer token; operators and experts need a venue, supervisors may not.

    ``key_sha256`` binds the token to a certificate key (certificate login);
    ``read_only`` marks a venue agent's token (claim ``ro``)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if role in ("operator", "expert") and not venue:
        raise InvalidInput(f"a {role} token must name a venue", field="venue")
    if not subject:
        raise InvalidInput("subject must not be empty", field="subject")
    claims = {
        "role": role,
        "sub": subject,
        "name": name,
        "venue": venue,
        "exp": now + ttl_seconds,
        "jti": nonce,
    }
    if key_sha256 is not None:
        claims["key"] = key_sha256
    if read_only:
        claims["ro"] = True
    body = _PREFIX + _b64(canonical_bytes(claims))
    mac = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return body + "." + _b64(mac)


def token_expiry(token: str) -> int:
    """The ``exp`` claim of a token already verified by :func:`verify_token`."""
    body = token.rpartition(".")[0]
    return int(json.loads(_unb64(body[len(_PREFIX) :]))["exp"])


def verify_token(secret: bytes, token: str, *, now: int) -> Principal:
    """The principal of a valid, unexpired token; :class:`Unauthenticated` otherwise."""
    if not token.startswith(_PREFIX) or token.count(".") != 2:
        raise Unauthenticated("malformed bearer token")
    body, _, mac_text = token.rpartition(".")
    expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    try:
        mac = _unb64(mac_text)
        claims: Any = json.loads(_unb64(body[len(_PREFIX) :]))
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("malformed bearer token") from None
    if not hmac.compare_digest(mac, expected):
        raise Unauthenticated("bearer token signature is not valid (issued by another server?)")
    if not isinstance(claims, dict) or claims.get("role") not in ROLES:
        raise Unauthenticated("bearer token has no valid role")
    if int(claims.get("exp", 0)) <= now:
        raise Unauthenticated(
            "bearer token has expired: issue a new one with `evalsvc tokens issue`"
        )
    return Principal(
        role=claims["role"],
        subject=str(claims["sub"]),
        name=str(claims.get("name", "")),
        venue=claims.get("venue"),
        key_sha256=str(claims["key"]) if claims.get("key") else None,
        read_only=claims.get("ro") is True,
    )
