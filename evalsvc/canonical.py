"""Canonical JSON (RFC 8785, JCS) for everything that is hashed or signed.

Pure: no I/O. ``Decimal`` values are not JSON numbers in our documents: points and
money are written as decimal *strings* (``"87.50"``) or integers (fen), so that no
binary float ever enters a hash. :func:`canonical_bytes` refuses floats for that reason.
"""

from __future__ import annotations

__all__ = ["canonical_bytes", "canonical_sha256", "to_jsonable"]

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import rfc8785


def to_jsonable(value: Any) -> Any:
    """Turn tuples, Decimals and mappings into plain JSON values (Decimal → string)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("binary floats are not allowed in canonical documents; use Decimal")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    ):
        return [to_jsonable(v) for v in value]
    return value


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 serialisation of ``value`` (after :func:`to_jsonable`)."""
    return bytes(rfc8785.dumps(to_jsonable(value)))


def canonical_sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical bytes; used for idempotency and content hashes."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()
