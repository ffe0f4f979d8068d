"""The supervisor's path from a fresh clone: the demo prints the commands, they pass.

Runs ``evalsvc demo --seed-only`` as a new user would, takes the ``audit trust-policy``,
``audit export`` and ``audit verify`` lines it prints, and runs exactly those lines in a
shell, in the same directory and environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "token-secret"),
        "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "audit-log.key"),
    }


def _run(line: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=tmp_path, env=_env(tmp_path), text=True,
                          capture_output=True, timeout=180)


def test_the_commands_the_demo_prints_export_and_verify_its_sealed_session(
    tmp_path: Path,
) -> None:
    demo = _run(f"{sys.executable} -m evalsvc demo --seed-only --database "
                f"sqlite:///{tmp_path / 'demo.db'}", tmp_path)
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    assert f"数据库 / database: sqlite:///{tmp_path / 'demo.db'}" in out
    sealed = next(ln.split(": ")[1] for ln in out.splitlines()
                  if ln.startswith("已封存的演示会话 / sealed demo session: "))
    start = out.index("a supervisor's offline check")
    commands = [ln.strip() for ln in out[start:].splitlines()[1:4]]
    # No `evalsvc` on a fresh clone's PATH: the lines name the program beside this Python.
    assert all(c.startswith(str(Path(sys.executable).parent / "evalsvc") + " ")
               or c.startswith(f"{sys.executable} -m evalsvc ") for c in commands), commands
    assert [c.split(" audit ")[1].split()[0] for c in commands] == [
        "trust-policy", "export", "verify"]
    assert all(sealed in c for c in commands)
    for line in commands:
        done = _run(line, tmp_path)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        # What the supervisor reads, not pages of a font library's glyph ids (the export
        # lays out the report PDF).
        assert "fontTools" not in done.stderr and len(done.stderr) < 2000, done.stderr[:500]
    for check in ("report", "alerts"):
        assert any(ln.startswith("通过 ok") and f" {check} " in ln
                   for ln in done.stdout.splitlines()), check
    verified = done.stdout
    assert "结论 / verdict: 通过 VERIFIED" in verified
    # The keys trusted are the policy file's, from the server's settings, not the bundle's.
    policy = next(tmp_path.glob("policy-*.txt")).read_text("utf-8")
    log_key = next(ln.split()[1] for ln in policy.splitlines() if ln.startswith("log "))
    assert f"日志 log     {log_key}" in verified
    assert not (tmp_path / f"bundle-{sealed}" / "policy").exists()
    for check in ("log", "witnesses", "draw", "sheets", "result", "signatures"):
        assert any(ln.startswith("通过 ok") and f" {check} " in ln
                   for ln in verified.splitlines()), check
    js = _run(commands[-1] + " --json", tmp_path)
    assert js.returncode == 0 and json.loads(js.stdout)["ok"] is True


def test_an_unknown_session_is_named_unknown_and_no_database_is_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere.db"
    out = _run(f"{sys.executable} -m evalsvc audit export s-000000000000 --database "
               f"sqlite:///{missing} --out b", tmp_path)
    assert out.returncode == 1 and "数据库文件不存在" in out.stderr
    status = _run(f"EVALSVC_DATABASE_URL=sqlite:///{missing} {sys.executable} -m evalsvc "
                  "db status", tmp_path)
    assert status.returncode == 1 and "数据库文件不存在" in status.stderr
    assert not missing.exists()

    db = tmp_path / "demo.db"
    assert _run(f"{sys.executable} -m evalsvc demo --seed-only --database sqlite:///{db}",
                tmp_path).returncode == 0
    for cmd in ("audit export s-000000000000 --out b", "audit trust-policy s-000000000000"
                " --out p.txt"):
        out = _run(f"{sys.executable} -m evalsvc {cmd} --database sqlite:///{db}", tmp_path)
        assert out.returncode == 1
        assert "未知的评标会话 s-000000000000" in out.stderr, out.stderr
    assert not (tmp_path / "b").exists() and not (tmp_path / "p.txt").exists()
