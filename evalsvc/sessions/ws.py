"""``GET /ws/sessions/{id}``: the session WebSocket (aiohttp server side).

The reader loop below parses each frame (:mod:`evalsvc.sessions.protocol`), authenticates
first, then joins the hub and runs commands through :class:`SessionService` — an ``ack``
is queued only after the service returned, i.e. after COMMIT. Every write to the socket
goes through the connection's queue and writer task (:mod:`evalsvc.sessions.hub`).
"""

from __future__ import annotations

__all__ = ["AUTH_TIMEOUT_S", "HUB", "ROUTES", "WITNESS_LINK", "session_socket"]

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

from aiohttp import WSMsgType, web

from evalsvc.auth import Principal
from evalsvc.errors import (
    EvalsvcError,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    Unauthenticated,
    UpgradeRequired,
)
from evalsvc.http_errors import ws_close_code, ws_error_for
from evalsvc.httpkit import PEER_AUTH, TOKENS, PeerAuth, Route, bearer_principal, session_id_of
from evalsvc.sessions import protocol
from evalsvc.sessions.hub import Connection, Hub
from evalsvc.sessions.routes import SESSIONS
from evalsvc.sessions.service import Result, SessionService
from evalsvc.sessions.witness_link import WitnessLink

log = logging.getLogger(__name__)

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
WITNESS_LINK: web.AppKey[WitnessLink] = web.AppKey("witness_link", WitnessLink)
AUTH_TIMEOUT_S = 10.0
# Frames up to this size are read and refused in-band with ``message_too_large`` (the
# protocol limit is protocol.MAX_MESSAGE_BYTES); beyond it aiohttp closes the
# connection with 1009 (RFC 6455 §7.4.1) without buffering more. aiohttp refuses a
# message of max_msg_size bytes or more, hence the + 1 (docs/protocol.md: "over").
HARD_FRAME_LIMIT = 4 * protocol.MAX_MESSAGE_BYTES
WRITER_LIMIT = 32 * 1024


async def _refuse(ws: web.WebSocketResponse, exc: BaseException, msg_id: str | None) -> None:
    code, message, field = ws_error_for(exc)
    with contextlib.suppress(Exception):
        await ws.send_str(protocol.error_message(msg_id, code, message, field=field))
        await ws.send_str(protocol.bye_message(code, message))
        await ws.close(code=ws_close_code(code), message=code.encode("ascii"))


async def _authenticate(
    request: web.Request, ws: web.WebSocketResponse, session_id: str
) -> tuple[Principal, int, dict[str, Any], int] | None:
    """The first frame must be ``auth`` within :data:`AUTH_TIMEOUT_S`; anything else
    closes the connection with a reason. ``{"method": "tls"}`` takes the venue agent the
    connection's TLS client certificate authenticates (evalsvc.pki.routes middleware).

    Returns the principal, the session's last seq, the ``you`` of its view and the
    expiry — not the view: the handler's frame lives as long as the connection, and a
    whole session document held there was most of an idle socket's memory."""
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):  # (see pgpresence._serve)
            msg = await ws.receive()
    except TimeoutError:
        await _refuse(
            ws,
            _AuthTimeout(f"no auth message within {AUTH_TIMEOUT_S:g} s of connecting"),
            None,
        )
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    raw: str | bytes = msg.data if msg.type == WSMsgType.TEXT else bytes(msg.data or b"")
    try:
        parsed = protocol.parse_client_message(raw)
        if not isinstance(parsed, protocol.Auth):
            raise Unauthenticated(
                'authenticate first: the first message must be {"type": "auth", "token": …}'
            )
        if parsed.token is None:  # method "tls"
            peer: PeerAuth | None = request.get(PEER_AUTH)
            if peer is None:
                raise Unauthenticated(
                    "this connection presented no TLS client certificate: "
                    "authenticate with a token"
                )
            p, expires = peer.get(), peer.expires_at
        else:
            p = bearer_principal(
                request.app[TOKENS], parsed.token, now=int(time.time()), cache=False
            )
            expires = p.expires_at or 0
        view = await request.app[SESSIONS].get(p, session_id)  # NotFound unless visible
    except Exception as exc:
        if not isinstance(exc, EvalsvcError):
            log.exception("websocket authentication failed")
        elif not isinstance(exc, Unauthenticated) and isinstance(exc, InvalidInput):
            exc = Unauthenticated(f"authenticate first ({exc.message})")
        await _refuse(ws, exc, protocol.message_id(raw))
        return None
    if parsed.token is None:
        log.info(
            "venue agent %s (%s) joined session %s by client certificate, until %d",
            p.subject,
            p.name,
            session_id,
            expires,
        )
    last_seq, you = view["last_seq"], view["you"]
    assert isinstance(last_seq, int) and isinstance(you, dict)
    return p, last_seq, you, expires


class _AuthTimeout(Unauthenticated):
    code = "auth_timeout"


async def session_socket(request: web.Request) -> web.StreamResponse:
    """Upgrade to a WebSocket and serve one session's live protocol."""
    session_id = session_id_of(request) or ""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        # A browser's or a script's plain GET: say what this URL is (RFC 9110 §15.5.22).
        raise UpgradeRequired(
            f"{request.path} is a WebSocket (RFC 6455): connect with Upgrade: websocket "
            "and authenticate in-band (docs/protocol.md)"
        )
    hub = request.app[HUB]
    service = request.app[SESSIONS]
    ws = web.WebSocketResponse(
        max_msg_size=HARD_FRAME_LIMIT + 1,
        heartbeat=30.0,  # RFC 6455 §5.5.2 ping: drops half-open TCP connections
        autoping=True,
        # The close handshake may take as long as a kicked client has to read its bye.
        timeout=hub.close_timeout_s,
        # aiohttp checks the transport's high-water mark once per this many bytes
        # written (256 KiB by default): a smaller step blocks a send — and so shows a
        # slow consumer — sooner.
        writer_limit=WRITER_LIMIT,
    )
    try:
        await ws.prepare(request)
    except UnicodeError:
        # aiohttp quotes a bad Sec-WebSocket-* header in its refusal, and fails on one
        # that was not UTF-8 (RFC 6455 §4.1: the handshake is ASCII).
        raise MalformedRequest("the WebSocket handshake headers must be ASCII") from None
    transport = request.transport
    conn: Connection | None = None
    expiry: asyncio.TimerHandle | None = None
    try:
        auth = await _authenticate(request, ws, session_id)
        if auth is None:
            return ws
        p, last_seq, you, expires = auth
        del auth

        async def close(code: int, reason: str) -> None:
            await ws.close(code=code, message=reason.encode("ascii"))

        _limit_unsent(transport, hub.notsent_lowat)
        conn = hub.connection(
            p, ws.send_str, close, transport.abort if transport is not None else None
        )
        # The token's lifetime bounds the connection's: at expiry it is closed with
        # ``unauthenticated`` and the client reconnects with a fresh token.
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, expires - time.time()),
            conn.kick,
            "unauthenticated",
            "your authentication expired: reconnect (with a new token, or your certificate "
            "is validated again) and resume from your seq",
        )
        conn.enqueue(
            protocol.auth_ok_message(
                epoch=hub.epoch,
                seq=last_seq,
                you=you,
            )
        )
        async for msg in ws:
            if conn.closing is not None:
                break
            if msg.type == WSMsgType.TEXT:
                await _handle(
                    conn, hub, service, session_id, msg.data, request.app.get(WITNESS_LINK)
                )
            elif msg.type == WSMsgType.BINARY:
                _error(conn, protocol.BinaryFrame("binary frames are not accepted"), None)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        if expiry is not None:
            expiry.cancel()
        if conn is not None:
            hub.leave(conn)
            hub.forget(conn)
            await conn.aclose()
        if transport is not None:
            # A connection that ended without a finished close handshake (the RFC 6455
            # ping timed out, a kicked client stopped reading) keeps its socket and
            # buffers until they drain, i.e. forever for a stalled client.
            asyncio.get_running_loop().call_later(hub.close_timeout_s, transport.abort)
    return ws


def _limit_unsent(transport: asyncio.BaseTransport | None, size: int) -> None:
    """Let the kernel hold at most ``size`` unsent bytes of this socket (TCP_NOTSENT_LOWAT,
    Linux and macOS; elsewhere a no-op).

    With the default, the autotuned send buffer (up to net.ipv4.tcp_wmem, 4 MiB) parks
    thousands of frames for a client that stopped reading before a send ever blocks, so
    neither the queue bound nor the send timeout would see it for minutes at a
    session's event rate. In-flight data (the window the client granted) is not limited.
    """
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and option is not None and size > 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, size)


def _error(conn: Connection, exc: BaseException, msg_id: str | None) -> None:
    code, message, field = ws_error_for(exc)
    conn.enqueue(protocol.error_message(msg_id, code, message, field=field))


def _ack(conn: Connection, msg_id: str, r: Result) -> None:
    seq = int(r.body["seq"])
    conn.enqueue(protocol.ack_message(msg_id, seq, result=r.body, replayed=r.replayed))


async def _handle(
    conn: Connection,
    hub: Hub,
    service: SessionService,
    session_id: str,
    raw: str,
    link: WitnessLink | None = None,
) -> None:
    msg_id: str | None = None
    try:
        msg = protocol.parse_client_message(raw)
        if isinstance(msg, protocol.Hello):
            await hub.join(conn, session_id, msg)
        elif isinstance(msg, protocol.Heartbeat):
            conn.enqueue(protocol.heartbeat_message(hub.top(conn)))
        elif isinstance(msg, protocol.Submit | protocol.Command) and conn.principal.read_only:
            msg_id = msg.id
            raise Forbidden("a venue agent's connection reads; it changes nothing")
        elif isinstance(msg, protocol.Submit):
            msg_id = msg.id
            r = await service.submit_sheet(conn.principal, session_id, msg.sheet, key=msg.id)
            _ack(conn, msg.id, r)
        elif isinstance(msg, protocol.WitnessAnswer):
            if link is not None:
                link.answer(conn, msg)
        elif isinstance(msg, protocol.Command):
            msg_id = msg.id
            r = await service.command(conn.principal, session_id, msg.body, key=msg.id)
            _ack(conn, msg.id, r)
        else:
            raise InvalidInput("already authenticated on this connection", field="type")
    except Exception as exc:
        if not isinstance(exc, EvalsvcError):
            log.exception("websocket message failed on session %s", session_id)
        _error(conn, exc, msg_id or protocol.message_id(raw))


ROUTES: list[Route] = [
    Route(
        "GET",
        "/ws/sessions/{session_id}",
        session_socket,
        "WebSocket (RFC 6455) of one session: authenticate in-band, then live events, "
        "resume and commands — see docs/protocol.md",
        ok_status=101,
        errors=(
            (400, "a malformed WebSocket handshake"),
            (426, "a plain request: this URL speaks WebSocket only"),
        ),
        tag="realtime",
    ),
]
