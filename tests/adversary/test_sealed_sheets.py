"""Sealed score sheets, tried as an insider: another expert, a secondary venue's
operator and its site supervisor (现场监督) must learn nothing of a sheet's scores before
its stage is locked.

The strongest form of the promise is non-interference: the same session run twice,
the runs differing only in one expert's scores, gives every other role the same bytes —
REST answers, errors, WebSocket replays and live frames — apart from the declared nonces
(docs/audit.md "Sealed score sheets"): the commitments, and the ids, times and epochs
that differ between any two runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any

from conftest import Harness, fresh_database, qualification_sheet, scoring_sheet
from wshelp import connect

from evalsvc.app import create_app
from evalsvc.canonical import canonical_bytes
from evalsvc.config import Settings

# Declared nonces: values that differ between any two runs of the same session, or
# (commitment) that are random by construction and say nothing of the sheet.
NONCE_KEYS = {
    "commitment",
    "salt",  # (of sheets of a stage already locked: random, disclosed with the lock)
    "time_ms",
    "time",
    "created_at",
    "updated_at",
    "submitted_ms",
    "epoch",
    "at",
}
_SESSION_ID = re.compile(r"s-[0-9a-f]{12}")


def _masked(doc: Any) -> Any:
    if isinstance(doc, dict) and "entries" in doc and "checkpoint" in doc:
        return _masked_view(doc)
    if isinstance(doc, dict):
        return {k: "<nonce>" if k in NONCE_KEYS else _masked(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_masked(v) for v in doc]
    if isinstance(doc, str):
        return _SESSION_ID.sub("<session>", doc)
    return doc


def _digests(committed: Any) -> Any:
    """A format-3 committed value with its member digests (salted: nonces) masked."""
    if isinstance(committed, dict):
        return {k: ["<digest>"] * len(v) if k == "_sd" else
                "<digest>" if k == "..." else _digests(v) for k, v in committed.items()}
    if isinstance(committed, list):
        return [_digests(x) for x in committed]
    return committed


def _masked_view(doc: dict[str, Any]) -> Any:
    # GET …/audit/view (docs/audit.md "Leaves"): each disclosed field's salt is fresh
    # CSPRNG output and each hidden field's digest is salted — declared nonces, as the
    # commitments are; so are the roots over them and the log key (named by the session
    # id). What is disclosed, and how many fields are hidden, must not differ.
    entries = []
    for raw in doc["entries"]:
        e = json.loads(raw)
        e["disclosed"] = [["<salt>", n, "<nonce>" if n.rsplit(".", 1)[-1] in NONCE_KEYS
                           else _digests(v)] for _, n, v in e["disclosed"]]
        e["hidden"] = ["<digest>"] * len(e["hidden"])
        if "nested" in e:  # format 3: the members' disclosures, in salt order
            e["nested"] = sorted(
                (["<salt>", *d[1:-1], "<nonce>" if d[1:-1] and d[1] in NONCE_KEYS
                  else _digests(d[-1])] for d in e["nested"]), key=json.dumps)
        entries.append(e)
    rest = _masked({k: v for k, v in doc.items() if k not in ("entries", "checkpoint")})
    return {**rest, "entries": _masked(entries), "checkpoint": "<nonce>", "log_vkey": "<nonce>"}


async def _run(api: Harness, t1: str) -> tuple[dict[str, Any], Any]:
    """A session to the scoring stage; seat 0 scores T1 = ``t1``. Returns what seat 1's
    expert and the Suzhou operator received before the lock, and seat 0's own view."""
    sid, experts = await api.to_stage("scoring")
    (_, submitter), (_, colleague) = experts[0], experts[1]
    observers = {"expert": colleague, "operator": api.op("js-suzhou"),
                 "site supervisor": api.site_sup("js-suzhou")}
    seen: dict[str, Any] = {}
    sockets = {}
    for who, tok in observers.items():
        ws, _, replay, synced = await connect(api, sid, tok)
        sockets[who] = ws
        seen[f"{who} ws replay"] = [replay, synced]
    status, ack = await api.submit(sid, submitter, scoring_sheet(t1=t1), key="sealed-sheet-1")
    assert status == 201, ack
    for who, tok in observers.items():
        before, live = await sockets[who].until("event")
        seen[f"{who} ws live"] = [[m for m in before if m["type"] != "presence"], live]
        _, _, replay, synced = await connect(api, sid, tok)
        seen[f"{who} ws replay after"] = [replay, synced]
        for path in (
            "/api/sessions",
            f"/api/sessions/{sid}",
            f"/api/sessions/{sid}/events?after=0",
            f"/api/sessions/{sid}/progress",
            f"/api/sessions/{sid}/aggregation",
            f"/api/sessions/{sid}/report",
            f"/api/sessions/{sid}/audit/checkpoint",
            f"/api/sessions/{sid}/alerts",
            f"/api/sessions/{sid}/audit/view",
        ):
            seen[f"{who} GET {path.replace(sid, '<session>')}"] = await api.call("GET", path, tok)
        await sockets[who].ws.close()
    _, own = await api.call("GET", f"/api/sessions/{sid}/progress", submitter)
    return _masked(seen), own["own_sheets"]


async def test_what_others_receive_before_the_lock_does_not_depend_on_the_scores(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    runs = []
    for n, t1 in enumerate(("12", "47")):
        with fresh_database(tmp_path, f"run{n}") as url:
            cfg = dataclasses.replace(
                settings, database=dataclasses.replace(settings.database, url=url)
            )
            api = Harness(await aiohttp_client(create_app(cfg)), cfg)
            runs.append(await _run(api, t1))
    (seen_a, own_a), (seen_b, own_b) = runs
    assert own_a != own_b  # the scores did differ (and their own expert sees them)
    assert seen_a.keys() == seen_b.keys()
    for what in seen_a:
        a, b = json.dumps(seen_a[what], sort_keys=True), json.dumps(seen_b[what], sort_keys=True)
        if a != b:
            at = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
            raise AssertionError(
                f"{what} differs at {at}: {a[at - 200 : at + 80]!r} != {b[at - 200 : at + 80]!r}"
            )


REASON = "资质证书已过期"


async def test_a_colleague_cannot_recover_a_qualification_sheet_by_guessing(
    api: Harness,
) -> None:
    # The attack of 3df28e2: a qualification sheet of 3 bids × 1 criterion has 8
    # candidates; hash each and look for it in what the log shows. It must find nothing.
    sid, experts = await api.to_stage("qualification")
    sheet = qualification_sheet()
    sheet["bids"]["B2"]["Q1"] = False
    # Every fail carries its reason (docs/scoring.md "Stages"); the attacker is even
    # granted the reason's text, so the space stays 8 candidates.
    sheet["reasons"] = {"B2": {"Q1": REASON}}
    status, ack = await api.submit(sid, experts[0][1], sheet, key="guess-me-sheet-1")
    assert status == 201, ack
    status, page = await api.call("GET", f"/api/sessions/{sid}/events?after=0", experts[1][1])
    assert status == 200, page
    shown = json.dumps(page)
    candidates = 0
    for passes in itertools.product([True, False], repeat=3):
        doc: dict[str, object] = {
            "stage": "qualification",
            "bids": {b: {"Q1": p} for b, p in zip(("B1", "B2", "B3"), passes, strict=True)},
        }
        fails = {b: {"Q1": REASON} for b, p in zip(("B1", "B2", "B3"), passes, strict=True)
                 if not p}
        if fails:
            doc["reasons"] = fails
        body = canonical_bytes(doc)
        for digest in (hashlib.sha256(body).hexdigest(), hashlib.sha256(body).digest().hex()):
            assert digest not in shown
        candidates += 1
    assert candidates == 8
    submitted = [e for e in page["events"] if e["type"] == "sheet.submitted"][-1]
    assert submitted["payload"]["commitment"] == ack["commitment"]


async def test_the_lock_opens_every_commitment_of_the_stage(api: Harness) -> None:
    import hmac

    sid, experts = await api.to_stage("scoring")
    for n, (_, tok) in enumerate(experts):
        status, body = await api.submit(sid, tok, scoring_sheet(t1=str(20 + n)), key=f"s-{n}-key1")
        assert status == 201, body
    status, body = await api.submit(sid, experts[0][1], scoring_sheet(t1="33"), key="s-0-key2")
    assert status == 201, body
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    events = await api.events(sid)
    committed = {
        (e["payload"]["seat"], e["payload"]["version"]): e["payload"]["commitment"]
        for e in events
        if e["type"] == "sheet.submitted" and e["payload"]["stage"] == "scoring"
    }
    (opened,) = [
        e for e in events if e["type"] == "sheets.opened" and e["payload"]["stage"] == "scoring"
    ]
    opens = {(x["seat"], x["version"]): x for x in opened["payload"]["sheets"]}
    assert opens.keys() == committed.keys() and len(opens) == len(experts) + 1
    for key, commitment in committed.items():
        x = opens[key]
        mac = hmac.new(bytes.fromhex(x["salt"]), canonical_bytes(x["sheet"]), hashlib.sha256)
        assert mac.hexdigest() == commitment, key
    assert opens[(0, 2)]["sheet"]["bids"]["B1"]["T1"] == "33"


async def test_after_the_lock_others_see_the_result_not_each_sheet(api: Harness) -> None:
    # DESIGN.md's schedule: after the lock an expert and an operator see the committee's
    # result; each member's sheet (and its opening) only supervisors and the record.
    sid, experts = await api.to_stage("scoring")
    for n, (_, tok) in enumerate(experts):
        status, body = await api.submit(sid, tok, scoring_sheet(t1=str(21 + n)), key=f"r-{n}-key1")
        assert status == 201, body
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    for tok in (experts[1][1], api.op("js-suzhou"), api.op()):
        status, page = await api.call("GET", f"/api/sessions/{sid}/events?after=0", tok)
        assert status == 200, page
        for e in page["events"]:
            if e["type"] == "sheets.opened":
                assert e["payload"]["masked"] is True
                assert all(set(x) == {"seat", "version"} for x in e["payload"]["sheets"])
    (sup_view,) = [
        e
        for e in await api.events(sid)
        if e["type"] == "sheets.opened" and e["payload"]["stage"] == "scoring"
    ]
    assert all("salt" in x and "sheet" in x for x in sup_view["payload"]["sheets"])


def test_salts_are_fresh_across_refills() -> None:
    # The salts are read from the CSPRNG in batches: none may repeat across a refill,
    # each has the commitment's key size.
    from evalsvc.sessions.service import SaltSource

    source = SaltSource(batch=4)
    salts = [source() for _ in range(4 * 5 + 1)]
    assert all(len(s) == 32 for s in salts)
    assert len(set(salts)) == len(salts)


async def _incident_run(api: Harness, text: str, category: str) -> dict[str, Any]:
    """Suzhou's site supervisor records an incident of ``text``/``category``; what the
    other roles receive (REST and WebSocket replay and live)."""
    import datetime as _dt

    sid, experts = await api.to_stage("qualification")
    observers = {"expert at Suzhou": experts[3][1], "operator of Suzhou": api.op("js-suzhou"),
                 "primary operator": api.op(), "site supervisor of Hefei": api.site_sup("ah-hefei")}
    seen: dict[str, Any] = {}
    sockets = {}
    for who, tok in observers.items():
        ws, _, replay, synced = await connect(api, sid, tok)
        sockets[who] = ws
        seen[f"{who} ws replay"] = [replay, synced]
    when = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    status, body = await api.call("POST", f"/api/sessions/{sid}/incidents",
                                  api.site_sup("js-suzhou"),
                                  json={"category": category, "text": text, "occurred_at": when})
    assert status == 201, body
    for who, tok in observers.items():
        before, live = await sockets[who].until("event")
        seen[f"{who} ws live"] = [[m for m in before if m["type"] != "presence"], live]
        for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/events?after=0",
                     f"/api/sessions/{sid}/alerts"):
            seen[f"{who} GET {path.replace(sid, '<session>')}"] = await api.call("GET", path, tok)
        await sockets[who].ws.close()
    return _masked(seen)


async def test_what_other_venues_and_roles_receive_does_not_depend_on_an_incident(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    """The disclosure schedule's alerts row: a venue's incidents are its site supervisor's
    and the tender supervisor's. Two runs, the incident's category and text differing:
    every other role gets the same bytes."""
    runs = []
    cases = (("专家接听电话", "device"), ("专家离席二十分钟", "discipline"))
    for n, (text, category) in enumerate(cases):
        with fresh_database(tmp_path, f"inc{n}") as url:
            cfg = dataclasses.replace(
                settings, database=dataclasses.replace(settings.database, url=url)
            )
            api = Harness(await aiohttp_client(create_app(cfg)), cfg)
            runs.append(await _incident_run(api, text, category))
    a, b = runs
    assert a.keys() == b.keys()
    for what in a:
        assert json.dumps(a[what], sort_keys=True) == json.dumps(b[what], sort_keys=True), what
    live = a["site supervisor of Hefei ws live"][1]
    assert (live["event"], live["payload"]) == ("incident.recorded", {"masked": True})
