"""``evalsvc experts import|synth`` and ``evalsvc draw simulate|verify|commitment``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsvc.cli import main
from evalsvc.config import PROJECT_ROOT
from evalsvc.experts.seed import commitment_digest

RULES = str(PROJECT_ROOT / "config" / "draw-rules.example.toml")
SEED = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    out = tmp_path / "pool.json"
    assert main(["experts", "synth", "--count", "3000", "--seed", "9", "--as-of", "2026-11-01",
                 "--out", str(out)]) == 0
    return out


def test_synth_simulate_verify_round_trip(pool_file: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    bundle = tmp_path / "bundle.json"
    assert main(["draw", "simulate", "--pool", str(pool_file), "--rules", RULES,
                 "--seed", SEED, "--json", "--bundle-out", str(bundle)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seed"] == SEED and len(result["seats"]) == 7
    assert all(len(s["alternates"]) == 2 for s in result["seats"])
    # A bundle without a ceremony proves nothing about its seed: refused, unless the
    # verifier says it checks a simulation (and the output says the seed was given).
    assert main(["draw", "verify", "--bundle", str(bundle)]) == 1
    assert "no ceremony in the bundle" in capsys.readouterr().out
    assert main(["draw", "verify", "--bundle", str(bundle), "--given-seed"]) == 0
    out = capsys.readouterr().out
    assert "draw matches" in out and "SIMULATION" in out
    doc = json.loads(bundle.read_text(encoding="utf-8"))
    doc["result"]["seats"][0]["alternates"].reverse()
    bundle.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert main(["draw", "verify", "--bundle", str(bundle), "--given-seed"]) == 1
    assert "does NOT match" in capsys.readouterr().out


def test_simulate_prints_chinese_labels(pool_file: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["draw", "simulate", "--pool", str(pool_file), "--rules", RULES,
                 "--seed", SEED]) == 0
    out = capsys.readouterr().out
    assert "评标专家" in out and "候补 2" in out and "席位 7" in out
    # Resident ID numbers are never printed.
    doc = json.loads(pool_file.read_text(encoding="utf-8"))
    assert not any(e["resident_id"] in out for e in doc["experts"])


def test_simulate_from_a_ceremony_file(pool_file: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    session = "SH-2026-GC-0042"
    parties = {"shanghai": "aa" * 32, "suzhou": "bb" * 32}
    ceremony = {
        "commit_deadline": "2026-12-01T08:10:00+00:00",
        "reveal_deadline": "2026-12-01T08:20:00+00:00",
        "commitments": [
            {"party": p, "at": "2026-12-01T08:00:00+00:00",
             "digest": commitment_digest(bytes.fromhex(s), party=p, session_id=session)}
            for p, s in parties.items()
        ],
        "reveals": [{"party": p, "secret": s, "at": "2026-12-01T08:15:00+00:00"}
                    for p, s in parties.items()],
    }
    path = tmp_path / "ceremony.json"
    path.write_text(json.dumps(ceremony), encoding="utf-8")
    bundle = tmp_path / "bundle.json"
    capsys.readouterr()
    assert main(["draw", "simulate", "--pool", str(pool_file), "--rules", RULES,
                 "--ceremony", str(path), "--json", "--bundle-out", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["draw", "verify", "--bundle", str(bundle)]) == 0
    assert "seed from reveals of shanghai, suzhou" in capsys.readouterr().out


def test_commitment_command(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["draw", "commitment", "--secret", "aa" * 32, "--party", "suzhou",
                 "--session", "S"]) == 0
    assert capsys.readouterr().out.strip() == commitment_digest(b"\xaa" * 32, party="suzhou",
                                                               session_id="S")


def test_import_refuses_a_bad_file_and_writes_the_report(tmp_path: Path, pool_file: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    rows = json.loads(pool_file.read_text(encoding="utf-8"))["experts"][:5]
    rows[3]["specialties"] = ["X01"]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    out, report = tmp_path / "out.json", tmp_path / "report.csv"
    assert main(["experts", "import", str(src), "--report", str(report),
                 "--out", str(out)]) == 1
    assert not out.exists()
    assert "unknown specialty code X01" in report.read_text(encoding="utf-8")
    assert "import refused" in capsys.readouterr().err
    assert main(["experts", "import", str(src), "--skip-invalid", "--report", str(report),
                 "--out", str(out)]) == 0
    assert len(json.loads(out.read_text(encoding="utf-8"))["experts"]) == 4


def test_import_reads_a_gbk_csv_from_synth(tmp_path: Path) -> None:
    csv_file = tmp_path / "pool.csv"
    assert main(["experts", "synth", "--count", "50", "--seed", "1", "--as-of", "2026-11-01",
                 "--format", "csv", "--out", str(csv_file)]) == 0
    gbk = tmp_path / "pool-gbk.csv"
    gbk.write_bytes(csv_file.read_text(encoding="utf-8").encode("gbk"))
    out = tmp_path / "out.json"
    assert main(["experts", "import", str(gbk), "--out", str(out)]) == 0
    assert len(json.loads(out.read_text(encoding="utf-8"))["experts"]) == 50


def test_bad_seed_is_an_error(pool_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "simulate", "--pool", str(pool_file), "--rules", RULES,
                 "--seed", "abcd"]) == 1
    assert "at least 16 bytes" in capsys.readouterr().err
