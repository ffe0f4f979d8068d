"""An event's audit-log leaf: the bytes the Merkle tree commits to. Pure.

The leaf is the RFC 8785 canonical JSON of who did what, when, in which session and at
which sequence number (docs/audit.md "Leaves"); leaf index = seq − 1.
"""

from __future__ import annotations

__all__ = ["event_leaf"]

from typing import Any

from evalsvc.canonical import canonical_bytes


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
    """The leaf bytes of one recorded event."""
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
