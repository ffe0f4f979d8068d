"""An event's audit-log entry and leaf: what the Merkle tree commits to. Pure.

Format 2 (docs/audit.md "Leaves"), in the manner of SD-JWT (RFC 9901 §4.2): every field
of an event that a role may not see — its ``actor`` and each top-level ``payload`` key —
is a *disclosure* ``[salt, name, value]``, and the leaf commits only to the digest of
each disclosure, ``SHA-256(salt ‖ RFC 8785 bytes of [name, value])``, sorted, beside the
non-secret envelope (session, seq, action, venue, time)::

    leaf  = RFC 8785 {"v": 2, "session", "seq", "action", "venue", "time_ms",
                      "digests": [hex, … sorted]}
    entry = RFC 8785 {"v": 2, "session", "seq", "action", "venue", "time_ms",
                      "disclosed": [[salt, name, value], … sorted by name],
                      "hidden": [hex, … sorted]}

The *entry* is what is stored and exported; the *leaf* is what is hashed into the tree
(RFC 6962 ``SHA-256(0x00 ‖ leaf)``); :func:`leaf_of_entry` recomputes one from the other.
The log's own entry discloses every field; a venue's view of it (:func:`redacted_entry`)
discloses the fields it may see and leaves the others as their digests. A salt is 16
bytes of CSPRNG output (hex), unique per field: the digest of a hidden
field is then independent of its value, however small the value's space.

Format 1 (before): the leaf was the canonical JSON of the event itself; such entries
(they carry ``payload``) are still read and verified as they were.
"""

from __future__ import annotations

__all__ = [
    "Disclosed",
    "event_leaf",
    "field_digest",
    "leaf_of_entry",
    "open_entry",
    "redacted_entry",
    "seal_event",
]

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evalsvc.canonical import canonical_bytes, canonical_texts
from evalsvc.errors import InvalidInput

_ENVELOPE = ("session", "seq", "action", "venue", "time_ms")
_PAYLOAD = "payload."


def _unhex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidInput(f"a salt must be hex, got {text[:40]!r}", field="entry") from exc


@functools.lru_cache(maxsize=1024)
def _name_text(name: str) -> str:
    # Field names are the payload keys of a few dozen event types: serialise each once.
    return canonical_bytes(name).decode("utf-8")


def field_digest(salt: bytes, name: str, value: Any) -> str:
    """The digest a leaf commits to for one field: SHA-256(salt ‖ JCS([name, value])), hex."""
    return hashlib.sha256(salt + canonical_bytes([name, value])).hexdigest()


def event_leaf(
    *,
    session_id: str,
    seq: int,
    venue: str | None,
    actor: str,
    action: str,
    payload: dict[str, Any],
    time_ms: int,
) -> bytes:
    """The format-1 leaf bytes of one event (the canonical event itself): kept to read
    logs written before format 2 and for tests of them."""
    return canonical_bytes(
        {
            "session": session_id,
            "seq": seq,
            "venue": venue,
            "actor": actor,
            "action": action,
            "payload": payload,
            "time_ms": time_ms,
        }
    )


def seal_event(
    *,
    session_id: str,
    seq: int,
    venue: str | None,
    actor: str,
    action: str,
    payload: Mapping[str, Any],
    time_ms: int,
    salt: Callable[[], bytes],
) -> tuple[bytes, bytes]:
    """(entry, leaf) of one recorded event, each field salted with a fresh ``salt()``.

    On the path of every event: each value is serialised once (RFC 8785) and the entry
    and the leaf are assembled from those texts, keys in RFC 8785 order — what
    ``canonical_bytes`` of the documents in the module docstring gives
    (tests/audit/test_leaf.py checks they agree)."""
    names = ["actor", *(_PAYLOAD + k for k in payload)]
    try:
        texts = canonical_texts([actor, *payload.values(), action, session_id, venue])
        n = len(names)
        values, tail = texts[:n], texts[n:]
        fields = sorted(zip(names, [_name_text(x) for x in names], values, strict=True))
        disclosed: list[str] = []
        digests: list[str] = []
        for _, name_text, value_text in fields:
            s = salt()
            body = name_text + "," + value_text + "]"
            # One SHA-256 per field: SHA-256(salt ‖ JCS([name, value])).
            digests.append(hashlib.sha256(s + ("[" + body).encode("utf-8")).hexdigest())
            disclosed.append('["' + s.hex() + '",' + body)
        digests.sort()
        head = '{"action":' + tail[0]
        rest = (',"seq":' + str(int(seq)) + ',"session":' + tail[1] + ',"time_ms":'
                + str(int(time_ms)) + ',"v":2,"venue":' + tail[2] + "}")
        entry = head + ',"disclosed":[' + ",".join(disclosed) + '],"hidden":[]' + rest
        leaf = head + ',"digests":[' + ",".join(f'"{d}"' for d in digests) + "]" + rest
        return entry.encode("utf-8"), leaf.encode("utf-8")
    except UnicodeEncodeError:
        pass  # a lone surrogate: canonical_bytes says what is wrong
    canonical_bytes([actor, dict(payload)])
    raise InvalidInput("event cannot be serialised as RFC 8785 JSON", field="payload")


@dataclass(frozen=True)
class Disclosed:
    """An entry opened: the envelope, the fields it discloses and how many it hides."""

    session: str
    seq: int
    action: str
    venue: str | None
    time_ms: int
    actor: str | None  # None: not disclosed
    payload: dict[str, Any]  # the disclosed payload fields only
    hidden: tuple[str, ...]  # the digests of the fields not disclosed
    leaf: bytes

    def to_event(self) -> dict[str, Any]:
        """The event as the entry shows it (format-1 shape; hidden fields absent)."""
        return {"session": self.session, "seq": self.seq, "action": self.action,
                "venue": self.venue, "actor": self.actor, "payload": self.payload,
                "time_ms": self.time_ms}


def _leaf_text(
    action: str, seq: int, session: str, time_ms: int, venue: str | None, digests: list[str]
) -> str:
    """The leaf (RFC 8785, keys in order) from its parts; ``digests`` sorted, each 64 hex
    digits (checked by the callers), so that joining them is their canonical form."""
    action_t, session_t, venue_t = canonical_texts([action, session, venue])
    return ('{"action":' + action_t + ',"digests":[' + ",".join(f'"{d}"' for d in digests)
            + '],"seq":' + str(seq) + ',"session":' + session_t + ',"time_ms":' + str(time_ms)
            + ',"v":2,"venue":' + venue_t + "}")


_DIGEST = re.compile(r"[0-9a-f]{64}")
_FORMAT2_KEYS = frozenset({*_ENVELOPE, "v", "disclosed", "hidden"})


def _int(doc: Mapping[str, Any], key: str) -> int:
    v = doc[key]
    if type(v) is not int or not 0 <= v <= 2**53 - 1:
        raise InvalidInput(f"audit entry's {key} must be a safe non-negative integer",
                           field="entry")
    return v


def open_entry(raw: bytes, *, leaf: bool = True) -> Disclosed:
    """Parse an entry (format 1 or 2) and recompute its leaf (``leaf=False``: not, the
    ``leaf`` attribute is then empty); raises ``InvalidInput`` naming what is malformed."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"audit entry is not JSON: {exc}", field="entry") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("audit entry must be a JSON object", field="entry")
    missing = [k for k in _ENVELOPE if k not in doc]
    if missing:
        raise InvalidInput(f"audit entry has no {missing[0]!r}", field="entry")
    seq, time_ms = _int(doc, "seq"), _int(doc, "time_ms")
    session, action, venue = doc["session"], doc["action"], doc["venue"]
    if not (isinstance(session, str) and isinstance(action, str)
            and (venue is None or isinstance(venue, str))):
        raise InvalidInput("audit entry's session, action and venue must be strings",
                           field="entry")
    if doc.get("v") != 2:
        if not isinstance(doc.get("payload"), dict):
            raise InvalidInput("format-1 audit entry has no payload object", field="entry")
        return Disclosed(session, seq, action, venue, time_ms, doc.get("actor"),
                         doc["payload"], (), bytes(raw))
    if doc.keys() != _FORMAT2_KEYS:
        extra = sorted(doc.keys() - _FORMAT2_KEYS) or sorted(_FORMAT2_KEYS - doc.keys())
        raise InvalidInput(f"format-2 audit entry has unexpected or missing {extra[0]!r}",
                           field="entry")
    disclosed, hidden = doc.get("disclosed"), doc.get("hidden")
    if not isinstance(disclosed, list) or not isinstance(hidden, list):
        raise InvalidInput("audit entry needs 'disclosed' and 'hidden' lists", field="entry")
    if not all(isinstance(h, str) and _DIGEST.fullmatch(h) for h in hidden):
        raise InvalidInput("a hidden digest must be 64 lowercase hex digits", field="entry")
    actor: str | None = None
    payload: dict[str, Any] = {}
    for d in disclosed:
        if not (isinstance(d, list) and len(d) == 3 and isinstance(d[0], str)
                and isinstance(d[1], str)):
            raise InvalidInput(f"a disclosure must be [salt, name, value], got {d!r:.80}",
                               field="entry")
        if d[1] == "actor":
            actor = str(d[2])
        elif d[1].startswith(_PAYLOAD):
            payload[d[1][len(_PAYLOAD):]] = d[2]
        else:
            raise InvalidInput(f"unknown disclosed field {d[1]!r}", field="entry")
    if not leaf:
        return Disclosed(session, seq, action, venue, time_ms, actor, payload,
                         tuple(sorted(hidden)), b"")
    digests = list(hidden)
    try:
        values = canonical_texts([d[2] for d in disclosed])
    except Exception as exc:  # a float, a number out of range: not RFC 8785 as we write it
        raise InvalidInput(f"a disclosed value cannot be canonicalised: {exc}",
                           field="entry") from exc
    for d, value_text in zip(disclosed, values, strict=True):
        salt = _unhex(d[0])
        if len(salt) < 16:  # 128 bits: a hidden field's digest must not be guessable
            raise InvalidInput(f"the salt of {d[1]} has {len(salt)} bytes, expected >= 16",
                               field="entry")
        body = "[" + _name_text(d[1]) + "," + value_text + "]"
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate (a "\ud800" escape)
            raise InvalidInput(f"the value of {d[1]} is not valid Unicode",
                               field="entry") from exc
        digests.append(hashlib.sha256(salt + data).hexdigest())
    if len(set(digests)) != len(digests):
        raise InvalidInput("audit entry lists one digest twice", field="entry")
    digests.sort()
    try:
        text = _leaf_text(action, seq, session, time_ms, venue, digests).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("audit entry holds a lone surrogate", field="entry") from exc
    return Disclosed(session, seq, action, venue, time_ms, actor, payload,
                     tuple(sorted(hidden)), text)


def leaf_of_entry(raw: bytes) -> bytes:
    """The leaf bytes an entry commits to (format 1: the entry itself). An entry that
    does not parse stands for itself, so it fails the root check it belongs to."""
    try:
        return open_entry(raw).leaf
    except (InvalidInput, ValueError, TypeError, KeyError):
        return bytes(raw)


def redacted_entry(raw: bytes, shown: Mapping[str, Any]) -> bytes:
    """The entry as a role sees it, given the event document the role is shown
    (``access.redact_event``'s output: ``actor``, ``payload``): a field is disclosed only
    when the role is shown exactly its value; every other field is left as its digest.
    A format-1 entry cannot be redacted: ``InvalidInput``."""
    doc = json.loads(raw)
    if doc.get("v") != 2:
        raise InvalidInput("a format-1 audit entry cannot be redacted", field="entry")
    shown_payload = shown.get("payload") or {}
    keep: list[list[Any]] = []
    hidden: list[str] = list(doc["hidden"])
    for salt, name, value in doc["disclosed"]:
        if name == "actor":
            ok = shown.get("actor") == value
        else:
            key = name[len(_PAYLOAD):]
            ok = key in shown_payload and canonical_bytes(shown_payload[key]) == canonical_bytes(
                value)
        if ok:
            keep.append([salt, name, value])
        else:
            hidden.append(field_digest(_unhex(salt), name, value))
    return canonical_bytes({**{k: doc[k] for k in _ENVELOPE}, "v": 2, "disclosed": keep,
                            "hidden": sorted(hidden)})
