"""A drawn session (the draw-done milestone), as tests/audit/test_witnessing.py makes it."""

from __future__ import annotations

from conftest import EXPERT_IDS, Harness, session_doc


async def drawn(api: Harness) -> tuple[str, int]:
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
