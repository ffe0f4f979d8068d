"""The primary's side of witnessing: ask each secondary venue to cosign checkpoints,
store the cosignatures, and hold milestones until a quorum has cosigned.

Each secondary venue is a C2SP tlog-witness (``evalsvc/audit/witness.py`` on the venue's
side, served by its agent). For a session's latest **milestone** checkpoint this module
sends each venue of the session an ``add-checkpoint`` request — the checkpoint, the size
that venue last cosigned and the RFC 6962 consistency proof from there — over a
:class:`Transport` (the venue link; see :class:`evalsvc.sessions.hub.Hub`), verifies the
returned cosignature line against the venue's configured key and stores it
(:func:`evalsvc.audit.log.add_cosignature`). A 409 answer carries the size the venue
holds: the request is rebuilt from there once. A 403/404/422 answer is kept as the
venue's last error — with both checkpoints when it says the log forked — and retried
later; nothing the venue says can change the log.

:meth:`WitnessCollector.shortfall` is the gate the unit of work reads (extra "quorum") before a
state-advancing command: it names the venues still missing, so a venue that is down
delays the milestone and says so.
"""

from __future__ import annotations

__all__ = ["Transport", "WitnessCollector", "WitnessStatus", "milestone_of"]

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Connection

from evalsvc.audit import log
from evalsvc.audit.note import cosignature_vkey, split_note
from evalsvc.audit.tables import audit_checkpoint
from evalsvc.audit.witness import format_add_checkpoint
from evalsvc.db import Database
from evalsvc.errors import EvalsvcError

_log = logging.getLogger(__name__)

# A milestone checkpoint carries this extension line (C2SP tlog-checkpoint allows
# extension lines after the root), so offline verifiers can tell milestones apart.
MILESTONE_PREFIX = "evalsvc-milestone "

# (venue id, add-checkpoint request body) → (HTTP-like status, body, content type)
Transport = Callable[[str, str, str], Awaitable[tuple[int, str, str]]]


def milestone_of(note: str) -> str | None:
    """The milestone kind named in a checkpoint's extension line, if any."""
    text = split_note(note)[0]
    for line in text.split("\n")[3:]:
        if line.startswith(MILESTONE_PREFIX):
            return line[len(MILESTONE_PREFIX) :]
    return None


@dataclass
class WitnessStatus:
    """What the primary knows of one venue's witnessing of one session."""

    venue_id: str
    cosigned_size: int = 0
    last_error: str | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)


class WitnessCollector:
    """Collects venue cosignatures for milestone checkpoints and enforces the quorum."""

    def __init__(
        self,
        db: Database,
        *,
        witness_keys: Mapping[str, str],
        quorum: int = 0,
        transport: Transport | None = None,
    ) -> None:
        # venue id → the witness's cosignature/v1 verifier key (type 0x04)
        self.keys = {v: cosignature_vkey(k) for v, k in witness_keys.items()}
        self.quorum = quorum  # 0: every witnessing venue of the session
        self.db = db
        self.transport = transport
        self.status: dict[tuple[str, str], WitnessStatus] = {}

    def witnesses_for(self, venue_ids: Sequence[str]) -> list[str]:
        """The venues of a session (secondary ones, in order) that have a witness key."""
        return [v for v in venue_ids if v in self.keys]

    def needed(self, witnesses: Sequence[str]) -> int:
        """How many cosignatures a milestone needs from these witnesses."""
        return len(witnesses) if self.quorum <= 0 else min(self.quorum, len(witnesses))

    @staticmethod
    def _name(vkey: str) -> str:
        return vkey.split("+", 1)[0]

    def shortfall(self, conn: Connection, session_id: str, venue_ids: Sequence[str]) -> str | None:
        """In the caller's transaction: why the latest milestone checkpoint lacks its
        quorum of venue cosignatures (None: it has them, or none is needed)."""
        witnesses = self.witnesses_for(venue_ids)
        need = self.needed(witnesses)
        if need == 0:
            return None
        size = latest_milestone(conn, session_id)
        if size is None:
            return None
        have = set(log.cosigners(conn, session_id, size))
        missing = [v for v in witnesses if self._name(self.keys[v]) not in have]
        if len(witnesses) - len(missing) >= need:
            return None
        reasons = []
        for v in missing:
            st = self.status.get((session_id, v))
            reasons.append(f"{v} ({st.last_error})" if st and st.last_error else v)
        return (
            f"the milestone checkpoint of size {size} has "
            f"{len(witnesses) - len(missing)} of the {need} venue cosignatures it needs; "
            f"waiting for {', '.join(reasons)}"
        )

    async def collect(self, session_id: str, venue_ids: Sequence[str]) -> int:
        """Ask every witnessing venue still missing to cosign the latest milestone;
        returns the number of cosignatures now stored for it."""
        witnesses = self.witnesses_for(venue_ids)
        if not witnesses or self.transport is None:
            return 0

        def load(conn: Connection) -> tuple[int | None, list[str]]:
            size = latest_milestone(conn, session_id)
            return size, (log.cosigners(conn, session_id, size) if size else [])

        size, have = await self.db.read(load)
        if size is None:
            return 0
        for venue in witnesses:
            if self._name(self.keys[venue]) in have:
                continue
            await self._ask(session_id, venue, size)
        return len(await self.db.read(lambda c: log.cosigners(c, session_id, size)))

    async def _ask(self, session_id: str, venue: str, size: int) -> None:
        assert self.transport is not None
        st = self.status.setdefault((session_id, venue), WitnessStatus(venue))
        old = st.cosigned_size
        for _attempt in range(2):
            old_size = old

            def request(conn: Connection, old_size: int = old_size) -> str:
                c = audit_checkpoint.c
                note = conn.execute(
                    select(c.note).where(c.session_id == session_id, c.size == size)
                ).scalar_one()
                proof = (
                    log.consistency_proof_from_store(conn, session_id, old_size, size)
                    if 0 < old_size < size
                    else []
                )
                # The log-signed checkpoint; witnesses need no other venue's cosignature.
                return format_add_checkpoint(old_size, proof, str(note))

            body = await self.db.read(request)
            try:
                status, text, ctype = await self.transport(venue, session_id, body)
            except (EvalsvcError, OSError, TimeoutError) as exc:
                st.last_error = f"unreachable: {exc}"
                return
            if status == 200:
                try:
                    line, vkey = text.strip("\n"), self.keys[venue]

                    def store(c: Connection, line: str = line, vkey: str = vkey) -> int:
                        return log.add_cosignature(
                            c, session_id=session_id, size=size, line=line, witness_vkey=vkey
                        )

                    await self.db.write(store)
                except EvalsvcError as exc:
                    st.last_error = f"sent an invalid cosignature: {exc.message}"
                    return
                st.cosigned_size, st.last_error = size, None
                return
            if status == 409 and "tlog.size" in ctype and text.strip().isdigit():
                old = int(text.strip())  # C2SP tlog-witness: retry from the size it holds
                st.cosigned_size = old
                continue
            st.last_error = f"refused with {status}: {text.strip()[:200]}"
            if status in (409, 422):
                _log.error("venue %s refused checkpoint %d of %s: %s", venue, size, session_id,
                           text.strip())
            return


def latest_milestone(conn: Connection, session_id: str) -> int | None:
    """Size of the session's latest milestone checkpoint (one with the extension line)."""
    c = audit_checkpoint.c
    size = conn.execute(
        select(c.size)
        .where(c.session_id == session_id, c.note.like(f"%\n{MILESTONE_PREFIX}%"))
        .order_by(c.size.desc())
        .limit(1)
    ).scalar()
    return int(size) if size is not None else None
