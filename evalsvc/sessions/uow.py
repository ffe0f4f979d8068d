"""The unit of work: the one road every change of a session takes.

``await uow.commit(transition)``:

1. on the database's writer thread, in one transaction, a store driver locks the
   session row, reads what the transition needs (:class:`~.transitions.Needs`), calls
   :func:`~.transitions.decide` on that snapshot, and writes the change — the session,
   its events with their audit leaves (:mod:`evalsvc.audit.leaf`), the score sheet, the
   extras, the idempotency record, and a signed checkpoint when an event is a milestone;
2. after COMMIT returned, and only then, the stored events are published to the bus
   (the WebSocket hub and, on PostgreSQL, the other instances) and the audit service is
   told the log grew.

The sequential driver (:mod:`.store.writes`) is the reference; a transition that says
it may (``Needs.batch``: score sheets) goes through the driver that gives the same rows
for a group with less work: on PostgreSQL the pipelined one (:mod:`.store.pipelined`,
fewer round trips), on SQLite the batched one (:mod:`.store.batched`, fewer statements).
The sessions, draw and certificate services all write through here.
"""

from __future__ import annotations

__all__ = ["Outcome", "UnitOfWork"]

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from evalsvc.db import Database
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.store.batched import Batched
from evalsvc.sessions.store.batched import available as batches_available
from evalsvc.sessions.store.pipelined import Pipelined
from evalsvc.sessions.store.reads import Frontiers, SessionDocs, StoredEvent
from evalsvc.sessions.store.writes import Extra, Wiring, execute
from evalsvc.sessions.transitions import Change, Result, Transition

# In the transaction of a change: sign a checkpoint if an event is a milestone
# (evalsvc.audit.service.AuditService.milestone: conn, session, (type, payload)s, size).
Milestone = Callable[[Connection, str, Sequence[tuple[str, dict[str, Any]]], int], object]


@dataclass(frozen=True)
class Outcome:
    """A committed transition: the response, the events stored, the change written
    (None for a replay)."""

    result: Result
    events: list[StoredEvent]
    change: Change | None

    @property
    def last_seq(self) -> int | None:
        return self.events[-1].seq if self.events else None


class UnitOfWork:
    """Runs transitions on one database and publishes what they committed."""

    def __init__(
        self,
        db: Database,
        *,
        bus: LocalBus,
        clock_ms: Callable[[], int],
        milestone: Milestone | None = None,
        grown: Callable[[str], None] | None = None,
        pipelined: bool = True,
        field_salt: Callable[[], bytes] | None = None,
    ) -> None:
        self.db = db
        # The audit leaves' field salts (docs/audit.md "Leaves"); None: fresh CSPRNG
        # output (tests pass a fixed sequence to compare two runs byte for byte).
        self.field_salt = field_salt
        self.bus = bus
        self.clock_ms = clock_ms
        self.milestone = milestone
        self.grown = grown  # after COMMIT: a session's log has new leaves
        # Batchable transitions go through the pipelined driver (PostgreSQL) or the
        # batched one (SQLite); False: the sequential one, the reference —
        # tests/sessions/test_drivers.py compares them.
        self.pipelined = pipelined and not db.sqlite
        self.batched = pipelined and db.sqlite and batches_available()
        self.docs = SessionDocs()
        self.frontiers = Frontiers()
        self._extras: dict[str, Extra] = {}
        self._wiring = self._wire()

    def register(self, name: str, extra: Extra) -> None:
        """Let transitions read (and write) the extra ``name`` with the session; an
        extra nobody registered reads as None."""
        self._extras[name] = extra
        self._wiring = self._wire()

    def _wire(self) -> Wiring:
        sign = self.milestone
        if sign is None:
            return Wiring(self.docs, dict(self._extras), field_salt=self.field_salt,
                          frontiers=self.frontiers)

        def milestone(conn: Connection, session_id: str, stored: Sequence[StoredEvent]) -> None:
            # A milestone commits together with the checkpoint that covers it.
            sign(conn, session_id, [(e.type, e.payload) for e in stored], stored[-1].seq)

        return Wiring(self.docs, dict(self._extras), milestone, self.field_salt, self.frontiers)

    async def commit(self, t: Transition) -> Outcome:
        """Run ``t`` in one transaction; publish its events once committed."""
        now_ms = self.clock_ms()
        w = self._wiring
        fn: Callable[[Connection], tuple[Result, list[StoredEvent], Change | None]]
        if t.needs.batch and self.pipelined:
            fn = Pipelined(t, w, now_ms)
        elif t.needs.batch and self.batched:
            fn = Batched(t, w, now_ms)
        else:
            fn = functools.partial(execute, t=t, w=w, now_ms=now_ms)
        result, stored, change = await self.db.write(fn, key=t.session_id)
        self.publish(t.session_id, stored)
        return Outcome(result, stored, change)

    def publish(self, session_id: str, stored: list[StoredEvent]) -> None:
        """After COMMIT: tell the audit service and every listener (the committed events
        ride along so the hub can fan out without reading them again)."""
        if stored:
            if self.grown is not None:
                self.grown(session_id)
            self.bus.publish(session_id, stored[-1].seq, stored)
