"""What the server writes to disk is readable by its owner only: the SQLite database
(and its -wal/-shm), the token secret, the audit key, exported audit bundles, dev keys
— files 0600, folders it creates 0700 — whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, Harness

from evalsvc.cli import main
from evalsvc.config import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="files of the SQLite database")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


async def test_database_secrets_and_bundles_are_private(
    aiohttp_client: Any, tmp_path: Path, loose_umask: None
) -> None:
    from evalsvc.app import create_app

    var = tmp_path / "var" / "data"
    keys = tmp_path / "keys"
    settings = load_settings(
        PROJECT_ROOT / "config" / "test.toml",
        env={},
        overrides={
            "database": {"url": f"sqlite:///{var / 'evalsvc.db'}", "pool_size": 4},
            "auth": {"token_secret_file": str(keys / "token-secret")},
            "audit": {"key_file": str(keys / "audit-log.key")},
        },
    )
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    sid, _ = await api.to_stage("scoring")  # writes: the WAL and shared memory exist
    db = var / "evalsvc.db"
    for f in (db, db.with_name("evalsvc.db-wal"), db.with_name("evalsvc.db-shm")):
        assert f.exists(), f
        assert mode(f) == 0o600, (f, oct(mode(f)))
    for f in (keys / "token-secret", keys / "audit-log.key"):
        assert mode(f) == 0o600, (f, oct(mode(f)))
    for d in (var, var.parent, keys):
        assert mode(d) == 0o700, (d, oct(mode(d)))

    out = tmp_path / "exports" / "bundle"
    url = settings.database.url
    assert main(["audit", "export", sid, "--out", str(out), "--database", url]) == 0
    assert mode(out) == 0o700 and mode(out.parent) == 0o700
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(mode(p) == 0o600 for p in files), [
        (p.name, oct(mode(p))) for p in files if mode(p) != 0o600
    ]
    assert all(mode(p) == 0o700 for p in out.rglob("*") if p.is_dir())


async def test_files_left_world_readable_are_narrowed_at_start(
    aiohttp_client: Any, tmp_path: Path, loose_umask: None
) -> None:
    from evalsvc.app import create_app
    from evalsvc.keys import load_or_create_secret

    db = tmp_path / "old.db"
    secret = tmp_path / "token-secret"
    load_or_create_secret(secret)
    os.chmod(secret, 0o644)
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    settings = load_settings(
        PROJECT_ROOT / "config" / "test.toml",
        env={},
        overrides={
            "database": {"url": f"sqlite:///{db}", "pool_size": 4},
            "auth": {"token_secret_file": str(secret)},
            "audit": {"key_file": str(tmp_path / "audit-log.key")},
        },
    )
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    status, _ = await api.call("GET", "/api/me", api.sup)
    assert status == 200
    assert mode(db) == 0o600 and mode(secret) == 0o600


def test_dev_pki_private_keys_are_private(tmp_path: Path, loose_umask: None) -> None:
    out = tmp_path / "certs" / "dev"
    assert main(["certs", "dev", "--out", str(out)]) == 0
    key_files = list(out.rglob("*.key"))
    assert key_files
    assert all(mode(k) == 0o600 for k in key_files)
    assert all(mode(k.parent) == 0o700 for k in key_files)
