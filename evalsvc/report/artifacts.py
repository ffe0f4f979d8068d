"""A session's report as one reader may see it, read from the database in one
transaction, and its PDF (adapter: the report service serves these; a sealed audit
bundle holds the same PDF, ``evalsvc/audit/export.py``)."""

from __future__ import annotations

__all__ = ["ReportArtifacts", "report_artifacts", "report_pdf"]

import base64
import datetime as _dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evalsvc.audit.log import StoredCheckpoint, list_checkpoints, read_leaves, tlog_proof_from_store
from evalsvc.auth import Principal
from evalsvc.canonical import canonical_bytes
from evalsvc.pki.tables import SignerCertificateRow
from evalsvc.report.access import require_report_reader
from evalsvc.report.document import report_document, report_sha256
from evalsvc.report.pdf import pdf_report
from evalsvc.report.render import CheckpointRef, Member, ReportView
from evalsvc.sessions import store
from evalsvc.sessions.model import Stage, State
from evalsvc.sessions.scoring import aggregate

_REGIONS = {"SH": "上海", "JS": "江苏", "ZJ": "浙江", "AH": "安徽"}
_EVENT_TYPES = ("report.signed",)
_CERTS = SignerCertificateRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReportArtifacts:
    """What a rendering needs: the view and the two attachments."""

    view: ReportView
    report_json: bytes
    signatures_json: bytes
    created: _dt.datetime


def report_pdf(a: ReportArtifacts) -> bytes:
    """The PDF of ``a``, with the canonical JSON and the signatures attached (the bytes
    ``GET …/report.pdf`` serves, and a sealed bundle holds)."""
    return pdf_report(a.view, report_json=a.report_json, signatures_json=a.signatures_json,
                      created=a.created)


def report_artifacts(
    conn: Connection,
    session_id: str,
    p: Principal,
    *,
    candidates: int,
    docs: Any = None,
) -> ReportArtifacts:
    """The report of ``session_id`` as ``p`` may read it, read in one transaction."""
    s, last = store.load_session(conn, session_id, docs=docs)
    require_report_reader(s, p)
    sheets = store.latest_sheets(conn, s.id, Stage.SCORING.value)
    events = [
        e
        for e in store.list_events(conn, s.id, after=0, limit=max(last, 1))
        if e.type in _EVENT_TYPES
    ]
    checkpoints = list_checkpoints(conn, s.id)
    doc = report_document(s, aggregate(s, list(sheets)), candidates=candidates)
    digest = report_sha256(doc)
    sealed = s.state is State.SEALED
    own = s.seat_of(p.subject) if p.role == "expert" else None
    sees_all = sealed or p.role == "supervisor"

    signed: dict[int, store.StoredEvent] = {}
    for e in events:
        if e.type == "report.signed" and e.payload.get("report_sha256") == digest:
            signed[int(e.payload["seat"])] = e  # the latest one per seat
    entries: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    members: list[Member] = []
    venues = {v.id: v.name for v in s.venues}
    for seat in s.seats:
        ev = signed.get(seat.index) if seat.index in s.signed else None
        visible = sees_all or (own is not None and own.index == seat.index)
        record = ev.payload.get("signature") if ev is not None else None
        how = "已签署"
        if ev is not None and visible:
            if isinstance(record, dict):
                region = _REGIONS.get(str(record.get("region")), str(record.get("region")))
                how = f"数字证书签名（{str(record.get('algorithm', '')).upper()}，{region}）"
                entries.append(_entry(conn, seat.index, digest, ev, record))
            else:
                how = "已签署（口令登录，无证书签名）"
                without.append({"seat": seat.index, "audit_seq": ev.seq})
        members.append(
            Member(
                seat=seat.index,
                venue=venues.get(seat.venue_id, seat.venue_id),
                name=seat.expert_name if sealed else None,
                signed=ev is not None,
                signature=how,
            )
        )
    last_signed = max((e.seq for e in signed.values()), default=None)
    covering = [cp for cp in checkpoints if last_signed and cp.size >= last_signed]
    checkpoint = _checkpoint_ref(covering[0]) if covering else None
    if covering and sees_all:
        # Each signing event's leaf with its C2SP tlog-proof against that checkpoint:
        # the verifier checks the signatures are in the audit log the page names.
        # (Not in an expert's draft: the proof's hashes are the supervisors' until
        # the seal, as the audit routes are.)
        size = covering[0].size
        for x in (*entries, *without):
            # The logged entry (audit/leaf.py: every field disclosed, with its salt).
            leaf = next(iter(read_leaves(conn, s.id, x["audit_seq"] - 1, x["audit_seq"])))[1]
            proof = tlog_proof_from_store(conn, s.id, x["audit_seq"] - 1, size=size)
            x["audit"] = {"leaf": base64.b64encode(leaf).decode("ascii"), "tlog_proof": proof}
    times = [e.time_ms for e in signed.values()] or [s.created_at * 1000]
    created = _dt.datetime.fromtimestamp(max(times) / 1000, _dt.UTC)
    signatures = {"report_sha256": digest, "signatures": entries,
                  "without_certificate": without}
    view = ReportView(doc, digest, sealed, tuple(members), checkpoint)
    return ReportArtifacts(view, canonical_bytes(doc), canonical_bytes(signatures), created)


def _entry(
    conn: Connection, seat: int, digest: str, ev: store.StoredEvent, record: dict[str, Any]
) -> dict[str, Any]:
    # The chain kept when the signature was accepted (content-addressed, evalsvc.pki).
    row = conn.execute(
        sa.select(_CERTS.c.pem).where(_CERTS.c.sha256 == str(record.get("certificate_sha256")))
    ).fetchone()
    return {
        "seat": seat,
        "report_sha256": digest,
        "signed_at_ms": ev.time_ms,
        "audit_seq": ev.seq,
        "signature": record,
        "certificate": None if row is None else str(row[0]),
    }


def _checkpoint_ref(cp: StoredCheckpoint) -> CheckpointRef:
    origin = cp.note.split("\n", 1)[0]
    return CheckpointRef(origin, cp.size, base64.b64encode(cp.root).decode("ascii"))
