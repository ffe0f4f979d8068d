"""The OpenAPI 3.1 document, built from the route table and the pydantic models."""

from __future__ import annotations

__all__ = ["openapi_document"]

import re
from collections.abc import Sequence
from typing import Any

from evalsvc import __version__
from evalsvc.httpkit import MAX_HEADERS, MAX_LINE_BYTES, Param, Route

_PARAM = re.compile(r"{(\w+)}")


def _problem(desc: str) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _param(p: Param, where: str, *, required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    if p.minimum is not None:
        schema["minimum"] = p.minimum
    if p.maximum is not None:
        schema["maximum"] = p.maximum
    if p.enum:
        schema["enum"] = list(p.enum)
    doc: dict[str, Any] = {"name": p.name, "in": where, "required": required, "schema": schema}
    if p.doc:
        doc["description"] = p.doc
    return doc


def _responses(r: Route, *, reads_body: bool) -> dict[str, Any]:
    """The ok response and every problem status ``r`` answers: those its declaration
    implies (httpkit: auth, body, parameters, idempotency keys) and its own
    (``Route.errors``)."""
    ok_schema: dict[str, Any] = (
        r.response or {"type": "object"}
        if r.content_type == "application/json"
        else {"type": "string"}
    )
    out: dict[str, Any] = {
        str(r.ok_status): {
            "description": "OK" if r.ok_status != 101 else "Switching Protocols",
        }
    }
    if r.ok_status != 101:
        out[str(r.ok_status)]["content"] = {r.content_type: {"schema": ok_schema}}
    why: dict[int, list[str]] = {}

    def add(status: int, text: str) -> None:
        why.setdefault(status, []).append(text)

    # Any request, before routing (httpkit.answer_parser_errors_as_problems): a query
    # string or path can make the request line longer than the parser reads.
    add(400, f"malformed HTTP request: the request line or a header over {MAX_LINE_BYTES} "
             f"bytes, or over {MAX_HEADERS} headers")
    if reads_body:  # httpkit.read_json, the model's validation
        add(400, "malformed JSON or not UTF-8")
        add(413, "body too large")
        add(415, "not application/json")
        add(422, "invalid field (named in `field`)")
    if r.query or r.path_params:  # httpkit.int_query, int_path
        add(422, "a parameter that is not an integer in range (named in `field`)")
    if r.idempotent:  # httpkit.idempotency_key
        missing = "missing or " if r.key_required else ""
        add(422, f"{missing}malformed Idempotency-Key")
        add(409, "Idempotency-Key reused with another body")
    names = _PARAM.findall(r.path)
    if "session_id" in names:  # httpkit.session_id_of, then the service
        add(404, "no such session (or not visible to you)")
    if others := [n for n in names if n != "session_id"]:
        add(404, f"no such {' or '.join(others)}")
    if r.roles:  # httpkit.guarded
        add(401, "no or invalid bearer token")
        add(403, f"not {' or '.join(r.roles)}, or this venue or seat may not do this")
        if names and r.method == "POST":
            add(409, "not allowed in the session's current state")
    if r.roles or reads_body:  # evalsvc.db: Unavailable, SchemaMismatch
        add(503, "the database is unavailable; try again")
    for status, text in r.errors:
        if status < 300:  # another success answer (e.g. 200 beside 201), the same body
            out[str(status)] = {"description": text, **{
                k: v for k, v in out[str(r.ok_status)].items() if k == "content"}}
            continue
        add(status, text)
    for status in sorted(why):
        out[str(status)] = _problem("; ".join(dict.fromkeys(why[status])))
    return out


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    """OpenAPI 3.1 for ``routes`` (schemas of request bodies under components)."""
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "field": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
            "required": ["type", "title", "status", "code"],
        }
    }
    paths: dict[str, Any] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__,
            "tags": [r.tag],
        }
        typed = {p.name: p for p in r.path_params}
        params = [
            _param(typed.get(n, Param(n)), "path", required=True) for n in _PARAM.findall(r.path)
        ]
        params += [_param(q, "query", required=q.required) for q in r.query]
        if r.idempotent:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": r.key_required,
                    "description": "client-chosen id: the same key with the same body "
                    "returns the first result; with another body, 409",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,100}$"},
                }
            )
        if params:
            op["parameters"] = params
        body: dict[str, Any] | None = None
        if r.body is not None:
            schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[r.body.__name__] = schema
            body = {"$ref": f"#/components/schemas/{r.body.__name__}"}
        elif r.body_schema is not None:
            body = r.body_schema
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        if r.roles:
            op["security"] = [{"bearer": []}]
            # The roles create_app enforces (httpkit.guarded), from the same declaration.
            op["x-roles"] = list(r.roles)
            op["description"] = f"Roles: {', '.join(r.roles)}."
        op["responses"] = _responses(r, reads_body=body is not None)
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "evalsvc API",
            "version": __version__,
            "description": "远程异地评标会话服务 — session server for remote cross-region bid "
            "evaluation. Errors are RFC 9457 problem details.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "token from `evalsvc tokens issue`",
                }
            },
        },
    }
