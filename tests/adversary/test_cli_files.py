"""What the command line writes about the expert pool is readable by its owner only,
whatever the umask: ``experts import --out`` (names, resident ID numbers), its
``--report`` (the rows it refused), ``draw simulate|verify --bundle-out`` (the pool
snapshot a draw read)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalsvc.cli import main
from evalsvc.config import PROJECT_ROOT

RULES = str(PROJECT_ROOT / "config" / "draw-rules.example.toml")
SEED = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pool_files_the_cli_writes_are_private(tmp_path: Path, loose_umask: None) -> None:
    pool = tmp_path / "synth.json"
    assert main(["experts", "synth", "--count", "400", "--seed", "3", "--as-of", "2026-11-01",
                 "--out", str(pool)]) == 0
    rows = json.loads(pool.read_text("utf-8"))["experts"][:5]
    rows[2]["specialties"] = ["X01"]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    out, report = tmp_path / "pool.json", tmp_path / "report.json"
    assert main(["experts", "import", str(src), "--skip-invalid", "--report", str(report),
                 "--out", str(out)]) == 0
    assert out.exists() and report.exists()
    bundle = tmp_path / "draw.json"
    assert main(["draw", "simulate", "--pool", str(pool), "--rules", RULES, "--seed", SEED,
                 "--bundle-out", str(bundle)]) == 0
    for f in (pool, out, report, bundle):
        assert mode(f) == 0o600, (f.name, oct(mode(f)))
