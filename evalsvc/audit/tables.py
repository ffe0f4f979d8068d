"""Tables of the audit log, on ``SQLModel.metadata`` so the app's ``create_all`` makes them.

Layout (one Merkle tree per session; leaf index = event seq - 1):

- ``audit_leaf(session_id, idx, data)``: the leaf bytes (RFC 8785 canonical JSON of an event).
- ``audit_node(session_id, level, idx, hash)``: the hash of every *complete* subtree —
  level 0 is the leaf hash (RFC 6962 §2.1 ``SHA-256(0x00 || data)``), level ``l`` node
  ``i`` covers leaves ``[i * 2**l, (i + 1) * 2**l)``. A node is written by the append that
  completes it, so any root or proof needs O(log n) rows.
- ``audit_checkpoint(session_id, size, root, note)``: the log-signed C2SP checkpoint.
- ``audit_cosignature(session_id, size, witness, timestamp, line)``: one witness's
  C2SP cosignature/v1 line over that checkpoint.

All four are append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL). They are created with the tables (DDL events below) and can be
(re)installed with :func:`install_triggers`.
"""

from __future__ import annotations

__all__ = [
    "APPEND_ONLY_TABLES",
    "audit_checkpoint",
    "audit_cosignature",
    "audit_leaf",
    "audit_node",
    "install_triggers",
]

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    event,
    text,
)
from sqlmodel import SQLModel

_METADATA = SQLModel.metadata

audit_leaf = Table(
    "audit_leaf",
    _METADATA,
    Column("session_id", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

audit_node = Table(
    "audit_node",
    _METADATA,
    Column("session_id", String(64), primary_key=True),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

audit_checkpoint = Table(
    "audit_checkpoint",
    _METADATA,
    Column("session_id", String(64), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
)

audit_cosignature = Table(
    "audit_cosignature",
    _METADATA,
    Column("session_id", String(64), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(255), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
)

APPEND_ONLY_TABLES: tuple[Table, ...] = (
    audit_leaf,
    audit_node,
    audit_checkpoint,
    audit_cosignature,
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit log table % is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$
"""


def _trigger_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            _PG_FUNCTION,
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
        ]
    raise NotImplementedError(f"append-only triggers for {dialect} are not written")


def install_triggers(conn: Connection) -> None:
    """Create (idempotently) the triggers that make the audit tables append-only.

    Call after ``SQLModel.metadata.create_all`` on an existing database; new tables
    get them automatically through the ``after_create`` DDL events.
    """
    for table in APPEND_ONLY_TABLES:
        for ddl in _trigger_ddl(conn.dialect.name, table.name):
            conn.execute(text(ddl))


def _after_create(target: Table, connection: Connection, **_: Any) -> None:
    for ddl in _trigger_ddl(connection.dialect.name, target.name):
        connection.execute(text(ddl))


for _table in APPEND_ONLY_TABLES:
    event.listen(_table, "after_create", _after_create)
