"""How a venue agent proves who it is to the primary (docs/protocol.md "The venue link").

- :class:`TokenCredentials` — an operator token of the venue (``--token``): sent as
  ``Authorization: Bearer`` and in the WebSocket's ``auth``.
- :class:`TlsCredentials` — the venue's RSA/ECDSA certificate, presented in the TLS
  handshake (``--cert``/``--key`` with an ``https://`` primary): HTTP requests carry no
  ``Authorization`` header; the WebSocket says ``{"type": "auth", "method": "tls"}``.
- :class:`ChallengeCredentials` — the venue's certificate signs a ``venue-agent``
  challenge (SM2 certificates, which Python's ``ssl`` cannot use in TLS; or on request):
  the primary answers with a short-lived read-only operator token, renewed before it
  expires and whenever the primary says ``unauthenticated``.

:class:`PrimaryCheck` is the agent's side of mutual TLS: OpenSSL checked the primary's
chain and host name in the handshake; this validates its leaf with
``Usage.VENUE_SERVER`` against the agent's regional trust (region, TLS server profile,
CRLs) — the authoritative check, as on the primary's side.
"""

from __future__ import annotations

__all__ = [
    "ChallengeCredentials",
    "Credentials",
    "PrimaryCheck",
    "TlsCredentials",
    "TokenCredentials",
    "load_venue_certificate",
    "refusal",
]

import asyncio
import base64
import datetime as _dt
import hashlib
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import (
    CertificateRejected,
    ConfigError,
    EvalsvcError,
    Forbidden,
    SignatureInvalid,
    Unauthenticated,
    Unavailable,
    VerificationError,
)
from evalsvc.pki.challenge import Challenge, parse_presented_chain
from evalsvc.pki.devpki import load_private_key
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import PrivateKey, sign, verify_signature
from evalsvc.pki.tls import peer_certificate
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, validate

log = logging.getLogger(__name__)


def refusal(status: int, doc: Any, what: str) -> EvalsvcError:
    """The primary's 401/403 problem document as an error naming its code and detail."""
    code = doc.get("code", "?") if isinstance(doc, dict) else "?"
    detail = doc.get("detail", "") if isinstance(doc, dict) else str(doc)[:200]
    message = f"the primary refused {what} ({code}): {detail}"
    if status == 401:
        return Unauthenticated(message)
    if status == 403:
        return Forbidden(message)
    return Unavailable(f"the primary answered {status} to {what} ({code}): {detail}")


class Credentials(Protocol):
    """What the agent sends to be known as its venue."""

    what: str  # "token" or "certificate", for messages

    async def headers(self, http: aiohttp.ClientSession | None) -> dict[str, str]:
        """Headers of an HTTP request to the primary (``http``: the agent's client, for
        credentials that must ask the primary first)."""
        ...

    async def auth_message(self, http: aiohttp.ClientSession | None) -> dict[str, Any]:
        """The WebSocket's first frame."""
        ...

    def refused(self, offered: str | None) -> None:
        """The primary said ``unauthenticated`` to ``offered`` (the token sent, if any):
        do not offer it again."""
        ...


class TokenCredentials:
    """An operator token given on the command line (``--token``)."""

    what = "token"

    def __init__(self, token: str) -> None:
        self.token = token

    async def headers(self, http: aiohttp.ClientSession | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def auth_message(self, http: aiohttp.ClientSession | None) -> dict[str, Any]:
        return {"type": "auth", "token": self.token}

    def refused(self, offered: str | None) -> None:
        return None  # nothing else to offer; the link backs off and retries


class TlsCredentials:
    """The venue certificate in the TLS handshake (the client context carries it)."""

    what = "certificate"

    async def headers(self, http: aiohttp.ClientSession | None) -> dict[str, str]:
        return {}

    async def auth_message(self, http: aiohttp.ClientSession | None) -> dict[str, Any]:
        return {"type": "auth", "method": "tls"}

    def refused(self, offered: str | None) -> None:
        return None  # validated again on the next connection


class ChallengeCredentials:
    """Tokens obtained by signing ``venue-agent`` challenges with the venue's key.

    A token is renewed when less than a fifth of its lifetime is left (lifetimes are
    measured on this machine's clock from the challenge's ``issued_at``/``expires_at``
    difference, so a skewed clock does not matter), and at once after ``refused()``."""

    what = "certificate"

    def __init__(
        self,
        *,
        primary: str,
        venue: str,
        chain_pem: str,
        key: PrivateKey,
        server_hostname: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary.rstrip("/")
        self.venue = venue
        self.chain_pem = chain_pem
        self.key = key
        self.server_hostname = server_hostname
        self.clock = clock
        self.token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.logins = 0

    async def token_for(self, http: aiohttp.ClientSession | None) -> str:
        """A token with at least a fifth of its lifetime left (logging in if needed)."""
        async with self._lock:
            if self.token is None or self.clock() >= self._renew_at:
                if http is None:
                    raise Unavailable("the agent is not running: no HTTP client to log in with")
                await self._login(http)
            assert self.token is not None
            return self.token

    async def _post(self, http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
        kw: dict[str, Any] = {}
        if self.server_hostname is not None:
            kw["server_hostname"] = self.server_hostname
        async with http.post(self.primary + path, json=body, **kw) as r:
            return r.status, await r.json(content_type=None)

    async def _login(self, http: aiohttp.ClientSession) -> None:
        started = self.clock()
        status, doc = await self._post(http, "/api/auth/challenge", {"purpose": "venue-agent"})
        if status != 201:
            raise refusal(status, doc, "a venue-agent challenge")
        challenge = Challenge.from_json(doc["challenge"])
        if challenge.purpose != "venue-agent" or challenge.session != "-":
            raise VerificationError(
                f"the primary sent a {challenge.purpose!r} challenge for session "
                f"{challenge.session!r}; a venue agent signs only session-less venue-agent ones"
            )
        # Sign our own canonical rendering of the document, never bytes the server chose.
        signature = sign(self.key, challenge.signing_bytes())
        status, doc = await self._post(
            http,
            "/api/auth/login",
            {
                "nonce": challenge.nonce,
                "certificate": self.chain_pem,
                "signature": base64.b64encode(signature).decode("ascii"),
                "venue": self.venue,
            },
        )
        if status != 200:
            raise refusal(status, doc, "this venue's certificate")
        lifetime = int(doc["expires_at"]) - int(challenge.issued_at.timestamp())
        self.token = str(doc["token"])
        self._renew_at = started + max(1.0, lifetime * 0.8)
        self.logins += 1
        log.info(
            "logged in to %s by signed venue-agent challenge as %s of %s (region %s), "
            "token for about %d s",
            self.primary,
            doc.get("subject"),
            doc.get("venue"),
            doc.get("region"),
            lifetime,
        )

    async def headers(self, http: aiohttp.ClientSession | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token_for(http)}"}

    async def auth_message(self, http: aiohttp.ClientSession | None) -> dict[str, Any]:
        return {"type": "auth", "token": await self.token_for(http)}

    def refused(self, offered: str | None) -> None:
        # Expired (the WebSocket closes at the token's expiry) or no longer accepted:
        # the next use logs in again instead of offering the same token in a loop —
        # unless it was an older token, already renewed.
        if offered is None or offered == self.token:
            self.token = None


def load_venue_certificate(
    cert_file: Path, key_file: Path
) -> tuple[x509.Certificate, str, PrivateKey]:
    """(leaf, PEM chain leaf first, key) from ``--cert``/``--key``; the key must be the
    certificate's (checked by signing and verifying a probe)."""
    try:
        data = cert_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--cert {cert_file}: {exc.strerror or exc}") from exc
    try:
        key_data = key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--key {key_file}: {exc.strerror or exc}") from exc
    try:
        leaf, chain = parse_presented_chain(data)
    except EvalsvcError as exc:
        raise ConfigError(f"--cert {cert_file}: {exc.message}") from exc
    try:
        key = load_private_key(key_data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--key {key_file}: not a PEM private key ({exc})") from exc
    probe = b"evalsvc venue key check"
    try:
        verify_signature(leaf, probe, sign(key, probe))
    except (SignatureInvalid, TypeError, ValueError) as exc:
        raise ConfigError(
            f"--key {key_file} is not the key of the certificate in {cert_file}"
        ) from exc
    pem = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in (leaf, *chain))
    return leaf, pem, key


class PrimaryCheck:
    """Validate the primary's TLS certificate as a venue server (once per certificate)."""

    def __init__(self, trust: TrustConfig, *, server_name: str) -> None:
        self.trust = trust
        self.server_name = server_name
        self._accepted: dict[str, str] = {}  # certificate SHA-256 → region

    def check(self, ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> None:
        """Raise :class:`~evalsvc.errors.CertificateRejected` unless the peer's leaf is a
        valid ``venue-server`` certificate for :attr:`server_name`."""
        leaf = peer_certificate(ssl_object)
        if leaf is None:
            raise CertificateRejected("the primary presented no TLS certificate")
        digest = hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
        if digest in self._accepted:
            return
        try:
            result = validate(
                leaf,
                trust=self.trust,
                at=_dt.datetime.now(_dt.UTC),
                usage=Usage.VENUE_SERVER,
                server_name=self.server_name,
                revocation=RevocationMode.SOFT_FAIL,
            )
        except CertificateRejected as exc:
            raise type(exc)(
                f"the primary's certificate does not validate as {self.server_name}: "
                f"{exc.message}"
            ) from exc
        for w in result.warnings:
            log.warning("the primary's certificate: %s", w)
        self._accepted[digest] = result.region
        log.info(
            "the primary %s presented a valid %s venue-server certificate (region %s)",
            self.server_name,
            result.algorithm,
            result.region,
        )
