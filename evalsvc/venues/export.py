"""``evalsvc venue export``: a bundle from the venue's mirror alone.

What the venue verified — its redacted entries (docs/audit.md "Leaves"), the checkpoints
they re-derive (with the cosignatures they carry, this venue's own among them), and the
consistency proofs between successive ones, computed from the same leaves — written in
the bundle format ``evalsvc audit verify`` reads. If the primary disappears for good,
each venue still holds a verified record of what it saw.
"""

from __future__ import annotations

__all__ = ["export_mirror"]

import itertools
import json
from pathlib import Path

from evalsvc.audit.bundle import write_bundle
from evalsvc.audit.merkle import consistency_proof
from evalsvc.audit.rederive import undisclosed
from evalsvc.audit.splitview import EVIDENCE_FILE
from evalsvc.errors import NotFound
from evalsvc.files import write_private
from evalsvc.venues.mirror import Mirror

VENUE_BUNDLE = "venue-mirror"


def export_mirror(
    mirror: Mirror, session_id: str, out_dir: Path, *, venue: str
) -> dict[str, object]:
    """Write the bundle of what ``mirror`` verified of ``session_id``; returns bundle.json."""
    entries = mirror.verified_entries(session_id)
    hashes = mirror.verified_hashes(session_id)
    cps = mirror.checkpoints(session_id)
    if not entries or not cps:
        raise NotFound(f"the mirror holds no verified entry of session {session_id}")
    sizes = [c[0] for c in cps]
    consistency = {
        (old, new): consistency_proof(old, hashes[:new])
        for old, new in itertools.pairwise(sizes)
        if old > 0
    }
    meta = write_bundle(
        out_dir,
        session_id=session_id,
        policy=None,  # the verifier brings its own trusted keys
        entries=zip(entries, hashes, strict=True),
        checkpoints=[(size, note) for size, _, _, note in cps],
        consistency=consistency,
    )
    meta = {**meta, "kind": VENUE_BUNDLE, "venue": venue, "origin": cps[-1][1],
            "undisclosed_fields": undisclosed(entries)}
    split = mirror.audit_status(session_id).split
    if split is not None:
        # The split view this venue caught travels with its record (docs/audit.md "Split
        # views"): `audit verify` names it (check split_view), whether or not the primary
        # let the alert through to its supervisors.
        write_private(out_dir / EVIDENCE_FILE, Path(split[2]).read_bytes())
        meta["split_view"] = split[0]
    write_private(out_dir / "bundle.json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta
