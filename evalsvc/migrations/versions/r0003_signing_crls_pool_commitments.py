"""The CRLs a signature was checked with; the salts of the pool's masked fields.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``signing_crl`` keeps, content-addressed by SHA-256, each CRL a signature was checked
with when the server accepted it (the signature record logs the digests), so a sealed
bundle checks the chain at signing time with exactly those CRLs. ``pool_commitment``
keeps, per draw view, the salt and value behind each salted commitment it carries in
place of a masked personal field (name, resident ID, employer, title), so the primary can
open one field to a supervisor (docs/audit.md). Both are new, empty tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``signing_crl`` and ``pool_commitment`` (as they are at this revision)."""
    op.create_table(
        "signing_crl",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pool_commitment",
        sa.Column("masked_sha256", sa.String(64), primary_key=True),
        sa.Column("expert_id", sa.String(64), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pool_commitment_expert_id", "pool_commitment", ["expert_id"])


def downgrade() -> None:
    """Not supported: restore the backup taken before ``evalsvc db upgrade``."""
    raise NotImplementedError("evalsvc does not downgrade: restore the backup")
