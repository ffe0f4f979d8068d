"""Withholding a reveal, reopening at once, replaying a commitment, changing the terms
between ceremonies, aborting after the draw: each a free option of the old code."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Harness

from ._draw import (
    VENUES,
    commit,
    committed_ceremony,
    draw_rules,
    events_of,
    open_ceremony,
    pass_deadline,
    reveal,
    session_with_pool,
)


async def _failed_by_withholding(api: Harness, sid: str) -> int:
    """Ceremony whose primary saw every other venue's secret and withheld its own."""
    n = await committed_ceremony(api, sid, reveal_s=3.5, rules=draw_rules())
    for party in VENUES[1:]:
        status, out = await reveal(api, sid, party, n)
        assert status == 201, out
    # The primary reads the other venues' secrets from the events …
    seen = {e["payload"]["party"] for e in await events_of(api, sid, "draw.revealed")}
    assert seen == set(VENUES[1:])
    # … but the seed also needs the supervisor's, which is not revealed before every
    # other party has revealed: whatever the primary does, it does blind.
    status, out = await reveal(api, sid, "supervisor", n)
    assert status == 409 and "reveals last" in out["detail"], out
    await pass_deadline(api, sid, "reveal_deadline")  # the primary withholds
    (failed,) = await events_of(api, sid, "draw.failed")
    assert {"party": "sh-ggzy", "reason": "no_reveal"} in failed["payload"]["dropped"]
    revealed = {e["payload"]["party"] for e in await events_of(api, sid, "draw.revealed")}
    assert "supervisor" not in revealed  # never published: nothing learned by failing
    return n


async def test_withholding_learns_nothing_and_reopening_needs_a_supervisor(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path)
    n = await _failed_by_withholding(api, sid)
    status, out = await open_ceremony(api, sid)
    assert status == 403 and "approval" in out["detail"], out
    # An operator cannot approve; a supervisor does, with a reason, on the record.
    url = f"/api/sessions/{sid}/draw/approvals"
    status, out = await api.call("POST", url, api.op(), json={"action": "reopen",
                                                             "reason": "x"})
    assert status == 403, out
    status, out = await api.call("POST", url, api.sup, json={
        "action": "reopen", "reason": "主场未揭示, 经核实为网络故障"})
    assert status == 201, out
    status, out = await open_ceremony(api, sid)
    assert status == 201 and out["ceremony"] == n + 1, out
    approved = (await events_of(api, sid, "draw.approved"))[0]["payload"]
    assert approved["after_ceremony"] == n and approved["reason"].startswith("主场未揭示")
    opened = (await events_of(api, sid, "draw.opened"))[-1]["payload"]
    assert opened["approval"]["reason"] == approved["reason"]
    # The approval is used up by that ceremony.
    assert (await api.events(sid))[-1]["type"] == "draw.opened"


async def test_a_commitment_of_an_earlier_ceremony_is_refused(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path)
    n = await _failed_by_withholding(api, sid)
    old = {e["payload"]["party"]: e["payload"]["digest"]
           for e in await events_of(api, sid, "draw.committed")}
    await api.call("POST", f"/api/sessions/{sid}/draw/approvals", api.sup,
                   json={"action": "reopen", "reason": "网络故障"})
    status, out = await open_ceremony(api, sid, commit_s=2.0)
    assert status == 201, out
    # js-suzhou's commitment of ceremony 1 (its secret already public) submitted again.
    status, out = await commit(api, sid, "js-suzhou", n + 1, digest=old["js-suzhou"])
    assert status == 409 and "already submitted" in out["detail"], out
    # A commitment made for ceremony 1 does not open in ceremony 2 either: the digest
    # binds (session, ceremony number, party).
    status, out = await commit(api, sid, "ah-hefei", n + 1, salt=0, digest=None)
    assert status == 201, out


async def test_terms_are_frozen_at_the_first_ceremony(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path)
    await _failed_by_withholding(api, sid)
    url = f"/api/sessions/{sid}/draw/approvals"
    await api.call("POST", url, api.sup, json={"action": "reopen", "reason": "网络故障"})
    # Fewer alternates and a one-second answer time: forced re-draws in the old code.
    status, out = await open_ceremony(api, sid, rules=draw_rules(alternates=0),
                                      invitation_timeout_seconds=1)
    assert status == 403 and "supervisor's approval" in out["detail"], out
    digest = re.search(r"new terms ([0-9a-f]{64})", out["detail"])
    assert digest is not None
    # Approving new terms is a separate decision, recorded with its reason; only the
    # terms approved (by digest) are let through.
    status, out = await api.call("POST", url, api.sup, json={
        "action": "change_terms", "reason": "特殊情况", "terms_sha256": digest.group(1)})
    assert status == 201, out
    status, out = await open_ceremony(api, sid, rules=draw_rules(alternates=1),
                                      invitation_timeout_seconds=1)
    assert status == 403, out
    status, out = await open_ceremony(api, sid, rules=draw_rules(alternates=0),
                                      invitation_timeout_seconds=1)
    assert status == 201, out
    opened = (await events_of(api, sid, "draw.opened"))[-1]["payload"]
    assert opened["terms_sha256"] == digest.group(1)
    assert opened["approval"]["action"] == "change_terms"


async def test_the_primary_cannot_abort_after_the_draw_opened(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path, count=50)
    status, out = await api.command(sid, api.op(), "abort", reason="重新登记")
    assert status == 403 and "supervisor" in out["detail"], out
    status, out = await api.command(sid, api.sup, "abort", reason="招标人撤回项目")
    assert status == 200, out
