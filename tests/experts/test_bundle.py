"""Draw bundles: a third party recomputes seed and draw from the bundle alone."""

from __future__ import annotations

import copy
import datetime as _dt
import json
from typing import Any

import pytest

from evalsvc.experts.bundle import Ceremony, ceremony_seed, draw_bundle, verify_bundle
from evalsvc.experts.draw import draw
from evalsvc.experts.pool import Pool
from evalsvc.experts.rules import load_rules
from evalsvc.experts.seed import Commitment, Reveal, commitment_digest
from evalsvc.experts.synth import synthetic_experts

from ._helpers import AS_OF

UTC = _dt.UTC
COMMIT_BY = _dt.datetime(2026, 12, 1, 8, 10, tzinfo=UTC)
REVEAL_BY = _dt.datetime(2026, 12, 1, 8, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    import tomllib

    from evalsvc.config import PROJECT_ROOT

    with open(PROJECT_ROOT / "config" / "draw-rules.example.toml", "rb") as fh:
        config = load_rules(tomllib.load(fh))
    session = config.rules.context.session_id
    secrets = {"shanghai": b"\x11" * 32, "suzhou": b"\x22" * 32, "hefei": b"\x33" * 32,
               "supervisor": b"\x44" * 32}
    at = _dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    commitments = tuple(Commitment(p, commitment_digest(s, party=p, session_id=session), at)
                        for p, s in secrets.items())
    later = COMMIT_BY + _dt.timedelta(minutes=1)
    # The supervisor never reveals: dropped, and the bundle says so.
    reveals = tuple(Reveal(p, s, later) for p, s in secrets.items() if p != "supervisor")
    ceremony = Ceremony(COMMIT_BY, REVEAL_BY, commitments, reveals)
    experts = synthetic_experts(3000, seed=5, as_of=AS_OF)
    seed = ceremony_seed(session, ceremony).seed
    result = draw(Pool.from_experts(experts), config.rules, config.seats, seed)
    # Through JSON, as a file would be.
    doc: dict[str, Any] = json.loads(json.dumps(
        draw_bundle(experts, config.document, result, ceremony=ceremony), ensure_ascii=False))
    return doc


def test_a_bundle_verifies_from_itself(bundle: dict[str, Any]) -> None:
    check = verify_bundle(bundle)
    assert check.ok, check.lines
    assert any("dropped: supervisor (no_reveal)" in line for line in check.lines)
    assert all("name" not in v and "resident_id" not in v for v in bundle["pool"])


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (lambda b: b["result"]["seats"][1]["member"].update(expert="ESH000001"),
         "seat 1: recorded member ESH000001"),
        (lambda b: b["pool"][5].update(status="suspended"), "pool digest"),
        (lambda b: b["rules"]["recusal"].update(penalty_years=1), "rules digest"),
        (lambda b: b["ceremony"]["reveals"][0].update(secret="55" * 32), "seed recomputed"),
        (lambda b: b.update(seed="00" * 32), "seed recomputed"),
        (lambda b: b["result"].update(algorithm="other"), "algorithm"),
    ],
)
def test_a_tampered_bundle_fails_and_says_where(bundle: dict[str, Any], tamper: Any,
                                                words: str) -> None:
    doc = copy.deepcopy(bundle)
    tamper(doc)
    check = verify_bundle(doc)
    assert not check.ok
    assert words in check.lines[-1]


def test_consistent_tampering_of_pool_and_digest_is_caught_by_the_draw(
    bundle: dict[str, Any],
) -> None:
    from evalsvc.experts.bundle import pool_digest

    doc = copy.deepcopy(bundle)
    member = doc["result"]["seats"][0]["member"]["expert"]
    for v in doc["pool"]:
        if v["id"] == member:
            v["status"] = "suspended"
    doc["pool_sha256"] = pool_digest(doc["pool"])
    check = verify_bundle(doc)
    assert not check.ok and "seat 0" in check.lines[-1]
