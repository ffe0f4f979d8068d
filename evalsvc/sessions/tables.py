"""SQLModel tables of the session store.

The session aggregate is kept as one canonical JSON document (``SessionRow.doc``) beside
the columns we query by; its history is the ``event`` table, one row per change with a
per-session sequence number (primary key ``(session_id, seq)``, so a duplicate or a
reused number cannot be written). Score sheets are versioned rows: a resubmission adds
a version and never overwrites the earlier one.
"""

from __future__ import annotations

__all__ = ["EventRow", "IdempotencyRow", "SessionRow", "SheetRow"]

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


class SessionRow(SQLModel, table=True):
    __tablename__ = "session"

    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=200)
    primary_venue: str = Field(max_length=32, index=True)
    state: str = Field(max_length=20)
    last_seq: int = 0
    doc: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_type=BigInteger)  # unix ms
    updated_at: int = Field(sa_type=BigInteger)  # unix ms


class EventRow(SQLModel, table=True):
    __tablename__ = "event"

    session_id: str = Field(primary_key=True, foreign_key="session.id", max_length=40)
    seq: int = Field(primary_key=True)
    type: str = Field(max_length=40)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=100)  # "role:subject"
    venue: str | None = Field(default=None, max_length=32)
    time_ms: int = Field(sa_type=BigInteger)  # unix ms


class SheetRow(SQLModel, table=True):
    __tablename__ = "score_sheet"
    __table_args__ = (
        # One index for both jobs (revision 0004): a seat has one row per version, and
        # the newest version is read by it backwards.
        Index("ix_sheet_latest", "session_id", "stage", "seat", "version", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="session.id", max_length=40)
    seat: int
    stage: str = Field(max_length=20)
    version: int
    expert_id: str = Field(max_length=64)
    doc: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    seq: int
    submitted_ms: int = Field(sa_type=BigInteger)  # unix ms
    # Sealed sheets (docs/audit.md "Sealed score sheets"): the event carries only the
    # commitment HMAC-SHA256(salt, doc); the salt and the signature record are disclosed
    # when the stage is locked (``sheets.opened``). NULL in rows written before schema 2.
    commitment: str | None = Field(default=None, max_length=64)
    salt: str | None = Field(default=None, max_length=64)
    signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency_key"

    # A key is scoped to (actor, session, route): the same key sent to another session or
    # another route is a new request, never a replay of an answer given elsewhere.
    actor: str = Field(primary_key=True, max_length=100)
    session_id: str = Field(primary_key=True, max_length=40)
    route: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=100)
    request_sha256: str = Field(max_length=64)
    status: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_ms: int = Field(sa_type=BigInteger)  # unix ms
