"""暗标: a technical sheet signed by code (docs/pki.md "Signed sheets") verifies offline
over the opened sheet re-keyed by the codes the log opened — and only by those."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evalsvc.audit.rederive import Disclosed, LoggedEvent, _check_signatures, _Fail
from evalsvc.pki.challenge import sign_document
from evalsvc.pki.devpki import build_dev_pki, write_dev_pki
from evalsvc.pki.trust import load_trust

SHOWN = {"stage": "technical", "bids": {"A01": {"T1": "45"}, "A02": {"T1": "30"}}}
STORED = {"stage": "technical", "bids": {"B2": {"T1": "45"}, "B1": {"T1": "30"}}}


def _case(tmp_path: Path) -> tuple[dict[str, Any], Disclosed, Any, int]:
    now = dt.datetime.now(dt.UTC)
    pki = build_dev_pki(now)
    write_dev_pki(pki, tmp_path / "certs")
    leaf = pki.leaves["expert-zhang-ZJ"]
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                  for c in (leaf.cert, pki.regions["ZJ"].intermediate.cert))
    sha = hashlib.sha256(leaf.cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    # The CRLs in force at signing time, named in the record by SHA-256 (DER), as the
    # server logs them (docs/audit.md "CRLs at signing time").
    ders = [x509.load_pem_x509_crl(p.read_bytes()).public_bytes(serialization.Encoding.DER)
            for p in sorted((tmp_path / "certs").rglob("crls/*.pem"))]
    crls = {hashlib.sha256(der).hexdigest(): der for der in ders}
    record = {"value": base64.b64encode(sign_document(leaf.key, SHOWN)).decode(),
              "certificate_sha256": sha, "bid_keys": "codes", "crls": sorted(crls)}
    opened = {"seat": 0, "stage": "technical", "version": 1, "sheet": STORED,
              "signature": record}
    d = Disclosed(sheets=[opened], certs={sha: pem}, crls=crls)
    return record, d, load_trust(tmp_path / "certs"), int(now.timestamp() * 1000)


def _events(codes: dict[str, str], at: int) -> list[LoggedEvent]:
    return [LoggedEvent(1, "sheet.submitted", {"seat": 0, "stage": "technical", "version": 1}, at),
            LoggedEvent(2, "codes.opened", {"codes": codes}, at)]


def test_a_sheet_signed_by_code_verifies_with_the_opened_codes(tmp_path: Path) -> None:
    record, d, trust, at = _case(tmp_path)
    check = _check_signatures(_events({"A01": "B2", "A02": "B1"}, at), d, trust)
    assert check.ok and "1 signed sheets verified" in check.detail, check
    # Other codes than those signed under: the scores land on other codes, it fails.
    with pytest.raises(_Fail, match="signature invalid"):
        _check_signatures(_events({"A01": "B1", "A02": "B2"}, at), d, trust)
    # No codes opened: said so, not a crash.
    with pytest.raises(_Fail, match="the log opens no codes"):
        _check_signatures(_events({}, at)[:1], d, trust)
    # Without the record's marker the bid-keyed bytes are checked, which were not signed.
    plain = {k: v for k, v in record.items() if k != "bid_keys"}
    assert d.sheets is not None
    d2 = Disclosed(sheets=[{**d.sheets[0], "signature": plain}], certs=d.certs, crls=d.crls)
    with pytest.raises(_Fail, match="signature invalid"):
        _check_signatures(_events({"A01": "B2", "A02": "B1"}, at), d2, trust)
