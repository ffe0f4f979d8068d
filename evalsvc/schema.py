"""Every table of evalsvc on one metadata: what the schema is created from.

The database adapter (:mod:`evalsvc.db`) knows no feature's tables; the app and the
commands pass :data:`METADATA` to :func:`~evalsvc.db.ensure_schema` and
:func:`~evalsvc.db.upgrade_schema`.
"""

from __future__ import annotations

__all__ = ["METADATA", "MIGRATIONS"]

from collections.abc import Callable

from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

# Imported for their side effect: each declares its tables on SQLModel.metadata.
import evalsvc.audit.tables
import evalsvc.experts.tables
import evalsvc.pki.tables
import evalsvc.sessions.tables
import evalsvc.tokens

METADATA = SQLModel.metadata


def _v1_to_v2(conn: Connection) -> None:
    """Schema 1 (3df28e2) → 2: sealed score sheets (their commitment, salt and signature
    record), idempotency keys scoped to (actor, session, route), and the bearer-token
    deny list (``evalsvc tokens revoke``). Keys stored before keep their answers under
    the route ``v1``: a retry of a request sent before the upgrade is a new request."""
    for sql in (
        "ALTER TABLE score_sheet ADD COLUMN commitment VARCHAR(64)",
        "ALTER TABLE score_sheet ADD COLUMN salt VARCHAR(64)",
        "ALTER TABLE score_sheet ADD COLUMN signature TEXT",
        "CREATE TABLE idempotency_key_v2 (actor VARCHAR(100) NOT NULL, "
        "session_id VARCHAR(40) NOT NULL, route VARCHAR(20) NOT NULL, key VARCHAR(100) NOT NULL, "
        "request_sha256 VARCHAR(64) NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL, "
        "created_ms BIGINT NOT NULL, PRIMARY KEY (actor, session_id, route, key))",
        "INSERT INTO idempotency_key_v2 SELECT actor, session_id, 'v1', key, request_sha256, "
        "status, response, created_ms FROM idempotency_key",
        "DROP TABLE idempotency_key",
        "ALTER TABLE idempotency_key_v2 RENAME TO idempotency_key",
    ):
        conn.exec_driver_sql(sql)
    evalsvc.tokens.create_table(conn)


# from-version → function upgrading the schema by one version (evalsvc.db.upgrade_schema).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}
