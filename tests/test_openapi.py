"""The OpenAPI document matches the routes the server actually has, both ways."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import Harness, skip_or_fail

from evalsvc.auth import ROLES
from evalsvc.openapi import openapi_document
from evalsvc.sessions.schemas import CommandIn, parse_body, parse_command
from evalsvc.typedefs import ROUTES


def _router_ops(app: Any) -> set[tuple[str, str]]:
    ops = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None:
            continue
        if path == "/" or info.get("prefix") == "/static":  # the browser UI, not the API
            continue
        ops.add((route.method, path))
    return ops


async def test_openapi_lists_exactly_the_routes(api: Harness) -> None:
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    actual = _router_ops(api.client.server.app)
    assert documented - actual == set(), "documented but not served"
    assert actual - documented == set(), "served but not documented"


async def test_openapi_schemas_resolve(api: Harness) -> None:
    _, doc = await api.call("GET", "/api/openapi.json")
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            out = [node["$ref"]] if "$ref" in node else []
            return out + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    create = schemas["SessionCreate"]
    assert create["additionalProperties"] is False
    assert set(create["required"]) >= {"title", "tenderer", "method", "primary_venue"}


async def test_every_route_enforces_exactly_the_roles_its_document_states(api: Harness) -> None:
    """A route's roles are declared once: the document states them, create_app enforces
    them before the handler runs (whatever the path, body or session)."""
    tokens = {
        "operator": api.op(),
        "expert": api.expert("E-0001", "sh-ggzy"),
        "supervisor": api.sup,
        "site_supervisor": api.site_sup("sh-ggzy"),
    }
    _, doc = await api.call("GET", "/api/openapi.json")

    async def call(method: str, path: str, token: str | None) -> tuple[int, str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await api.client.request(method, path, headers=headers)
        body = await resp.json(content_type=None) if "json" in resp.content_type else None
        return resp.status, resp.content_type, body

    routes = api.client.server.app[ROUTES]
    assert {r.roles for r in routes} > {()}, "no route declares roles"
    for r in routes:
        op = doc["paths"][r.path][r.method.lower()]
        assert op.get("x-roles", []) == list(r.roles), (r.method, r.path)
        path = re.sub(r"\{[^}]+\}", "s-000000000000", r.path)
        anonymous, _, _ = await call(r.method, path, None)
        if not r.roles:
            assert anonymous not in (401, 403), (r.method, r.path, anonymous)
            continue
        assert anonymous == 401, (r.method, r.path)
        for role in ROLES:
            status, ctype, body = await call(r.method, path, tokens[role])
            refused = status == 403 and body["detail"].startswith("this needs the role")
            assert refused == (role not in r.roles), (r.method, r.path, role, status, body)
            if refused:
                assert ctype == "application/problem+json" and body["code"] == "forbidden"


def test_the_command_body_is_the_command_union_itself() -> None:
    """POST …/commands takes ``{"command": "pause", "reason": …}``: the document's schema
    is the discriminated union of the commands, with no ``root`` wrapper around it."""
    doc = openapi_document(_routes())
    ref = doc["paths"]["/api/sessions/{session_id}/commands"]["post"]["requestBody"]
    schema = doc["components"]["schemas"][ref["content"]["application/json"]["schema"][
        "$ref"
    ].rsplit("/", 1)[1]]
    assert "properties" not in schema and schema["discriminator"]["propertyName"] == "command"
    members = {m["$ref"].rsplit("/", 1)[1] for m in schema["oneOf"]}
    assert set(schema["discriminator"]["mapping"]) >= {"open_draw", "pause", "sign_report"}
    for name in members:
        member = doc["components"]["schemas"][name]
        assert "command" in member["required"] and member["additionalProperties"] is False


def test_every_body_the_document_allows_passes_the_servers_shape_check() -> None:
    """Bodies Schemathesis generates from each request schema of the document are all
    ones the server's model validation accepts (domain rules — check characters, states —
    are the core's and may still refuse them): the document never asks for a shape the
    server refuses, as it once asked commands for a ``{"root": …}`` wrapper."""
    try:
        import schemathesis
    except ImportError:
        skip_or_fail("schemathesis is not installed: pip install -e '.[dev]'")
    from hypothesis import HealthCheck, given, settings

    routes = _routes()
    loaded = schemathesis.openapi.from_dict(openapi_document(routes))
    checked = []

    def check(model: Any, op: Any) -> None:
        # What the service reads a body with: commands go through parse_command.
        def read(body: Any) -> Any:
            return parse_command(body) if model is CommandIn else parse_body(model, body)

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def accepted(case: Any) -> None:
            read(case.body)

        accepted()
        # The document's examples are accepted as they are (shape and domain rules:
        # Schemathesis' examples phase sends them to a live server).
        for example in model.model_json_schema().get("examples", []):
            read(example)

    for r in routes:
        if r.body is not None:
            check(r.body, loaded[r.path][r.method])
            checked.append(r.body.__name__)
    assert {"CommandIn", "SessionCreate", "SheetIn"} <= set(checked), checked


def _routes() -> tuple[Any, ...]:
    from evalsvc.app import create_app
    from evalsvc.config import PROJECT_ROOT, load_settings

    # The route table create_app wires (no database is opened before startup).
    app = create_app(load_settings(PROJECT_ROOT / "config" / "test.toml", env={}))
    return tuple(app[ROUTES])


def test_an_integer_written_with_a_zero_fraction_is_the_integer() -> None:
    """The document says "integer", which JSON Schema (and RFC 8259's one number type)
    lets a client write as ``2.0``: the server reads it as 2, and refuses ``2.5``,
    ``"2"``, ``true`` and ``1e400`` naming the field."""
    from evalsvc.errors import InvalidInput
    from evalsvc.jsonin import loads_bytes
    from evalsvc.sessions.schemas import parse_command

    def read(seat: str) -> Any:
        return parse_command(loads_bytes(b'{"command": "check_in", "seat": %s}' % seat.encode()))

    assert read("2.0").seat == 2 and read("2").seat == 2
    for bad in ("2.5", '"2"', "true", "1e400"):
        with pytest.raises(InvalidInput) as caught:
            read(bad)
        assert caught.value.field == "seat", bad
