"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Pure: small functions over ``bytes``; no I/O. The tree is the one of RFC 6962 §2.1
(RFC 9162 §2.1.1): leaf hash ``SHA-256(0x00 || d)``, node hash ``SHA-256(0x01 || l || r)``,
the empty tree hashes to ``SHA-256("")``. Proofs are lists of 32-byte hashes in the
order of RFC 6962 §2.1.1 (audit path) and §2.1.2 (consistency proof); the verifiers
follow RFC 9162 §2.1.3.2 and §2.1.4.2 and raise
:class:`~evalsvc.errors.AuditLogInconsistent` (a ``VerificationError``) saying which
check failed.
"""

from __future__ import annotations

__all__ = [
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

import hashlib
from collections.abc import Sequence

from evalsvc.audit.ranges import (
    consistency_ranges,
    inclusion_ranges,
    largest_power_of_two_below,
)
from evalsvc.errors import AuditLogInconsistent

HASH_SIZE = 32
_EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)`` — RFC 6962 §2.1 leaf hash."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` — RFC 6962 §2.1 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _range_hash(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    # MTH(D[start:end]) per RFC 6962 §2.1, split at the largest power of two.
    n = end - start
    if n == 1:
        return leaf_hashes[start]
    k = largest_power_of_two_below(n)
    return node_hash(
        _range_hash(leaf_hashes, start, start + k), _range_hash(leaf_hashes, start + k, end)
    )


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash MTH of a tree with these leaf hashes (RFC 6962 §2.1)."""
    if not leaf_hashes:
        return _EMPTY_ROOT
    # Compact-range fold: one pass, O(log n) memory; equal to the recursive MTH.
    stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing
    for h in leaf_hashes:
        size, cur = 1, h
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            cur = node_hash(left, cur)
            size += left_size
        stack.append((size, cur))
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``leaf_hashes`` (RFC 6962 §2.1.1)."""
    size = len(leaf_hashes)
    return [_range_hash(leaf_hashes, s, e) for s, e in inclusion_ranges(index, size)]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaf_hashes`` (§2.1.2)."""
    return [
        _range_hash(leaf_hashes, s, e) for s, e in consistency_ranges(old_size, len(leaf_hashes))
    ]


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise AuditLogInconsistent(
                f"{what} hash {i} has wrong length: expected {HASH_SIZE} bytes, got {len(h)}"
            )


def verify_inclusion(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises ``AuditLogInconsistent`` naming the failed check.
    """
    if not 0 <= index < size:
        raise AuditLogInconsistent(
            f"inclusion proof has wrong index: leaf {index} is outside a tree of {size} leaves"
        )
    expected = len(inclusion_ranges(index, size))
    if len(proof) != expected:
        raise AuditLogInconsistent(
            f"inclusion proof has wrong size: expected {expected} hashes, got {len(proof)}"
        )
    _check_hashes("inclusion proof", proof)
    _check_hashes("leaf", [leaf_hash])
    _check_hashes("root", [root])
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # cannot happen after the length check; kept from the RFC algorithm
            raise AuditLogInconsistent("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditLogInconsistent("inclusion proof is shorter than the path to the root")
    if r != root:
        raise AuditLogInconsistent(
            f"inclusion proof does not lead to the root: computed {r.hex()}, "
            f"expected {root.hex()} (leaf {index} of {size})"
        )


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_size``/``old_root`` is a prefix of ``new_size``/``new_root``.

    RFC 9162 §2.1.4.2. Raises ``AuditLogInconsistent`` naming the failed check.
    """
    if not 0 <= old_size <= new_size:
        raise AuditLogInconsistent(
            f"consistency proof has wrong sizes: old size {old_size} > new size {new_size}"
        )
    _check_hashes("consistency proof", proof)
    _check_hashes("old root", [old_root])
    _check_hashes("new root", [new_root])
    expected = len(consistency_ranges(old_size, new_size))
    if len(proof) != expected:
        raise AuditLogInconsistent(
            f"consistency proof has wrong size: expected {expected} hashes, got {len(proof)}"
        )
    if old_size == new_size:
        if old_root != new_root:
            raise AuditLogInconsistent(
                f"two roots for one size {old_size}: {old_root.hex()} and {new_root.hex()}"
            )
        return
    if old_size == 0:
        # Every tree extends the empty tree (RFC 9162 §2.1.4.2 step 1 needs a non-empty one).
        if old_root != _EMPTY_ROOT:
            raise AuditLogInconsistent("consistency proof: the empty tree has a wrong root")
        return
    path = list(proof)
    # RFC 9162 §2.1.4.2 step 2: an old tree of power-of-two size is itself a node.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise AuditLogInconsistent("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditLogInconsistent("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise AuditLogInconsistent(
            f"consistency proof does not lead to the old root of size {old_size}: "
            f"computed {fr.hex()}, expected {old_root.hex()}"
        )
    if sr != new_root:
        raise AuditLogInconsistent(
            f"consistency proof does not lead to the new root of size {new_size}: "
            f"computed {sr.hex()}, expected {new_root.hex()}"
        )
