"""Certificate subjects for messages and logs, with personal numbers masked. Pure.

Error messages travel to logs, HTTP responses and supervisor alerts; a resident ID
number in a subject ``serialNumber`` (2.5.4.5) must not (个人信息保护法 第28条: 身份证件号码
is sensitive personal information). CA names (issuers) carry no personal data.
"""

from __future__ import annotations

__all__ = ["subject_text"]

from cryptography import x509
from cryptography.x509.oid import NameOID


def _mask(value: str) -> str:
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]


def subject_text(cert: x509.Certificate) -> str:
    """RFC 4514 subject with every serialNumber value masked (``SF3101************9``)."""
    parts = []
    for rdn in reversed(list(cert.subject.rdns)):
        attrs = []
        for attr in rdn:
            if attr.oid == NameOID.SERIAL_NUMBER:
                attrs.append(f"serialNumber={_mask(str(attr.value))}")
            else:
                attrs.append(x509.Name([attr]).rfc4514_string())
        parts.append("+".join(attrs))
    return ",".join(parts) or "(empty subject)"
