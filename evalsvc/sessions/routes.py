"""REST routes of the session API (``/api/sessions…``): thin handlers over the service."""

from __future__ import annotations

__all__ = ["ROUTES", "SESSIONS"]

from aiohttp import web

from evalsvc.httpkit import (
    Param,
    Route,
    authenticated,
    idempotency_key,
    int_query,
    json_response,
    read_json,
    shape,
)
from evalsvc.sessions import schemas
from evalsvc.sessions.service import Result, SessionService

SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions", SessionService)
# An event's seq is an INTEGER column (sessions/tables.py EventRow): PostgreSQL refuses
# to compare it with a larger number (a 500 Schemathesis found), SQLite does not.
MAX_SEQ = 2**31 - 1
ALL = ("operator", "expert", "supervisor", "site_supervisor")


def _result(r: Result) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if r.replayed else None
    return json_response(r.body, status=r.status, headers=headers)


async def list_sessions(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response({"sessions": await request.app[SESSIONS].list(p)})


async def create_session(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    return _result(await request.app[SESSIONS].create(p, body, key=key))


async def get_session(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(await request.app[SESSIONS].get(p, request.match_info["session_id"]))


async def add_bid(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    return _result(
        await request.app[SESSIONS].add_bid(p, request.match_info["session_id"], body, key=key)
    )


async def add_criterion(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    return _result(
        await request.app[SESSIONS].add_criterion(
            p, request.match_info["session_id"], body, key=key
        )
    )


async def run_command(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    return _result(
        await request.app[SESSIONS].command(p, request.match_info["session_id"], body, key=key)
    )


async def submit_sheet(request: web.Request) -> web.Response:
    p = authenticated(request)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await read_json(request)
    return _result(
        await request.app[SESSIONS].submit_sheet(p, request.match_info["session_id"], body, key=key)
    )


async def get_progress(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(await request.app[SESSIONS].progress(p, request.match_info["session_id"]))


async def get_aggregation(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(
        await request.app[SESSIONS].aggregation(p, request.match_info["session_id"])
    )


async def get_report(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(await request.app[SESSIONS].report(p, request.match_info["session_id"]))


async def get_pledge(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(
        await request.app[SESSIONS].pledge_text(p, request.match_info["session_id"])
    )


async def get_events(request: web.Request) -> web.Response:
    p = authenticated(request)
    after = int_query(request, "after", 0, lo=0, hi=MAX_SEQ)
    limit = int_query(request, "limit", 100, lo=1, hi=1000)
    wait = int_query(request, "wait", 0, lo=0, hi=30)
    return json_response(
        await request.app[SESSIONS].events(
            p, request.match_info["session_id"], after=after, limit=limit, wait=float(wait)
        )
    )


async def record_incident(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    r = await request.app[SESSIONS].record_incident(
        p, request.match_info["session_id"], body, key=key)
    headers = {"Idempotent-Replayed": "true"} if r.replayed else None
    return json_response(r.body, status=201, headers=headers)


async def get_alerts(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(await request.app[SESSIONS].alerts(p, request.match_info["session_id"]))


async def get_expert_review(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(
        await request.app[SESSIONS].expert_review(p, request.match_info["expert_id"])
    )


_SID = "/api/sessions/{session_id}"
_ALERT = shape({"rule": "string", "point": "string", "title": "string", "source": "string",
                "subject": "object", "evidence": "object"})

# What every session summary, event and command result has (docs/api.md has the rest).
_SUMMARY = shape(
    {"id": "string", "state": "string", "last_seq": "integer"},
    {"title": ["string", "null"], "stage": ["string", "null"], "primary_venue": "string"},
)
_EVENT = shape({"seq": "integer", "type": "string"}, {"payload": "object"})
_COMMAND_RESULT = shape({"state": "string"}, {"command": "string", "seq": "integer"})

ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/sessions",
        list_sessions,
        "List the sessions you may see",
        roles=ALL,
        response=shape({"sessions": {"type": "array", "items": _SUMMARY}}),
    ),
    Route(
        "POST",
        "/api/sessions",
        create_session,
        "Register a session (operator of its primary venue)",
        roles=("operator",),
        body=schemas.SessionCreate,
        ok_status=201,
        idempotent=True,
    ),
    Route("GET", _SID, get_session, "Read a session (identities masked per role)", roles=ALL),
    Route(
        "POST",
        _SID + "/bids",
        add_bid,
        "Register a bid (draft; primary operator)",
        roles=("operator",),
        body=schemas.BidIn,
        ok_status=201,
        idempotent=True,
    ),
    Route(
        "POST",
        _SID + "/criteria",
        add_criterion,
        "Add a criterion (draft; primary operator)",
        roles=("operator",),
        body=schemas.CriterionIn,
        ok_status=201,
        idempotent=True,
    ),
    Route(
        "POST",
        _SID + "/commands",
        run_command,
        "Run a lifecycle command (open_draw, assign_seat, …, seal, pause, resume, abort)",
        roles=ALL,
        body=schemas.CommandIn,
        idempotent=True,
        response=_COMMAND_RESULT,
    ),
    Route(
        "POST",
        _SID + "/sheets",
        submit_sheet,
        "Submit your score sheet for the current stage (idempotent by Idempotency-Key)",
        roles=("expert",),
        body=schemas.SheetIn,
        ok_status=201,
        idempotent=True,
        key_required=True,
    ),
    Route(
        "GET",
        _SID + "/progress",
        get_progress,
        "Which seats have submitted which stage (and your own sheets)",
        roles=ALL,
    ),
    Route(
        "GET",
        _SID + "/aggregation",
        get_aggregation,
        "Committee result: totals, ranking, deviations (once scoring is locked)",
        roles=ALL,
        errors=((409, "scoring is not locked yet"),),
    ),
    Route(
        "GET",
        _SID + "/report",
        get_report,
        "The final report to sign: document, SHA-256 and signing_bytes (once reporting)",
        roles=ALL,
        errors=((409, "the session is not reporting yet"),),
    ),
    Route(
        "POST",
        _SID + "/incidents",
        record_incident,
        "Record an incident at a venue (现场监督记录): a site supervisor at its own venue,"
        " the tender's supervisor at the venue it names",
        roles=("site_supervisor", "supervisor"),
        body=schemas.RecordIncidentBody,
        ok_status=201,
        idempotent=True,
        response=shape({"state": "string", "incident": shape(
            {"id": "integer", "venue_id": "string", "category": "string", "text": "string",
             "occurred_at": "integer"})}),
        errors=((409, "the session is not between the draw and the report"),),
    ),
    Route(
        "GET",
        _SID + "/alerts",
        get_alerts,
        "Pattern alerts (collusion, review quality) of each check point and the incidents"
        " (the tender's supervisor); a site supervisor: its venue's incidents",
        roles=("supervisor", "site_supervisor"),
        response=shape({"session_id": "string", "checks": {"type": "array", "items": shape(
            {"seq": "integer", "point": "string",
             "alerts": {"type": "array", "items": _ALERT}})},
            "incidents": {"type": "array", "items": {"type": "object"}}}),
    ),
    Route(
        "GET",
        "/api/experts/{expert_id}/review",
        get_expert_review,
        "An expert's review record (专家评审质量): alerts and observations (supervisors only)",
        roles=("supervisor",),
        response=shape({"expert_id": "string", "sessions": "integer",
                        "alerts_by_rule": "object",
                        "alerts": {"type": "array", "items": _ALERT},
                        "observations": {"type": "array", "items": {"type": "object"}}}),
    ),
    Route(
        "GET",
        _SID + "/pledge",
        get_pledge,
        "The integrity pledge (承诺书) a member accepts after check-in: version, text, sha256",
        roles=ALL,
        response=shape({"version": "string", "text": "string", "sha256": "string"}),
    ),
    Route(
        "GET",
        _SID + "/events",
        get_events,
        "The session's events after a sequence number",
        roles=ALL,
        response=shape(
            {"last_seq": "integer", "events": {"type": "array", "items": _EVENT}}
        ),
        query=(
            Param("after", "integer", "return events with seq > after", minimum=0, maximum=MAX_SEQ),
            Param("limit", "integer", "at most this many (default 100)", minimum=1, maximum=1000),
            Param("wait", "integer", "long-poll up to this many seconds", minimum=0, maximum=30),
        ),
    ),
]
