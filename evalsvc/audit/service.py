"""The primary's audit-log service: its signing key, checkpoints, and supervisor reads.

Leaves are appended by :func:`evalsvc.sessions.store.writes.send_record` in the transaction of each
event. This service signs checkpoints (C2SP tlog-checkpoint, signed-note):

- **at every milestone**, inside the milestone's own transaction (:meth:`milestone`),
  so the draw result, a locked stage, a signed report or the seal is never committed
  without a signed checkpoint covering it;
- **every second** for sessions with leaves not yet covered (:meth:`sign_pending`, run
  by the scheduler), so any acknowledged event is checkpointed within about a second.

Signing is idempotent per size (one checkpoint per size), so two scaled instances
racing for the same size agree.
"""

from __future__ import annotations

__all__ = ["AuditService", "log_keys", "milestone_kind"]

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from evalsvc.audit import log
from evalsvc.audit.bundle import Policy, format_policy
from evalsvc.audit.leaf import open_entry, redacted_entry
from evalsvc.audit.note import generate_key
from evalsvc.audit.witnessing import MILESTONE_PREFIX
from evalsvc.auth import Principal
from evalsvc.db import Database
from evalsvc.errors import InvalidInput, NotFound

_log = logging.getLogger(__name__)


def milestone_kind(event_type: str, payload: dict[str, Any]) -> str | None:
    """The milestone an event marks — the draw done, a stage locked, a report signature
    or a confirmed deemed agreement, the seal, a masked pool field opened — or
    ``None``."""
    if event_type == "stage.locked":
        return f"{payload.get('stage')}-locked"
    if event_type == "report.signed":
        return f"report-signed-by-seat-{payload.get('seat')}"
    if event_type == "report.deemed_agreed":
        # Stands for the seat's signature (暂行规定 第43条): a milestone as a signature is.
        return f"report-deemed-agreed-seat-{payload.get('seat')}"
    if event_type == "pool.field_opened":
        # A supervisor opened personal data of the pool (docs/audit.md "Opening one
        # field"): cosigned at once, so the record of it cannot quietly be dropped.
        return "pool-field-opened"
    # A resume also changes the state back to where it was: only the real steps count.
    moved = (payload.get("from"), payload.get("to"))
    if event_type == "session.state_changed" and moved == ("drawing", "ready"):
        return "draw-done"
    if event_type == "session.state_changed" and moved == ("reporting", "sealed"):
        return "sealed"
    return None


def log_keys(master: bytes, origin: str) -> tuple[str, str]:
    """The (signer, verifier) key of one session's log, named by its origin.

    Each session's log has its own Ed25519 key whose name is the checkpoint origin, as
    C2SP tlog-checkpoint verifiers expect; its seed is HMAC-SHA256(master, origin), so
    the server keeps one secret and can re-derive every key.
    """
    seed = hmac.new(master, origin.encode("utf-8"), hashlib.sha256).digest()
    return generate_key(origin, seed=seed)


class AuditService:
    """Checkpoints and proofs of every session's log, over one database."""

    def __init__(self, db: Database, *, master: bytes, log_name: str) -> None:
        self.db = db
        self._master = master
        self.log_name = log_name
        self._dirty: set[str] = set()
        # Sessions with a milestone signed since their witnesses were last asked.
        self.milestones_signed: set[str] = set()
        self._keys: dict[str, tuple[str, str]] = {}

    def origin(self, session_id: str) -> str:
        """The checkpoint origin line of a session's log (also its key's name)."""
        return f"{self.log_name}/{session_id}"

    def keys(self, session_id: str) -> tuple[str, str]:
        """(signer key, verifier key) of the session's log."""
        keys = self._keys.get(session_id)
        if keys is None:
            keys = self._keys[session_id] = log_keys(self._master, self.origin(session_id))
        return keys

    def vkey(self, session_id: str) -> str:
        """The verifier key of the session's log (Go note format)."""
        return self.keys(session_id)[1]

    # --- signing -------------------------------------------------------------------------

    def milestone(
        self,
        conn: Connection,
        session_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        size: int,
    ) -> str | None:
        """In the caller's transaction: if an event is a milestone, sign a checkpoint at
        ``size`` naming it in an extension line (C2SP tlog-checkpoint). Returns the note,
        or ``None`` when nothing was a milestone."""
        kinds = [k for t, p in events if (k := milestone_kind(t, p))]
        if not kinds:
            return None
        self.milestones_signed.add(session_id)
        return log.sign_checkpoint(
            conn,
            session_id=session_id,
            origin=self.origin(session_id),
            skey=self.keys(session_id)[0],
            size=size,
            extensions=(MILESTONE_PREFIX + kinds[-1],),
        )

    def mark_dirty(self, session_id: str) -> None:
        """Note that ``session_id`` has new leaves (called after commit)."""
        self._dirty.add(session_id)

    async def sign_pending(self) -> int:
        """Sign a checkpoint for every session with uncovered leaves; returns how many."""
        pending, self._dirty = self._dirty, set()
        if not pending:
            return 0

        def tx(conn: Connection) -> int:
            # Every pending session in a few statements: with many sessions scoring at
            # once this ran five statements a session, every interval.
            sizes = log.unsigned_sizes(conn, sorted(pending))
            return log.sign_checkpoints(
                conn,
                [(sid, self.origin(sid), self.keys(sid)[0], size) for sid, size in sizes.items()],
            )

        try:
            return await self.db.write(tx)
        except IntegrityError:
            # Another instance signed the same size first: that checkpoint stands.
            return 0

    async def catch_up(self) -> None:
        """On start: mark every session whose log outruns its latest checkpoint."""

        def tx(conn: Connection) -> list[str]:
            rows = conn.exec_driver_sql(
                "SELECT s.id FROM session s WHERE s.last_seq > COALESCE("
                "(SELECT MAX(c.size) FROM audit_checkpoint c WHERE c.session_id = s.id), 0)"
            )
            return [str(r[0]) for r in rows]

        for sid in await self.db.read(tx):
            self._dirty.add(sid)

    # --- supervisor reads ----------------------------------------------------------------

    async def checkpoint(self, session_id: str, size: int | None = None) -> str:
        """The latest (or the given size's) checkpoint with its cosignatures."""
        note = await self.db.read(lambda c: log.checkpoint_note(c, session_id, size))
        if note is None:
            what = "yet" if size is None else f"of size {size}"
            raise NotFound(f"session {session_id} has no signed checkpoint {what}")
        return note

    async def entry_proof(self, session_id: str, index: int) -> tuple[bytes, str]:
        """Entry ``index`` (its leaf bytes) and its C2SP tlog-proof text."""

        def tx(conn: Connection) -> tuple[bytes, str]:
            leaves = list(log.read_leaves(conn, session_id, index, index + 1))
            if not leaves:
                raise NotFound(f"session {session_id} has no audit entry {index}")
            return leaves[0][1], log.tlog_proof_from_store(conn, session_id, index)

        return await self.db.read(tx)

    async def consistency(self, session_id: str, old: int, new: int) -> list[str]:
        """Base64 hashes of the consistency proof between two sizes (RFC 6962 §2.1.2)."""
        if not 0 < old <= new:
            raise InvalidInput("need 0 < old <= new", field="old")

        def tx(conn: Connection) -> list[bytes]:
            size = log.log_size(conn, session_id)
            if new > size:
                raise NotFound(f"the log of session {session_id} has only {size} entries")
            return log.consistency_proof_from_store(conn, session_id, old, new)

        return [base64.b64encode(h).decode("ascii") for h in await self.db.read(tx)]

    async def venue_view(
        self, p: Principal, session_id: str, *, start: int, size: int | None, limit: int
    ) -> dict[str, Any]:
        """The log as ``p`` may see it (docs/audit.md "Venue views"): entries
        ``[start, size)`` (at most ``limit``; ``size``: the checkpoint of that size, default
        the latest) each redacted as ``p`` is shown its event — a field is disclosed with
        its salt only when ``p`` is shown exactly its value, otherwise left as its digest —
        with the checkpoint and its cosignatures."""
        from evalsvc.sessions import store
        from evalsvc.sessions.access import redact_event, require_visible

        def tx(conn: Connection) -> tuple[Any, str | None, list[tuple[int, bytes]]]:
            s, _ = store.load_session(conn, session_id)
            require_visible(s, p)
            note = log.checkpoint_note(conn, session_id, size)
            if note is None:
                return s, None, []
            end = min(int(note.split("\n", 2)[1]), start + limit)
            return s, note, list(log.read_leaves(conn, session_id, start, end))

        s, note, rows = await self.db.read(tx)
        if note is None:
            what = "yet" if size is None else f"of size {size}"
            raise NotFound(f"session {session_id} has no signed checkpoint {what}")
        entries = []
        for _, raw in rows:
            d = open_entry(raw)
            shown = redact_event(s, p, {"session_id": d.session, "seq": d.seq, "type": d.action,
                                        "payload": d.payload, "actor": d.actor,
                                        "venue": d.venue, "time_ms": d.time_ms})
            entries.append(redacted_entry(raw, shown).decode("utf-8"))
        return {"origin": self.origin(session_id), "log_vkey": self.vkey(session_id),
                "checkpoint": note, "start": start, "entries": entries}

    def policy(self, session_id: str, *, witnesses: Sequence[str] = (), quorum: int = 0) -> str:
        """A verification policy file for this session's log (see docs/audit.md)."""
        return format_policy(
            Policy(self.origin(session_id), self.vkey(session_id), tuple(witnesses), quorum)
        )
