"""The deterministic committee draw (随机抽取). Pure: the seed is an argument.

``draw(pool, rules, seats, seed)`` fills every seat, then gives every seat its ordered
alternates (候补专家). The algorithm, specified byte for byte in ``docs/draw.md``:

1. For each seat, the *base list*: experts of the seat's regions holding a specialty
   code under the seat's specialty, not excluded by any recusal rule, in ascending id
   order (UTF-8 bytes; ids are ASCII).
2. Rounds ``r = 0`` (members), ``1 … A`` (alternates of rank ``r``); in each round the
   seats in their configured order ``s = 0 … S-1``. The eligible list of a pick is the
   base list without every expert already picked (in any round), and without experts of
   a region whose cap would be exceeded.
3. Pick ``eligible[k]`` where ``k`` comes from the stream
   ``HMAC-SHA256(seed, u32(s) ‖ u32(r) ‖ u32(counter))`` read as a 256-bit big-endian
   integer ``x``, accepted when ``x < 2²⁵⁶ − (2²⁵⁶ mod n)`` (``k = x mod n``), else
   ``counter + 1`` (rejection sampling: no modulo bias).

A seat without an eligible member fails the draw (:class:`NoEligibleExpert`); a seat
that runs out of alternates gets fewer (the result shows it).
"""

from __future__ import annotations

__all__ = [
    "ALGORITHM",
    "DrawResult",
    "NoEligibleExpert",
    "Pick",
    "SeatDraw",
    "base_lists",
    "draw",
    "pick_index",
    "verify_draw",
]

import hashlib
import hmac
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from heapq import merge
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import NoEligibleExpert, VerificationError
from evalsvc.experts.pool import Pool
from evalsvc.experts.rules import Committee, DrawRules, Seat, exclusions

ALGORITHM = "evalsvc-draw-v1"
_TWO_256 = 1 << 256


def pick_index(seed: bytes, n: int, *, seat: int, round_: int) -> tuple[int, int]:
    """The index in ``range(n)`` drawn for ``seat`` in ``round_``, and the counter used."""
    if n < 1:
        raise ValueError("cannot pick from an empty list")
    limit = _TWO_256 - (_TWO_256 % n)
    counter = 0
    prefix = seat.to_bytes(4, "big") + round_.to_bytes(4, "big")
    while True:
        x = int.from_bytes(
            hmac.new(seed, prefix + counter.to_bytes(4, "big"), hashlib.sha256).digest(), "big"
        )
        if x < limit:
            return x % n, counter
        counter += 1


@dataclass(frozen=True)
class Pick:
    """One drawn expert: its id, how many were eligible, and the stream counter used."""

    expert_id: str
    eligible: int
    counter: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"expert": self.expert_id, "eligible": self.eligible, "counter": self.counter}


@dataclass(frozen=True)
class SeatDraw:
    """A seat with its member and ordered alternates."""

    index: int
    seat: Seat
    member: Pick
    alternates: tuple[Pick, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "index": self.index,
            "venue": self.seat.venue,
            "specialty": self.seat.specialty,
            "regions": list(self.seat.regions),
            "member": self.member.to_json(),
            "alternates": [a.to_json() for a in self.alternates],
        }


@dataclass(frozen=True)
class DrawResult:
    """The outcome of a draw; :meth:`canonical` is what is recorded and compared."""

    session_id: str
    seed: bytes
    alternates_per_seat: int
    seats: tuple[SeatDraw, ...]

    @property
    def member_ids(self) -> tuple[str, ...]:
        """Member ids in seat order."""
        return tuple(s.member.expert_id for s in self.seats)

    def to_json(self) -> dict[str, Any]:
        """JSON form (English keys), the ``draw`` event payload."""
        return {
            "algorithm": ALGORITHM,
            "session": self.session_id,
            "seed": self.seed.hex(),
            "alternates_per_seat": self.alternates_per_seat,
            "seats": [s.to_json() for s in self.seats],
        }

    def canonical(self) -> bytes:
        """RFC 8785 bytes of :meth:`to_json`."""
        return canonical_bytes(self.to_json())

    def digest(self) -> str:
        """Hex SHA-256 of :meth:`canonical`."""
        return hashlib.sha256(self.canonical()).hexdigest()


def base_lists(pool: Pool, rules: DrawRules, seats: Sequence[Seat]) -> list[list[int]]:
    """Per seat, the pool indexes (ascending) of experts eligible before any pick.

    Step 1 of ``docs/draw.md``; also what an operator wants to see before a ceremony
    opens (a seat whose list is shorter than ``1 + alternates`` will run short).
    """
    excluded, residual = exclusions(rules.expert_rule, pool, rules.context)
    cache: dict[tuple[tuple[str, ...], str], list[int]] = {}
    out: list[list[int]] = []
    ctx = rules.context
    for seat in seats:
        key = (seat.regions, seat.specialty)
        if key not in cache:
            parts = [pool.candidates(r, seat.specialty) for r in seat.regions]
            merged = parts[0] if len(parts) == 1 else list(merge(*parts))
            base = [i for i in merged if i not in excluded]
            if residual:
                # Rules without an index are asked expert by expert, candidates only.
                base = [i for i in base
                        if all(r.check(pool.expert(i), ctx) is None for r in residual)]
            cache[key] = base
        out.append(cache[key])
    return out


def _kth_remaining(base: Sequence[int], removed: list[int], k: int) -> int:
    """``base[j]`` for the ``k``-th position ``j`` not in the sorted ``removed``."""
    pos = k
    for r in removed:
        if r <= pos:
            pos += 1
        else:
            break
    return base[pos]


def draw(pool: Pool, rules: DrawRules, seats: Sequence[Seat], seed: bytes) -> DrawResult:
    """Draw members and alternates for ``seats``; the same inputs give the same bytes."""
    if len(seed) < 16:
        raise ValueError("the seed must have at least 16 bytes")
    seats = tuple(seats)
    bases = base_lists(pool, rules, seats)
    caps = rules.region_caps
    picked: list[int] = []
    members: list[int] = []
    member_picks: list[Pick] = []
    alternates: list[list[Pick]] = [[] for _ in seats]
    region_count: Counter[str] = Counter()
    for round_ in range(rules.alternates + 1):
        for s, seat in enumerate(seats):
            base = bases[s]
            if round_ == 0:
                blocked = {r for r in seat.regions if r in caps and region_count[r] >= caps[r]}
            else:
                # An alternate replaces this seat's member: the cap is judged on the
                # committee after the replacement.
                own = pool.region_of(members[s])
                blocked = {r for r in seat.regions
                           if r in caps and region_count[r] - (r == own) >= caps[r]}
            if blocked:
                base = [i for i in base if pool.region_of(i) not in blocked]
            removed = []
            for i in picked:
                j = bisect_left(base, i)
                if j < len(base) and base[j] == i:
                    removed.append(j)
            removed.sort()
            n = len(base) - len(removed)
            if n == 0:
                if round_ == 0:
                    raise NoEligibleExpert(
                        f"seat {s} ({seat.label()}): no eligible expert in"
                        f" {', '.join(seat.regions)} under {seat.specialty} after recusal"
                    )
                continue
            k, counter = pick_index(seed, n, seat=s, round_=round_)
            i = _kth_remaining(base, removed, k)
            picked.append(i)
            pick = Pick(pool.ids[i], n, counter)
            if round_ == 0:
                members.append(i)
                member_picks.append(pick)
                region_count[pool.region_of(i)] += 1
            else:
                alternates[s].append(pick)
    committee = Committee(seats, tuple(pool.expert(i) for i in members),
                          rules.tenderer_representatives)
    violation = rules.committee_rule.check(committee, rules.context)
    if violation is not None:
        # Cannot happen for rules built by load_rules; a guard against custom rules.
        raise NoEligibleExpert(f"drawn committee breaks a rule: {violation.message}")
    return DrawResult(
        rules.context.session_id,
        seed,
        rules.alternates,
        tuple(SeatDraw(s, seat, member_picks[s], tuple(alternates[s]))
              for s, seat in enumerate(seats)),
    )


def verify_draw(
    recorded: Mapping[str, Any], pool: Pool, rules: DrawRules, seats: Sequence[Seat]
) -> DrawResult:
    """Recompute the draw ``recorded`` (a :meth:`DrawResult.to_json`) and return it.

    Raises :class:`VerificationError` naming the first seat that differs.
    """
    try:
        seed = bytes.fromhex(str(recorded["seed"]))
    except (KeyError, ValueError) as exc:
        raise VerificationError("recorded draw has no valid hex seed") from exc
    if recorded.get("algorithm") != ALGORITHM:
        raise VerificationError(
            f"recorded draw uses algorithm {recorded.get('algorithm')!r}, expected {ALGORITHM!r}"
        )
    again = draw(pool, rules, seats, seed)
    if canonical_bytes(recorded) == again.canonical():
        return again
    mine = again.to_json()
    for key in ("session", "alternates_per_seat"):
        if recorded.get(key) != mine[key]:
            raise VerificationError(
                f"recorded {key} is {recorded.get(key)!r}, recomputed {mine[key]!r}"
            )
    theirs = recorded.get("seats", [])
    for s, seat in enumerate(mine["seats"]):
        other = theirs[s] if s < len(theirs) else None
        if other != seat:
            raise VerificationError(
                f"seat {s}: recorded {_short(other)}, recomputed {_short(seat)}"
            )
    if len(theirs) != len(mine["seats"]):
        raise VerificationError(
            f"recorded draw has {len(theirs)} seats, recomputed {len(mine['seats'])}"
        )
    raise VerificationError("recorded draw differs from the recomputed one outside the seats"
                            f" (fields {sorted(set(recorded) ^ set(mine))} or the seed)")


def _short(seat: Any) -> str:
    if not isinstance(seat, Mapping):
        return "nothing"
    member = seat.get("member", {})
    alts = [a.get("expert") for a in seat.get("alternates", []) if isinstance(a, Mapping)]
    who = member.get("expert") if isinstance(member, Mapping) else None
    return f"member {who} alternates {alts}"
