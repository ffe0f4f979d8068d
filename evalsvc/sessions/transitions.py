"""One unit of work, decided: what a change reads, and what it writes. Pure.

Every write of evalsvc — a session command, a score sheet, a draw step, a certificate
login, a trust reload — is a :class:`Transition`. It names the session it locks, who
acts, its idempotency key and what it needs read (:class:`Needs`); given the
:class:`Snapshot` the store read under the session's row lock, :func:`decide` answers
either a :class:`Replay` (the key was used before: the first answer, or a conflict) or
a :class:`Change`: the new session, the events to record, the response, the score
sheet and the extras (the draw state) to write with them.

Nothing here touches the database: the store's drivers (:mod:`evalsvc.sessions.store.writes`,
:mod:`evalsvc.sessions.store.pipelined`, :mod:`evalsvc.sessions.store.batched`) read the
snapshot and write the change, and :mod:`evalsvc.sessions.uow` runs them and publishes
after COMMIT. A transition's ``decide`` is a function of the snapshot alone.
"""

from __future__ import annotations

__all__ = [
    "Change",
    "Decide",
    "Needs",
    "Replay",
    "Result",
    "SheetOpening",
    "SheetVersion",
    "Snapshot",
    "StoredResponse",
    "Transition",
    "decide",
]

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evalsvc.errors import IdempotencyConflict
from evalsvc.sessions.machine import Event
from evalsvc.sessions.model import Session, Sheet, Stage


@dataclass(frozen=True)
class Result:
    """What a write answers: an HTTP-ish status, the response document, replay flag."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Needs:
    """What a transition reads besides the session row (under its lock)."""

    # The latest version of this expert's sheet at the session's current stage.
    sheet_version_of: str | None = None
    # The latest sheet of every seat at this stage (locking a stage aggregates them).
    sheets: Stage | None = None
    # Extras registered with the unit of work by name (the draw state, the witnesses'
    # quorum): each is read for the locked session by its registered loader.
    extras: tuple[str, ...] = ()
    # The session does not exist yet: nothing to lock, the change inserts it.
    creates: bool = False
    # The change may run batched with others — a PostgreSQL pipeline, a SQLite batch —
    # (needs nothing but the session row, the key and the sheet version; never a
    # milestone, never the session document or extras written).
    batch: bool = False


@dataclass(frozen=True)
class StoredResponse:
    """The answer remembered under an idempotency key."""

    request_sha256: str
    status: int
    body: Any


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision may look at, read in the transaction that will write it."""

    session: Session | None  # None only when the transition creates the session
    last_seq: int
    now_ms: int
    replay: StoredResponse | None = None
    sheet_version: int = 0  # of Needs.sheet_version_of's sheet (0: none yet)
    sheets: tuple[Sheet, ...] = ()
    # With ``Needs.sheets``: every version of every seat's sheet at that stage, to open.
    openings: tuple[SheetOpening, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def locked(self) -> Session:
        """The locked session (a transition that does not create one always has it)."""
        assert self.session is not None, "this transition creates its session"
        return self.session


@dataclass(frozen=True)
class SheetVersion:
    """A new version of a seat's score sheet, written with its ``sheet.submitted``."""

    sheet: Sheet
    expert_id: str
    version: int
    doc: str  # the canonical JSON stored (and hashed)
    sha256: str
    commitment: str  # HMAC-SHA256(salt, doc), hex: all the event says of the scores
    salt: str  # hex, disclosed when the stage is locked
    signature: dict[str, Any] | None = None  # the verified signature record, if signed


@dataclass(frozen=True)
class SheetOpening:
    """What opens a sheet's commitment once its stage is locked."""

    seat: int
    version: int
    doc: str
    salt: str | None  # None: written before sheets were sealed (schema 1)
    signature: dict[str, Any] | None


@dataclass(frozen=True)
class Change:
    """What a decision writes: the session (if ``changed``), the events, the response."""

    session: Session
    events: tuple[Event, ...]
    status: int
    body: dict[str, Any]
    changed: bool = True
    sheet: SheetVersion | None = None
    # Extras to write, by registered name (the draw state, the pool snapshot archived).
    extras: Mapping[str, Any] = field(default_factory=dict)
    # The response gets ``"seq"``: the session's last seq after the change.
    with_seq: bool = True


@dataclass(frozen=True)
class Replay:
    """The key was used before with the same request: its first answer, again."""

    status: int
    body: Any


Decide = Callable[[Snapshot], Change]


@dataclass(frozen=True)
class Transition:
    """One unit of work: who acts on which session, and the decision."""

    session_id: str
    actor: str
    venue: str | None
    decide: Decide
    key: str | None = None
    request_sha256: str = ""
    needs: Needs = field(default_factory=Needs)
    # The route the key is scoped to with the actor and the session ("sheet", "command").
    route: str = ""

    @property
    def key_session(self) -> str:
        """The session part of the key's scope (a session being created has none yet)."""
        return "-" if self.needs.creates else self.session_id


def decide(t: Transition, snap: Snapshot) -> Change | Replay:
    """The decision of ``t`` over ``snap``: a replay of the key's first answer, or the
    change (its response carrying the seq it will have once written)."""
    if snap.replay is not None:
        if snap.replay.request_sha256 != t.request_sha256:
            raise IdempotencyConflict(
                f"Idempotency-Key {t.key!r} was already used with a different request body"
            )
        return Replay(snap.replay.status, snap.replay.body)
    change = t.decide(snap)
    if change.with_seq:
        # (A constructor call, not dataclasses.replace: this runs for every write.)
        body = {**change.body, "seq": snap.last_seq + len(change.events)}
        change = Change(
            change.session,
            change.events,
            change.status,
            body,
            change.changed,
            change.sheet,
            change.extras,
            False,
        )
    return change
