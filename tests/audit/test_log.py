"""The durable per-session log, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from evalsvc.audit import merkle
from evalsvc.audit.bundle import Policy
from evalsvc.audit.export import export_bundle
from evalsvc.audit.log import (
    add_cosignature,
    append_leaf,
    append_needs,
    append_rows,
    checkpoint_note,
    consistency_proof_from_store,
    cosigners,
    inclusion_proof_from_store,
    list_checkpoints,
    lock_session_log,
    log_size,
    read_leaves,
    root_at,
    sign_checkpoint,
    sign_checkpoints,
    tlog_proof_from_store,
    unsigned_sizes,
)
from evalsvc.audit.note import (
    cosign_checkpoint,
    generate_key,
    open_note,
    parse_checkpoint,
    verify_tlog_proof,
)
from evalsvc.audit.tables import install_triggers
from evalsvc.audit.verify import verify_bundle
from evalsvc.errors import Conflict, InvalidInput, NotFound, VerificationError

pytestmark = pytest.mark.db

S = "s-0001"
N = 45


def _data(i: int) -> bytes:
    return f'{{"action":"score","seq":{i + 1}}}'.encode()


def _fill(engine: Engine, n: int = N, session_id: str = S) -> list[bytes]:
    with engine.begin() as conn:
        return [append_leaf(conn, session_id=session_id, index=i, data=_data(i)) for i in range(n)]


def test_roots_and_proofs_match_the_in_memory_tree(engine: Engine) -> None:
    leaves = _fill(engine)
    _fill(engine, 5, session_id="other")  # another session's tree must not leak in
    with engine.connect() as conn:
        assert log_size(conn, S) == N and log_size(conn, "other") == 5
        for size in range(N + 1):
            assert root_at(conn, S, size) == merkle.root_hash(leaves[:size])
        for size in (1, 2, 7, 8, 31, 32, 33, N):
            for index in range(size):
                assert inclusion_proof_from_store(conn, S, index, size) == merkle.inclusion_proof(
                    index, leaves[:size]
                )
        for new in (1, 6, 16, 17, N):
            for old in range(new + 1):
                assert consistency_proof_from_store(conn, S, old, new) == merkle.consistency_proof(
                    old, leaves[:new]
                )
        assert [d for _, d in read_leaves(conn, S, 3, 6)] == [_data(3), _data(4), _data(5)]


def test_a_proof_is_one_query(engine: Engine) -> None:
    _fill(engine)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as conn:
            inclusion_proof_from_store(conn, S, 17, N)
            assert len(statements) == 1
            root_at(conn, S, N)
            assert len(statements) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_gaps_and_duplicates_are_refused(engine: Engine) -> None:
    _fill(engine, 3)
    with pytest.raises(Conflict, match="no leaf 4: leaf 5 would leave a gap"), engine.begin() as c:
        append_leaf(c, session_id=S, index=5, data=b"x")
    with pytest.raises(Conflict, match="already has leaf 2"), engine.begin() as conn:
        append_leaf(conn, session_id=S, index=2, data=b"x")
    with pytest.raises(InvalidInput), engine.begin() as conn:
        append_leaf(conn, session_id=S, index=-1, data=b"x")
    with engine.connect() as conn:
        with pytest.raises(NotFound):
            root_at(conn, S, 4)
        with pytest.raises(NotFound):
            consistency_proof_from_store(conn, S, 1, 4)
        with pytest.raises(InvalidInput):
            inclusion_proof_from_store(conn, S, 3, 3)


def test_a_batch_of_leaves_completes_the_same_subtrees(engine: Engine) -> None:
    # record() appends a command's events in one go: the subtree hashes it computes from
    # the stored ones must be those that appending leaf by leaf stores.
    _fill(engine)
    with engine.connect() as conn:
        stored = {
            (int(lvl), int(idx)): bytes(h)
            for lvl, idx, h in conn.execute(
                text("SELECT level, idx, hash FROM audit_node WHERE session_id = :s"), {"s": S}
            )
        }
    for first in range(N):
        for count in range(1, min(9, N - first) + 1):
            have = {k: stored[k] for k in append_needs(first, count)}
            rows = append_rows(S, first, [_data(i) for i in range(first, first + count)], have)
            completed = {
                (lvl, idx) for lvl, idx in stored if first <= ((idx + 1) << lvl) - 1 < first + count
            }
            assert {(lvl, idx) for lvl, idx, _ in rows} == completed
            assert all(stored[(lvl, idx)] == h for lvl, idx, h in rows)
    with pytest.raises(Conflict, match="no leaf 6: leaf 7 would leave a gap"):
        append_rows(S, 7, [b"x"], {})


def test_pending_logs_are_signed_together(engine: Engine) -> None:
    # The checkpoint job signs every session with uncovered leaves in a few statements.
    _fill(engine)
    _fill(engine, 5, session_id="other")
    _fill(engine, 3, session_id="covered")
    keys = {sid: generate_key(f"evalsvc.example/{sid}") for sid in (S, "other", "covered")}
    with engine.begin() as conn:
        origin = f"evalsvc.example/{S}"
        sign_checkpoint(conn, session_id=S, origin=origin, skey=keys[S][0], size=10)
        sign_checkpoint(conn, session_id="covered", origin="o", skey=keys["covered"][0])
        sids = [S, "covered", "empty", "other"]
        assert unsigned_sizes(conn, sids) == {S: N, "other": 5}
        logs = [
            (sid, f"evalsvc.example/{sid}", keys[sid][0], size)
            for sid, size in ((S, N), ("other", 5))
        ]
        assert sign_checkpoints(conn, logs) == 2
        assert unsigned_sizes(conn, sids) == {}
    with engine.connect() as conn:
        for sid, size in ((S, N), ("other", 5)):
            note = open_note(checkpoint_note(conn, sid), [keys[sid][1]])
            cp = parse_checkpoint(note.text)
            assert (cp.size, cp.root) == (size, root_at(conn, sid, size))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_leaf SET data = X'00' WHERE idx = 1",
        "DELETE FROM audit_leaf WHERE idx = 2",
        "UPDATE audit_node SET hash = X'00' WHERE level = 0",
        "DELETE FROM audit_node",
        "UPDATE audit_checkpoint SET note = 'x'",
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_cosignature",
    ],
)
def test_the_database_refuses_updates_and_deletes(engine: Engine, statement: str) -> None:
    _fill(engine, 4)
    skey, _ = generate_key("evalsvc.example/s-0001")
    w_skey, w_vkey = generate_key("w1.example")
    with engine.begin() as conn:
        note = sign_checkpoint(conn, session_id=S, origin="evalsvc.example/s-0001", skey=skey)
        line = cosign_checkpoint(note, w_skey, timestamp=1)
        add_cosignature(conn, session_id=S, size=4, line=line, witness_vkey=w_vkey)
        install_triggers(conn)  # idempotent on top of the ones create_all made
    if engine.dialect.name == "postgresql":
        statement = statement.replace("X'00'", "'\\x00'::bytea")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert log_size(conn, S) == 4
        assert root_at(conn, S, 4) == merkle.root_hash(
            [merkle.leaf_hash(_data(i)) for i in range(4)]
        )


def test_postgresql_refuses_truncate(pg_engine: Engine) -> None:
    _fill(pg_engine, 2)
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_leaf"))


def test_checkpoints_cosignatures_and_tlog_proofs(engine: Engine) -> None:
    origin = "evalsvc.example/s-0001"
    skey, vkey = generate_key(origin)
    w1, w2 = generate_key("venue.nj.example"), generate_key("venue.hz.example")
    _fill(engine, 10)
    with engine.begin() as conn:
        lock_session_log(conn, S)
        first = sign_checkpoint(conn, session_id=S, origin=origin, skey=skey)
        assert sign_checkpoint(conn, session_id=S, origin=origin, skey=skey) == first
        for i in range(10, 13):
            append_leaf(conn, session_id=S, index=i, data=_data(i))
        second = sign_checkpoint(conn, session_id=S, origin=origin, skey=skey)
        for w_skey, w_vkey in (w1, w2):
            line = cosign_checkpoint(second, w_skey, timestamp=1_800_000_000)
            assert add_cosignature(conn, session_id=S, size=13, line=line, witness_vkey=w_vkey)
        # A repeat by the same witness is verified and ignored.
        again = cosign_checkpoint(second, w1[0], timestamp=1_800_000_001)
        add_cosignature(conn, session_id=S, size=13, line=again, witness_vkey=w1[1])
        forged = cosign_checkpoint(first, w2[0], timestamp=1)  # over another checkpoint
        with pytest.raises(VerificationError, match="invalid cosignature"):
            add_cosignature(conn, session_id=S, size=13, line=forged, witness_vkey=w2[1])
        with pytest.raises(NotFound):
            add_cosignature(conn, session_id=S, size=99, line=forged, witness_vkey=w2[1])
    with engine.connect() as conn:
        assert cosigners(conn, S, 13) == ["venue.hz.example", "venue.nj.example"]
        assert cosigners(conn, S, 10) == []
        cps = list_checkpoints(conn, S)
        assert [(c.size, len(c.cosignatures)) for c in cps] == [(10, 0), (13, 2)]
        latest = checkpoint_note(conn, S)
        assert latest is not None
        opened = open_note(latest, [vkey])
        assert opened.text.startswith(origin + "\n13\n")
        proof = tlog_proof_from_store(conn, S, 11)
        verify_tlog_proof(
            proof, data=_data(11), log_vkey=vkey, witness_vkeys=[w1[1], w2[1]], quorum=2
        )
        with pytest.raises(NotFound, match="not yet covered"):
            tlog_proof_from_store(conn, S, 11, size=10)


def test_export_and_verify_from_postgresql(pg_engine: Engine, tmp_path: Path) -> None:
    origin = "evalsvc.example/s-0001"
    skey, vkey = generate_key(origin)
    w_skey, w_vkey = generate_key("venue.wuhu.example")
    _fill(pg_engine, 9)
    with pg_engine.begin() as conn:
        sign_checkpoint(conn, session_id=S, origin=origin, skey=skey, size=4)
        note = sign_checkpoint(conn, session_id=S, origin=origin, skey=skey)
        line = cosign_checkpoint(note, w_skey, timestamp=7)
        add_cosignature(conn, session_id=S, size=9, line=line, witness_vkey=w_vkey)
    with pg_engine.connect() as conn:
        meta = export_bundle(
            conn, S, tmp_path / "b", policy=Policy(origin, vkey, (w_vkey,), 1), entry_proofs=True
        )
    assert meta["entries"] == 9 and meta["checkpoints"] == [4, 9]
    report = verify_bundle(tmp_path / "b")
    assert report.ok, report.summary()


def test_one_appender_per_session_on_postgresql(pg_engine: Engine) -> None:
    with pg_engine.connect() as first, pg_engine.connect() as second:
        first.begin()
        lock_session_log(first, S)
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(DBAPIError, match="lock timeout"):
            lock_session_log(second, S)
        second.rollback()
        second.begin()
        lock_session_log(second, "another-session")  # other sessions are not blocked
        second.rollback()
        first.rollback()
