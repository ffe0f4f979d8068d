"""A supervisor opens one masked field of the pool snapshot over the API, on the record
(docs/audit.md "Opening one field").

The tender's supervisor gets the value and its salt, which open the snapshot's
commitment; the log records a ``pool.field_opened`` event — who, which expert and field,
why, the commitment — never the value. Nobody else may open a field, and nobody else
learns which one was opened: an operator, a site supervisor and a seated expert receive
the same bytes whichever expert's field it was. An expert in no snapshot of the session
gets one answer, whatever the reason, so the route tells no one who is in the pool.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    make_token,
    run_ceremony,
)

from evalsvc.audit.leaf import field_digest
from evalsvc.audit.routes import AUDIT


def _opened(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "pool.field_opened"]


async def _drawn(api: Harness, db_url: str, tmp_path: Path) -> tuple[str, list[Any], dict[
        int, tuple[str, str]]]:
    """A session whose committee was drawn from an imported pool: (id, the pool's
    experts, seat → (expert id, venue) of the invitations)."""
    experts = import_pool(db_url, tmp_path)
    sid = await drawing_session(api)
    await run_ceremony(api, sid, rules=draw_rules())
    status, draw = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    assert status == 200, draw
    invited = {s["seat"]: (s["expert_id"], s["venue_id"]) for s in draw["seats"]}
    return sid, experts, invited


async def _open(api: Harness, sid: str, token: str, **body: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/sessions/{sid}/audit/pool-openings", token,
                          json=body)


async def test_the_supervisor_gets_the_opening_and_the_log_records_it_without_the_value(
    api: Harness, db_url: str, tmp_path: Path,
) -> None:
    sid, experts, invited = await _drawn(api, db_url, tmp_path)
    expert_id, _venue = invited[0]
    person = next(e for e in experts if e.id == expert_id)
    reason = "核查该专家是否与投标人存在利害关系（监督函 2026-17 号）"

    status, body = await _open(api, sid, api.sup, expert_id=expert_id, field="name",
                               reason=reason)
    assert status == 201, body
    opening = body["opening"]
    assert opening["value"] == person.name and opening["expert"] == expert_id
    # The value and salt open the commitment the snapshot holds for that field.
    assert field_digest(bytes.fromhex(opening["salt"]), "name",
                        opening["value"]) == opening["commitment"]

    # On the record, for supervisors: who opened what, why, the commitment opened.
    (event,) = _opened(await api.events(sid))
    assert event["seq"] == body["seq"]
    assert event["actor"].startswith("supervisor:")
    assert event["payload"] == {"expert_id": expert_id, "field": "name", "reason": reason,
                                "pool_sha256": opening["pool_sha256"],
                                "commitment": opening["commitment"]}
    # A milestone: a checkpoint covering it is signed with it (for the witnesses to
    # cosign), so the record cannot quietly be dropped.
    status, note = await api.call("GET", f"/api/sessions/{sid}/audit/checkpoint", api.sup)
    assert status == 200 and note.split("\n")[1] == str(body["seq"]), note
    assert "evalsvc-milestone pool-field-opened" in note
    # Never the value nor its salt, in the event or anywhere in the audit log.
    status, raw = await api.call("GET", f"/api/sessions/{sid}/audit/entries/{body['seq'] - 1}",
                                 api.sup)
    assert status == 200, raw
    for text in (json.dumps(event, ensure_ascii=False), raw["entry"]):
        assert person.name not in text and opening["salt"] not in text
    assert json.loads(raw["entry"])["action"] == "pool.field_opened"

    # The same request again under its key answers the same, recording nothing new.
    headers = {"Idempotency-Key": "opening-0001"}
    for _ in range(2):
        status, again = await api.call(
            "POST", f"/api/sessions/{sid}/audit/pool-openings", api.sup, headers=headers,
            json={"expert_id": expert_id, "field": "title", "reason": reason})
        assert status == 201 and again["opening"]["value"] == person.title
    assert len(_opened(await api.events(sid))) == 2


async def test_only_the_tenders_supervisor_may_open_and_a_refusal_records_nothing(
    api: Harness, db_url: str, tmp_path: Path,
) -> None:
    sid, _experts, invited = await _drawn(api, db_url, tmp_path)
    expert_id, venue = invited[0]
    status, _ = await api.call("POST", f"/api/sessions/{sid}/invitation",
                               api.expert(expert_id, venue), json={"accept": True})
    assert status == 200
    before = await api.events(sid)
    ask = {"expert_id": expert_id, "field": "resident_id", "reason": "核查"}
    for token in (api.op(), api.op("js-suzhou"), api.site_sup("js-suzhou"),
                  api.expert(expert_id, venue)):
        status, body = await _open(api, sid, token, **ask)
        assert status == 403, body
        assert "行政监督" in body["detail"], body
    # A supervisor bound to another tender does not see the session at all.
    other = make_token(api.settings, "supervisor", subject="sup-other", scope=("ZB-OTHER",))
    status, body = await _open(api, sid, other, **ask)
    assert status == 404, body
    assert await api.events(sid) == before


async def test_who_is_in_the_pool_is_not_told_and_bad_input_is_named(
    api: Harness, db_url: str, tmp_path: Path,
) -> None:
    sid, _experts, invited = await _drawn(api, db_url, tmp_path)
    in_snapshot = invited[0][0]
    undrawn = await drawing_session(api)  # the same pool, no snapshot yet
    before = [await api.events(x) for x in (sid, undrawn)]

    answers = []
    for session, expert in ((sid, "E-NOT-IN-POOL"), (undrawn, in_snapshot),
                            (undrawn, "E-NOT-IN-POOL")):
        status, body = await _open(api, session, api.sup, expert_id=expert, field="name",
                                   reason="核查")
        assert status == 404, body
        answers.append({k: (v.replace(expert, "<id>") if isinstance(v, str) else v)
                        for k, v in body.items() if k != "instance"})
    # One answer whatever the reason: unknown, or in the pool but not in the snapshot.
    assert answers[0] == answers[1] == answers[2]
    assert re.search(r"[\u4e00-\u9fff]", answers[0]["detail"])

    for ask, field in (({"expert_id": in_snapshot, "field": "specialties", "reason": "核查"},
                        "field"),
                       ({"expert_id": in_snapshot, "field": "name", "reason": "  "}, "reason"),
                       ({"expert_id": in_snapshot, "field": "name"}, "reason"),
                       ({"expert_id": "", "field": "name", "reason": "核查"}, "expert_id"),
                       ({"expert_id": in_snapshot, "field": "name", "reason": "核查",
                         "value": "x"}, "value")):
        status, body = await _open(api, sid, api.sup, **ask)
        assert status == 422 and body["field"] == field, (ask, body)
        assert re.search(r"[\u4e00-\u9fff]", body["detail"]), body
    assert [await api.events(x) for x in (sid, undrawn)] == before


async def test_other_roles_receive_the_same_bytes_whichever_field_was_opened(
    api: Harness, db_url: str, tmp_path: Path,
) -> None:
    """Non-interference: two openings — another expert, another field, another reason —
    reach an operator, a site supervisor and a seated expert as the same bytes (but for
    the seq and time), live, over REST and in their audit view."""
    sid, _experts, invited = await _drawn(api, db_url, tmp_path)
    member, venue = invited[3]
    status, _ = await api.call("POST", f"/api/sessions/{sid}/invitation",
                               api.expert(member, venue), json={"accept": True})
    assert status == 200
    for seat, field, reason in ((0, "name", "核查利害关系"), (5, "resident_id", "身份核验")):
        status, body = await _open(api, sid, api.sup, expert_id=invited[seat][0],
                                   field=field, reason=reason)
        assert status == 201, body
    api.client.app[AUDIT].mark_dirty(sid)
    await api.client.app[AUDIT].sign_pending()  # (the checkpoint job, run now)

    for token in (api.op(), api.op("ah-hefei"), api.site_sup("js-suzhou"),
                  api.expert(member, venue)):
        status, body = await api.call("GET", f"/api/sessions/{sid}/events?limit=1000", token)
        assert status == 200, body
        a, b = _opened(body["events"])
        strip = ("seq", "time", "time_ms")
        assert ({k: v for k, v in a.items() if k not in strip}
                == {k: v for k, v in b.items() if k not in strip})
        assert a["payload"] == {"masked": True} and a["actor"] == "supervisor"
        if token not in (api.op(), api.op("ah-hefei")):
            continue  # (the audit view is the venues' mirrors')
        status, view = await api.call("GET", f"/api/sessions/{sid}/audit/view", token)
        assert status == 200, view
        for e in (a, b):
            entry = json.loads(view["entries"][e["seq"] - 1])
            assert entry["action"] == "pool.field_opened" and entry["disclosed"] == []
