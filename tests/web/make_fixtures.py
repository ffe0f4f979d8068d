"""Write tests/web/fixtures/audit.json: a small signed log made by evalsvc's own audit code
(and a draw commitment).

The JavaScript verifier (evalsvc/web/verify.js) is tested against these bytes, so the
browser and the Python side agree on RFC 6962 hashing, C2SP signed notes, cosignatures
and tlog-proofs. Deterministic (fixed key seeds): ``tests/web/test_js_units.py`` checks
that running this script again gives the committed file. Run:
``.venv/bin/python tests/web/make_fixtures.py``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from evalsvc.audit.leaf import redacted_entry, seal_event
from evalsvc.audit.merkle import inclusion_proof, leaf_hash, root_hash
from evalsvc.audit.note import (
    Checkpoint,
    TlogProof,
    cosign_checkpoint,
    cosignature_vkey,
    format_tlog_proof,
    generate_key,
    sign_checkpoint,
)
from evalsvc.experts.seed import commitment_digest

OUT = Path(__file__).parent / "fixtures" / "audit.json"
ORIGIN = "evalsvc.test/s-fixture"


def build() -> dict[str, object]:
    """The fixture document."""
    skey, vkey = generate_key(ORIGIN, seed=bytes(range(32)))
    wskey, wvkey = generate_key("venue.suzhou.test", seed=bytes(range(32, 64)))
    entries = [f'{{"seq":{i + 1},"action":"demo.{i}"}}'.encode() for i in range(7)]
    hashes = [leaf_hash(e) for e in entries]
    cp = sign_checkpoint(Checkpoint(ORIGIN, len(entries), root_hash(hashes)), skey)
    cp += cosign_checkpoint(cp, wskey, timestamp=1_796_553_300)
    proofs = [
        format_tlog_proof(TlogProof(i, tuple(inclusion_proof(i, hashes)), cp))
        for i in range(len(entries))
    ]
    return {
        "origin": ORIGIN,
        "log_vkey": vkey,
        "witness_vkey": cosignature_vkey(wvkey),
        "checkpoint": cp,
        "entries": [base64.b64encode(e).decode() for e in entries],
        "proofs": proofs,
        # Format-2 entries (audit/leaf.py) and a venue's view of them: the browser must
        # recompute the same leaves.
        "format2": _format2(),
        # A draw commitment (experts/seed.py) the browser must compute the same way.
        "draw": {
            "secret": bytes(range(100, 132)).hex(),
            "party": "js-suzhou",
            "binding": "s-fixture#1",
            "digest": commitment_digest(
                bytes(range(100, 132)), party="js-suzhou", session_id="s-fixture#1"
            ),
        },
    }


def _format2() -> list[dict[str, str]]:
    salts = iter(bytes([n]) * 16 for n in range(1, 200))
    out = []
    for payload, shown in (
        ({"stage": "scoring", "sheets": [{"seat": 0, "sheet": {"B1": "8.50"}}]},
         {"actor": "expert", "payload": {"stage": "scoring", "masked": True}}),
        ({"名称": "评标报告 \u2028 \"引号\"", "n": -(2**53 - 1), "x": None, "ok": False,
          "deep": {"z": [1, {"b": 2, "a": [None, True]}], "é": "\U0001f600"}},
         {"actor": "operator:张", "payload": {"n": -(2**53 - 1), "x": None}}),
        # Format 3 (nested disclosure): the venue is shown the seats' venues, not who sits.
        ({"result": {"seats": [{"venue": "js-suzhou", "member": {"expert": "E-1", "n": 2}},
                               {"venue": "ah-hefei", "member": {"expert": "E-2", "n": 3}}]}},
         {"actor": "operator", "payload": {"result": {"seats": [
             {"venue": "js-suzhou", "member": {"expert": None}},
             {"venue": "ah-hefei", "member": {"expert": None}}]}}}),
    ):
        action = "draw.drawn" if "result" in payload else "demo.v2"
        entry, leaf = seal_event(session_id="s-fixture", seq=len(out) + 1, venue=None,
                                 actor="operator:张", action=action, payload=payload,
                                 time_ms=1_796_553_300_000, salt=lambda: next(salts))
        out.append({"entry": base64.b64encode(entry).decode(),
                    "view": base64.b64encode(redacted_entry(entry, shown)).decode(),
                    "leaf": base64.b64encode(leaf).decode()})
    return out


def render() -> str:
    """The file's text."""
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
