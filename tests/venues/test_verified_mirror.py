"""A venue mirror keeps only what it checked against the signed, cosigned log; a primary
that then shows it another history (a split view) is caught, the evidence kept, and the
mirror's own bundle still verifies (docs/audit.md "Venue views")."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from conftest import Harness, make_settings
from drawn_session import drawn

from evalsvc.app import create_app
from evalsvc.audit.bundle import Policy, format_policy
from evalsvc.audit.note import Checkpoint, cosignature_vkey, generate_key
from evalsvc.audit.note import sign_checkpoint as sign_note
from evalsvc.audit.rederive import verify_sealed
from evalsvc.audit.service import log_keys
from evalsvc.keys import load_or_create_secret
from evalsvc.venues.agent import Agent, WitnessConfig
from evalsvc.venues.export import export_mirror
from evalsvc.venues.mirror import Mirror
from evalsvc.venues.readonly import create_readonly_app

VENUE = "js-suzhou"


async def test_the_mirror_verifies_catches_a_fork_and_exports_a_bundle_that_verifies(
    aiohttp_client: Any, tmp_path: Path, db_url: str
) -> None:
    skey, vkey = generate_key(f"venue.{VENUE}")
    settings = make_settings(tmp_path, db_url, witness_keys={VENUE: vkey},
                             witness_retry_seconds=1)
    client = await aiohttp_client(create_app(settings))
    api = Harness(client, settings)
    sid, milestone = await drawn(api)
    _, key = await api.call("GET", f"/api/sessions/{sid}/audit/key", api.sup)
    mirror = Mirror(tmp_path / "venue" / f"{VENUE}.db")
    agent = Agent(
        primary=str(client.make_url("")).rstrip("/"), venue=VENUE, token=api.op(VENUE),
        mirror=mirror, witness=WitnessConfig(skey=skey, logs={key["origin"]: [key["log_vkey"]]}),
        discover_s=0.2, verify_s=3600,  # the test drives verification itself
    )
    task = asyncio.create_task(agent.run())
    try:
        for _ in range(200):  # the venue cosigns the draw's milestone
            st = mirror.witness_state(key["origin"])
            if st and st[0] >= milestone and sid in agent.synced and agent.synced[sid].is_set():
                break
            await asyncio.sleep(0.05)
        assert await agent.verify_once(sid) == f"verified {milestone}"
        status = mirror.audit_status(sid)
        assert status.verified == milestone and status.split is None
        # An event after the last cosigned checkpoint is held pending, and shown so by the
        # venue's read-only HTTP; what was checked is shown verified.
        assert (await api.command(sid, api.op(), "pause", reason="线路检查"))[0] == 200
        for _ in range(200):
            if mirror.cursor(sid).last_seq > milestone:
                break
            await asyncio.sleep(0.05)
        assert await agent.verify_once(sid) == f"verified {milestone}"
        ro = await aiohttp_client(create_readonly_app(agent, mirror.path))
        page = await (await ro.get(f"/sessions/{sid}/events")).json()
        assert page["verified_seq"] == milestone
        flags = {e["seq"]: e["verified"] for e in page["events"]}
        assert flags[milestone] is True and flags[milestone + 1] is False
        listed = (await (await ro.get("/sessions")).json())["sessions"]
        assert [(x["id"], x["verified_seq"], x["split_view"]) for x in listed] == [
            (sid, milestone, None)]
        # The operator's view hides the draw's inputs: they stay digests in the mirror.
        entries = mirror.verified_entries(sid)
        assert any(json.loads(e)["hidden"] for e in entries)

        # The venue's own bundle verifies with the supervisor's keys: this venue's
        # witness key, quorum 1.
        out = tmp_path / "venue-bundle"
        meta = export_mirror(mirror, sid, out, venue=VENUE)
        assert meta["entries"] == milestone and meta["undisclosed_fields"] > 0
        policy = format_policy(Policy(key["origin"], key["log_vkey"],
                                      (cosignature_vkey(vkey),), 1))
        report = verify_sealed(out, trusted_policy=policy)
        assert report.ok, report.text()
        assert "fields not disclosed" in report.checks["disclosure"].detail
        # An entry edited in the venue's bundle fails the log check.
        lines = (out / "entries").read_bytes().split(b"\n")
        lines[1] = lines[1].replace(b'"time_ms":', b'"time_ms":1', 1)
        (out / "entries").write_bytes(b"\n".join(lines))
        assert not verify_sealed(out, trusted_policy=policy).checks["log"].ok

        # The primary now shows another history at the size its witness cosigned: a
        # checkpoint signed by the log key, same size, another root.
        master = load_or_create_secret(Path(settings.resolve(settings.audit.key_file)))
        log_skey, _ = log_keys(master, key["origin"])
        forged = sign_note(Checkpoint(key["origin"], milestone, bytes(32), ()), log_skey)
        # ... served to this venue only (the primary's answers to it are rewritten).
        real = agent._get_view

        async def forked_view(session_id: str, start: int, size: int | None) -> dict[str, Any]:
            return {**await real(session_id, start, size), "checkpoint": forged}

        agent._get_view = forked_view  # type: ignore[method-assign]
        # Make the venue look at that size again (as a venue that lost its copy would).
        mirror._db.execute("DELETE FROM audit_entry WHERE session_id = ?", (sid,))
        outcome = await agent.verify_once(sid)
        assert outcome.startswith("split: two checkpoints of size"), outcome
        status = mirror.audit_status(sid)
        assert status.split is not None and status.split[0] == "fork"
        evidence = Path(status.split[2])
        assert os.stat(evidence).st_mode & 0o777 == 0o600
        doc = json.loads(evidence.read_text("utf-8"))
        assert doc["evidence"]["served"] == forged and doc["evidence"]["trusted"]
        # It stops accepting from that primary, and says so to the venue's operators.
        assert sid in agent.splits
        health = await (await ro.get("/healthz")).json()
        assert "two checkpoints of size" in health["split_views"][sid]
        listed = (await (await ro.get("/sessions")).json())["sessions"]
        assert listed[0]["split_view"].startswith("fork: ")
        # The agent hands the evidence to the primary: its supervisors see the alert.
        await agent.reports[sid]
        reported = mirror.audit_status(sid).reported
        assert reported is not None and reported[0], reported
        (alert,) = [e for e in await api.events(sid) if e["type"] == "alert.raised"]
        assert alert["payload"]["evidence"]["served"] == forged
        assert alert["payload"]["venue_id"] == VENUE
        # A restarted agent that does not know the report arrived sends it again; the
        # primary records it once (the same Idempotency-Key).
        mirror._db.execute("DELETE FROM split_report WHERE session_id = ?", (sid,))
        again = Agent(primary=agent.primary, venue=VENUE, token=api.op(VENUE), mirror=mirror)
        again.follow(sid)
        await again.reports[sid]
        assert mirror.audit_status(sid).reported == reported
        assert len([e for e in await api.events(sid) if e["type"] == "alert.raised"]) == 1
        assert sid not in again.links
        if again._http is not None:
            await again._http.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        mirror.close()


async def test_an_event_streamed_otherwise_than_logged_is_a_split_view(
    aiohttp_client: Any, tmp_path: Path, db_url: str
) -> None:
    # The primary streams this venue one thing and logs another (here: the event the
    # venue holds is changed after the fact, as a lying stream would have delivered it).
    skey, vkey = generate_key(f"venue.{VENUE}")
    settings = make_settings(tmp_path, db_url, witness_keys={VENUE: vkey},
                             witness_retry_seconds=1)
    client = await aiohttp_client(create_app(settings))
    api = Harness(client, settings)
    sid, milestone = await drawn(api)
    _, key = await api.call("GET", f"/api/sessions/{sid}/audit/key", api.sup)
    mirror = Mirror(tmp_path / "venue" / f"{VENUE}.db")
    agent = Agent(
        primary=str(client.make_url("")).rstrip("/"), venue=VENUE, token=api.op(VENUE),
        mirror=mirror, witness=WitnessConfig(skey=skey, logs={key["origin"]: [key["log_vkey"]]}),
        discover_s=0.2, verify_s=3600,
    )
    task = asyncio.create_task(agent.run())
    try:
        for _ in range(200):
            st = mirror.witness_state(key["origin"])
            if st and st[0] >= milestone and sid in agent.synced and agent.synced[sid].is_set():
                break
            await asyncio.sleep(0.05)
        # This venue's own seat assignment: shown to it in full (expert id and name).
        seq, ev = next(
            (n, e) for n in range(1, milestone + 1)
            if (e := mirror.event(sid, n)) is not None and e["event"] == "seat.assigned"
            and e["payload"].get("venue_id") == VENUE and e["payload"].get("expert_name")
        )
        forged = {**ev["payload"], "expert_name": "另一位专家"}
        mirror._db.execute("UPDATE event SET payload = ? WHERE session_id = ? AND seq = ?",
                           (json.dumps(forged, ensure_ascii=False), sid, seq))
        outcome = await agent.verify_once(sid)
        assert outcome == (f"split: event {seq} as streamed to this venue differs from its "
                           "logged entry"), outcome
        status = mirror.audit_status(sid)
        assert status.split is not None and status.split[0] == "event"
        doc = json.loads(Path(status.split[2]).read_text("utf-8"))
        assert doc["evidence"]["event"]["payload"]["expert_name"] == "另一位专家"
        assert '"payload.expert_name"' in doc["evidence"]["entry"]
        # Nothing is kept as verified past the split.
        assert agent.follow(sid) is None and sid in agent.splits
        # Unsigned evidence is not sent (the primary could not check it): the venue keeps
        # it, says so, and its bundle carries it to `audit verify`, which names it.
        await agent.reports[sid]
        reported = mirror.audit_status(sid).reported
        assert reported is not None and not reported[0] and "未经日志签名" in reported[1]
        assert not [e for e in await api.events(sid) if e["type"] == "alert.raised"]
        out = tmp_path / "venue-bundle"
        assert export_mirror(mirror, sid, out, venue=VENUE)["split_view"] == "event"
        policy = format_policy(Policy(key["origin"], key["log_vkey"],
                                      (cosignature_vkey(vkey),), 1))
        report = verify_sealed(out, trusted_policy=policy)
        assert report.checks["log"].ok and not report.ok
        assert "未经日志签名" in report.checks["split_view"].detail
        (out / "split_view.json").unlink()
        assert not verify_sealed(out, trusted_policy=policy).checks["split_view"].ok
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        mirror.close()
