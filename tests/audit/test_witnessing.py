"""Secondary venues as witnesses, end to end in one process: real venue agents on the
WebSocket link cosign milestone checkpoints, and the session waits for them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import EXPERT_IDS, Harness, make_settings, session_doc

from evalsvc.app import create_app
from evalsvc.audit.note import cosignature_vkey, generate_key, split_note
from evalsvc.config import Settings
from evalsvc.venues.agent import Agent, WitnessConfig
from evalsvc.venues.mirror import Mirror

VENUES = ("js-suzhou", "ah-hefei")


def _settings(tmp_path: Path, db_url: str, witness_vkeys: dict[str, str]) -> Settings:
    return make_settings(tmp_path, db_url, witness_keys=witness_vkeys, witness_retry_seconds=1)


async def _drawn(api: Harness) -> tuple[str, int]:
    sid, seats = await api.create(session_doc())
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    for seat, eid in zip(seats, EXPERT_IDS, strict=False):
        status, _ = await api.command(
            sid, api.op(), "assign_seat", seat=seat["index"], expert_id=eid, expert_name=eid
        )
        assert status == 200
    await api.designate(sid)
    status, body = await api.command(sid, api.op(), "complete_draw")  # milestone: draw done
    assert status == 200, body
    return sid, int(body["seq"])


async def _cosigners(api: Harness, sid: str, size: int) -> int:
    _, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint?size={size}", api.sup)
    return len(split_note(note)[1]) - 1  # minus the log's own signature


async def test_milestone_waits_for_every_venue_to_cosign(
    aiohttp_client: Any, tmp_path: Path, db_url: str
) -> None:
    keys = {v: generate_key(f"venue.{v}") for v in VENUES}
    settings = _settings(tmp_path, db_url, {v: vk for v, (_, vk) in keys.items()})
    client = await aiohttp_client(create_app(settings))
    api = Harness(client, settings)
    sid, milestone = await _drawn(api)

    # No venue has cosigned the draw yet: the session may not move on, and says why.
    before = await api.events(sid)
    status, body = await api.command(sid, api.op(), "start_check_in")
    assert status == 409, body
    assert "0 of the 2 venue cosignatures" in body["detail"]
    assert "js-suzhou" in body["detail"] and "ah-hefei" in body["detail"]
    assert await api.events(sid) == before
    # Pause stays possible while waiting.
    assert (await api.command(sid, api.op(), "pause", reason="等待副场"))[0] == 200
    assert (await api.command(sid, api.op(), "resume"))[0] == 200

    _, key = await api.call("GET", f"/api/sessions/{sid}/audit/key", api.sup)
    agents = []
    for v in VENUES:
        agent = Agent(
            primary=str(client.make_url("")).rstrip("/"),
            venue=v,
            token=api.op(v),
            mirror=Mirror(tmp_path / f"{v}.db"),
            witness=WitnessConfig(skey=keys[v][0], logs={key["origin"]: [key["log_vkey"]]}),
            discover_s=0.2,
        )
        agents.append(asyncio.create_task(agent.run()))
        if v == VENUES[0]:
            # One venue up, one still down: the milestone is held, naming the missing one.
            for _ in range(100):
                if await _cosigners(api, sid, milestone) >= 1:
                    break
                await asyncio.sleep(0.1)
            status, body = await api.command(sid, api.op(), "start_check_in")
            assert status == 409 and "1 of the 2" in body["detail"], body
            assert "ah-hefei" in body["detail"] and "js-suzhou" not in body["detail"]
    try:
        for _ in range(100):
            if await _cosigners(api, sid, milestone) >= 2:
                break
            await asyncio.sleep(0.1)
        _, note = await api.call(
            "GET", f"/api/sessions/{sid}/audit/checkpoint?size={milestone}", api.sup
        )
        names = {s.name for s in split_note(note)[1]}
        assert {f"venue.{v}" for v in VENUES} <= names
        assert "evalsvc-milestone draw-done" in note
        status, body = await api.command(sid, api.op(), "start_check_in")
        assert status == 200, body

        # The bundle verifies offline with both venues as a quorum of 2.
        import sqlalchemy as sa

        from evalsvc.audit.bundle import Policy, format_policy
        from evalsvc.audit.export import export_bundle
        from evalsvc.audit.verify import verify_bundle

        policy = Policy(
            key["origin"], key["log_vkey"], tuple(cosignature_vkey(keys[v][1]) for v in VENUES), 2
        )
        engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp_path / "bundle", policy=policy)
        finally:
            engine.dispose()
        # Offline, every milestone checkpoint must carry the quorum of cosignatures.
        report = verify_bundle(
            tmp_path / "bundle", trusted_policy=format_policy(policy), extra_checkpoints=[]
        )
        assert report.ok, report.summary()
        # Held to a third witness nobody runs, the milestone fails the quorum check.
        stricter = Policy(
            key["origin"],
            key["log_vkey"],
            (*policy.witness_vkeys, cosignature_vkey(generate_key("venue.zj-hangzhou")[1])),
            3,
        )
        report = verify_bundle(
            tmp_path / "bundle", trusted_policy=format_policy(stricter), extra_checkpoints=[]
        )
        assert not report.ok
        assert "FAIL [quorum] milestone checkpoint of size" in report.summary()
    finally:
        for t in agents:
            t.cancel()
        await asyncio.gather(*agents, return_exceptions=True)
