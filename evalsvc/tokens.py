"""Revoked bearer tokens: the deny list in the database and its copy in the app.

``evalsvc tokens revoke`` adds a row to ``revoked_token`` (by token id, ``jti``). Each
server instance keeps the ids in its :class:`~evalsvc.auth.TokenVerifier` and refreshes
them every ``[auth] revocation_refresh_ms`` with one indexed read of the rows added since
its last read (``id > last``): a revocation takes effect on every instance within that
period — on HTTP requests and WebSocket ``auth``, and on open WebSockets, which are
closed with ``bye token_revoked`` / 4401 (:meth:`evalsvc.sessions.hub.Hub.revoke`).
"""

from __future__ import annotations

__all__ = ["Revocations", "RevokedTokenRow", "revoke", "revoked_since"]

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Integer
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from evalsvc.auth import TokenVerifier
from evalsvc.db import Database

log = logging.getLogger(__name__)


class RevokedTokenRow(SQLModel, table=True):
    """One revoked token. ``id`` grows with each revocation: readers ask for ``id > n``."""

    __tablename__ = "revoked_token"

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    jti: str = Field(max_length=64, unique=True)
    # The token's expiry (unix s) when the token itself was given; None when revoked by
    # id alone (kept, since its expiry is unknown).
    expires_at: int | None = Field(default=None, sa_type=BigInteger)
    role: str | None = Field(default=None, max_length=16)
    subject: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=500)
    revoked_at_ms: int = Field(sa_type=BigInteger)


_T = RevokedTokenRow.__table__  # type: ignore[attr-defined]


def revoke(
    conn: Connection,
    *,
    jti: str,
    expires_at: int | None,
    role: str | None,
    subject: str | None,
    reason: str,
    now_ms: int,
) -> bool:
    """Put ``jti`` on the deny list; False if it was there already."""
    if conn.execute(sa.select(_T.c.id).where(_T.c.jti == jti)).first() is not None:
        return False
    conn.execute(
        sa.insert(_T).values(
            jti=jti,
            expires_at=expires_at,
            role=role,
            subject=subject,
            reason=reason,
            revoked_at_ms=now_ms,
        )
    )
    return True


def revoked_since(conn: Connection, after_id: int) -> list[tuple[int, str, int | None]]:
    """``(id, jti, expires_at)`` of the revocations after ``after_id``, in order."""
    rows = conn.execute(
        sa.select(_T.c.id, _T.c.jti, _T.c.expires_at).where(_T.c.id > after_id).order_by(_T.c.id)
    ).all()
    return [(int(r[0]), str(r[1]), None if r[2] is None else int(r[2])) for r in rows]


@dataclass
class Revocations:
    """Keeps an app's :class:`TokenVerifier` in step with the deny list.

    ``on_revoked`` gets the ids new to this instance (the hub closes their sockets).
    """

    db: Database
    verifier: TokenVerifier
    refresh_s: float
    on_revoked: Callable[[set[str]], None] | None = None
    last_id: int = 0

    async def refresh(self) -> set[str]:
        """Read the revocations added since the last read; returns the new ids."""
        after = self.last_id
        rows = await self.db.read(lambda c: revoked_since(c, after))
        if not rows:
            return set()
        self.last_id = rows[-1][0]
        self.verifier.prune(int(time.time()))
        new = self.verifier.revoke((jti, exp) for _, jti, exp in rows)
        if new and self.on_revoked is not None:
            self.on_revoked(new)
        return new

    async def run(self) -> None:
        """Refresh every ``refresh_s`` until cancelled (the app's cleanup)."""
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away: keep the ids known so far and try again.
                log.exception("reading the token deny list failed")
