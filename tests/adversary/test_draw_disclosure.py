"""Who was drawn, disclosed on the schedule of DESIGN.md ("Who may know what, when"),
over HTTP, from the committee being formed to the seal.

- expert: self only; others never by name until the report;
- secondary operator: own venue's members after acceptance;
- primary operator: own venue's; others by seat only;
- supervisor (the tender): all, at once; anyone with the sealed bundle: all.

The report names seats, not experts (docs/scoring.md), so the other venues' members
are first named by the sealed bundle (docs/draw.md §6.6), which operators (and
supervisors at any time) may fetch; an expert, who signs a report without names, is
never told them. The session runs twice, to the
seal, with the same session id, secrets and sheets, and a pool that differs only in the
experts of Hefei, so that other experts sit at Hefei and the same ones elsewhere. For a
Suzhou operator, the Shanghai (primary) operator and a Suzhou expert, every REST body at
every phase before the seal is byte-identical between the runs (non-interference, up to
the declared nonces) and names no Hefei member; at the seal both operators read the
Hefei members in the bundle, the expert still none. The supervisor sees them from the
start.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    qualification_sheet,
    scoring_sheet,
    session_doc,
)

from evalsvc.config import Settings
from evalsvc.sessions.routes import SESSIONS

from ._draw import first_ceremony, suspended_run
from .test_draw_noninterference import TIME_KEYS

SID = "s-disclosure"
# Declared nonces besides times (test_draw_noninterference's, and every `*_ms`): a
# sheet's commitment is an HMAC under a fresh random 256-bit key (docs/audit.md "Sealed
# score sheets"), opened (salt) at the stage's lock.
NONCE_KEYS = frozenset({"epoch", "commitment", "salt"})
# Times besides those: the signing deadline start_report sets (unix seconds).
ALL_TIME_KEYS = TIME_KEYS | {"sign_deadline"}
REGISTERED_MS = int(time.time() * 1000)
PHASES = ("ready", "checking_in", "evaluating", "reporting", "signed", "sealed")


def _normal(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: ("<time>" if (k in ALL_TIME_KEYS or k.endswith("_ms")) and v is not None else
                    "<nonce>" if k in NONCE_KEYS else _normal(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_normal(x) for x in doc]
    return doc


def _first_difference(a: Any, b: Any, at: str = "") -> str | None:
    """Where two JSON values first differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _first_difference(a.get(k), b.get(k), f"{at}/{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_difference(x, y, f"{at}/{i}")
            if d:
                return d
        return None
    return None if a == b else f"{at}: {a!r} != {b!r}"


def _paths(role: str, sid: str) -> tuple[str, ...]:
    common = (f"/api/sessions/{sid}", f"/api/sessions/{sid}/events?limit=1000",
              f"/api/sessions/{sid}/report", f"/api/sessions/{sid}/draw/bundle",
              "/api/sessions")
    if role == "expert":
        return (*common, "/api/invitations", f"/api/sessions/{sid}/progress")
    return (*common, f"/api/sessions/{sid}/draw")


async def _run(aiohttp_client: Any, settings: Settings, tmp_path: Path, name: str,
               monkeypatch: pytest.MonkeyPatch, *, suspended: set[str]) -> dict[str, Any]:
    """One run to the seal; per phase, role and path what the role received."""
    api = await suspended_run(aiohttp_client, settings, tmp_path, name, monkeypatch,
                              suspended=suspended, session_id=SID)
    # Both runs register the tender at the same instant: the report's basic data names
    # the registration time, and its digest is in the signing events.
    uow = api.client.app[SESSIONS].uow
    real_clock = uow.clock_ms
    uow.clock_ms = lambda: REGISTERED_MS
    sid, _ = await api.create(session_doc())
    uow.clock_ms = real_clock
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    await first_ceremony(api, sid)  # the same secrets in both runs
    _, view = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    seats = [(x["seat"], x["venue_id"], api.expert(x["expert_id"], x["venue_id"]))
             for x in view["seats"]]
    for _, _, token in seats:  # each accepts, in seat order
        status, out = await api.call("POST", f"/api/sessions/{sid}/invitation", token,
                                     json={"accept": True})
        assert status == 200, out
    _, s = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    suzhou_expert = next(t for _, v, t in seats if v == "js-suzhou")
    observers = {"primary": api.op(), "secondary": api.op("js-suzhou"),
                 "expert": suzhou_expert}
    seen: dict[str, dict[str, dict[str, tuple[int, Any]]]] = {}

    async def observe(phase: str) -> None:
        seen[phase] = {role: {path: await api.call("GET", path, token)
                              for path in _paths(role, sid)}
                       for role, token in observers.items()}
        seen[phase]["supervisor"] = {
            f"/api/sessions/{sid}": await api.call("GET", f"/api/sessions/{sid}", api.sup)}

    async def cmd(token: str, name: str, **fields: Any) -> None:
        status, out = await api.command(sid, token, name, **fields)
        assert status == 200, (name, out)

    await observe("ready")
    await cmd(api.op(), "start_check_in")
    await observe("checking_in")
    for index, venue, _ in seats:
        await cmd(api.op(venue), "check_in", seat=index)
    await api.pledge_and_elect(sid, [(index, token) for index, _, token in seats])
    await cmd(api.op(), "start_evaluation")
    for index, _, token in seats:
        status, out = await api.submit(sid, token, qualification_sheet(), key=f"qual-{index}-key")
        assert status == 201, (out.get("detail"), out.get("errors"))
    await cmd(api.op(), "lock_qualification")
    for index, _, token in seats:
        status, out = await api.submit(sid, token, scoring_sheet(), key=f"scoring-{index}-key")
        assert status == 201, (out.get("detail"), out.get("errors"))
    await observe("evaluating")
    await cmd(api.op(), "lock_scoring")
    await cmd(api.op(), "start_report")
    await observe("reporting")
    for _, _, token in seats:
        await cmd(token, "sign_report")
    await observe("signed")
    await cmd(api.op(), "seal")
    await observe("sealed")
    return {"seen": seen,
            "hefei": [x["expert_id"] for x in s["seats"] if x["venue_id"] == "ah-hefei"],
            "others": [x["expert_id"] for x in s["seats"] if x["venue_id"] != "ah-hefei"]}


async def test_other_venues_members_are_disclosed_at_the_seal_and_not_a_byte_earlier(
    aiohttp_client: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = await _run(aiohttp_client, settings, tmp_path, "one", monkeypatch, suspended=set())
    two = await _run(aiohttp_client, settings, tmp_path, "two", monkeypatch,
                     suspended=set(one["hefei"]))
    # The runs differ where they should: other members at Hefei, the same elsewhere.
    assert set(one["hefei"]).isdisjoint(two["hefei"]) and one["others"] == two["others"]
    sid_path = f"/api/sessions/{SID}"
    for run in (one, two):
        for phase in PHASES:
            # The supervisor: every member, from the committee's forming on.
            _, doc = run["seen"][phase]["supervisor"][sid_path]
            assert {x["expert_id"] for x in doc["seats"]} >= set(run["hefei"]), phase
    for phase in PHASES[:-1]:
        for role in ("primary", "secondary", "expert"):
            for path, (status, body) in one["seen"][phase][role].items():
                status2, body2 = two["seen"][phase][role][path]
                where = (phase, role, path)
                assert status == status2, where
                text = json.dumps(body, ensure_ascii=False)
                assert not any(x in text for x in one["hefei"]), where
                assert _normal(body) == _normal(body2), (
                    where, _first_difference(_normal(body), _normal(body2)))
            # The bundle that names them is refused before the seal.
            assert one["seen"][phase][role][f"{sid_path}/draw/bundle"][0] == 403, (phase, role)
    # At the seal each operator reads the Hefei members in the bundle; the bytes differ.
    for role in ("primary", "secondary"):
        for run in (one, two):
            status, bundle = run["seen"]["sealed"][role][f"{sid_path}/draw/bundle"]
            assert status == 200, (role, bundle)
            members = {seat["member"]["expert"] for seat in bundle["result"]["seats"]}
            assert set(run["hefei"]) <= members, role
        assert (one["seen"]["sealed"][role][f"{sid_path}/draw/bundle"]
                != two["seen"]["sealed"][role][f"{sid_path}/draw/bundle"])
    # An expert is never told the other members by name: the report names seats, and
    # the bundle is not an expert's to fetch (docs/draw.md §6.6), sealed or not.
    for run in (one, two):
        for path, (_, body) in run["seen"]["sealed"]["expert"].items():
            assert not any(x in json.dumps(body, ensure_ascii=False) for x in run["hefei"]), path
        assert run["seen"]["sealed"]["expert"][f"{sid_path}/draw/bundle"][0] == 403
    # The primary operator sees Hefei's seats, by seat only.
    _, doc = one["seen"]["ready"]["primary"][sid_path]
    hefei = [x for x in doc["seats"] if x["venue_id"] == "ah-hefei"]
    assert len(hefei) == 2 and all(x["expert_id"] is None and x["masked"] for x in hefei)
