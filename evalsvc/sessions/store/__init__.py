"""The session store: reads (:mod:`.reads`), the two drivers that write a transition —
sequential (:mod:`.writes`, the reference) and pipelined (:mod:`.pipelined`, PostgreSQL)
— and their SQL (:mod:`.sql`). Only the unit of work (:mod:`evalsvc.sessions.uow`)
runs the drivers; readers use the functions below.
"""

from __future__ import annotations

__all__ = [
    "SessionDocs",
    "StoredEvent",
    "append_keys_sql_pg",
    "find_idempotent",
    "latest_sheets",
    "list_events",
    "list_sessions",
    "load_session",
    "own_sheets",
    "record",
    "sheet_progress",
]

from evalsvc.sessions.store.reads import (
    SessionDocs,
    StoredEvent,
    find_idempotent,
    latest_sheets,
    list_events,
    list_sessions,
    load_session,
    own_sheets,
    sheet_progress,
)
from evalsvc.sessions.store.sql import append_keys_sql_pg
from evalsvc.sessions.store.writes import record
