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

Format 3 (docs/audit.md "Nested disclosure"), for the event types whose redaction is
nested (:data:`NESTED_EVENTS`: a role is shown part of an object or an array — a drawn
committee with the names hidden and the venues shown, opened sheets as seat and version):
as format 2, and moreover every object in a payload value is committed as
``{"_sd": [digest, … sorted]}`` and every array element as ``{"...": digest}``, each
digest that of a *nested disclosure* — ``[salt, key, committed value]`` for an object
member, ``[salt, committed value]`` for an array element, ``SHA-256(salt ‖ JCS(…[1:]))``
— as SD-JWT does (RFC 9901 §4.2.4, §4.2.5)::

    leaf  = RFC 8785 {"v": 3, envelope, "digests": [hex, … sorted]}
    entry = RFC 8785 {"v": 3, envelope, "disclosed": [[salt, name, committed value], …],
                      "hidden": [hex, …], "nested": [disclosure, … sorted by salt]}

The leaf is computed exactly as in format 2, over the committed values: a view that
leaves out a nested disclosure still recomputes it. Opening an entry puts each disclosed
member back in its place; an undisclosed member is absent from its object and an
undisclosed element stays ``{"...": digest}``. Where a role may be shown an object
*without* one of its members (a bid's provenance, :data:`_DECOYS`), an object lacking
it carries a random decoy digest instead (RFC 9901 §4.2.5), so the number of digests
does not tell. Format 2 stays the leaf of every other event: the sheets of the hot path
pay nothing for it.

Format 1 (before): the leaf was the canonical JSON of the event itself; such entries
(they carry ``payload``) are still read and verified as they were.
"""

from __future__ import annotations

__all__ = [
    "NESTED_EVENTS",
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

# Event types whose redaction (sessions/access.py redact_event) shows a role part of an
# object or an array: their leaves are format 3.
NESTED_EVENTS = frozenset(
    {"bid.added", "draw.drawn", "interests.declared", "sheets.opened", "sheets.voided"}
)
# (event type → (path of keys from the payload, member)): members some role is shown the
# object without; where absent, a decoy digest stands in for each.
_DECOYS: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "bid.added": ((("bid",), "provenance"),),  # access.public_bid
}
_SD, _ELEM = "_sd", "..."
_MAX_DEPTH = 32


def _unhex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidInput(f"a salt must be hex, got {text[:40]!r}", field="entry") from exc


@functools.lru_cache(maxsize=1024)
def _name_text(name: str) -> str:
    # Field names are the payload keys of a few dozen event types: serialise each once.
    return canonical_bytes(name).decode("utf-8")


@functools.lru_cache(maxsize=256)
def _field_plan(keys: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """The fields of an event whose payload has ``keys`` (in its order), sorted by name
    as the entry lists them: (position in ``[actor, *payload values]``, the JSON text
    of ``name,``). An event type has one set of keys: each is planned once."""
    names = ["actor", *(_PAYLOAD + k for k in keys)]
    order = sorted(range(len(names)), key=names.__getitem__)
    return tuple((i, _name_text(names[i]) + ",") for i in order)


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
    nested: bool | None = None,
) -> tuple[bytes, bytes]:
    """(entry, leaf) of one recorded event, each field salted with a fresh ``salt()``:
    format 3 when ``nested`` (default: for :data:`NESTED_EVENTS`), else format 2.

    On the path of every event: each value is serialised once (RFC 8785) and the entry
    and the leaf are assembled from those texts, keys in RFC 8785 order — what
    ``canonical_bytes`` of the documents in the module docstring gives
    (tests/audit/test_leaf.py checks they agree)."""
    if nested if nested is not None else action in NESTED_EVENTS:
        envelope = {"session": session_id, "seq": int(seq), "action": action, "venue": venue,
                    "time_ms": int(time_ms), "v": 3}
        return _seal_nested(envelope, actor, payload, salt)
    try:
        plan = _field_plan(tuple(payload))
        texts = canonical_texts([actor, *payload.values(), action, session_id, venue])
        take = getattr(salt, "take", None)  # (SaltSource: an event's salts in one call)
        salts = take(len(plan)) if take is not None else [salt() for _ in plan]
        disclosed: list[str] = []
        digests: list[str] = []
        for (at, name_text), s in zip(plan, salts, strict=True):
            body = name_text + texts[at] + "]"
            # One SHA-256 per field: SHA-256(salt ‖ JCS([name, value])).
            digests.append(hashlib.sha256(s + ("[" + body).encode("utf-8")).hexdigest())
            disclosed.append('["' + s.hex() + '",' + body)
        tail = texts[len(plan):]
        digests.sort()
        head = '{"action":' + tail[0]
        rest = (',"seq":' + str(int(seq)) + ',"session":' + tail[1] + ',"time_ms":'
                + str(int(time_ms)) + ',"v":2,"venue":' + tail[2] + "}")
        entry = head + ',"disclosed":[' + ",".join(disclosed) + '],"hidden":[]' + rest
        leaf = head + ',"digests":["' + '","'.join(digests) + '"]' + rest
        return entry.encode("utf-8"), leaf.encode("utf-8")
    except UnicodeEncodeError:
        pass  # a lone surrogate: canonical_bytes says what is wrong
    canonical_bytes([actor, dict(payload)])
    raise InvalidInput("event cannot be serialised as RFC 8785 JSON", field="payload")


def _commit(
    value: Any,
    path: tuple[str, ...],
    salt: Callable[[], bytes],
    nested: list[list[Any]],
    decoys: tuple[tuple[tuple[str, ...], str], ...],
) -> Any:
    """The committed form of ``value`` (objects → ``{"_sd"}``, elements → ``{"..."}``),
    appending the nested disclosures it refers to to ``nested``."""
    if isinstance(value, Mapping):
        digests = []
        for key, member in value.items():
            committed = _commit(member, (*path, key), salt, nested, decoys)
            s = salt()
            nested.append([s.hex(), key, committed])
            digests.append(hashlib.sha256(s + canonical_bytes([key, committed])).hexdigest())
        for where, key in decoys:
            if where == path and key not in value:
                digests.append(hashlib.sha256(salt()).hexdigest())
        return {_SD: sorted(digests)}
    if isinstance(value, list | tuple):
        out = []
        for element in value:
            committed = _commit(element, (*path, "*"), salt, nested, decoys)
            s = salt()
            nested.append([s.hex(), committed])
            out.append({_ELEM: hashlib.sha256(s + canonical_bytes([committed])).hexdigest()})
        return out
    return value


def _seal_nested(
    envelope: Mapping[str, Any], actor: str, payload: Mapping[str, Any],
    salt: Callable[[], bytes],
) -> tuple[bytes, bytes]:
    """(entry, leaf) in format 3 (module docstring) of the event with ``envelope``."""
    decoys = _DECOYS.get(envelope["action"], ())
    nested: list[list[Any]] = []
    fields = [("actor", actor)]
    fields += [(_PAYLOAD + k, _commit(v, (k,), salt, nested, decoys)) for k, v in payload.items()]
    disclosed: list[list[Any]] = []
    digests: list[str] = []
    for name, value in sorted(fields, key=lambda f: f[0]):
        s = salt()
        disclosed.append([s.hex(), name, value])
        digests.append(field_digest(s, name, value))
    entry = canonical_bytes({**envelope, "disclosed": disclosed, "hidden": [],
                             "nested": sorted(nested, key=lambda d: str(d[0]))})
    return entry, canonical_bytes({**envelope, "digests": sorted(digests)})


class _Nested:
    """The nested disclosures of a format-3 entry, by digest, and their expansion."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, list):
            raise InvalidInput("format-3 audit entry needs a 'nested' list", field="entry")
        for d in raw:
            if not (isinstance(d, list) and len(d) in (2, 3) and isinstance(d[0], str)
                    and (len(d) == 2 or isinstance(d[1], str))):
                raise InvalidInput(f"a nested disclosure must be [salt, key, value] or "
                                   f"[salt, value], got {d!r:.80}", field="entry")
        try:
            texts = canonical_texts([d[1:] for d in raw])
            data = [t.encode("utf-8") for t in texts]
        except UnicodeEncodeError as exc:
            raise InvalidInput("a nested disclosure is not valid Unicode",
                               field="entry") from exc
        except Exception as exc:
            raise InvalidInput(f"a nested disclosure cannot be canonicalised: {exc}",
                               field="entry") from exc
        self.by_digest: dict[str, list[Any]] = {}
        for d, body in zip(raw, data, strict=True):
            s = _unhex(d[0])
            if len(s) < 16:
                raise InvalidInput(f"a nested salt has {len(s)} bytes, expected >= 16",
                                   field="entry")
            digest = hashlib.sha256(s + body).hexdigest()
            if digest in self.by_digest:
                raise InvalidInput("audit entry lists one nested disclosure twice",
                                   field="entry")
            self.by_digest[digest] = d
        self.used: set[str] = set()
        self.unopened = 0

    def _take(self, digest: Any, size: int, track: bool) -> list[Any] | None:
        if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
            raise InvalidInput("a nested digest must be 64 lowercase hex digits", field="entry")
        d = self.by_digest.get(digest)
        if d is None:
            self.unopened += track
            return None
        if not track:
            return d
        if len(d) != size or digest in self.used:
            raise InvalidInput("a nested disclosure is referred to twice or in the wrong "
                               "place", field="entry")
        self.used.add(digest)
        return d

    def expand(self, committed: Any, depth: int = 0, *, track: bool = True) -> Any:
        """``committed`` with each disclosed member in its place (see the module);
        ``track``: count each disclosure used (:meth:`closed`), once only."""
        if depth > _MAX_DEPTH:
            raise InvalidInput("audit entry nests too deeply", field="entry")
        if isinstance(committed, dict):
            if committed.keys() != {_SD} or not isinstance(committed[_SD], list):
                raise InvalidInput('a committed object must be {"_sd": [digests]}',
                                   field="entry")
            out: dict[str, Any] = {}
            for digest in committed[_SD]:
                d = self._take(digest, 3, track)
                if d is not None:
                    if d[1] in out:
                        raise InvalidInput(f"an object discloses {d[1]!r} twice", field="entry")
                    out[d[1]] = self.expand(d[2], depth + 1, track=track)
            return out
        if isinstance(committed, list):
            items: list[Any] = []
            for element in committed:
                if not (isinstance(element, dict) and element.keys() == {_ELEM}):
                    raise InvalidInput('a committed element must be {"...": digest}',
                                       field="entry")
                d = self._take(element[_ELEM], 2, track)
                items.append(element if d is None else self.expand(d[-1], depth + 1,
                                                                   track=track))
            return items
        return committed

    def closed(self) -> None:
        """Every nested disclosure must be referred to (RFC 9901 §7.1 step 3)."""
        if len(self.used) != len(self.by_digest):
            raise InvalidInput("audit entry has a nested disclosure no field refers to",
                               field="entry")


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
    unopened: int = 0  # format 3: nested digests left unopened (undisclosed, or decoys)

    def to_event(self) -> dict[str, Any]:
        """The event as the entry shows it (format-1 shape; hidden fields absent)."""
        return {"session": self.session, "seq": self.seq, "action": self.action,
                "venue": self.venue, "actor": self.actor, "payload": self.payload,
                "time_ms": self.time_ms}


def _leaf_text(
    action: str, seq: int, session: str, time_ms: int, venue: str | None, digests: list[str],
    version: int = 2,
) -> str:
    """The leaf (RFC 8785, keys in order) from its parts; ``digests`` sorted, each 64 hex
    digits (checked by the callers), so that joining them is their canonical form."""
    action_t, session_t, venue_t = canonical_texts([action, session, venue])
    return ('{"action":' + action_t + ',"digests":[' + ",".join(f'"{d}"' for d in digests)
            + '],"seq":' + str(seq) + ',"session":' + session_t + ',"time_ms":' + str(time_ms)
            + ',"v":' + str(version) + ',"venue":' + venue_t + "}")


_DIGEST = re.compile(r"[0-9a-f]{64}")
_FORMAT2_KEYS = frozenset({*_ENVELOPE, "v", "disclosed", "hidden"})
_FORMAT_KEYS = {2: _FORMAT2_KEYS, 3: _FORMAT2_KEYS | {"nested"}}


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
    except RecursionError as exc:  # an entry a lying primary or bundle nests 100k deep
        raise InvalidInput("audit entry nests too deeply", field="entry") from exc
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
    version = doc.get("v")
    if version not in (2, 3):
        if not isinstance(doc.get("payload"), dict):
            raise InvalidInput("format-1 audit entry has no payload object", field="entry")
        return Disclosed(session, seq, action, venue, time_ms, doc.get("actor"),
                         doc["payload"], (), bytes(raw))
    keys = _FORMAT_KEYS[version]
    if doc.keys() != keys:
        extra = sorted(doc.keys() - keys) or sorted(keys - doc.keys())
        raise InvalidInput(f"format-{version} audit entry has unexpected or missing "
                           f"{extra[0]!r}", field="entry")
    disclosed, hidden = doc.get("disclosed"), doc.get("hidden")
    if not isinstance(disclosed, list) or not isinstance(hidden, list):
        raise InvalidInput("audit entry needs 'disclosed' and 'hidden' lists", field="entry")
    if not all(isinstance(h, str) and _DIGEST.fullmatch(h) for h in hidden):
        raise InvalidInput("a hidden digest must be 64 lowercase hex digits", field="entry")
    actor: str | None = None
    payload: dict[str, Any] = {}
    nested = _Nested(doc["nested"]) if version == 3 else None
    for d in disclosed:
        if not (isinstance(d, list) and len(d) == 3 and isinstance(d[0], str)
                and isinstance(d[1], str)):
            raise InvalidInput(f"a disclosure must be [salt, name, value], got {d!r:.80}",
                               field="entry")
        if d[1] == "actor":
            actor = str(d[2])
        elif d[1].startswith(_PAYLOAD):
            payload[d[1][len(_PAYLOAD):]] = d[2] if nested is None else nested.expand(d[2])
        else:
            raise InvalidInput(f"unknown disclosed field {d[1]!r}", field="entry")
    unopened = 0
    if nested is not None:
        nested.closed()
        unopened = nested.unopened
    if not leaf:
        return Disclosed(session, seq, action, venue, time_ms, actor, payload,
                         tuple(sorted(hidden)), b"", unopened)
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
        text = _leaf_text(action, seq, session, time_ms, venue, digests,
                          version).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("audit entry holds a lone surrogate", field="entry") from exc
    return Disclosed(session, seq, action, venue, time_ms, actor, payload,
                     tuple(sorted(hidden)), text, unopened)


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
    if doc.get("v") == 3:
        return _redacted_nested(doc, shown)
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


def _same(a: Any, b: Any) -> bool:
    return canonical_bytes(a) == canonical_bytes(b)


def _redacted_nested(doc: Mapping[str, Any], shown: Mapping[str, Any]) -> bytes:
    """:func:`redacted_entry` of a format-3 entry: a field, a member or an element is
    disclosed whole when the role is shown exactly its value; an object or an array the
    role is shown part of is disclosed as its digests, with the parts shown exactly."""
    nested = _Nested(doc["nested"])
    opened: dict[int, Any] = {}  # a disclosure's expanded value (each expanded once)

    def full(d: list[Any]) -> Any:
        key = id(d)
        if key not in opened:
            opened[key] = nested.expand(d[-1], track=False)
        return opened[key]

    def subtree(committed: Any) -> list[list[Any]]:
        out: list[list[Any]] = []
        for digest in _digests_in(committed):
            d = nested.by_digest.get(digest)
            if d is not None:
                out += [d, *subtree(d[-1])]
        return out

    def select(committed: Any, view: Any) -> list[list[Any]]:
        """The nested disclosures under ``committed`` to keep, given the role's ``view``
        of its value; empty: nothing of it is shown as it is."""
        out: list[list[Any]] = []
        if isinstance(committed, dict) and isinstance(view, dict):
            for digest in committed[_SD]:
                d = nested.by_digest.get(digest)
                if d is not None and d[1] in view:
                    out += _part(d, view[d[1]])
        elif (isinstance(committed, list) and isinstance(view, list)
              and len(committed) == len(view)):
            for element, part in zip(committed, view, strict=True):
                d = nested.by_digest.get(element[_ELEM])
                if d is not None:
                    out += _part(d, part)
        return out

    def _part(d: list[Any], view: Any) -> list[list[Any]]:
        if _same(view, full(d)):
            return [d, *subtree(d[-1])]
        inner = select(d[-1], view)
        return [d, *inner] if inner else []

    shown_payload = shown.get("payload") or {}
    keep: list[list[Any]] = []
    kept_nested: list[list[Any]] = []
    hidden: list[str] = list(doc["hidden"])
    for salt, name, value in doc["disclosed"]:
        if name == "actor":
            parts: list[list[Any]] | None = [] if shown.get("actor") == value else None
        else:
            key = name[len(_PAYLOAD):]
            parts = None
            if key in shown_payload:
                view = shown_payload[key]
                if _same(view, nested.expand(value, track=False)):
                    parts = subtree(value)
                else:
                    parts = select(value, view) or None
        if parts is None:
            hidden.append(field_digest(_unhex(salt), name, value))
        else:
            keep.append([salt, name, value])
            kept_nested += parts
    return canonical_bytes({**{k: doc[k] for k in _ENVELOPE}, "v": 3, "disclosed": keep,
                            "hidden": sorted(hidden),
                            "nested": sorted(kept_nested, key=lambda d: str(d[0]))})


def _digests_in(committed: Any) -> list[str]:
    """The digests a committed value refers to directly (not those of its members)."""
    if isinstance(committed, dict):
        return list(committed.get(_SD, []))
    if isinstance(committed, list):
        return [e[_ELEM] for e in committed if isinstance(e, dict) and _ELEM in e]
    return []
