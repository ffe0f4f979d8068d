"""The final evaluation report (评标报告) as one canonical document. Pure: no I/O.

The committee signs this document, not a rendering of it: every expert's signature
covers the RFC 8785 canonical bytes of :func:`report_document`, and each
``report.signed`` event names the SHA-256 of those bytes (docs/scoring.md "The report").

Everything in it is derived from the session and its locked scoring sheets — both fixed
once the report starts — except the dissents, which may still be recorded while the
report is open. A dissent therefore changes the report, and the machine clears the
signatures already given (``report.signatures_cleared``): nobody's signature ever
stands under a report they have not seen.
"""

from __future__ import annotations

__all__ = ["REPORT_TYPE", "report_document", "report_sha256"]

import hashlib
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.sessions.model import Session
from evalsvc.sessions.scoring import Aggregation, aggregation_to_doc

REPORT_TYPE = "evalsvc-report/v1"


def report_document(s: Session, aggregation: Aggregation) -> dict[str, Any]:
    """The report of ``s`` with the committee's result ``aggregation``.

    Experts appear by seat and venue only; who sat in a seat is in the signatures and in
    the draw record, under the identity rules of each reader. After a re-review the
    report says which seats re-reviewed which stage and why (the superseded result
    stays in the event log).
    """
    doc: dict[str, Any] = {
        "type": REPORT_TYPE,
        "session": s.id,
        "title": s.title,
        "tenderer": s.tenderer,
        "method": s.method.value,
        "venues": [{"id": v.id, "name": v.name, "primary": v.primary} for v in s.venues],
        "committee": [{"seat": x.index, "venue_id": x.venue_id} for x in s.seats],
        "bids": [{"id": b.id, "bidder": b.bidder, "price_fen": b.price_fen} for b in s.bids],
        "qualified": list(s.qualified) if s.qualified is not None else None,
        "result": aggregation_to_doc(aggregation),
        "explanations": [
            {"seat": seat, "bid_id": bid, "text": text} for seat, bid, text in s.explanations
        ],
        "dissents": [{"seat": seat, "text": text} for seat, text in s.dissents],
    }
    if s.rereviews:
        doc["rereviews"] = [
            {"round": i + 1, "stage": r.stage.value, "seats": list(r.seats),
             "reason": r.reason, "decision": r.decision}
            for i, r in enumerate(s.rereviews)
        ]
    return doc


def report_sha256(doc: dict[str, Any]) -> str:
    """SHA-256 (hex) of the report's canonical bytes: what a signature covers."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()
