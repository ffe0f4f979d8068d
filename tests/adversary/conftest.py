"""A dishonest primary operator drives the draw through the public HTTP API.

``api`` runs with the suite's floors (config/test.toml: windows of seconds, so a whole
ceremony runs in a test); ``strict`` with the floors of config/default.toml, for what a
primary may not ask for at all."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from conftest import Harness

from evalsvc.config import DrawSettings, Settings


@pytest.fixture
async def strict(aiohttp_client: Any, settings: Settings) -> Harness:
    from evalsvc.app import create_app

    real = dataclasses.replace(settings, draw=DrawSettings())
    return Harness(await aiohttp_client(create_app(real)), real)
