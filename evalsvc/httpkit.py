"""HTTP plumbing shared by every route: problem responses, strict JSON bodies, auth.

The error middleware is the only place an exception becomes an HTTP response
(through :mod:`evalsvc.http_errors`). A route's roles are declared once, on its
:class:`Route`: the OpenAPI document states them and :func:`guarded` (wrapped around
every handler by ``create_app``) enforces them, leaving the principal for the handler
(:func:`authenticated`). Finer checks (venue, seat, visibility) stay in the services.
"""

from __future__ import annotations

__all__ = [
    "HANDLER_ARGS",
    "PEER_AUTH",
    "PRINCIPAL",
    "PRINCIPAL_SECRET",
    "SECURITY_HEADERS",
    "TOKENS",
    "Param",
    "PeerAuth",
    "Route",
    "answer_parser_errors_as_problems",
    "authenticated",
    "bearer_principal",
    "error_middleware",
    "guarded",
    "idempotency_key",
    "int_path",
    "int_query",
    "json_response",
    "principal",
    "read_json",
    "security_headers",
    "session_id_in",
    "session_id_of",
    "shape",
]

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from pydantic import BaseModel

from evalsvc import jsonin
from evalsvc.auth import Principal, TokenVerifier
from evalsvc.canonical import response_json
from evalsvc.errors import (
    EvalsvcError,
    Forbidden,
    InvalidInput,
    MalformedBody,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from evalsvc.http_errors import problem_for

log = logging.getLogger(__name__)

PRINCIPAL_SECRET: web.AppKey[bytes] = web.AppKey("token_secret", bytes)
# The app's bearer-token verifier: its cache and deny list (evalsvc.tokens fills it).
TOKENS: web.AppKey[TokenVerifier] = web.AppKey("tokens", TokenVerifier)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Methods a read-only principal (a venue agent, evalsvc.pki.agents) may use.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class PeerAuth:
    """What the TLS client certificate of a request's connection authenticates (set by
    the pki middleware when a request carries no Authorization header): a venue agent's
    principal and until when (unix seconds), or the refusal to raise when a principal is
    needed — routes that need none (``/healthz``) still answer."""

    principal: Principal | None
    expires_at: int = 0
    refusal: EvalsvcError | None = None

    def get(self) -> Principal:
        """The principal, or raise the refusal."""
        if self.principal is None:
            raise self.refusal or Unauthenticated("the client certificate was not accepted")
        return self.principal


PEER_AUTH: web.RequestKey[PeerAuth] = web.RequestKey("peer_auth", PeerAuth)
# The principal :func:`guarded` authenticated, for the handler.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


@dataclass(frozen=True)
class Param:
    """A query or path parameter as the OpenAPI document states it (the handler parses
    it: :func:`int_query`, :func:`int_path` answer 422 outside these bounds)."""

    name: str
    type: str = "string"  # JSON Schema type
    doc: str = ""
    required: bool = False  # query parameters; a path parameter always is
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()  # the values it may take, when a few


@dataclass(frozen=True)
class Route:
    """One documented API route (the OpenAPI document is built from these)."""

    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...] = ()  # who may call it (enforced by guarded); empty: anyone
    body: type[BaseModel] | None = None
    # The JSON Schema of a body that a service checks field by field rather than with a
    # model (certificate login): what the document states it accepts.
    body_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    ok_status: int = 200
    content_type: str = "application/json"  # of the ok response
    # The JSON Schema of the ok response (:func:`shape`); None: "an object".
    response: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    idempotent: bool = False  # accepts (or requires) Idempotency-Key
    key_required: bool = False
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()  # those that are not plain strings
    # Problem statuses this route answers beyond those its declaration implies
    # (evalsvc.openapi): (status, when).
    errors: tuple[tuple[int, str], ...] = ()
    tag: str = "sessions"


def shape(required: Mapping[str, Any], optional: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema of a response object: the properties it always has and those it
    may have (a JSON type name, a list of them, or a schema). More may be added later,
    so other properties are allowed."""

    def schema(t: Any) -> Any:
        return {"type": t} if isinstance(t, str | list) else t

    props = {**(optional or {}), **required}
    return {
        "type": "object",
        "properties": {k: schema(v) for k, v in props.items()},
        "required": list(required),
    }


_dumps = response_json


def json_response(
    doc: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response (Decimals as strings, UTF-8, no ASCII escaping)."""
    return web.Response(
        text=_dumps(doc), status=status, content_type="application/json", headers=headers
    )


def _problem_response(exc: BaseException, request: web.Request) -> web.Response:
    status, doc = problem_for(exc)
    doc["instance"] = request.path
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="evalsvc"'}
    elif status == 426:
        headers = {"Upgrade": "websocket", "Connection": "Upgrade"}  # RFC 9110 §15.5.22
    # A detail may quote what the client sent (a path, a header) and so hold a lone
    # surrogate from bytes that were not UTF-8: never let that fail the error itself.
    text = _dumps(doc).encode("utf-8", "replace").decode("utf-8")
    return web.Response(
        text=text, status=status, content_type="application/problem+json", headers=headers
    )


# Sent with every response (evalsvc/web has no inline script or style: STYLE.md "The
# browser client"). No Server version banner: it only helps whoever scans for one.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Server": "evalsvc",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: :data:`SECURITY_HEADERS` on every response (files,
    problems, the WebSocket handshake), ``Cache-Control: no-store`` on the API's (they
    carry tokens' views of a session; nothing of it belongs in a shared cache)."""
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"


def _parser_problem(
    self: RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    err: BaseException
    if 400 <= status < 500:
        # aiohttp's message may echo megabytes of the client's line: name the limit only.
        detail = (message or "").split(":", 1)[0].strip() or "the request could not be read"
        err = MalformedRequest(
            f"malformed HTTP request: {detail} (request line and each header at most "
            f"{MAX_LINE_BYTES} bytes, at most {MAX_HEADERS} headers)"
        )
        log.info("refused a malformed HTTP request from %s: %s", request.remote, detail)
    else:
        err = exc or RuntimeError(message)
        log.error("error handling a request from %s", request.remote, exc_info=exc)
    if request.writer.output_size > 0:  # part of a response went out: nothing to add
        raise ConnectionError("a response was already being sent")
    code, doc = problem_for(err)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    resp = web.Response(
        text=_dumps(doc), status=code, content_type="application/problem+json", headers=headers
    )
    resp.force_close()
    return resp


# aiohttp's HTTP parser limits (the defaults, written down): a request over them is
# answered by _parser_problem.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
HANDLER_ARGS: dict[str, Any] = {
    "max_line_size": MAX_LINE_BYTES,
    "max_field_size": MAX_LINE_BYTES,
    "max_headers": MAX_HEADERS,
}


def answer_parser_errors_as_problems() -> None:
    """Make requests that aiohttp's parser refuses (a header over its limit, too many
    headers, not HTTP) get a problem document, as every other error does.

    aiohttp answers those itself, with plain text and its version banner, before any
    application, middleware or signal sees the request: ``RequestHandler.handle_error``
    is the one place they pass, and it has no per-application hook, so it is replaced
    (process-wide: every aiohttp server in an evalsvc process is evalsvc's).
    """
    RequestHandler.handle_error = _parser_problem  # type: ignore[method-assign]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as a problem document; unknown errors reveal nothing."""
    try:
        return await handler(request)
    except EvalsvcError as exc:
        return _problem_response(exc, request)
    except web.HTTPRequestEntityTooLarge as exc:
        return _problem_response(PayloadTooLarge(f"request body too large: {exc.text}"), request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err: EvalsvcError
        if exc.status == 404:
            err = NotFound(f"no route for {request.method} {request.path}")
        elif exc.status == 405:
            err = MethodNotAllowed(f"method {request.method} is not allowed on {request.path}")
        elif exc.status == 400:  # e.g. a WebSocket handshake with a bad key or version
            err = MalformedRequest(exc.text or exc.reason or "bad request")
        else:
            err = InvalidInput(exc.reason or "bad request")
        return _problem_response(err, request)
    except Exception as exc:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _problem_response(exc, request)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON (:mod:`evalsvc.jsonin`: UTF-8, numbers with fractions
    as Decimal, no NaN, no duplicate keys, bounded depth and integers) with an object at
    the top."""
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {ctype or 'none'!r}"
        )
    raw = await request.read()
    if not raw:
        raise MalformedBody("request body is empty; a JSON object is expected")
    doc = jsonin.loads_bytes(raw)
    if not isinstance(doc, dict):
        raise MalformedBody("the request body must be a JSON object")
    return doc


_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def idempotency_key(request: web.Request, *, required: bool) -> str | None:
    """The ``Idempotency-Key`` header (8-100 safe characters)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        if required:
            raise InvalidInput(
                "the Idempotency-Key header is required here (a client-chosen id)",
                field="Idempotency-Key",
            )
        return None
    if not _KEY_RE.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 8-100 characters of A-Z a-z 0-9 _ . : -",
            field="Idempotency-Key",
        )
    return key


# RFC 6750 §2.1 b64token, which every token we issue matches; anything else (a
# non-ASCII header, a control character) is refused before the token parser sees it.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_CHARS = 4096


def bearer_principal(
    tokens: TokenVerifier, token: str, *, now: int, cache: bool = True
) -> Principal:
    """The principal of a bearer token, for HTTP and the WebSocket alike:
    :class:`~evalsvc.errors.Unauthenticated` (or a subclass) is the only refusal.
    ``cache`` as in :meth:`TokenVerifier.verify`."""
    if len(token) > MAX_TOKEN_CHARS or not _B64TOKEN.fullmatch(token):
        raise Unauthenticated(
            "malformed bearer token: expected at most "
            f"{MAX_TOKEN_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750 §2.1)"
        )
    try:
        return tokens.verify(token, now=now, cache=cache)
    except EvalsvcError:
        raise
    except Exception as exc:
        # Whatever the token parser trips over in a token it did not issue, the client
        # gets the auth error, never a 500. One line, no stack: anyone can send these.
        log.info("refused a bearer token its parser failed on (%s)", type(exc).__name__)
        raise Unauthenticated("malformed bearer token") from None


def int_query(
    request: web.Request, name: str, default: int | None, *, lo: int, hi: int
) -> int:
    """An integer query parameter in ``[lo, hi]``; ``default`` when absent (required
    when ``default`` is None)."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise InvalidInput(f"the query parameter {name} is required", field=name)
        return default
    return _bounded_int(raw, name, lo=lo, hi=hi)


# ASCII digits only: int() would also take "+1", " 1", "1_000" and other scripts'
# digits, and any number of them.
_INT_RE = re.compile(r"-?[0-9]{1,19}")


def _bounded_int(raw: str, name: str, *, lo: int, hi: int) -> int:
    if not _INT_RE.fullmatch(raw):
        raise InvalidInput(
            f"{name} must be an integer between {lo} and {hi} (ASCII digits)", field=name
        )
    v = int(raw)
    if not lo <= v <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}", field=name)
    return v


def int_path(request: web.Request, name: str, *, lo: int, hi: int) -> int:
    """An integer path parameter in ``[lo, hi]`` (``hi`` at most what the database
    stores: 2**63 - 1)."""
    return _bounded_int(request.match_info[name], name, lo=lo, hi=hi)


def principal(request: web.Request, *, roles: tuple[str, ...] = ()) -> Principal:
    """The authenticated principal of the request: its bearer token or, without one, the
    venue agent its TLS client certificate authenticates (:data:`PEER_AUTH`)."""
    header = request.headers.get("Authorization", "")
    peer: PeerAuth | None = None if header else request.get(PEER_AUTH)
    if peer is not None:
        p = peer.get()
    else:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("an Authorization: Bearer token is required")
        p = bearer_principal(request.app[TOKENS], token.strip(), now=int(time.time()))
    if roles and p.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {p.role}")
    if p.read_only and request.method not in _READ_METHODS:
        raise Forbidden(
            f"{p.name or p.subject} is a venue agent: its credential reads, it changes nothing"
        )
    return p


def guarded(route: Route) -> Handler:
    """``route``'s handler behind its declared roles: a request is authenticated and its
    role checked (401 / 403) before the handler runs, which finds the principal with
    :func:`authenticated`. A route without roles is served as it is."""
    if not route.roles:
        return route.handler
    handler, roles = route.handler, route.roles

    @functools.wraps(handler)
    async def guard(request: web.Request) -> web.StreamResponse:
        request[PRINCIPAL] = principal(request, roles=roles)
        session_id_of(request)
        return await handler(request)

    return guard


_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def session_id_of(request: web.Request) -> str | None:
    """The ``{session_id}`` of the path, if the route has one: anything that cannot be a
    session id (a NUL, a space, 41 characters) is no session — 404, before any database
    sees it (PostgreSQL refuses a NUL in text, which would be a 500)."""
    sid = request.match_info.get("session_id")
    return None if sid is None else session_id_in(sid)


def session_id_in(value: str) -> str:
    """``value`` when it can be a session id (from a path or a body); anything else is
    no session — 404 — before any database sees it."""
    if not _SESSION_ID.fullmatch(value):
        raise NotFound("no such session")
    return value


def authenticated(request: web.Request) -> Principal:
    """The principal :func:`guarded` let through to this request's handler."""
    if PRINCIPAL not in request:
        # A handler of a route that declares no roles: a bug, not the client's error.
        raise RuntimeError(f"{request.method} {request.path}: the route declares no roles")
    return request[PRINCIPAL]
