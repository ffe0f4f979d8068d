"""Which subtrees a Merkle proof is made of, as leaf ranges ``(start, end)``.

Pure. RFC 6962 §2.1 splits a tree of ``n`` leaves at ``k``, the largest power of two
smaller than ``n``. Every node of such a tree covers a range ``[start, end)`` of leaves.
Proof generation is expressed here once, in ranges, so that the in-memory tree
(:mod:`evalsvc.audit.merkle`) and the database store (:mod:`evalsvc.audit.log`) build
byte-identical proofs: each range is hashed from leaves or from stored subtrees.

A range is *perfect* when its length is a power of two and ``start`` is a multiple
of it; those are exactly the subtrees a store keeps (level ``log2(len)``, index
``start >> level``).
"""

from __future__ import annotations

__all__ = [
    "consistency_ranges",
    "inclusion_ranges",
    "largest_power_of_two_below",
    "perfect_subtrees",
]


def largest_power_of_two_below(n: int) -> int:
    """``k`` with ``k < n <= 2k`` (RFC 6962 §2.1); ``n`` must be at least 2."""
    if n < 2:
        raise ValueError(f"a split needs at least 2 leaves, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form the audit path of leaf ``index`` in a tree of ``size``.

    RFC 6962 §2.1.1 PATH(m, D[n]), leaf's sibling first, root's child last.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    out: list[tuple[int, int]] = []
    start, end = 0, size
    # Walk down from the root, collecting the sibling of the side we descend into;
    # the RFC lists them bottom-up, so reverse at the end.
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start = start + k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form the consistency proof from ``old_size`` to ``new_size``.

    RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty when
    ``old_size`` is 0 or equals ``new_size`` (RFC 9162 §2.1.4.1).
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[tuple[int, int]] = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], b): nothing when b (the old root is the node itself),
            # else the node's hash.
            if not complete:
                out.append((start, end))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, complete = start + k, m - k, False
    out.reverse()
    return out


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Split ``[start, end)`` into perfect subtrees ``(level, index)``, left to right.

    Valid for the ranges of RFC 6962 trees, whose ``start`` is a multiple of a power
    of two at least ``end - start``: the sizes then decrease, and the range's hash is
    the right-to-left fold of the parts with ``node_hash`` (RFC 6962 §2.1).
    """
    out: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        level = (end - pos).bit_length() - 1
        # A subtree must also be aligned to its own size.
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)
        out.append((level, pos >> level))
        pos += 1 << level
    return out
