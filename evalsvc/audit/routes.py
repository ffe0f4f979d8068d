"""Supervisor access to the audit log (``/api/sessions/{id}/audit/…``, ``/api/audit/key``).

Texts are served in their specified formats (``text/plain``): signed notes per C2SP
signed-note/tlog-checkpoint, single-entry proofs per C2SP tlog-proof, policies per
docs/audit.md, so that they can be saved and checked offline as they are.
"""

from __future__ import annotations

__all__ = ["AUDIT", "ROUTES"]

import base64

from aiohttp import web

from evalsvc.audit.leaf import leaf_of_entry
from evalsvc.audit.service import AuditService
from evalsvc.experts.routes import DRAWS
from evalsvc.httpkit import (
    Param,
    Route,
    authenticated,
    idempotency_key,
    int_path,
    int_query,
    json_response,
    read_json,
    shape,
)
from evalsvc.sessions.routes import SESSIONS

AUDIT: web.AppKey[AuditService] = web.AppKey("audit", AuditService)
SUPERVISOR = ("supervisor",)


async def _visible(request: web.Request) -> str:
    """The session id, after checking the supervisor may see it (404 otherwise)."""
    p = authenticated(request)
    sid = request.match_info["session_id"]
    await request.app[SESSIONS].get(p, sid)
    return sid


async def get_log_key(request: web.Request) -> web.Response:
    sid = await _visible(request)
    audit = request.app[AUDIT]
    return json_response({"origin": audit.origin(sid), "log_vkey": audit.vkey(sid)})


async def get_checkpoint(request: web.Request) -> web.Response:
    sid = await _visible(request)
    size = int_query(request, "size", -1, lo=0, hi=2**62) if "size" in request.query else None
    return web.Response(
        text=await request.app[AUDIT].checkpoint(sid, size), content_type="text/plain"
    )


async def get_entry(request: web.Request) -> web.Response:
    sid = await _visible(request)
    index = int_path(request, "index", lo=0, hi=2**62)
    data, proof = await request.app[AUDIT].entry_proof(sid, index)
    return json_response(
        {
            "index": index,
            "entry": data.decode("utf-8"),
            "entry_base64": base64.b64encode(data).decode("ascii"),
            # What the tree commits to (docs/audit.md "Leaves"): the tlog-proof's data.
            "leaf_base64": base64.b64encode(leaf_of_entry(data)).decode("ascii"),
            "tlog_proof": proof,
        }
    )


async def get_consistency(request: web.Request) -> web.Response:
    sid = await _visible(request)
    old = int_query(request, "old", None, lo=0, hi=2**62)
    new = int_query(request, "new", None, lo=0, hi=2**62)
    proof = await request.app[AUDIT].consistency(sid, old, new)
    return json_response({"old": old, "new": new, "proof": proof})


async def get_view(request: web.Request) -> web.Response:
    p = authenticated(request)
    sid = request.match_info["session_id"]
    start = int_query(request, "start", 0, lo=0, hi=2**62)
    size = int_query(request, "size", None, lo=0, hi=2**62) if "size" in request.query else None
    limit = int_query(request, "limit", 1000, lo=1, hi=5000)
    view = await request.app[AUDIT].venue_view(p, sid, start=start, size=size, limit=limit)
    return json_response(view)


async def post_split_view(request: web.Request) -> web.Response:
    p = authenticated(request)
    sid = request.match_info["session_id"]
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    audit = request.app[AUDIT]
    r = await request.app[SESSIONS].report_split_view(
        p, sid, body, origin=audit.origin(sid), log_vkey=audit.vkey(sid), key=key)
    headers = {"Idempotent-Replayed": "true"} if r.replayed else None
    # 201: recorded; 200: that fork was recorded already (its seq), nothing new.
    return json_response(r.body, status=r.status, headers=headers)


async def post_pool_opening(request: web.Request) -> web.Response:
    p = authenticated(request)
    body = await read_json(request)
    key = idempotency_key(request, required=False)
    doc, replayed = await request.app[DRAWS].open_pool_field(
        p, request.match_info["session_id"], body, key=key)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return json_response(doc, status=201, headers=headers)


async def get_policy(request: web.Request) -> web.Response:
    sid = await _visible(request)
    return web.Response(text=request.app[AUDIT].policy(sid), content_type="text/plain")


_A = "/api/sessions/{session_id}/audit"

ROUTES: list[Route] = [
    Route(
        "GET",
        _A + "/view",
        get_view,
        "The audit log as the caller may see it: entries from ?start (to the checkpoint of "
        "?size, default the latest), each field disclosed with its salt or left as its "
        "digest, with the cosigned checkpoint (venue mirrors check it, docs/audit.md)",
        roles=("operator", "supervisor"),
        response=shape(
            {
                "origin": "string",
                "log_vkey": "string",
                "checkpoint": "string",
                "start": "integer",
                "entries": {"type": "array", "items": {"type": "string"}},
            }
        ),
        query=(
            Param("start", "integer", "first entry index (default 0)", minimum=0,
                  maximum=2**62),
            Param("size", "integer", "checkpoint size (default: the latest)", minimum=0,
                  maximum=2**62),
            Param("limit", "integer", "at most this many entries (default 1000)", minimum=1,
                  maximum=5000),
        ),
        tag="audit",
    ),
    Route(
        "POST",
        _A + "/split-view",
        post_split_view,
        "A venue's agent reports a split view (docs/audit.md \"Split views\"): two "
        "checkpoints of one size signed by this log's key with different roots. Checked, "
        "it is recorded as an alert.raised event of rule split_view (supervisors only). "
        "The same fork (size and the two roots) reported again, under any key or by any "
        "venue, records nothing new: 200 with the recorded alert's seq",
        roles=("operator",),
        body_schema={
            "type": "object",
            "required": ["evidence"],
            "additionalProperties": False,
            "properties": {"evidence": {
                "type": "object",
                "required": ["kind", "trusted", "served"],
                "properties": {"kind": {"const": "fork"}, "trusted": {"type": "string"},
                               "served": {"type": "string"}},
            }},
        },
        ok_status=201,
        idempotent=True,
        response=shape({"rule": "string", "size": "integer", "seq": "integer"}),
        errors=((200, "that fork is recorded already: the recorded alert's seq"),),
        tag="audit",
    ),
    Route(
        "POST",
        _A + "/pool-openings",
        post_pool_opening,
        "The tender's supervisor opens one masked personal field (name, resident_id, "
        "employer, title) of an expert in the session's pool snapshot (docs/audit.md "
        "\"Opening one field\"): recorded first as a pool.field_opened event (expert, "
        "field, reason, commitment — never the value; supervisors only), the value and "
        "salt are in this response alone. An expert in no snapshot of the session: 404, "
        "the same for every reason. (Every role reaches the service, which refuses all but "
        "the tender's supervisor in Chinese: 403.)",
        roles=("operator", "expert", "supervisor", "site_supervisor"),
        body_schema={
            "type": "object",
            "required": ["expert_id", "field", "reason"],
            "additionalProperties": False,
            "properties": {
                "expert_id": {"type": "string", "minLength": 1, "maxLength": 64},
                "field": {"enum": ["name", "resident_id", "employer", "title"]},
                "reason": {"type": "string", "minLength": 1, "maxLength": 500},
            },
        },
        ok_status=201,
        idempotent=True,
        response=shape({"expert_id": "string", "field": "string", "seq": "integer",
                        "opening": shape({"session": "string", "pool_sha256": "string",
                                          "expert": "string", "field": "string",
                                          "commitment": "string", "salt": "string",
                                          "value": {}})}),
        errors=((403, "not the tender's supervisor (行政监督)"),
                (404, "no opening of that expert's field in this session's pool snapshot"),),
        tag="audit",
    ),
    Route(
        "GET",
        _A + "/key",
        get_log_key,
        "The session log's origin and verifier key",
        roles=SUPERVISOR,
        response=shape({"origin": "string", "log_vkey": "string"}),
        tag="audit",
    ),
    Route(
        "GET",
        _A + "/checkpoint",
        get_checkpoint,
        "Latest (or ?size=N) signed checkpoint with cosignatures (text/plain, C2SP "
        "tlog-checkpoint)",
        query=(
            Param(
                "size", "integer", "a checkpoint's tree size (default: the latest)",
                minimum=0, maximum=2**62,
            ),
        ),
        roles=SUPERVISOR,
        content_type="text/plain",
        tag="audit",
    ),
    Route(
        "GET",
        _A + "/entries/{index}",
        get_entry,
        "One audit entry with its C2SP tlog-proof",
        roles=SUPERVISOR,
        response=shape(
            {
                "index": "integer",
                "entry": "string",
                "entry_base64": "string",
                "leaf_base64": "string",
                "tlog_proof": "string",
            }
        ),
        path_params=(Param("index", "integer", "the entry's index", minimum=0, maximum=2**62),),
        tag="audit",
    ),
    Route(
        "GET",
        _A + "/consistency",
        get_consistency,
        "Consistency proof between two log sizes (base64 hashes)",
        roles=SUPERVISOR,
        response=shape(
            {
                "old": "integer",
                "new": "integer",
                "proof": {"type": "array", "items": {"type": "string"}},
            }
        ),
        query=(
            Param("old", "integer", "earlier size", required=True, minimum=0, maximum=2**62),
            Param("new", "integer", "later size", required=True, minimum=0, maximum=2**62),
        ),
        tag="audit",
    ),
    Route(
        "GET",
        _A + "/policy",
        get_policy,
        "A verification policy for this session's log (origin, log key)",
        roles=SUPERVISOR,
        content_type="text/plain",
        tag="audit",
    ),
]
