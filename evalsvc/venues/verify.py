"""What a venue's mirror checks before it calls an event verified. Pure.

The primary serves the venue its redacted view of the audit log (format-2 entries,
docs/audit.md "Leaves"): each entry discloses the fields the venue may see and leaves the
others as digests. The venue holds every entry of the log it has checked, so it
recomputes each leaf, and from all of them the Merkle root (RFC 6962 §2.1), and compares
it with a checkpoint it trusts — one it cosigned itself as a witness, or one carrying the
quorum of its trusted witnesses' cosignatures. Recomputing the root from every leaf
proves each entry's inclusion and the consistency between every two checkpoints it
checked (both are roots of one list of leaves); the bundle it exports carries the
consistency proofs, computed from the same leaves.

A *split view* — the primary showing this venue a history other than the one the
witnesses cosigned — shows up as one of:

- ``fork``: a checkpoint signed by the log key, of a size the venue trusts, with
  another root (evidence: both signed notes);
- ``entries``: entries that do not recompute the trusted root (evidence: the trusted
  note and the entries);
- ``event``: an event streamed to the venue that differs from what its entry discloses
  (evidence: both).
"""

from __future__ import annotations

__all__ = ["Split", "ViewCheck", "check_view", "event_matches"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsvc.audit.leaf import open_entry
from evalsvc.audit.merkle import leaf_hash, root_hash
from evalsvc.audit.note import open_note, parse_checkpoint
from evalsvc.canonical import canonical_bytes
from evalsvc.errors import EvalsvcError


@dataclass(frozen=True)
class Split:
    """Evidence that the primary showed this venue another history than the cosigned one."""

    kind: str  # fork | entries | event
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewCheck:
    """The outcome of checking one served view: the leaf hashes of the new entries (to
    append to the verified ones), or the split found."""

    leaf_hashes: tuple[bytes, ...] = ()
    split: Split | None = None
    pending: str | None = None  # why nothing could be checked yet


def check_view(
    *,
    log_vkey: str,
    trusted_note: str,
    verified: Sequence[bytes],
    entries: Sequence[bytes],
    served_note: str | None,
) -> ViewCheck:
    """Check ``entries`` (indexes ``len(verified)`` on) against ``trusted_note`` — a
    log-signed checkpoint the venue trusts — given the leaf hashes it ``verified``
    before; ``served_note`` is the checkpoint the primary served with them."""
    trusted = parse_checkpoint(open_note(trusted_note, [log_vkey]).text)
    if served_note is not None:
        try:
            served = parse_checkpoint(open_note(served_note, [log_vkey]).text)
        except EvalsvcError:
            served = None  # not signed by the log key: proves nothing either way
        if (
            served is not None
            and served.origin == trusted.origin
            and served.size == trusted.size
            and served.root != trusted.root
        ):
            return ViewCheck(split=Split(
                "fork",
                f"two checkpoints of size {trusted.size} signed by the log key have "
                "different roots",
                {"trusted": trusted_note, "served": served_note},
            ))
    start = len(verified)
    if trusted.size < start:
        return ViewCheck(pending=f"the trusted checkpoint (size {trusted.size}) is older "
                                 f"than what is verified ({start})")
    need = trusted.size - start
    if len(entries) < need:
        return ViewCheck(pending=f"{need - len(entries)} entries up to size "
                                 f"{trusted.size} not served yet")
    hashes: list[bytes] = []
    for i, raw in enumerate(entries[:need], start=start):
        try:
            d = open_entry(raw)
        except EvalsvcError as exc:
            return ViewCheck(split=Split("entries", f"entry {i} does not parse: {exc.message}",
                                         {"trusted": trusted_note, "index": i,
                                          "entry": raw.decode("utf-8", "replace")}))
        if d.seq != i + 1:
            return ViewCheck(split=Split("entries", f"entry {i} names seq {d.seq}",
                                         {"trusted": trusted_note, "index": i,
                                          "entry": raw.decode("utf-8", "replace")}))
        hashes.append(leaf_hash(d.leaf))
    if root_hash([*verified, *hashes]) != trusted.root:
        return ViewCheck(split=Split(
            "entries",
            f"the entries [{start}, {trusted.size}) served to this venue do not re-derive "
            f"the cosigned root of size {trusted.size}",
            {"trusted": trusted_note, "start": start,
             "entries": [e.decode("utf-8", "replace") for e in entries[:need]]},
        ))
    return ViewCheck(leaf_hashes=tuple(hashes))


def event_matches(event: Mapping[str, Any], entry: bytes) -> bool:
    """Whether a streamed event shows nothing its verified entry contradicts: every field
    the entry discloses equals the event's, unless the event shows it masked (``None``,
    or the payload marked ``masked``, or the actor as ``expert``) — what the venue was
    shown live may be less than what it may see later, never something else."""
    d = open_entry(entry)
    if (d.action, d.seq) != (event.get("event", event.get("type")), event.get("seq")):
        return False
    if d.actor is not None and event.get("actor") not in (d.actor, "expert"):
        return False
    payload = event.get("payload") or {}
    if payload.get("masked") and len(payload) == 1:
        return True
    return all(_agrees(payload.get(key), value) for key, value in d.payload.items())


def _agrees(shown: Any, logged: Any) -> bool:
    """Whether the value an event shows contradicts nothing its entry discloses (format
    3, audit/leaf.py: an object may disclose some members only, an array some elements
    only, ``{"...": digest}`` standing for the others)."""
    if shown is None:
        return True  # masked
    if isinstance(logged, dict) and isinstance(shown, dict):
        if logged.keys() == {"..."}:
            return True  # an element not disclosed to this venue
        return all(_agrees(shown.get(k), v) for k, v in logged.items())
    if isinstance(logged, list) and isinstance(shown, list):
        return len(logged) == len(shown) and all(
            _agrees(a, b) for a, b in zip(shown, logged, strict=True))
    if isinstance(logged, dict) and logged.keys() == {"..."}:
        return True
    return canonical_bytes(shown) == canonical_bytes(logged)
