"""Witness requests over the venue link: the primary asks a secondary venue's agent to
cosign a checkpoint through the WebSocket it already holds (a venue may not accept
inbound connections). Same bodies as C2SP tlog-witness ``POST /add-checkpoint``::

    primary → agent   {"type": "add_checkpoint", "id": "wit-…", "body": "old 7\\n…"}
    agent → primary   {"type": "add_checkpoint_response", "id": "wit-…", "status": 200,
                       "body": "— venue.js-suzhou …\\n", "content_type": "text/plain…"}

Only an answer from the very connection that was asked is accepted.
"""

from __future__ import annotations

__all__ = ["WitnessLink"]

import asyncio
import secrets

from evalsvc.errors import Unavailable
from evalsvc.sessions import protocol
from evalsvc.sessions.hub import Connection, Hub


class WitnessLink:
    """A :data:`evalsvc.audit.witnessing.Transport` over the hub's venue connections."""

    def __init__(self, hub: Hub, *, timeout: float = 10.0) -> None:
        self.hub = hub
        self.timeout = timeout
        self._waiting: dict[str, tuple[Connection, asyncio.Future[tuple[int, str, str]]]] = {}

    async def ask(self, venue_id: str, session_id: str, body: str) -> tuple[int, str, str]:
        """Send ``body`` to a connected agent of ``venue_id`` on ``session_id``; its answer."""
        feed = self.hub.feeds.get(session_id)
        conns = [
            c
            for c in (feed.conns if feed else ())
            if c.principal.role == "operator"
            and c.principal.venue == venue_id
            and c.closing is None
        ]
        # Agents announce themselves as witnesses in their hello; prefer them over any
        # other connection of the venue's operator.
        conns.sort(key=lambda c: not getattr(c, "witness", False))
        if not conns:
            raise Unavailable(f"venue {venue_id} has no agent connected to this session")
        msg_id = "wit-" + secrets.token_hex(12)
        fut: asyncio.Future[tuple[int, str, str]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = (conns[0], fut)
        try:
            conns[0].enqueue(protocol.add_checkpoint_message(msg_id, body))
            try:
                async with asyncio.timeout(self.timeout):  # (see pgpresence._serve)
                    return await fut
            except TimeoutError:
                raise Unavailable(
                    f"venue {venue_id} did not answer within {self.timeout:.0f} s"
                ) from None
        finally:
            self._waiting.pop(msg_id, None)

    def answer(self, conn: Connection, msg: protocol.WitnessAnswer) -> None:
        """Hand an ``add_checkpoint_response`` to the request waiting for it."""
        waiting = self._waiting.get(msg.id)
        if waiting is None or waiting[0] is not conn or waiting[1].done():
            return  # unsolicited, late, or from another connection: ignored
        waiting[1].set_result((msg.status, msg.body, msg.content_type))
