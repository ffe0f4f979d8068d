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
