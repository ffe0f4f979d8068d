"""The audit log as the server keeps it: every event a leaf, checkpoints signed at
milestones and within a second, supervisor proofs that verify offline."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from conftest import Harness, scoring_sheet

from evalsvc.audit.leaf import leaf_of_entry
from evalsvc.audit.merkle import leaf_hash, verify_consistency
from evalsvc.audit.note import open_note, parse_checkpoint, verify_tlog_proof


async def _key(api: Harness, sid: str) -> str:
    status, body = await api.call("GET", f"/api/sessions/{sid}/audit/key", api.sup)
    assert status == 200 and body["origin"] == f"evalsvc.local/{sid}"
    return str(body["log_vkey"])


async def test_every_event_is_a_leaf_and_milestones_are_checkpointed(api: Harness) -> None:
    sid, _experts = await api.to_stage("scoring")
    vkey = await _key(api, sid)
    # lock_qualification was a milestone: a checkpoint covering it exists at once.
    status, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
    assert status == 200
    cp = parse_checkpoint(open_note(note, [vkey]).text)
    assert cp.origin == f"evalsvc.local/{sid}"
    events = await api.events(sid)
    assert cp.size == len(events)
    # Each event's entry is the canonical JSON of what happened, provable offline.
    for e in (events[0], events[-1]):
        status, entry = await api.call(
            "GET", f"/api/sessions/{sid}/audit/entries/{e['seq'] - 1}", api.sup
        )
        assert status == 200
        doc = json.loads(entry["entry"])
        assert (doc["session"], doc["seq"], doc["action"]) == (sid, e["seq"], e["type"])
        data = base64.b64decode(entry["leaf_base64"])
        # The leaf commits to the entry's salted field digests (docs/audit.md "Leaves").
        assert data == leaf_of_entry(base64.b64decode(entry["entry_base64"]))
        assert doc["v"] == 2 and [n for _, n, _ in doc["disclosed"]][:1] == ["actor"]
        verify_tlog_proof(entry["tlog_proof"], data=data, log_vkey=vkey, witness_vkeys=[], quorum=0)


async def test_plain_submissions_are_checkpointed_within_seconds(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    vkey = await _key(api, sid)
    _, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
    old = parse_checkpoint(open_note(note, [vkey]).text)
    status, ack = await api.submit(sid, experts[0][1], scoring_sheet(), key="audit-sheet-1")
    assert status == 201
    for _ in range(50):  # the scheduler signs every second; allow a loaded machine 5 s
        _, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
        new = parse_checkpoint(open_note(note, [vkey]).text)
        if new.size >= ack["seq"]:
            break
        await asyncio.sleep(0.1)
    assert new.size == ack["seq"]
    status, cons = await api.call(
        "GET", f"/api/sessions/{sid}/audit/consistency?old={old.size}&new={new.size}", api.sup
    )
    assert status == 200
    verify_consistency(
        old_size=old.size,
        new_size=new.size,
        old_root=old.root,
        new_root=new.root,
        proof=[base64.b64decode(h) for h in cons["proof"]],
    )


async def test_rejected_requests_leave_no_leaf(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    status, _entry = await api.call("GET", f"/api/sessions/{sid}/audit/entries/0", api.sup)
    before = len(await api.events(sid))
    bad = await api.submit(sid, experts[0][1], scoring_sheet(t1="999"), key="audit-bad-1")
    assert bad[0] == 422
    status, _ = await api.call("GET", f"/api/sessions/{sid}/audit/entries/{before}", api.sup)
    assert status == 404


async def test_audit_api_is_for_supervisors_only(api: Harness) -> None:
    sid, experts = await api.to_stage("drawing")
    for token in (api.op(), experts[0][1]):
        status, _body = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", token)
        assert status == 403


async def test_exported_bundle_verifies_offline(api: Harness, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from evalsvc.audit.bundle import parse_policy
    from evalsvc.audit.export import export_bundle
    from evalsvc.audit.verify import verify_bundle

    sid, _experts = await api.to_stage("scoring")
    _, policy = await api.call("GET", f"/api/sessions/{sid}/audit/policy", api.sup)
    engine = sa.create_engine(
        api.settings.database.url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as conn:
            export_bundle(conn, sid, tmp_path / "bundle", policy=parse_policy(policy))
    finally:
        engine.dispose()
    report = verify_bundle(tmp_path / "bundle", trusted_policy=policy, extra_checkpoints=[])
    assert report.ok, report.summary()
    entries = (tmp_path / "bundle" / "entries").read_bytes().splitlines()
    assert len(entries) == len(await api.events(sid))
    assert all(leaf_hash(e) for e in entries)


async def test_the_venue_view_discloses_what_each_role_is_shown_and_nothing_more(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("scoring")
    vkey = await _key(api, sid)
    _, sup = await api.call("GET", f"/api/sessions/{sid}/audit/view", api.sup)
    status, op = await api.call("GET", f"/api/sessions/{sid}/audit/view", api.op("js-suzhou"))
    assert status == 200, op
    # Both views recompute the same leaves, hence the signed root of their checkpoint.
    cp = parse_checkpoint(open_note(op["checkpoint"], [vkey]).text)
    assert op["log_vkey"] == vkey and len(op["entries"]) == len(sup["entries"]) == cp.size
    for view in (sup, op):
        from evalsvc.audit.merkle import root_hash

        hashes = [leaf_hash(leaf_of_entry(e.encode())) for e in view["entries"]]
        assert root_hash(hashes) == cp.root
    # The supervisor is shown everything; the Suzhou operator not another venue's
    # experts (DESIGN.md's schedule): those fields stay digests, their salts unsent.
    assert all(json.loads(e)["hidden"] == [] for e in sup["entries"])
    events = {e["seq"]: e for e in await api.events(sid)}
    hidden_ids = set()
    for raw in op["entries"]:
        e = json.loads(raw)
        if e["action"] == "seat.assigned" and events[e["seq"]]["payload"]["venue_id"] != (
            "js-suzhou"
        ):
            assert e["hidden"] and "payload.expert_id" not in [n for _, n, _ in e["disclosed"]]
            hidden_ids.add(events[e["seq"]]["payload"]["expert_id"])
    assert hidden_ids and not any(i in json.dumps(op) for i in hidden_ids)
    # An expert is not served the log (404/403 as for the other audit reads).
    status, body = await api.call("GET", f"/api/sessions/{sid}/audit/view", experts[0][1])
    assert status == 403, body
    status, body = await api.call("GET", f"/api/sessions/{sid}/audit/view?limit=0", api.sup)
    assert status == 422 and "limit" in json.dumps(body), body
