"""SQLModel tables of the expert pool and of the draws.

- ``expert``: one row per pool member; ``doc`` is the full record
  (:func:`~evalsvc.experts.pool.expert_to_json`), ``view`` its draw view, the columns
  are what is counted or looked up. An import replaces the rows of the ids it carries,
  all in one transaction.
- ``pool_snapshot``: the draw views a ceremony drew from, archived under their digest
  when the ceremony opens (``docs/draw.md`` §4.1), so the draw verifies later even after
  the pool has changed.
- ``draw_state``: the draw of one session (:class:`~evalsvc.experts.drawstate.DrawState`
  as JSON) and the next moment the scheduler must look at it (``next_deadline_ms``,
  indexed: on start-up every due or pending draw is found with one query).
- ``invitation``: the invitations of the book, one row per (session, seat, rank), so an
  expert's invitations are found without reading every draw.
"""

from __future__ import annotations

__all__ = ["DrawStateRow", "ExpertRow", "InvitationRow", "PoolCommitmentRow", "PoolSnapshotRow"]

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel


class ExpertRow(SQLModel, table=True):
    __tablename__ = "expert"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    resident_id: str = Field(max_length=18)
    region: str = Field(max_length=2, index=True)
    status: str = Field(max_length=16, index=True)
    doc: str = Field(sa_column=Column(Text, nullable=False))
    # The draw view (pool.draw_view, canonical JSON): what a ceremony snapshots, read
    # without rebuilding 100,000 full records. NULL for rows written by other means:
    # the view is then derived from ``doc``.
    view: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    imported_ms: int = Field(sa_type=BigInteger)  # unix ms


class PoolSnapshotRow(SQLModel, table=True):
    __tablename__ = "pool_snapshot"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    doc: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON array of views
    created_ms: int = Field(sa_type=BigInteger)  # unix ms


class DrawStateRow(SQLModel, table=True):
    __tablename__ = "draw_state"

    session_id: str = Field(primary_key=True, foreign_key="session.id", max_length=40)
    doc: str = Field(sa_column=Column(Text, nullable=False))
    next_deadline_ms: int | None = Field(default=None, sa_type=BigInteger, index=True)
    updated_ms: int = Field(sa_type=BigInteger)  # unix ms


class InvitationRow(SQLModel, table=True):
    __tablename__ = "invitation"

    session_id: str = Field(primary_key=True, foreign_key="session.id", max_length=40)
    seat: int = Field(primary_key=True)  # the session's seat index
    rank: int = Field(primary_key=True)
    expert_id: str = Field(max_length=64, index=True)
    venue_id: str = Field(max_length=32)
    status: str = Field(max_length=16)
    deadline_ms: int = Field(sa_type=BigInteger)  # unix ms


class PoolCommitmentRow(SQLModel, table=True):
    """The openings of one draw view's masked fields (docs/audit.md "Masked personal
    data"): ``doc`` = ``{field: [salt hex, value]}``, each commitment SHA-256(salt ‖ RFC
    8785 bytes of [field, value]); keyed by the SHA-256 of the canonical ``masked``
    object of the view. Never exported: the primary opens one field to a supervisor
    (``evalsvc audit open-pool``)."""

    __tablename__ = "pool_commitment"

    masked_sha256: str = Field(primary_key=True, max_length=64)
    expert_id: str = Field(max_length=64, index=True)
    doc: str = Field(sa_column=Column(Text, nullable=False))
    created_ms: int = Field(sa_type=BigInteger)  # unix ms
