"""The canonical evaluation report (评标报告), as 评标委员会和评标方法暂行规定 Art. 42 lists
it. Pure: no I/O.

The committee signs this document: every member's signature covers the RFC 8785 canonical
bytes of :func:`report_document`, and each ``report.signed`` event names their SHA-256
(docs/report.md). Everything in it is derived from the session document and the locked
scoring sheets, both fixed once the report starts — except the dissents (and, when the
machine records them, deemed agreements), which change the report and clear the
signatures already given (``report.signatures_cleared``).

Members appear by seat and venue only: the report is signed before the seal, and names
are disclosed with the seal (DESIGN.md "the disclosure schedule"); the renderings add them
then, from the session, beside the signed document.

Sections whose data the session does not carry yet — clarifications, deemed agreements,
pledges, the leader, per-criterion rejection reasons — are each read from the session
document by one small function below (``*_of``), so that they fill in when the machine
records them; until then they are empty and render as "无".
"""

from __future__ import annotations

__all__ = [
    "FAULTS_HEADING",
    "INCIDENTS_HEADING",
    "METHOD_NAMES",
    "REPORT_TYPE",
    "SECTIONS",
    "clarifications_of",
    "deemed_agreements_of",
    "faults_of",
    "incidents_of",
    "leader_of",
    "pledges_of",
    "rejection_reasons_of",
    "rejection_stages_of",
    "report_document",
    "report_sha256",
]

import hashlib
from collections.abc import Mapping
from typing import Any

from evalsvc.canonical import canonical_bytes
from evalsvc.sessions.model import Method, Session, criterion_to_doc, session_to_doc
from evalsvc.sessions.scoring import Aggregation, aggregation_to_doc

REPORT_TYPE = "evalsvc-report/v2"

METHOD_NAMES = {
    Method.WEIGHTED_SCORING.value: "综合评估法",
    Method.LOWEST_EVALUATED_PRICE.value: "经评审的最低投标价法",
}

# The sections in the order Art. 42 lists them: (key in the document, heading).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("basic", "一、基本情况和数据"),
    ("committee", "二、评标委员会成员名单"),
    ("opening", "三、开标记录"),
    ("compliant", "四、符合要求的投标一览表"),
    ("rejected", "五、废标情况说明"),
    ("method", "六、评标标准、评标方法或者评标因素一览表"),
    ("comparison", "七、经评审的价格或者评分比较一览表"),
    ("ranking", "八、经评审的投标人排序"),
    ("candidates", "九、推荐的中标候选人名单"),
    ("clarifications", "十、澄清、说明、补正事项纪要"),
    ("dissents", "十一、不同意见和视为同意"),
)
# Not in Art. 42's list, after it: the site supervision record (现场监督记录) the
# supervisors kept at each venue, so the signed report carries what happened in the
# rooms. The document has the key ``incidents`` only when one was recorded.
INCIDENTS_HEADING = "十二、现场监督记录"
# After it, what the venue-link rules did (docs/scoring.md "Faults by rule"): each link
# lost and restored, pause, resume, materials sealing, committee re-form and suspension.
# The document has the key ``faults`` only when one happened.
FAULTS_HEADING = "十三、异常情况及处理"

MAX_CANDIDATES = 3  # 评标委员会推荐的中标候选人应当限定在一至三人 (Art. 45)


def _list(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [dict(x) for x in value if isinstance(x, Mapping)] if isinstance(value, list) else []


def clarifications_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Clarifications (澄清、说明、补正) the session document records: each the question to
    a bidder, its answer and the attachment's hash. None recorded yet: empty."""
    return _list(doc, "clarifications")


def incidents_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Incidents recorded by the supervisors (现场监督记录): venue, category, what
    happened and when (unix seconds) — not who recorded them (the audit log has it)."""
    return [{"id": x.get("id"), "venue_id": x.get("venue_id"), "category": x.get("category"),
             "text": x.get("text"), "occurred_at": x.get("occurred_at")}
            for x in _list(doc, "incidents")]


def faults_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The venue-link fault steps the report lists: those recorded before the report
    started (``report_faults``; the signed report is fixed — a later re-form writes it
    again), each with when (unix seconds), the venue, the rule and its minutes; a
    re-form also with the seats replaced, where they went and, per seat, the draw that
    seated its new member (``draw:<n>``: the replacement ceremony, verifiable in the
    audit bundle) — by seat, never by name."""
    steps = _list(doc, "fault_log")
    upto = doc.get("report_faults")
    if isinstance(upto, int) and not isinstance(upto, bool):
        steps = steps[:upto]
    sources = {int(x["index"]): x.get("source") for x in doc.get("seats") or []}
    out = []
    for x in steps:
        item = {k: x.get(k) for k in ("kind", "at", "venue_id", "rule", "minutes")}
        if x.get("kind") == "reformed":
            item["to"] = x.get("to")
            item["seats"] = [{"seat": int(i), "source": sources.get(int(i))}
                             for i in x.get("seats") or []]
        out.append(item)
    return out


def deemed_agreements_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Members deemed to agree (视为同意, Art. 43): the seats a supervisor confirmed
    (``deemed``) with the committee's written note on each (``refusals``)."""
    notes = {int(a): str(b) for a, b in doc.get("refusals") or []}
    return [{"seat": int(x), "note": notes.get(int(x), "")} for x in doc.get("deemed") or []]


def pledges_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per seat, the SHA-256 of the pledge (承诺书) its member accepted and whether the
    member declared, bid by bidder, no conflict (回避声明). Seats by number only."""
    return [
        {"seat": int(x["index"]), "pledge_sha256": x.get("pledged"),
         "declared": bool(x.get("declared", False))}
        for x in doc.get("seats") or []
        if x.get("pledged") is not None or x.get("declared")
    ]


def recusals_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Recusals (回避) declared at check-in: the seat and the bids in conflict — not who
    (the member's identity follows the disclosure schedule, the report is signed
    before the seal); the alternate then holds the seat."""
    return [{"seat": int(a), "bids": [str(x) for x in c]} for a, _b, c in doc.get("recusals") or []]


def leader_of(doc: Mapping[str, Any]) -> int | None:
    """The seat of the committee's leader (评标委员会负责人), once elected."""
    leader = doc.get("leader")
    if isinstance(leader, Mapping):
        leader = leader.get("seat")
    return leader if isinstance(leader, int) and not isinstance(leader, bool) else None


_STAGE_NAMES = {"qualification": "资格审查", "compliance": "符合性审查"}


def rejection_reasons_of(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """Why each rejected bid failed, by bid id, as the session records it: per failed
    item of the qualification (资格审查) or compliance (符合性审查) review, the stage, the
    criterion and each member's reason (``资格审查 · 资质：营业执照已过期``). None
    recorded: empty."""
    raw = doc.get("rejection_reasons")
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        out = {str(k): [str(x) for x in v] for k, v in raw.items() if isinstance(v, list)}
    names = {str(c.get("id")): str(c.get("name")) for c in _list(doc, "criteria")}
    for r in _list(doc, "rejections"):
        stage = _STAGE_NAMES.get(str(r.get("stage")), str(r.get("stage")))
        out.setdefault(str(r.get("bid_id")), []).extend(
            f"{stage} · {names.get(str(c), str(c))}：{why or '（未填写理由）'}"
            for c, why in r.get("reasons") or [])
    return out


def rejection_stages_of(doc: Mapping[str, Any]) -> dict[str, str]:
    """The stage at which each rejected bid was failed (``qualification``/``compliance``)."""
    return {str(r.get("bid_id")): str(r.get("stage")) for r in _list(doc, "rejections")}


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def report_document(
    s: Session, aggregation: Aggregation, *, candidates: int = MAX_CANDIDATES
) -> dict[str, Any]:
    """The report of ``s`` with the committee's result ``aggregation``, recommending the
    first ``candidates`` (1–3) of the ranking."""
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise ValueError(f"candidates must be 1 to {MAX_CANDIDATES}, got {candidates}")
    doc = session_to_doc(s)
    result = aggregation_to_doc(aggregation)
    venues = {v.id: v for v in s.venues}
    qualified = set(s.qualified) if s.qualified is not None else {b.id for b in s.bids}
    excluded = set(aggregation.excluded)
    reasons = rejection_reasons_of(doc)
    stages = rejection_stages_of(doc)
    rejected = []
    for b in s.bids:
        if b.id in qualified and b.id not in excluded:
            continue
        why = reasons.get(b.id) or [
            "资格审查未通过（评标委员会多数成员认定不合格）"
            if b.id not in qualified
            else "未实质性响应招标文件（评标委员会多数成员认定）"
        ]
        item: dict[str, Any] = {"bid_id": b.id, "bidder": b.bidder, "reasons": why}
        if b.id in stages:  # (only then: a report without stages keeps its bytes)
            item["stage"] = stages[b.id]
        rejected.append(item)
    ranking = result["ranking"]
    return {
        "type": REPORT_TYPE,
        "session": s.id,
        "basic": {
            "title": s.title,
            "tenderer": s.tenderer,
            "method": s.method.value,
            "registered_at": s.created_at,
            "primary_venue": s.primary.id,
            "venues": [
                {"id": v.id, "name": v.name, "region": v.region.value, "city": v.city,
                 "primary": v.primary, "seats": v.seats}
                for v in s.venues
            ],
            "bids": len(s.bids),
        },
        "committee": {
            "size": len(s.seats),
            "members": [
                {"seat": x.index, "venue_id": x.venue_id, "venue": venues[x.venue_id].name}
                for x in s.seats
            ],
            "leader_seat": leader_of(doc),
            "pledges": pledges_of(doc),
            "recusals": recusals_of(doc),
        },
        "opening": [
            {"bid_id": b.id, "bidder": b.bidder, "uscc": b.uscc, "price_fen": b.price_fen,
             "price_yuan": _yuan(b.price_fen)}
            for b in s.bids
        ],
        "compliant": [
            {"bid_id": b.id, "bidder": b.bidder}
            for b in s.bids
            if b.id in qualified and b.id not in excluded
        ],
        "rejected": rejected,
        "method": {
            "method": s.method.value,
            "name": METHOD_NAMES[s.method.value],
            "criteria": [criterion_to_doc(c) for c in s.criteria],
            "rules": doc["rules"],
        },
        "comparison": [
            {
                "bid_id": r["bid_id"], "bidder": r["bidder"], "price_fen": r["price_fen"],
                "criteria": r["criteria"], "technical": r["technical"],
                "commercial": r["commercial"], "price_score": r["price_score"],
                "total": r["total"], "evaluated_price_fen": r["evaluated_price_fen"],
            }
            for r in ranking
        ],
        "ranking": [
            {"rank": r["rank"], "bid_id": r["bid_id"], "bidder": r["bidder"],
             "tie_unresolved": r["tie_unresolved"]}
            for r in ranking
        ],
        "candidates": [
            {"rank": r["rank"], "bid_id": r["bid_id"], "bidder": r["bidder"],
             "total": r["total"], "evaluated_price_fen": r["evaluated_price_fen"]}
            for r in ranking[:candidates]
        ],
        "result": result,
        "explanations": [
            {"seat": seat, "bid_id": bid, "text": text} for seat, bid, text in s.explanations
        ],
        "clarifications": clarifications_of(doc),
        "dissents": [{"seat": seat, "text": text} for seat, text in s.dissents],
        "deemed_agreements": deemed_agreements_of(doc),
        # Re-reviews (复核): which seats re-scored which stage and why; the superseded
        # result stays in the event log. Present only after one.
        **({"rereviews": [
            {"round": i + 1, "stage": r.stage.value, "seats": list(r.seats),
             "reason": r.reason, "decision": r.decision}
            for i, r in enumerate(s.rereviews)
        ]} if s.rereviews else {}),
        # Incidents (现场监督记录): present only when one was recorded, so that the
        # reports of sessions without any keep their bytes.
        **({"incidents": incidents_of(doc)} if s.incidents else {}),
        # Faults by rule (异常情况及处理): likewise present only after one.
        **({"faults": faults} if (faults := faults_of(doc)) else {}),
    }


def report_sha256(doc: dict[str, Any]) -> str:
    """SHA-256 (hex) of the report's canonical bytes: what a signature covers."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()
