"""Pattern alerts through the service: raised live at each check point as
``alerts.checked`` events, the supervisors' alone (REST, WebSocket, session views),
fed into each expert's review record; bid provenance imported with the bids, validated,
shown to supervisors only.

Non-interference: the same session run twice — once honest, once with collusion planted
(bids sharing author, machine code and deposit account) and with the speed threshold set
so that every sheet counts as too fast — gives an expert and both operators the same
bytes, apart from the declared nonces, while the supervisor sees the alerts.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from conftest import EXPERT_IDS, Harness, fresh_database, scoring_sheet, session_doc
from wshelp import connect

from evalsvc.analysis import alert_to_doc, missing_checks, recompute_alerts, recorded_alerts
from evalsvc.app import create_app
from evalsvc.config import Settings

NONCE_KEYS = {"commitment", "salt", "time_ms", "time", "created_at", "updated_at",
              "submitted_ms", "epoch", "at", "sha256", "report_sha256",
              "signing_bytes",  # (the report, which is compared in clear, with its id)
              "sign_deadline", "registered_at"}  # times: start_report's, the session's
_SESSION_ID = re.compile(r"s-[0-9a-f]{12}")


def _masked(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: "<nonce>" if k in NONCE_KEYS else _masked(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_masked(v) for v in doc]
    if isinstance(doc, str):
        return _SESSION_ID.sub("<session>", doc)
    return doc


def _bids(colluding: bool) -> list[dict[str, Any]]:
    bids = session_doc()["bids"]
    for i, b in enumerate(bids):
        b["provenance"] = {"author": f"编制人{i}", "machine_code": f"00-1A-2B-3C-4D-{i:02d}",
                           "deposit_account": f"62220210010000{i:04d}",
                           "software": f"某投标工具 授权号 {i}"}
    if colluding:
        for name in ("author", "machine_code", "deposit_account"):
            bids[2]["provenance"][name] = bids[0]["provenance"][name]
    return bids


async def _alerts_of(api: Harness, sid: str, token: str) -> list[dict[str, Any]]:
    _, body = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", token)
    return [e for e in body["events"] if e["type"] == "alerts.checked"]


async def test_shared_provenance_raises_an_alert_only_supervisors_see(api: Harness) -> None:
    sid, experts = await api.to_stage("qualification", session_doc(bids=_bids(True)))
    (sup_check,) = [e for e in await _alerts_of(api, sid, api.sup)
                    if e["payload"]["point"] == "bids"]
    rules = {a["rule"]: a for a in sup_check["payload"]["alerts"]}
    assert set(rules) == {"bids.same_author", "bids.same_machine_code", "bids.same_deposit_account"}
    assert rules["bids.same_author"]["subject"] == {"bids": ["B1", "B3"]}
    assert "第四十条" in rules["bids.same_author"]["source"]
    status, listed = await api.call("GET", f"/api/sessions/{sid}/alerts", api.sup)
    assert status == 200 and listed["checks"][0]["alerts"] == sup_check["payload"]["alerts"]
    _, view = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert view["bids"][0]["provenance"]["author"] == "编制人0"
    for token in (api.op(), api.op("js-suzhou"), experts[0][1]):
        (masked,) = await _alerts_of(api, sid, token)
        assert masked["payload"] == {"masked": True}
        _, events = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", token)
        assert "provenance" not in json.dumps(events) and "编制人" not in json.dumps(events)
        _, view = await api.call("GET", f"/api/sessions/{sid}", token)
        assert all("provenance" not in b for b in view["bids"])
        status, body = await api.call("GET", f"/api/sessions/{sid}/alerts", token)
        assert status == 403, body
        status, body = await api.call("GET", f"/api/experts/{EXPERT_IDS[0]}/review", token)
        assert status == 403, body
    # A verifier holding the unredacted log recomputes the same alerts.
    recomputed = recompute_alerts({"events": await api.events(sid)})
    assert [a.rule for a in recomputed] == [a["rule"] for a in sup_check["payload"]["alerts"]]


async def test_provenance_is_validated_field_by_field(api: Harness) -> None:
    sid, _ = await api.create()
    cases = [
        ({"author": "  "}, "provenance/author"),
        ({"machine_code": 12}, "provenance"),
        ({"colour": "red"}, "provenance"),
    ]
    for prov, field in cases:
        bid = {"id": "B9", "bidder": "丁公司", "uscc": session_doc()["bids"][0]["uscc"],
               "price_fen": 1000, "provenance": prov}
        status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json=bid)
        assert status == 422, body
        assert field in body["field"], body
    bid = {"id": "B9", "bidder": "丁公司", "uscc": session_doc()["bids"][0]["uscc"],
           "price_fen": 1000, "provenance": {"agent": "张三"}}
    status, body = await api.call("POST", f"/api/sessions/{sid}/bids", api.op(), json=bid)
    assert status == 201 and "provenance" not in body["bid"], body  # the operator's answer
    _, view = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert view["bids"][-1]["provenance"] == {"agent": "张三"}


async def _run(
    api: Harness, *, colluding: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A session from registration to its report; returns what an expert and the two
    operators received, the supervisor's alerts, and seat 0's review record."""
    sid, experts = await api.to_stage("scoring", session_doc(bids=_bids(colluding)))
    for seat, tok in experts:
        status, body = await api.submit(sid, tok, scoring_sheet(), key=f"score-{seat}-key")
        assert status == 201, body
    for name in ("lock_scoring", "start_report"):
        status, body = await api.command(sid, api.op(), name)
        assert status == 200, body
    observers = {"expert": experts[1][1], "primary operator": api.op(),
                 "secondary operator": api.op("js-suzhou")}
    seen: dict[str, Any] = {}
    for who, tok in observers.items():
        ws, _, replay, synced = await connect(api, sid, tok)
        seen[f"{who} ws replay"] = [replay, synced]
        await ws.ws.close()
        for path in ("/api/sessions", f"/api/sessions/{sid}",
                     f"/api/sessions/{sid}/events?limit=1000", f"/api/sessions/{sid}/progress",
                     f"/api/sessions/{sid}/aggregation", f"/api/sessions/{sid}/report",
                     f"/api/sessions/{sid}/alerts"):
            seen[f"{who} GET {path.replace(sid, '<session>')}"] = await api.call("GET", path, tok)
    alerts = [a for e in await _alerts_of(api, sid, api.sup) for a in e["payload"]["alerts"]]
    # A verifier with the unredacted log recomputes exactly the alerts raised live.
    log = await api.events(sid)
    recomputed = recompute_alerts({"events": log})
    assert [alert_to_doc(a) for a in recomputed] == alerts
    assert recorded_alerts(log) == recomputed and missing_checks(log) == []
    assert [e["payload"]["point"] for e in await _alerts_of(api, sid, api.sup)] == [
        "bids", "qualification", "scoring", "report"]
    _, review = await api.call("GET", f"/api/experts/{EXPERT_IDS[0]}/review", api.sup)
    return _masked(seen), alerts, review


async def test_planting_collusion_changes_no_byte_an_expert_or_an_operator_gets(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    runs = []
    for n, colluding in enumerate((False, True)):
        with fresh_database(tmp_path, f"run{n}") as url:
            cfg = dataclasses.replace(
                settings, database=dataclasses.replace(settings.database, url=url),
                alerts=dataclasses.replace(settings.alerts,
                                           min_seconds_per_item=86400 if colluding else 0),
            )
            api = Harness(await aiohttp_client(create_app(cfg)), cfg)
            runs.append(await _run(api, colluding=colluding))
    (seen_a, alerts_a, review_a), (seen_b, alerts_b, review_b) = runs
    # The supervisor sees the difference: nothing in the honest run, the plant in the other.
    assert alerts_a == [] and review_a["alerts"] == []
    rules = sorted({a["rule"] for a in alerts_b})
    assert rules == ["bids.same_author", "bids.same_deposit_account", "bids.same_machine_code",
                     "experts.fast_sheet"]
    assert {a["point"] for a in alerts_b if a["rule"] == "experts.fast_sheet"} == {
        "qualification", "scoring"}
    assert review_b["alerts_by_rule"] == {"experts.fast_sheet": 2}
    # Nobody else does.
    assert seen_a.keys() == seen_b.keys()
    for what in seen_a:
        a, b = json.dumps(seen_a[what], sort_keys=True), json.dumps(seen_b[what], sort_keys=True)
        if a != b:
            at = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
            raise AssertionError(
                f"{what} differs at {at}: {a[at - 200 : at + 80]!r} != {b[at - 200 : at + 80]!r}"
            )


async def test_a_later_session_reads_its_members_history(api: Harness) -> None:
    # Two sessions with the same members (the harness seats the same experts): the
    # second's report check reads what the first recorded about them.
    sids = []
    for _ in range(2):
        sid, experts = await api.to_stage("scoring", session_doc(bids=_bids(False)))
        for seat, tok in experts:
            status, body = await api.submit(sid, tok, scoring_sheet(), key=f"s-{sid}-{seat}")
            assert status == 201, body
        for name in ("lock_scoring", "start_report"):
            assert (await api.command(sid, api.op(), name))[0] == 200
        sids.append(sid)
    first, second = [await _alerts_of(api, sid, api.sup) for sid in sids]
    report_first = next(e["payload"] for e in first if e["payload"]["point"] == "report")
    report_second = next(e["payload"] for e in second if e["payload"]["point"] == "report")
    assert report_first["history"] == []
    assert report_second["history"] == report_first["observations"]
    assert {o["expert_id"] for o in report_first["observations"]} == set(EXPERT_IDS)
    _, review = await api.call("GET", f"/api/experts/{EXPERT_IDS[3]}/review", api.sup)
    # The harness submits every sheet at once: both stages of both sessions were too fast.
    assert review["sessions"] == 2 and review["alerts_by_rule"] == {"experts.fast_sheet": 4}
    assert [a["session_id"] for a in review["alerts"]] == [sids[0], sids[0], sids[1], sids[1]]
    assert [o["session_id"] for o in review["observations"]] == sids
