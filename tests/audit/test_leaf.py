"""The audit leaf (docs/audit.md "Leaves"): salted per-field digests (format 2), and for
events whose redaction is nested, per-member digests at any depth (format 3), so that a
venue's redacted view of an entry still recomputes the leaf the log committed to."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import pytest

from evalsvc.audit.leaf import field_digest, leaf_of_entry, open_entry, redacted_entry, seal_event
from evalsvc.audit.merkle import leaf_hash
from evalsvc.errors import InvalidInput


def _salts(seed: int) -> Callable[[], bytes]:
    rng = random.Random(seed)  # tests only: the server's salts are CSPRNG output
    return lambda: rng.randbytes(16)


def _seal(
    payload: dict[str, object], seed: int = 1, actor: str = "expert:e-01",
    nested: bool = False,
) -> tuple[bytes, bytes]:
    return seal_event(session_id="s-1", seq=7, venue="js-suzhou", actor=actor,
                      action="sheets.opened", payload=payload, time_ms=1_700_000_000_000,
                      salt=_salts(seed), nested=nested)


def test_the_full_entry_and_a_redacted_view_recompute_the_logged_leaf() -> None:
    entry, leaf = _seal({"stage": "scoring", "sheets": [{"seat": 0, "sheet": {"b1": "8"}}]})
    assert leaf_of_entry(entry) == leaf
    d = open_entry(entry)
    assert d.payload["stage"] == "scoring" and d.actor == "expert:e-01" and d.hidden == ()
    shown = {"actor": "expert", "payload": {"stage": "scoring", "masked": True}}
    view = redacted_entry(entry, shown)
    v = open_entry(view)
    assert v.leaf == leaf  # the venue recomputes the very leaf the tree holds
    assert v.payload == {"stage": "scoring"} and v.actor is None and len(v.hidden) == 2
    assert b"b1" not in view and b"e-01" not in view


def test_changing_a_disclosed_field_changes_the_leaf() -> None:
    entry, leaf = _seal({"stage": "scoring", "sheets": []})
    doc = json.loads(entry)
    doc["disclosed"] = [[s, n, "qualification" if n == "payload.stage" else v]
                        for s, n, v in doc["disclosed"]]
    forged = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    assert leaf_of_entry(forged) != leaf
    assert leaf_hash(leaf_of_entry(forged)) != leaf_hash(leaf)


def test_a_hidden_value_changes_nothing_the_venue_receives_but_its_digest() -> None:
    # Non-interference: two runs that differ only in a hidden score. Everything the venue
    # receives is equal once the digests of the hidden fields — declared nonces, as the
    # sheet commitments are — are set aside; the salts of hidden fields are never sent.
    shown = {"actor": "expert", "payload": {"stage": "scoring", "masked": True}}
    views = []
    for score in ("8", "3"):
        entry, _ = _seal({"stage": "scoring", "sheets": [{"seat": 0, "sheet": {"b1": score}}]},
                         seed=2)
        view = json.loads(redacted_entry(entry, shown))
        salts = {s for s, n, _ in json.loads(entry)["disclosed"] if n != "payload.stage"}
        assert not any(s in json.dumps(view) for s in salts)
        view["hidden"] = ["<digest>"] * len(view["hidden"])
        views.append(view)
    assert views[0] == views[1]


def test_a_small_space_hidden_value_is_not_computable_from_its_digest() -> None:
    # A qualification verdict has two values: without the 128-bit salt neither candidate
    # (nor any salt a guesser might try) reproduces the digest the venue holds.
    entry, _ = _seal({"verdict": True}, seed=3)
    view = open_entry(redacted_entry(entry, {"actor": "x", "payload": {}}))
    guesses = {field_digest(bytes(16), "payload.verdict", v) for v in (True, False)}
    guesses |= {field_digest(b"", "payload.verdict", v) for v in (True, False)}
    assert not guesses & set(view.hidden)


def test_entries_that_do_not_parse_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="has no 'seq'"):
        open_entry(b'{"v":2,"session":"s","action":"a","venue":null,"time_ms":1}')
    entry, _ = _seal({"a": 1})
    doc = json.loads(entry)
    doc["disclosed"][0][0] = "0011223344"  # a 5-byte salt
    with pytest.raises(InvalidInput, match="expected >= 16"):
        open_entry(json.dumps(doc).encode())
    doc["disclosed"][0][0] = "not hex"
    with pytest.raises(InvalidInput, match="salt must be hex"):
        open_entry(json.dumps(doc).encode())
    doc["disclosed"][0][0] = "00" * 16
    lone = json.dumps(doc).replace('"expert:e-01"', '"\\ud800"').encode()
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        open_entry(lone)
    with pytest.raises(InvalidInput, match="unexpected or missing 'payload'"):
        open_entry(json.dumps({**doc, "payload": {"tampered": True}}).encode())
    doc["disclosed"][0][1] = "signature"
    with pytest.raises(InvalidInput, match="unknown disclosed field 'signature'"):
        open_entry(json.dumps(doc).encode())


def test_format_one_entries_are_their_own_leaf() -> None:
    raw = b'{"action":"x","actor":"a","payload":{},"seq":1,"session":"s","time_ms":1,"venue":null}'
    assert leaf_of_entry(raw) == raw
    with pytest.raises(InvalidInput, match="format-1"):
        redacted_entry(raw, {"actor": "a", "payload": {}})


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"stage": "scoring", "sheets": [{"seat": 0, "sheet": {"b1": "8.50"}}]},
        {"名称": "评标报告 \u2028 \"引号\" \\ \t", "n": -(2**53 - 1), "x": None, "ok": False},
        {"deep": {"z": [1, {"b": 2, "a": [None, True]}], "a": ""}, "emoji": "\U0001f600"},
    ],
)
@pytest.mark.parametrize("venue", [None, "js-suzhou"])
def test_the_fast_serialisation_is_rfc_8785(payload: dict[str, object], venue: str | None) -> None:
    from evalsvc.canonical import canonical_bytes

    salts: list[bytes] = []

    def salt() -> bytes:
        salts.append(random.Random(len(salts)).randbytes(16))
        return salts[-1]

    entry, leaf = seal_event(session_id="s-ü", seq=3, venue=venue, actor="operator:张",
                             action="x.y", payload=payload, time_ms=2**52, salt=salt)
    doc = json.loads(entry)
    assert canonical_bytes(doc) == entry
    assert canonical_bytes(json.loads(leaf)) == leaf
    assert open_entry(entry).leaf == leaf
    assert open_entry(entry).payload == payload
    names = sorted(["actor", *("payload." + k for k in payload)])
    assert [n for _, n, _ in doc["disclosed"]] == names
    assert len({s for s, _, _ in doc["disclosed"]}) == len(names) == len(salts)


# --- format 3: nested disclosure (docs/audit.md "Nested disclosure") -------------------

def _pick(expert: str, n: int) -> dict[str, object]:
    return {"expert": expert, "eligible": 40, "counter": n}


def _drawn(expert: str = "E-AH-7") -> dict[str, object]:
    seats = [{"index": 0, "venue": "sh-ggzy", "member": _pick("E-SH-1", 3),
              "alternates": [_pick("E-SH-9", 5)]},
             {"index": 1, "venue": "ah-hefei", "member": _pick(expert, 11),
              "alternates": [_pick("E-AH-2", 12)]}]
    return {"ceremony": "c-1", "result": {"seed": "ab" * 32, "seats": seats},
            "result_sha256": "cd" * 32}


def _operator_view(payload: dict[str, object]) -> dict[str, object]:
    """What access.redact_event shows Shanghai's operator before the seal: its own
    member by id, the other venue's masked, no draw inputs (a nested redaction)."""
    result = payload["result"]
    assert isinstance(result, dict)
    seats = []
    for seat in result["seats"]:
        def mask(p: dict[str, object], own: bool) -> dict[str, object]:
            p = {k: v for k, v in p.items() if k not in ("eligible", "counter")}
            return p if own else {**p, "expert": None, "masked": True}
        own = seat["venue"] == "sh-ggzy"
        seats.append({**seat, "member": mask(seat["member"], own),
                      "alternates": [mask(a, False) for a in seat["alternates"]]})
    return {"actor": "operator", "payload": {**payload, "result_sha256": None,
                                             "result": {**result, "seed": None,
                                                        "seats": seats}}}


def _draw_entry(payload: dict[str, object], seed: int = 5) -> tuple[bytes, bytes]:
    return seal_event(session_id="s-1", seq=9, venue=None, actor="operator:op-1",
                      action="draw.drawn", payload=payload, time_ms=1_700_000_000_000,
                      salt=_salts(seed))


def test_a_nested_event_is_format_3_and_opens_to_the_event_it_recorded() -> None:
    from evalsvc.canonical import canonical_bytes

    entry, leaf = _draw_entry(_drawn())
    doc = json.loads(entry)
    assert doc["v"] == 3 and canonical_bytes(doc) == entry
    assert canonical_bytes(json.loads(leaf)) == leaf
    d = open_entry(entry)
    assert d.leaf == leaf and d.payload == _drawn() and d.unopened == 0
    # Other events keep format 2 (the sheets of the hot path pay nothing for it).
    assert json.loads(_seal({"seat": 1})[0])["v"] == 2


def test_a_venue_is_shown_part_of_a_nested_field_and_recomputes_the_leaf() -> None:
    payload = _drawn()
    entry, leaf = _draw_entry(payload)
    view = redacted_entry(entry, _operator_view(payload))
    v = open_entry(view)
    assert v.leaf == leaf  # what the tree holds, from a partial view
    seats = v.payload["result"]["seats"]
    # Seats and venues are disclosed; Shanghai's own member by id; Hefei's not, nor any
    # draw input (eligible, counter, the seed, the result digest).
    assert [s["venue"] for s in seats] == ["sh-ggzy", "ah-hefei"]
    assert seats[0]["member"] == {"expert": "E-SH-1"}
    # Nothing of Hefei's member nor of any alternate is shown as it is: left out, digests.
    assert "member" not in seats[1]
    assert "alternates" not in seats[0] and "alternates" not in seats[1]
    assert "seed" not in v.payload["result"] and "result_sha256" not in v.payload
    assert b"E-AH-7" not in view and b"E-AH-2" not in view and b'"eligible"' not in view
    assert v.unopened > 0


def test_a_hidden_nested_value_changes_nothing_the_venue_receives_but_digests() -> None:
    # Non-interference at depth: the hidden Hefei member differs between two runs; once
    # the digests (of hidden members) are set aside, Shanghai's view is the same bytes.
    views = []
    for expert in ("E-AH-7", "E-AH-8"):
        payload = _drawn(expert)
        entry, _ = _draw_entry(payload, seed=6)
        text = redacted_entry(entry, _operator_view(payload)).decode()
        views.append(re.sub(r'"[0-9a-f]{64}"', '"<digest>"', text))
    assert views[0] == views[1]


def test_a_bid_shown_without_its_provenance_looks_the_same_as_one_without() -> None:
    # access.public_bid drops provenance; a decoy digest stands in where there is none,
    # so the number of digests does not tell a venue which bids carried one.
    shown = {"actor": "operator", "payload": {"bid": {"id": "B1", "price": "100.00"}}}
    sizes = []
    for bid in ({"id": "B1", "price": "100.00"},
                {"id": "B1", "price": "100.00", "provenance": {"author": "张三"}}):
        entry, leaf = seal_event(session_id="s", seq=2, venue=None, actor="operator",
                                 action="bid.added", payload={"bid": bid}, time_ms=1,
                                 salt=_salts(7))
        view = redacted_entry(entry, shown)
        v = open_entry(view)
        assert v.leaf == leaf and v.payload == {"bid": {"id": "B1", "price": "100.00"}}
        (committed,) = [x[2] for x in json.loads(view)["disclosed"] if x[1] == "payload.bid"]
        sizes.append(len(committed["_sd"]))
        assert "张三" not in view.decode()
    assert sizes[0] == sizes[1] == 3


def test_format_3_entries_that_lie_about_their_nesting_are_refused() -> None:
    entry, leaf = _draw_entry(_drawn())
    doc = json.loads(entry)
    # A changed nested value: another leaf (its digest is what the field committed to).
    changed = json.loads(entry)
    for d in changed["nested"]:
        if d[-1] == "E-AH-7":
            d[-1] = "E-AH-9"
    assert leaf_of_entry(json.dumps(changed).encode()) != leaf
    # A disclosure nothing refers to, one listed twice, a plain object where a committed
    # one belongs, a short salt: refused by name.
    extra = {**doc, "nested": [*doc["nested"], ["00" * 16, "x", 1]]}
    with pytest.raises(InvalidInput, match="no field refers to"):
        open_entry(json.dumps(extra).encode())
    twice = {**doc, "nested": [*doc["nested"], doc["nested"][0]]}
    with pytest.raises(InvalidInput, match="twice"):
        open_entry(json.dumps(twice).encode())
    plain = json.loads(entry)
    for d in plain["disclosed"]:
        if d[1] == "payload.result":
            d[2] = {"seed": "x"}
    with pytest.raises(InvalidInput, match="committed object"):
        open_entry(json.dumps(plain).encode())
    short = json.loads(entry)
    short["nested"][0][0] = "0011"
    with pytest.raises(InvalidInput, match="expected >= 16"):
        open_entry(json.dumps(short).encode())
    with pytest.raises(InvalidInput, match="unexpected or missing 'nested'"):
        open_entry(json.dumps({k: v for k, v in doc.items() if k != "nested"}).encode())
