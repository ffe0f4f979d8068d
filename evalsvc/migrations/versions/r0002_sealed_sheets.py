"""Sealed score sheets, scoped idempotency keys, the bearer-token deny list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Schema 1 (3df28e2) → 2, the hand-written migration this replaces: score sheets get their
commitment, salt and signature record; idempotency keys are scoped to (actor, session,
route); ``evalsvc tokens revoke`` gets its table. Keys stored before keep their answers
under the route ``v1``: a retry of a request sent before the upgrade is a new request.
A database with ``schema_version = 2`` and no ``alembic_version`` is stamped here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the sheet columns, rebuild ``idempotency_key`` with its route, add
    ``revoked_token`` (as it was at this revision)."""
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
        op.execute(sql)
    op.create_table(
        "revoked_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Not supported: restore the backup taken before ``evalsvc db upgrade``."""
    raise NotImplementedError("evalsvc does not downgrade: restore the backup")
