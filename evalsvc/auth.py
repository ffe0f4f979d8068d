"""Bearer tokens and principals. Pure: the secret and the time are passed in.

A token is ``evs1.<claims>.<mac>``: base64url (no padding) of the canonical JSON claims
``{role, venue, sub, name, exp, jti}`` and of HMAC-SHA256(secret, "evs1." + claims).
Certificate login (issue "cross-region digital certificates") replaces tokens for
people; tokens stay for tools and demos.

A token has exactly one spelling: both parts are canonical base64url (RFC 4648 §5, no
padding, nothing else); anything else — and claims of any other shape — is refused as
:class:`~evalsvc.errors.Unauthenticated` (401), never an internal error. Every token names
a person (``sub``) and has an id (``jti``) it can be revoked by (:class:`TokenVerifier`,
``evalsvc tokens revoke``).
"""

from __future__ import annotations

__all__ = [
    "MAX_SCOPE",
    "MAX_TOKEN_CHARS",
    "ROLES",
    "VENUE_ROLES",
    "Principal",
    "TokenRevoked",
    "TokenVerifier",
    "issue_token",
    "token_expiry",
    "verify_token",
]

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import InvalidInput, Unauthenticated

# supervisor: the tender's supervisor (行政监督), bound to every session or to named
# sessions and tenders (claim ``scope``); site_supervisor: a venue's site supervisor
# (现场监督), bound to its venue (docs/api.md "Supervision by scope").
ROLES = ("operator", "expert", "supervisor", "site_supervisor")
# The roles that must name a venue.
VENUE_ROLES = ("operator", "expert", "site_supervisor")
MAX_SCOPE = 100
_PREFIX = "evs1."
# Far above any token issued (~400 characters): a longer header is refused unread.
MAX_TOKEN_CHARS = 4096
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_JTI = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUIRED = frozenset({"role", "sub", "name", "venue", "exp", "jti"})
_ALLOWED = _REQUIRED | {"key", "ro", "scope"}
# A session id or a tender number (招标项目编号) a supervisor is bound to.
_SCOPE_ITEM = re.compile(r"[^\s]{1,100}")


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

    # The token's id (claim ``jti``) and expiry (unix s); None for a principal that
    # came from no token. Not compared: the same person with two tokens is one principal.
    token_id: str | None = field(default=None, compare=False)
    expires_at: int | None = field(default=None, compare=False)
    # A tender supervisor's scope: the session ids and tender numbers it supervises;
    # None: every session (the tokens issued before scopes existed).
    scope: tuple[str, ...] | None = None

    @property
    def actor(self) -> str:
        """The audit log's actor: ``role:subject`` — the person, since every token
        names one (``evalsvc tokens issue --subject``)."""
        return f"{self.role}:{self.subject}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding (RFC 4648 §5, §3.2): the alphabet only, no
    ``=``, and the one spelling :func:`_b64` gives — the unused bits of the last
    character zero. A lenient decoder skips foreign characters, so ``mac + "!"``
    authenticated as well as ``mac``: one token, many spellings."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not canonical base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url (non-zero trailing bits)")
    return data


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
    scope: tuple[str, ...] | None = None,
) -> str:
    """A signed bearer token; operators, experts and site supervisors need a venue, the
    tender's supervisor does not (its venue, if any, grants nothing).

    ``subject`` names the person (it is the audit actor, ``role:subject``); ``nonce``
    becomes the token id (claim ``jti``) it can be revoked by. ``key_sha256`` binds the
    token to a certificate key (certificate login); ``read_only`` marks a venue agent's
    token (claim ``ro``); ``scope`` binds a supervisor's token to those session ids and
    tender numbers (claim ``scope``; None: every session)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if role in VENUE_ROLES and not venue:
        raise InvalidInput(f"a {role} token must name a venue", field="venue")
    if scope is not None:
        if role != "supervisor":
            raise InvalidInput(f"only a supervisor token has a scope, not a {role} token",
                               field="scope")
        if not 1 <= len(scope) <= MAX_SCOPE or not all(
                isinstance(x, str) and _SCOPE_ITEM.fullmatch(x) for x in scope):
            raise InvalidInput(f"scope: expected 1 to {MAX_SCOPE} session ids or tender"
                               " numbers, each 1-100 characters without spaces",
                               field="scope")
    if not subject or not subject.strip():
        raise InvalidInput("subject must not be empty", field="subject")
    if not nonce or not _JTI.fullmatch(nonce):
        raise InvalidInput("the token id must be 1-64 of A-Z a-z 0-9 _ -", field="jti")
    claims: dict[str, Any] = {
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
    if scope is not None:
        claims["scope"] = sorted(set(scope))
    body = _PREFIX + _b64(canonical_bytes(claims))
    mac = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return body + "." + _b64(mac)


def _malformed() -> Unauthenticated:
    return Unauthenticated(
        "malformed bearer token: expected evs1.<claims>.<mac>, canonical base64url without padding"
    )


def _split(token: str) -> tuple[str, bytes, bytes]:
    """(signed body, claims bytes, MAC) of a token spelled exactly as issued."""
    if (
        len(token) > MAX_TOKEN_CHARS
        or not token.isascii()
        or not token.startswith(_PREFIX)
        or token.count(".") != 2
    ):
        raise _malformed()
    body, _, mac_text = token.rpartition(".")
    try:
        mac = _unb64(mac_text)
        raw = _unb64(body[len(_PREFIX) :])
    except ValueError:
        raise _malformed() from None
    if len(mac) != hashlib.sha256().digest_size:
        raise _malformed()
    return body, raw, mac


def _claims(raw: bytes) -> Principal:
    """The principal of signed claims of the shape :func:`issue_token` writes; anything
    else (nesting, other types, other keys) is refused, never an internal error."""
    bad = Unauthenticated("bearer token claims are not of the expected shape")
    try:
        claims: Any = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise bad from None
    if not isinstance(claims, dict) or not _REQUIRED <= claims.keys() <= _ALLOWED:
        raise bad
    role, sub, name, venue = claims["role"], claims["sub"], claims["name"], claims["venue"]
    exp, jti = claims["exp"], claims["jti"]
    key, ro = claims.get("key"), claims.get("ro", False)
    scope = claims.get("scope")
    if (
        role not in ROLES
        or not isinstance(sub, str)
        or not sub
        or not isinstance(name, str)
        or not (venue is None or isinstance(venue, str))
        or type(exp) is not int
        or not isinstance(jti, str)
        or not _JTI.fullmatch(jti)
        or not (key is None or isinstance(key, str))
        or not isinstance(ro, bool)
        or (role == "site_supervisor" and not venue)
        or not (scope is None or (
            role == "supervisor" and isinstance(scope, list) and 1 <= len(scope) <= MAX_SCOPE
            and all(isinstance(x, str) and _SCOPE_ITEM.fullmatch(x) for x in scope)))
    ):
        raise bad
    return Principal(
        role=role,
        subject=sub,
        name=name,
        venue=venue,
        key_sha256=key or None,
        read_only=ro,
        token_id=jti,
        expires_at=exp,
        scope=tuple(scope) if scope is not None else None,
    )


def token_expiry(token: str) -> int:
    """The ``exp`` claim of a token already verified by :func:`verify_token`."""
    exp = _claims(_split(token)[1]).expires_at
    assert exp is not None
    return exp


def verify_token(secret: bytes, token: str, *, now: int) -> Principal:
    """The principal of a valid, unexpired token; :class:`Unauthenticated` otherwise.

    The MAC is checked before the claims are parsed: nothing an attacker wrote is
    parsed. A token has one spelling (:func:`_unb64`)."""
    body, raw, mac = _split(token)
    expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Unauthenticated("bearer token signature is not valid (issued by another server?)")
    p = _claims(raw)
    if (p.expires_at or 0) <= now:
        raise Unauthenticated(
            "bearer token has expired: issue a new one with `evalsvc tokens issue`"
        )
    return p


class TokenVerifier:
    """The bearer tokens of one application: verified once and cached until they expire,
    and refused once revoked (the deny list :mod:`evalsvc.tokens` keeps filled).

    Owned by the app (``create_app``), not the process: two apps in one process (tests,
    an embedded server) never share a cache or a deny list. Pure: time is passed in.
    """

    def __init__(self, secret: bytes, *, max_cached: int = 10_000) -> None:
        self.secret = secret
        self._max = max_cached
        # Verifying the MAC and parsing the claims on every request was a tenth of a
        # submission's CPU. Only valid tokens are cached, and only until expiry.
        self._cache: dict[str, Principal] = {}
        self._revoked: dict[str, int | None] = {}  # jti → its expiry (None: unknown)

    def verify(self, token: str, *, now: int, cache: bool = True) -> Principal:
        """The principal of ``token``; :class:`Unauthenticated` if it is malformed,
        forged or expired, :class:`TokenRevoked` if it was revoked.

        ``cache=False`` verifies without keeping the token: a WebSocket authenticates
        once per connection, and caching its token only held ~1 KiB per idle socket
        (bench/sync.py's RSS per connection) for a lookup that never comes."""
        p = self._cache.get(token)
        if p is None or (p.expires_at or 0) <= now:
            p = verify_token(self.secret, token, now=now)
            if cache:
                if len(self._cache) >= self._max:
                    self._cache.clear()
                self._cache[token] = p
        if p.token_id is not None and p.token_id in self._revoked:
            raise TokenRevoked(f"bearer token {p.token_id} was revoked: ask for a new one")
        return p

    def revoke(self, entries: Iterable[tuple[str, int | None]]) -> set[str]:
        """Add ``(jti, expiry)`` pairs to the deny list; returns the ids that are new."""
        pairs = list(entries)
        new = {jti for jti, _ in pairs if jti not in self._revoked}
        for jti, exp in pairs:
            self._revoked[jti] = exp
        return new

    def is_revoked(self, jti: str | None) -> bool:
        """Whether the token id ``jti`` is on the deny list."""
        return jti is not None and jti in self._revoked

    def prune(self, now: int) -> None:
        """Forget revoked ids whose tokens have expired (refused as expired anyway)."""
        for jti in [j for j, exp in self._revoked.items() if exp is not None and exp <= now]:
            del self._revoked[jti]


class TokenRevoked(Unauthenticated):
    """A valid token that was revoked (``evalsvc tokens revoke``)."""

    code = "token_revoked"
