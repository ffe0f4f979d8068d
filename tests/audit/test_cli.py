"""``evalsvc audit verify | export | keygen`` through the real command line parser."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from evalsvc.audit.bundle import format_policy
from evalsvc.cli import main

if TYPE_CHECKING:
    from tests.audit.conftest import AuditFixture

ORIGIN = "evalsvc.example/s-0042"
SESSION = "s-0042"

pytestmark = pytest.mark.db


def test_export_then_verify(
    audit_log: AuditFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exported"
    policy = tmp_path / "trusted.policy"
    policy.write_text(format_policy(audit_log.policy))
    args = ["audit", "export", SESSION, "--out", str(out), "--database", audit_log.url]
    assert main([*args, "--policy", str(policy)]) == 0
    assert "13 entries" in capsys.readouterr().out
    assert main(["audit", "verify", str(out), "--trusted-keys", str(policy)]) == 0
    assert capsys.readouterr().out.startswith("OK: 13 entries, 3 signed checkpoints")


def test_verify_failure_exits_1_and_names_the_check(
    audit_log: AuditFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = audit_log.export()
    entries = (bundle / "entries").read_bytes().replace(b'"seq":3', b'"seq":4', 1)
    (bundle / "entries").write_bytes(entries)
    assert main(["audit", "verify", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED: 13 entries")
    assert "FAIL [entry] entry 2 (line 3): its content does not match the logged leaf hash" in err


def test_export_without_policy_needs_trusted_keys(
    audit_log: AuditFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nopolicy"
    assert main(["audit", "export", SESSION, "--out", str(out), "--database", audit_log.url]) == 0
    assert "verify with --trusted-keys" in capsys.readouterr().err
    assert main(["audit", "verify", str(out)]) == 1
    assert "[policy]" in capsys.readouterr().err
    args = ["--origin", ORIGIN, "--log-vkey", audit_log.log_vkey, "--quorum", "0"]
    assert (
        main(["audit", "export", SESSION, "--out", str(out), "--database", audit_log.url, *args])
        == 0
    )
    assert main(["audit", "verify", str(out)]) == 0


def test_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "w.key"
    assert main(["audit", "keygen", "venue.hefei.example", "--out", str(key)]) == 0
    assert key.read_text().startswith("PRIVATE+KEY+venue.hefei.example+")
    assert key.stat().st_mode & 0o777 == 0o600
    assert "cosignature vkey: venue.hefei.example+" in capsys.readouterr().out


def test_verify_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "nope")]) == 1
    assert "[format]" in capsys.readouterr().err
