"""``evalsvc draw verify`` proves what it says: no ceremony, invented parties, earlier
failures and parties that never committed are all caught or listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Harness

from evalsvc.cli import main
from evalsvc.experts.bundle import ceremony_from_json, ceremony_seed
from evalsvc.experts.draw import draw
from evalsvc.experts.pool import Pool, expert_from_view
from evalsvc.experts.rules import load_rules

from ._draw import (
    PARTIES,
    commit,
    draw_rules,
    open_ceremony,
    pass_deadline,
    reveal,
    session_with_pool,
)


async def _drawn(api: Harness, sid: str, n: int) -> None:
    for party in PARTIES:
        assert (await commit(api, sid, party, n))[0] == 201
    await pass_deadline(api, sid)
    for party in PARTIES:
        status, out = await reveal(api, sid, party, n)
        assert status == 201, out
    assert out["drawn"] is True


async def test_verify_lists_every_ceremony_its_failures_and_silent_parties(
    api: Harness, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path)
    status, out = await open_ceremony(api, sid, commit_s=2.0, rules=draw_rules())
    assert status == 201
    for party in ("sh-ggzy", "supervisor"):  # two venues shut out by the window
        assert (await commit(api, sid, party, 1))[0] == 201
    await pass_deadline(api, sid)
    await api.call("POST", f"/api/sessions/{sid}/draw/approvals", api.sup,
                   json={"action": "reopen", "reason": "两个副场未能提交承诺"})
    status, out = await open_ceremony(api, sid, commit_s=2.0)
    assert status == 201, out
    await _drawn(api, sid, 2)
    capsys.readouterr()
    bundle = tmp_path / "bundle.json"
    assert main(["draw", "verify", "--session", sid, "--database", db_url,
                 "--bundle-out", str(bundle)]) == 0
    text = capsys.readouterr().out
    assert "ceremony 1: failed — insufficient_contributions" in text
    assert "js-suzhou (no_commitment)" in text and "ah-hefei (no_commitment)" in text
    assert "ceremony 2: drawn" in text and "两个副场未能提交承诺" in text
    assert "ceremony 2: parties sh-ggzy, js-suzhou, ah-hefei, supervisor as the rules name" in text

    # Invented parties: a bundle whose ceremony has only the primary and the supervisor,
    # seed and draw recomputed to match — every digest agrees, the parties do not.
    doc = json.loads(bundle.read_text(encoding="utf-8"))
    c = doc["ceremony"]
    keep = {"sh-ggzy", "supervisor"}
    c["parties"] = sorted(keep)
    c["minimum"] = 2
    c["commitments"] = [x for x in c["commitments"] if x["party"] in keep]
    c["reveals"] = [x for x in c["reveals"] if x["party"] in keep]
    seed = ceremony_seed(sid, ceremony_from_json(c)).seed
    config = load_rules(doc["rules"])
    pool = Pool.from_experts(expert_from_view(v) for v in doc["pool"])
    result = draw(pool, config.rules, config.seats, seed)
    doc.update(seed=seed.hex(), result=result.to_json(), result_sha256=result.digest())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["draw", "verify", "--bundle", str(forged)]) == 1
    assert "the rules name" in capsys.readouterr().out


async def test_a_bundle_without_a_ceremony_does_not_verify(
    api: Harness, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path)
    status, _ = await open_ceremony(api, sid, commit_s=2.0, rules=draw_rules())
    assert status == 201
    await _drawn(api, sid, 1)
    bundle = tmp_path / "bundle.json"
    assert main(["draw", "verify", "--session", sid, "--database", db_url,
                 "--bundle-out", str(bundle)]) == 0
    doc = json.loads(bundle.read_text(encoding="utf-8"))
    del doc["ceremony"]  # "the seed is taken as given"
    bundle.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["draw", "verify", "--bundle", str(bundle)]) == 1
    assert "no ceremony in the bundle" in capsys.readouterr().out
    assert main(["draw", "verify", "--bundle", str(bundle), "--given-seed"]) == 0
    assert "SIMULATION" in capsys.readouterr().out
