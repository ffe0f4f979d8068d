"""The venue's checks of a served view against a checkpoint it trusts (pure)."""

from __future__ import annotations

import json
import random

from evalsvc.audit.leaf import redacted_entry, seal_event
from evalsvc.audit.merkle import leaf_hash, root_hash
from evalsvc.audit.note import Checkpoint, generate_key, sign_checkpoint
from evalsvc.venues.verify import check_view, event_matches

ORIGIN = "evalsvc.local/s-1"
SKEY, VKEY = generate_key(ORIGIN)


def _log(n: int) -> tuple[list[bytes], list[bytes]]:
    """(the log's entries, the venue's views of them: the actor hidden)."""
    rng = random.Random(n)
    full, views = [], []
    for seq in range(1, n + 1):
        entry, _ = seal_event(session_id="s-1", seq=seq, venue="js-suzhou",
                              actor=f"expert:E-{seq}", action="sheet.submitted",
                              payload={"seat": seq % 3, "commitment": f"{seq:064x}"},
                              time_ms=1000 + seq, salt=lambda: rng.randbytes(16))
        full.append(entry)
        views.append(redacted_entry(entry, {"actor": "expert",
                                            "payload": {"seat": seq % 3,
                                                        "commitment": f"{seq:064x}"}}))
    return full, views


def _note(entries: list[bytes], size: int) -> str:
    from evalsvc.audit.leaf import leaf_of_entry

    root = root_hash([leaf_hash(leaf_of_entry(e)) for e in entries[:size]])
    return sign_checkpoint(Checkpoint(ORIGIN, size, root, ()), SKEY)


def test_a_view_that_re_derives_the_trusted_root_is_verified_in_steps() -> None:
    full, views = _log(9)
    first = check_view(log_vkey=VKEY, trusted_note=_note(full, 5), verified=[],
                       entries=views, served_note=_note(full, 5))
    assert first.split is None and len(first.leaf_hashes) == 5
    # Later checkpoints extend what is verified: the same leaves give both roots.
    second = check_view(log_vkey=VKEY, trusted_note=_note(full, 9),
                        verified=list(first.leaf_hashes), entries=views[5:],
                        served_note=_note(full, 9))
    assert second.split is None and len(second.leaf_hashes) == 4


def test_entries_not_served_yet_stay_pending() -> None:
    full, views = _log(6)
    r = check_view(log_vkey=VKEY, trusted_note=_note(full, 6), verified=[], entries=views[:4],
                   served_note=None)
    assert r.split is None and r.leaf_hashes == () and "2 entries" in (r.pending or "")


def test_an_entry_changed_for_this_venue_is_a_split_view() -> None:
    full, views = _log(6)
    doc = json.loads(views[3])
    doc["disclosed"] = [[s, n, 2 if n == "payload.seat" else v] for s, n, v in doc["disclosed"]]
    views[3] = json.dumps(doc, separators=(",", ":")).encode()
    r = check_view(log_vkey=VKEY, trusted_note=_note(full, 6), verified=[], entries=views,
                   served_note=None)
    assert r.split is not None and r.split.kind == "entries"
    assert "do not re-derive the cosigned root of size 6" in r.split.detail
    assert r.split.evidence["trusted"] == _note(full, 6)


def test_another_signed_root_at_a_trusted_size_is_a_fork_with_both_notes() -> None:
    full, views = _log(4)
    other = list(full)
    other[1] = full[2]
    forged = _note(other, 4)
    r = check_view(log_vkey=VKEY, trusted_note=_note(full, 4), verified=[], entries=views,
                   served_note=forged)
    assert r.split is not None and r.split.kind == "fork"
    assert r.split.evidence == {"trusted": _note(full, 4), "served": forged}
    # A checkpoint not signed by the log key proves nothing: not a fork.
    forged_elsewhere = sign_checkpoint(Checkpoint(ORIGIN, 4, bytes(32), ()),
                                       generate_key(ORIGIN)[0])
    r = check_view(log_vkey=VKEY, trusted_note=_note(full, 4), verified=[], entries=views,
                   served_note=forged_elsewhere)
    assert r.split is None and len(r.leaf_hashes) == 4


def test_a_streamed_event_must_not_contradict_its_entry() -> None:
    _, views = _log(2)
    shown = {"seq": 1, "event": "sheet.submitted", "actor": "expert",
             "payload": {"seat": 1, "commitment": f"{1:064x}"}}
    assert event_matches(shown, views[0])
    assert not event_matches({**shown, "payload": {"seat": 2, "commitment": f"{1:064x}"}},
                             views[0])
    assert not event_matches({**shown, "event": "sheet.withdrawn"}, views[0])
    # Shown masked live, disclosed later: allowed.
    assert event_matches({**shown, "payload": {"masked": True}}, views[0])


def test_a_partially_disclosed_event_is_verified_member_by_member() -> None:
    # Format 3: the venue sees the seats' venues and its own member, not the others'.
    rng = random.Random(4)
    payload = {"result": {"seats": [
        {"venue": "js-suzhou", "member": {"expert": "E-JS-1", "counter": 3}},
        {"venue": "ah-hefei", "member": {"expert": "E-AH-1", "counter": 4}}]}}
    shown = {"result": {"seats": [
        {"venue": "js-suzhou", "member": {"expert": "E-JS-1", "counter": None}},
        {"venue": "ah-hefei", "member": {"expert": None, "counter": None, "masked": True}}]}}
    entry, _ = seal_event(session_id="s-1", seq=1, venue=None, actor="operator:op",
                          action="draw.drawn", payload=payload, time_ms=1,
                          salt=lambda: rng.randbytes(16))
    view = redacted_entry(entry, {"actor": "operator", "payload": shown})
    r = check_view(log_vkey=VKEY, trusted_note=_note([entry], 1), verified=[],
                   entries=[view], served_note=None)
    assert r.split is None and len(r.leaf_hashes) == 1
    event = {"seq": 1, "event": "draw.drawn", "actor": "operator", "payload": shown}
    assert event_matches(event, view)
    # A disclosed member streamed otherwise — another venue for a seat, another member
    # at this venue — is caught; a hidden one is not compared.
    for seat, member in ((0, {"venue": "sh-ggzy"}),
                         (0, {"member": {"expert": "E-JS-9", "counter": None}}),
                         (1, {"venue": "js-suzhou"})):
        seats = [dict(s) for s in shown["result"]["seats"]]
        seats[seat].update(member)
        lying = {**event, "payload": {"result": {"seats": seats}}}
        assert not event_matches(lying, view), (seat, member)
    seats = [dict(s) for s in shown["result"]["seats"]]
    seats[1]["member"] = {"expert": "E-AH-5"}  # not disclosed to this venue: not compared
    assert event_matches({**event, "payload": {"result": {"seats": seats}}}, view)
    # One seat fewer than logged is a contradiction too.
    short = {**event, "payload": {"result": {"seats": shown["result"]["seats"][:1]}}}
    assert not event_matches(short, view)
