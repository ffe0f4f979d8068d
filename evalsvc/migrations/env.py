"""Alembic's environment: run the revisions on the connection evalsvc hands over.

Only the online mode is supported, on the connection in ``config.attributes
["connection"]`` (:func:`evalsvc.schema.upgrade_schema` opens it inside one transaction),
so an upgrade commits whole or not at all. SQLite cannot alter most constraints:
``render_as_batch`` makes ``op.batch_alter_table`` copy-and-move tables there.
"""

from __future__ import annotations

from alembic import context

from evalsvc.schema import METADATA

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise SystemExit("evalsvc: run migrations with `evalsvc db upgrade`, not alembic itself")
context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
