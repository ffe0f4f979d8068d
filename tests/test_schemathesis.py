"""Schemathesis over the OpenAPI document a real server serves, with every role's token.

A real ``evalsvc serve`` on loopback (tests/e2e/procs.py), on a fresh database (SQLite;
PostgreSQL in ``./dev test``'s second pass, where a NUL in a text parameter or a number
beyond an INTEGER column fails as it never does on SQLite) seeded with sessions in
useful states, and a working trust directory (the dev PKI). For each caller — the
supervisor, the primary operator (sh-ggzy), a secondary operator (js-suzhou), a seated
expert, nobody — the Schemathesis CLI runs its phases (the document's examples,
coverage, fuzzing, stateful) over every operation of ``GET /api/openapi.json`` with
these checks:

- ``not_a_server_error``: no 5xx, whatever was sent;
- ``status_code_conformance``, ``content_type_conformance``,
  ``response_schema_conformance``: every response is one the document declares.

The run is bounded (examples per operation, a deadline per caller) and prints how many
cases ran. Failures show Schemathesis' own report, with ``curl`` lines to reproduce.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import make_token, skip_or_fail, uscc
from e2e.procs import Server

from evalsvc.auth import Principal
from evalsvc.config import PROJECT_ROOT, Settings, load_settings

# Bounds: 10-30 s per caller on two shared cores, about a minute per database pass. A
# failure prints the seed; EVALSVC_SCHEMATHESIS_SEED=<seed> replays that run, and
# EVALSVC_SCHEMATHESIS_EXAMPLES=100 makes a longer hunt (about 4 min).
MAX_EXAMPLES = int(os.environ.get("EVALSVC_SCHEMATHESIS_EXAMPLES", "12"))
SEED = os.environ.get("EVALSVC_SCHEMATHESIS_SEED")
# Per caller; over it the run is a failure, not a hang.
DEADLINE_S = max(150, 12 * MAX_EXAMPLES)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)

# Caller -> (role, venue, subject) of its token; None: no token at all. The subjects are
# the demo's people (evalsvc.demo); EXPERT is whoever the draw seated at Hefei (the
# seat that has not scored), found when seeding.
EXPERT = "<seated at Hefei>"
CALLERS: dict[str, tuple[str, str | None, str] | None] = {
    "supervisor": ("supervisor", None, "sup-demo-zhao"),
    "primary-operator": ("operator", "sh-ggzy", "op-sh-0012"),
    "secondary-operator": ("operator", "js-suzhou", "op-js-0031"),
    "expert": ("expert", "ah-hefei", EXPERT),
    "anonymous": None,
}


def _schemathesis() -> list[str]:
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        skip_or_fail("schemathesis is not installed: pip install -e '.[dev]'")
    return [sys.executable, "-m", "schemathesis.cli"]


async def _seed(settings: Settings) -> tuple[list[str], str]:
    """Sessions in the states that open the most of the API, through the real service:
    draft (bids, criteria, open_draw), drawing (seats, the ceremony), evaluating /
    scoring with one sheet missing (sheets, lock_scoring), reporting (aggregation,
    report, sign_report, seal). Also the expert seated at Hefei in the scoring session,
    who has not scored (the committee is drawn)."""
    from aiohttp import web

    from evalsvc.app import create_app
    from evalsvc.demo import DEMO_SESSION, OPERATORS, SUPERVISOR, seed_demo
    from evalsvc.experts.routes import DRAWS
    from evalsvc.sessions.routes import SESSIONS

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        svc = app[SESSIONS]
        primary = Principal("operator", *OPERATORS["sh-ggzy"], "sh-ggzy")

        async def create(tenderer: str, number: str) -> str:
            doc = {**DEMO_SESSION, "tenderer": tenderer, "tender_number": number,
                   "tenderer_uscc": uscc(f"T{number[-3:]}")}
            return str((await svc.create(primary, doc, key=None)).body["id"])

        # Four tenders, not one registered four times (which draws only with a
        # supervisor's approval, docs/draw.md §6.8): another tender number, and another
        # tenderer or another title and other bidders.
        draft = await create("招标人 甲", "SCHEMA-DRAFT")
        drawing = await create("招标人 乙", "SCHEMA-DRAWING")
        await svc.command(primary, drawing, {"command": "open_draw"}, key=None)
        scoring = await seed_demo(svc, app[DRAWS])
        bids = [{**b, "uscc": uscc(f"R{i}")} for i, b in enumerate(DEMO_SESSION["bids"])]
        with mock.patch.dict(DEMO_SESSION, {"title": "另一个招标项目", "bids": bids,
                                            "tender_number": "SCHEMA-REPORTING"}):
            reporting = await seed_demo(svc, app[DRAWS], leave_last_unscored=False)
        for command in ("lock_scoring", "start_report"):
            await svc.command(primary, reporting, {"command": command}, key=None)
        seats = (await svc.get(SUPERVISOR, scoring))["seats"]
        unscored = next(s for s in reversed(seats) if s["venue_id"] == "ah-hefei")
        return [draft, drawing, scoring, reporting], str(unscored["expert_id"])
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def server_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config/test.toml with the dev PKI as trust directory (trust reload succeeds)."""
    from evalsvc.pki.devpki import build_dev_pki, write_dev_pki

    tmp = tmp_path_factory.mktemp("schemathesis-pki")
    certs = tmp / "certs"
    write_dev_pki(build_dev_pki(dt.datetime.now(dt.UTC)), certs)
    config = tmp / "server.toml"
    config.write_text(
        (PROJECT_ROOT / "config" / "test.toml").read_text(encoding="utf-8")
        + f"\n[pki]\ntrust_dir = {json.dumps(str(certs))}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def served(
    server_config: Path, db_url: str, tmp_path: Path
) -> Iterator[tuple[Server, Settings, Path]]:
    """A server on a fresh database (SQLite; PostgreSQL in `./dev test`'s second pass)
    seeded for one caller (what another caller's run changed — a session aborted,
    paused — is not this one's starting point); its settings (for tokens); a scratch
    directory."""
    secret = tmp_path / "token-secret"
    settings = load_settings(
        server_config,
        env={},
        overrides={
            "database": {"url": db_url},
            "auth": {"token_secret_file": str(secret)},
            "audit": {"key_file": str(tmp_path / "audit-log.key")},
        },
    )
    sessions, expert = asyncio.run(_seed(settings))
    seeded = {"sessions": sessions, "expert": expert}
    (tmp_path / "seeded.json").write_text(json.dumps(seeded), encoding="utf-8")
    server = Server(
        db_url=db_url,
        secret_file=secret,
        log=tmp_path / "server.log",
        env={"EVALSVC_CONFIG": str(server_config)},
    )
    server.start()
    try:
        yield server, settings, tmp_path
    finally:
        server.stop()


def _config(tmp: Path, sessions: list[str]) -> Path:
    """Schemathesis' configuration: path parameters drawn mostly from what exists (a
    random session id only ever meets 404)."""
    path = tmp / "schemathesis.toml"
    path.write_text(
        f"""
[dictionaries.sessions]
values = {json.dumps(sessions)}

[dictionaries.indexes]
values = [0, 1, 2, 3, 5, 8]

[parameters]
"path.session_id" = {{ dictionary = "sessions", probability = 0.9 }}
"path.index" = {{ dictionary = "indexes", probability = 0.5 }}
# A long poll holds the request for up to `wait` seconds when nothing happens: a few
# of those (the coverage phase tries 29 and 30) spend the run's time budget waiting.
# Long polls are tested in tests/sessions; here the parameter is fixed.
"query.wait" = 0
""",
        encoding="utf-8",
    )
    return path


def _run(served: tuple[Server, Settings, Path], caller: str) -> dict[str, Any]:
    server, settings, tmp = served
    cli = _schemathesis()
    seeded = json.loads((tmp / "seeded.json").read_text(encoding="utf-8"))
    sessions = seeded["sessions"]
    work = tmp / caller
    work.mkdir()
    report = work / "report.json"
    args = [
        *cli,
        "--config-file",
        str(_config(work, sessions)),
        "run",
        server.url + "/api/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--report",
        os.environ.get("EVALSVC_SCHEMATHESIS_REPORTS", "json"),
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    # Chosen here and printed first, so that a run which times out can be replayed too.
    seed = SEED or str(secrets.randbits(64))
    print(f"schemathesis {caller}: seed {seed}", flush=True)
    args += ["--seed", seed]
    who = CALLERS[caller]
    if who is not None:
        role, venue, subject = who
        subject = seeded["expert"] if subject == EXPERT else subject
        token = make_token(settings, role, venue=venue, subject=subject, ttl=3600)
        args += ["--header", f"Authorization: Bearer {token}"]
    log = work / "output.txt"
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        try:
            subprocess.run(
                args,
                cwd=work,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=DEADLINE_S,
                env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            )
        except subprocess.TimeoutExpired:
            tail = log.read_text(encoding="utf-8")[-6000:]
            server_log = server.log.read_text(encoding="utf-8", errors="replace")[-4000:]
            pytest.fail(
                f"{caller}: Schemathesis did not finish within {DEADLINE_S} s "
                f"(seed {seed}):\n{tail}\n--- server log:\n{server_log}"
            )
    took = time.monotonic() - started
    output = log.read_text(encoding="utf-8")
    if not report.exists() or not report.stat().st_size:
        pytest.fail(f"{caller}: Schemathesis wrote no report:\n{output[-6000:]}")
    doc: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    ops, cases = doc["operations"], doc["test_cases"]
    doc["summary"] = (
        f"schemathesis {caller}: {ops['tested']}/{ops['selected']} operations, "
        f"{cases['generated']} cases, {cases['with_failures']} with failures, "
        f"{cases['errored']} errored, {took:.1f} s (seed {seed})"
    )
    doc["output"] = output
    return doc


@pytest.mark.timeout(DEADLINE_S + 60)
@pytest.mark.parametrize("caller", list(CALLERS))
def test_the_document_matches_the_server_for_every_caller(
    served: tuple[Server, Settings, Path], caller: str, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _run(served, caller)
    with capsys.disabled():  # the figures show in `./dev test`'s output, pass or fail
        print(f"\n{doc['summary']}")
    shown = doc["output"][-12000:]
    # Everything ran: every operation, every phase, nothing errored.
    assert doc["operations"]["tested"] == doc["operations"]["selected"] > 0, shown
    assert doc["operations"]["errored"] == 0 and not doc["errors"], shown
    for phase in ("examples", "coverage", "fuzzing", "stateful"):
        assert doc["phases"][phase]["status"] != "skip", (phase, shown)
    # The token is one the server accepts (a run answered only 401 tests nothing).
    refused = doc["warnings"]["missing_auth"]
    assert ("GET /api/me" in refused) == (CALLERS[caller] is None), refused
    assert doc["failures"] == [], shown
    assert doc["exit_code"] == 0, shown
