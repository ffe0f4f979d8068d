"""Canonical JSON (RFC 8785, JCS) for everything that is hashed or signed.

Pure: no I/O. ``Decimal`` values are not JSON numbers in our documents: points and
money are written as decimal *strings* (``"87.50"``) or integers (fen), so that no
binary float ever enters a hash. :func:`canonical_bytes` refuses floats for that reason.
"""

from __future__ import annotations

__all__ = [
    "canonical_bytes",
    "canonical_plain_bytes",
    "canonical_sha256",
    "canonical_texts",
    "one_shot",
    "response_json",
    "storage_json",
    "storage_sha256",
    "to_jsonable",
]

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import rfc8785


def to_jsonable(value: Any) -> Any:
    """Turn tuples, Decimals and mappings into plain JSON values (Decimal → string)."""
    return _walk(value)[0]


_MAX_SAFE = 2**53 - 1


def _walk(value: Any) -> tuple[Any, bool]:
    """(plain JSON value, whether ``json.dumps(sort_keys)`` equals RFC 8785 for it)."""
    # Exact types first: the isinstance checks against the Mapping and Sequence ABCs
    # below cost more than the rest of the walk (every sheet and event goes through it).
    t = type(value)
    if t is str or t is bool or value is None:
        return value, True
    if t is int:
        return value, -_MAX_SAFE <= value <= _MAX_SAFE
    if t is dict:
        return _walk_mapping(value)
    if t is list or t is tuple:
        return _walk_sequence(value)
    if isinstance(value, str):
        return value, True
    if isinstance(value, bool) or value is None:
        return value, True
    if isinstance(value, int):
        return value, -_MAX_SAFE <= value <= _MAX_SAFE
    if isinstance(value, Decimal):
        return format(value, "f"), True
    if isinstance(value, float):
        raise TypeError("binary floats are not allowed in canonical documents; use Decimal")
    if isinstance(value, Mapping):
        return _walk_mapping(value)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return _walk_sequence(value)
    return value, False


def _walk_mapping(value: Mapping[Any, Any]) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    simple = True
    for k, v in value.items():
        key = str(k)
        # RFC 8785 §3.2.3 sorts keys by UTF-16 code units; Python by code points.
        # They agree unless a key has a character outside the BMP.
        if simple and not key.isascii() and max(key) > "\uffff":
            simple = False
        out[key], ok = _walk(v)
        simple = simple and ok
    return out, simple


def _walk_sequence(value: Sequence[Any]) -> tuple[list[Any], bool]:
    items = []
    simple = True
    for v in value:
        item, ok = _walk(v)
        items.append(item)
        simple = simple and ok
    return items, simple


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 serialisation of ``value`` (after :func:`to_jsonable`).

    Documents of strings, safe integers, booleans and nulls with BMP-only keys serialise
    identically under ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` (ECMAScript string escaping is JSON's); those take that fast
    path, everything else goes through ``rfc8785``. tests/test_canonical.py checks the
    two agree.
    """
    plain, simple = _walk(value)
    if simple:
        try:
            return _canonical_text(plain).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 say what is wrong
    return bytes(rfc8785.dumps(plain))


def canonical_plain_bytes(value: dict[str, Any]) -> bytes:
    """:func:`canonical_bytes` of a document the caller built of plain JSON values only
    (dicts with str keys, str, bool, None, ints within ±(2**53 - 1)); skips the walk.

    Falls back to :func:`canonical_bytes` when a key is not ASCII, where the orders of
    RFC 8785 and ``sort_keys`` may differ; tests/test_canonical.py checks they agree.
    """
    text = _canonical_text(value)
    if text.isascii():  # (then every key is ASCII: no need to walk them)
        return text.encode("ascii")
    if _ascii_keys(value):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass
    return canonical_bytes(value)


def _ascii_keys(value: Any) -> bool:
    # (a loop, not generators: a score sheet is a few small dicts of strings)
    if type(value) is dict:
        if not "".join(value).isascii():
            return False
        value = value.values()
    for v in value:
        t = type(v)
        if (t is dict or t is list) and not _ascii_keys(v):
            return False
    return True


def canonical_texts(values: Sequence[Any]) -> list[str]:
    """The RFC 8785 text of each of ``values`` (the fast path of :func:`canonical_bytes`
    when they are plain: a string or a safe integer is written directly, as the encoder
    would). Encode the result as UTF-8: a lone surrogate raises ``UnicodeEncodeError``
    there."""
    out: list[str] = []
    for v in values:
        t = type(v)
        if t is str:
            out.append(_encode_string(v))
        elif t is int and -_MAX_SAFE <= v <= _MAX_SAFE:
            out.append(int.__repr__(v))
        else:
            plain, simple = _walk(v)
            out.append(_canonical_text(plain) if simple
                       else canonical_bytes(v).decode("utf-8"))
    return out


def canonical_sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical bytes; used for idempotency and content hashes."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _storage_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def one_shot(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode``, with its C encoder built once instead of on every call (as
    ``JSONEncoder.iterencode`` does, which costs about as much as encoding a small
    document). The same text, but no check for circular references: evalsvc encodes
    trees, and a cycle would end in ``RecursionError`` instead of ``ValueError``.
    Threads may share it: without that check's ``markers`` dict, the C encoder holds
    nothing between calls (each call accumulates its text in a buffer of its own)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # (not in typeshed)
    if make is None or encoder.indent is not None:  # (no C accelerator: as it is)
        return encoder.encode
    strings = (
        json.encoder.encode_basestring_ascii if encoder.ensure_ascii
        else json.encoder.encode_basestring
    )
    chunks = make(
        None, encoder.default, strings, None, encoder.key_separator,
        encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan,
    )
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


# json.dumps with any option builds a new JSONEncoder per call, which costs more than
# encoding a small document: these are built once (same output as json.dumps).
_canonical_text = one_shot(
    json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
)
# What _canonical_text does with a str (ensure_ascii=False), without the call around it.
_encode_string = json.encoder.encode_basestring
_response_text = one_shot(
    json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_storage_default)
)
_storage_text = one_shot(json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_storage_default
))


def response_json(value: Any) -> str:
    """Compact JSON for responses (Decimals as strings, key order kept, UTF-8)."""
    return _response_text(value)


def storage_json(value: Any) -> str:
    """Deterministic compact JSON for *storage* (sorted keys, Decimals as strings).

    Several times faster than :func:`canonical_bytes`; use it where the bytes are
    kept or compared by us alone. Anything published as a hash or signed uses RFC 8785.
    """
    return _storage_text(value)


def storage_sha256(value: Any) -> str:
    """Hex SHA-256 of :func:`storage_json` (idempotency: same request, same digest)."""
    return hashlib.sha256(storage_json(value).encode("utf-8")).hexdigest()
