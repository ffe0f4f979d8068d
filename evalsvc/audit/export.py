"""Export one session's audit log from the database as an offline bundle (adapter)."""

from __future__ import annotations

__all__ = ["REPORT_READER", "disclosed_of", "export_bundle"]

import hashlib
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, select

from evalsvc.audit.bundle import Policy, write_bundle
from evalsvc.audit.log import (
    consistency_proof_from_store,
    inclusion_proof_from_store,
    list_checkpoints,
)
from evalsvc.audit.note import TlogProof, format_tlog_proof
from evalsvc.audit.rederive import (
    Disclosed,
    LoggedEvent,
    logged_handovers_only,
    parse_entries,
    write_disclosed,
)
from evalsvc.audit.tables import audit_leaf, audit_node
from evalsvc.auth import Principal
from evalsvc.errors import NotFound
from evalsvc.experts.store import session_bundle
from evalsvc.pki.tables import SignerCertificateRow, SigningCrlRow
from evalsvc.report.artifacts import report_artifacts, report_pdf
from evalsvc.sessions.model import State, session_to_doc
from evalsvc.sessions.store import load_session

_CERTS = SignerCertificateRow.__table__  # type: ignore[attr-defined]
_CRLS = SigningCrlRow.__table__  # type: ignore[attr-defined]
# The export reads the report as a supervisor does (who is served every signature).
REPORT_READER = Principal(role="supervisor", subject="audit-export", name="审计导出")


def _entries(conn: Connection, session_id: str, size: int) -> Iterator[tuple[bytes | None, bytes]]:
    # Walk the logged leaf hashes (level-0 nodes) and join each leaf's data by index:
    # the bundle then shows an edited or missing row instead of hiding it.
    leaf, node = audit_leaf.c, audit_node.c
    data_rows = conn.execute(
        select(leaf.idx, leaf.data)
        .where(leaf.session_id == session_id, leaf.idx < size)
        .order_by(leaf.idx)
    )
    hash_rows = conn.execute(
        select(node.idx, node.hash)
        .where(node.session_id == session_id, node.level == 0, node.idx < size)
        .order_by(node.idx)
    )
    pending = next(data_rows, None)
    for h in hash_rows:
        while pending is not None and pending.idx < h.idx:
            pending = next(data_rows, None)
        if pending is not None and pending.idx == h.idx:
            yield bytes(pending.data), bytes(h.hash)
            pending = next(data_rows, None)
        else:
            yield None, bytes(h.hash)


def export_bundle(
    conn: Connection,
    session_id: str,
    out_dir: Path,
    *,
    policy: Policy | None = None,
    entry_proofs: bool = False,
    candidates: int = 3,
) -> dict[str, object]:
    """Write the bundle of ``session_id`` to ``out_dir``; return its ``bundle.json``.

    Entries up to the latest checkpoint, every checkpoint with its cosignatures, the
    consistency proofs between successive checkpoints and, with ``entry_proofs``, a
    C2SP tlog-proof per entry. ``policy`` (trusted keys, quorum) is written when given.
    Beside the log, what re-derives the result (:func:`disclosed_of`); ``candidates``
    is the server's ``[report] candidates``, as its report recommends them.
    """
    checkpoints = list_checkpoints(conn, session_id)
    if not checkpoints:
        try:
            if not inspect(conn).has_table("session"):
                raise NotFound(session_id)
            load_session(conn, session_id)
        except NotFound:
            raise NotFound(f"未知的评标会话 {session_id} / unknown session {session_id}: "
                           "no such session in this database") from None
        raise NotFound(f"评标会话 {session_id} 尚无签名检查点 / session {session_id} has no "
                       "signed checkpoint to export yet")
    latest = checkpoints[-1]
    consistency: dict[tuple[int, int], list[bytes]] = {}
    for a, b in itertools.pairwise(checkpoints):
        try:
            consistency[(a.size, b.size)] = consistency_proof_from_store(
                conn, session_id, a.size, b.size
            )
        except NotFound:
            continue  # a damaged store: the verifier reports the missing proof
    proofs: dict[int, str] = {}
    if entry_proofs:
        note = latest.cosigned()
        for index in range(latest.size):
            path = inclusion_proof_from_store(conn, session_id, index, latest.size)
            proofs[index] = format_tlog_proof(TlogProof(index, tuple(path), note))
    meta = write_bundle(
        out_dir,
        session_id=session_id,
        policy=policy,
        entries=_entries(conn, session_id, latest.size),
        checkpoints=[(cp.size, cp.cosigned()) for cp in checkpoints],
        consistency=consistency,
        proofs=proofs,
    )
    # What re-derives the result, beside the log: taken from the entries just written,
    # so the disclosed files describe exactly the exported prefix of the log.
    entries = (out_dir / "entries").read_bytes().split(b"\n")[:-1]
    disclosed = disclosed_of(conn, session_id, parse_entries(entries), candidates=candidates)
    meta["disclosed"] = write_disclosed(out_dir, disclosed)
    meta["state"] = (disclosed.session or {}).get("state")
    (out_dir / "bundle.json").unlink()
    _rewrite_meta(out_dir, meta)
    return meta


def _rewrite_meta(out_dir: Path, meta: dict[str, object]) -> None:
    import json

    from evalsvc.files import write_private

    write_private(out_dir / "bundle.json", (json.dumps(meta, indent=1) + "\n").encode())


def disclosed_of(
    conn: Connection,
    session_id: str,
    events: Sequence[LoggedEvent],
    *,
    candidates: int = 3,
) -> Disclosed:
    """What a bundle discloses beside the log (docs/audit.md "Re-deriving the result"):
    the session document, the opened sheets, each drawn ceremony's draw bundle, the
    report once it is started — its JSON and the PDF a supervisor is served — the
    signers' certificate chains and the CRLs each signature was checked with."""
    if not inspect(conn).has_table("session"):
        return Disclosed()  # a database of audit logs alone: the log only
    try:
        s, _ = load_session(conn, session_id)
    except NotFound:
        return Disclosed()  # a log without a session (foreign logs): the log only
    sheets: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any, Any]] = set()
    for e in events:
        if e.action == "sheets.opened":
            stage = e.payload.get("stage")
            # A re-review opens the stage's sheets again: each version once.
            for o in e.payload.get("sheets", []):
                key = (stage, o.get("seat"), o.get("version"))
                if key not in seen:
                    seen.add(key)
                    sheets.append({"stage": stage, **o})
    draws = {
        int(e.payload["ceremony"]): session_bundle(
            conn, session_id, ceremony=int(e.payload["ceremony"])
        )
        for e in events
        if e.action == "draw.drawn"
    }
    report: dict[str, Any] | None = None
    pdf: bytes | None = None
    state = s.paused.from_state if s.paused else s.state
    if state in (State.REPORTING, State.SEALED):
        # The report and its PDF exactly as a supervisor is served them (GET …/report.pdf).
        a = report_artifacts(conn, session_id, REPORT_READER, candidates=candidates)
        report = {"report": json.loads(a.report_json),
                  "sha256": hashlib.sha256(a.report_json).hexdigest()}
        pdf = report_pdf(a)
    records = [e.payload.get("signature") for e in events if e.action == "report.signed"]
    records += [o.get("signature") for o in sheets]
    wanted = {str(r["certificate_sha256"]) for r in records
              if isinstance(r, dict) and r.get("certificate_sha256")}
    crl_wanted = {str(x) for r in records if isinstance(r, dict)
                  and isinstance(r.get("crls"), list) for x in r["crls"]}
    certs: dict[str, str] = {}
    if wanted:
        rows = conn.execute(
            select(_CERTS.c.sha256, _CERTS.c.pem).where(_CERTS.c.sha256.in_(sorted(wanted)))
        )
        certs = {str(r[0]): str(r[1]) for r in rows}
    crls: dict[str, bytes] = {}
    if crl_wanted:
        rows = conn.execute(
            select(_CRLS.c.sha256, _CRLS.c.der).where(_CRLS.c.sha256.in_(sorted(crl_wanted)))
        )
        crls = {str(r[0]): bytes(r[1]) for r in rows}
    return Disclosed(
        session=session_to_doc(logged_handovers_only(events, s)),
        report=report,
        sheets=sheets,
        draws=draws,
        certs=certs,
        crls=crls,
        report_pdf=pdf,
    )
