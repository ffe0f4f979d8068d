"""Offline verification: a good bundle passes; every tampering fails, naming the check."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from evalsvc.audit.bundle import format_policy
from evalsvc.audit.note import Checkpoint, generate_key, parse_checkpoint, sign_checkpoint
from evalsvc.audit.verify import Report, verify_bundle

if TYPE_CHECKING:
    from tests.audit.conftest import AuditFixture

ORIGIN = "evalsvc.example/s-0042"

pytestmark = pytest.mark.db


def _checks(report: Report) -> set[str]:
    return {f.check for f in report.failures}


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_a_good_bundle_verifies(audit_log: AuditFixture) -> None:
    bundle = audit_log.export(entry_proofs=True)
    report = verify_bundle(bundle, trusted_policy=format_policy(audit_log.policy))
    assert report.ok, report.summary()
    assert (report.entries, report.checkpoints, report.latest_size) == (13, 3, 13)
    assert report.cosigners == ("venue.hangzhou.example", "venue.nanjing.example")
    assert report.summary().startswith("OK: 13 entries")
    # Without trusted keys the bundle's own policy is used, and the report says so.
    own = verify_bundle(bundle)
    assert own.ok and "bundle's own policy" in own.summary()


def test_edited_entry_is_named(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    lines = _lines(bundle / "entries")
    lines[7] = lines[7].replace(b'"score"', b'"scorf"')
    _write_lines(bundle / "entries", lines)
    report = verify_bundle(bundle)
    assert {"root", "entry"} <= _checks(report)
    entry = [f for f in report.failures if f.check == "entry"]
    assert [f.subject for f in entry] == ["entry 7 (line 8)"]
    root = [f for f in report.failures if f.check == "root"]
    assert [f.subject for f in root] == ["checkpoint of size 10", "checkpoint of size 13"]
    assert "[5, 10)" in root[0].message


def test_deleted_entry(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    lines = _lines(bundle / "entries")
    del lines[3]
    _write_lines(bundle / "entries", lines)
    report = verify_bundle(bundle)
    assert {"entries-count", "root", "entry"} <= _checks(report)
    assert any(f.subject == "entry 3 (line 4)" for f in report.failures)


def test_reordered_entries(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    lines = _lines(bundle / "entries")
    lines[1], lines[2] = lines[2], lines[1]
    _write_lines(bundle / "entries", lines)
    report = verify_bundle(bundle)
    assert [f.subject for f in report.failures if f.check == "entry"] == [
        "entry 1 (line 2)",
        "entry 2 (line 3)",
    ]


def test_truncated_entries(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    for name in ("entries", "leaf-hashes"):
        _write_lines(bundle / name, _lines(bundle / name)[:11])
    report = verify_bundle(bundle)
    assert "entries-count" in _checks(report)
    assert any("covers 13 entries but the bundle has 11" in f.message for f in report.failures)


def test_rolled_back_checkpoint(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    # Replace the latest checkpoint by the previous one: entries 10..12 lose cover.
    (bundle / "checkpoints" / "13.note").write_text(
        (bundle / "checkpoints" / "10.note").read_text()
    )
    report = verify_bundle(bundle)
    assert "entries-count" in _checks(report)
    assert any("rolled back" in f.message for f in report.failures)


def test_rollback_with_truncation_is_caught_by_a_witness_checkpoint(
    audit_log: AuditFixture,
) -> None:
    bundle = audit_log.export()
    held_by_venue = (bundle / "checkpoints" / "13.note").read_text()
    (bundle / "checkpoints" / "13.note").unlink()
    (bundle / "consistency" / "10-13").unlink()
    for name in ("entries", "leaf-hashes"):
        _write_lines(bundle / name, _lines(bundle / name)[:10])
    (bundle / "bundle.json").unlink()
    assert verify_bundle(bundle).ok  # self-consistent once everything is cut...
    report = verify_bundle(bundle, extra_checkpoints=[("venue-nj.note", held_by_venue)])
    assert "entries-count" in _checks(report)  # ...but not against what a venue holds


def test_forged_log_signature(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    path = bundle / "checkpoints" / "10.note"
    note = path.read_text()
    body, sigs = note.split("\n\n", 1)
    forged_body = body + "\nforged extension"  # the signed text changed
    path.write_text(forged_body + "\n\n" + sigs)
    report = verify_bundle(bundle)
    assert [f.subject for f in report.failures if f.check == "log-signature"] == [
        "checkpoint 10.note"
    ]
    assert "invalid signature" in report.failures[0].message


def test_checkpoint_signed_by_another_key(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    mallory, _ = generate_key(ORIGIN)
    cp = parse_checkpoint((bundle / "checkpoints" / "13.note").read_text())
    (bundle / "checkpoints" / "13.note").write_text(sign_checkpoint(cp, mallory))
    report = verify_bundle(bundle)
    assert "log-signature" in _checks(report)
    assert any("no verifiable signatures" in f.message for f in report.failures)


def test_forged_cosignature(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    path = bundle / "checkpoints" / "13.note"
    lines = path.read_text().split("\n")
    name, b64 = lines[-2].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    lines[-2] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    path.write_text("\n".join(lines))
    report = verify_bundle(bundle)
    assert "cosignature" in _checks(report) and "quorum" in _checks(report)


def test_quorum_not_met(audit_log: AuditFixture) -> None:
    audit_log.append(13, 14)
    audit_log.checkpoint(cosign_by=1)
    report = verify_bundle(audit_log.export())
    assert [str(f) for f in report.failures] == [
        "[quorum] checkpoint of size 14: cosigned by 1 of the 2 witnesses required"
    ]


def test_fork_outputs_both_signed_checkpoints(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    genuine = (bundle / "checkpoints" / "13.note").read_text()
    # The log (its key) also signed another tree of size 13, shown to a venue.
    fork = sign_checkpoint(Checkpoint(ORIGIN, 13, b"\x07" * 32), audit_log.log_skey)
    report = verify_bundle(bundle, extra_checkpoints=[("venue-hz.note", fork)])
    forks = [f for f in report.failures if f.check == "fork"]
    assert len(forks) == 1 and set(forks[0].evidence) == {genuine, fork}
    assert "evidence 2:" in report.summary()


def test_inconsistent_checkpoints_output_both(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    # The log signs a size-11 tree that is not a prefix of the size-13 one.
    bad = sign_checkpoint(Checkpoint(ORIGIN, 11, b"\x09" * 32), audit_log.log_skey)
    report = verify_bundle(bundle, extra_checkpoints=[("venue-nj.note", bad)])
    cons = [f for f in report.failures if f.check == "consistency"]
    assert cons and all(len(f.evidence) == 2 for f in cons)
    assert bad in cons[0].evidence


def test_tampered_consistency_proof(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    path = bundle / "consistency" / "5-10"
    lines = _lines(path)
    lines[0] = base64.b64encode(b"\x00" * 32)
    _write_lines(path, lines)
    report = verify_bundle(bundle)
    assert [f.subject for f in report.failures] == ["checkpoints 5 and 10"]


def test_tampered_entry_proof(audit_log: AuditFixture) -> None:
    bundle = audit_log.export(entry_proofs=True)
    path = bundle / "proofs" / "4.tlog-proof"
    path.write_text(path.read_text().replace("index 4\n", "index 3\n"))
    report = verify_bundle(bundle)
    assert [f.check for f in report.failures] == ["tlog-proof"]


def test_malformed_trusted_keys(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    policy = format_policy(audit_log.policy).replace("witness venue.", "witness venue ", 1)
    report = verify_bundle(bundle, trusted_policy=policy)
    assert [f.check for f in report.failures] == ["policy"]


def test_wrong_trusted_keys(audit_log: AuditFixture) -> None:
    bundle = audit_log.export()
    _, other_vkey = generate_key(ORIGIN)
    policy = format_policy(audit_log.policy).replace(audit_log.log_vkey, other_vkey)
    report = verify_bundle(bundle, trusted_policy=policy)
    assert "log-signature" in _checks(report)
    assert any("differs from the trusted keys" in n for n in report.notes)


# --- Tampering with the database file itself ---------------------------------------------


def _drop_triggers(fx: AuditFixture) -> None:
    with fx.engine.begin() as conn:
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")).all()
        for (name,) in names:
            conn.execute(text(f"DROP TRIGGER {name}"))


def test_database_refuses_tampering_then_export_reveals_it(audit_log: AuditFixture) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"), audit_log.engine.begin() as conn:
        conn.execute(text("UPDATE audit_leaf SET data = X'7B7D' WHERE idx = 6"))
    # Someone with the file drops the triggers and edits a row anyway.
    _drop_triggers(audit_log)
    with audit_log.engine.begin() as conn:
        conn.execute(text("UPDATE audit_leaf SET data = X'7B7D' WHERE idx = 6"))
    report = verify_bundle(audit_log.export())
    assert [f.subject for f in report.failures if f.check == "entry"] == ["entry 6 (line 7)"]


@pytest.mark.parametrize(
    "statements",
    [
        ["DELETE FROM audit_leaf WHERE idx = 8"],
        [  # reorder: swap two rows' data
            "UPDATE audit_leaf SET idx = 100 WHERE idx = 2",
            "UPDATE audit_leaf SET idx = 2 WHERE idx = 3",
            "UPDATE audit_leaf SET idx = 3 WHERE idx = 100",
        ],
        [  # truncate the tail and the checkpoint that covered it
            "DELETE FROM audit_leaf WHERE idx >= 10",
            "DELETE FROM audit_node WHERE level = 0 AND idx >= 10",
        ],
        ["DELETE FROM audit_cosignature WHERE size = 13"],
    ],
)
def test_row_tampering_fails_verification(audit_log: AuditFixture, statements: list[str]) -> None:
    _drop_triggers(audit_log)
    with audit_log.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))
    report = verify_bundle(audit_log.export(), trusted_policy=format_policy(audit_log.policy))
    assert not report.ok
    assert _checks(report) & {"entry", "entries-count", "root", "quorum"}


def test_copy_of_bundle_directory_still_verifies(audit_log: AuditFixture, tmp_path: Path) -> None:
    bundle = audit_log.export()
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    assert verify_bundle(copy).ok
