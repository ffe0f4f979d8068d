"""Subjects in messages never carry a full resident ID number."""

from __future__ import annotations

from evalsvc.pki.devpki import LI_ID, DevPki
from evalsvc.pki.names import subject_text


def test_serial_number_is_masked(pki: DevPki) -> None:
    text = subject_text(pki.leaves["expert-li-JS"].cert)
    assert LI_ID not in text
    assert text.startswith("serialNumber=ID:320") and "CN=李娜" in text


def test_subject_without_serial_number_is_unchanged(pki: DevPki) -> None:
    cert = pki.regions["ZJ"].root.cert
    assert subject_text(cert) == cert.subject.rfc4514_string()
