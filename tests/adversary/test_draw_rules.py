"""Issue "A draw that holds against a dishonest primary": the rules are the session's.

Each test is a finding reproduced through the HTTP API by a primary operator who wants a
particular committee; on the old code every request below was accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Harness, session_doc

from ._draw import draw_rules, events_of, open_ceremony, session_with_pool


async def _refused(api: Harness, sid: str, rules: dict[str, Any], **body: Any) -> Any:
    status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=1200, rules=rules,
                                      **body)
    assert status == 422, out
    return out


async def test_unsafe_no_recusal_is_for_simulations_only(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path, count=50)
    rules = draw_rules()
    rules["recusal"] = {"unsafe_no_recusal": True}
    out = await _refused(api, sid, rules)
    assert out["field"] == "rules/recusal/unsafe_no_recusal"
    for key, value in (("penalty_years", False), ("collaboration_years", 1),
                       ("max_evaluations_per_tenderer_per_year", False)):
        rules["recusal"] = {key: value}
        assert (await _refused(api, sid, rules))["field"] == f"rules/recusal/{key}"
    assert await events_of(api, sid, "draw.opened") == []


async def test_the_rules_name_no_bidder_tenderer_or_department(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path, count=50)
    doc = session_doc()
    session_facts = {
        # Even the session's own values: the request has no say in them.
        "bidders": [{"name": b["bidder"], "uscc": b["uscc"], "principals": []}
                    for b in doc["bids"]],
        "tenderer": {"name": doc["tenderer"], "uscc": doc["tenderer_uscc"]},
        "supervising_departments": doc["supervising_departments"],
    }
    for key, value in session_facts.items():
        rules = {**draw_rules(), key: value}
        out = await _refused(api, sid, rules)
        assert out["field"] == f"rules/{key}", out
        assert "取自会话登记" in out["detail"], out
    rules = draw_rules()
    rules["bidders"] = session_facts["bidders"][1:]  # the session's bid B1 "left out"
    assert (await _refused(api, sid, rules))["field"] == "rules/bidders"
    assert await events_of(api, sid, "draw.opened") == []
    status, out = await open_ceremony(api, sid, rules=draw_rules())
    assert status == 201, out
    (opened,) = await events_of(api, sid, "draw.opened")
    bound = opened["payload"]["rules"]
    assert {b["uscc"] for b in bound["bidders"]} == {b["uscc"] for b in doc["bids"]}
    assert bound["tenderer"] == session_facts["tenderer"]
    assert [d["uscc"] for d in bound["supervising_departments"]] == [
        d["uscc"] for d in doc["supervising_departments"]]


async def test_a_chosen_date_is_refused(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    sid = await session_with_pool(api, db_url, tmp_path, count=50)
    rules = draw_rules()
    rules["draw"]["date"] = "2099-01-01"
    assert (await _refused(api, sid, rules))["field"] == "rules/draw/date"


async def test_floors_on_windows_timeout_and_alternates(
    strict: Harness, db_url: str, tmp_path: Path
) -> None:
    api = strict
    sid = await session_with_pool(api, db_url, tmp_path, count=50)
    # A 2-second commitment window (the accomplice-only ceremony of the finding).
    status, out = await open_ceremony(api, sid, commit_s=2, reveal_s=900, exact=True,
                                      rules=draw_rules())
    assert status == 422 and out["field"] == "commit_deadline", out
    status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=610, rules=draw_rules())
    assert status == 422 and out["field"] == "reveal_deadline", out
    status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=1200,
                                      rules=draw_rules(), invitation_timeout_seconds=1)
    assert status == 422 and out["field"] == "invitation_timeout_seconds", out
    status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=1200,
                                      rules=draw_rules(alternates=0))
    assert status == 422 and out["field"] == "rules/draw/alternates", out
    status, out = await open_ceremony(api, sid, commit_s=600, reveal_s=1200,
                                      rules=draw_rules())
    assert status == 201, out
