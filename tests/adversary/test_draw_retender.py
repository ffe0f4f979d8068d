"""Abort and start over: after seeing its venue's members the primary wanted to abort
the session and register the same tender again, with nothing linking the two."""

from __future__ import annotations

from pathlib import Path

from conftest import Harness

from ._draw import draw_rules, drawn_session, open_ceremony


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
