"""Expert pool and draw store: synchronous functions of a SQLAlchemy ``Connection``.

They run inside a transaction opened by :class:`evalsvc.db.Database` (or by the
``evalsvc experts import`` command), so an import, or a draw step with its session
events, is written all at once or not at all.
"""

from __future__ import annotations

__all__ = [
    "PoolReads",
    "Snapshot",
    "archive_snapshot",
    "import_experts",
    "invitations_of",
    "list_experts",
    "load_draw",
    "load_experts",
    "load_snapshot",
    "load_views",
    "pending_draws",
    "pool_opening",
    "pool_status",
    "prepare_snapshot",
    "record_evaluations",
    "same_tender",
    "save_draw",
    "session_bundle",
    "snapshot_experts",
]

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.canonical import canonical_bytes, canonical_sha256, storage_json
from evalsvc.errors import InvalidInput, NotFound
from evalsvc.experts.drawstate import DrawState, state_from_json, state_to_json
from evalsvc.experts.pool import (
    Evaluation,
    Expert,
    draw_view,
    expert_from_view,
    expert_to_json,
    masked_commitments,
    masked_values,
)
from evalsvc.experts.tables import (
    DrawStateRow,
    ExpertRow,
    InvitationRow,
    PoolCommitmentRow,
    PoolSnapshotRow,
)
from evalsvc.salts import SaltSource
from evalsvc.sessions.model import Session, tender_key

_X = cast(sa.Table, ExpertRow.__table__)  # type: ignore[attr-defined]
_C = cast(sa.Table, PoolCommitmentRow.__table__)  # type: ignore[attr-defined]
_P = cast(sa.Table, PoolSnapshotRow.__table__)  # type: ignore[attr-defined]
_D = cast(sa.Table, DrawStateRow.__table__)  # type: ignore[attr-defined]
_I = cast(sa.Table, InvitationRow.__table__)  # type: ignore[attr-defined]
_CHUNK = 500


def _ms(t: _dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def import_experts(conn: Connection, experts: Sequence[Expert], *, now_ms: int) -> tuple[int, int]:
    """Insert or replace ``experts`` (by id); (added, replaced)."""
    replaced = 0
    ids = [e.id for e in experts]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        replaced += conn.execute(sa.delete(_X).where(_X.c.id.in_(chunk))).rowcount or 0
    # Each masked personal field of a draw view is a salted commitment; its opening
    # (salt, value) stays here, server-side (docs/audit.md "Masked personal data").
    salt = SaltSource(16)
    rows: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    for e in experts:
        committed = masked_commitments(e, salt)
        values = masked_values(e)
        masked = {name: digest for name, (digest, _) in committed.items()}
        openings.append({
            "masked_sha256": canonical_sha256(masked), "expert_id": e.id, "created_ms": now_ms,
            "doc": storage_json({name: [s.hex(), values[name]]
                                 for name, (_, s) in committed.items()}),
        })
        rows.append({
            "id": e.id,
            "name": e.name,
            "resident_id": e.resident_id,
            "region": e.region,
            "status": e.status,
            "doc": storage_json(expert_to_json(e)),
            "view": canonical_bytes(draw_view(e, masked)).decode("utf-8"),
            "imported_ms": now_ms,
        })
    for i in range(0, len(rows), _CHUNK):
        conn.execute(sa.insert(_X), rows[i : i + _CHUNK])
    for i in range(0, len(openings), _CHUNK):
        conn.execute(sa.insert(_C), openings[i : i + _CHUNK])
    return len(experts) - replaced, replaced


def record_evaluations(
    conn: Connection, ids: Sequence[str], *, tenderer_uscc: str, on: _dt.date
) -> list[str]:
    """Add one evaluation (the tenderer's USCC, the date) to each pool member of ``ids``
    — the record the frequency rule counts (docs/draw.md §4, rule 7) — in its stored
    record and its draw view; returns the ids found in the pool (others are left out:
    a seat filled by designation may hold someone from outside it)."""
    found = load_experts(conn, ids)
    masked = _stored_masks(conn, found)
    for e in found.values():
        e = replace(e, evaluations=(*e.evaluations, Evaluation(tenderer_uscc, on)))
        conn.execute(
            sa.update(_X)
            .where(_X.c.id == e.id)
            .values(
                doc=storage_json(expert_to_json(e)),
                view=canonical_bytes(draw_view(e, masked.get(e.id))).decode("utf-8"),
            )
        )
    return sorted(found)


def _stored_masks(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The masked-field commitments the stored draw views carry (kept as they are when a
    view is rewritten: the personal fields did not change)."""
    out: dict[str, dict[str, str]] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        q = sa.select(_X.c.id, _X.c.view).where(_X.c.id.in_(wanted[i : i + _CHUNK]))
        for eid, view in conn.execute(q):
            masked = json.loads(view).get("masked") if view else None
            if isinstance(masked, dict):
                out[str(eid)] = masked
    return out


def pool_opening(conn: Connection, session_id: str, expert_id: str, field: str) -> dict[str, Any]:
    """The opening of one masked field of ``expert_id``'s draw view in the pool snapshot
    a draw of ``session_id`` used (the latest that holds the expert): what the primary
    gives a supervisor — ``{session, pool_sha256, expert, field, commitment, salt,
    value}``; ``evalsvc audit verify --opening`` checks it against a bundle."""
    from evalsvc.experts.pool import MASKED_FIELDS
    from evalsvc.sessions.store import list_events

    if field not in MASKED_FIELDS:
        raise InvalidInput(f"字段 {field} 不是被遮蔽的个人信息字段，可开启的字段: "
                           f"{', '.join(MASKED_FIELDS)}", field="field")
    opened = [e for e in _draw_events(conn, session_id) if e.type == "draw.opened"]
    if not opened and not list_events(conn, session_id, after=0, limit=1):
        raise NotFound(f"未知的评标会话 {session_id}")
    for e in reversed(opened):
        digest = str(e.payload.get("pool_sha256"))
        view = next((v for v in load_snapshot(conn, digest) if v.get("id") == expert_id), None)
        if view is None:
            continue
        masked = view.get("masked")
        if not isinstance(masked, dict) or field not in masked:
            raise NotFound(f"专家 {expert_id} 在会话 {session_id} 的专家库快照中没有遮蔽承诺"
                           "（快照早于承诺机制）")
        row = conn.execute(sa.select(_C.c.doc).where(
            _C.c.masked_sha256 == canonical_sha256(masked), _C.c.expert_id == expert_id)).first()
        kept = json.loads(row[0]).get(field) if row is not None else None
        if not isinstance(kept, list) or len(kept) != 2:
            raise NotFound(f"未保存专家 {expert_id} 字段 {field} 的开启值")
        return {"session": session_id, "pool_sha256": digest, "expert": expert_id,
                "field": field, "commitment": masked[field], "salt": str(kept[0]),
                "value": kept[1]}
    raise NotFound(f"专家 {expert_id} 不在会话 {session_id} 任何一次抽取的专家库快照中")


def pool_status(conn: Connection) -> dict[str, Any]:
    """Size of the pool, by region and by status, and the time of the last import."""
    by_region = {
        r: int(n)
        for r, n in conn.execute(sa.select(_X.c.region, sa.func.count()).group_by(_X.c.region))
    }
    by_status = {
        s: int(n)
        for s, n in conn.execute(sa.select(_X.c.status, sa.func.count()).group_by(_X.c.status))
    }
    last = conn.execute(sa.select(sa.func.max(_X.c.imported_ms))).scalar()
    return {
        "size": sum(by_region.values()),
        "by_region": dict(sorted(by_region.items())),
        "by_status": dict(sorted(by_status.items())),
        "last_import_ms": int(last) if last is not None else None,
    }


def _expert(doc: str) -> Expert:
    from evalsvc.experts.pool import validated_experts

    # The stored record is the import format: parse it through the same validation.
    return validated_experts(b"[" + doc.encode("utf-8") + b"]", fmt="json").experts[0]


def list_experts(
    conn: Connection, *, offset: int, limit: int, region: str | None = None
) -> list[Expert]:
    """One page of the pool in id order."""
    q = sa.select(_X.c.doc).order_by(_X.c.id).offset(offset).limit(limit)
    if region:
        q = q.where(_X.c.region == region)
    return [_expert(r[0]) for r in conn.execute(q)]


def load_views(conn: Connection) -> list[dict[str, Any]]:
    """The draw view of every expert of the pool, in pool (id) order."""
    views = [
        cast(dict[str, Any], json.loads(view)) if view else draw_view(_expert(doc))
        for view, doc in conn.execute(sa.select(_X.c.view, _X.c.doc))
    ]
    # Pool order is ascending id by bytes (docs/draw.md §2.1); a database collation may
    # sort otherwise, so sort here (ids are ASCII: str order is byte order).
    views.sort(key=lambda v: str(v["id"]))
    return views


def load_experts(conn: Connection, ids: Iterable[str]) -> dict[str, Expert]:
    """The experts with these ids (missing ids are left out)."""
    out: dict[str, Expert] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        for (doc,) in conn.execute(sa.select(_X.c.doc).where(_X.c.id.in_(wanted[i : i + _CHUNK]))):
            e = _expert(doc)
            out[e.id] = e
    return out


@dataclass(frozen=True)
class Snapshot:
    """The draw views a ceremony draws from: canonical JSON bytes and their digest."""

    body: bytes  # RFC 8785 bytes of the array of views, pool order
    sha256: str
    size: int
    excluded: frozenset[str]  # ids left out (already seated or invited in the session)
    views: tuple[dict[str, Any], ...]


def prepare_snapshot(conn: Connection, excluded: frozenset[str]) -> Snapshot:
    """The pool's draw views without ``excluded``, serialised once (docs/draw.md §2.1)."""
    views = tuple(v for v in load_views(conn) if v["id"] not in excluded)
    body = canonical_bytes(list(views))
    return Snapshot(body, hashlib.sha256(body).hexdigest(), len(views), excluded, views)


def archive_snapshot(conn: Connection, snap: Snapshot, *, now_ms: int) -> None:
    """Keep the draw views a ceremony draws from under their digest (once)."""
    if conn.execute(sa.select(_P.c.sha256).where(_P.c.sha256 == snap.sha256)).first():
        return
    conn.execute(
        sa.insert(_P).values(
            sha256=snap.sha256, size=snap.size, doc=snap.body.decode("utf-8"), created_ms=now_ms
        )
    )


def load_snapshot(conn: Connection, digest: str) -> list[dict[str, Any]]:
    """The archived draw views of ``digest``."""
    row = conn.execute(sa.select(_P.c.doc).where(_P.c.sha256 == digest)).first()
    if row is None:
        raise NotFound(f"no archived pool snapshot {digest}")
    return cast(list[dict[str, Any]], json.loads(row[0]))


def snapshot_experts(conn: Connection, digest: str) -> list[Expert]:
    """The archived snapshot as experts (draw views: no names or resident ID numbers)."""
    return [expert_from_view(v) for v in load_snapshot(conn, digest)]


class PoolReads:
    """The pool as a draw decision reads it, under the session's row lock: only when a
    ceremony opens or closes, or an expert is seated (a snapshot of 100,000 experts is
    not read for every step, so it is a read port rather than a snapshot field)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def prepare_snapshot(self, excluded: frozenset[str]) -> Snapshot:
        return prepare_snapshot(self._conn, excluded)

    def snapshot_experts(self, digest: str) -> list[Expert]:
        return snapshot_experts(self._conn, digest)

    def load_experts(self, ids: Iterable[str]) -> dict[str, Expert]:
        return load_experts(self._conn, ids)


def load_draw(conn: Connection, session_id: str) -> DrawState | None:
    """The draw state of a session, if a draw was ever opened."""
    row = conn.execute(sa.select(_D.c.doc).where(_D.c.session_id == session_id)).first()
    return state_from_json(json.loads(row[0])) if row else None


def save_draw(conn: Connection, state: DrawState, *, now_ms: int) -> None:
    """Write the draw state and its invitations (replacing what was there)."""
    now = _dt.datetime.fromtimestamp(now_ms / 1000, _dt.UTC)
    nxt = state.next_deadline(now)
    values = {
        "doc": storage_json(state_to_json(state)),
        "next_deadline_ms": _ms(nxt) if nxt else None,
        "updated_ms": now_ms,
    }
    done = conn.execute(
        sa.update(_D).where(_D.c.session_id == state.session_id).values(**values)
    ).rowcount
    if not done:
        conn.execute(sa.insert(_D).values(session_id=state.session_id, **values))
    conn.execute(sa.delete(_I).where(_I.c.session_id == state.session_id))
    if state.book is not None:
        rows = [
            {
                "session_id": state.session_id,
                "seat": state.seat_map[i.seat],
                "rank": i.rank,
                "expert_id": i.expert_id,
                "venue_id": str(state.seat_venues[i.seat]),
                "status": i.status,
                "deadline_ms": _ms(i.deadline),
            }
            for i in state.book.invitations
        ]
        if rows:
            conn.execute(sa.insert(_I), rows)


def pending_draws(conn: Connection) -> list[tuple[str, int]]:
    """(session id, next deadline in unix ms) of every draw with something pending."""
    rows = conn.execute(
        sa.select(_D.c.session_id, _D.c.next_deadline_ms)
        .where(_D.c.next_deadline_ms.is_not(None))
        .order_by(_D.c.next_deadline_ms)
    )
    return [(str(r[0]), int(r[1])) for r in rows]


def invitations_of(conn: Connection, expert_id: str) -> list[dict[str, Any]]:
    """Every invitation of one expert, newest deadline first."""
    rows = conn.execute(
        sa.select(_I.c.session_id, _I.c.seat, _I.c.rank, _I.c.venue_id, _I.c.status,
                  _I.c.deadline_ms)
        .where(_I.c.expert_id == expert_id, _I.c.status != "skipped")
        .order_by(_I.c.deadline_ms.desc())
    )
    return [
        {"session_id": r[0], "seat": r[1], "rank": r[2], "venue_id": r[3], "status": r[4],
         "deadline_ms": r[5]}
        for r in rows
    ]


def _draw_events(conn: Connection, session_id: str) -> list[Any]:
    from evalsvc.sessions.store import list_events

    events = []
    after = 0
    while True:
        page = list_events(conn, session_id, after=after, limit=1000)
        if not page:
            break
        events += [e for e in page if e.type.startswith("draw.")]
        after = page[-1].seq
    return events


def session_ceremonies(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """Every ceremony of a session as its events record it: number, parties, outcome
    (``drawn``, ``failed``, ``open``), the failure, and every party dropped with its
    reason — including parties that never committed (``docs/draw.md`` §6.5)."""
    events = _draw_events(conn, session_id)
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for e in events:
        p = e.payload
        if e.type == "draw.opened":
            cur = {"number": p["ceremony"], "parties": list(p["parties"]), "committed": [],
                   "revealed": [], "outcome": "open", "reason": None, "message": None,
                   "dropped": [], "approval": p.get("approval")}
            out.append(cur)
        elif cur is None:
            continue
        elif e.type == "draw.committed":
            cur["committed"].append(p["party"])
        elif e.type == "draw.revealed":
            cur["revealed"].append(p["party"])
        elif e.type == "draw.seeded":
            cur["dropped"] = list(p.get("dropped", []))
        elif e.type == "draw.drawn":
            cur["outcome"] = "drawn"
        elif e.type == "draw.failed" and p.get("ceremony") == cur["number"]:
            cur["outcome"], cur["reason"], cur["message"] = "failed", p["reason"], p["message"]
            cur["dropped"] = p.get("dropped") or [
                {"party": x, "reason": "no_commitment" if x not in cur["committed"]
                 else "no_reveal"}
                for x in cur["parties"] if x not in cur["revealed"]]
    return out


def session_bundle(
    conn: Connection, session_id: str, *, ceremony: int | None = None
) -> dict[str, Any]:
    """The draw bundle of a recorded draw, rebuilt from the session's events and the
    archived pool snapshot (``docs/draw.md`` §4.1): the last drawn ceremony unless told."""
    from evalsvc.experts.bundle import BUNDLE_FORMAT
    from evalsvc.sessions.store import list_events

    events = _draw_events(conn, session_id)
    drawn = [e for e in events if e.type == "draw.drawn"
             and (ceremony is None or e.payload.get("ceremony") == ceremony)]
    if not drawn:
        if not any(e.type == "session.created" for e in list_events(
                conn, session_id, after=0, limit=1)):
            raise NotFound(f"no session {session_id!r}")
        which = f"ceremony {ceremony}" if ceremony is not None else "any ceremony"
        raise NotFound(f"session {session_id} has no recorded draw for {which}")
    d = drawn[-1]
    number = d.payload.get("ceremony")
    opened = next(e for e in reversed(events)
                  if e.type == "draw.opened" and e.payload.get("ceremony") == number
                  and e.seq < d.seq)
    within = [e for e in events if opened.seq < e.seq < d.seq]
    o = opened.payload
    return {
        "format": BUNDLE_FORMAT,
        "session": session_id,
        "rules": o["rules"],
        "rules_sha256": o["rules_sha256"],
        "pool_sha256": o["pool_sha256"],
        "pool": load_snapshot(conn, o["pool_sha256"]),
        "ceremony": {
            "commit_deadline": o["commit_deadline"],
            "reveal_deadline": o["reveal_deadline"],
            "minimum": o["minimum"],
            "commitments": [e.payload for e in within if e.type == "draw.committed"],
            "reveals": [e.payload for e in within if e.type == "draw.revealed"],
            **({"number": number, "binding": o["ceremony_id"], "parties": o["parties"]}
               if o.get("ceremony_id") else {}),
        },
        "seed": d.payload["result"]["seed"],
        "result": d.payload["result"],
        "result_sha256": d.payload["result_sha256"],
    }


def same_tender(a: Session, b: Session) -> str | None:
    """Why ``a`` and ``b`` are sessions of one tender (``docs/draw.md`` §6.8), or None.

    The tender number (招标项目编号, compared as :func:`tender_key` folds it) decides
    first. A primary that registers the tender again under a new number is still caught
    by the tenderer (the same name or USCC) with either the same title or the same set
    of bidders: renaming the title keeps the bidders, replacing the bidders keeps the
    title."""
    if a.tender_number and b.tender_number and (
            tender_key(a.tender_number) == tender_key(b.tender_number)):
        return "tender_number"
    same_tenderer = a.tenderer.strip() == b.tenderer.strip() or (
        a.tenderer_uscc is not None and a.tenderer_uscc == b.tenderer_uscc)
    if not same_tenderer:
        return None
    if a.title.strip() == b.title.strip():
        return "tenderer_title"
    bidders_a = {x.uscc.upper() for x in a.bids}
    if bidders_a and bidders_a == {x.uscc.upper() for x in b.bids}:
        return "tenderer_bidders"
    return None


def earlier_sessions(conn: Connection, s: Session) -> list[dict[str, Any]]:
    """Earlier sessions of the same tender as ``s`` (``docs/draw.md`` §6.8), each with
    its state and everyone its draws invited or seated (for supervisors)."""
    from evalsvc.sessions.store import list_sessions

    out = []
    for other, _ in list_sessions(conn):
        if other.id == s.id or other.created_at > s.created_at:
            continue
        why = same_tender(s, other)
        if why is None:
            continue
        st = load_draw(conn, other.id)
        out.append({
            "session_id": other.id,
            "tender_number": other.tender_number,
            "matched_by": why,
            "state": other.state.value,
            "abort_reason": other.abort_reason,
            "ceremonies": st.number if st else 0,
            "invited": [{"seat": st.seat_map[i.seat], "expert_id": i.expert_id,
                         "status": i.status} for i in st.book.invitations]
            if st is not None and st.book is not None else [],
            "seated": [{"seat": x.index, "expert_id": x.expert_id} for x in other.seats
                       if x.expert_id],
        })
    return out
