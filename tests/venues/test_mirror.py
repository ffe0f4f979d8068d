"""The venue mirror and the witness hook, without a network."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from evalsvc.audit.merkle import consistency_proof, leaf_hash, root_hash
from evalsvc.audit.note import Checkpoint, generate_key, sign_checkpoint
from evalsvc.audit.witness import format_add_checkpoint
from evalsvc.venues.agent import Agent, WitnessConfig
from evalsvc.venues.mirror import Mirror, open_readonly

ORIGIN = "evalsvc.example/s-0042"
LOG_SKEY, LOG_VKEY = generate_key(ORIGIN, seed=b"L" * 32)
W_SKEY, _W_VKEY = generate_key("venue.suzhou.example", seed=b"W" * 32)


def ev(seq: int, kind: str = "sheet.submitted") -> dict[str, Any]:
    return {
        "type": "event",
        "seq": seq,
        "event": kind,
        "payload": {"seat": 1, "version": seq},
        "actor": "expert",
        "venue": "js-suzhou",
        "time": 1_700_000_000_000 + seq,
    }


def test_events_survive_a_restart_and_gaps_or_duplicates_are_refused(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "m.db")
    m.append("s-1", "ep-1", [ev(1), ev(2), ev(3)], now_ms=1)
    with pytest.raises(ValueError, match="expected seq 4, got 3"):
        m.append("s-1", "ep-1", [ev(3)], now_ms=2)
    with pytest.raises(ValueError, match="expected seq 5, got 6"):
        m.append("s-1", "ep-1", [ev(4), ev(6)], now_ms=2)  # nothing of a bad batch is kept
    cur = m.cursor("s-1")
    m.close()
    again = Mirror(tmp_path / "m.db")
    assert again.cursor("s-1") == cur and cur.last_seq == 3 and cur.epoch == "ep-1"
    assert again.cursor("s-unknown").last_seq == 0


def test_a_snapshot_moves_the_cursor_and_another_epoch_keeps_the_old_records(
    tmp_path: Path,
) -> None:
    m = Mirror(tmp_path / "m.db")
    m.append("s-1", "ep-1", [ev(1), ev(2)], now_ms=1)
    m.snapshot("s-1", "ep-2", 1, "epoch", {"id": "s-1", "last_seq": 1}, now_ms=2)
    assert m.cursor("s-1").last_seq == 1 and m.cursor("s-1").epoch == "ep-2"
    m.append("s-1", "ep-2", [ev(2)], now_ms=3)
    ro = open_readonly(tmp_path / "m.db")
    kept = ro.execute("SELECT session_id, seq FROM event ORDER BY session_id, seq").fetchall()
    assert kept == [("s-1", 2), ("s-1@ep-1", 1), ("s-1@ep-1", 2)]


def test_the_read_only_connection_cannot_write(tmp_path: Path) -> None:
    Mirror(tmp_path / "m.db").append("s-1", "ep", [ev(1)], now_ms=1)
    ro = open_readonly(tmp_path / "m.db")
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("DELETE FROM event")


def _checkpoint(size: int) -> tuple[str, list[bytes]]:
    leaves = [leaf_hash(b"leaf %d" % i) for i in range(size)]
    return sign_checkpoint(Checkpoint(ORIGIN, size, root_hash(leaves)), LOG_SKEY), leaves


def test_the_witness_hook_cosigns_and_persists_atomically(tmp_path: Path) -> None:
    m = Mirror(tmp_path / "m.db")
    agent = Agent(
        primary="http://127.0.0.1:1",
        venue="js-suzhou",
        token="t",
        mirror=m,
        witness=WitnessConfig(skey=W_SKEY, logs={ORIGIN: [LOG_VKEY]}),
    )
    note5, _ = _checkpoint(5)
    status, body, _ = agent.handle_add_checkpoint(format_add_checkpoint(0, [], note5))
    assert status == 200 and body.startswith("— venue.suzhou.example ")
    assert m.witness_state(ORIGIN) is not None and m.witness_state(ORIGIN)[0] == 5  # type: ignore[index]
    # A stale old size is answered 409 with the stored size (C2SP tlog-witness).
    note9, leaves9 = _checkpoint(9)
    status, body, ctype = agent.handle_add_checkpoint(format_add_checkpoint(0, [], note9))
    assert (status, body, ctype) == (409, "5\n", "text/x.tlog.size")
    proof = consistency_proof(5, leaves9)
    status, _, _ = agent.handle_add_checkpoint(format_add_checkpoint(5, proof, note9))
    assert status == 200 and m.witness_state(ORIGIN)[0] == 9  # type: ignore[index]
    # Compare-and-set: a writer that checked against size 5 loses to the one that won.
    assert not m.save_witness_state(
        ORIGIN, expected_size=5, size=7, root=b"x" * 32, note="n", now_ms=1
    )
    no_witness = Agent(primary="http://x", venue="v", token="t", mirror=m)
    assert no_witness.handle_add_checkpoint("old 0\n\n")[0] == 404


def test_a_witness_that_caught_a_split_view_cosigns_nothing_more_of_that_log(
    tmp_path: Path,
) -> None:
    m = Mirror(tmp_path / "m.db")
    agent = Agent(primary="http://127.0.0.1:1", venue="js-suzhou", token="t", mirror=m,
                  witness=WitnessConfig(skey=W_SKEY, logs={ORIGIN: [LOG_VKEY]}))
    note5, _ = _checkpoint(5)
    m.record_split(ORIGIN.rsplit("/", 1)[-1], kind="fork", detail="d", evidence="e",
                   now_ms=1)
    status, body, _ = agent.handle_add_checkpoint(format_add_checkpoint(0, [], note5))
    assert status == 409 and "不再为该日志联署" in body
    assert m.witness_state(ORIGIN) is None


async def test_the_witness_answers_over_http_too(tmp_path: Path, aiohttp_client: Any) -> None:
    from evalsvc.venues.readonly import create_readonly_app

    m = Mirror(tmp_path / "m.db")
    agent = Agent(primary="http://127.0.0.1:1", venue="js-suzhou", token="t", mirror=m,
                  witness=WitnessConfig(skey=W_SKEY, logs={ORIGIN: [LOG_VKEY]}))
    client = await aiohttp_client(create_readonly_app(agent, tmp_path / "m.db"))
    note5, _ = _checkpoint(5)
    r = await client.post("/add-checkpoint", data=format_add_checkpoint(0, [], note5))
    assert r.status == 200 and (await r.text()).startswith("— venue.suzhou.example ")
    note9, _ = _checkpoint(9)
    r = await client.post("/add-checkpoint", data=format_add_checkpoint(0, [], note9))
    assert (r.status, await r.text(), r.content_type) == (409, "5\n", "text/x.tlog.size")
    r = await client.post("/add-checkpoint", data=format_add_checkpoint(5, [b"\0" * 32], note9))
    assert r.status == 422  # a bad consistency proof
    assert m.witness_state(ORIGIN)[0] == 5  # type: ignore[index]
