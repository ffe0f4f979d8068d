"""``evalsvc report verify``: check a report PDF offline, trusting nothing in it.

Checks, each named (in Chinese and English) when it fails:

1. the PDF carries the attachments ``report.json`` and ``signatures.json``;
2. ``report.json`` is an evaluation report in RFC 8785 canonical form — exactly the bytes
   the members signed;
3. its SHA-256 is the one printed on every page;
4. every signature in ``signatures.json`` names that SHA-256 and verifies over those bytes
   with its certificate (and, given trust anchors, the certificate chains to one of them
   for signing at the time it signed — :mod:`evalsvc.pki.validate`);
5. every seat's ``report.signed`` event is in the audit checkpoint printed on every page:
   its leaf names this report (and the signature given), and its C2SP tlog-proof includes
   it under that checkpoint's root (RFC 9162 §2.1.3.2); given the log's verifier key, the
   checkpoint's signature is checked too.

Seats that signed without a certificate (token login) are listed as such: their signature
is only the ``report.signed`` event in the audit log, checked with ``evalsvc audit verify``.
"""

from __future__ import annotations

__all__ = ["Check", "Verification", "pdf_attachments", "verify_report_pdf"]

import base64
import binascii
import datetime as _dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import EvalsvcError
from evalsvc.pki.challenge import parse_presented_chain
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import verify_signature
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, validate
from evalsvc.report.document import REPORT_TYPE

_PRINTED = re.compile(r"SHA-256:([0-9a-f]{64})")
_CHECKPOINT = re.compile(r"审计检查点:(\S+?)树大小(\d+)根([A-Za-z0-9+/]{43}=)")


@dataclass(frozen=True)
class Check:
    """One check: what (中文 / English), whether it passed, and the detail."""

    zh: str
    en: str
    ok: bool
    detail: str = ""


@dataclass
class Verification:
    """Every check made; ``ok`` when all passed."""

    checks: list[Check] = field(default_factory=list)
    report_sha256: str | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)  # name → bytes, as embedded
    checkpoints: tuple[tuple[str, str, str], ...] = ()  # (origin, size, root) printed

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, zh: str, en: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(zh, en, ok, detail))
        return ok

    def summary(self) -> str:
        """One line per check, then the verdict, in Chinese and English."""
        lines = [
            f"{'通过' if c.ok else '失败'} / {'PASS' if c.ok else 'FAIL'}: {c.zh} / {c.en}"
            + (f" — {c.detail}" if c.detail else "")
            for c in self.checks
        ]
        lines.append(
            "评标报告校验通过 / the report verifies"
            if self.ok
            else "评标报告校验失败 / the report does NOT verify"
        )
        return "\n".join(lines)


def pdf_attachments(data: bytes) -> tuple[dict[str, bytes], list[str]]:
    """The embedded files of a PDF (name → bytes) and the text of each page; raises
    whatever pypdf raises for a damaged file."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    files = {name: contents[0] for name, contents in reader.attachments.items() if contents}
    texts = [page.extract_text() or "" for page in reader.pages]
    return files, texts


def verify_report_pdf(
    data: bytes, *, trust: TrustConfig | None = None, log_vkey: str | None = None
) -> Verification:
    """Check the report PDF ``data`` (see the module docstring); never raises for a bad
    PDF, it fails the check that found it. ``trust``: CA anchors the signers' certificates
    must chain to; ``log_vkey``: the session log's verifier key (C2SP signed-note)."""
    v = Verification()
    try:
        files, pages = pdf_attachments(data)
        v.attachments = files
    except Exception as exc:  # pypdf raises many kinds for a damaged file
        v.add("PDF 可解析", "the PDF parses", False, f"{type(exc).__name__}: {exc}")
        return v
    report, sigs = files.get("report.json"), files.get("signatures.json")
    if not v.add(
        "PDF 附有 report.json 与 signatures.json",
        "the PDF carries report.json and signatures.json",
        report is not None and sigs is not None,
        f"附件 / attachments: {', '.join(sorted(files)) or '无 / none'}",
    ):
        return v
    assert report is not None and sigs is not None
    try:
        doc = json.loads(report)
        canonical = canonical_bytes(doc) == report and doc.get("type") == REPORT_TYPE
        detail = "" if canonical else "非 RFC 8785 规范形式或类型不符 / not canonical, not a report"
    except (ValueError, AttributeError, RecursionError) as exc:  # (nested 100k deep)
        doc, canonical, detail = None, False, f"JSON: {exc}"
    if not v.add("report.json 为规范形式的评标报告", "report.json is a canonical report",
                 canonical, detail):
        return v
    digest = hashlib.sha256(report).hexdigest()
    v.report_sha256 = digest
    # (pypdf reads this CID font's text with NULs between glyphs: drop them with the spaces.)
    flat = [re.sub(r"[\s\x00]+", "", text) for text in pages]
    printed = [_PRINTED.findall(text) for text in flat]
    missing = [i + 1 for i, found in enumerate(printed) if not found]
    wrong = sorted({h for found in printed for h in found if h != digest})
    v.add(
        "每页印有的 SHA-256 与 report.json 一致",
        "the SHA-256 printed on every page matches report.json",
        bool(pages) and not missing and not wrong,
        f"report.json SHA-256 {digest}"
        + (f"; 缺少页 / pages without it: {missing}" if missing else "")
        + (f"; 印有 / printed: {', '.join(wrong)}" if wrong else ""),
    )
    checkpoints = {m for text in flat for m in _CHECKPOINT.findall(text)}
    v.checkpoints = tuple(sorted(checkpoints))
    _check_signatures(v, report, digest, sigs, trust)
    _check_audit(v, doc, digest, sigs, checkpoints, log_vkey)
    return v


def _check_signatures(
    v: Verification, report: bytes, digest: str, sigs: bytes, trust: TrustConfig | None
) -> None:
    try:
        doc = json.loads(sigs)
        entries: list[dict[str, Any]] = list(doc["signatures"])
        unsigned = [int(x["seat"]) for x in doc.get("without_certificate", [])]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        v.add("signatures.json 可读", "signatures.json parses", False, str(exc))
        return
    if not entries:
        v.add("成员的数字签名", "the members' certificate signatures", True,
              "无数字签名（成员以口令登录签署，见审计日志）/ none: members signed by token login")
    for e in entries:
        seat = e.get("seat")
        label_zh, label_en = f"第 {int(seat) + 1} 席的签名" if isinstance(seat, int) else "签名", (
            f"the signature of seat {seat}"
        )
        try:
            if e.get("report_sha256") != digest:
                raise _Bad(f"签署的报告 SHA-256 为 {e.get('report_sha256')}，与 report.json 不符 / "
                           "signed another report")
            leaf, chain = parse_presented_chain(str(e["certificate"]).encode("utf-8"))
            cert_sha = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
            if cert_sha != e["signature"].get("certificate_sha256"):
                raise _Bad("证书与签名记录不符 / certificate differs from the recorded one")
            value = base64.b64decode(e["signature"]["value"], validate=True)
            verify_signature(leaf, report, value)
            detail = f"{_subject(leaf)}，{e['signature'].get('algorithm', '')}"
            if trust is not None:
                at = _dt.datetime.fromtimestamp(int(e["signed_at_ms"]) / 1000, _dt.UTC)
                result = validate(leaf, trust=trust, at=at, usage=Usage.SIGNING,
                                  intermediates=chain, revocation=RevocationMode.SOFT_FAIL)
                detail += (
                    f"，证书链至 {result.region} 受信根 / chains to a trusted {result.region} root"
                )
            else:
                detail += "（未提供 --trusted-keys，证书链未校验 / chain not checked)"
            v.add(label_zh + "有效", label_en + " verifies", True, detail)
        except (_Bad, EvalsvcError) as exc:
            v.add(label_zh + "有效", label_en + " verifies", False, str(exc))
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            v.add(label_zh + "有效", label_en + " verifies", False,
                  f"记录不完整 / malformed: {exc}")
    if unsigned:
        seats = "、".join(f"第 {s + 1} 席" for s in unsigned)
        v.add("无证书签署的席位已列明", "seats signed without a certificate are listed", True,
              f"{seats}（口令登录，签署记录在审计日志 / token login, see the audit log)")


class _Bad(Exception):
    pass


def _check_audit(
    v: Verification,
    report: dict[str, Any],
    digest: str,
    sigs: bytes,
    printed: set[tuple[str, str, str]],
    log_vkey: str | None,
) -> None:
    from evalsvc.audit.leaf import open_entry
    from evalsvc.audit.merkle import leaf_hash, verify_inclusion
    from evalsvc.audit.note import parse_checkpoint, parse_tlog_proof, verify_tlog_proof

    try:
        doc = json.loads(sigs)
        attached = [*doc["signatures"], *doc.get("without_certificate", [])]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return  # reported by the signature check
    with_proof = [x for x in attached if isinstance(x, dict) and "audit" in x]
    if not printed:
        v.add("审计检查点", "the audit checkpoint", not with_proof,
              "报告未印检查点（草稿，尚无签署）/ none printed (a draft nobody signed yet)"
              if not with_proof else "附有审计证明但页面未印检查点 / proofs but no checkpoint")
        return
    if not with_proof:
        v.add("审计检查点", "the audit checkpoint", True,
              "未附审计证明（草稿）/ no audit proofs attached (a draft)")
        return
    if len(printed) != 1:
        v.add("每页印有同一审计检查点", "every page prints the same audit checkpoint", False,
              f"{len(printed)} 个不同 / different ones")
        return
    origin, size, root = next(iter(printed))
    for x in attached:
        seat = x.get("seat")
        zh = f"第 {int(seat) + 1} 席的签署在审计检查点中" if isinstance(seat, int) else "签署记录"
        en = f"the signing of seat {seat} is in the audit checkpoint"
        try:
            if "audit" not in x:
                raise _Bad("未附审计证明 / no audit proof attached")
            raw = base64.b64decode(x["audit"]["leaf"], validate=True)
            entry = open_entry(raw).to_event()  # the logged entry, every field disclosed
            leaf = open_entry(raw).leaf
            pl = entry["payload"]
            if (entry["action"], entry["session"], pl["report_sha256"], pl["seat"]) != (
                "report.signed", report["session"], digest, seat
            ):
                raise _Bad("审计记录不是本席位对本报告的签署 / the entry is not this seat "
                           "signing this report")
            signature = x.get("signature")
            if isinstance(signature, dict) and (pl.get("signature") or {}).get(
                "value"
            ) != signature.get("value"):
                raise _Bad("审计记录中的签名与附件不符 / the logged signature differs")
            proof_text = str(x["audit"]["tlog_proof"])
            proof = parse_tlog_proof(proof_text)
            cp = parse_checkpoint(proof.checkpoint)
            if (cp.origin, str(cp.size), base64.b64encode(cp.root).decode()) != (
                origin, size, root
            ):
                raise _Bad("证明所依检查点与页面所印不符 / the proof's checkpoint is not "
                           "the one printed")
            if proof.index != int(entry["seq"]) - 1:
                raise _Bad(f"证明的条目序号 {proof.index} 与记录不符 / wrong entry index")
            verify_inclusion(index=proof.index, size=cp.size, leaf_hash=leaf_hash(leaf),
                             proof=proof.proof, root=cp.root)
            detail = f"条目 / entry {proof.index}，树大小 / tree size {cp.size}"
            if log_vkey is not None:
                verify_tlog_proof(proof_text, data=leaf, log_vkey=log_vkey)
                detail += "，检查点签名有效 / checkpoint signature verifies"
            else:
                detail += "（未提供 --log-key，检查点签名未校验 / checkpoint signature not checked)"
            v.add(zh, en, True, detail)
        except (_Bad, EvalsvcError) as exc:
            v.add(zh, en, False, str(exc))
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            v.add(zh, en, False, f"记录不完整 / malformed: {exc}")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()
