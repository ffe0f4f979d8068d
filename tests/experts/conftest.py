"""Fixtures of the expert tests (builders are in ``_helpers``)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def example_rules_doc() -> dict[str, Any]:
    """The parsed config/draw-rules.example.toml."""
    import tomllib

    from evalsvc.config import PROJECT_ROOT

    with open(PROJECT_ROOT / "config" / "draw-rules.example.toml", "rb") as fh:
        return tomllib.load(fh)
