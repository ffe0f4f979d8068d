"""Draw bundles: everything a third party needs to recompute a draw. Pure: dicts in and out.

A bundle (``format = evalsvc.draw-bundle.v1``) holds the rules document, the pool as
draw views (:func:`~evalsvc.experts.pool.draw_view`: no names, no resident ID numbers),
the seed ceremony (commitments, reveals, deadlines) or a bare seed, and the recorded
result. :func:`verify_bundle` recomputes the seed and the draw from the bundle alone.
The same fields, as session events, let the audit record be verified (``docs/draw.md``).
"""

from __future__ import annotations

__all__ = [
    "BUNDLE_FORMAT",
    "BundleCheck",
    "Ceremony",
    "ceremony_from_json",
    "ceremony_seed",
    "ceremony_to_json",
    "draw_bundle",
    "pool_digest",
    "verify_bundle",
]

import datetime as _dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalsvc.canonical import canonical_bytes, canonical_sha256
from evalsvc.errors import EvalsvcError, InvalidInput, VerificationError
from evalsvc.experts.draw import DrawResult, verify_draw
from evalsvc.experts.pool import Expert, Pool, draw_view, expert_from_view
from evalsvc.experts.rules import load_rules
from evalsvc.experts.seed import Commitment, Reveal, SeedResult, combine_seed

BUNDLE_FORMAT = "evalsvc.draw-bundle.v1"


def pool_digest(views: Sequence[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the canonical JSON array of draw views (ascending id)."""
    return hashlib.sha256(canonical_bytes(list(views))).hexdigest()


@dataclass(frozen=True)
class Ceremony:
    """The commit-reveal record of one draw."""

    commit_deadline: _dt.datetime
    reveal_deadline: _dt.datetime
    commitments: tuple[Commitment, ...]
    reveals: tuple[Reveal, ...]
    minimum: int = 2
    # A session's ceremony (docs/draw.md §6.2): its number, the id its commitments and
    # seed are bound to (``{session}#{number}``) and every party the rules name.
    number: int | None = None
    binding: str | None = None
    parties: tuple[str, ...] | None = None


def ceremony_to_json(c: Ceremony) -> dict[str, Any]:
    """JSON form of a ceremony."""
    return {
        "commit_deadline": c.commit_deadline.isoformat(),
        "reveal_deadline": c.reveal_deadline.isoformat(),
        "minimum": c.minimum,
        "commitments": [x.to_json() for x in c.commitments],
        "reveals": [x.to_json() for x in c.reveals],
        **({"number": c.number, "binding": c.binding, "parties": list(c.parties or ())}
           if c.binding is not None else {}),
    }


def ceremony_from_json(doc: Mapping[str, Any]) -> Ceremony:
    """A ceremony from its JSON form; :class:`InvalidInput` if malformed."""
    try:
        return Ceremony(
            _dt.datetime.fromisoformat(doc["commit_deadline"]),
            _dt.datetime.fromisoformat(doc["reveal_deadline"]),
            tuple(Commitment(c["party"], c["digest"], _dt.datetime.fromisoformat(c["at"]))
                  for c in doc["commitments"]),
            tuple(Reveal(r["party"], bytes.fromhex(r["secret"]),
                         _dt.datetime.fromisoformat(r["at"])) for r in doc["reveals"]),
            int(doc.get("minimum", 2)),
            int(doc["number"]) if doc.get("number") is not None else None,
            str(doc["binding"]) if doc.get("binding") is not None else None,
            tuple(str(p) for p in doc["parties"]) if doc.get("parties") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"bad ceremony record: {exc!r}", field="ceremony") from exc


def ceremony_seed(session_id: str, c: Ceremony) -> SeedResult:
    """The seed result of a recorded ceremony."""
    return combine_seed(c.binding or session_id, c.commitments, c.reveals,
                        commit_deadline=c.commit_deadline, reveal_deadline=c.reveal_deadline,
                        minimum=c.minimum, parties=c.parties)


def draw_bundle(
    experts: Iterable[Expert],
    rules_document: Mapping[str, Any],
    result: DrawResult,
    *,
    ceremony: Ceremony | None = None,
) -> dict[str, Any]:
    """The bundle of a finished draw, for ``evalsvc draw verify --bundle``."""
    views = [draw_view(e) for e in sorted(experts, key=lambda e: e.id)]
    out: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "session": result.session_id,
        "rules": dict(rules_document),
        "rules_sha256": canonical_sha256(rules_document),
        "pool_sha256": pool_digest(views),
        "pool": views,
        "seed": result.seed.hex(),
        "result": result.to_json(),
        "result_sha256": result.digest(),
    }
    if ceremony is not None:
        out["ceremony"] = ceremony_to_json(ceremony)
    return out


@dataclass(frozen=True)
class BundleCheck:
    """The outcome of :func:`verify_bundle`: ``ok`` and one line per check made."""

    ok: bool
    lines: tuple[str, ...]


SUPERVISOR_PARTY = "supervisor"


def _check_parties(c: Ceremony, session: str, rules_doc: Mapping[str, Any]) -> str | None:
    """Why a session ceremony's parties are not what its rules name, or None."""
    if c.binding != f"{session}#{c.number}":
        return f"the ceremony is bound to {c.binding!r}, expected {session}#{c.number}"
    venues = [str(v.get("id")) for v in rules_doc.get("venues", []) if isinstance(v, Mapping)]
    wanted = sorted([*venues, SUPERVISOR_PARTY])
    if sorted(c.parties or ()) != wanted:
        return (f"the ceremony's parties are {sorted(c.parties or ())}; the rules name"
                f" {wanted} (every venue and the supervisor)")
    if c.minimum != len(wanted):
        return f"the ceremony needs {c.minimum} contributions; every party ({len(wanted)}) must"
    return None


def verify_bundle(doc: Mapping[str, Any], *, given_seed: bool = False) -> BundleCheck:
    """Recompute the seed and the draw of a bundle. A bundle without a ceremony fails,
    unless ``given_seed`` (a simulation: the seed is then taken as given, and said so);
    a session's ceremony must have the parties its rules name, each contributing."""
    lines: list[str] = []

    def fail(msg: str) -> BundleCheck:
        lines.append(f"FAIL {msg}")
        return BundleCheck(False, tuple(lines))

    if doc.get("format") != BUNDLE_FORMAT:
        return fail(f"format is {doc.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    session = doc.get("session")
    views = doc.get("pool")
    rules_doc = doc.get("rules")
    recorded = doc.get("result")
    if not isinstance(views, list) or not isinstance(rules_doc, Mapping) or not isinstance(
        recorded, Mapping
    ):
        return fail("bundle lacks pool, rules or result")
    digest = pool_digest(views)
    if doc.get("pool_sha256") != digest:
        return fail(f"pool digest is {digest}, bundle says {doc.get('pool_sha256')}")
    lines.append(f"ok   pool of {len(views)} experts, sha256 {digest}")
    rdigest = canonical_sha256(rules_doc)
    if doc.get("rules_sha256") != rdigest:
        return fail(f"rules digest is {rdigest}, bundle says {doc.get('rules_sha256')}")
    lines.append(f"ok   rules sha256 {rdigest}")
    try:
        config = load_rules(rules_doc)
        if config.rules.context.session_id != session or recorded.get("session") != session:
            return fail(f"session ids differ: bundle {session!r}, rules"
                        f" {config.rules.context.session_id!r}, result {recorded.get('session')!r}")
        seed_hex = str(doc.get("seed", ""))
        if "ceremony" in doc:
            cer = ceremony_from_json(doc["ceremony"])
            if cer.binding is not None:
                wrong = _check_parties(cer, str(session), rules_doc)
                if wrong:
                    return fail(wrong)
                lines.append(f"ok   ceremony {cer.number}: parties {', '.join(cer.parties or ())}"
                             " as the rules name them, every one required")
            else:
                lines.append("note the ceremony names no parties (a simulation's record):"
                             " who had to take part is not checked")
            sr = ceremony_seed(str(session), cer)
            if sr.seed.hex() != seed_hex:
                return fail(f"seed recomputed from the reveals is {sr.seed.hex()},"
                            f" bundle says {seed_hex}")
            dropped = ", ".join(f"{d.party} ({d.reason})" for d in sr.dropped) or "none"
            lines.append(f"ok   seed from reveals of {', '.join(sr.contributors)};"
                         f" dropped: {dropped}")
        elif given_seed:
            lines.append("note SIMULATION: no ceremony in the bundle, the seed is taken as"
                         " given (--given-seed); this proves the draw, not the seed")
        else:
            return fail("no ceremony in the bundle: nothing shows where the seed came from"
                        " (a simulation may pass --given-seed)")
        if recorded.get("seed") != seed_hex:
            return fail("the result's seed is not the bundle's seed")
        pool = Pool.from_experts(expert_from_view(v) for v in views)
        again = verify_draw(recorded, pool, config.rules, config.seats)
    except VerificationError as exc:
        return fail(exc.message)
    except EvalsvcError as exc:
        return fail(f"cannot recompute: {exc.message}")
    lines.append(f"ok   draw recomputed: {len(again.seats)} seats, result sha256 {again.digest()}")
    return BundleCheck(True, tuple(lines))
