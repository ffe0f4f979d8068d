"""The mirror served read-only over HTTP to the venue's operators.

The database is opened ``mode=ro`` with ``query_only``: the venue can read its records
whether or not the primary is reachable, and nothing here can change them. One POST
route exists: ``/add-checkpoint``, the venue's C2SP tlog-witness endpoint (the same
handler as ``add_checkpoint`` over the link; its state lives in the mirror, written by
the agent, never by this listener's read-only connection — and is authenticated by the
log's signature on the checkpoint). Reading the records needs the venue's view token
(``Authorization: Bearer …``, a secret the agent creates 0600 on first start and the
venue's operators are given); ``/healthz`` says only whether the links are up.
"""

from __future__ import annotations

__all__ = ["AGENT", "create_readonly_app"]

import asyncio
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp import web

from evalsvc.venues.agent import Agent
from evalsvc.venues.mirror import open_readonly

AGENT: web.AppKey[Agent] = web.AppKey("agent", Agent)
_CONN: web.AppKey[sqlite3.Connection] = web.AppKey("mirror_ro", sqlite3.Connection)
_LOCK: web.AppKey[asyncio.Lock] = web.AppKey("mirror_lock", asyncio.Lock)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(doc, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


async def _query(request: web.Request, sql: str, params: tuple[Any, ...]) -> list[Any]:
    conn = request.app[_CONN]
    async with request.app[_LOCK]:  # one sqlite3 connection: one query at a time
        return await asyncio.to_thread(lambda: conn.execute(sql, params).fetchall())


async def healthz(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return _json(
        {
            "status": "ok",
            "venue": agent.venue,
            "primary": agent.primary,
            "links": {sid: ("connected" if up else "down") for sid, up in agent.connected.items()},
            # A primary caught showing this venue another history than the one its
            # witnesses cosigned (docs/audit.md "Venue views"): the operators must see it.
            "split_views": {sid: split.detail for sid, split in agent.splits.items()},
        }
    )


async def list_sessions(request: web.Request) -> web.Response:
    rows = await _query(
        request,
        "SELECT session_id, title, epoch, last_seq, hash, updated_ms, "
        "(SELECT count(*) FROM audit_entry a WHERE a.session_id = c.session_id), "
        "(SELECT kind || ': ' || detail FROM split s WHERE s.session_id = c.session_id) "
        "FROM cursor c WHERE session_id NOT LIKE '%@%' ORDER BY session_id",
        (),
    )
    # verified_seq: events up to it are checked against a cosigned checkpoint; the
    # others are pending. split_view: set once the primary was caught forking its log.
    keys = ("id", "title", "epoch", "last_seq", "hash", "updated_ms", "verified_seq",
            "split_view")
    return _json({"sessions": [dict(zip(keys, r, strict=True)) for r in rows]})


def _int(request: web.Request, name: str, default: int, hi: int) -> int:
    try:
        v = int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None
    return max(0, min(v, hi))


async def list_events(request: web.Request) -> web.Response:
    sid = request.match_info["session_id"]
    after = _int(request, "after", 0, 2**53)
    limit = max(1, _int(request, "limit", 1000, 1000))
    cur = await _query(
        request,
        "SELECT last_seq, (SELECT count(*) FROM audit_entry WHERE session_id = ?) "
        "FROM cursor WHERE session_id = ?",
        (sid, sid),
    )
    if not cur:
        return _json({"code": "not_found", "message": f"no session {sid!r} in this mirror"}, 404)
    rows = await _query(
        request,
        "SELECT seq, type, payload, actor, venue, time_ms FROM event "
        "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (sid, after, limit),
    )
    events = [
        {
            "seq": r[0],
            "type": r[1],
            "payload": json.loads(r[2]),
            "actor": r[3],
            "venue": r[4],
            "time_ms": r[5],
            "verified": r[0] <= cur[0][1],  # checked against the signed log, or pending
        }
        for r in rows
    ]
    return _json({"last_seq": cur[0][0], "verified_seq": cur[0][1], "events": events})


async def list_snapshots(request: web.Request) -> web.Response:
    sid = request.match_info["session_id"]
    rows = await _query(
        request, "SELECT seq, reason, doc FROM snapshot WHERE session_id = ? ORDER BY seq", (sid,)
    )
    return _json(
        {"snapshots": [{"seq": r[0], "reason": r[1], "session": json.loads(r[2])} for r in rows]}
    )


async def add_checkpoint(request: web.Request) -> web.Response:
    """C2SP tlog-witness ``POST /add-checkpoint``: 200 with the cosignature line(s), 409
    with the size this venue holds (``text/x.tlog.size``) or on a fork, 422 on a bad
    proof, 403 for an unknown log key, 404 for an unknown log."""
    if request.content_length is not None and request.content_length > 64 * 1024:
        return web.Response(status=413, text="request too large\n")
    try:
        body = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        return web.Response(status=400, text="request body is not UTF-8\n")
    status, text, ctype = await asyncio.to_thread(request.app[AGENT].handle_add_checkpoint, body)
    mime, _, params = ctype.partition(";")
    charset = params.partition("=")[2].strip() or None
    return web.Response(status=status, text=text, content_type=mime.strip(), charset=charset)


def _require_view_token(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "GET" and request.path != "/healthz":
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _json(
                    {
                        "code": "unauthenticated",
                        "detail": "the venue's view token is required (Authorization: Bearer)",
                    },
                    status=401,
                )
        response: web.StreamResponse = await handler(request)
        return response

    return check


def create_readonly_app(
    agent: Agent, mirror_path: Path, *, view_token: str | None = None
) -> web.Application:
    """The mirror, read-only (behind ``view_token`` when given), plus the witness endpoint."""
    app = web.Application(middlewares=[_require_view_token(view_token)] if view_token else [])
    app[AGENT] = agent
    app[_CONN] = open_readonly(mirror_path)
    app[_LOCK] = asyncio.Lock()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/sessions", list_sessions)
    app.router.add_get("/sessions/{session_id}/events", list_events)
    app.router.add_get("/sessions/{session_id}/snapshots", list_snapshots)
    app.router.add_post("/add-checkpoint", add_checkpoint)

    async def _close(app: web.Application) -> None:
        app[_CONN].close()

    app.on_cleanup.append(_close)
    return app
