"""The draw seed: a commit-reveal ceremony no single party controls. Pure: times passed in.

Each participating venue (and optionally the supervisor) picks a secret of at least
:data:`SECRET_MIN_BYTES` random bytes and, before the commitment deadline, submits::

    commitment = SHA-256( lp(secret) ‖ lp(UTF-8 party id) ‖ lp(UTF-8 session id) )

where ``lp(x)`` is the 4-byte big-endian length of ``x`` followed by ``x``. After the
commitment deadline (never before: an early reveal would let a later committer choose
its secret knowing the others') and up to the reveal deadline, each party reveals its
secret. The seed is::

    seed = SHA-256( lp(UTF-8 session id) ‖ lp(party₁) ‖ lp(secret₁) ‖ lp(party₂) ‖ … )

over the parties whose reveal is valid, ordered by the UTF-8 bytes of their ids. A party
that committed but did not reveal validly in time is dropped, and the reason is kept in
the :class:`SeedResult`; at least two contributions are required.

A party that withholds its reveal can still choose between two seeds (with or without
it); it cannot choose the seed. The session records every drop, so a pattern shows.
"""

from __future__ import annotations

__all__ = [
    "SECRET_MIN_BYTES",
    "Commitment",
    "Dropped",
    "InsufficientContributions",
    "Reveal",
    "SeedResult",
    "combine_seed",
    "commitment_digest",
    "length_prefixed",
    "seed_from_reveals",
    "verify_reveal",
]

import datetime as _dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from evalsvc.errors import InsufficientContributions, InvalidInput

SECRET_MIN_BYTES = 16
DropReason = Literal[
    "late_commitment", "no_reveal", "early_reveal", "late_reveal", "reveal_mismatch",
    "no_commitment",
]


def length_prefixed(data: bytes) -> bytes:
    """``data`` preceded by its length as 4 bytes, big-endian."""
    if len(data) >= 1 << 32:
        raise InvalidInput("value too long to length-prefix")
    return len(data).to_bytes(4, "big") + data


def commitment_digest(secret: bytes, *, party: str, session_id: str) -> str:
    """Hex SHA-256 commitment of ``party`` to ``secret`` for ``session_id``."""
    if len(secret) < SECRET_MIN_BYTES:
        raise InvalidInput(
            f"secret of {party} has {len(secret)} bytes; at least {SECRET_MIN_BYTES} expected",
            field="secret",
        )
    return hashlib.sha256(
        length_prefixed(secret)
        + length_prefixed(party.encode("utf-8"))
        + length_prefixed(session_id.encode("utf-8"))
    ).hexdigest()


def verify_reveal(secret: bytes, digest: str, *, party: str, session_id: str) -> bool:
    """Whether ``secret`` opens the commitment ``digest`` of ``party`` for ``session_id``."""
    if len(secret) < SECRET_MIN_BYTES:
        return False
    expected = commitment_digest(secret, party=party, session_id=session_id)
    return hmac.compare_digest(expected, digest.lower())


def seed_from_reveals(session_id: str, reveals: Mapping[str, bytes]) -> bytes:
    """The 32-byte seed of ``session_id`` from valid reveals (party id → secret)."""
    h = hashlib.sha256(length_prefixed(session_id.encode("utf-8")))
    for party in sorted(reveals, key=lambda p: p.encode("utf-8")):
        h.update(length_prefixed(party.encode("utf-8")))
        h.update(length_prefixed(reveals[party]))
    return h.digest()


@dataclass(frozen=True)
class Commitment:
    """A party's commitment, as received at ``at``."""

    party: str
    digest: str
    at: _dt.datetime

    def to_json(self) -> dict[str, Any]:
        """JSON form (for events and bundles)."""
        return {"party": self.party, "digest": self.digest, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Reveal:
    """A party's revealed secret, as received at ``at``."""

    party: str
    secret: bytes
    at: _dt.datetime

    def to_json(self) -> dict[str, Any]:
        """JSON form (for events and bundles); the secret in lowercase hex."""
        return {"party": self.party, "secret": self.secret.hex(), "at": self.at.isoformat()}


@dataclass(frozen=True)
class Dropped:
    """A party left out of the seed, and why."""

    party: str
    reason: DropReason

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        return {"party": self.party, "reason": self.reason}


@dataclass(frozen=True)
class SeedResult:
    """The seed and who contributed to it; ``dropped`` lists everyone left out."""

    session_id: str
    seed: bytes
    contributors: tuple[str, ...]
    dropped: tuple[Dropped, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form (the ``seed`` event of a session)."""
        return {
            "session": self.session_id,
            "seed": self.seed.hex(),
            "contributors": list(self.contributors),
            "dropped": [d.to_json() for d in self.dropped],
        }


def _unique(items: Iterable[Commitment | Reveal], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if item.party in out:
            raise InvalidInput(f"two {what}s from {item.party}; a party submits one", field=what)
        out[item.party] = item
    return out


def combine_seed(
    session_id: str,
    commitments: Iterable[Commitment],
    reveals: Iterable[Reveal],
    *,
    commit_deadline: _dt.datetime,
    reveal_deadline: _dt.datetime,
    minimum: int = 2,
    parties: Sequence[str] | None = None,
) -> SeedResult:
    """The seed of a finished ceremony; raises :class:`InsufficientContributions`.

    A commitment counts if received at or before ``commit_deadline``; a reveal counts
    if received after ``commit_deadline``, at or before ``reveal_deadline``, and if it
    opens the party's commitment. With ``parties`` (the ceremony's named parties), a
    party that submitted nothing is dropped as ``no_commitment`` too, and a submission
    from anyone else is refused.
    """
    if reveal_deadline <= commit_deadline:
        raise InvalidInput("the reveal deadline must be after the commitment deadline")
    by_party_c: dict[str, Commitment] = _unique(commitments, "commitment")
    by_party_r: dict[str, Reveal] = _unique(reveals, "reveal")
    dropped: list[Dropped] = []
    valid: dict[str, bytes] = {}
    named = set(parties) if parties is not None else set()
    strangers = (set(by_party_c) | set(by_party_r)) - named if parties is not None else set()
    if strangers:
        raise InvalidInput(f"submissions from {', '.join(sorted(strangers))}, who are not"
                           " parties of the ceremony", field="ceremony")
    for party in sorted(set(by_party_c) | set(by_party_r) | named,
                        key=lambda p: p.encode("utf-8")):
        c = by_party_c.get(party)
        r = by_party_r.get(party)
        reason: DropReason | None = None
        if c is None:
            reason = "no_commitment"
        elif c.at > commit_deadline:
            reason = "late_commitment"
        elif r is None:
            reason = "no_reveal"
        elif r.at <= commit_deadline:
            reason = "early_reveal"
        elif r.at > reveal_deadline:
            reason = "late_reveal"
        elif not verify_reveal(r.secret, c.digest, party=party, session_id=session_id):
            reason = "reveal_mismatch"
        if reason is None and r is not None:
            valid[party] = r.secret
        elif reason is not None:
            dropped.append(Dropped(party, reason))
    if len(valid) < max(2, minimum):
        raise InsufficientContributions(
            f"seed of {session_id} needs at least {max(2, minimum)} valid reveals,"
            f" got {len(valid)}"
            + (f" (dropped: {', '.join(f'{d.party} {d.reason}' for d in dropped)})"
               if dropped else "")
        )
    contributors = tuple(sorted(valid, key=lambda p: p.encode("utf-8")))
    return SeedResult(session_id, seed_from_reveals(session_id, valid), contributors,
                      tuple(dropped))
