"""Score sheets keep one index: ``ix_sheet_latest``, now unique.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

``score_sheet`` had two indexes over the same four columns: the UNIQUE constraint
``(session_id, seat, stage, version)`` and ``ix_sheet_latest (session_id, stage, seat,
version)``, the one the newest version is read by. Equality on the first three columns
in either order means the same uniqueness, so ``ix_sheet_latest`` becomes unique and the
constraint goes: every sheet written updates one index fewer (on SQLite, about 3 of the
31 pages a group commit of three sheets wrote to the WAL). SQLite cannot drop a table's
constraint, so the table is rebuilt with its rows (ids kept); PostgreSQL drops the
constraint and rebuilds the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (
    "id, session_id, seat, stage, version, expert_id, doc, sha256, seq, submitted_ms, "
    "commitment, salt, signature"
)
_UNIQUE = ["session_id", "seat", "stage", "version"]


def upgrade() -> None:
    """Drop the UNIQUE constraint of ``score_sheet``; make ``ix_sheet_latest`` unique."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for sql in (
            "CREATE TABLE score_sheet_v4 (id INTEGER NOT NULL, "
            "session_id VARCHAR(40) NOT NULL, seat INTEGER NOT NULL, "
            "stage VARCHAR(20) NOT NULL, version INTEGER NOT NULL, "
            "expert_id VARCHAR(64) NOT NULL, doc TEXT NOT NULL, sha256 VARCHAR(64) NOT NULL, "
            "seq INTEGER NOT NULL, submitted_ms BIGINT NOT NULL, commitment VARCHAR(64), "
            "salt VARCHAR(64), signature TEXT, PRIMARY KEY (id), "
            "FOREIGN KEY(session_id) REFERENCES session (id))",
            f"INSERT INTO score_sheet_v4 ({_COLUMNS}) SELECT {_COLUMNS} FROM score_sheet",
            "DROP TABLE score_sheet",  # (and its indexes)
            "ALTER TABLE score_sheet_v4 RENAME TO score_sheet",
        ):
            op.execute(sql)
    else:
        for uc in sa.inspect(bind).get_unique_constraints("score_sheet"):
            if sorted(uc["column_names"]) == sorted(_UNIQUE) and uc["name"]:
                op.drop_constraint(uc["name"], "score_sheet", type_="unique")
        op.drop_index("ix_sheet_latest", table_name="score_sheet")
    op.create_index(
        "ix_sheet_latest", "score_sheet", ["session_id", "stage", "seat", "version"], unique=True
    )


def downgrade() -> None:
    """Not supported: restore the backup taken before ``evalsvc db upgrade``."""
    raise NotImplementedError("evalsvc does not downgrade: restore the backup")
