"""The real-time hub: fans committed events out to WebSocket connections.

Discipline (STYLE.md "WebSocket discipline", after Home Assistant's websocket_api):

- The hub never awaits a socket. Each :class:`Connection` has one bounded queue and one
  writer task; fan-out is ``put_nowait``. A connection whose queue is full, or whose
  writer has been blocked in one send for ``send_timeout_s`` (the client stopped
  reading), is a slow consumer: it leaves the feed at once, gets ``bye slow_consumer``
  and a close with 4429 — or, when it does not read those either within
  ``close_timeout_s``, an aborted TCP connection — and resumes from its last seq.
- A wake-up carries only ``(session, seq)``. One :class:`Feed` per session with
  connections reads the new events from the table once per wake-up for all its
  connections, redacts each event once per *view* (role, venue, expert) and serialises it
  once per view: every connection of that view gets the same string.
- Nothing is sent that is not in the table: events come from ``store.list_events``.
- Joining takes the feed's lock, so a connection's replay ends exactly where the live
  stream starts: no gap and no duplicate (each connection also drops seq ≤ its floor).
- Presence (who is connected, at which venue) is ephemeral and goes to operators and
  supervisors only; it is not written to the event log. A feed shows its own
  connections and — on the scaled deployment, through a :class:`PresenceBackend`
  (``evalsvc.sessions.pgpresence``) — those of the other instances, merged by
  :mod:`evalsvc.sessions.presence`.
"""

from __future__ import annotations

__all__ = ["Connection", "Feed", "Hub", "PresenceBackend", "load_or_create_epoch"]

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from evalsvc.auth import Principal
from evalsvc.db import Database
from evalsvc.http_errors import ws_close_code
from evalsvc.sessions import protocol, store
from evalsvc.sessions.access import redact_event, view_session
from evalsvc.sessions.model import Session
from evalsvc.sessions.presence import Member, changes
from evalsvc.tasks import cancel_and_wait

log = logging.getLogger(__name__)
T = TypeVar("T")

REPLAY_CAP = 1000  # a larger gap gets a snapshot instead of a replay
QUEUE_SIZE = 512  # live frames queued per connection before it counts as slow
SEND_TIMEOUT_S = 10.0  # one send blocked this long (the client stopped reading): slow
CLOSE_TIMEOUT_S = 5.0  # after a kick: time to deliver bye + close before aborting
HEARTBEAT_S = 15.0  # idle time after which the server sends its top seq
SLOW_MESSAGE = "the connection could not keep up; resume from your seq"
FETCH_LIMIT = 500

ViewKey = tuple[str, str | None, str | None]
# Events that do not change the session document (service.submit_sheet records them with
# changed=False), so the cached session redacts them exactly as a fresh read would.
_FAST_TYPES = frozenset({"sheet.submitted"})


def load_or_create_epoch(conn: SAConnection) -> str:
    """This database's epoch: a random id stored once in ``evalsvc_meta``.

    A client that saw another epoch (another or a re-created database) gets a snapshot
    instead of a replay. Safe for several instances starting at once.
    """
    conn.execute(
        sa.text(
            "INSERT INTO evalsvc_meta (key, value) VALUES ('epoch', :v) "
            "ON CONFLICT (key) DO NOTHING"
        ),
        {"v": "ep-" + secrets.token_hex(8)},
    )
    return str(
        conn.execute(sa.text("SELECT value FROM evalsvc_meta WHERE key = 'epoch'")).scalar_one()
    )


class PresenceBackend(Protocol):
    """How a hub shares presence with the other instances (None: a single instance)."""

    def changed(self, session_id: str) -> None:
        """This instance's connections to ``session_id`` changed: publish them."""

    def read(self, c: SAConnection, session_ids: Sequence[str]) -> dict[str, dict[str, Member]]:
        """The other live instances' members of ``session_ids`` (in a read transaction)."""


# Who receives presence messages (a site supervisor: of its own venue only).
_WATCHERS = ("operator", "supervisor", "site_supervisor")


def view_key(p: Principal) -> ViewKey:
    """Principals with the same key see every event identically (access.redact_event
    depends on role, venue and — for experts — who they are)."""
    return (p.role, p.venue, p.subject if p.role == "expert" else None)


class Connection:
    """One WebSocket client: a bounded queue and the writer task that drains it.

    The queue is a deque plus one wake-up future (asyncio.Queue and a wait_for timeout
    per frame cost more than the send itself at thousands of frames a second); the
    heartbeat for idle connections and the send timeout (:meth:`check_stalled`) are
    driven by the hub's timer, not per frame.
    """

    def __init__(
        self,
        principal: Principal,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        queue_size: int = QUEUE_SIZE,
        heartbeat_s: float = HEARTBEAT_S,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
        abort: Callable[[], None] | None = None,
        key: str = "",
        replay_budget: int = REPLAY_CAP + 1,
    ) -> None:
        self.principal = principal
        self.view = view_key(principal)
        self.member = Member(
            key=key or f"local/{id(self):x}",
            role=principal.role,
            subject=principal.subject,
            name=principal.name,
            venue=principal.venue,
        )
        self._send = send
        self._close = close
        self._abort = abort
        self.close_timeout_s = close_timeout_s
        self._queue: collections.deque[str] = collections.deque()
        self._max = queue_size
        self._replay = 0  # replay frames still queued: not counted against _max
        # Syncs (the answers to hello) queued and not all sent: (the count of frames
        # sent once this sync's last one is, its cost). Their costs may add up to
        # ``replay_budget`` — a replay costs its frames, a snapshot the whole budget.
        # A list, not a deque: it rarely holds more than one, and an empty deque is
        # 760 bytes on every idle connection (an empty list 56).
        self._syncs: list[tuple[int, int]] = []
        self.replay_budget = replay_budget
        self._ready: asyncio.Future[None] | None = None
        self.heartbeat_s = heartbeat_s
        self.last_sent = asyncio.get_running_loop().time()
        # The send timeout's progress marks: frames handed to the socket, whether the
        # writer is draining the queue, and the count and time the hub's timer last saw.
        self.sent = 0
        self._busy = False
        self._seen_sent = -1
        self._seen_at = 0.0
        self.floor = 0  # events with seq ≤ floor were already sent (replay or snapshot)
        self.witness = False  # a venue agent that answers add_checkpoint (its hello says)
        self.feed: Feed | None = None
        self.closing: str | None = None
        self._writer = asyncio.create_task(self._write())

    def enqueue(self, text: str) -> None:
        """Queue one frame without waiting; a full queue closes the connection."""
        if self.closing is not None:
            return
        if len(self._queue) - self._replay >= self._max:
            log.info("slow consumer %s: %d frames queued", self.principal.actor, self._max)
            self.kick("slow_consumer", SLOW_MESSAGE)
            return
        self._queue.append(text)
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    def sync_outstanding(self) -> int:
        """The cost of the syncs (replays, snapshots) queued and not yet all sent."""
        syncs, sent = self._syncs, self.sent
        done = 0
        while done < len(syncs) and syncs[done][0] <= sent:
            done += 1
        if done:
            del syncs[:done]
        return sum(cost for _, cost in syncs)

    def enqueue_replay(self, texts: Sequence[str], *, cost: int | None = None) -> None:
        """Queue a sync — a replay, or a snapshot, then ``synced`` — without counting it
        against the live queue bound (which can so stay below the replay cap), but
        against the replay budget: one sync is always taken (the replay cap bounds it);
        another while earlier ones are still queued only if their costs (``cost``,
        default: its frames) stay within ``replay_budget``. A client that sends
        ``hello`` faster than its replays drain is a slow consumer: without this, each
        hello queued up to a thousand frames more, unbounded."""
        if self.closing is not None or not texts:
            return
        cost = len(texts) if cost is None else cost
        outstanding = self.sync_outstanding()
        if outstanding and outstanding + cost > self.replay_budget:
            log.info(
                "slow consumer %s: hello while %d frames of replay are queued",
                self.principal.actor,
                outstanding,
            )
            self.kick("slow_consumer", SLOW_MESSAGE)
            return
        self._queue.extend(texts)
        self._replay += len(texts)
        # (``sent`` lags by one while a frame is being sent: a sync may count as sent
        # one frame early, which the budget's slack absorbs.)
        self._syncs.append((self.sent + len(self._queue), cost))
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    def queued(self) -> tuple[int, int]:
        """(frames, UTF-8 bytes) queued for this connection (diagnostics, tests)."""
        return len(self._queue), sum(len(t.encode("utf-8")) for t in self._queue)

    def kick(self, code: str, message: str) -> None:
        """Close this connection on purpose with a reason code (after a ``bye``).

        It leaves its feed at once (no more events; presence says ``leave``). The ``bye``
        and the close frame go behind what the socket already buffered: a client that
        reads on within ``close_timeout_s`` sees every frame it was sent, then the
        reason; otherwise the TCP connection is aborted.
        """
        if self.closing is not None:
            return
        self.closing = code
        self._writer.cancel()
        self._queue.clear()
        self._syncs.clear()
        self._replay = 0
        if self.feed is not None:
            self.feed.leave(self)
        bye = protocol.bye_message(code, message)

        async def _bye() -> None:
            try:
                async with asyncio.timeout(self.close_timeout_s):
                    with contextlib.suppress(Exception):
                        await self._send(bye)
                    await self._close(ws_close_code(code), code)
            except Exception:
                # A client that does not read never takes the close frame off the
                # socket: without this the connection (and its buffers) would stay
                # until the RFC 6455 ping timed out.
                if self._abort is not None:
                    self._abort()

        # Not awaited here: the caller is the fan-out loop, which must never wait.
        task = asyncio.create_task(_bye())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        try:
            while True:
                if not queue:
                    self._ready = loop.create_future()
                    await self._ready
                    self._ready = None
                self._busy = True
                while queue:
                    # send_str waits only when the socket's buffer is over its high-water
                    # mark (RFC 6455 has no flow control of its own): that is the slow
                    # consumer, whose queue then fills up — or whose send outlasts the
                    # send timeout (check_stalled).
                    await self._send(queue.popleft())
                    self.sent += 1
                    if self._replay:
                        self._replay -= 1
                self._busy = False
                self.last_sent = loop.time()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away; the reader loop ends too
            log.debug("writer stopped: %s", exc)

    def check_stalled(self, now: float, timeout: float) -> None:
        """Kick this connection as a slow consumer if its writer has been blocked in one
        send for ``timeout`` seconds (called by the hub's timer: cut within ``timeout``
        plus one timer period)."""
        if not self._busy or self.closing is not None:
            self._seen_sent = -1
            return
        if self.sent != self._seen_sent:
            self._seen_sent, self._seen_at = self.sent, now
        elif now - self._seen_at >= timeout:
            log.info(
                "slow consumer %s: one send blocked for %.1f s",
                self.principal.actor,
                now - self._seen_at,
            )
            self.kick("slow_consumer", SLOW_MESSAGE)

    def idle_heartbeat(self, now: float) -> None:
        """Queue a heartbeat (the top seq) if nothing was sent for ``heartbeat_s``."""
        if now - self.last_sent >= self.heartbeat_s and not self._queue:
            top = self.feed.delivered if self.feed is not None else self.floor
            self.last_sent = now
            self.enqueue(protocol.heartbeat_message(max(top, self.floor)))

    async def aclose(self) -> None:
        """Stop the writer (called from the handler's ``finally``)."""
        await cancel_and_wait(self._writer)


_BACKGROUND: set[asyncio.Task[None]] = set()


class _Burst:
    """The history a burst of joins replays: events ``after``+1 … ``end`` as read once,
    and the frames serialised from them so far (see :func:`_replay_frames`)."""

    def __init__(self, after: int, events: list[store.StoredEvent]) -> None:
        self.after = after
        self.events = events
        self.end = events[-1].seq if events else after
        self.texts: dict[tuple[Any, ...], str] = {}
        self.same: dict[str, str] = {}

    def extend(self, events: Sequence[store.StoredEvent], cap: int) -> None:
        fresh = [e for e in events if e.seq > self.end]
        if fresh and len(self.events) + len(fresh) <= cap:
            self.events += fresh
            self.end = fresh[-1].seq


def _replay_frames(
    s: Session, p: Principal, events: Iterable[store.StoredEvent], burst: _Burst | None
) -> list[str]:
    """The replay frames of ``events`` for ``p``, sharing with the burst's other joins.

    An event ``p`` sees unmasked (redact_event keeps the stored payload object) is
    serialised once per (seq, actor, venue) — what redaction may still change; a masked
    one is serialised for this join and then replaced by an equal frame already queued,
    if there is one. Neither keeps the redacted documents: when a burst of a session's
    joins held one per join and event until the last join, that peak (not what stays
    queued) was most of what connecting a hundred sockets at once added to the RSS."""
    texts = burst.texts if burst is not None else {}
    same = burst.same if burst is not None else {}
    frames = []
    for ev in events:
        red = redact_event(s, p, ev.to_doc())
        if red["payload"] is ev.payload:
            key = (ev.seq, red["actor"], red["venue"])
            text = texts.get(key)
            if text is None:
                text = texts[key] = protocol.event_message(red)
        else:
            text = protocol.event_message(red)
            text = same.setdefault(text, text)
        frames.append(text)
    return frames


class Feed:
    """The connections of one session on this instance and the seq fanned out to them."""

    def __init__(self, hub: Hub, session_id: str) -> None:
        self.hub = hub
        self.session_id = session_id
        self.conns: set[Connection] = set()
        self.delivered = -1  # -1: not read yet
        self.session: Session | None = None
        # The other instances' members of this session, and the number of the read
        # that set them (an older read finishing later must not undo a newer one).
        self.remote: dict[str, Member] = {}
        self.remote_read = -1
        self.pending = 0  # joins waiting for the lock (the feed must outlive them)
        # Venues with a link to this session (an operator's agent or an expert connected,
        # here or on another instance): Hub.on_venue_link hears each one go and come.
        self.venues_up: frozenset[str] = frozenset()
        self.joining = False  # a join holds the lock (replay, then the live stream)
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._pump())
        # While joins queue up (every PC of a venue after a restart, every client after a
        # deploy) they replay the same history: it is read once and each distinct frame
        # serialised once, shared by the connections' queues; dropped with the last join.
        self._burst: _Burst | None = None

    async def _pump(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                async with self.lock:
                    await self._deliver()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away: keep the connections, retry on the next wake-up
                # or catch-up tick (nothing is skipped: ``delivered`` did not move).
                log.exception("fan-out of session %s failed", self.session_id)
                await asyncio.sleep(0.5)
                self.wake.set()

    async def _deliver(self) -> None:
        while self.delivered >= 0:
            after = self.delivered

            def tx(
                c: SAConnection, after: int = after
            ) -> tuple[Session, int, list[store.StoredEvent]]:
                s, last = store.load_session(c, self.session_id, docs=self.hub.docs)
                evs = store.list_events(c, self.session_id, after=after, limit=FETCH_LIMIT)
                return s, last, evs

            s, _last, events = await self.hub.read(tx)
            self.session = s
            # The fast path may have fanned some of them out while this read was away.
            fresh = [e for e in events if e.seq > self.delivered]
            if fresh:
                self.fan_out(s, fresh)
            if len(events) < FETCH_LIMIT:
                return

    def try_fast_path(self, events: Sequence[Any]) -> bool:
        """Fan out committed events without reading them back (this process's commits,
        or another instance's carried by its notification), when that is exactly
        equivalent: they follow what was fanned out, no join is replaying, and they are
        score-sheet events, which leave the session document — and so every redaction —
        unchanged. Otherwise the pump reads the table. (A read of the pump may be under
        way: it skips what was fanned out meanwhile. Not waiting for it keeps one
        out-of-order notification from sending every commit after it to the table.)"""
        s = self.session
        if (
            s is None
            or self.joining
            or self.delivered < 0
            or not all(isinstance(e, store.StoredEvent) for e in events)
            or events[0].seq != self.delivered + 1
            or any(e.type not in _FAST_TYPES for e in events)
        ):
            return False
        self.fan_out(s, list(events))
        return True

    def fan_out(self, s: Session, events: list[store.StoredEvent]) -> None:
        """Send ``events`` to every connection: redacted and serialised once per view."""
        groups: dict[ViewKey, list[Connection]] = {}
        for c in self.conns:
            groups.setdefault(c.view, []).append(c)
        for ev in events:
            doc = ev.to_doc()
            # Views often redact an event identically (every expert but the author sees
            # "actor": "expert"); redact_event keeps the payload object when it does not
            # mask it, so (actor, payload identity) names the content: serialise each
            # distinct content once.
            texts: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
            for conns in groups.values():
                red = redact_event(s, conns[0].principal, doc)
                key = (red["actor"], id(red["payload"]))
                hit = texts.get(key)
                if hit is None:
                    # Keep ``red`` referenced so its payload's id is not reused.
                    hit = texts[key] = (protocol.event_message(red), red)
                text = hit[0]
                for c in conns:
                    if ev.seq > c.floor:
                        c.enqueue(text)
            self.delivered = ev.seq

    @contextlib.asynccontextmanager
    async def _replaying(self) -> AsyncIterator[None]:
        # The lock, and a flag the fast path checks (a join's replay ends exactly where
        # the live stream starts: nothing may be fanned out around it meanwhile).
        async with self.lock:
            self.joining = True
            try:
                yield
            finally:
                self.joining = False

    async def join(self, conn: Connection, hello: protocol.Hello) -> None:
        """Replay (or snapshot) up to the fanned-out seq, then add ``conn`` to the live
        stream — under the lock, so nothing falls between the two."""
        hub = self.hub
        async with self._replaying():
            if conn.closing is None and conn.sync_outstanding() >= conn.replay_budget:
                # No sync more can be taken: refuse before reading and redacting.
                log.info("slow consumer %s: hello on a full replay budget", conn.principal.actor)
                conn.kick("slow_consumer", SLOW_MESSAGE)
            if conn.closing is not None:
                return
            self.conns.discard(conn)
            want_replay = hello.epoch == hub.epoch or (hello.epoch is None and hello.last_seq == 0)
            after = hello.last_seq
            # A feed new on this instance learns who is connected elsewhere in the same
            # read, so the first presence message lists the whole cluster.
            cluster = hub.cluster if self.remote_read < 0 else None
            ticket = hub.presence_ticket()

            burst = self._burst
            cached = burst is not None and burst.after <= after <= burst.end
            tail = burst.end if cached and burst is not None else after

            def tx(
                c: SAConnection,
            ) -> tuple[Session, int, list[store.StoredEvent], dict[str, Member] | None]:
                s, last = store.load_session(c, self.session_id, docs=self.hub.docs)
                evs: list[store.StoredEvent] = []
                if want_replay and after <= last:  # the cap is applied below, to target
                    evs = store.list_events(c, self.session_id, after=tail, limit=hub.replay_cap)
                remote = None
                if cluster is not None:
                    remote = cluster.read(c, [self.session_id]).get(self.session_id, {})
                return s, last, evs, remote

            s, last, events, remote = await hub.read(tx)
            if want_replay and after <= last:
                if cached and burst is not None:
                    burst.extend(events, hub.replay_cap)
                    events = [e for e in burst.events if e.seq > after] + [
                        e for e in events if e.seq > burst.end
                    ]
                elif self.pending > 1:  # more joins wait: keep what they will replay
                    self._burst = burst = _Burst(after, events[: hub.replay_cap])
                    cached = True
            self.session = s
            if remote is not None:
                self.set_remote(remote, ticket)
            if self.delivered < 0:
                self.delivered = last  # a new feed: this instance has fanned out nothing
            target = self.delivered
            p = conn.principal
            if want_replay and after <= target and target - after <= hub.replay_cap:
                frames = _replay_frames(
                    s, p, (ev for ev in events if ev.seq <= target), burst if cached else None
                )
                frames.append(protocol.synced_message(target))
                conn.enqueue_replay(frames)
                floor = target
            else:
                reason = "epoch" if not want_replay else "gap"
                doc = view_session(s, p, last_seq=last)
                # A snapshot stands for more than a replay: it costs the whole budget.
                conn.enqueue_replay(
                    [
                        protocol.snapshot_message(
                            epoch=hub.epoch, seq=last, session=doc, reason=reason
                        ),
                        protocol.synced_message(last),
                    ],
                    cost=conn.replay_budget,
                )
                floor = last
            if conn.closing is not None:
                return  # kicked while replaying (its queue overflowed): not joined
            conn.floor = floor
            conn.witness = hello.witness
            joined = conn.feed is None
            conn.feed = self
            self.conns.add(conn)
            if joined:
                self._presence("join", conn.member)
                hub.presence_changed(self.session_id)

    def end_burst(self) -> None:
        """No join is waiting: drop the replay shared by the last ones."""
        self._burst = None

    def leave(self, conn: Connection) -> None:
        """Remove ``conn``; the feed stops when its last connection leaves."""
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        self._presence("leave", conn.member)
        self.hub.presence_changed(self.session_id)
        if not self.conns and not self.pending:
            self.hub._drop_feed(self)

    def set_remote(self, roster: dict[str, Member], ticket: int) -> None:
        """Take the other instances' members from read number ``ticket`` (ignored if
        a later read was applied already) and tell the watchers what changed."""
        if ticket <= self.remote_read:
            return
        self.remote_read = ticket
        for kind, m in changes(self.remote, roster):
            if kind == "leave":
                del self.remote[m.key]
            else:
                self.remote[m.key] = m
            self._presence(kind, m)

    def members(self) -> list[Member]:
        """Everyone connected to this session: here, then on the other instances."""
        return [c.member for c in self.conns] + list(self.remote.values())

    def _venue_links(self) -> None:
        """Tell the hub's listener which venues' links went (every operator and expert
        connection of the venue gone) or came back since the last change."""
        up = frozenset(m.venue for m in self.members()
                       if m.venue is not None and m.role in ("operator", "expert"))
        before, self.venues_up = self.venues_up, up
        listener = self.hub.on_venue_link
        if listener is None or self.hub.stopping:
            return  # (a server going down is not a venue losing its link)
        for v in sorted(before - up):
            listener(self.session_id, v, False)
        for v in sorted(up - before):
            listener(self.session_id, v, True)

    def _who(self, m: Member, viewer: Principal) -> dict[str, Any]:
        who: dict[str, Any] = {"role": m.role, "venue": m.venue}
        seat = self.session.seat_of(m.subject) if self.session and m.role == "expert" else None
        if seat is not None:
            who["seat"] = seat.index
        # Identities follow the same rule as access.view_session: supervisors see all,
        # operators and site supervisors only the people of their own venue.
        if viewer.role == "supervisor" or (
                viewer.role in ("operator", "site_supervisor") and viewer.venue == m.venue):
            who["subject"] = m.subject
            who["name"] = m.name
        return who

    def _presence(self, kind: str, member: Member) -> None:
        self._venue_links()
        watchers = [c for c in self.conns if c.principal.role in _WATCHERS]
        if not watchers:
            return
        everyone = self.members()
        by_view: dict[ViewKey, str] = {}
        for w in watchers:
            if w.principal.role == "site_supervisor" and member.venue != w.principal.venue:
                continue  # a site supervisor watches its own venue's seats only
            text = by_view.get(w.view)
            if text is None:
                connected = [self._who(m, w.principal) for m in everyone
                             if w.principal.role != "site_supervisor"
                             or m.venue == w.principal.venue]
                text = protocol.presence_message(kind, self._who(member, w.principal), connected)
                by_view[w.view] = text
            w.enqueue(text)


class Hub:
    """Every feed of this server instance; woken by the bus after commits."""

    def __init__(
        self,
        db: Database,
        *,
        epoch: str,
        replay_cap: int = REPLAY_CAP,
        queue_size: int = QUEUE_SIZE,
        heartbeat_s: float = HEARTBEAT_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
        notsent_lowat: int = 0,
        instance: str | None = None,
        docs: store.SessionDocs | None = None,
    ) -> None:
        self.db = db
        # Parsed session documents shared with the unit of work: a hello from each of a
        # session's hundreds of sockets reuses one parse while the document is unchanged.
        self.docs = docs if docs is not None else store.SessionDocs()
        self.epoch = epoch
        # This process among the instances on one database (presence keys, rows).
        self.instance = instance or "i-" + secrets.token_hex(6)
        self.cluster: PresenceBackend | None = None
        # (session id, venue id, link up?) when a venue's link goes or comes back
        # (SessionService.venue_link, set by create_app); not while shutting down.
        self.on_venue_link: Callable[[str, str, bool], None] | None = None
        self.stopping = False
        self._conn_ids = itertools.count(1)
        self._presence_reads = itertools.count(1)
        self.replay_cap = replay_cap
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.send_timeout_s = send_timeout_s
        self.close_timeout_s = close_timeout_s
        self.notsent_lowat = notsent_lowat  # TCP_NOTSENT_LOWAT of each socket; 0: the kernel's
        self.feeds: dict[str, Feed] = {}
        self.conns: set[Connection] = set()  # every open connection, joined or not
        self._heartbeats = asyncio.create_task(self._heartbeat())
        # The hub's reads run on threads of their own: on PostgreSQL the database pool's
        # threads can all be waiting on a session's row lock (writers), and fan-out must
        # not queue behind them.
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="evalsvc-hub"
        )

    async def read(self, fn: Callable[[SAConnection], T]) -> T:
        """Run ``fn`` in a read-only transaction on one of the hub's threads."""

        def run() -> T:
            engine = self.db.engine
            with engine.connect().execution_options(evalsvc_read=True) as c, c.begin():
                return fn(c)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.heartbeat_s / 3, self.send_timeout_s / 4))
            now = loop.time()
            for conn in list(self.conns):
                conn.check_stalled(now, self.send_timeout_s)
                conn.idle_heartbeat(now)

    def on_commit(self, session_id: str, seq: int, events: Sequence[Any] | None = None) -> None:
        """Bus listener: events up to ``seq`` exist for ``session_id`` (local or remote;
        ``events``, when given, are the committed rows)."""
        feed = self.feeds.get(session_id)
        if feed is None or seq <= feed.delivered:
            return
        if events and feed.try_fast_path(events):
            return
        feed.wake.set()

    def wake_all(self) -> None:
        """Make every feed re-read the table (after a lost notification channel)."""
        for feed in self.feeds.values():
            feed.wake.set()

    async def catch_up(self) -> None:
        """Wake the feeds that are behind the table (a safety net for wake-ups lost
        between another instance's commit and its NOTIFY)."""
        if not self.feeds:
            return
        ids = list(self.feeds)

        def tx(c: SAConnection) -> list[tuple[str, int]]:
            rows = c.execute(
                sa.text("SELECT id, last_seq FROM session WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            ).all()
            return [(str(r[0]), int(r[1])) for r in rows]

        for sid, last in await self.read(tx):
            self.on_commit(sid, last)

    def connection(
        self,
        principal: Principal,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        abort: Callable[[], None] | None = None,
    ) -> Connection:
        """A new connection with this hub's queue size, heartbeat and close timeout;
        ``abort`` drops the TCP connection (a kicked client that does not read)."""
        conn = Connection(
            principal,
            send,
            close,
            queue_size=self.queue_size,
            heartbeat_s=self.heartbeat_s,
            close_timeout_s=self.close_timeout_s,
            abort=abort,
            key=f"{self.instance}/{next(self._conn_ids)}",
            replay_budget=self.replay_cap + 1,
        )
        self.conns.add(conn)
        return conn

    def queued(self) -> tuple[int, int]:
        """(frames, UTF-8 bytes) queued for all connections of this instance: what
        memory the slow-consumer bound and the replay budget keep flat."""
        frames = size = 0
        for conn in self.conns:
            f, b = conn.queued()
            frames += f
            size += b
        return frames, size

    def revoke(self, token_ids: set[str]) -> None:
        """Close the connections authenticated by a token now revoked (evalsvc.tokens):
        ``bye token_revoked``, close 4401."""
        for conn in list(self.conns):
            if conn.principal.token_id in token_ids:
                log.info("closing %s: its token was revoked", conn.principal.actor)
                conn.kick("token_revoked", "your token was revoked: authenticate again")

    def forget(self, conn: Connection) -> None:
        """Drop ``conn`` from the registry (the handler's ``finally``)."""
        self.conns.discard(conn)

    async def join(self, conn: Connection, session_id: str, hello: protocol.Hello) -> None:
        """Sync ``conn`` from ``hello`` and subscribe it to ``session_id``."""
        if conn.feed is not None and conn.feed.session_id != session_id:
            self.leave(conn)
        feed = self.feeds.get(session_id)
        if feed is None:
            feed = self.feeds[session_id] = Feed(self, session_id)
        feed.pending += 1
        try:
            await feed.join(conn, hello)
        finally:
            feed.pending -= 1
            if not feed.pending:
                feed.end_burst()
            if not feed.conns and not feed.pending:
                self._drop_feed(feed)

    def leave(self, conn: Connection) -> None:
        """Unsubscribe ``conn`` from its feed (idempotent)."""
        if conn.feed is not None:
            conn.feed.leave(conn)

    def presence_ticket(self) -> int:
        """A number for a read of the other instances' presence (reads started later get
        larger numbers)."""
        return next(self._presence_reads)

    def presence_changed(self, session_id: str) -> None:
        """This instance's connections to ``session_id`` changed (tell the cluster)."""
        if self.cluster is not None:
            self.cluster.changed(session_id)

    def local_members(self, session_id: str) -> list[Member]:
        """This instance's members of ``session_id`` (what it publishes)."""
        feed = self.feeds.get(session_id)
        return [c.member for c in feed.conns] if feed is not None else []

    async def refresh_presence(self, session_ids: Iterable[str] | None = None) -> None:
        """Re-read the other instances' presence for ``session_ids`` (default: every
        session with a feed here) and tell the watchers what changed."""
        cluster = self.cluster
        ids = sorted(self.feeds if session_ids is None else set(session_ids) & set(self.feeds))
        if cluster is None or not ids:
            return
        ticket = self.presence_ticket()
        rosters = await self.read(lambda c: cluster.read(c, ids))
        for sid in ids:
            feed = self.feeds.get(sid)
            if feed is not None and feed.remote_read >= 0:  # joined: its first read is done
                feed.set_remote(rosters.get(sid, {}), ticket)

    def top(self, conn: Connection) -> int:
        """The seq fanned out to ``conn``'s feed (what a heartbeat reports)."""
        if conn.feed is None or conn.feed.delivered < 0:
            return conn.floor
        return max(conn.feed.delivered, conn.floor)

    def _drop_feed(self, feed: Feed) -> None:
        if self.feeds.get(feed.session_id) is feed:
            del self.feeds[feed.session_id]
        feed.task.cancel()

    def shutdown(self) -> None:
        """Say ``going_away`` to every connection (server shutdown; clients resume
        elsewhere or later)."""
        self.stopping = True
        for conn in list(self.conns):
            conn.kick("going_away", "the server is shutting down; resume from your seq")

    async def close(self) -> None:
        """Stop every feed (server shutdown)."""
        self.stopping = True
        self._heartbeats.cancel()
        self._readers.shutdown(wait=False, cancel_futures=True)
        for feed in list(self.feeds.values()):
            feed.task.cancel()
        self.feeds.clear()
