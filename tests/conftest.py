"""Shared fixtures: a database per test (SQLite file, or PostgreSQL when asked), the app,
and tokens per role.

Set ``EVALSVC_TEST_DATABASE=postgresql://postgres@127.0.0.1:5432/test`` to run every
database test on PostgreSQL: each test gets a fresh database created from that server
and dropped afterwards. Without a reachable server those tests skip with the reason —
unless ``CI=true``, where a skip would hide a failure, so they fail instead.

A test that hangs is stopped by pytest-timeout (pyproject.toml); shortly before, the
stacks of every thread and the await chain of every pending asyncio task are written to
the test's captured stderr, so that the report names where it hung.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from evalsvc.auth import issue_token
from evalsvc.config import PROJECT_ROOT, Settings, load_settings
from evalsvc.ids import uscc_check_char

PG_URL = os.environ.get("EVALSVC_TEST_DATABASE", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a user's machine; fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: skips are failures)")
    pytest.skip(reason)


# Multi-process tests start servers and wait on them (each wait bounded well below this).
E2E_TIMEOUT_S = 240
# The hang report is written this long before pytest-timeout stops the test.
DUMP_BEFORE_S = 10


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, dropped = [], []
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))
        # PostgreSQL-only tests belong to the PostgreSQL pass (`./dev test` runs it with
        # EVALSVC_TEST_DATABASE set); in the SQLite pass they are deselected, not skipped.
        if not PG_URL and item.get_closest_marker("postgres_only"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _timeout_of(item: pytest.Item) -> float:
    """The pytest-timeout limit of ``item`` (marker, then --timeout, then the ini)."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        return float(marker.args[0] if marker.args else marker.kwargs["timeout"])
    option = item.config.getoption("timeout", None)
    if option is not None:
        return float(option)
    try:
        return float(item.config.getini("timeout") or 0)
    except ValueError:  # pytest-timeout is not installed: no limit to report before
        return 0.0


def _await_chain(task: asyncio.Task[Any]) -> str:
    """Where a task waits: each coroutine of its await chain, then what it awaits."""
    steps = []
    obj: Any = task.get_coro()
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is None:
            steps.append(repr(obj)[:200])
            break
        steps.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return "\n    ".join(steps)


def _report_hang(nodeid: str, after: float) -> None:
    """Write every thread's stack and every pending task's await chain to stderr."""
    out = [f"\n=== {nodeid} still running after {after:.0f} s: threads and pending tasks ==="]
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        out.append(f"--- thread {names.get(ident, ident)}")
        out.append("".join(traceback.format_stack(frame, limit=12)).rstrip())
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Task) and not obj.done():
            out.append(f"--- task {obj.get_name()}\n    {_await_chain(obj)}")
    print("\n".join(out), file=sys.stderr, flush=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timeout = _timeout_of(item)
    timer = None
    if timeout > 0:
        after = max(timeout - DUMP_BEFORE_S, 0.8 * timeout)
        timer = threading.Timer(after, _report_hang, args=(item.nodeid, after))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def _reap_children(where: str) -> None:
    """Kill processes a multi-process test left running (tests/e2e/procs.py)."""
    procs = sys.modules.get("procs")
    if procs is not None and (left := procs.reap()):
        warnings.warn(f"{where}: killed processes the test left running: {left}", stacklevel=1)


@pytest.fixture(autouse=True)
def _no_stray_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    _reap_children(request.node.nodeid)


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


def _drop_database(admin: sa.Engine, name: str, *, timeout_s: int = 60) -> None:
    """DROP DATABASE ``name``, terminating its sessions; fails within ``timeout_s``
    naming who was still there instead of waiting for pytest-timeout."""
    with admin.connect() as c:
        c.execute(sa.text(f"SET statement_timeout = '{timeout_s}s'"))
        try:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except sa.exc.DBAPIError as exc:
            rows = c.execute(
                sa.text(
                    "SELECT pid, datname, application_name, state, wait_event_type,"
                    " wait_event, left(query, 80) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND (datname = :d OR wait_event_type"
                    " IN ('Lock', 'IPC'))"
                ),
                {"d": name},
            ).all()
            raise RuntimeError(
                f"DROP DATABASE {name} did not finish within {timeout_s} s ({exc.orig}); "
                f"sessions there or waiting: {[tuple(r) for r in rows]}"
            ) from exc


@contextlib.contextmanager
def fresh_database(tmp_path: Path, name: str = "evalsvc") -> Iterator[str]:
    """The URL of a fresh, empty database (a SQLite file in ``tmp_path``, or a new
    PostgreSQL database dropped afterwards)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    try:
        admin = sa.create_engine(
            _pg_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10}
        )
        with admin.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as exc:
        skip_or_fail(f"PostgreSQL at {PG_URL} is not reachable: {exc.__class__.__name__}")
    db_name = f"evalsvc_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    base = sa.engine.make_url(PG_URL)
    url = base.set(database=db_name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        # A server the test left running would reconnect while the database is dropped.
        _reap_children(f"{db_name} teardown")
        try:
            _drop_database(admin, db_name)
        finally:
            admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for this test."""
    with fresh_database(tmp_path) as url:
        yield url


def make_settings(tmp_path: Path, db_url: str, **audit: Any) -> Settings:
    """config/test.toml + a database and secret files in ``tmp_path`` (+ ``[audit]`` keys)."""
    return load_settings(
        PROJECT_ROOT / "config" / "test.toml",
        env={},
        overrides={
            "database": {"url": db_url, "pool_size": 4},
            "auth": {"token_secret_file": str(tmp_path / "token-secret")},
            "audit": {"key_file": str(tmp_path / "audit-log.key"), **audit},
        },
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Test settings: config/test.toml + this test's database and secret file."""
    return make_settings(tmp_path, db_url)


def make_token(
    settings: Settings,
    role: str,
    *,
    venue: str | None = None,
    subject: str | None = None,
    ttl: int = 3600,
    scope: tuple[str, ...] | None = None,
) -> str:
    """A token signed with the secret the app uses (created on first use)."""
    from evalsvc.keys import load_or_create_secret

    secret = load_or_create_secret(Path(settings.auth.token_secret_file))
    subject = subject or (f"op-{venue}" if role == "operator" else role)
    return issue_token(
        secret,
        role=role,
        subject=subject,
        name=subject,
        venue=venue,
        now=int(time.time()),
        ttl_seconds=ttl,
        nonce=secrets.token_hex(8),
        scope=scope,
    )


def uscc(seed: str) -> str:
    """A valid unified social credit code derived from ``seed``."""
    body = ("91310000" + seed.upper()).ljust(17, "0")[:17]
    for bad, good in zip("IOSVZ", "12345", strict=True):
        body = body.replace(bad, good)
    return body + uscc_check_char(body)


def session_doc(
    *, seats: tuple[int, ...] = (3, 2, 2), method: str = "weighted_scoring", **extra: Any
) -> dict[str, Any]:
    """A registration document: primary Shanghai + Suzhou + Hefei, 3 bids, 5 criteria."""
    venues = [("sh-ggzy", "SH", "上海"), ("js-suzhou", "JS", "苏州"), ("ah-hefei", "AH", "合肥")]
    doc: dict[str, Any] = {
        "title": "测试项目",
        "tenderer": "某某招标人",
        # The tender's recusal inputs (docs/draw.md §6.1): the tenderer and supervising
        # department of config/draw-rules.example.toml, which the synthetic pool knows.
        "tender_number": "CS-2026-0001",
        "tenderer_uscc": "9131011513220001XN",
        "supervising_departments": [
            {"name": "上海市浦东新区建设和交通委员会", "uscc": "91310115000000019M"}],
        "method": method,
        "primary_venue": {
            "id": venues[0][0],
            "name": "上海中心",
            "region": "SH",
            "city": "上海",
            "seats": seats[0],
        },
        "secondary_venues": [
            {"id": vid, "name": f"{city}中心", "region": reg, "city": city, "seats": n}
            for (vid, reg, city), n in zip(venues[1:], seats[1:], strict=False)
        ],
        "bids": [
            {"id": "B1", "bidder": "甲公司", "uscc": uscc("A1"), "price_fen": 100_000_00},
            {"id": "B2", "bidder": "乙公司", "uscc": uscc("B2"), "price_fen": 95_000_00},
            {"id": "B3", "bidder": "丙公司", "uscc": uscc("C3"), "price_fen": 120_000_00},
        ],
        "criteria": [
            {"id": "Q1", "name": "资质", "category": "qualification"},
            {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50},
            {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
            {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
        ],
    }
    doc.update(extra)
    return doc


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> AsyncIterator[Any]:
    """An aiohttp test client of ``create_app(settings)``."""
    from evalsvc.app import create_app

    yield await aiohttp_client(create_app(settings))


class ServerClock:
    """The clock of a server running in the test's process (``evalsvc.app._clock_ms``):
    real time plus an offset the test moves forward, so that a deadline passes at once
    instead of after a sleep that a loaded machine may overrun (a commitment posted
    after a one-second window closed). Each test gets a fresh one (:func:`server_clock`).
    """

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def now(self) -> Any:
        import datetime as _dt

        return _dt.datetime.fromtimestamp(self() / 1000, _dt.UTC)

    def pass_(self, when: Any) -> None:
        """From now on the clock reads just past ``when`` (a datetime) and runs on; it
        never goes back."""
        target_ms = int(when.timestamp() * 1000) + 50
        self.offset_ms += max(0, target_ms - self())


@pytest.fixture(autouse=True)
def server_clock(monkeypatch: pytest.MonkeyPatch) -> ServerClock:
    """Every app created in this test reads this clock (a test that installs a clock of
    its own replaces it, and :meth:`Harness.pass_deadline` then waits instead)."""
    import evalsvc.app as appmod

    clock = ServerClock()
    monkeypatch.setattr(appmod, "_clock_ms", clock)
    return clock


EXPERT_IDS = ("E-SH-1", "E-SH-2", "E-SH-3", "E-JS-1", "E-JS-2", "E-AH-1", "E-AH-2")


class Harness:
    """Drives the API as the people who use it (one token per role and venue)."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.sup = make_token(settings, "supervisor")
        self._ops: dict[str, str] = {}
        self._experts: dict[str, str] = {}

    def op(self, venue: str = "sh-ggzy") -> str:
        if venue not in self._ops:
            self._ops[venue] = make_token(self.settings, "operator", venue=venue)
        return self._ops[venue]

    def site_sup(self, venue: str, subject: str | None = None) -> str:
        """A site supervisor's token (现场监督) of ``venue``."""
        return make_token(self.settings, "site_supervisor", venue=venue,
                          subject=subject or f"site-sup-{venue}")

    def expert(self, expert_id: str, venue: str) -> str:
        if expert_id not in self._experts:
            self._experts[expert_id] = make_token(
                self.settings, "expert", venue=venue, subject=expert_id
            )
        return self._experts[expert_id]

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if json is not None:
            import json as _json

            data = _json.dumps(json, ensure_ascii=False, default=str).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        resp = await self.client.request(method, path, data=data, headers=h)
        ctype = resp.headers.get("Content-Type", "")
        body = await resp.json(content_type=None) if "json" in ctype else await resp.text()
        return resp.status, body

    def clock(self) -> ServerClock | None:
        """The clock of the server this harness drives when it runs in this process
        (a test client) and reads :class:`ServerClock`; None for a server process."""
        import evalsvc.app as appmod

        c = appmod._clock_ms
        return c if isinstance(c, ServerClock) and hasattr(self.client, "server") else None

    def now(self) -> Any:
        """The server's now (a datetime): deadlines sent to it count from this."""
        import datetime as _dt

        c = self.clock()
        return c.now() if c is not None else _dt.datetime.now(_dt.UTC)

    def window(self, seconds: float) -> float:
        """A deadline window of ``seconds`` as the test asks, or 120 s when this test
        moves the server's clock past it (:meth:`pass_deadline`): a long window cannot
        close before a slow request lands, and costs no waiting."""
        return max(seconds, 120.0) if self.clock() is not None else seconds

    async def pass_deadline(self, when: Any, sid: str | None = None) -> None:
        """Until the server's clock reads past ``when``: moved there at once in this
        process — and ``sid``'s draw deadline job, if any, run now as the scheduler
        would at that time — or waited for in real time for a server process."""
        import datetime as _dt

        c = self.clock()
        if c is None:
            left = (when - _dt.datetime.now(_dt.UTC)).total_seconds()
            await asyncio.sleep(max(0.0, left) + 0.2)
            return
        c.pass_(when)
        if sid is not None:
            from evalsvc.typedefs import SCHEDULER

            job = self.client.server.app[SCHEDULER].get_job(f"draw:{sid}")
            if job is not None and job.next_run_time.timestamp() * 1000 <= c():
                await job.func(*job.args)

    async def events(self, sid: str) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"/api/sessions/{sid}/events?limit=1000", self.sup)
        assert status == 200, body
        return list(body["events"])

    async def command(self, sid: str, token: str, command: str, **fields: Any) -> tuple[int, Any]:
        return await self.call(
            "POST", f"/api/sessions/{sid}/commands", token, json={"command": command, **fields}
        )

    async def create(self, doc: dict[str, Any] | None = None) -> tuple[str, list[dict[str, Any]]]:
        status, body = await self.call(
            "POST", "/api/sessions", self.op(), json=doc or session_doc()
        )
        assert status == 201, body
        return str(body["id"]), list(body["seats"])

    async def to_stage(
        self, stage: str, doc: dict[str, Any] | None = None,
        ids: tuple[str, ...] = EXPERT_IDS,
    ) -> tuple[str, list[tuple[int, str]]]:
        """A session advanced to ``drawing``, ``checking_in``, ``checked_in`` (every seat
        checked in, no pledge yet), ``qualification`` or ``scoring``; returns its id
        and (seat, expert token) pairs. ``ids``: the experts seated, seat by seat."""
        sid, seats = await self.create(doc)
        ok = (200,)

        async def cmd(token: str, name: str, **f: Any) -> None:
            status, body = await self.command(sid, token, name, **f)
            assert status in ok, (name, body)

        await cmd(self.op(), "open_draw")
        experts = []
        for seat, eid in zip(seats, ids, strict=False):
            await cmd(
                self.op(),
                "assign_seat",
                seat=seat["index"],
                expert_id=eid,
                expert_name=f"专家{eid}",
            )
            experts.append((seat["index"], self.expert(eid, seat["venue_id"])))
        if stage == "drawing":
            return sid, experts
        await self.designate(sid)
        await cmd(self.op(), "complete_draw")
        await cmd(self.op(), "start_check_in")
        if stage == "checking_in":
            return sid, experts
        for seat in seats:
            await cmd(self.op(seat["venue_id"]), "check_in", seat=seat["index"])
        if stage == "checked_in":
            return sid, experts
        await self.pledge_and_elect(sid, experts)
        await cmd(self.op(), "start_evaluation")
        if stage == "qualification":
            return sid, experts
        for seat, tok in experts:
            status, body = await self.submit(
                sid, tok, qualification_sheet(), key=f"qual-{seat}-key"
            )
            assert status == 201, body["detail"]
        await cmd(self.op(), "lock_qualification")
        return sid, experts

    async def pledge_and_elect(
        self, sid: str, experts: list[tuple[int, str]], *, leader: int | None = None
    ) -> None:
        """Every checked-in member accepts the pledge and declares no conflict; then
        one election round in which every member votes for ``leader`` (default: the
        first seat)."""
        status, pledge = await self.call("GET", f"/api/sessions/{sid}/pledge", experts[0][1])
        assert status == 200, pledge
        status, doc = await self.call("GET", f"/api/sessions/{sid}", self.sup)
        assert status == 200, doc
        bids = [b["id"] for b in doc["bids"]]
        for _, tok in experts:
            status, body = await self.command(sid, tok, "accept_pledge", sha256=pledge["sha256"])
            assert status == 200, body
            status, body = await self.command(
                sid, tok, "declare_interests",
                declarations=[{"bid_id": b, "conflict": False} for b in bids])
            assert status == 200, body
        status, body = await self.command(sid, self.op(), "open_election")
        assert status == 200, body
        choice = experts[0][0] if leader is None else leader
        for _, tok in experts:
            status, body = await self.command(sid, tok, "cast_vote", candidate=choice)
            assert status == 200, body
        status, body = await self.command(sid, self.op(), "close_round")
        assert status == 200, body

    async def designate(self, sid: str) -> None:
        """Submit the assigned seats as a designation and have a supervisor approve it
        (the one way but a draw to form a committee, docs/draw.md §6.7)."""
        status, body = await self.command(
            sid, self.op(), "designate_experts", reason="测试: 招标人指定专家")
        assert status == 200, body
        status, body = await self.command(
            sid, self.sup, "decide_designation", approve=True, reason="测试批准")
        assert status == 200, body

    async def submit(
        self, sid: str, token: str, sheet: dict[str, Any], *, key: str
    ) -> tuple[int, Any]:
        return await self.call(
            "POST",
            f"/api/sessions/{sid}/sheets",
            token,
            json=sheet,
            headers={"Idempotency-Key": key},
        )


def committee_commands(
    members: list[tuple[int, str]], bids: list[str], *, primary: str, leader: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(token, command body) of the steps between check-in and start_evaluation, for
    tests that post commands themselves: every member (seat, token) accepts the
    built-in pledge and declares no conflict; one election round elects ``leader``."""
    from evalsvc.sessions.pledge import DEFAULT_PLEDGE_TEXT, DEFAULT_PLEDGE_VERSION, pledge_of

    sha = pledge_of(DEFAULT_PLEDGE_TEXT, DEFAULT_PLEDGE_VERSION).sha256
    no_conflict = [{"bid_id": b, "conflict": False} for b in bids]
    choice = members[0][0] if leader is None else leader
    return [
        *[(t, {"command": "accept_pledge", "sha256": sha}) for _, t in members],
        *[(t, {"command": "declare_interests", "declarations": no_conflict}) for _, t in members],
        (primary, {"command": "open_election"}),
        *[(t, {"command": "cast_vote", "candidate": choice}) for _, t in members],
        (primary, {"command": "close_round"}),
    ]


def qualification_sheet(
    bids: tuple[str, ...] = ("B1", "B2", "B3"), passed: bool = True
) -> dict[str, Any]:
    return {"stage": "qualification", "bids": {b: {"Q1": passed} for b in bids}}


def scoring_sheet(
    t1: str = "40", c1: str = "8", bids: tuple[str, ...] = ("B1", "B2", "B3")
) -> dict[str, Any]:
    return {"stage": "scoring", "bids": {b: {"T1": t1, "C1": c1} for b in bids}}


@pytest.fixture
async def api(client: Any, settings: Settings) -> Harness:
    return Harness(client, settings)


# --- the expert draw (tests/experts/test_*api*.py, tests/e2e/test_invitation_restart.py) ---

DRAW_SEATS = (
    ("sh-ggzy", "SH", "A01", 3),
    ("js-suzhou", "JS", "A01", 2),
    ("ah-hefei", "AH", "C01", 2),
)


def draw_rules(*, alternates: int = 2) -> dict[str, Any]:
    """A rules document for :func:`session_doc`'s committee: the parties of
    config/draw-rules.example.toml, this session's venues and seats."""
    import tomllib

    with open(PROJECT_ROOT / "config" / "draw-rules.example.toml", "rb") as fh:
        doc = tomllib.load(fh)
    # The session's facts (docs/draw.md §6.1) — its tenderer, supervising departments
    # and bidders with their principals — are the server's to add; it dates the draw.
    doc["draw"] = {"alternates": alternates}
    for key in ("tenderer", "supervising_departments", "bidders"):
        del doc[key]
    doc["venues"] = [{"id": v, "name": v, "region": r} for v, r, _, _ in DRAW_SEATS]
    doc["seats"] = [{"venue": v, "specialty": sp, "count": n} for v, _, sp, n in DRAW_SEATS]
    doc.pop("region_caps", None)
    return doc


def import_pool(db_url: str, tmp_path: Path, *, count: int = 600, seed: int = 7) -> list[Any]:
    """Import a synthetic pool into the database with ``evalsvc experts import``."""
    import datetime as _dt
    import json as _json

    from evalsvc.cli import main
    from evalsvc.experts.pool import pool_document
    from evalsvc.experts.synth import synthetic_experts

    experts = synthetic_experts(count, seed=seed, as_of=_dt.date(2026, 11, 1))
    path = tmp_path / f"pool-{seed}.json"
    path.write_text(_json.dumps(pool_document(experts), ensure_ascii=False), encoding="utf-8")
    assert main(["experts", "import", str(path), "--database", db_url]) == 0
    return experts


async def drawing_session(api: Harness, doc: dict[str, Any] | None = None) -> str:
    """A registered session moved to ``drawing`` (no seat assigned)."""
    sid, _ = await api.create(doc)
    status, body = await api.command(sid, api.op(), "open_draw")
    assert status == 200, body
    return sid


async def run_ceremony(
    api: Harness,
    sid: str,
    *,
    rules: dict[str, Any] | None = None,
    parties: tuple[str, ...] = ("sh-ggzy", "js-suzhou", "ah-hefei", "supervisor"),
    commit_s: float = 1.0,
    reveal_s: float = 60.0,
    **extra: Any,
) -> dict[str, Any]:
    """Open a ceremony, commit and reveal for ``parties``; the last reveal's answer."""
    import datetime as _dt

    from evalsvc.experts.seed import commitment_digest

    now = api.now()
    commit_by = now + _dt.timedelta(seconds=api.window(commit_s))
    body: dict[str, Any] = {
        "commit_deadline": commit_by.isoformat(),
        "reveal_deadline": (commit_by + _dt.timedelta(seconds=reveal_s - commit_s)).isoformat(),
        **extra,
    }
    if rules is not None:
        body["rules"] = rules
    status, opened = await api.call("POST", f"/api/sessions/{sid}/draw", api.op(), json=body)
    assert status == 201, (opened.get("detail"), opened.get("errors"))
    # A fresh secret per ceremony (a digest is never accepted twice in a session); the
    # supervisor reveals last.
    secrets_ = {p: bytes([i + 1, opened["ceremony"]]) * 16 for i, p in enumerate(parties)}
    def token(party: str) -> str:
        return api.sup if party == "supervisor" else api.op(party)

    for p, secret in secrets_.items():
        digest = commitment_digest(secret, party=p,
                                   session_id=f"{sid}#{opened['ceremony']}")
        status, r = await api.call(
            "POST", f"/api/sessions/{sid}/draw/commitments", token(p), json={"digest": digest}
        )
        assert status == 201, r
    await api.pass_deadline(commit_by)
    last: dict[str, Any] = {}
    for p, secret in secrets_.items():
        status, last = await api.call(
            "POST", f"/api/sessions/{sid}/draw/reveals", token(p), json={"secret": secret.hex()}
        )
        assert status == 201, last
    return last
