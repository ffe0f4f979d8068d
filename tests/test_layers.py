"""The pure core imports no I/O framework (DESIGN.md "Layers")."""

from __future__ import annotations

import ast
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
    "sessions/protocol.py",
    "sessions/presence.py",
    "audit/ranges.py",
    "audit/merkle.py",
    "audit/note.py",
    "audit/bundle.py",
    "audit/verify.py",
    "audit/witness.py",
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
    "experts/invitations.py",
    "experts/drawstate.py",
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
