"""The OpenAPI 3.1 document, built from the route table and the pydantic models."""

from __future__ import annotations

__all__ = ["openapi_document"]

import re
from collections.abc import Sequence
from typing import Any

from evalsvc import __version__
from evalsvc.httpkit import Route

_PARAM = re.compile(r"{(\w+)}")


def _problem(desc: str) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


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
            "responses": {
                str(r.ok_status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in _PARAM.findall(r.path)
        ]
        params += [
            {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
            for n, t, d in r.query
        ]
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
        if r.body is not None:
            schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[r.body.__name__] = schema
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}
                    }
                },
            }
            op["responses"]["400"] = _problem("malformed JSON or not UTF-8")
            op["responses"]["413"] = _problem("body too large")
            op["responses"]["415"] = _problem("not application/json")
            op["responses"]["422"] = _problem("invalid field (named in `field`)")
        if r.ok_status == 101:
            op["responses"]["426"] = _problem("a plain request: this URL speaks WebSocket only")
        if r.roles:
            op["security"] = [{"bearer": []}]
            # The roles create_app enforces (httpkit.guarded), from the same declaration.
            op["x-roles"] = list(r.roles)
            op["description"] = f"Roles: {', '.join(r.roles)}."
            op["responses"]["401"] = _problem("no or invalid bearer token")
            op["responses"]["403"] = _problem(
                f"not {' or '.join(r.roles)}, or this venue or seat may not do this"
            )
            if "{" in r.path:
                op["responses"]["404"] = _problem("no such session (or not visible to you)")
            if r.method == "POST":
                op["responses"]["409"] = _problem("state conflict or reused idempotency key")
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
