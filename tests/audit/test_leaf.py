"""The format-2 audit leaf (docs/audit.md "Leaves"): salted per-field digests, so that a
venue's redacted view of an entry still recomputes the leaf the log committed to."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from evalsvc.audit.leaf import field_digest, leaf_of_entry, open_entry, redacted_entry, seal_event
from evalsvc.audit.merkle import leaf_hash
from evalsvc.errors import InvalidInput


def _salts(seed: int) -> Callable[[], bytes]:
    rng = random.Random(seed)  # tests only: the server's salts are CSPRNG output
    return lambda: rng.randbytes(16)


def _seal(
    payload: dict[str, object], seed: int = 1, actor: str = "expert:e-01"
) -> tuple[bytes, bytes]:
    return seal_event(session_id="s-1", seq=7, venue="js-suzhou", actor=actor,
                      action="sheets.opened", payload=payload, time_ms=1_700_000_000_000,
                      salt=_salts(seed))


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
