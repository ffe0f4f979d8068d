"""Faults by rule as an insider at another venue watches them: Suzhou's link goes, the
session pauses, is not resumed, its materials are sealed, Suzhou's members leave (their
sheets voided) and their seats move to the primary, where the replacement draw's members
take them. Hefei's operator and site supervisor, a Hefei member and the primary's
operator receive the same bytes whoever sat at Suzhou; the Hefei observers also whoever
replaced them (the primary seats and checks in the replacements: it knows them)
(non-interference, DESIGN.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from conftest import session_doc

from evalsvc.auth import Principal
from evalsvc.sessions import machine as m
from evalsvc.sessions.access import redact_event, view_session
from evalsvc.sessions.model import FaultRules, ScoringRules, Stage, State, new_session

RULES = FaultRules(60, 120, 240, (("link_lost_pause_minutes", "1"),
                                  ("resume_deadline_minutes", "2"),
                                  ("suspend_after_minutes", "4")))
SUZHOU, HEFEI = "js-suzhou", "ah-hefei"  # seats 3-4 and 5-6; the primary holds 0-2
OBSERVERS = [
    Principal(role="operator", subject="op-ah", name="合肥操作员", venue=HEFEI),
    Principal(role="site_supervisor", subject="ss-ah", name="合肥现场监督", venue=HEFEI),
    Principal(role="expert", subject="e5", name="专家5", venue=HEFEI),
    Principal(role="operator", subject="op-sh", name="上海操作员", venue="sh-ggzy"),
]


def _watch(suzhou: tuple[str, str], alternates: tuple[str, str]) -> dict[str, str]:
    """What each observer receives, as text: every event of the fault, each redacted
    with the session as it stood once it was recorded, and the session view after."""
    s = new_session(session_doc(seats=(3, 2, 2)), session_id="s-1", now=1,
                    defaults=ScoringRules())
    ids = {3: suzhou[0], 4: suzhou[1]}
    seats = tuple(replace(x, expert_id=ids.get(x.index, f"e{x.index}"),
                          expert_name=f"专家{ids.get(x.index, x.index)}", source="draw:1",
                          checked_in=True, pledged="b" * 64, declared=True) for x in s.seats)
    s = replace(s, seats=seats, state=State.EVALUATING, stage=Stage.QUALIFICATION, leader=0)
    seen: dict[str, list[Any]] = {p.subject: [] for p in OBSERVERS}
    steps: list[tuple[m.Command, int]] = [
        (m.RecordLinkLost(SUZHOU), 0), (m.ApplyFaultRules(RULES), 60),
        (m.ApplyFaultRules(RULES), 180),
        (m.AssignSeat(3, alternates[0], f"候补{alternates[0]}", source="draw:1"), 200),
        (m.AssignSeat(4, alternates[1], f"候补{alternates[1]}", source="draw:1"), 201),
        (m.CheckIn(3), 210), (m.CheckIn(4), 211),
    ]
    seq = 0
    for command, now in steps:
        s, events = m.apply(s, command, now)
        for e in events:
            seq += 1
            doc = {"session_id": s.id, "seq": seq, "type": e.type, "payload": e.payload,
                   "actor": "system", "venue": None, "time_ms": now * 1000}
            for p in OBSERVERS:
                seen[p.subject].append(redact_event(s, p, doc))
    for p in OBSERVERS:
        seen[p.subject].append(view_session(s, p, last_seq=seq))
    return {k: json.dumps(v, ensure_ascii=False, sort_keys=True) for k, v in seen.items()}


def test_who_left_and_who_replaced_them_at_suzhou_is_not_seen_elsewhere() -> None:
    a = _watch(("e3", "e4"), ("a3", "a4"))
    left = _watch(("张伟", "李娜"), ("a3", "a4"))  # others left Suzhou
    for p in OBSERVERS:
        assert a[p.subject] == left[p.subject], p
    replaced = _watch(("e3", "e4"), ("王芳", "刘洋"))  # others replaced them
    for p in OBSERVERS:
        if p.venue != "sh-ggzy":
            assert a[p.subject] == replaced[p.subject], p
    # The replacements sit at the primary, whose operator checks them in.
    assert '"a3"' in a["op-sh"] and '"a3"' not in replaced["op-sh"]
    # (The watch saw the fault: the voided sheets and the re-formed committee.)
    assert '"sheets.voided"' in a["op-ah"] and '"committee.reformed"' in a["op-ah"]
    assert "e3" not in a["op-ah"] and "a3" not in a["op-ah"]
