"""Certificate login and trust administration over HTTP (docs/api.md, docs/pki.md).

- ``POST /api/auth/challenge`` ``{session, purpose?}`` → the challenge document and the
  exact bytes to sign (RFC 8785 canonical JSON, base64);
- ``POST /api/auth/login`` ``{nonce, certificate, signature, role?}`` → a short-lived
  bearer token bound to the certificate's key;
- ``POST /api/admin/trust/reload`` (supervisor) → re-read ``[pki] trust_dir`` and the CRLs;
- ``GET /api/pki/certificates/{sha256}`` (supervisor) → a signer's certificate chain, as
  named by a ``sheet.submitted`` event.
"""

from __future__ import annotations

__all__ = ["PKI", "ROUTES"]

import base64

from aiohttp import web

from evalsvc.httpkit import Route, json_response, principal, read_json
from evalsvc.pki.service import PkiService

PKI: web.AppKey[PkiService] = web.AppKey("pki", PkiService)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def post_challenge(request: web.Request) -> web.Response:
    data = await read_json(request)
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
        }
    )


async def post_trust_reload(request: web.Request) -> web.Response:
    p = principal(request, roles=("supervisor",))
    return json_response(await request.app[PKI].reload(actor=p.actor))


async def get_certificate(request: web.Request) -> web.Response:
    principal(request, roles=("supervisor",))
    pem = await request.app[PKI].certificate(request.match_info["sha256"].lower())
    return web.Response(text=pem, content_type="application/pem-certificate-chain")


ROUTES: list[Route] = [
    Route(
        "POST",
        "/api/auth/challenge",
        post_challenge,
        "A single-use login challenge for a session (sign its signing_bytes)",
        body_doc='{"session": "<session id>", "purpose": "login"}',
        ok_status=201,
        tag="auth",
    ),
    Route(
        "POST",
        "/api/auth/login",
        post_login,
        "Certificate login: signed challenge -> short-lived bearer token",
        body_doc=(
            '{"nonce": "<challenge nonce>", "certificate": "<PEM chain, leaf first>", '
            '"signature": "<base64>", "role": "expert|operator"}'
        ),
        tag="auth",
    ),
    Route(
        "POST",
        "/api/admin/trust/reload",
        post_trust_reload,
        "Re-read the regional trust stores and CRLs (audited in every open session)",
        roles=("supervisor",),
        tag="auth",
    ),
    Route(
        "GET",
        "/api/pki/certificates/{sha256}",
        get_certificate,
        "A sheet signer's certificate chain by the SHA-256 of its DER",
        roles=("supervisor",),
        tag="auth",
    ),
]
