"""Schema 1, as evalsvc 3df28e2 created it (the base revision).

Revision ID: 0001
Revises:
Create Date: 2026-12-06

Nothing to run: a database of schema 1 carries ``evalsvc_meta.schema_version = 1`` and
no ``alembic_version``; ``evalsvc db upgrade`` stamps it with this revision and goes on
from here (tests/data/schema-v1 is such a database).
"""

from __future__ import annotations

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing: the base revision is the schema 3df28e2 created."""


def downgrade() -> None:
    """Not supported: restore the backup taken before ``evalsvc db upgrade``."""
    raise NotImplementedError("evalsvc does not downgrade: restore the backup")
