"""RFC 6962 Merkle tree: published vectors and exhaustive properties up to 128 leaves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalsvc.audit.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from evalsvc.audit.ranges import inclusion_ranges
from evalsvc.errors import AuditLogInconsistent, VerificationError

# --- Published vectors ----------------------------------------------------------------
# Provenance: github.com/transparency-dev/merkle (Apache-2.0), testonly/constants.go
# (LeafInputs, RootHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs;
# there ``leaf`` is 1-based). These are the RFC 6962 reference values also used by
# Certificate Transparency's C++ implementation.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (0-based leaf index, tree size, proof)
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

VECTOR_LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]


def test_published_roots() -> None:
    for size, want in enumerate(ROOTS):
        assert root_hash(VECTOR_LEAVES[:size]) == want, size


def test_published_leaf_and_node_hash() -> None:
    assert (
        leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert node_hash(VECTOR_LEAVES[0], VECTOR_LEAVES[1]) == ROOTS[2]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    want = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(index, VECTOR_LEAVES[:size]) == want
    verify_inclusion(
        index=index, size=size, leaf_hash=VECTOR_LEAVES[index], proof=want, root=ROOTS[size]
    )


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    want = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(old, VECTOR_LEAVES[:new]) == want
    verify_consistency(
        old_size=old, new_size=new, old_root=ROOTS[old], new_root=ROOTS[new], proof=want
    )


def test_verifier_errors_are_verification_errors() -> None:
    with pytest.raises(VerificationError, match="expected 3 hashes, got 2"):
        verify_inclusion(
            index=0,
            size=8,
            leaf_hash=VECTOR_LEAVES[0],
            proof=inclusion_proof(0, VECTOR_LEAVES)[:2],
            root=ROOTS[8],
        )


# --- Exhaustive properties up to 128 leaves ---------------------------------------------
MAX = 128
LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX)]
ROOT_AT = [root_hash(LEAVES[:n]) for n in range(MAX + 1)]
OTHER = bytes(range(32))


def _reference_root(hashes: list[bytes]) -> bytes:
    # Straight transcription of RFC 6962 §2.1 MTH, independent of root_hash's fold.
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _shape(index: int, size: int) -> list[bool] | None:
    """Left/right pattern of the audit path; ``None`` when the index is outside."""
    if not 0 <= index < size:
        return None
    return [end <= index for _, end in inclusion_ranges(index, size)]


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def _rejected_inclusion(**kw: object) -> bool:
    try:
        verify_inclusion(**kw)  # type: ignore[arg-type]
    except AuditLogInconsistent:
        return True
    return False


def _rejected_consistency(**kw: object) -> bool:
    try:
        verify_consistency(**kw)  # type: ignore[arg-type]
    except AuditLogInconsistent:
        return True
    return False


def test_root_matches_rfc_recursion() -> None:
    for n in range(1, MAX + 1):
        assert ROOT_AT[n] == _reference_root(LEAVES[:n])


def test_every_inclusion_proof_verifies_and_every_corruption_fails() -> None:
    for size in range(1, MAX + 1):
        leaves, root = LEAVES[:size], ROOT_AT[size]
        for index in range(size):
            proof = inclusion_proof(index, leaves)
            ok = {"index": index, "size": size, "leaf_hash": leaves[index], "root": root}
            verify_inclusion(proof=proof, **ok)  # type: ignore[arg-type]
            # Every element, one flipped bit (position varies with index and size).
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = _flip(bad[i], (index * 31 + size * 7 + i) % 256)
                assert _rejected_inclusion(proof=bad, **ok), (index, size, i)
            assert _rejected_inclusion(proof=[*proof, OTHER], **ok)
            assert _rejected_inclusion(proof=[OTHER, *proof], **ok)
            if proof:
                assert _rejected_inclusion(proof=proof[:-1], **ok)
            assert _rejected_inclusion(**{**ok, "leaf_hash": _flip(leaves[index], 0)}, proof=proof)
            assert _rejected_inclusion(**{**ok, "root": _flip(root, 255)}, proof=proof)
            for wrong in (index - 1, index + 1, index ^ 2):
                if wrong != index and wrong >= 0:
                    assert _rejected_inclusion(**{**ok, "index": wrong}, proof=proof)
            for wrong_size in (size - 1, size + 1, size * 2, size // 2):
                # A size giving the very same path shape (e.g. leaf 0 of 3 and of 4) is
                # indistinguishable by the proof alone: the signed checkpoint binds the size.
                if wrong_size != size and _shape(index, wrong_size) != _shape(index, size):
                    assert _rejected_inclusion(**{**ok, "size": wrong_size}, proof=proof)


def test_every_consistency_proof_verifies_and_every_corruption_fails() -> None:
    for new in range(1, MAX + 1):
        leaves = LEAVES[:new]
        for old in range(0, new + 1):
            proof = consistency_proof(old, leaves)
            ok = {
                "old_size": old,
                "new_size": new,
                "old_root": ROOT_AT[old],
                "new_root": ROOT_AT[new],
            }
            verify_consistency(proof=proof, **ok)  # type: ignore[arg-type]
            if old == 0:
                continue
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = _flip(bad[i], (old * 13 + new * 5 + i) % 256)
                assert _rejected_consistency(proof=bad, **ok), (old, new, i)
            assert _rejected_consistency(proof=[*proof, OTHER], **ok)
            assert _rejected_consistency(proof=[OTHER, *proof], **ok)
            if proof:
                assert _rejected_consistency(proof=proof[:-1], **ok)
            if old != new:
                assert _rejected_consistency(
                    **{**ok, "old_root": _flip(ROOT_AT[old], 3)}, proof=proof
                )
                assert _rejected_consistency(
                    **{**ok, "new_root": _flip(ROOT_AT[new], 3)}, proof=proof
                )
                assert _rejected_consistency(
                    **{**ok, "old_root": ROOT_AT[new], "new_root": ROOT_AT[old]}, proof=proof
                )
            for wrong_old in (old - 1, old + 1, old ^ 2):
                if (
                    0 < wrong_old <= new
                    and wrong_old != old
                    and _shape(wrong_old - 1, new) != _shape(old - 1, new)
                ):
                    assert _rejected_consistency(**{**ok, "old_size": wrong_old}, proof=proof), (
                        old,
                        new,
                        wrong_old,
                    )
            for wrong_new in (new + 1, new * 2, new // 2, new - 1):
                # As for inclusion: sizes with the same path shape are bound by signatures.
                if wrong_new >= old and _shape(old - 1, wrong_new) != _shape(old - 1, new):
                    assert _rejected_consistency(**{**ok, "new_size": wrong_new}, proof=proof), (
                        old,
                        new,
                        wrong_new,
                    )


@given(
    size=st.integers(1, MAX),
    data=st.data(),
)
def test_any_single_bit_flip_in_an_inclusion_proof_is_rejected(
    size: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, LEAVES[:size])
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    proof[i] = _flip(proof[i], bit)
    assert _rejected_inclusion(
        index=index, size=size, leaf_hash=LEAVES[index], proof=proof, root=ROOT_AT[size]
    )


@given(new=st.integers(2, MAX), data=st.data())
def test_any_single_bit_flip_in_a_consistency_proof_is_rejected(
    new: int, data: st.DataObject
) -> None:
    old = data.draw(st.integers(1, new - 1))
    proof = consistency_proof(old, LEAVES[:new])
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    proof[i] = _flip(proof[i], bit)
    assert _rejected_consistency(
        old_size=old, new_size=new, old_root=ROOT_AT[old], new_root=ROOT_AT[new], proof=proof
    )


def test_messages_name_the_failed_check() -> None:
    proof = inclusion_proof(3, LEAVES[:7])
    with pytest.raises(AuditLogInconsistent, match="wrong size: expected 3 hashes, got 2"):
        verify_inclusion(index=3, size=7, leaf_hash=LEAVES[3], proof=proof[:2], root=ROOT_AT[7])
    with pytest.raises(AuditLogInconsistent, match="outside a tree of 7"):
        verify_inclusion(index=7, size=7, leaf_hash=LEAVES[3], proof=proof, root=ROOT_AT[7])
    with pytest.raises(AuditLogInconsistent, match="does not lead to the root"):
        verify_inclusion(index=3, size=7, leaf_hash=LEAVES[2], proof=proof, root=ROOT_AT[7])
    with pytest.raises(AuditLogInconsistent, match="two roots for one size 5"):
        verify_consistency(
            old_size=5, new_size=5, old_root=ROOT_AT[5], new_root=ROOT_AT[6], proof=[]
        )
    with pytest.raises(AuditLogInconsistent, match="wrong length"):
        verify_consistency(
            old_size=3, new_size=7, old_root=ROOT_AT[3], new_root=ROOT_AT[7], proof=[b"x"] * 3
        )
