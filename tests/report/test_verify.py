"""``evalsvc report verify``: a report PDF signed by certificate checks offline, and each
kind of tampering fails naming what."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Harness, qualification_sheet, scoring_sheet
from pki.test_login_api import _signed, evaluating_session, login, pem_chain

from evalsvc.cli import main
from evalsvc.pki.devpki import DevPki, build_dev_pki, write_dev_pki
from evalsvc.pki.signatures import sign
from evalsvc.pki.trust import load_trust
from evalsvc.report.verify import verify_report_pdf
from report.helpers import fetch

ZJ = "expert-zhang-ZJ"


AUDIT = [f"the signing of seat {i} is in the audit checkpoint" for i in range(7)]


async def _signed_pdf(capi: Harness, devpki: DevPki) -> tuple[bytes, str]:
    """A sealed session whose seat 0 (张伟, certificate login) signed the report with
    his SM2 key; the other seats by token. Returns the supervisor's PDF and the sha."""
    sid, seats = await evaluating_session(capi)
    zhang = (await login(capi, devpki, sid, ZJ))[1]["token"]
    others = [capi.expert(f"E-{i}", s["venue_id"]) for i, s in enumerate(seats) if i > 0]
    for stage, sheet in (("qualification", qualification_sheet()), ("scoring", scoring_sheet())):
        status, ack = await capi.submit(sid, zhang, _signed(devpki, ZJ, sheet), key=f"z-{stage}")
        assert status == 201, ack
        for i, tok in enumerate(others):
            assert (await capi.submit(sid, tok, sheet, key=f"o{i}-{stage}"))[0] == 201
        lock = "lock_qualification" if stage == "qualification" else "lock_scoring"
        assert (await capi.command(sid, capi.op(), lock))[0] == 200
    assert (await capi.command(sid, capi.op(), "start_report"))[0] == 200
    _, rep = await capi.call("GET", f"/api/sessions/{sid}/report", zhang)
    sig = sign(devpki.leaves[ZJ].key, base64.b64decode(rep["signing_bytes"]))
    status, body = await capi.command(
        sid, zhang, "sign_report",
        signature=base64.b64encode(sig).decode(), certificate=pem_chain(devpki, ZJ),
        report_sha256=rep["sha256"],
    )
    assert status == 200 and body["signed"], body
    for tok in others:
        assert (await capi.command(sid, tok, "sign_report"))[0] == 200
    assert (await capi.command(sid, capi.op(), "seal"))[0] == 200
    status, pdf, _ = await fetch(capi, sid, "pdf", capi.op("js-suzhou"))
    assert status == 200, pdf
    status, key = await capi.call("GET", f"/api/sessions/{sid}/audit/key", capi.sup)
    assert status == 200, key
    capi.log_vkey = key["log_vkey"]  # type: ignore[attr-defined]
    return pdf, rep["sha256"]


def _failed(result: Any) -> list[str]:
    return [c.en for c in result.checks if not c.ok]


def _swap(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """Edit the PDF in place (same length, so its cross-reference table stays valid):
    what someone altering a file by hand would do."""
    assert len(old) == len(new) and pdf.count(old) >= 1, old
    return pdf.replace(old, new)


def _signatures_json(pdf: bytes) -> dict[str, Any]:
    start = pdf.index(b'{"report_sha256"')
    end = pdf.index(b"endstream", start)
    return dict(json.loads(pdf[start:end].strip()))


async def test_a_signed_report_verifies_offline_with_and_without_trust_anchors(
    capi: Harness, devpki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf, sha = await _signed_pdf(capi, devpki)
    result = verify_report_pdf(pdf)
    assert result.ok, result.summary()
    assert result.report_sha256 == sha
    seat_check = next(c for c in result.checks if c.en == "the signature of seat 0 verifies")
    assert "证书链未校验" in seat_check.detail  # no anchors given: said so
    certs = tmp_path / "certs"
    write_dev_pki(devpki, certs)
    trusted = verify_report_pdf(pdf, trust=load_trust(certs), log_vkey=capi.log_vkey)
    assert trusted.ok, trusted.summary()
    logged = [c for c in trusted.checks if c.en in AUDIT]
    assert len(logged) == 7 and all("检查点签名有效" in c.detail for c in logged)
    seat_check = next(c for c in trusted.checks if c.en == "the signature of seat 0 verifies")
    assert "ZJ" in seat_check.detail and "sm2" in seat_check.detail
    # The command line says it, in Chinese and English, and exits 0.
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    assert main(["report", "verify", str(path), "--trusted-keys", str(certs),
                 "--log-key", capi.log_vkey]) == 0
    out = capsys.readouterr().out
    assert "评标报告校验通过 / the report verifies" in out
    assert "第 1 席的签名有效" in out and "第 2 席" in out  # the token signers listed


async def test_anchors_of_another_pki_reject_the_signers_chain(
    capi: Harness, devpki: DevPki, tmp_path: Path
) -> None:
    pdf, _ = await _signed_pdf(capi, devpki)
    other = tmp_path / "other"
    write_dev_pki(build_dev_pki(dt.datetime.now(dt.UTC)), other)
    result = verify_report_pdf(pdf, trust=load_trust(other))
    assert _failed(result) == ["the signature of seat 0 verifies"], result.summary()


async def test_another_logs_key_rejects_the_checkpoint(capi: Harness, devpki: DevPki) -> None:
    from evalsvc.audit.note import generate_key

    pdf, _ = await _signed_pdf(capi, devpki)
    origin = capi.log_vkey.split("+", 1)[0]
    _, impostor = generate_key(origin)  # same name, another key
    result = verify_report_pdf(pdf, log_vkey=impostor)
    assert _failed(result) == AUDIT, result.summary()


async def test_tampering_fails_naming_what(
    capi: Harness, devpki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf, sha = await _signed_pdf(capi, devpki)
    assert verify_report_pdf(pdf).ok

    # The embedded report: another bidder's price. The printed SHA-256 no longer matches
    # and the member's signature no longer covers it.
    price = b'"price_fen":9500000,'
    cheaper = b'"price_fen":9400000,'
    forged = _swap(pdf, price, cheaper)
    result = verify_report_pdf(forged)
    assert _failed(result) == [
        "the SHA-256 printed on every page matches report.json",
        "the signature of seat 0 verifies",
        *AUDIT,  # no seat's logged signing names this report
    ], result.summary()

    # A signature altered: only that seat's check fails.
    record = _signatures_json(pdf)["signatures"][0]["signature"]["value"]
    raw = bytearray(base64.b64decode(record))
    raw[-5] ^= 0x01
    bad = base64.b64encode(bytes(raw)).decode()
    assert len(bad) == len(record)
    result = verify_report_pdf(_swap(pdf, record.encode(), bad.encode()))
    assert _failed(result) == ["the signature of seat 0 verifies", AUDIT[0]], result.summary()
    assert "审计记录中的签名与附件不符" in result.summary()

    # A hash of one seat's inclusion proof altered: only that seat's audit check fails.
    entry = _signatures_json(pdf)["without_certificate"][2]
    proof_hash = entry["audit"]["tlog_proof"].split("\n")[2]
    flipped = ("A" if proof_hash[0] != "A" else "B") + proof_hash[1:]
    result = verify_report_pdf(_swap(pdf, proof_hash.encode(), flipped.encode()))
    assert _failed(result) == [AUDIT[entry["seat"]]], result.summary()

    # The signature record claims another report.
    other = ("0" if sha[0] != "0" else "1") + sha[1:]
    claimed = b'"report_sha256":"' + sha.encode() + b'","seat":0'
    result = verify_report_pdf(_swap(pdf, claimed, claimed.replace(sha.encode(), other.encode())))
    assert _failed(result) == ["the signature of seat 0 verifies"], result.summary()
    assert "与 report.json 不符" in next(c.detail for c in result.checks if not c.ok)

    # Not a PDF at all; a PDF without the attachments.
    assert _failed(verify_report_pdf(b"%PDF-1.7 garbage")) == ["the PDF parses"]
    stripped = _swap(pdf, b"/EmbeddedFiles", b"/EmbeddedFilez")
    assert _failed(verify_report_pdf(stripped)) == [
        "the PDF carries report.json and signatures.json"
    ]

    # The command line exits 1 and names the failed check in Chinese.
    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    assert main(["report", "verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert "失败 / FAIL: 每页印有的 SHA-256 与 report.json 一致" in err
    assert "评标报告校验失败" in err
