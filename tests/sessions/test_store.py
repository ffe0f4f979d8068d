"""The session store's submission path, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import EXPERT_IDS, Harness, scoring_sheet

from evalsvc.audit.log import append_needs
from evalsvc.canonical import storage_json
from evalsvc.config import Settings
from evalsvc.db import make_engine
from evalsvc.errors import IdempotencyConflict
from evalsvc.sessions import store
from evalsvc.sessions.model import Stage, session_to_doc
from evalsvc.sessions.store.pipelined import Pipelined
from evalsvc.sessions.store.reads import SessionDocs
from evalsvc.sessions.store.writes import Wiring, execute
from evalsvc.sessions.transitions import Change, Needs, Snapshot, Transition


class _Seen(Exception):
    """Raised by the decision below, with the snapshot it was given."""


def _peek(snap: Snapshot) -> Change:
    raise _Seen(snap)


async def test_the_submission_reads_do_not_depend_on_a_stale_guess(
    api: Harness, settings: Settings
) -> None:
    # On PostgreSQL the pipelined driver reads the version in the same round trip as the
    # row lock, for the seat and stage of the app's last parse of the session: a wrong
    # guess (none, or another stage) must not give a wrong version. The sequential
    # driver reads it after the lock. Both must hand the decision the same snapshot.
    sid, experts = await api.to_stage("scoring")
    for n in range(2):
        status, body = await api.submit(sid, experts[0][1], scoring_sheet(), key=f"sheet-{n}-key")
        assert status == 201, body["detail"]
    engine = make_engine(settings.database)

    def seen(conn: Any, run: Any) -> Snapshot:
        with pytest.raises(_Seen) as caught:
            run(conn)
        snap: Snapshot = caught.value.args[0]
        return snap

    try:
        with engine.begin() as conn:
            current, _ = store.load_session(conn, sid)
            guesses = [None, dataclasses.replace(current, stage=Stage.QUALIFICATION), current]
            for guess in guesses:
                docs = SessionDocs()
                if guess is not None:  # the app's last parse, not the stored text
                    docs.parse(sid, storage_json(session_to_doc(guess)))
                w = Wiring(docs)
                t = Transition(
                    sid,
                    "expert:x",
                    None,
                    _peek,
                    key="unused-key",
                    needs=Needs(sheet_version_of=EXPERT_IDS[0], batch=True),
                )
                snaps = [seen(conn, functools.partial(execute, t=t, w=w, now_ms=1))]
                if conn.dialect.name == "postgresql":

                    def steps(conn: Any, t: Transition = t, w: Wiring = w) -> None:
                        p = Pipelined(t, w, 1)
                        with conn.connection.dbapi_connection.pipeline():
                            p.send_reads(conn, wait=True)
                        p.plan(conn)

                    snaps.append(seen(conn, steps))
                for snap in snaps:
                    assert snap.locked.stage is Stage.SCORING and snap.replay is None
                    assert snap.sheet_version == 2
                assert all(x == snaps[0] for x in snaps)
            t = Transition(
                sid,
                f"expert:{EXPERT_IDS[0]}",
                None,
                _peek,
                key="sheet-1-key",
                request_sha256="x",
                route="sheet",
            )
            with pytest.raises(IdempotencyConflict):  # the key's first answer was found
                execute(conn, t, Wiring(SessionDocs()), 1)
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
