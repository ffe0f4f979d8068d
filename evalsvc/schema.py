"""Every table of evalsvc on one metadata: what the schema is created from.

The database adapter (:mod:`evalsvc.db`) knows no feature's tables; the app and the
commands pass :data:`METADATA` to :func:`~evalsvc.db.ensure_schema` and
:func:`~evalsvc.db.upgrade_schema`.
"""

from __future__ import annotations

__all__ = ["METADATA"]

from sqlmodel import SQLModel

# Imported for their side effect: each declares its tables on SQLModel.metadata.
import evalsvc.audit.tables
import evalsvc.experts.tables
import evalsvc.pki.tables
import evalsvc.sessions.tables  # noqa: F401

METADATA = SQLModel.metadata
