"""``evalsvc certs dev`` and ``evalsvc certs check`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsvc.cli import main


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dev")
    assert main(["certs", "dev", "--out", str(out), "--at", "2026-06-01T08:00:00Z"]) == 0
    return out


AT = ["--at", "2026-06-02T08:00:00Z"]


def test_check_accepts_and_prints_chain_region_identity(
    dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leaf = dev / "leaves" / "expert-zhang-ZJ.pem"
    code = main(
        [
            "certs",
            "check",
            str(leaf),
            "--intermediate",
            str(dev / "leaves" / "expert-zhang-ZJ.chain.pem"),
            "--trust",
            str(dev),
            "--usage",
            "signing",
            "--revocation",
            "require",
            *AT,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "anchor region ZJ" in out and "identity: person 310104" in out and "[sm2," in out


def test_check_json(dev: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "certs",
            "check",
            str(dev / "leaves" / "expert-li-JS.pem"),
            "--trust",
            str(dev / "SH"),
            "--intermediate",
            str(dev / "JS" / "intermediates" / "intermediate.pem"),
            "--crl",
            str(dev / "JS" / "crls" / "intermediate.pem"),
            "--json",
            *AT,
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["region"] == "SH" and len(report["chain"]) == 4


@pytest.mark.parametrize(
    ("leaf", "extra", "reason"),
    [
        ("expert-revoked-SH", [], "certificate_revoked"),
        ("expert-expired-JS", [], "certificate_expired"),
        ("expert-zhao-ZJ-enc", ["--usage", "signing"], "certificate_wrong_key_usage"),
        ("venue-JS-client", ["--usage", "login"], "certificate_wrong_role"),
        ("expert-li-JS", ["--max-depth", "0"], "certificate_chain_too_deep"),
        (
            "venue-SH-server",
            ["--usage", "venue-server", "--server-name", "evil.test"],
            "certificate_rejected",
        ),
    ],
)
def test_check_refuses_with_reason(
    dev: Path, capsys: pytest.CaptureFixture[str], leaf: str, extra: list[str], reason: str
) -> None:
    code = main(
        ["certs", "check", str(dev / "leaves" / f"{leaf}.pem"), "--trust", str(dev), *extra, *AT]
    )
    assert code == 1
    assert f"REFUSED ({reason})" in capsys.readouterr().err


def test_check_ca_and_server(dev: Path) -> None:
    assert (
        main(
            [
                "certs",
                "check",
                str(dev / "SH" / "intermediates" / "cross-0.pem"),
                "--trust",
                str(dev),
                "--usage",
                "ca",
                *AT,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "certs",
                "check",
                str(dev / "leaves" / "venue-SH-server.pem"),
                "--trust",
                str(dev),
                "--usage",
                "venue-server",
                "--server-name",
                "primary.sh.evalsvc.test",
                *AT,
            ]
        )
        == 0
    )


def test_check_with_anchor_pem_only(dev: Path) -> None:
    assert (
        main(
            [
                "certs",
                "check",
                str(dev / "leaves" / "expert-wang-AH.pem"),
                "--trust",
                str(dev / "AH" / "anchors" / "root.pem"),
                "--intermediate",
                str(dev / "leaves" / "expert-wang-AH.chain.pem"),
                *AT,
            ]
        )
        == 0
    )
