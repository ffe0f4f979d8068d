"""The committee's steps between check-in and evaluation, driven through the service:
every member accepts the pledge and declares no conflict, then one election round.

For programs that run a whole session on behalf of its people — the demo, the
benchmarks, tests — so that each runs the steps the rules require the same way.
"""

from __future__ import annotations

__all__ = ["pledge_declare_elect"]

from collections.abc import Sequence

from evalsvc.auth import Principal
from evalsvc.sessions.service import SessionService


async def pledge_declare_elect(
    svc: SessionService,
    session_id: str,
    *,
    primary: Principal,
    members: Sequence[Principal],
    leader: int = 0,
    bids: Sequence[str],
) -> None:
    """Each of ``members`` (checked in) accepts the configured pledge and declares no
    conflict with any of ``bids``; the primary opens the election, every member votes
    for seat ``leader``, and the primary closes the round (a strict majority)."""
    sha = svc.pledge.sha256
    no_conflict = [{"bid_id": b, "conflict": False} for b in bids]
    for p in members:
        await svc.command(p, session_id, {"command": "accept_pledge", "sha256": sha}, key=None)
        await svc.command(p, session_id, {"command": "declare_interests",
                                          "declarations": no_conflict}, key=None)
    await svc.command(primary, session_id, {"command": "open_election"}, key=None)
    for p in members:
        await svc.command(p, session_id, {"command": "cast_vote", "candidate": leader},
                          key=None)
    await svc.command(primary, session_id, {"command": "close_round"}, key=None)
