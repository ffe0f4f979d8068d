"""The layers of DESIGN.md hold: the pure core imports no I/O framework, no module of
evalsvc imports one of a higher layer, and no import cycle joins evalsvc's modules.

Imports are read with ``ast``: module-level, function-level and ``TYPE_CHECKING`` ones
alike (a lazy import is still a dependency; it only hides a cycle until run time).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evalsvc"

# Modules of the pure core: plain functions and frozen dataclasses, no I/O.
# Add every new pure module here; the test fails if one imports an I/O framework.
PURE_MODULES = [
    "auth.py",
    "canonical.py",
    "jsonin.py",
    "errors.py",
    "ids.py",
    "sessions/model.py",
    "sessions/machine.py",
    "sessions/scoring.py",
    "sessions/report.py",
    "report/access.py",
    "report/document.py",
    "report/render.py",
    "report/verify.py",
    "sessions/protocol.py",
    "sessions/presence.py",
    "sessions/transitions.py",
    "sessions/pledge.py",
    "sessions/handover.py",
    "audit/ranges.py",
    "audit/merkle.py",
    "audit/leaf.py",
    "audit/splitview.py",
    "audit/note.py",
    "audit/bundle.py",
    "audit/verify.py",
    "audit/rederive.py",
    "audit/witness.py",
    "venues/verify.py",
    "experts/specialties.py",
    "experts/pool.py",
    "experts/synth.py",
    "experts/rules.py",
    "pki/der.py",
    "pki/sm2.py",
    "pki/signatures.py",
    "pki/identity.py",
    "pki/revocation.py",
    "pki/pathbuild.py",
    "pki/webpki.py",
    "pki/validate.py",
    "pki/challenge.py",
    "pki/agents.py",
    "pki/builder.py",
    "pki/names.py",
    "experts/seed.py",
    "experts/draw.py",
    "experts/bundle.py",
    "experts/ceremony.py",
    "experts/binding.py",
    "experts/invitations.py",
    "experts/drawstate.py",
    "analysis/__init__.py",
    "analysis/record.py",
    "analysis/rules.py",
    "analysis/thresholds.py",
]

FORBIDDEN = ("aiohttp", "sqlmodel", "sqlalchemy", "apscheduler", "asyncio", "websockets", "psycopg")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io_framework(module: str) -> None:
    path = PACKAGE / module
    assert path.exists(), f"pure module {module} listed but missing"
    bad = _imports(path) & set(FORBIDDEN)
    assert not bad, f"{module} is pure core but imports {sorted(bad)}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom sqlmodel import Field\n", encoding="utf-8")
    assert _imports(bad) & set(FORBIDDEN) == {"asyncio", "sqlmodel"}


# --- the module import graph --------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of the package under ``root`` that it imports, anywhere in
    its text (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    deps.add(sub if sub in files else known(target))
        graph[name] = {d for d in deps if d is not None and d != name}
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, …, a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


# --- the layers, lowest first (DESIGN.md "Layers") -----------------------------------------
# A module may import its own layer and the ones below, never one above. Every module of
# evalsvc is in exactly one layer: place a new module here, or the test names it.

_PURE = [m.removesuffix(".py").replace("/", ".") for m in PURE_MODULES]
_FOUNDATION = {"evalsvc.auth", "evalsvc.canonical", "evalsvc.errors", "evalsvc.ids"}

LAYERS: dict[str, list[str]] = {
    # What every feature shares and that knows no feature: the error tree and its one
    # mapping table, canonical JSON, ids, tokens.
    "foundation": [
        "evalsvc",
        "evalsvc.auth",
        "evalsvc.canonical",
        "evalsvc.errors",
        # Private files (0600 in 0700 folders): os calls only, used by pure writers too.
        "evalsvc.files",
        "evalsvc.http_errors",
        "evalsvc.ids",
    ],
    # The features' pure core: plain functions and frozen dataclasses.
    "core": [
        "evalsvc.audit",
        "evalsvc.experts",
        "evalsvc.pki",
        "evalsvc.venues",
        "evalsvc.report",
        *(f"evalsvc.{m}" for m in _PURE if f"evalsvc.{m}" not in _FOUNDATION
          and not m.endswith("__init__")),
        # Pattern alerts (seed §(十六)): pure functions over a session's events.
        "evalsvc.analysis",
        # The trust-store types the pure pki modules take (it also reads them from files).
        "evalsvc.pki.trust",
        "evalsvc.sessions.access",
        "evalsvc.sessions.schemas",
    ],
    # Generic I/O that knows no feature: settings, key files, the database, LISTEN.
    "infrastructure": [
        "evalsvc.config",
        "evalsvc.keys",
        # Salts from the OS CSPRNG (randomness is I/O: passed into the core).
        "evalsvc.salts",
        "evalsvc.db",
        "evalsvc.pg_listen",
        # Stopping background tasks (asyncio only): every stop() of the layers above.
        "evalsvc.tasks",
    ],
    # The features' I/O: tables, stores, the hub and its fan-out, the venue agent.
    "adapters": [
        "evalsvc.schema",
        # The alembic revisions and their environment, whatever revisions there are.
        *sorted(
            _module_name(p, PACKAGE) for p in (PACKAGE / "migrations").rglob("*.py")
        ),
        "evalsvc.tokens",
        "evalsvc.audit.tables",
        "evalsvc.audit.log",
        "evalsvc.audit.export",
        "evalsvc.audit.witnessing",
        "evalsvc.experts.tables",
        "evalsvc.experts.store",
        "evalsvc.experts.scheduler",
        "evalsvc.sessions.deadlines",
        "evalsvc.pki.tables",
        "evalsvc.pki.tls",
        "evalsvc.pki.crlcache",
        "evalsvc.pki.devpki",
        "evalsvc.sessions.tables",
        "evalsvc.sessions.store",
        "evalsvc.sessions.store.reads",
        "evalsvc.sessions.store.sql",
        "evalsvc.sessions.store.writes",
        "evalsvc.sessions.store.pipelined",
        "evalsvc.sessions.store.batched",
        "evalsvc.sessions.uow",
        "evalsvc.sessions.bus",
        "evalsvc.sessions.hub",
        "evalsvc.sessions.witness_link",
        "evalsvc.sessions.pgnotify",
        "evalsvc.sessions.pgpresence",
        "evalsvc.venues.agent",
        "evalsvc.venues.credentials",
        "evalsvc.venues.mirror",
        "evalsvc.venues.export",
        # Lays the report out with fpdf2 and reads the shipped font file.
        "evalsvc.report.pdf",
        # The report as one reader may see it, read in one transaction, and its PDF.
        "evalsvc.report.artifacts",
    ],
    # Use-cases: load state, call the core, write in one transaction, publish.
    "services": [
        "evalsvc.audit.service",
        "evalsvc.experts.service",
        "evalsvc.pki.service",
        "evalsvc.sessions.service",
        "evalsvc.report.service",
        # Drives the committee's steps through the service (demo, benchmarks, tests).
        "evalsvc.sessions.committee",
    ],
    # What people and programs call: HTTP and WebSocket routes, the app, the commands.
    "interfaces": [
        "evalsvc.__main__",
        "evalsvc.app",
        "evalsvc.cli",
        "evalsvc.commands",
        "evalsvc.demo",
        "evalsvc.httpkit",
        "evalsvc.openapi",
        "evalsvc.typedefs",
        "evalsvc.audit.cli",
        "evalsvc.audit.routes",
        "evalsvc.experts.cli",
        "evalsvc.experts.routes",
        "evalsvc.pki.cli",
        "evalsvc.pki.routes",
        "evalsvc.sessions.routes",
        "evalsvc.sessions.ws",
        "evalsvc.report.cli",
        "evalsvc.report.routes",
        "evalsvc.venues.cli",
        "evalsvc.venues.readonly",
    ],
}


def layer_violations(
    graph: Mapping[str, Iterable[str]], layers: Mapping[str, list[str]]
) -> list[str]:
    """Every import from a lower layer to a higher one, as ``"a (core) imports b
    (services)"``."""
    rank = {m: (i, name) for i, (name, mods) in enumerate(layers.items()) for m in mods}
    return [
        f"{src} ({rank[src][1]}) imports {dst} ({rank[dst][1]})"
        for src in sorted(graph)
        for dst in sorted(graph[src])
        if src in rank and dst in rank and rank[dst][0] > rank[src][0]
    ]


GRAPH = import_graph(PACKAGE)


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_every_module_has_one_layer() -> None:
    placed = [m for mods in LAYERS.values() for m in mods]
    twice = sorted({m for m in placed if placed.count(m) > 1})
    assert not twice, f"in more than one layer: {twice}"
    assert sorted(set(GRAPH) - set(placed)) == [], "modules in no layer: add them to LAYERS"
    assert sorted(set(placed) - set(GRAPH)) == [], "LAYERS names modules that do not exist"


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    bad = layer_violations(GRAPH, LAYERS)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_the_app_keys_pull_in_no_service() -> None:
    seen: set[str] = set()
    todo = ["evalsvc.typedefs"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(GRAPH[m])
    assert sorted(seen & set(LAYERS["services"])) == []


def test_checkers_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "a.py").write_text("from pkg.sub import b\n", encoding="utf-8")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n", encoding="utf-8")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
        encoding="utf-8",
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    layers = {"low": ["pkg.sub.b"], "high": ["pkg.c"]}
    assert layer_violations(graph, layers) == ["pkg.sub.b (low) imports pkg.c (high)"]
