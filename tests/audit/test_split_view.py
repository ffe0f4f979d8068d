"""A venue hands in split-view evidence (docs/audit.md "Split views"): two checkpoints of
one size signed by the session log's key with different roots. The server checks both
signatures and records an ``alert.raised`` event of rule ``split_view`` that reaches the
supervisors, over REST and the WebSocket, and nobody else: an expert and another venue's
operator receive the same bytes whichever venue reported which fork. Evidence that proves
nothing gets a 422 naming the field and records nothing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from conftest import Harness
from wshelp import connect

from evalsvc.audit.note import Checkpoint, generate_key, open_note, parse_checkpoint
from evalsvc.audit.note import sign_checkpoint as sign_note
from evalsvc.audit.routes import AUDIT
from evalsvc.audit.splitview import bundle_check


async def _trusted(api: Harness, sid: str) -> tuple[str, Checkpoint]:
    status, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
    assert status == 200, note
    return note, parse_checkpoint(note)


def _fork(api: Harness, sid: str, cp: Checkpoint, tag: bytes = b"forked") -> str:
    """A checkpoint of the same size over another tree, signed by the log's own key (what
    a lying primary shows one venue)."""
    skey = api.client.app[AUDIT].keys(sid)[0]
    return sign_note(Checkpoint(cp.origin, cp.size, hashlib.sha256(tag + cp.root).digest(),
                                ()), skey)


async def _report(api: Harness, sid: str, venue: str, evidence: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/sessions/{sid}/audit/split-view", api.op(venue),
                          json={"evidence": evidence})


async def _reported(api: Harness) -> tuple[str, Any, Checkpoint, str, Any]:
    """A session checking in whose Suzhou agent reported a fork: (id, its experts, the
    trusted checkpoint, the served note, the answer)."""
    sid, experts = await api.to_stage("checking_in")
    trusted, cp = await _trusted(api, sid)
    served = _fork(api, sid, cp)
    status, body = await _report(api, sid, "js-suzhou",
                                 {"kind": "fork", "trusted": trusted, "served": served})
    assert status == 201, body
    return sid, experts, cp, served, body


def _alerts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "alert.raised"]


async def _seen_by(api: Harness, sid: str, token: str) -> list[dict[str, Any]]:
    status, body = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", token)
    assert status == 200, body
    return _alerts(body["events"])


async def test_a_fork_reported_by_a_venue_reaches_supervisors_only(api: Harness) -> None:
    sid, experts = await api.to_stage("checking_in")
    trusted, cp = await _trusted(api, sid)
    served = _fork(api, sid, cp)
    sup_ws, _, _, _ = await connect(api, sid, api.sup, last_seq=0)

    status, body = await _report(api, sid, "js-suzhou",
                                 {"kind": "fork", "trusted": trusted, "served": served})
    assert status == 201, body
    assert body["rule"] == "split_view" and body["size"] == cp.size

    # The supervisor sees who reported it and both checkpoints, live and over REST.
    live = await sup_ws.next("event")
    while live["event"] != "alert.raised":
        live = await sup_ws.next("event")
    (alert,) = _alerts(await api.events(sid))
    for p in (live["payload"], alert["payload"]):
        assert p["rule"] == "split_view" and p["venue_id"] == "js-suzhou"
        ev = p["evidence"]
        assert ev["size"] == cp.size and ev["trusted"] == trusted and ev["served"] == served
        assert ev["roots"][0] == cp.root.hex() != ev["roots"][1]
    await sup_ws.ws.close()

    # An expert, another venue's operator and that venue's site supervisor see only
    # that something was raised: no rule, venue, reporter or checkpoint.
    masked = {"type": "alert.raised", "actor": "operator", "venue": None,
              "payload": {"masked": True}}
    for token in (experts[0][1], api.op("ah-hefei"), api.site_sup("ah-hefei")):
        (seen,) = await _seen_by(api, sid, token)
        assert {k: seen[k] for k in masked} == masked, seen
    # Their audit view of the entry discloses none of its fields either.
    api.client.app[AUDIT].mark_dirty(sid)
    await api.client.app[AUDIT].sign_pending()  # (the checkpoint job, run now)
    status, view = await api.call("GET", f"/api/sessions/{sid}/audit/view", api.op("ah-hefei"))
    assert status == 200
    entry = json.loads(view["entries"][alert["seq"] - 1])
    assert entry["action"] == "alert.raised" and entry["disclosed"] == []
    assert entry["venue"] is None


async def test_who_reported_which_fork_does_not_reach_other_roles(api: Harness) -> None:
    """Non-interference: two sessions, a different venue reporting a different fork in
    each; an expert and the primary's operator receive the same alert bytes."""
    seen: list[list[dict[str, Any]]] = []
    for venue, tag in (("js-suzhou", b"one"), ("ah-hefei", b"another")):
        sid, experts = await api.to_stage("checking_in")
        trusted, cp = await _trusted(api, sid)
        status, body = await _report(api, sid, venue, {
            "kind": "fork", "trusted": trusted, "served": _fork(api, sid, cp, tag)})
        assert status == 201, body
        views = []
        for token in (experts[0][1], api.op("sh-ggzy")):
            views += [{k: v for k, v in e.items() if k not in ("session_id", "time", "time_ms")}
                      for e in await _seen_by(api, sid, token)]
        seen.append(views)
    assert seen[0] == seen[1] and len(seen[0]) == 2


async def test_evidence_that_proves_nothing_is_refused_and_records_nothing(
    api: Harness,
) -> None:
    sid, experts = await api.to_stage("checking_in")
    trusted, cp = await _trusted(api, sid)
    before = len(await api.events(sid))
    other_skey, _ = generate_key(cp.origin)  # a key of the same name: not the log's
    forged = sign_note(Checkpoint(cp.origin, cp.size, bytes(32), ()), other_skey)
    smaller = sign_note(Checkpoint(cp.origin, cp.size - 1, bytes(32), ()),
                        api.client.app[AUDIT].keys(sid)[0])
    cases = [
        ({"kind": "fork", "trusted": trusted, "served": forged}, "evidence/served"),
        ({"kind": "fork", "trusted": trusted, "served": trusted}, "evidence/served"),
        ({"kind": "fork", "trusted": trusted, "served": smaller}, "evidence/served"),
        ({"kind": "fork", "trusted": "x", "served": trusted}, "evidence/trusted"),
        ({"kind": "entries", "trusted": trusted, "entries": []}, "evidence/kind"),
        ("fork", "evidence"),
    ]
    for evidence, field in cases:
        status, body = await _report(api, sid, "js-suzhou", evidence)
        assert status == 422, (evidence, body)
        # Named field, said in Chinese first (the agent logs it as it is).
        assert body["field"] == field and re.match(r"\S+：\S*[\u4e00-\u9fff]", body["detail"])
    # Another session's checkpoint, signed by its own log key: not this log.
    sid2, _ = await api.to_stage("checking_in")
    t2, cp2 = await _trusted(api, sid2)
    status, body = await _report(api, sid, "js-suzhou",
                                 {"kind": "fork", "trusted": t2, "served": _fork(api, sid2, cp2)})
    assert status == 422 and body["field"] == "evidence/trusted", body
    # Only a participating venue's operator may report; an expert or a supervisor may not.
    good = {"kind": "fork", "trusted": trusted, "served": _fork(api, sid, cp)}
    for token in (experts[0][1], api.sup):
        status, body = await api.call("POST", f"/api/sessions/{sid}/audit/split-view", token,
                                      json={"evidence": good})
        assert status == 403, body
    assert len(await api.events(sid)) == before
    # (and the log key verifies the real one: the test's forgery was of another key)
    open_note(trusted, [api.client.app[AUDIT].vkey(sid)])


def test_the_bundle_check_shows_both_checkpoints_or_says_what_the_evidence_rests_on() -> None:
    origin = "evalsvc.local/s-1"
    skey, vkey = generate_key(origin)
    trusted = sign_note(Checkpoint(origin, 9, bytes(32), ()), skey)
    served = sign_note(Checkpoint(origin, 9, b"\x01" * 32, ()), skey)
    doc = {"venue": "js-suzhou", "kind": "fork", "detail": "…",
           "evidence": {"trusted": trusted, "served": served}}
    ok, detail = bundle_check(doc, origin=origin, log_vkey=vkey)
    assert not ok and "分叉视图" in detail
    assert bytes(32).hex() in detail and (b"\x01" * 32).hex() in detail
    # The served one re-signed by another key: the evidence proves nothing.
    other, _ = generate_key(origin)
    bad = {**doc, "evidence": {"trusted": trusted,
                               "served": sign_note(parse_checkpoint(served), other)}}
    ok, detail = bundle_check(bad, origin=origin, log_vkey=vkey)
    assert not ok and "不成立" in detail and "does not verify" in detail
    ok, detail = bundle_check({**doc, "kind": "entries"}, origin=origin, log_vkey=vkey)
    assert not ok and "未经日志签名" in detail


async def test_the_primarys_own_bundle_fails_split_view_when_its_log_records_one(
    api: Harness, tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine

    from evalsvc.audit.bundle import parse_policy
    from evalsvc.audit.export import export_bundle
    from evalsvc.audit.rederive import verify_sealed

    sid, _, cp, served, _ = await _reported(api)
    api.client.app[AUDIT].mark_dirty(sid)
    await api.client.app[AUDIT].sign_pending()  # (the checkpoint job, run now)
    _, policy = await api.call("GET", f"/api/sessions/{sid}/audit/policy", api.sup)
    engine = create_engine(api.settings.database.url.replace("postgresql://",
                                                             "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            export_bundle(conn, sid, tmp_path / "bundle", policy=parse_policy(policy))
    finally:
        engine.dispose()
    checks = verify_sealed(tmp_path / "bundle", trusted_policy=policy).checks
    assert checks["log"].ok, checks["log"]
    split = checks["split_view"]
    assert not split.ok and "js-suzhou" in split.detail
    assert cp.root.hex() in split.detail and parse_checkpoint(served).root.hex() in split.detail


async def test_split_views_are_listed_with_the_pattern_alerts_for_supervisors_only(
    api: Harness,
) -> None:
    sid, experts, cp, served, body = await _reported(api)

    status, listed = await api.call("GET", f"/api/sessions/{sid}/alerts", api.sup)
    assert status == 200, listed
    (check,) = [c for c in listed["checks"] if c["point"] == "split_view"]
    assert check["seq"] == body["seq"]
    (alert,) = check["alerts"]
    # The shape of a pattern alert, the evidence summed up (the notes stay in the event).
    assert set(alert) == {"rule", "point", "title", "source", "subject", "evidence"}
    assert alert["rule"] == "split_view" and alert["title"] == "审计日志分叉视图"
    assert alert["subject"] == {"venues": ["js-suzhou"]}
    ev = alert["evidence"]
    assert ev["venue_id"] == "js-suzhou" and ev["size"] == cp.size
    assert ev["roots"] == [cp.root.hex(), parse_checkpoint(served).root.hex()]
    assert "trusted" not in ev and "served" not in ev
    # The pattern alerts' check points are still there, before it in seq order.
    seqs = [c["seq"] for c in listed["checks"]]
    assert seqs == sorted(seqs) and len(seqs) >= 2

    # A site supervisor's list holds its venue's incidents, never an alert; the other
    # roles may not read it at all.
    status, site = await api.call("GET", f"/api/sessions/{sid}/alerts",
                                  api.site_sup("js-suzhou"))
    assert status == 200 and site["checks"] == [], site
    for token in (api.op(), api.op("js-suzhou"), experts[0][1]):
        status, _ = await api.call("GET", f"/api/sessions/{sid}/alerts", token)
        assert status == 403


async def test_the_same_fork_reported_again_records_nothing_new(api: Harness) -> None:
    sid, _ = await api.to_stage("checking_in")
    trusted, cp = await _trusted(api, sid)
    served = _fork(api, sid, cp)
    fork = {"kind": "fork", "trusted": trusted, "served": served}

    async def report(venue: str, evidence: Any, key: str) -> tuple[int, Any]:
        return await api.call("POST", f"/api/sessions/{sid}/audit/split-view", api.op(venue),
                              json={"evidence": evidence}, headers={"Idempotency-Key": key})

    status, first = await report("js-suzhou", fork, "split-view-0001")
    assert status == 201, first
    events = await api.events(sid)
    # Again under another key, by the same venue or by another that trusted the other
    # history: 200 with the alert already recorded, and no second event.
    for venue, evidence, key in (
            ("js-suzhou", fork, "split-view-0002"),
            ("ah-hefei", {"kind": "fork", "trusted": served, "served": trusted},
             "split-view-0003")):
        status, again = await report(venue, evidence, key)
        assert status == 200, again
        assert again == {"rule": "split_view", "size": cp.size, "seq": first["seq"]}
    assert await api.events(sid) == events
    # The first key replays its first answer.
    status, replay = await report("js-suzhou", fork, "split-view-0001")
    assert status == 201 and replay == first
    # Another fork of the same size is another alert.
    status, other = await report("js-suzhou", {**fork, "served": _fork(api, sid, cp, b"two")},
                                 "split-view-0004")
    assert status == 201 and other["seq"] == first["seq"] + 1, other
    assert len(_alerts(await api.events(sid))) == 2
