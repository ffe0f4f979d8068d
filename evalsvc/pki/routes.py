"""Certificate login and trust administration over HTTP (docs/api.md, docs/pki.md).

- ``POST /api/auth/challenge`` ``{session, purpose?}`` → the challenge document and the
  exact bytes to sign (RFC 8785 canonical JSON, base64); ``{"purpose": "venue-agent"}``
  (no session) for a venue agent that cannot do mutual TLS (SM2-only venues);
- ``POST /api/auth/login`` ``{nonce, certificate, signature, role?, venue?}`` → a
  short-lived bearer token bound to the certificate's key (read-only for a venue agent);
- ``POST /api/admin/trust/reload`` (supervisor) → re-read ``[pki] trust_dir`` and the CRLs;
- ``GET /api/pki/certificates/{sha256}`` (supervisor) → a signer's certificate chain, as
  named by a ``sheet.submitted`` event.

:func:`certificate_middleware` authenticates venue agents by TLS client certificate: on
an HTTPS connection whose peer presented a certificate, a request without an
``Authorization`` header gets :data:`~evalsvc.httpkit.PEER_AUTH` (the read-only operator
principal of the venue, or the refusal), which ``httpkit.principal`` and the WebSocket's
``{"type": "auth", "method": "tls"}`` use.
"""

from __future__ import annotations

__all__ = ["PKI", "ROUTES", "SERVER_SSL", "certificate_middleware"]

import base64
import re
import ssl
from typing import Any

from aiohttp import web

from evalsvc.errors import EvalsvcError, Unauthenticated
from evalsvc.httpkit import (
    PEER_AUTH,
    Handler,
    PeerAuth,
    Route,
    authenticated,
    json_response,
    read_json,
    session_id_in,
    shape,
)
from evalsvc.pki.service import PkiService
from evalsvc.pki.tls import peer_certificate
from evalsvc.sessions.access import require_unscoped

PKI: web.AppKey[PkiService] = web.AppKey("pki", PkiService)
# The HTTPS server's context (`evalsvc serve` with [server] tls_cert): trust reloads add
# the new anchors to it.
SERVER_SSL: web.AppKey[ssl.SSLContext] = web.AppKey("server_ssl", ssl.SSLContext)


@web.middleware
async def certificate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set :data:`PEER_AUTH` for a request without ``Authorization`` on a TLS connection
    whose peer presented a certificate (a bearer token, when sent, always wins)."""
    if "Authorization" not in request.headers and request.transport is not None:
        leaf = peer_certificate(request.transport.get_extra_info("ssl_object"))
        if leaf is not None:
            try:
                auth = await request.app[PKI].venue_agent(leaf)
            except EvalsvcError as exc:
                request[PEER_AUTH] = PeerAuth(None, refusal=exc)
            else:
                request[PEER_AUTH] = PeerAuth(auth.principal, auth.expires_at)
    return await handler(request)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# A challenge's nonce as make_challenge writes it (base64url of 32+ random bytes).
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")


async def post_challenge(request: web.Request) -> web.Response:
    data = await read_json(request)
    if isinstance(data.get("session"), str) and data["session"]:
        # Not a session id (a NUL, a space): 404 here — PostgreSQL refuses a NUL in a
        # text parameter, which was a 500 (found by tests/test_schemathesis.py).
        session_id_in(data["session"])
    ch = await request.app[PKI].challenge(data, origin=_origin(request))
    return json_response(
        {
            "challenge": ch.to_json(),
            "signing_bytes": base64.b64encode(ch.signing_bytes()).decode("ascii"),
            "nonce": ch.nonce,
        },
        status=201,
    )


async def post_login(request: web.Request) -> web.Response:
    data = await read_json(request)
    nonce = data.get("nonce")
    if isinstance(nonce, str) and nonce and not _NONCE.fullmatch(nonce):
        # Never issued (and a NUL would fail the lookup on PostgreSQL): refused as the
        # service refuses an unknown challenge.
        raise Unauthenticated("unknown or already used challenge: ask for a new one")
    result = await request.app[PKI].login(data)
    p = result.principal
    return json_response(
        {
            "token": result.token,
            "expires_at": result.expires_at,
            "role": p.role,
            "subject": p.subject,
            "name": p.name,
            "venue": p.venue,
            "region": result.region,
            "seq": result.seq,
            "read_only": p.read_only,
        }
    )


async def post_trust_reload(request: web.Request) -> web.Response:
    p = authenticated(request)
    require_unscoped(p, "reload the trust stores")
    return json_response(await request.app[PKI].reload(actor=p.actor))


async def get_certificate(request: web.Request) -> web.Response:
    pem = await request.app[PKI].certificate(request.match_info["sha256"].lower())
    return web.Response(text=pem, content_type="application/pem-certificate-chain")


# The bodies of certificate login as PkiService.challenge and .login check them, field
# by field (their messages name the field): what the OpenAPI document states.
CHALLENGE_BODY: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "title": "LoginChallengeIn",
            "properties": {
                "session": {"type": "string", "minLength": 1, "description": "session id"},
                "purpose": {"const": "login"},
            },
            "required": ["session"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "title": "VenueAgentChallengeIn",
            "properties": {"purpose": {"const": "venue-agent"}},
            "required": ["purpose"],
            "additionalProperties": False,
        },
    ]
}
LOGIN_BODY: dict[str, Any] = {
    "type": "object",
    "title": "LoginIn",
    "properties": {
        "nonce": {"type": "string", "minLength": 1, "description": "the challenge's nonce"},
        "certificate": {
            "type": "string",
            "minLength": 1,
            "description": "PEM chain, leaf first",
        },
        "signature": {"type": "string", "description": "base64, over signing_bytes"},
        "role": {"enum": ["expert", "operator"]},
        "venue": {
            "type": "string",
            "minLength": 1,
            "description": "venue id: venue-agent challenges only, optional",
        },
    },
    "required": ["nonce", "certificate", "signature"],
    "additionalProperties": False,
}

ROUTES: list[Route] = [
    Route(
        "POST",
        "/api/auth/challenge",
        post_challenge,
        "A single-use login challenge for a session, or for a venue agent "
        "(purpose venue-agent, no session); sign its signing_bytes",
        body_schema=CHALLENGE_BODY,
        ok_status=201,
        response=shape({"challenge": "object", "signing_bytes": "string", "nonce": "string"}),
        errors=(
            (403, "a venue-agent challenge where no venue agents are configured"),
            (404, "no such session"),
            (503, "the trust stores did not load, or too many challenges are open"),
        ),
        tag="auth",
    ),
    Route(
        "POST",
        "/api/auth/login",
        post_login,
        "Certificate login: signed challenge -> short-lived bearer token",
        body_schema=LOGIN_BODY,
        response=shape(
            {
                "token": "string",
                "expires_at": "integer",
                "role": {"enum": ["expert", "operator"]},
                "subject": "string",
                "name": "string",
                "venue": ["string", "null"],
                "read_only": "boolean",
            },
            {"region": ["string", "null"], "seq": ["integer", "null"]},
        ),
        errors=(
            (401, "unknown or already used challenge"),
            (403, "certificate or signature refused, or not this session's person"),
            (503, "the trust stores did not load, or revocation could not be checked"),
        ),
        tag="auth",
    ),
    Route(
        "POST",
        "/api/admin/trust/reload",
        post_trust_reload,
        "Re-read the regional trust stores and CRLs (audited in every open session)",
        roles=("supervisor",),
        errors=((503, "the trust stores did not load; the previous ones are kept"),),
        tag="auth",
    ),
    Route(
        "GET",
        "/api/pki/certificates/{sha256}",
        get_certificate,
        "A sheet signer's certificate chain by the SHA-256 of its DER",
        roles=("supervisor",),
        content_type="application/pem-certificate-chain",
        tag="auth",
    ),
]
