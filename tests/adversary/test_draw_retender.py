"""Abort and start over: after seeing its venue's members the primary wanted to abort
the session and register the same tender again, with nothing linking the two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Harness, drawing_session, session_doc, uscc

from ._draw import draw_rules, drawn_session, open_ceremony, session_with_pool


async def test_registering_the_tender_again_is_linked_and_needs_a_supervisor(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    first = await drawn_session(api, db_url, tmp_path)
    # The primary has seen its members and wants others: it cannot abort …
    status, out = await api.command(first, api.op(), "abort", reason="重新登记")
    assert status == 403, out
    # … and once a supervisor has (for whatever reason), registering the tender again
    # does not give a fresh draw either.
    assert (await api.command(first, api.sup, "abort", reason="招标文件修改"))[0] == 200
    second, _ = await api.create()
    assert (await api.command(second, api.op(), "open_draw"))[0] == 200
    status, out = await open_ceremony(api, second, rules=draw_rules())
    assert status == 403 and first in out["detail"], out
    # Supervisors see the earlier session and everyone its draw invited.
    status, view = await api.call("GET", f"/api/sessions/{second}/draw", api.sup)
    assert status == 200
    (earlier,) = view["earlier_sessions"]
    assert earlier["session_id"] == first and earlier["state"] == "aborted"
    assert len(earlier["invited"]) == 7 and all(x["expert_id"] for x in earlier["invited"])
    status, view = await api.call("GET", f"/api/sessions/{second}/draw", api.op())
    assert "earlier_sessions" not in view
    url = f"/api/sessions/{second}/draw/approvals"
    assert (await api.call("POST", url, api.op(), json={"action": "retender",
                                                        "reason": "x"}))[0] == 403
    status, out = await api.call("POST", url, api.sup, json={
        "action": "retender", "reason": "招标文件修改后重新招标, 前次抽取作废"})
    assert status == 201, out
    status, out = await open_ceremony(api, second, rules=draw_rules())
    assert status == 201 and out["ceremony"] == 1, out
    opened = [e for e in await api.events(second) if e["type"] == "draw.opened"][-1]
    assert opened["payload"]["earlier_sessions"] == [first]
    assert opened["payload"]["approval"]["action"] == "retender"


def _again(**changes: Any) -> dict[str, Any]:
    """The tender of :func:`session_doc` registered again, with ``changes``."""
    doc = session_doc()
    doc.update(changes)
    return doc


OTHER_BIDS = [{**b, "uscc": uscc(f"R{i}")} for i, b in enumerate(session_doc()["bids"])]


async def _linked(api: Harness, db_url: str, tmp_path: Path, doc: dict[str, Any]) -> Any:
    """Register session_doc(), then ``doc``; the second's first ceremony answer and the
    supervisor's view of its earlier sessions."""
    first = await session_with_pool(api, db_url, tmp_path, count=50)
    second = await drawing_session(api, doc)
    status, out = await open_ceremony(api, second, commit_s=600, reveal_s=1200,
                                      rules=draw_rules())
    _, view = await api.call("GET", f"/api/sessions/{second}/draw", api.sup)
    return first, status, out, view.get("earlier_sessions", [])


async def test_the_same_tender_number_links_whatever_else_changed(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    # Another title, another tenderer name and other bidders: the number is the tender's.
    # Full-width letters and other separators do not make it another number either.
    doc = _again(title="改名后的项目", tenderer="改名后的招标人", bids=OTHER_BIDS,
                 tender_number="ｃｓ/2026/0001")
    first, status, out, earlier = await _linked(api, db_url, tmp_path, doc)
    assert status == 403 and first in out["detail"], out
    assert [(e["session_id"], e["matched_by"]) for e in earlier] == [(first, "tender_number")]


async def test_renaming_the_title_under_a_new_number_does_not_escape_the_link(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    # Renumbered and retitled, the tenderer and its bidders are the same: the fallback.
    doc = _again(title="测试项目(重新招标)", tender_number="CS-2026-0002")
    first, status, out, earlier = await _linked(api, db_url, tmp_path, doc)
    assert status == 403 and first in out["detail"], out
    assert [(e["session_id"], e["matched_by"]) for e in earlier] == [
        (first, "tenderer_bidders")]


async def test_renaming_the_tenderer_keeps_its_uscc(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    doc = _again(tenderer="某某招标人(更名)", title="测试项目(重新招标)",
                 tender_number="CS-2026-0003")
    first, status, out, earlier = await _linked(api, db_url, tmp_path, doc)
    assert status == 403 and first in out["detail"], out
    assert [e["matched_by"] for e in earlier] == ["tenderer_bidders"]


async def test_another_tender_draws_without_approval(
    api: Harness, db_url: str, tmp_path: Path
) -> None:
    # The control: a new number, and the same tenderer with another title and bidders.
    doc = _again(title="另一个项目", bids=OTHER_BIDS, tender_number="CS-2026-0004")
    _, status, out, earlier = await _linked(api, db_url, tmp_path, doc)
    assert status == 201, out
    assert earlier == []
