"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Say here what changes and why, and what happens to the rows already stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | None = ${repr(branch_labels)}
depends_on: str | None = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade the schema by this revision (inside the upgrade's one transaction).

    Spell out the tables and columns as they are at this revision: never import
    today's table classes, which will have moved on when an old database runs this.
    """
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Not supported: restore the backup taken before ``evalsvc db upgrade``."""
    raise NotImplementedError("evalsvc does not downgrade: restore the backup")
