"""The session store: reads (:mod:`.reads`, re-exported here for readers), the three
drivers that write a transition — sequential (:mod:`.writes`, the reference), pipelined
(:mod:`.pipelined`, a PostgreSQL group) and batched (:mod:`.batched`, a SQLite group) —
and their SQL (:mod:`.sql`). Only the unit of work (:mod:`evalsvc.sessions.uow`) runs
the drivers.
"""

from __future__ import annotations

from evalsvc.sessions.store import reads
from evalsvc.sessions.store.reads import *  # noqa: F403 - the readers' API
from evalsvc.sessions.store.sql import append_keys_sql_pg

__all__ = [*reads.__all__, "append_keys_sql_pg"]
