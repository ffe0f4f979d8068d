"""The rules a session's draw uses take the tender's recusal inputs from the session
(``evalsvc/experts/binding.py``, docs/draw.md §6.1). Pure: no server."""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace

import pytest
from conftest import draw_rules, session_doc, uscc

from evalsvc.errors import InvalidInput
from evalsvc.experts.binding import SESSION_KEYS, bind_rules, request_part
from evalsvc.sessions.model import ScoringRules, new_session

NOW = _dt.datetime(2026, 12, 1, 2, 0, tzinfo=_dt.UTC)


def _session(**extra: object):  # type: ignore[no-untyped-def]
    doc = session_doc(**extra)
    return new_session(doc, session_id="S-1", now=0, defaults=ScoringRules())


def test_the_session_s_tender_is_bound_into_the_rules() -> None:
    doc = session_doc()
    doc["bids"][0] = {**doc["bids"][0], "legal_representative": "赵甲", "principals": ["钱乙"]}
    # A second bid of the same bidder adds its own principal; the bidder is listed once.
    doc["bids"].append({**doc["bids"][0], "id": "B4", "legal_representative": "赵甲",
                        "principals": ["孙丙"]})
    s = new_session(doc, session_id="S-1", now=0, defaults=ScoringRules())
    bound = bind_rules(draw_rules(), s, now=NOW, min_alternates=2)
    assert bound["tenderer"] == {"name": doc["tenderer"], "uscc": doc["tenderer_uscc"]}
    assert bound["supervising_departments"] == doc["supervising_departments"]
    assert [b["uscc"] for b in bound["bidders"]] == [b["uscc"] for b in doc["bids"][:3]]
    assert bound["bidders"][0]["principals"] == ["赵甲", "钱乙", "孙丙"]
    assert bound["draw"]["session"] == "S-1" and bound["draw"]["date"] == "2026-12-01"
    # A later ceremony reusing the rules binds them again to the same document.
    assert bind_rules(request_part(bound), s, now=NOW, min_alternates=2) == bound


@pytest.mark.parametrize("key", sorted(SESSION_KEYS))
def test_a_request_naming_a_session_fact_is_refused(key: str) -> None:
    s = _session()
    with pytest.raises(InvalidInput) as info:
        bind_rules({**draw_rules(), key: []}, s, now=NOW, min_alternates=2)
    assert info.value.field == f"rules/{key}"
    assert "取自会话登记" in info.value.message


def test_a_session_stored_before_tender_data_cannot_draw() -> None:
    s = replace(_session(), tender_number=None, tenderer_uscc=None)
    with pytest.raises(InvalidInput) as info:
        bind_rules(draw_rules(), s, now=NOW, min_alternates=2)
    assert info.value.field == "tenderer_uscc" and "招标人统一社会信用代码" in info.value.message


def test_the_tenderer_uscc_is_checked_at_registration() -> None:
    good = uscc("T1")
    with pytest.raises(InvalidInput) as info:
        _session(tenderer_uscc=good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert info.value.field == "tenderer_uscc"
