"""The witness side of C2SP tlog-witness ``add-checkpoint``, as a pure function.

A secondary venue runs this (over HTTP or over its venue link, with the same bodies):
it keeps, per log origin, the latest checkpoint it cosigned, and cosigns a new one only
if it is signed by the log and provably extends that one (RFC 6962 consistency).
Pure: the caller loads the stored :class:`Cosigned` state, calls :func:`add_checkpoint`,
and — atomically, comparing the stored size it loaded (C2SP tlog-witness: check and
persist in one step) — stores ``response.new_state`` before sending the response.
"""

from __future__ import annotations

__all__ = [
    "MAX_PROOF_LINES",
    "Cosigned",
    "WitnessResponse",
    "add_checkpoint",
    "format_add_checkpoint",
    "parse_add_checkpoint",
]

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evalsvc.audit.merkle import verify_consistency
from evalsvc.audit.note import cosign_checkpoint, open_note, parse_checkpoint, split_note
from evalsvc.errors import EvalsvcError, VerificationError

MAX_PROOF_LINES = 63  # C2SP tlog-witness: "MUST NOT send more than 63"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Cosigned:
    """The latest checkpoint a witness cosigned for one origin."""

    size: int
    root: bytes
    note: str  # the checkpoint as submitted (log-signed note), kept as evidence


@dataclass(frozen=True)
class WitnessResponse:
    """What to answer: HTTP status, body and content type; state to persist on 200.

    ``reason`` says which check failed; ``evidence`` holds both signed checkpoints when
    the log contradicted itself (a fork, or a checkpoint inconsistent with the stored one).
    """

    status: int
    body: str
    reason: str = ""
    content_type: str = "text/plain; charset=utf-8"
    new_state: Cosigned | None = None
    evidence: tuple[str, ...] = ()


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint: str) -> str:
    """The ``add-checkpoint`` request body (C2SP tlog-witness)."""
    lines = [f"old {old_size}"] + [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + checkpoint


def parse_add_checkpoint(body: str) -> tuple[int, list[bytes], str]:
    """Split a request body into old size, consistency proof and checkpoint note."""
    head, sep, checkpoint = body.partition("\n\n")
    if not sep:
        raise VerificationError("no empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(lines[0][4:]):
        raise VerificationError("first line must be 'old <decimal size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise VerificationError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for i, line in enumerate(lines[1:]):
        try:
            proof.append(base64.b64decode(line.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise VerificationError(f"consistency proof line {i + 1} is not base64") from exc
    return int(lines[0][4:]), proof, checkpoint


def _bad(status: int, reason: str, evidence: tuple[str, ...] = ()) -> WitnessResponse:
    return WitnessResponse(status, reason + "\n", reason, evidence=evidence)


def add_checkpoint(
    body: str,
    *,
    logs: Mapping[str, Sequence[str]],
    latest: Cosigned | None,
    skey: str,
    timestamp: int,
) -> WitnessResponse:
    """Handle one ``add-checkpoint`` request (C2SP tlog-witness).

    ``logs`` maps each known origin to the log's verifier keys; ``latest`` is the
    stored state for the request's origin (``None`` if never cosigned); ``skey`` is
    the witness's signer key and ``timestamp`` the cosignature time (POSIX seconds).
    """
    try:
        old_size, proof, note = parse_add_checkpoint(body)
        cp = parse_checkpoint(split_note(note)[0])
    except VerificationError as exc:
        return _bad(400, f"malformed request: {exc.message}")
    if cp.origin not in logs:
        return _bad(404, f"unknown log origin {cp.origin!r}")
    try:
        open_note(note, list(logs[cp.origin]))
    except EvalsvcError as exc:
        return _bad(403, f"checkpoint not signed by the log: {exc.message}")
    if old_size > cp.size:
        return _bad(400, f"old size {old_size} is larger than the checkpoint size {cp.size}")
    current = latest.size if latest else 0
    if old_size != current:
        return WitnessResponse(
            409,
            f"{current}\n",
            f"old size {old_size} is not the latest cosigned size {current}",
            content_type="text/x.tlog.size",
        )
    if latest is not None and cp.size == latest.size and cp.root != latest.root:
        return _bad(
            409,
            f"fork: a checkpoint of size {cp.size} with another root than the one cosigned",
            evidence=(latest.note, note),
        )
    if old_size == 0 and proof:
        return _bad(422, "consistency proof must be empty from size 0")
    if latest is not None and old_size > 0:
        try:
            verify_consistency(
                old_size=old_size,
                new_size=cp.size,
                old_root=latest.root,
                new_root=cp.root,
                proof=proof,
            )
        except VerificationError as exc:
            return _bad(
                422,
                f"checkpoint of size {cp.size} is not consistent with the cosigned one of "
                f"size {latest.size}: {exc.message}",
                evidence=(latest.note, note),
            )
    line = cosign_checkpoint(note, skey, timestamp=timestamp)
    return WitnessResponse(200, line, "cosigned", new_state=Cosigned(cp.size, cp.root, note))
