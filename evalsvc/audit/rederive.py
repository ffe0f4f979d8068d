"""Re-derive a session's outcome from a sealed audit bundle. Pure: files in, checks out.

The log part of a bundle (:mod:`evalsvc.audit.bundle`) proves what was recorded; this
module proves that what was recorded is *right*, from what the bundle discloses beside
the log (docs/audit.md "Re-deriving the result"):

``draw/<ceremony>.json``   the draw bundle of each drawn ceremony (``evalsvc.draw-bundle.v1``:
                           rules, masked pool snapshot, commitments and reveals, result)
``sheets.json``            every opened sheet version: ``{stage, seat, version, sheet, salt,
                           signature?}`` — the commitment openings
``session.json``           the session document (bids, criteria, venues, seats, rules)
``report.json``            ``{"report": …, "sha256": …}``: the report the committee signed
``report.pdf``             the report PDF as ``GET …/report.pdf`` serves it (report.json and
                           signatures.json embedded)
``certs/<sha256>.pem``     each signer's certificate chain, leaf first
``crls/<sha256>.crl``      the CRLs (DER) the server checked a signature with when it accepted
                           it, named by the SHA-256 its signature record logs

A masked field of the pool snapshot opened by the primary (``evalsvc audit open-pool``,
never part of a bundle) is checked by :func:`check_openings` against the draw bundle's
commitment (``verify --opening FILE``); the openings the log records
(``pool.field_opened``: expert, field, commitment — never the value) by
:func:`check_recorded_openings`.

Each check compares a disclosed file with the log entries (already checked against the
signed checkpoints by :mod:`evalsvc.audit.verify`) and recomputes with the session's own
code: the draw (:func:`evalsvc.experts.bundle.verify_bundle`), the commitments, the
aggregation (:mod:`evalsvc.sessions.scoring`), the report (:mod:`evalsvc.sessions.report`)
and each signature with its chain at signing time (:mod:`evalsvc.pki`). What a running
session has not disclosed yet is said, not failed.
"""

from __future__ import annotations

__all__ = [
    "CHECK_ORDER",
    "AlertHook",
    "Check",
    "Disclosed",
    "LoggedEvent",
    "SealedReport",
    "check_openings",
    "check_recorded_openings",
    "parse_entries",
    "read_disclosed",
    "rederive",
    "undisclosed",
    "verify_sealed",
    "write_disclosed",
]

import base64
import datetime as _dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from evalsvc import analysis
from evalsvc.audit import splitview
from evalsvc.audit.bundle import Policy, bundle_json, bundle_text, parse_policy, unsafe_files
from evalsvc.audit.leaf import field_digest, open_entry
from evalsvc.audit.verify import Report, verify_bundle
from evalsvc.canonical import canonical_bytes
from evalsvc.errors import EvalsvcError, InvalidInput
from evalsvc.experts.bundle import verify_bundle as verify_draw_bundle
from evalsvc.files import private_dir, write_private
from evalsvc.pki.challenge import parse_presented_chain
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import verify_signature
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, validate
from evalsvc.report.document import MAX_CANDIDATES, report_document
from evalsvc.sessions.machine import bid_codes, bid_doc, codes_commitment, state_label
from evalsvc.sessions.model import (
    REVIEW_STAGES,
    Session,
    Sheet,
    Stage,
    State,
    criterion_to_doc,
    session_from_doc,
    stage_plan,
)
from evalsvc.sessions.scoring import (
    aggregate,
    aggregation_to_doc,
    qualification_outcome,
    rejections_of,
    sheet_from_doc,
)

# The checks of a sealed bundle, in the order they are printed. ``alerts`` is added by
# whoever passes an alert hook (the pattern-alert rules are not part of this module).
CHECK_ORDER = ("log", "witnesses", "draw", "sheets", "result", "signatures", "report",
               "alerts")

# A masked pool field a supervisor opened over the API (evalsvc.experts.service).
POOL_FIELD_OPENED = "pool.field_opened"

# Failures of evalsvc.audit.verify, grouped under the two log checks.
_WITNESS_FAILURES = frozenset({"cosignature", "quorum"})


@dataclass(frozen=True)
class Check:
    """One named check: passed or not, and what it saw (Chinese, then English)."""

    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """``{"ok": bool, "detail": str}``."""
        return {"ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class LoggedEvent:
    """One log entry, read: the event it records."""

    seq: int
    action: str
    payload: Mapping[str, Any]
    time_ms: int


@dataclass(frozen=True)
class Disclosed:
    """The files a bundle holds beside the log (nothing in them is trusted yet)."""

    session: Mapping[str, Any] | None = None
    report: Mapping[str, Any] | None = None
    sheets: Sequence[Mapping[str, Any]] | None = None
    draws: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    certs: Mapping[str, str] = field(default_factory=dict)
    crls: Mapping[str, bytes] = field(default_factory=dict)  # SHA-256 it is named by → bytes
    report_pdf: bytes | None = None
    checkpoints: Mapping[str, str] = field(default_factory=dict)  # size → note (log-checked)
    problems: tuple[str, ...] = ()  # files that exist but do not parse


AlertHook = Callable[[Sequence[LoggedEvent], Disclosed], Check]


# -- writing and reading ----------------------------------------------------------------


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


def write_disclosed(out_dir: Path, d: Disclosed) -> list[str]:
    """Write the disclosed files into a bundle directory; return their names."""
    names: list[str] = []

    def put(name: str, data: bytes) -> None:
        write_private(out_dir / name, data)
        names.append(name)

    if d.session is not None:
        put("session.json", _json_bytes(d.session))
    if d.report is not None:
        put("report.json", _json_bytes(d.report))
    if d.report_pdf is not None:
        put("report.pdf", d.report_pdf)
    if d.sheets is not None:
        put("sheets.json", _json_bytes(list(d.sheets)))
    if d.draws:
        private_dir(out_dir / "draw")
        for number, doc in sorted(d.draws.items()):
            put(f"draw/{number}.json", _json_bytes(doc))
    if d.certs:
        private_dir(out_dir / "certs")
        for sha, pem in sorted(d.certs.items()):
            put(f"certs/{sha}.pem", pem.encode("ascii"))
    if d.crls:
        private_dir(out_dir / "crls")
        for sha, crl in sorted(d.crls.items()):
            put(f"crls/{sha}.crl", crl)
    return names


def read_disclosed(directory: Path) -> Disclosed:
    """Read the disclosed files of a bundle directory (missing ones are ``None``/empty)."""
    problems: list[str] = []

    def load(path: Path) -> Any:
        if not path.is_file():
            return None
        try:
            return bundle_json(path)
        except InvalidInput as exc:
            problems.append(exc.message)
            return None

    draws: dict[int, Mapping[str, Any]] = {}
    for p in sorted((directory / "draw").glob("*.json")):
        if p.stem.isdigit() and isinstance(doc := load(p), Mapping):
            draws[int(p.stem)] = doc
    certs = {
        p.stem: p.read_text("ascii", "replace")
        for p in sorted((directory / "certs").glob("*.pem"))
        if p.is_file()
    }
    crls = {p.stem: p.read_bytes() for p in sorted((directory / "crls").glob("*.crl"))
            if p.is_file()}
    pdf = directory / "report.pdf"
    notes = {p.stem: p.read_text("utf-8", "replace")
             for p in sorted((directory / "checkpoints").glob("*.note")) if p.is_file()}
    docs = {}
    for name, kind in (("session.json", Mapping), ("report.json", Mapping),
                       ("sheets.json", list)):
        doc = load(directory / name)
        if doc is not None and not isinstance(doc, kind):
            problems.append(f"{name}: not a JSON {'object' if kind is Mapping else 'array'}")
            doc = None
        docs[name] = doc
    return Disclosed(
        session=docs["session.json"],
        report=docs["report.json"],
        sheets=docs["sheets.json"],
        draws=draws,
        certs=certs,
        crls=crls,
        report_pdf=pdf.read_bytes() if pdf.is_file() else None,
        checkpoints=notes,
        problems=tuple(problems),
    )


def parse_entries(entries: Sequence[bytes]) -> list[LoggedEvent]:
    """The events the log entries record (entries that are not events are skipped).
    Format 2 entries (audit/leaf.py) give the fields they disclose; a venue's bundle
    leaves some out (:func:`undisclosed`)."""
    out: list[LoggedEvent] = []
    for raw in entries:
        try:
            d = open_entry(raw, leaf=False)  # the log check recomputed the leaves
        except (InvalidInput, ValueError, TypeError):
            continue
        out.append(LoggedEvent(d.seq, d.action, d.payload, d.time_ms))
    return out


def undisclosed(entries: Sequence[bytes]) -> int:
    """How many fields the entries leave as digests (a venue's redacted view); format 3
    (audit/leaf.py): with the nested members and elements left unopened."""
    n = 0
    for raw in entries:
        try:
            d = open_entry(raw, leaf=False)
            n += len(d.hidden) + d.unopened
        except (InvalidInput, ValueError, TypeError):
            continue
    return n


# -- the checks --------------------------------------------------------------------------


class _Fail(Exception):
    """A check failed: its message (Chinese / English)."""


def _same(a: Any, b: Any) -> bool:
    return canonical_bytes(a) == canonical_bytes(b)


def _session_seat(seat_map: Sequence[int], drawn: Mapping[str, Any]) -> int:
    b = int(drawn.get("index", -1))
    return seat_map[b] if 0 <= b < len(seat_map) else b


def _check_replacement(events: Sequence[LoggedEvent], opened: LoggedEvent,
                       doc: Mapping[str, Any]) -> str:
    """A replacement draw (docs/draw.md §6.9) follows the re-form that asked for it: the
    seats it says it fills are the seats moved, at the venues they moved to, and the
    venues that left are neither in its rules nor among its parties."""
    r = opened.payload["replacement"]
    reformed = next((e for e in reversed(events) if e.action == "committee.reformed"
                     and e.seq < opened.seq), None)
    number = opened.payload.get("ceremony")
    if reformed is None:
        raise _Fail(f"第 {number} 次抽取为补抽, 但此前没有重新组建评标委员会的记录 / ceremony"
                    f" {number} is a replacement draw without a committee.reformed before it")
    moved = {int(x["seat"]): str(x["to"]) for x in reformed.payload.get("moved", ())}
    absent = set(reformed.payload.get("venues", ()))
    seat_map = [int(x) for x in opened.payload.get("seat_map") or ()]
    seats = [x.get("venue") for x in doc.get("rules", {}).get("seats", [])]
    at = {seat_map[b]: v for b, v in enumerate(seats) if b < len(seat_map)}
    named = {str(v.get("id")) for v in doc.get("rules", {}).get("venues", [])}
    if (sorted(r.get("seats", ())) != sorted(moved) or set(r.get("venues", ())) != absent
            or any(at.get(seat) != to for seat, to in moved.items())
            or named & absent or set(opened.payload.get("parties", ())) & absent):
        raise _Fail(f"第 {number} 次抽取 (补抽) 与重新组建的记录不符 / ceremony {number}:"
                    " the replacement draw's seats, venues or parties are not those of the"
                    " re-formed committee")
    return (f"a replacement draw ({r.get('reason')}) for seat(s)"
            f" {', '.join(map(str, sorted(moved)))} at {', '.join(sorted(set(moved.values())))},"
            f" without {', '.join(sorted(absent))}")


def _check_draw(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    drawn = [e for e in events if e.action == "draw.drawn"]
    assigned = [e for e in events if e.action == "seat.assigned" and not e.payload.get("proposed")]
    if not drawn and not assigned:
        return Check(True, "尚未抽取专家 / not yet disclosed: no committee has been drawn")
    lines: list[str] = []
    results: dict[int, Mapping[str, Any]] = {}
    seat_maps: dict[int, list[int]] = {}  # a ceremony's draw seat → session seat
    for dr in drawn:
        number = int(dr.payload.get("ceremony", 0))
        doc = d.draws.get(number)
        if doc is None:
            raise _Fail(f"缺少第 {number} 次抽取的输入 / the bundle lacks draw/{number}.json")
        opened = next(
            (e for e in reversed(events) if e.action == "draw.opened"
             and e.payload.get("ceremony") == number and e.seq < dr.seq),
            None,
        )
        if opened is None:
            raise _Fail(f"日志中没有第 {number} 次抽取的开启记录 / no draw.opened for ceremony"
                        f" {number} in the log")
        o = opened.payload
        within = [e for e in events if opened.seq < e.seq < dr.seq]
        for key in ("rules_sha256", "pool_sha256"):
            if doc.get(key) != o.get(key):
                raise _Fail(f"第 {number} 次抽取: {key} 与日志不符 / ceremony {number}: {key}"
                            f" {doc.get(key)} is not the logged {o.get(key)}")
        if not _same(doc.get("rules"), o.get("rules")):
            raise _Fail(f"第 {number} 次抽取: 规则与日志不符 / ceremony {number}: the rules"
                        " differ from the logged ones")
        cer = doc.get("ceremony")
        if not isinstance(cer, Mapping):
            raise _Fail(f"第 {number} 次抽取没有种子仪式记录 / ceremony {number}: no seed"
                        " ceremony in the draw bundle")
        logged_cer = {
            "commit_deadline": o.get("commit_deadline"),
            "reveal_deadline": o.get("reveal_deadline"),
            "minimum": o.get("minimum"),
            "commitments": [e.payload for e in within if e.action == "draw.committed"],
            "reveals": [e.payload for e in within if e.action == "draw.revealed"],
        }
        for key, want in logged_cer.items():
            if not _same(cer.get(key), want):
                raise _Fail(f"第 {number} 次抽取: 种子仪式的 {key} 与日志不符 / ceremony"
                            f" {number}: {key} differ from the logged ones")
        if not _same(doc.get("result"), dr.payload.get("result")) or doc.get(
            "result_sha256"
        ) != dr.payload.get("result_sha256"):
            raise _Fail(f"第 {number} 次抽取: 结果与日志不符 / ceremony {number}: the result"
                        " differs from the logged draw.drawn")
        check = verify_draw_bundle(doc)
        if not check.ok:
            raise _Fail(f"第 {number} 次抽取无法复现 / ceremony {number} does not recompute: "
                        + check.lines[-1].removeprefix("FAIL "))
        results[number] = doc["result"]
        seat_maps[number] = [int(x) for x in o.get("seat_map") or ()]
        line = f"ceremony {number}: {check.lines[-1].removeprefix('ok   ')}"
        if o.get("replacement") is not None:
            line += "; " + _check_replacement(events, opened, doc)
        lines.append(line)
    # The committee: every seat's last assignment in the log is the expert the session
    # names, and a drawn seat holds that ceremony's member or one of its alternates.
    final: dict[int, Mapping[str, Any]] = {}
    for e in events:
        if e.action == "seat.assigned" and not e.payload.get("proposed"):
            final[int(e.payload["seat"])] = e.payload
        elif e.action == "designation.rejected":
            for s in e.payload.get("seats", []):
                final.pop(int(s), None)
    designated = {int(s) for e in events if e.action == "designation.approved"
                  for s in e.payload.get("seats", [])}
    source: dict[int, str] = {}  # how each seat was filled, as the session records it
    for seat, a in sorted(final.items()):
        if seat in designated:
            source[seat] = "designated"
            continue
        drawn_here = [
            number for number, r in results.items()
            for x in r.get("seats", []) if _session_seat(seat_maps[number], x) == seat
            and a.get("expert_id") in {x["member"]["expert"],
                                        *(y["expert"] for y in x.get("alternates", []))}
        ]
        if not drawn_here:
            raise _Fail(f"席位 {seat} 的专家 {a.get('expert_id')} 不是抽取结果 / seat {seat}:"
                        f" expert {a.get('expert_id')} was not drawn for it")
        source[seat] = f"draw:{drawn_here[-1]}"
    if d.session is not None:
        seats = d.session.get("seats")
        if not isinstance(seats, list):
            raise _Fail("session.json 没有席位 / session.json has no seats")
        for x in seats:
            got = final.get(int(x.get("index", -1)))
            if got is not None and x.get("expert_id") != got.get("expert_id"):
                raise _Fail(f"席位 {x.get('index')}: session.json 记为 {x.get('expert_id')},"
                            f" 日志记为 {got.get('expert_id')} / seat {x.get('index')}: the"
                            " session names another expert than the log assigned")
            want = source.get(int(x.get("index", -1)))
            if got is not None and want is not None and x.get("source") != want:
                raise _Fail(f"席位 {x.get('index')}: session.json 记其来源为"
                            f" {x.get('source')!r}, 日志为 {want!r} / seat {x.get('index')}:"
                            " the session says it was filled otherwise than the log shows")
    lines.append(f"{len(final)} seats as drawn" + (f", {len(designated)} designated by a"
                                                   " supervisor" if designated else ""))
    return Check(True, "抽取复现一致 / same committee from the same inputs: " + "; ".join(lines))


def _openings(d: Disclosed) -> dict[tuple[str, int, int], Mapping[str, Any]]:
    out: dict[tuple[str, int, int], Mapping[str, Any]] = {}
    for o in d.sheets or ():
        if not isinstance(o, Mapping):
            raise _Fail("sheets.json 条目格式错误 / a sheets.json item is not an object")
        try:
            key = (str(o["stage"]), int(o["seat"]), int(o["version"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise _Fail(f"sheets.json 条目缺少字段 / a sheets.json item lacks {exc}") from exc
        if key in out and out[key] != o:
            # Two openings of one version: whichever a reader took, the other is unchecked.
            raise _Fail(f"{key[0]} 席位 {key[1]} 第 {key[2]} 版有两个不同的开启值 / {key[0]} seat"
                        f" {key[1]} version {key[2]} is opened twice, differently")
        out[key] = o
    return out


def _check_sheets(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    submitted = {
        (str(e.payload["stage"]), int(e.payload["seat"]), int(e.payload["version"])):
            e.payload.get("commitment")
        for e in events if e.action == "sheet.submitted"
    }
    locked = {str(e.payload.get("stage")) for e in events if e.action == "stage.locked"}
    if not submitted:
        return Check(True, "尚无评分表 / not yet disclosed: no sheet submitted")
    if d.sheets is None and any(k[0] in locked for k in submitted):
        raise _Fail("缺少 sheets.json / the bundle lacks sheets.json (the commitment openings)")
    openings = _openings(d)
    for key, o in openings.items():
        stage, seat, version = key
        if key not in submitted:
            raise _Fail(f"{stage} 席位 {seat} 第 {version} 版不在日志中 / {stage} seat {seat}"
                        f" version {version} is not in the log")
        if stage not in locked:
            raise _Fail(f"{stage} 阶段未锁定却公开了评分表 / a sheet of {stage} is disclosed"
                        " before its stage was locked")
        salt = o.get("salt")
        if not isinstance(salt, str):
            raise _Fail(f"{stage} 席位 {seat} 第 {version} 版没有盐值 / seat {seat} version"
                        f" {version} of {stage} has no salt")
        try:
            mac = hmac.digest(bytes.fromhex(salt), canonical_bytes(o.get("sheet")), "sha256")
        except (ValueError, TypeError) as exc:
            raise _Fail(f"{stage} 席位 {seat} 第 {version} 版无法计算承诺 / seat {seat}"
                        f" version {version}: {exc}") from exc
        if mac.hex() != submitted[key]:
            raise _Fail(f"{stage} 席位 {seat} 第 {version} 版与锁定前的承诺不符 / {stage} seat"
                        f" {seat} version {version} does not open its commitment")
    for key in submitted:
        if key[0] in locked and key not in openings:
            raise _Fail(f"{key[0]} 席位 {key[1]} 第 {key[2]} 版缺少开启值 / {key[0]} seat"
                        f" {key[1]} version {key[2]} is locked but not opened in the bundle")
    sealed = sorted({k[0] for k in submitted if k[0] not in locked})
    detail = (f"{len(openings)} 份锁定评分表均与承诺一致 / {len(openings)} locked sheet versions"
              " open their commitments and are in the log")
    if sealed:
        detail += (f"; 尚未公开 / not yet disclosed: {', '.join(sealed)} not locked, its sheets"
                   " stay sealed")
    return Check(True, detail)


def _latest(openings: Mapping[tuple[str, int, int], Mapping[str, Any]], stage: str) -> list[Sheet]:
    best: dict[int, tuple[int, Mapping[str, Any]]] = {}
    for (st, seat, version), o in openings.items():
        if st == stage and version > best.get(seat, (0, {}))[0]:
            best[seat] = (version, o)
    try:
        return [sheet_from_doc(seat, o["sheet"]) for seat, (_, o) in sorted(best.items())]
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise _Fail(f"{stage} 评分表无法读取 / a {stage} sheet does not read: {exc!r}") from exc


def _session(events: Sequence[LoggedEvent], d: Disclosed) -> Session:
    """The session document, checked field by field against what the log recorded."""
    if d.session is None:
        raise _Fail("缺少 session.json / the bundle lacks session.json")
    try:
        s = session_from_doc(d.session)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise _Fail(f"session.json 无法读取 / session.json does not read: {exc!r}") from exc
    created = next((e.payload for e in events if e.action == "session.created"), None)
    if created is None:
        raise _Fail("日志中没有 session.created / no session.created in the log")
    mine = {"title": s.title, "tenderer": s.tenderer, "method": s.method.value,
            "venues": [v.id for v in s.venues], "tender_number": s.tender_number,
            "tenderer_uscc": s.tenderer_uscc,
            "supervising_departments": [{"name": o.name, "uscc": o.uscc}
                                        for o in s.supervising_departments]}
    for key, value in mine.items():
        if created.get(key) != value:
            raise _Fail(f"session.json 的 {key} 与日志不符 / session.json {key} differs from"
                        " the logged session.created")
    bids = [e.payload["bid"] for e in events if e.action == "bid.added"]
    if not _same(bids, [bid_doc(b) for b in s.bids]):
        raise _Fail("session.json 的投标(名称/代码/报价/主要负责人)与日志不符 / the bids"
                    " (bidder, USCC, price, principals) in session.json differ from the"
                    " logged bid.added events")
    crits = [e.payload["criterion"] for e in events if e.action == "criterion.added"]
    if not _same(crits, [criterion_to_doc(c) for c in s.criteria]):
        raise _Fail("session.json 的评分项与日志不符 / the criteria in session.json differ from"
                    " the logged criterion.added events")
    expl = [[e.payload["seat"], e.payload["bid_id"], e.payload["text"]]
            for e in events if e.action == "deviation.explained"]
    if not _same(expl, [list(x) for x in s.explanations]):
        raise _Fail("偏离说明与日志不符 / the deviation explanations differ from the log")
    dissents = [[e.payload["seat"], e.payload["text"]]
                for e in events if e.action == "dissent.recorded"]
    if not _same(dissents, [list(x) for x in s.dissents]):
        raise _Fail("不同意见与日志不符 / the dissents differ from the log")
    moved = [e.payload for e in events if e.action == "session.state_changed"]
    if moved and state_label(s) != moved[-1].get("to"):
        raise _Fail(f"session.json 的状态 {state_label(s)} 不是日志最后记录的"
                    f" {moved[-1].get('to')} / session.json's state differs from the log")
    if s.abort_reason != (moved[-1].get("reason") if moved and s.state is State.ABORTED
                          else None):
        raise _Fail("session.json 的终止原因与日志不符 / the abort reason differs from the log")
    standing: list[int] = []
    for e in events:
        if e.action == "report.signatures_cleared":
            standing = []
        elif e.action == "report.signed":
            standing.append(int(e.payload["seat"]))
    if list(s.signed) != standing:
        raise _Fail(f"session.json 记录签署席位 {list(s.signed)}, 日志为 {standing} / the seats"
                    " that signed differ from the log")
    if unlogged_handovers(events, s):
        raise _Fail("session.json 的交接记录不在日志中 / the handovers in session.json are not"
                    " the logged handover events")
    incidents = [[e.payload.get(k) for k in ("venue_id", "category", "text", "occurred_at")]
                 for e in events if e.action == "incident.recorded"]
    if not _same(incidents, [[x.venue_id, x.category, x.text, x.occurred_at]
                             for x in s.incidents]):
        raise _Fail("session.json 的现场监督记录与日志不符 / the incidents in session.json"
                    " differ from the logged incident.recorded events")
    # The handover (交接): each entry names a venue of the session and lists its items.
    venues = {v.id for v in s.venues}
    for h in s.handovers:
        if (not isinstance(h.venue_id, str) or h.venue_id not in venues
                or not all(isinstance(x, str) for x in h.items)):
            raise _Fail("session.json 的交接记录无法读取 / a handover in session.json names no"
                        " venue of the session or lists items that are not names")
    sealing = next((e for e in reversed(events) if e.action == "session.state_changed"
                    and e.payload.get("to") == "sealed"), None)
    # (None: a session sealed before the seal time was recorded.)
    if s.sealed_at is not None and s.sealed_at != (
            sealing.time_ms // 1000 if sealing is not None else None):
        raise _Fail(f"session.json 的封存时间 {s.sealed_at!r} 与日志不符 / the seal time in"
                    " session.json differs from the logged seal")
    return s


def unlogged_handovers(events: Sequence[LoggedEvent], s: Session) -> list[str]:
    """The venues whose handover in ``s`` says more than the log does. (A handover
    recorded after the log's last checkpoint is not in the bundle yet: the export
    leaves it out of session.json, see :func:`logged_handovers_only`.)"""
    logged = _handovers_logged(events)
    bad = []
    for h in s.handovers:
        if h.recorded_at is None and not h.overdue:
            continue
        items, recorded, acknowledged, overdue = logged.get(h.venue_id, ([], False, False, False))
        if ((h.recorded_at is not None and (not recorded or list(h.items) != items))
                or (h.acknowledged_at is not None and not acknowledged)
                or (h.overdue and not overdue)):
            bad.append(h.venue_id)
    return bad


def logged_handovers_only(events: Sequence[LoggedEvent], s: Session) -> Session:
    """``s`` with each handover cut back to what ``events`` record (the export's
    session.json: nothing in it that the bundle's log does not prove)."""
    logged = _handovers_logged(events)
    kept = []
    for h in s.handovers:
        items, recorded, acknowledged, overdue = logged.get(h.venue_id, ([], False, False, False))
        if recorded or overdue:
            kept.append(replace(h, recorded_at=h.recorded_at if recorded else None,
                                items=tuple(items) if recorded else (),
                                acknowledged_at=h.acknowledged_at if acknowledged else None,
                                overdue=overdue))
    return replace(s, handovers=tuple(kept))


def _handovers_logged(
    events: Sequence[LoggedEvent],
) -> dict[str, tuple[list[Any], bool, bool, bool]]:
    """Each secondary venue's handover as the log tells it: (items, recorded,
    acknowledged, flagged overdue)."""
    out: dict[str, tuple[list[Any], bool, bool, bool]] = {}
    for e in events:
        pl = e.payload
        if e.action == "handover.recorded":
            v = str(pl.get("venue_id"))
            _, _, ack, late = out.get(v, ([], False, False, False))
            out[v] = (list(pl.get("items") or ()), True, ack, late)
        elif e.action == "handover.acknowledged":
            v = str(pl.get("venue_id"))
            items, rec, _, late = out.get(v, ([], False, False, False))
            out[v] = (items, rec, True, late)
        elif e.action == "handover.overdue":
            for x in pl.get("venues") or ():
                v = str(x.get("venue_id"))
                items, rec, ack, _ = out.get(v, ([], False, False, False))
                out[v] = (items, rec, ack, True)
    return out


def _check_result(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    locks = {str(e.payload.get("stage")): e.payload for e in events if e.action == "stage.locked"}
    if not locks:
        return Check(True, "尚无锁定阶段 / not yet disclosed: no stage locked, no result yet")
    s = _session(events, d)
    openings = _openings(d)
    lines: list[str] = []
    final_qualified, final_rejections = s.qualified, s.rejections
    # The pass/fail stages in order (资格审查, 符合性审查): each reviews the bids the ones
    # before left in, from the rejections re-derived here, not from session.json.
    s = replace(s, qualified=None, rejections=())
    for stage in (x for x in stage_plan(s) if x in REVIEW_STAGES):
        q = locks.get(stage.value)
        if q is None:
            continue
        sheets_q = [x for x in _latest(openings, stage.value) if x.stage is stage]
        if s.stage_criteria(stage):
            qualified = list(qualification_outcome(s, sheets_q, stage))
            rejected = rejections_of(s, sheets_q, stage, qualified)
        else:
            qualified = [b.id for b in s.bids] if stage is Stage.QUALIFICATION else [
                b.id for b in s.qualified_bids]
            rejected = ()
        if qualified != list(q.get("qualified", [])):
            raise _Fail(f"{stage.value} 审查结果复算为 {qualified}, 日志为 {q.get('qualified')}"
                        f" / the {stage.value} outcome recomputed differs from the logged one")
        logged = [{"bid_id": r.bid_id, "reasons": [
            {"criterion_id": c, "reason": why} for c, why in r.reasons]} for r in rejected]
        # (A log written before reasons were recorded has no "rejected": nothing to compare.)
        if "rejected" in q and not _same(logged, q["rejected"]):
            raise _Fail(f"{stage.value} 否决投标及理由复算与日志不符 / the bids rejected at"
                        f" {stage.value} and their reasons differ from the logged ones")
        s = replace(s, qualified=tuple(qualified), rejections=(*s.rejections, *rejected))
        lines.append(f"{stage.value}: {len(qualified)} of {len(s.bids)} bids pass")
    if final_qualified is not None and s.qualified != final_qualified:
        raise _Fail("session.json 的合格投标与日志不符 / qualified bids in session.json"
                    " differ from the log")
    if final_rejections and final_rejections != s.rejections:
        raise _Fail("session.json 的否决投标及理由与日志不符 / the rejected bids in"
                    " session.json differ from the log")
    lines += _check_codes(events, s)
    sc = locks.get(Stage.SCORING.value) or locks.get(Stage.COMMERCIAL.value)
    if sc is None:
        return Check(True, "复算一致 / recomputed: " + "; ".join(lines)
                     + "; 尚未公开 / not yet disclosed: scoring not locked, no ranking yet")
    # (Split stages: each seat's technical and commercial sheets, merged by aggregate.)
    sheets = [x for st in ("scoring", "technical", "commercial") for x in _latest(openings, st)]
    try:
        agg = aggregate(s, sheets)
    except EvalsvcError as exc:
        raise _Fail(f"无法汇总 / cannot aggregate: {exc.message}") from exc
    result = aggregation_to_doc(agg)
    if not _same(result, sc.get("result")):
        raise _Fail("汇总、排名与候选人复算结果与日志记录不符 / the aggregation, ranking and"
                    " candidates recomputed from the opened sheets differ from the logged result")
    top = ", ".join(f"{r['rank']}. {r['bid_id']} ({r['total']})" for r in result["ranking"][:3])
    lines.append(f"scoring: {len(sheets)} sheets, ranking {top}")
    if d.report is None:
        if any(e.action == "report.signed" for e in events):
            raise _Fail("缺少 report.json / the bundle lacks report.json")
        lines.append("尚未公开 / not yet disclosed: the report")
        return Check(True, "复算一致 / recomputed: " + "; ".join(lines))
    # How many candidates the report recommends is the server's [report] candidates
    # (1–3), a setting rather than a logged value: any of them, said in the detail.
    got = d.report.get("report")
    count = next((k for k in range(MAX_CANDIDATES, 0, -1)
                  if _same(got, report_document(s, agg, candidates=k))), None)
    if count is None:
        raise _Fail("report.json 与按评分表复算的报告不符 / report.json differs from the report"
                    " recomputed from the session and its sheets")
    lines.append(f"report equal to the recomputed one (recommending up to {count})")
    return Check(True, "复算一致 / recomputed with the session's scoring code: " + "; ".join(lines))


def _check_codes(events: Sequence[LoggedEvent], s: Session) -> list[str]:
    """暗标: the codes opened at the technical lock open the commitment made at the
    start, and are the permutation their salt gives (docs/scoring.md "暗标")."""
    committed = [e.payload for e in events if e.action == "codes.committed"]
    opened = [e.payload for e in events if e.action == "codes.opened"]
    if not committed:
        if opened:
            raise _Fail("暗标编号未承诺即公开 / bid codes opened without a commitment")
        return []
    if not opened:
        return ["暗标编号尚未公开 / not yet disclosed: the bid codes"]
    salt = str(opened[-1].get("salt"))
    if codes_commitment(s.id, salt) != committed[-1].get("commitment"):
        raise _Fail("暗标编号的盐值与开始评审时的承诺不符 / the bid codes' salt does not open"
                    " the commitment made at start_evaluation")
    try:
        codes = bid_codes(s.id, salt, [b.id for b in s.bids])
    except ValueError as exc:
        raise _Fail(f"暗标编号的盐值无法读取 / the bid codes' salt does not read: {exc}") from exc
    if not _same({c: b for b, c in codes.items()}, opened[-1].get("codes")):
        raise _Fail("公开的暗标编号与盐值推出的不符 / the opened bid codes differ from the"
                    " ones their salt gives")
    return [f"暗标: {len(codes)} bid codes open their commitment"]


def _signing_crls(what: str, record: Mapping[str, Any],
                  d: Disclosed) -> list[x509.CertificateRevocationList]:
    """The CRLs the server checked this signature with when it accepted it: the
    SHA-256s its logged record names (``crls``), each bundled as ``crls/<sha256>.crl``."""
    names = record.get("crls")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _Fail(f"{what}: 签名记录未列出签名时所用的 CRL / the signature record names no"
                    " CRLs in force at signing time (signed before evalsvc recorded them?)")
    out = []
    for sha in names:
        data = d.crls.get(sha)
        if data is None:
            raise _Fail(f"{what}: 缺少签名时所用的 CRL / the bundle lacks crls/{sha}.crl,"
                        " a CRL the server checked this signature with")
        if hashlib.sha256(data).hexdigest() != sha:
            raise _Fail(f"{what}: crls/{sha}.crl 不是签名时所用的 CRL / crls/{sha}.crl is not"
                        " the CRL the server logged for this signature (its SHA-256 differs)")
        try:
            out.append(x509.load_der_x509_crl(data))
        except ValueError as exc:
            raise _Fail(f"{what}: CRL 无法读取 / crls/{sha}.crl does not read: {exc}") from exc
    return out


def _without_crls(trust: TrustConfig) -> TrustConfig:
    """``trust`` without the CRLs of its region folders: a chain is checked at signing
    time with the CRLs the server used then, not with whatever the verifier holds now."""
    return replace(trust, regions=tuple(replace(r, crls=()) for r in trust.regions))


def _verify_signed(
    what: str,
    record: Mapping[str, Any],
    signed: bytes,
    at_ms: int,
    d: Disclosed,
    trust: TrustConfig | None,
) -> str:
    sha = str(record.get("certificate_sha256", ""))
    pem = d.certs.get(sha)
    if pem is None:
        raise _Fail(f"{what}: 缺少签名证书 / the bundle lacks certs/{sha}.pem")
    try:
        leaf, chain = parse_presented_chain(pem.encode("ascii"))
        from cryptography.hazmat.primitives.serialization import Encoding

        if hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest() != sha:
            raise _Fail(f"{what}: 证书摘要不符 / certs/{sha}.pem holds another certificate")
        value = base64.b64decode(str(record.get("value", "")), validate=True)
        verify_signature(leaf, signed, value)
    except EvalsvcError as exc:
        raise _Fail(f"{what}: 签名无效 / signature invalid: {exc.message}") from exc
    except ValueError as exc:
        raise _Fail(f"{what}: 签名无法读取 / signature does not read: {exc}") from exc
    if trust is None:
        raise _Fail(f"{what}: 未提供信任根, 无法验证证书链 / no trust anchors given"
                    " (--trust-anchors DIR): the chain cannot be checked")
    crls = _signing_crls(what, record, d)
    at = _dt.datetime.fromtimestamp(at_ms / 1000, _dt.UTC)
    try:
        # Revocation required, with those CRLs only: each must be signed by the CA that
        # issued the certificate it covers, and fresh at signing time (thisUpdate ≤ t <
        # nextUpdate); a serial it lists as revoked on or before t fails.
        res = validate(leaf, trust=_without_crls(trust), at=at, usage=Usage.SIGNING,
                       intermediates=chain, crls=crls, revocation=RevocationMode.REQUIRE)
    except EvalsvcError as exc:
        raise _Fail(f"{what}: 签名时证书链无效 / the chain was not valid at signing time"
                    f" ({at.isoformat()}) with the CRLs in force then: {exc.message}") from exc
    return res.region


def _keyed_by_code(what: str, events: Sequence[LoggedEvent], sheet: Any) -> Any:
    """暗标: a technical sheet as its expert signed it, keyed by the codes the log opened
    (docs/pki.md "Signed sheets"); _check_codes proves those codes."""
    opened = [e.payload.get("codes") for e in events if e.action == "codes.opened"]
    if not opened or not isinstance(opened[-1], Mapping) or not isinstance(sheet, Mapping):
        raise _Fail(f"{what}: 按暗标编号签名，但日志未公开暗标编号 / signed by bid code,"
                    " but the log opens no codes")
    code_of = {str(b): str(c) for c, b in opened[-1].items()}
    bids = sheet.get("bids")
    if not isinstance(bids, Mapping) or not set(bids) <= set(code_of):
        raise _Fail(f"{what}: 评分表的投标不在公开的暗标编号中 / a bid of the sheet has no"
                    " opened code")
    return {**sheet, "bids": {code_of[b]: v for b, v in bids.items()}}


def _standing(events: Sequence[LoggedEvent]) -> tuple[dict[int, LoggedEvent], set[int], bool]:
    """Each seat's standing ``report.signed``, the seats deemed to agree, and whether the
    log records the seal."""
    standing: dict[int, LoggedEvent] = {}
    # 暂行规定 第43条: a member who neither signed nor dissented by the deadline, the
    # committee's note confirmed by a supervisor (report.deemed_agreed), is accounted for.
    deemed: set[int] = set()
    for e in events:
        if e.action == "report.signatures_cleared":
            cleared = e.payload.get("seats")
            gone = ({int(x) for x in cleared} if isinstance(cleared, list)
                    else {*standing, *deemed})
            standing = {k: v for k, v in standing.items() if k not in gone}
            deemed -= gone
        elif e.action == "report.signed":
            standing[int(e.payload["seat"])] = e
        elif e.action == "report.deemed_agreed":
            deemed.add(int(e.payload["seat"]))
    sealed = any(e.action == "session.state_changed" and e.payload.get("to") == "sealed"
                 for e in events)
    return standing, deemed, sealed


def _check_report(entries: Sequence[bytes], events: Sequence[LoggedEvent],
                  d: Disclosed) -> Check:
    """``report``: the report PDF a supervisor is served carries, embedded, exactly the
    bundle's ``report.json`` (the bytes signed, whose SHA-256 the log's ``report.signed``
    events name) and the logged signatures; the PDF's own checks pass (the digest printed
    on every page, each certificate signature over the embedded bytes, each signing
    event's leaf included under the checkpoint printed)."""
    from evalsvc.report.verify import verify_report_pdf

    if d.report is None and d.report_pdf is None:
        return Check(True, "尚未编写报告 / not yet disclosed: the committee has not started"
                           " the report")
    if d.report is None:
        raise _Fail("有 report.pdf 却无 report.json / the bundle has report.pdf but no"
                    " report.json")
    if d.report_pdf is None:
        raise _Fail("缺少 report.pdf / the bundle lacks report.pdf, the report as served")
    v = verify_report_pdf(d.report_pdf)
    bad = [c for c in v.checks if not c.ok]
    if bad:
        raise _Fail("report.pdf 自身校验未通过 / report.pdf does not verify on its own: "
                    + "; ".join(f"{c.en}: {c.detail}" for c in bad[:3]))
    for origin, size, root in v.checkpoints:
        # The checkpoint printed on the pages, which the PDF's proofs lead to, is one the
        # log check verified (its signature is checked there, not by the PDF's check).
        head = d.checkpoints.get(size, "").split("\n")[:3]
        if head != [origin, size, root]:
            raise _Fail(f"report.pdf 所印审计检查点 (树大小 {size}) 不是包中签名的检查点 /"
                        f" the checkpoint report.pdf prints (size {size}, root {root}) is not"
                        " the bundle's signed checkpoint of that size")
    embedded = v.attachments["report.json"]
    if embedded != canonical_bytes(d.report.get("report")):
        raise _Fail("PDF 内嵌的 report.json 与包中的 report.json 不同 / the report.json"
                    " embedded in report.pdf is not the bundle's report.json")
    digest = hashlib.sha256(embedded).hexdigest()
    standing, _, _ = _standing(events)
    for seat, e in sorted(standing.items()):
        if e.payload.get("report_sha256") != digest:
            raise _Fail(f"PDF 的报告摘要不是席位 {seat} 签署的 / report.pdf's report hashes to"
                        f" {digest}, seat {seat} signed {e.payload.get('report_sha256')}")
    sigs = json.loads(v.attachments["signatures.json"])
    with_cert = {int(x["seat"]): x for x in sigs.get("signatures", [])}
    without = {int(x["seat"]): x for x in sigs.get("without_certificate", [])}
    logged_cert = {k: e for k, e in standing.items()
                   if isinstance(e.payload.get("signature"), Mapping)}
    if sorted(with_cert) != sorted(logged_cert) or sorted(without) != sorted(
            set(standing) - set(logged_cert)):
        raise _Fail(f"PDF 列出的签署席位与日志不符 / report.pdf lists signatures of seats"
                    f" {sorted(with_cert)} (and {sorted(without)} without a certificate);"
                    f" the log, {sorted(logged_cert)} (and"
                    f" {sorted(set(standing) - set(logged_cert))})")
    for seat, x in [*with_cert.items(), *without.items()]:
        e = standing[seat]
        if x.get("audit_seq") != e.seq or (
            seat in with_cert and not _same(x.get("signature"), e.payload.get("signature"))
        ):
            raise _Fail(f"PDF 中席位 {seat} 的签署不是日志记录的 / report.pdf's signing of seat"
                        f" {seat} is not the logged report.signed (seq {e.seq})")
        audit = x.get("audit")
        if isinstance(audit, Mapping) and base64.b64decode(str(audit.get("leaf"))) != (
            entries[e.seq - 1] if 0 < e.seq <= len(entries) else None
        ):
            raise _Fail(f"PDF 中席位 {seat} 的审计条目不是日志中的 / report.pdf's audit entry"
                        f" for seat {seat} is not entry {e.seq - 1} of the log")
    return Check(True, f"report.pdf 内嵌报告 sha256 {digest[:16]}… 与 report.json 及日志一致"
                       f" / report.pdf embeds report.json and {len(with_cert)} certificate"
                       f" signatures, {len(without)} token signings, equal to the log's")


def _check_signatures(
    events: Sequence[LoggedEvent], d: Disclosed, trust: TrustConfig | None
) -> Check:
    sheet_sigs = 0
    for o in d.sheets or ():
        if isinstance(o, Mapping) and isinstance(o.get("signature"), Mapping):
            at = next((e.time_ms for e in events if e.action == "sheet.submitted"
                       and e.payload.get("seat") == o.get("seat")
                       and e.payload.get("stage") == o.get("stage")
                       and e.payload.get("version") == o.get("version")), 0)
            what = f"{o.get('stage')} 席位 {o.get('seat')} 第 {o.get('version')} 版评分表"
            sheet = o.get("sheet")
            if o["signature"].get("bid_keys") == "codes":
                sheet = _keyed_by_code(what, events, sheet)
            _verify_signed(what, o["signature"], canonical_bytes(sheet), at, d, trust)
            sheet_sigs += 1
    standing, deemed, sealed = _standing(events)
    if not standing and not sealed:
        extra = f"; {sheet_sigs} signed sheets verified" if sheet_sigs else ""
        return Check(True, "尚未签署报告 / not yet disclosed: the report is not signed yet" + extra)
    if d.report is None:
        raise _Fail("缺少 report.json / the bundle lacks report.json, the bytes signed")
    signed = canonical_bytes(d.report.get("report"))
    digest = hashlib.sha256(signed).hexdigest()
    if d.report.get("sha256") != digest:
        raise _Fail(f"report.json 的 sha256 不是其报告的摘要 / report.json says sha256"
                    f" {d.report.get('sha256')!r}, its report hashes to {digest}")
    seats = [int(x["index"]) for x in (d.session or {}).get("seats", [])]
    if sealed and sorted({*standing, *deemed}) != sorted(seats):
        missing = sorted(set(seats) - set(standing) - deemed)
        raise _Fail(f"席位 {missing} 未签署即封存 / sealed without the signature of seat(s)"
                    f" {missing}")
    by_cert: list[str] = []
    confirmed: list[int] = []
    for seat, e in sorted(standing.items()):
        if e.payload.get("report_sha256") != digest:
            raise _Fail(f"席位 {seat} 签署的报告摘要不是 report.json 的 / seat {seat} signed"
                        f" {e.payload.get('report_sha256')}, report.json hashes to {digest}")
        rec = e.payload.get("signature")
        if isinstance(rec, Mapping):
            region = _verify_signed(f"席位 {seat} 的报告签名 / seat {seat}'s report signature",
                                    rec, signed, e.time_ms, d, trust)
            by_cert.append(f"{seat} ({region})")
        else:
            confirmed.append(seat)
    detail = (f"报告 sha256 {digest[:16]}…: 证书签名 {len(by_cert)} 份有效"
              f" / {len(by_cert)} certificate signatures valid at signing time"
              + (f" (seats {', '.join(by_cert)})" if by_cert else ""))
    if confirmed:
        detail += (f"; 席位 {confirmed} 以令牌登录确认报告摘要, 无证书签名 / seat(s) {confirmed}"
                   " confirmed the digest by token login, without a certificate signature")
    if deemed:
        detail += (f"; 席位 {sorted(deemed)} 视为同意 (监督确认) / seat(s) {sorted(deemed)}"
                   " deemed to agree, confirmed by a supervisor")
    if sheet_sigs:
        detail += f"; {sheet_sigs} signed sheets verified"
    if not sealed:
        detail += "; 尚未封存 / not yet sealed"
    return Check(True, detail)


def check_alerts(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    """``alerts``: every check point of the log has its ``alerts.checked`` event, and
    the pattern-alert rules (evalsvc.analysis) run again over the log — with the
    thresholds and pool history each check recorded — find exactly the alerts it
    recorded. A primary that left an alert out of its log, or added one, fails here."""
    log = [{"seq": e.seq, "type": e.action, "payload": e.payload, "time_ms": e.time_ms}
           for e in events]
    try:
        missing = analysis.missing_checks(log)
        if missing:
            seqs = ", ".join(str(log[i]["seq"]) for i in missing)
            raise _Fail(f"检查点后缺少预警检查记录 / no alerts.checked after the check point(s)"
                        f" at seq {seqs}")
        recorded = analysis.recorded_alerts(log)
        again = analysis.recompute_alerts({"events": log})
    except analysis.MalformedRecord as exc:
        raise _Fail(f"预警记录无法读取 / the alert records do not read: {exc}") from exc
    if recorded != again:
        gone = [a.rule for a in again if a not in recorded]
        extra = [a.rule for a in recorded if a not in again]
        raise _Fail("记录的预警与复算不符 / the recorded alerts differ from those recomputed"
                    f" (not recorded: {gone or '无'}; recorded but not found: {extra or '无'})")
    checks = sum(1 for e in log if e["type"] == analysis.ALERTS_EVENT)
    return Check(True, f"预警复算一致 / {checks} alert checks, {len(again)} alerts recomputed"
                       " equal to those recorded")


def check_openings(d: Disclosed, openings: Sequence[Mapping[str, Any]]) -> Check:
    """``openings``: each opening the primary gave of a masked pool field
    (``{session, pool_sha256, expert, field, commitment, salt, value}``) opens the
    commitment that field has in a bundled draw's pool snapshot — whose digest the log's
    ``draw.opened`` commits to (check ``draw``): SHA-256(salt ‖ RFC 8785 [field, value])."""
    lines: list[str] = []
    for o in openings:
        try:
            expert, name = str(o["expert"]), str(o["field"])
            pool, commitment = str(o["pool_sha256"]), str(o["commitment"])
            salt, value = bytes.fromhex(str(o["salt"])), o["value"]
        except (KeyError, TypeError, ValueError) as exc:
            raise _Fail(f"开启记录无法读取 / an opening does not read: {exc!r}") from exc
        what = f"专家 {expert} 的 {name} / {expert}.{name}"
        if len(salt) < 16:
            raise _Fail(f"{what}: 盐值短于 128 位 / the salt is shorter than 128 bits")
        found = _in_snapshot(d, pool, expert, name, commitment)
        if found == "expert":
            raise _Fail(f"{what}: 包中没有含该专家的专家库快照 {pool[:16]}… / no bundled draw"
                        f" used pool {pool} with this expert")
        if found == "commitment":
            raise _Fail(f"{what}: 承诺不是快照中的 / the commitment is not the snapshot's")
        if field_digest(salt, name, value) != commitment:
            raise _Fail(f"{what}: 开启值与承诺不符 / the value and salt do not open the"
                        " commitment")
        lines.append(f"{expert}.{name} = {value!r}")
    return Check(True, f"{len(lines)} 项开启值与专家库快照中的承诺一致 / opened fields open"
                       " their commitments in the draw's pool snapshot: " + "; ".join(lines))


def _in_snapshot(d: Disclosed, pool: str, expert: str, name: str,
                 commitment: Any) -> str | None:
    """What is missing for ``commitment`` to be field ``name`` of ``expert`` in the
    bundled snapshot(s) of digest ``pool``: ``"expert"`` (no such view), ``"commitment"``
    (another commitment there), or None (it is the snapshot's)."""
    views = [v for doc in d.draws.values() if doc.get("pool_sha256") == pool
             for v in doc.get("pool", []) if isinstance(v, Mapping) and v.get("id") == expert]
    if not views:
        return "expert"
    if any((v.get("masked") or {}).get(name) != commitment for v in views):
        return "commitment"
    return None


def rederive(
    entries: Sequence[bytes],
    d: Disclosed,
    *,
    trust: TrustConfig | None = None,
    alerts: AlertHook | None = None,
) -> dict[str, Check]:
    """The re-derivation checks (``draw``, ``sheets``, ``result``, ``signatures``,
    ``report`` and ``alerts`` — :func:`check_alerts` unless another hook is given) of a bundle's
    entries and disclosed files."""
    events = parse_entries(entries)
    is_session = any(e.action == "session.created" for e in events)
    runs: list[tuple[str, Callable[[], Check]]] = [
        ("draw", lambda: _check_draw(events, d)),
        ("sheets", lambda: _check_sheets(events, d)),
        ("result", lambda: _check_result(events, d)),
        ("signatures", lambda: _check_signatures(events, d, trust)),
        ("report", lambda: _check_report(entries, events, d)),
    ]
    hook = alerts or check_alerts
    runs.append(("alerts", lambda: hook(events, d)))
    out: dict[str, Check] = {}
    for name, run in runs:
        if d.problems:
            # (Also when the log records no session: what the bundle holds is said.)
            out[name] = Check(False, "文件无法读取 / files do not parse: " + "; ".join(d.problems))
            continue
        if not is_session:
            out[name] = Check(True, "日志中没有评标会话记录 / the log records no evaluation"
                                    " session: nothing to re-derive")
            continue
        try:
            out[name] = run()
        except _Fail as exc:
            out[name] = Check(False, str(exc))
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError,
                EvalsvcError) as exc:
            # A malformed file is a failed check naming what broke, never a crash.
            msg = exc.message if isinstance(exc, EvalsvcError) else repr(exc)
            out[name] = Check(False, f"无法复算 / cannot recompute: {msg}")
    return out


# -- everything at once ------------------------------------------------------------------


@dataclass(frozen=True)
class SealedReport:
    """The named checks of a bundle, and the keys that were trusted."""

    checks: dict[str, Check]
    log: Report
    policy: Policy | None

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        """``{"ok": bool, "checks": {name: {"ok": bool, "detail": str}}, "trusted": …}``."""
        return {
            "ok": self.ok,
            "checks": {name: c.to_json() for name, c in self.checks.items()},
            "trusted": None if self.policy is None else {
                "origin": self.policy.origin,
                "log": self.policy.log_vkey,
                "witnesses": list(self.policy.witness_vkeys),
                "quorum": self.policy.quorum,
            },
        }

    def text(self) -> str:
        """The report for people: keys trusted, each check, the verdict (中文 / English)."""
        lines = [self.log.summary()]
        if self.policy is not None:
            lines.append("信任的密钥 / keys trusted:")
            lines.append(f"  日志 origin  {self.policy.origin}")
            lines.append(f"  日志 log     {self.policy.log_vkey}")
            lines += [f"  见证 witness {w}" for w in self.policy.witness_vkeys]
            lines.append(f"  法定数 quorum {self.policy.quorum}")
        for name, c in self.checks.items():
            mark = "通过 ok  " if c.ok else "失败 FAIL"
            lines.append(f"{mark} {name:<10} {c.detail}")
        lines.append("结论 / verdict: " + ("通过 VERIFIED" if self.ok else "未通过 FAILED"))
        return "\n".join(lines)


def _log_checks(report: Report, policy: Policy | None) -> dict[str, Check]:
    log_fail = [f for f in report.failures if f.check not in _WITNESS_FAILURES]
    wit_fail = [f for f in report.failures if f.check in _WITNESS_FAILURES]
    if log_fail:
        log = Check(False, "日志校验失败 / the log does not verify: "
                    + "; ".join(str(f) for f in log_fail[:5])
                    + (f"; … {len(log_fail) - 5} more" if len(log_fail) > 5 else ""))
    else:
        log = Check(True, f"日志完整 / {report.entries} entries re-derive {report.checkpoints}"
                          f" signed checkpoints (latest size {report.latest_size})")
    if wit_fail:
        wit = Check(False, "见证不足或无效 / witnesses: "
                    + "; ".join(str(f) for f in wit_fail[:5]))
    else:
        quorum = policy.quorum if policy is not None else 0
        names = ", ".join(report.cosigners) or "none"
        if quorum == 0:
            wit = Check(True, "信任策略不要求见证 / the trust policy requires no witness"
                              f" (quorum 0); latest cosigned by {len(report.cosigners)} ({names})")
        else:
            wit = Check(True, f"法定数 {quorum} 已满足 / quorum {quorum} met on every milestone"
                              f" checkpoint; latest cosigned by {len(report.cosigners)}"
                              f" ({names})")
    return {"log": log, "witnesses": wit}


def verify_sealed(
    directory: Path,
    *,
    trusted_policy: str | None,
    trust: TrustConfig | None = None,
    extra_checkpoints: Sequence[tuple[str, str]] = (),
    alerts: AlertHook | None = None,
    openings: Sequence[Mapping[str, Any]] = (),
) -> SealedReport:
    """Verify the log of a bundle and re-derive what it discloses: one check per name;
    with ``openings`` (masked pool fields the primary opened), also ``openings``."""
    report = verify_bundle(
        directory, trusted_policy=trusted_policy, extra_checkpoints=extra_checkpoints
    )
    if directory.is_dir() and unsafe_files(directory):
        # (verify_bundle named each.) Nothing of it is read: the log check fails.
        return SealedReport(_log_checks(report, None), report, None)
    policy: Policy | None = None
    try:
        text = trusted_policy
        if text is None and (directory / "policy").is_file():
            text = bundle_text(directory / "policy")
        policy = parse_policy(text) if text is not None else None
    except EvalsvcError:
        policy = None
    checks = _log_checks(report, policy)
    entries: list[bytes] = []
    if (directory / "entries").is_file():
        entries = (directory / "entries").read_bytes().split(b"\n")[:-1]
    meta = _bundle_meta(directory)
    if meta.get("kind") == "venue-mirror":
        # A venue's own bundle (evalsvc venue export): its redacted view of the log, no
        # sheets or draw inputs to re-derive; say what was not disclosed to it.
        hidden = undisclosed(entries)
        checks["disclosure"] = Check(True, (
            f"副场 {meta.get('venue')} 所见视图：{hidden} 个字段未向该副场公开（仅有摘要） / "
            f"the view of venue {meta.get('venue')}: {hidden} fields not disclosed to it "
            "(digests only); every disclosed field opens its digest"))
        split = _split_view_check(directory, meta, policy)
        if split is not None:
            checks["split_view"] = split
        return SealedReport(checks, report, policy)
    disclosed = read_disclosed(directory)
    checks.update(rederive(entries, disclosed, trust=trust, alerts=alerts))
    raised = _raised_split_views(entries, policy)
    if raised is not None:
        checks["split_view"] = raised
    events = parse_entries(entries)
    recorded = [e for e in events if e.action == POOL_FIELD_OPENED]
    if openings or recorded:
        try:
            checks["openings"] = _check_all_openings(events, disclosed, openings)
        except _Fail as exc:
            checks["openings"] = Check(False, str(exc))
    return SealedReport(checks, report, policy)


def _check_all_openings(events: Sequence[LoggedEvent], d: Disclosed,
                        openings: Sequence[Mapping[str, Any]]) -> Check:
    """``openings``: the masked fields the log records as opened (``pool.field_opened``)
    name commitments the bundled snapshots hold, and each opening handed over
    (``--opening``) opens its commitment — said to be on the record when the log
    records it, or opened outside the API (``evalsvc audit open-pool``) otherwise."""
    recorded = check_recorded_openings(events, d)
    if not openings or not recorded.ok:
        return recorded
    given = check_openings(d, openings)
    logged = {(str(e.payload.get("expert_id")), str(e.payload.get("field")),
               str(e.payload.get("commitment"))): e.seq
              for e in events if e.action == POOL_FIELD_OPENED}
    notes = []
    for o in openings:
        key = (str(o.get("expert")), str(o.get("field")), str(o.get("commitment")))
        seq = logged.get(key)
        notes.append(f"{key[0]}.{key[1]}: " + (
            f"开启记录在案 seq {seq} / on the record at seq {seq}" if seq is not None else
            "日志中没有开启记录（在 API 之外开启）/ not on the record: opened outside the API"))
    return Check(True, f"{given.detail}; {recorded.detail}; " + "; ".join(notes))


def check_recorded_openings(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    """The ``pool.field_opened`` events of the log (docs/audit.md "Opening one field"):
    each names an expert and field whose commitment in the bundled snapshot of its
    ``pool_sha256`` is the one it says was opened — a primary that recorded one
    opening and handed over another fails here. The events carry no value to check."""
    try:
        return _recorded_openings(events, d)
    except _Fail as exc:
        return Check(False, str(exc))


def _recorded_openings(events: Sequence[LoggedEvent], d: Disclosed) -> Check:
    lines: list[str] = []
    for e in events:
        if e.action != POOL_FIELD_OPENED:
            continue
        expert, name = str(e.payload.get("expert_id")), str(e.payload.get("field"))
        pool, commitment = str(e.payload.get("pool_sha256")), e.payload.get("commitment")
        found = _in_snapshot(d, pool, expert, name, commitment)
        if found == "expert":
            raise _Fail(f"seq {e.seq}: 记录开启的专家 {expert} 不在包中专家库快照 {pool[:16]}… / "
                        f"the opening recorded names an expert in no bundled snapshot {pool}")
        if found == "commitment":
            raise _Fail(f"seq {e.seq}: 记录开启的承诺不是快照中 {expert}.{name} 的承诺 / the "
                        "commitment recorded as opened is not the snapshot's for that field")
        lines.append(f"seq {e.seq} {expert}.{name}")
    return Check(True, f"日志记录的 {len(lines)} 次开启均指向快照中的承诺 / {len(lines)} "
                       "openings on the record name commitments of the draw's pool snapshot"
                       + (": " + ", ".join(lines) if lines else ""))


def _raised_split_views(entries: Sequence[bytes], policy: Policy | None) -> Check | None:
    """``split_view``: the log records a split view a venue reported (``alert.raised``,
    docs/audit.md "Split views"); each one's evidence is checked against the trusted log
    key. None when the log records none."""
    found = [e for e in parse_entries(entries)
             if e.action == splitview.ALERT_EVENT and e.payload.get("rule") == splitview.SPLIT_VIEW]
    if not found:
        return None
    details = []
    for e in found:
        doc = {"venue": e.payload.get("venue_id"), "kind": "fork",
               "evidence": e.payload.get("evidence")}
        _, detail = splitview.bundle_check(doc, origin=policy.origin if policy else None,
                                           log_vkey=policy.log_vkey if policy else None)
        details.append(f"seq {e.seq}: {detail}")
    return Check(False, "日志记录了副场报告的分叉视图 / the log records split views reported by"
                        " venues — " + "; ".join(details))


def _split_view_check(
    directory: Path, meta: Mapping[str, Any], policy: Policy | None
) -> Check | None:
    """``split_view``: the venue caught a split view (its evidence file, checked against
    the trusted log key when it is a fork); None when the bundle holds none."""
    path = directory / splitview.EVIDENCE_FILE
    if not path.is_file():
        if meta.get("split_view"):
            return Check(False, "bundle.json 记有分叉视图，但证据文件缺失 / bundle.json records"
                                f" a split view but {splitview.EVIDENCE_FILE} is missing")
        return None
    try:
        doc = bundle_json(path)
    except (OSError, InvalidInput) as exc:
        why = exc.message if isinstance(exc, InvalidInput) else str(exc)
        return Check(False, f"分叉证据无法读取 / the split-view evidence does not read: {why}")
    ok, detail = splitview.bundle_check(
        doc, origin=policy.origin if policy else None,
        log_vkey=policy.log_vkey if policy else None)
    return Check(ok, detail)


def _bundle_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = bundle_json(directory / "bundle.json")
    except (OSError, InvalidInput):
        return {}
    return meta if isinstance(meta, dict) else {}
