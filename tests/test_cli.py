"""The command line, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalsvc.auth import verify_token
from evalsvc.cli import main
from evalsvc.config import PROJECT_ROOT
from evalsvc.keys import load_or_create_secret
from evalsvc.schema import HEAD


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalsvc", *args],
        cwd=PROJECT_ROOT,
        text=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("serve", "demo", "tokens", "db"):
        assert cmd in out.stdout


def test_tokens_issue_makes_a_token_the_server_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    os.environ["EVALSVC_TOKEN_SECRET_FILE"] = str(secret_file)
    try:
        args = ["--role", "operator", "--venue", "js-suzhou", "--subject", "op-js-0031"]
        assert main(["tokens", "issue", *args, "--name", "钱程"]) == 0
    finally:
        del os.environ["EVALSVC_TOKEN_SECRET_FILE"]
    out = capsys.readouterr()
    token = out.out.strip()
    p = verify_token(load_or_create_secret(secret_file), token, now=0)
    assert (p.role, p.venue, p.subject, p.name) == ("operator", "js-suzhou", "op-js-0031", "钱程")
    assert p.actor == "operator:op-js-0031"
    # Its id goes to stderr (stdout stays the bare token, for scripts), with how to revoke.
    assert f"token id (jti) {p.token_id}" in out.err and "tokens revoke --id" in out.err
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "supervisor"],
        ["--role", "operator", "--venue", "sh-ggzy"],
        ["--role", "supervisor", "--subject", "supervisor"],
        ["--role", "operator", "--venue", "sh-ggzy", "--subject", "op-sh-ggzy"],
    ],
)
def test_every_token_names_a_person(tmp_path: Path, args: list[str]) -> None:
    out = run(
        "tokens",
        "issue",
        *args,
        env={
            "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
            "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a"),
        },
    )
    assert out.returncode != 0 and "--subject" in out.stderr + out.stdout
    assert "evs1." not in out.stdout


def test_expert_token_needs_a_subject(tmp_path: Path) -> None:
    out = run(
        "tokens",
        "issue",
        "--role",
        "expert",
        "--venue",
        "sh-ggzy",
        env={
            "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
            "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a"),
        },
    )
    assert out.returncode == 2 and "--subject" in out.stderr  # argparse: a usage error


def test_supervisor_tokens_by_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site supervisor's token is bound to its venue; a tender supervisor's to the
    sessions and tenders ``--scope`` names (docs/api.md "Supervision by scope")."""
    secret_file = tmp_path / "secret"
    os.environ["EVALSVC_TOKEN_SECRET_FILE"] = str(secret_file)
    try:
        assert main(["tokens", "issue", "--role", "site_supervisor", "--venue", "js-suzhou",
                     "--subject", "sup-js-0004", "--name", "韩梅"]) == 0
        site = capsys.readouterr().out.strip()
        assert main(["tokens", "issue", "--role", "supervisor", "--subject", "sup-zhao",
                     "--scope", "CS-2026-0001", "--scope", "s-0123456789ab"]) == 0
        bound = capsys.readouterr().out.strip()
    finally:
        del os.environ["EVALSVC_TOKEN_SECRET_FILE"]
    secret = load_or_create_secret(secret_file)
    p = verify_token(secret, site, now=0)
    assert (p.role, p.venue, p.scope) == ("site_supervisor", "js-suzhou", None)
    p = verify_token(secret, bound, now=0)
    assert (p.role, p.scope) == ("supervisor", ("CS-2026-0001", "s-0123456789ab"))
    env = {"EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
           "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a")}
    out = run("tokens", "issue", "--role", "site_supervisor", "--subject", "sup-1", env=env)
    assert out.returncode == 1 and "venue" in out.stderr and "evs1." not in out.stdout
    out = run("tokens", "issue", "--role", "operator", "--venue", "js-suzhou", "--subject",
              "op-1", "--scope", "CS-2026-0001", env=env)
    assert out.returncode == 1 and "scope" in out.stderr and "evs1." not in out.stdout


def test_operator_token_needs_a_venue(tmp_path: Path) -> None:
    out = run(
        "tokens",
        "issue",
        "--role",
        "operator",
        "--subject",
        "op-0001",
        env={
            "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
            "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a"),
        },
    )
    assert out.returncode == 1 and "venue" in out.stderr


def test_demo_seeds_a_seven_seat_cross_region_session(tmp_path: Path) -> None:
    out = run(
        "demo",
        "--seed-only",
        "--database",
        f"sqlite:///{tmp_path / 'demo.db'}",
        env={
            "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
            "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a"),
        },
    )
    assert out.returncode == 0, out.stderr
    assert "http://127.0.0.1:8080/#token=evs1." in out.stdout
    for city in ("上海", "苏州", "杭州", "合肥"):
        assert city in out.stdout
    assert "6/7" in out.stdout
    # The site supervisor (现场监督) of a secondary venue has its link too.
    site = out.stdout.split("现场监督 site supervisor (苏州) [js-suzhou]", 1)[1].split(
        "#token=", 1)[1].split()[0]
    p = verify_token(load_or_create_secret(tmp_path / "s"), site, now=0)
    assert (p.role, p.venue) == ("site_supervisor", "js-suzhou")
    sid = out.stdout.split("demo session ready: ", 1)[1].split()[0]
    for ext in ("html", "pdf"):
        assert f"http://127.0.0.1:8080/api/sessions/{sid}/report.{ext}" in out.stdout
    # The sealed session of the same tender, with the full URLs of its report.
    sealed = out.stdout.split("sealed demo session: ", 1)[1].split()[0]
    assert sealed != sid
    for ext in ("html", "pdf"):
        assert f"http://127.0.0.1:8080/api/sessions/{sealed}/report.{ext}" in out.stdout


def test_db_commands_and_a_clear_error_on_a_newer_schema(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "x.db"
    env = {
        "EVALSVC_DATABASE_URL": f"sqlite:///{db}",
        "EVALSVC_TOKEN_SECRET_FILE": str(tmp_path / "s"),
        "EVALSVC_AUDIT_KEY_FILE": str(tmp_path / "a"),
    }
    # status never creates the database it is asked about.
    status = run("db", "status", env=env)
    assert status.returncode == 1 and "数据库文件不存在" in status.stderr, status
    assert not db.exists()
    up = run("db", "upgrade", env=env)
    assert up.returncode == 0 and f"已新建，结构版本 {HEAD}" in up.stdout, up
    status = run("db", "status", env=env)
    assert status.returncode == 0 and f"结构版本 {HEAD}（最新）" in status.stdout, status
    again = run("db", "upgrade", env=env)
    assert again.returncode == 0 and "已是最新" in again.stdout
    with sqlite3.connect(db) as c:
        c.execute("UPDATE alembic_version SET version_num = '9999'")
    out = run("serve", "--port", "0", env=env)
    assert out.returncode == 1
    assert "比本版本 evalsvc" in out.stderr and "请升级 evalsvc" in out.stderr, out.stderr


def test_db_status_names_a_file_that_is_no_database(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("这不是数据库。" * 200, encoding="utf-8")
    before = junk.read_bytes()
    out = run("db", "status", "--database", f"sqlite:///{junk}")
    assert out.returncode == 1 and "不是 SQLite 数据库文件" in out.stderr, out
    assert junk.read_bytes() == before
    empty = tmp_path / "empty.db"
    empty.touch()
    out = run("db", "status", "--database", f"sqlite:///{empty}")
    assert out.returncode == 1 and "尚未建表" in out.stderr, out
