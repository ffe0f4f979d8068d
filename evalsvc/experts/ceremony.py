"""The seed ceremony as a small state machine the session service drives. Pure: ``now`` in.

``open_ceremony`` → ``commit`` per party → (after the commitment deadline) ``reveal`` per
party → ``close`` gives the :class:`~evalsvc.experts.seed.SeedResult`. Each step returns
the new state and the record to store as an event (``docs/draw.md`` §4.1); refusals are
typed errors for the API (:class:`Conflict` for the wrong time or a repeat,
:class:`InvalidInput` for a malformed value, :class:`Forbidden` for a party that is not
in the ceremony). :func:`combine_seed` stays the authority: ``close`` calls it with the
recorded submissions, so a state rebuilt from events gives the same seed.
"""

from __future__ import annotations

__all__ = ["CeremonyState", "close", "commit", "is_ready", "missing", "open_ceremony",
           "reveal"]

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evalsvc.errors import Conflict, Forbidden, InvalidInput
from evalsvc.experts.seed import (
    SECRET_MIN_BYTES,
    Commitment,
    Reveal,
    SeedResult,
    combine_seed,
    verify_reveal,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CeremonyState:
    """Who takes part, the deadlines, and what has been received so far."""

    session_id: str
    parties: tuple[str, ...]
    commit_deadline: _dt.datetime
    reveal_deadline: _dt.datetime
    minimum: int = 2
    commitments: tuple[Commitment, ...] = ()
    reveals: tuple[Reveal, ...] = ()
    # The party that reveals last (the supervisor in a session's draw): its reveal is
    # refused until every other party has revealed, so nobody who could still withhold
    # knows the seed (docs/draw.md §1.1).
    last: str | None = None

    def commitment_of(self, party: str) -> Commitment | None:
        """The commitment received from ``party``, if any."""
        return next((c for c in self.commitments if c.party == party), None)

    def reveal_of(self, party: str) -> Reveal | None:
        """The reveal received from ``party``, if any."""
        return next((r for r in self.reveals if r.party == party), None)

    def to_json(self) -> dict[str, Any]:
        """The ``draw.opened`` payload part (plus what was received, for snapshots)."""
        return {
            "session": self.session_id,
            "parties": list(self.parties),
            "commit_deadline": self.commit_deadline.isoformat(),
            "reveal_deadline": self.reveal_deadline.isoformat(),
            "minimum": self.minimum,
            "last": self.last,
            "commitments": [c.to_json() for c in self.commitments],
            "reveals": [r.to_json() for r in self.reveals],
        }


def open_ceremony(
    session_id: str,
    parties: Sequence[str],
    *,
    commit_deadline: _dt.datetime,
    reveal_deadline: _dt.datetime,
    now: _dt.datetime,
    minimum: int = 2,
    last: str | None = None,
) -> CeremonyState:
    """A new ceremony; at least two distinct parties and deadlines in the future, in order.
    ``last``, if given, is the party that must reveal after every other one."""
    if len(set(parties)) != len(parties) or len(parties) < 2 or any(not p for p in parties):
        raise InvalidInput("a ceremony needs at least two distinct, non-empty party ids",
                           field="parties")
    if minimum < 2 or minimum > len(parties):
        raise InvalidInput(f"minimum must be between 2 and {len(parties)}", field="minimum")
    if not now < commit_deadline < reveal_deadline:
        raise InvalidInput("deadlines must be in the future, the commitment deadline first",
                           field="commit_deadline")
    if last is not None and last not in parties:
        raise InvalidInput(f"the last revealer {last} is not a party", field="parties")
    return CeremonyState(session_id, tuple(parties), commit_deadline, reveal_deadline, minimum,
                         last=last)


def _member(state: CeremonyState, party: str) -> None:
    if party not in state.parties:
        raise Forbidden(f"{party} does not take part in the draw of session {state.session_id}")


def commit(
    state: CeremonyState, party: str, digest: str, *, now: _dt.datetime
) -> tuple[CeremonyState, Commitment]:
    """Record ``party``'s commitment received at ``now``."""
    _member(state, party)
    digest = digest.lower()
    if not _HEX64.fullmatch(digest):
        raise InvalidInput("a commitment is 64 hex digits (SHA-256)", field="digest")
    if now > state.commit_deadline:
        raise Conflict(f"commitments closed at {state.commit_deadline.isoformat()}")
    if state.commitment_of(party) is not None:
        raise Conflict(f"{party} has already committed; a commitment cannot be changed")
    c = Commitment(party, digest, now)
    return replace(state, commitments=(*state.commitments, c)), c


def reveal(
    state: CeremonyState, party: str, secret: bytes, *, now: _dt.datetime
) -> tuple[CeremonyState, Reveal]:
    """Record ``party``'s reveal received at ``now``; it must open its commitment."""
    _member(state, party)
    if now <= state.commit_deadline:
        # Seed ceremony (docs/draw.md §1): no reveal while anyone may still commit.
        raise Conflict(f"reveals open after {state.commit_deadline.isoformat()}")
    if now > state.reveal_deadline:
        raise Conflict(f"reveals closed at {state.reveal_deadline.isoformat()}")
    c = state.commitment_of(party)
    if c is None:
        raise Conflict(f"{party} did not commit and cannot reveal")
    if state.reveal_of(party) is not None:
        raise Conflict(f"{party} has already revealed")
    if party == state.last:
        waiting = [p for p in state.parties if p != party and state.reveal_of(p) is None]
        if waiting:
            raise Conflict(f"{party} reveals last: still waiting for {', '.join(waiting)}")
    if len(secret) < SECRET_MIN_BYTES or not verify_reveal(
        secret, c.digest, party=party, session_id=state.session_id
    ):
        raise InvalidInput(f"the secret does not open {party}'s commitment", field="secret")
    r = Reveal(party, secret, now)
    return replace(state, reveals=(*state.reveals, r)), r


def is_ready(state: CeremonyState, *, now: _dt.datetime) -> bool:
    """Whether the seed can be computed: every committed party revealed, or time is up."""
    if now > state.reveal_deadline:
        return True
    if now <= state.commit_deadline:
        return False
    if state.minimum >= len(state.parties) and len(state.commitments) < len(state.parties):
        return True  # every party is needed and one did not commit: it fails now
    if state.last is not None and state.commitment_of(state.last) is not None:
        # The last revealer waits for the others; it is not "due" before they are done.
        return all(state.reveal_of(p) is not None for p in state.parties)
    return all(state.reveal_of(c.party) is not None for c in state.commitments)


def close(state: CeremonyState, *, now: _dt.datetime) -> SeedResult:
    """The seed; :class:`Conflict` if not ready, ``InsufficientContributions`` if too few."""
    if not is_ready(state, now=now):
        raise Conflict("the ceremony is still open: reveals are outstanding and the reveal"
                       f" deadline {state.reveal_deadline.isoformat()} has not passed")
    return combine_seed(
        state.session_id, state.commitments, state.reveals,
        commit_deadline=state.commit_deadline, reveal_deadline=state.reveal_deadline,
        minimum=state.minimum, parties=state.parties,
    )


def missing(state: CeremonyState) -> list[dict[str, str]]:
    """Every party that has not contributed, with why (for a failed ceremony's record)."""
    out = []
    for p in state.parties:
        if state.commitment_of(p) is None:
            out.append({"party": p, "reason": "no_commitment"})
        elif state.reveal_of(p) is None:
            out.append({"party": p, "reason": "no_reveal"})
    return out
