"""The session store's submission path, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from conftest import EXPERT_IDS, Harness, scoring_sheet

from evalsvc.audit.log import append_needs, fetch_append_nodes
from evalsvc.config import Settings
from evalsvc.db import make_engine
from evalsvc.sessions import store
from evalsvc.sessions.model import Stage


async def test_the_submission_reads_do_not_depend_on_a_stale_guess(
    api: Harness, settings: Settings
) -> None:
    # On PostgreSQL the version is read in the same round trip as the row lock, for the
    # seat and stage of this process's last parse of the session: a wrong guess (none,
    # or another stage) must not give a wrong version.
    sid, experts = await api.to_stage("scoring")
    for n in range(2):
        status, body = await api.submit(sid, experts[0][1], scoring_sheet(), key=f"sheet-{n}-key")
        assert status == 201, body["detail"]
    engine = make_engine(settings.database)
    try:
        with engine.begin() as conn:
            current, _ = store.load_session(conn, sid)
            guesses = [None, dataclasses.replace(current, stage=Stage.QUALIFICATION), current]
            for guess in guesses:
                store._PARSED.pop(sid, None)
                if guess is not None:
                    store._PARSED[sid] = ("not the stored text", guess)
                s, last, reads = store.load_for_submission(
                    conn, sid, actor="expert:x", key="unused-key", expert_id=EXPERT_IDS[0]
                )
                assert s.stage is Stage.SCORING and reads.replay is None
                assert reads.latest_version == 2
                assert reads.nodes == fetch_append_nodes(conn, sid, last)
            _, _, reads = store.load_for_submission(
                conn, sid, actor=f"expert:{EXPERT_IDS[0]}", key="sheet-1-key", expert_id=None
            )
            assert reads.replay is not None and reads.replay[1] == 201
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_the_audit_log_keys_in_sql_are_those_append_needs(db_url: str) -> None:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            for n in range(1100):
                sql = store.append_keys_sql_pg(":n")
                rows = conn.execute(sa.text(sql), {"n": n}).all()
                assert sorted((int(a), int(b)) for a, b in rows) == sorted(append_needs(n)), n
    finally:
        engine.dispose()
