"""The bundle format: policy files and a write/read round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsvc.audit.bundle import Policy, format_policy, parse_policy, read_bundle, write_bundle
from evalsvc.audit.merkle import leaf_hash
from evalsvc.errors import InvalidInput

POLICY = Policy("evalsvc.example/s-1", "log+00000000+AA==", ("w1+1", "w2+2"), 2)


def test_policy_round_trip_and_comments() -> None:
    text = format_policy(POLICY)
    assert text.splitlines()[0] == "origin evalsvc.example/s-1"
    assert parse_policy("# trusted by the supervisor\n\n" + text) == POLICY


@pytest.mark.parametrize(
    "bad",
    [
        "log x\nquorum 0\n",  # no origin
        "origin o\nlog x\nquorum 1\n",  # quorum above the witnesses listed
        "origin o\nlog x\nquorum two\n",
        "origin o\nlog x\nwitnesses a\n",
    ],
)
def test_bad_policies(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_policy(bad)


def test_write_read_round_trip(tmp_path: Path) -> None:
    entries = [b'{"a":1}', b'{"b":"\\n"}']
    meta = write_bundle(
        tmp_path / "b",
        session_id="s-1",
        policy=POLICY,
        entries=[(e, leaf_hash(e)) for e in entries],
        checkpoints=[(2, "note\n\n— x AAAA\n")],
        consistency={(1, 2): [b"\x01" * 32]},
        proofs={0: "proof"},
    )
    assert meta["entries"] == 2
    b = read_bundle(tmp_path / "b")
    assert b.entries == entries and b.entries_complete
    assert b.leaf_hashes == [leaf_hash(e) for e in entries]
    assert b.checkpoints == {"2.note": "note\n\n— x AAAA\n"}
    assert b.consistency == {"1-2": [b"\x01" * 32]}
    assert b.proofs == {"0.tlog-proof": "proof"}
    assert parse_policy(b.policy_text or "") == POLICY


def test_entries_with_a_newline_byte_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="newline"):
        write_bundle(
            tmp_path,
            session_id="s",
            policy=None,
            entries=[(b"a\nb", leaf_hash(b"a\nb"))],
            checkpoints=[],
            consistency={},
        )
