"""A venue witness (C2SP tlog-witness add-checkpoint) against the real store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from evalsvc.audit.log import add_cosignature, consistency_proof_from_store, sign_checkpoint
from evalsvc.audit.merkle import consistency_proof, leaf_hash, root_hash
from evalsvc.audit.note import Checkpoint, generate_key, open_note, parse_checkpoint
from evalsvc.audit.note import sign_checkpoint as sign_cp
from evalsvc.audit.witness import (
    Cosigned,
    add_checkpoint,
    format_add_checkpoint,
    parse_add_checkpoint,
)

if TYPE_CHECKING:
    from tests.audit.conftest import AuditFixture

ORIGIN = "evalsvc.example/s-0042"
SESSION = "s-0042"

W_SKEY, W_VKEY = generate_key("venue.hefei.example", seed=b"W" * 32)


def _logs(fx: AuditFixture) -> dict[str, list[str]]:
    return {ORIGIN: [fx.log_vkey]}


def _send(fx: AuditFixture, body: str, latest: Cosigned | None, ts: int = 100):
    return add_checkpoint(body, logs=_logs(fx), latest=latest, skey=W_SKEY, timestamp=ts)


def test_request_body_round_trip() -> None:
    body = format_add_checkpoint(5, [b"\x01" * 32, b"\x02" * 32], "o\n1\nAA==\n\n— o x\n")
    assert body.startswith("old 5\nAQEB")
    assert parse_add_checkpoint(body) == (5, [b"\x01" * 32, b"\x02" * 32], "o\n1\nAA==\n\n— o x\n")


@pytest.mark.db
def test_witness_follows_the_log_and_the_primary_stores_its_cosignatures(
    audit_log: AuditFixture,
) -> None:
    fx = audit_log
    latest: Cosigned | None = None
    for end in (15, 20):
        fx.append(end - 5 if end == 20 else 13, end)
        with fx.engine.begin() as conn:
            note = sign_checkpoint(conn, session_id=SESSION, origin=ORIGIN, skey=fx.log_skey)
            old = latest.size if latest else 0
            proof = consistency_proof_from_store(conn, SESSION, old, end) if old else []
            resp = _send(fx, format_add_checkpoint(old, proof, note), latest)
            assert resp.status == 200, resp.reason
            assert resp.new_state is not None and resp.new_state.size == end
            latest = resp.new_state  # the venue persists this before answering
            add_cosignature(conn, session_id=SESSION, size=end, line=resp.body, witness_vkey=W_VKEY)
            cosigned = note + resp.body
            assert len(open_note(cosigned, [fx.log_vkey, _cos(W_VKEY)]).signatures) == 2
    # The same checkpoint again is cosigned again (fresh timestamp).
    assert latest is not None
    again = _send(fx, format_add_checkpoint(20, [], latest.note), latest, ts=200)
    assert again.status == 200


def _cos(vkey: str) -> str:
    from evalsvc.audit.note import cosignature_vkey

    return cosignature_vkey(vkey)


def _tree(n: int) -> list[bytes]:
    return [leaf_hash(bytes([i])) for i in range(n)]


def _state(fx: AuditFixture, n: int) -> Cosigned:
    note = sign_cp(Checkpoint(ORIGIN, n, root_hash(_tree(n))), fx.log_skey)
    return Cosigned(n, root_hash(_tree(n)), note)


@pytest.mark.db
def test_witness_refusals_name_the_check(audit_log: AuditFixture) -> None:
    fx = audit_log
    state = _state(fx, 8)
    new_note = sign_cp(Checkpoint(ORIGIN, 12, root_hash(_tree(12))), fx.log_skey)
    good_proof = consistency_proof(8, _tree(12))

    stale = _send(fx, format_add_checkpoint(5, good_proof, new_note), state)
    assert (stale.status, stale.body, stale.content_type) == (409, "8\n", "text/x.tlog.size")

    bad_proof = [good_proof[0][:-1] + b"\x00", *good_proof[1:]]
    r = _send(fx, format_add_checkpoint(8, bad_proof, new_note), state)
    assert r.status == 422 and "not consistent" in r.reason
    assert r.evidence == (state.note, new_note) and r.new_state is None

    fork_note = sign_cp(Checkpoint(ORIGIN, 8, b"\x05" * 32), fx.log_skey)
    r = _send(fx, format_add_checkpoint(8, [], fork_note), state)
    assert r.status == 409 and r.reason.startswith("fork")
    assert r.evidence == (state.note, fork_note)

    # A checkpoint that does not extend the cosigned tree (other leaves) → 422 with evidence.
    other = [leaf_hash(b"x" + bytes([i])) for i in range(12)]
    other_note = sign_cp(Checkpoint(ORIGIN, 12, root_hash(other)), fx.log_skey)
    r = _send(fx, format_add_checkpoint(8, consistency_proof(8, other), other_note), state)
    assert r.status == 422 and len(r.evidence) == 2

    mallory, _ = generate_key(ORIGIN)
    forged = sign_cp(Checkpoint(ORIGIN, 12, root_hash(_tree(12))), mallory)
    assert _send(fx, format_add_checkpoint(8, good_proof, forged), state).status == 403

    unknown = sign_cp(Checkpoint("other.example/log", 12, b"\x00" * 32), fx.log_skey)
    assert _send(fx, format_add_checkpoint(8, [], unknown), state).status == 404

    assert _send(fx, format_add_checkpoint(13, [], new_note), state).status == 400
    assert _send(fx, "old 01\n\n" + new_note, state).status == 400
    assert _send(fx, format_add_checkpoint(8, [b"\x00" * 32] * 64, new_note), state).status == 400
    assert _send(fx, format_add_checkpoint(0, good_proof, new_note), None).status == 422
    first = _send(fx, format_add_checkpoint(0, [], new_note), None)
    assert first.status == 200 and first.new_state == Cosigned(12, root_hash(_tree(12)), new_note)
    assert parse_checkpoint(first.new_state.note).size == 12
