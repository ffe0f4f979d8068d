"""The OpenAPI document matches the routes the server actually has, both ways."""

from __future__ import annotations

from typing import Any

from conftest import Harness


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
