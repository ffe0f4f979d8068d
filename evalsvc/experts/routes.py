"""REST routes of the expert pool, the draw ceremony and the invitations: thin handlers
over :class:`~evalsvc.experts.service.DrawService` (``docs/draw.md`` §6)."""

from __future__ import annotations

__all__ = ["DRAWS", "ROUTES"]

from aiohttp import web

from evalsvc.errors import InvalidInput
from evalsvc.experts.pool import REGIONS
from evalsvc.experts.service import (
    AnswerIn,
    ApprovalIn,
    CommitmentIn,
    DrawOpenIn,
    DrawService,
    RevealIn,
)
from evalsvc.httpkit import (
    Param,
    Route,
    authenticated,
    int_query,
    json_response,
    read_json,
    shape,
)
from evalsvc.sessions.access import require_unscoped

DRAWS: web.AppKey[DrawService] = web.AppKey("draws", DrawService)
ALL = ("operator", "expert", "supervisor")
STAFF = ("operator", "supervisor")


async def get_pool(request: web.Request) -> web.Response:
    p = authenticated(request)
    require_unscoped(p, "read the expert pool")
    return json_response(await request.app[DRAWS].pool(p))


async def list_experts(request: web.Request) -> web.Response:
    p = authenticated(request)
    require_unscoped(p, "read the expert pool")
    offset = int_query(request, "offset", 0, lo=0, hi=10**9)
    limit = int_query(request, "limit", 50, lo=1, hi=500)
    region = request.query.get("region") or None
    if region is not None and region not in REGIONS:
        # Checked here, not by the database: PostgreSQL refuses a NUL in a text
        # parameter (a 500 Schemathesis found), SQLite answered an empty page.
        raise InvalidInput(f"region must be one of {', '.join(REGIONS)}", field="region")
    return json_response(
        await request.app[DRAWS].experts(p, offset=offset, limit=limit, region=region)
    )


async def open_draw(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    doc = await request.app[DRAWS].open(p, request.match_info["session_id"], body)
    return json_response(doc, status=201)


async def get_draw(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response(await request.app[DRAWS].status(p, request.match_info["session_id"]))


async def post_commitment(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    doc = await request.app[DRAWS].commit(p, request.match_info["session_id"], body)
    return json_response(doc, status=201)


async def post_reveal(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    doc = await request.app[DRAWS].reveal(p, request.match_info["session_id"], body)
    return json_response(doc, status=201)


async def get_bundle(request: web.Request) -> web.Response:
    p = authenticated(request)
    number = int_query(request, "ceremony", 0, lo=0, hi=10**6)  # 0: the last drawn
    return json_response(await request.app[DRAWS].bundle(
        p, request.match_info["session_id"], ceremony=number or None))


async def post_approval(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    doc = await request.app[DRAWS].approve(p, request.match_info["session_id"], body)
    return json_response(doc, status=201)


async def answer_invitation(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    return json_response(
        await request.app[DRAWS].answer(p, request.match_info["session_id"], body)
    )


async def my_invitations(request: web.Request) -> web.Response:
    p = authenticated(request)
    return json_response({"invitations": await request.app[DRAWS].my_invitations(p)})


_SID = "/api/sessions/{session_id}"

ROUTES: list[Route] = [
    Route("GET", "/api/experts/pool", get_pool,
          "Size of the expert pool by region and status (supervisors)",
          roles=("supervisor",), tag="experts"),
    Route("GET", "/api/experts", list_experts,
          "A page of the expert pool (supervisors)",
          roles=("supervisor",), tag="experts",
          query=(Param("offset", "integer", "skip this many (id order)", minimum=0, maximum=10**9),
                 Param("limit", "integer", "at most this many (default 50)", minimum=1,
                       maximum=500),
                 Param("region", "string", "only this region", enum=REGIONS))),
    Route("POST", _SID + "/draw", open_draw,
          "Open a seed ceremony for the draw (primary operator; session in drawing)",
          roles=("operator",), body=DrawOpenIn, ok_status=201, tag="draw"),
    Route("GET", _SID + "/draw", get_draw,
          "The draw: ceremony progress, seats and invitations (identities per venue)",
          roles=STAFF, tag="draw"),
    Route("POST", _SID + "/draw/commitments", post_commitment,
          "A party's commitment (operator of a participating venue, or the supervisor)",
          roles=STAFF, body=CommitmentIn, ok_status=201, tag="draw"),
    Route("GET", _SID + "/draw/bundle", get_bundle,
          "The draw bundle of a ceremony, for `evalsvc draw verify --bundle` (supervisors;"
          " everyone once the session is sealed)", roles=STAFF, tag="draw"),
    Route("POST", _SID + "/draw/approvals", post_approval,
          "A supervisor approves a new ceremony after a failed one, or new draw terms",
          roles=("supervisor",), body=ApprovalIn, ok_status=201, tag="draw"),
    Route("POST", _SID + "/draw/reveals", post_reveal,
          "A party's reveal; the last one due computes the seed and runs the draw",
          roles=STAFF, body=RevealIn, ok_status=201, tag="draw"),
    Route("POST", _SID + "/invitation", answer_invitation,
          "Confirm or decline your invitation (invited expert)",
          roles=("expert",), body=AnswerIn, tag="draw"),
    Route("GET", "/api/invitations", my_invitations,
          "Your invitations: time and venue only (expert)", roles=("expert",), tag="draw",
          response=shape({"invitations": {"type": "array", "items": {"type": "object"}}})),
]
