"""Deadlines of the draws (a ceremony's, an invitation's): one apscheduler job per
session, ``draw:<session id>``, calling
:meth:`~evalsvc.experts.service.DrawService.tick`. The mechanism, shared with the
handover's, is :class:`evalsvc.sessions.deadlines.Deadlines`; the record is
``draw_state.next_deadline_ms``.
"""

from __future__ import annotations

__all__ = ["DrawDeadlines"]



from evalsvc.sessions.deadlines import Deadlines


class DrawDeadlines(Deadlines):
    """Runs ``tick(session_id) -> next deadline`` at each draw's next deadline."""

    name = "draw"
