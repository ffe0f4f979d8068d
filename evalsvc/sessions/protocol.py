"""The session WebSocket protocol: parse client messages, build server messages. Pure.

Every frame is one UTF-8 JSON object in a text frame (RFC 6455 §5.6) with a ``type``.
``docs/protocol.md`` documents each message with examples; this module is the one place
that reads or writes them, so the server hub and the venue agent agree byte for byte.

Client → server: ``auth``, ``hello``, ``submit``, ``command``, ``heartbeat``.
Server → client: ``auth_ok``, ``event``, ``snapshot``, ``synced``, ``ack``, ``error``,
``heartbeat``, ``presence``, ``bye``.
"""

from __future__ import annotations

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Auth",
    "BinaryFrame",
    "ClientMessage",
    "Command",
    "Heartbeat",
    "Hello",
    "MessageTooLarge",
    "Submit",
    "UnknownMessageType",
    "WitnessAnswer",
    "ack_message",
    "add_checkpoint_message",
    "auth_ok_message",
    "bye_message",
    "chain_hash",
    "dumps",
    "error_message",
    "event_message",
    "heartbeat_message",
    "parse_client_message",
    "presence_message",
    "snapshot_message",
    "synced_message",
]

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from evalsvc import jsonin
from evalsvc.canonical import canonical_bytes, response_json
from evalsvc.errors import InvalidInput, MalformedBody

# A client message larger than this is refused with ``message_too_large`` (score sheets
# are a few KiB; the limit keeps one client from making the server parse megabytes).
MAX_MESSAGE_BYTES = 64 * 1024

# Client ids double as idempotency keys: the same alphabet as the HTTP Idempotency-Key.
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


class MessageTooLarge(InvalidInput):
    """A client frame over :data:`MAX_MESSAGE_BYTES`."""

    code = "message_too_large"


class BinaryFrame(InvalidInput):
    """A binary frame (RFC 6455 §5.6 opcode 0x2): this protocol is JSON text only."""

    code = "binary_not_supported"


class UnknownMessageType(InvalidInput):
    """A JSON object whose ``type`` this protocol does not define."""

    code = "unknown_type"


@dataclass(frozen=True)
class Auth:
    """``{"type": "auth", "token": "evs1…"}`` — must be the first message.

    ``{"type": "auth", "method": "tls"}`` instead: a venue agent authenticated by the TLS
    client certificate of this connection (no token)."""

    token: str | None
    method: str = "token"  # or "tls"


@dataclass(frozen=True)
class Hello:
    """``{"type": "hello", "epoch": "…"|null, "last_seq": N}`` — where the client is.

    A venue agent that can cosign checkpoints adds ``"witness": true`` so the primary
    sends ``add_checkpoint`` requests to it and not to an operator's browser."""

    epoch: str | None
    last_seq: int
    witness: bool = False


@dataclass(frozen=True)
class Submit:
    """``{"type": "submit", "id": "…", "sheet": {…}}`` — a score sheet; ``id`` is the
    idempotency key."""

    id: str
    sheet: dict[str, Any]


@dataclass(frozen=True)
class Command:
    """``{"type": "command", "id": "…", "body": {"command": "…", …}}`` — a lifecycle
    command as for ``POST /api/sessions/{id}/commands``."""

    id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Heartbeat:
    """``{"type": "heartbeat", "seq": N}`` — the client's top seq."""

    seq: int


@dataclass(frozen=True)
class WitnessAnswer:
    """``{"type": "add_checkpoint_response", "id": "…", "status": 200, "body": "…",
    "content_type": "…"}`` — a venue agent's answer to ``add_checkpoint`` (C2SP
    tlog-witness response over the link)."""

    id: str
    status: int
    body: str
    content_type: str


ClientMessage = Auth | Hello | Submit | Command | Heartbeat | WitnessAnswer


def _int(doc: dict[str, Any], name: str) -> int:
    v = doc.get(name)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**53:
        raise InvalidInput(f"{name} must be a non-negative integer", field=name)
    return v


def _id(doc: dict[str, Any]) -> str:
    v = doc.get("id")
    if not isinstance(v, str) or not _ID_RE.match(v):
        raise InvalidInput("id must be 8-100 characters of A-Z a-z 0-9 _ . : -", field="id")
    return v


def _object(doc: dict[str, Any], name: str) -> dict[str, Any]:
    v = doc.get(name)
    if not isinstance(v, dict):
        raise InvalidInput(f"{name} must be a JSON object", field=name)
    return v


def _ignore(_text: str) -> None:
    return None


_LENIENT = json.JSONDecoder(parse_int=_ignore, parse_float=_ignore, parse_constant=_ignore)


def message_id(raw: str | bytes) -> str | None:
    """The ``id`` of a frame if it is recognisable (so an error can name it), else None."""
    try:
        # Lenient on purpose (the frame was refused already): numbers are not converted,
        # so no digit count or NaN stops the id from being found.
        doc = _LENIENT.decode(raw if isinstance(raw, str) else raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    v = doc.get("id") if isinstance(doc, dict) else None
    return v if isinstance(v, str) and _ID_RE.match(v) else None


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Parse one client frame; :class:`~evalsvc.errors.InvalidInput` (or a subclass with
    a precise ``code``) says what was wrong."""
    if isinstance(raw, bytes):
        raise BinaryFrame("binary frames are not accepted: send JSON in a text frame")
    if len(raw) > MAX_MESSAGE_BYTES or len(raw.encode("utf-8", "surrogatepass")) > (
        MAX_MESSAGE_BYTES
    ):
        raise MessageTooLarge(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    # The same reader as HTTP bodies: a sheet's 30.5 is Decimal("30.5") on both paths.
    doc = jsonin.loads(raw)
    if not isinstance(doc, dict):
        raise MalformedBody("a message must be a JSON object")
    kind = doc.get("type")
    if kind == "auth":
        method = doc.get("method", "token")
        if method == "tls":
            if "token" in doc:
                raise InvalidInput("method tls takes no token", field="token")
            return Auth(None, "tls")
        if method != "token":
            raise InvalidInput("method must be 'token' or 'tls'", field="method")
        token = doc.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidInput("token must be a non-empty string", field="token")
        return Auth(token)
    if kind == "hello":
        epoch = doc.get("epoch")
        if epoch is not None and not (isinstance(epoch, str) and len(epoch) <= 100):
            raise InvalidInput("epoch must be null or a string", field="epoch")
        witness = doc.get("witness", False)
        if not isinstance(witness, bool):
            raise InvalidInput("witness must be true or false", field="witness")
        return Hello(epoch, _int(doc, "last_seq"), witness)
    if kind == "submit":
        return Submit(_id(doc), _object(doc, "sheet"))
    if kind == "command":
        return Command(_id(doc), _object(doc, "body"))
    if kind == "heartbeat":
        return Heartbeat(_int(doc, "seq"))
    if kind == "add_checkpoint_response":
        status, body, ctype = doc.get("status"), doc.get("body"), doc.get("content_type", "")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise InvalidInput("status must be an HTTP status code", field="status")
        if not isinstance(body, str) or not isinstance(ctype, str):
            raise InvalidInput("body and content_type must be strings", field="body")
        return WitnessAnswer(_id(doc), status, body, ctype)
    if not isinstance(kind, str):
        raise InvalidInput("type must be a string", field="type")
    raise UnknownMessageType(
        f"unknown message type {kind[:40]!r}: expected auth, hello, submit, command, "
        "heartbeat or add_checkpoint_response",
        field="type",
    )


# --- server messages ------------------------------------------------------------------


def dumps(doc: dict[str, Any]) -> str:
    """One message as compact JSON text (UTF-8 on the wire, no ASCII escaping;
    Decimals as strings)."""
    return response_json(doc)


def add_checkpoint_message(msg_id: str, body: str) -> str:
    """Ask a venue agent to cosign (C2SP tlog-witness ``add-checkpoint`` request body)."""
    return dumps({"type": "add_checkpoint", "id": msg_id, "body": body})


def auth_ok_message(*, epoch: str, seq: int, you: dict[str, Any]) -> str:
    """Authentication accepted: the database epoch, the top seq, and who you are."""
    return dumps({"type": "auth_ok", "epoch": epoch, "seq": seq, "you": you})


def event_message(event: dict[str, Any]) -> str:
    """One event (already redacted for the recipient's view; stored events are plain
    JSON values already, so no conversion pass)."""
    return response_json(
        {
            "type": "event",
            "seq": event["seq"],
            "event": event["type"],
            "payload": event["payload"],
            "actor": event["actor"],
            "venue": event["venue"],
            "time": event["time_ms"],
        }
    )


def snapshot_message(*, epoch: str, seq: int, session: dict[str, Any], reason: str) -> str:
    """The whole session view at ``seq`` (the gap was too large or the epoch changed)."""
    return dumps(
        {"type": "snapshot", "epoch": epoch, "seq": seq, "reason": reason, "session": session}
    )


def synced_message(seq: int) -> str:
    """Replay or snapshot done: live events after ``seq`` follow."""
    return dumps({"type": "synced", "seq": seq})


def ack_message(msg_id: str, seq: int, *, result: dict[str, Any], replayed: bool) -> str:
    """A command or submission committed (or had been, for a replayed id)."""
    return dumps({"type": "ack", "id": msg_id, "seq": seq, "replayed": replayed, "result": result})


def error_message(msg_id: str | None, code: str, message: str, *, field: str | None = None) -> str:
    """Something the client sent was refused; ``id`` names the message when known."""
    doc: dict[str, Any] = {"type": "error", "id": msg_id, "code": code, "message": message}
    if field is not None:
        doc["field"] = field
    return dumps(doc)


def heartbeat_message(seq: int) -> str:
    """The server's top seq for this session (a client behind it asks for a resync)."""
    return dumps({"type": "heartbeat", "seq": seq})


def presence_message(kind: str, who: dict[str, Any], connected: list[dict[str, Any]]) -> str:
    """Someone joined or left (operators and supervisors only); ``connected`` is everyone
    now connected to this server instance, as the recipient may see them."""
    return dumps({"type": "presence", "event": kind, "who": who, "connected": connected})


def bye_message(code: str, message: str) -> str:
    """Sent just before the server closes the connection on purpose."""
    return dumps({"type": "bye", "code": code, "message": message})


def chain_hash(previous: str, event: dict[str, Any]) -> str:
    """A running hash over a view's events: ``SHA-256(previous ‖ canonical(event))``
    (RFC 8785). Two parties with the same chain hash saw the same events in the same
    order; the chaos test compares clients with the server this way."""
    return hashlib.sha256(previous.encode("ascii") + canonical_bytes(event)).hexdigest()
