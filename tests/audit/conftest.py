"""Database fixtures for the audit tests: a SQLite file, and PostgreSQL when reachable.

PostgreSQL: 127.0.0.1:5432, trust auth, database ``test``, user ``postgres`` or ``root``
(override with ``EVALSVC_TEST_PG_URL``). Each test gets its own schema, dropped after.
Unreachable → skip, except when ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

import evalsvc.audit.tables

_PG_URLS = (
    [os.environ["EVALSVC_TEST_PG_URL"]]
    if os.environ.get("EVALSVC_TEST_PG_URL")
    else [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://root@127.0.0.1:5432/test",
    ]
)


def _pg_url() -> str:
    errors = []
    for url in _PG_URLS:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url
        except Exception as exc:  # any driver/connection error means "unreachable"
            errors.append(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            eng.dispose()
    reason = "PostgreSQL unreachable: " + "; ".join(errors)
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: PostgreSQL tests must run)")
    pytest.skip(reason)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    SQLModel.metadata.create_all(eng, tables=list(evalsvc.audit.tables.APPEND_ONLY_TABLES))
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    url = _pg_url()
    schema = "audit_t_" + uuid.uuid4().hex[:12]
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = create_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        SQLModel.metadata.create_all(eng, tables=list(evalsvc.audit.tables.APPEND_ONLY_TABLES))
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    eng: Engine = request.getfixturevalue(name)
    return eng


# --- A real log on a SQLite file, exported as a bundle ------------------------------------

ORIGIN = "evalsvc.example/s-0042"
SESSION = "s-0042"


class AuditFixture:
    """A session log written through the real store, with its keys and an export."""

    def __init__(self, tmp_path: Path) -> None:
        from evalsvc.audit.bundle import Policy
        from evalsvc.audit.note import generate_key

        self.db = tmp_path / "evalsvc.db"
        self.url = f"sqlite:///{self.db}"
        self.engine = create_engine(self.url)
        SQLModel.metadata.create_all(
            self.engine, tables=list(evalsvc.audit.tables.APPEND_ONLY_TABLES)
        )
        self.log_skey, self.log_vkey = generate_key(ORIGIN, seed=b"L" * 32)
        self.witnesses = [
            generate_key("venue.nanjing.example", seed=b"N" * 32),
            generate_key("venue.hangzhou.example", seed=b"H" * 32),
        ]
        self.policy = Policy(ORIGIN, self.log_vkey, tuple(v for _, v in self.witnesses), 2)
        self.bundle = tmp_path / "bundle"

    def entry(self, i: int) -> bytes:
        from evalsvc.canonical import canonical_bytes

        return canonical_bytes(
            {"session": SESSION, "seq": i + 1, "venue": "sh", "action": "score", "payload": {}}
        )

    def append(self, start: int, end: int) -> None:
        from evalsvc.audit.log import append_leaf

        with self.engine.begin() as conn:
            for i in range(start, end):
                append_leaf(conn, session_id=SESSION, index=i, data=self.entry(i))

    def checkpoint(self, *, cosign_by: int = 2, timestamp: int = 1_790_000_000) -> str:
        from evalsvc.audit.log import add_cosignature, sign_checkpoint
        from evalsvc.audit.note import cosign_checkpoint, parse_checkpoint

        with self.engine.begin() as conn:
            note = sign_checkpoint(conn, session_id=SESSION, origin=ORIGIN, skey=self.log_skey)
            size = parse_checkpoint(note).size
            for skey, vkey in self.witnesses[:cosign_by]:
                line = cosign_checkpoint(note, skey, timestamp=timestamp)
                add_cosignature(conn, session_id=SESSION, size=size, line=line, witness_vkey=vkey)
        return note

    def export(self, **kw: Any) -> Path:
        from evalsvc.audit.export import export_bundle

        with self.engine.connect() as conn:
            export_bundle(conn, SESSION, self.bundle, policy=self.policy, **kw)
        return self.bundle


@pytest.fixture
def audit_log(tmp_path: Path) -> Iterator[AuditFixture]:
    """13 entries; checkpoints at 5 (log only), 10 and 13 (both witnesses)."""
    fx = AuditFixture(tmp_path)
    fx.append(0, 5)
    fx.checkpoint(cosign_by=0)
    fx.append(5, 10)
    fx.checkpoint()
    fx.append(10, 13)
    fx.checkpoint()
    yield fx
    fx.engine.dispose()
