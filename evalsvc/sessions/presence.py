"""Presence across server instances: who is connected to a session, merged (pure).

Each instance knows its own connections. On the scaled deployment it also publishes
them (``evalsvc.sessions.pgpresence``: one row per connection, one heartbeat row per
instance) and reads those of the others; this module turns what it read into the
roster of each session and into the ``join``/``leave`` messages that move a roster
from what was shown to what is now true. No I/O and no clock: ages come from the
database's clock, the time-to-live is a parameter.
"""

from __future__ import annotations

__all__ = ["Member", "PresenceRow", "changes", "live_instances", "remote_rosters"]

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One connection as presence shows it; ``key`` ("<instance>/<n>") is unique in the
    cluster, so two tabs of one person are two members."""

    key: str
    role: str
    subject: str
    name: str
    venue: str | None


@dataclass(frozen=True)
class PresenceRow:
    """One published connection: its session, the instance that holds it and how many
    seconds ago that instance last said it was alive."""

    session_id: str
    instance: str
    age_s: float
    member: Member


def live_instances(ages: Mapping[str, float], ttl_s: float) -> frozenset[str]:
    """The instances heard of within ``ttl_s`` seconds (the others died or lost the
    database: their connections are no longer shown)."""
    return frozenset(i for i, age in ages.items() if age <= ttl_s)


def remote_rosters(
    rows: Iterable[PresenceRow], *, me: str, ttl_s: float
) -> dict[str, dict[str, Member]]:
    """Per session, the members held by the *other* live instances, by key (this
    instance's own connections are known first-hand)."""
    rows = list(rows)
    live = live_instances({r.instance: r.age_s for r in rows}, ttl_s)
    out: dict[str, dict[str, Member]] = {}
    for r in rows:
        if r.instance != me and r.instance in live:
            out.setdefault(r.session_id, {})[r.member.key] = r.member
    return out


def changes(before: Mapping[str, Member], after: Mapping[str, Member]) -> list[tuple[str, Member]]:
    """The ``("leave" | "join", member)`` steps from roster ``before`` to ``after``:
    leaves first (so no step shows a connection twice), then joins, each in key order.
    A member whose details changed under the same key leaves and joins again."""
    gone = [m for k, m in before.items() if after.get(k) != m]
    new = [m for k, m in after.items() if before.get(k) != m]
    return [("leave", m) for m in sorted(gone, key=lambda m: m.key)] + [
        ("join", m) for m in sorted(new, key=lambda m: m.key)
    ]
