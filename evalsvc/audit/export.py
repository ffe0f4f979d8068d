"""Export one session's audit log from the database as an offline bundle (adapter)."""

from __future__ import annotations

__all__ = ["export_bundle"]

import itertools
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, select

from evalsvc.audit.bundle import Policy, write_bundle
from evalsvc.audit.log import (
    consistency_proof_from_store,
    inclusion_proof_from_store,
    list_checkpoints,
)
from evalsvc.audit.note import TlogProof, format_tlog_proof
from evalsvc.audit.tables import audit_leaf, audit_node
from evalsvc.errors import NotFound


def _entries(conn: Connection, session_id: str, size: int) -> Iterator[tuple[bytes | None, bytes]]:
    # Walk the logged leaf hashes (level-0 nodes) and join each leaf's data by index:
    # the bundle then shows an edited or missing row instead of hiding it.
    leaf, node = audit_leaf.c, audit_node.c
    data_rows = conn.execute(
        select(leaf.idx, leaf.data)
        .where(leaf.session_id == session_id, leaf.idx < size)
        .order_by(leaf.idx)
    )
    hash_rows = conn.execute(
        select(node.idx, node.hash)
        .where(node.session_id == session_id, node.level == 0, node.idx < size)
        .order_by(node.idx)
    )
    pending = next(data_rows, None)
    for h in hash_rows:
        while pending is not None and pending.idx < h.idx:
            pending = next(data_rows, None)
        if pending is not None and pending.idx == h.idx:
            yield bytes(pending.data), bytes(h.hash)
            pending = next(data_rows, None)
        else:
            yield None, bytes(h.hash)


def export_bundle(
    conn: Connection,
    session_id: str,
    out_dir: Path,
    *,
    policy: Policy | None = None,
    entry_proofs: bool = False,
) -> dict[str, object]:
    """Write the bundle of ``session_id`` to ``out_dir``; return its ``bundle.json``.

    Entries up to the latest checkpoint, every checkpoint with its cosignatures, the
    consistency proofs between successive checkpoints and, with ``entry_proofs``, a
    C2SP tlog-proof per entry. ``policy`` (trusted keys, quorum) is written when given.
    """
    checkpoints = list_checkpoints(conn, session_id)
    if not checkpoints:
        raise NotFound(f"session {session_id} has no signed checkpoint to export")
    latest = checkpoints[-1]
    consistency: dict[tuple[int, int], list[bytes]] = {}
    for a, b in itertools.pairwise(checkpoints):
        try:
            consistency[(a.size, b.size)] = consistency_proof_from_store(
                conn, session_id, a.size, b.size
            )
        except NotFound:
            continue  # a damaged store: the verifier reports the missing proof
    proofs: dict[int, str] = {}
    if entry_proofs:
        note = latest.cosigned()
        for index in range(latest.size):
            path = inclusion_proof_from_store(conn, session_id, index, latest.size)
            proofs[index] = format_tlog_proof(TlogProof(index, tuple(path), note))
    return write_bundle(
        out_dir,
        session_id=session_id,
        policy=policy,
        entries=_entries(conn, session_id, latest.size),
        checkpoints=[(cp.size, cp.cosigned()) for cp in checkpoints],
        consistency=consistency,
        proofs=proofs,
    )
