"""The two store drivers mean the same thing (PostgreSQL).

The sequential driver (evalsvc.sessions.store.writes) is the reference; the pipelined
one (evalsvc.sessions.store.pipelined) runs a group of score sheets with one round trip
per step for all of them. For the same random batch of transitions — sheets valid and
invalid, keys fresh, repeated and reused with another body, a pause and a resume that
make a group fall back to the sequential way — both must give the same responses and
errors, and leave the same rows: sessions, events, audit leaves and nodes, sheets and
idempotency records.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import EXPERT_IDS, fresh_database, qualification_sheet, scoring_sheet, session_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsvc.auth import Principal
from evalsvc.config import DatabaseSettings
from evalsvc.db import Database
from evalsvc.errors import EvalsvcError
from evalsvc.schema import ensure_schema
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.committee import pledge_declare_elect
from evalsvc.sessions.model import ScoringRules
from evalsvc.sessions.service import SessionService
from evalsvc.sessions.store.pipelined import Pipelined
from evalsvc.sessions.uow import UnitOfWork

pytestmark = [pytest.mark.postgres_only, pytest.mark.db]

OP = Principal("operator", "op-sh", "上海操作员", venue="sh-ggzy")
SUP = Principal("supervisor", "sup-1", "监督员")
SEAT_VENUES = ("sh-ggzy",) * 3 + ("js-suzhou",) * 2 + ("ah-hefei",) * 2
EXPERTS = [Principal("expert", e, e, venue=v) for e, v in zip(EXPERT_IDS, SEAT_VENUES, strict=True)]
TABLES = {
    "session": "id, state, last_seq, doc, updated_at",
    "event": "session_id, seq, type, payload, actor, venue, time_ms",
    "audit_leaf": "session_id, idx, data",
    "audit_node": "session_id, level, idx, hash",
    "score_sheet": "session_id, seat, stage, version, expert_id, doc, sha256, seq, submitted_ms",
    "idempotency_key": "actor, key, session_id, request_sha256, status, response, created_ms",
}


async def _scoring_sessions(svc: SessionService, count: int) -> list[str]:
    """``count`` sessions taken to the scoring stage, the same way in every database."""
    sids = []
    for _ in range(count):
        created = await svc.create(OP, session_doc(), key=None)
        sid = str(created.body["id"])
        await svc.command(OP, sid, {"command": "open_draw"}, key=None)
        for i, p in enumerate(EXPERTS):
            await svc.command(
                OP,
                sid,
                {
                    "command": "assign_seat",
                    "seat": i,
                    "expert_id": p.subject,
                    "expert_name": p.name,
                },
                key=None,
            )
        await svc.command(OP, sid, {"command": "designate_experts", "reason": "指定"}, key=None)
        await svc.command(SUP, sid, {"command": "decide_designation", "approve": True,
                                     "reason": "批准"}, key=None)
        for name in ("complete_draw", "start_check_in"):
            await svc.command(OP, sid, {"command": name}, key=None)
        for i, p in enumerate(EXPERTS):
            venue_op = Principal("operator", f"op-{p.venue}", "操作员", venue=p.venue)
            await svc.command(venue_op, sid, {"command": "check_in", "seat": i}, key=None)
        await pledge_declare_elect(svc, sid, primary=OP, members=EXPERTS,
                                   bids=["B1", "B2", "B3"])
        await svc.command(OP, sid, {"command": "start_evaluation"}, key=None)
        for p in EXPERTS:
            await svc.submit_sheet(p, sid, qualification_sheet(), key=f"q-{sid}-{p.subject}")
        await svc.command(OP, sid, {"command": "lock_qualification"}, key=None)
        sids.append(sid)
    return sids


Op = tuple[str, int, int, int, int]  # (kind, session, expert, value, key)
ops = st.lists(
    st.tuples(
        st.sampled_from(["sheet", "sheet", "sheet", "bad_sheet", "wrong_stage", "pause", "resume"]),
        st.integers(0, 1),
        st.integers(0, len(EXPERTS) - 1),
        st.integers(0, 55),  # T1's points: over 50 is refused
        st.integers(0, 3),  # a few keys per expert: repeats replay or conflict
    ),
    min_size=1,
    max_size=14,
)


async def _run(url: str, batch: list[Op], *, pipelined: bool) -> tuple[list[Any], dict[str, Any]]:
    db = Database(DatabaseSettings(url=url, pool_size=2))
    try:
        await asyncio.get_running_loop().run_in_executor(None, ensure_schema, db.engine)
        ids = iter(f"s-{n:012x}" for n in range(100))
        # The audit leaves' field salts: one constant, as a retried pipelined batch draws
        # its salts again (fresh CSPRNG output in the server; here only the drivers are
        # compared, so every leaf must come out the same in both runs).
        uow = UnitOfWork(
            db, bus=LocalBus(), clock_ms=lambda: 1_700_000_000_000, pipelined=pipelined,
            field_salt=lambda: bytes(16),
        )
        salts = (n.to_bytes(32, "big") for n in itertools.count())  # the same in both runs
        svc = SessionService(
            uow, new_id=lambda: next(ids), defaults=ScoringRules(), salt=lambda: next(salts)
        )
        sids = await _scoring_sessions(svc, 2)

        async def one(op: Op) -> Any:
            kind, s, e, value, k = op
            sid, p = sids[s], EXPERTS[e]
            try:
                if kind in ("pause", "resume"):
                    fields = {"reason": "网络中断"} if kind == "pause" else {}
                    r = await svc.command(
                        SUP, sid, {"command": kind, **fields}, key=f"{sid}-{kind}-{k}"
                    )
                elif kind == "wrong_stage":
                    r = await svc.submit_sheet(p, sid, qualification_sheet(), key=f"{sid}-k{k}")
                else:
                    t1 = str(value if kind == "sheet" else 51 + value)
                    r = await svc.submit_sheet(p, sid, scoring_sheet(t1=t1), key=f"{sid}-k{k}")
                return (r.status, r.body, r.replayed)
            except EvalsvcError as exc:
                return (type(exc).__name__, exc.message)

        # All at once: the writer takes them in groups, in this order per session.
        responses = list(await asyncio.gather(*(one(op) for op in batch)))

        def dump(conn: Any) -> dict[str, Any]:
            return {
                table: [
                    tuple(r)
                    for r in conn.exec_driver_sql(
                        f"SELECT {cols} FROM {table} ORDER BY "
                        + ", ".join(str(i + 1) for i in range(cols.count(",") + 1))
                    )
                ]
                for table, cols in TABLES.items()
            }

        return responses, await db.read(dump)
    finally:
        db.close()


def _compare(batch: list[Op]) -> int:
    """Run ``batch`` with each driver on a fresh database; returns how many decisions the
    pipelined driver made in a pipeline (the rest fell back to the sequential way)."""
    results = []
    planned = 0
    real_plan = Pipelined.plan

    def counting_plan(self: Pipelined, conn: Any) -> None:
        nonlocal planned
        planned += 1
        real_plan(self, conn)

    for pipelined in (False, True):
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(Path(tmp)) as url,
            mock.patch.object(Pipelined, "plan", counting_plan),
        ):
            results.append(asyncio.run(_run(url, batch, pipelined=pipelined)))
    (seq_responses, seq_rows), (pipe_responses, pipe_rows) = results
    assert pipe_responses == seq_responses
    for table in TABLES:
        assert pipe_rows[table] == seq_rows[table], table
    return planned


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=ops)
def test_the_pipelined_driver_writes_what_the_sequential_one_does(batch: list[Op]) -> None:
    _compare(batch)


def test_a_group_of_sheets_is_decided_in_a_pipeline() -> None:
    # Sheets only, on both sessions, with replays and a conflicting reuse of a key: the
    # pipelined driver must actually have run (and written what the reference did).
    batch: list[Op] = [("sheet", n % 2, n % 7, 10 + n, n % 3) for n in range(16)]
    batch += [("sheet", 0, 0, 10, 0), ("bad_sheet", 1, 1, 0, 1)]
    assert _compare(batch) >= len(batch) // 2
