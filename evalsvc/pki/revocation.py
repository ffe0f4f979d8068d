"""Revocation by CRL (RFC 5280 §6.3), for RSA-, ECDSA- and SM2-signed CRLs. Pure.

For every certificate of a validated chain except the anchor, the CRLs whose issuer name
is the certificate's issuer and whose signature the issuer's key made (§6.3.3 (b), (f),
(g)) are considered:

- a serial number listed in any such CRL with a revocation date not after ``at`` →
  :class:`~evalsvc.errors.CertificateRevoked` (a stale CRL is still evidence of revocation);
- otherwise a CRL is *fresh* when ``thisUpdate <= at < nextUpdate`` (§5.1.2.4-5; a CRL
  without nextUpdate is never fresh). No fresh CRL → in ``require`` mode
  :class:`~evalsvc.errors.RevocationUnavailable`; in ``soft-fail`` mode a
  :class:`RevocationWarning` the caller turns into a supervisor alert.

Not implemented (documented in docs/pki.md): delta CRLs (ignored), indirect CRLs and
distribution-point scoping (a CRL applies to every certificate of its issuer), OCSP.
"""

from __future__ import annotations

__all__ = [
    "RevocationMode",
    "RevocationWarning",
    "chain_crls",
    "check_revocation",
]

import datetime as _dt
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import CertificateRevoked, RevocationUnavailable
from evalsvc.pki.names import subject_text
from evalsvc.pki.signatures import crl_signed_by


class RevocationMode(StrEnum):
    """What to do when no fresh CRL is at hand."""

    REQUIRE = "require"  # signing actions: refuse
    SOFT_FAIL = "soft-fail"  # read-only access: allow, warn the supervisor
    OFF = "off"  # not checked at all (tests of path building only; visible in results)


@dataclass(frozen=True, slots=True)
class RevocationWarning:
    """Revocation status could not be established for one certificate."""

    subject: str
    serial: int
    reason: str

    def __str__(self) -> str:
        return f"{self.subject} (serial {self.serial:x}): {self.reason}"


def _describe(cert: x509.Certificate) -> str:
    return subject_text(cert)


def _is_delta(crl: x509.CertificateRevocationList) -> bool:
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    except x509.ExtensionNotFound:
        return False
    return True


# CRLs are shared by every certificate of an issuer, so their signature check is memoised
# per (CRL, issuer) pair: a result depends only on the two encodings.
_SIGNED_MEMO: dict[tuple[bytes, bytes], bool] = {}


def _crl_signed(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = (crl.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    hit = _SIGNED_MEMO.get(key)
    if hit is None:
        if len(_SIGNED_MEMO) > 1024:
            _SIGNED_MEMO.clear()
        hit = _SIGNED_MEMO[key] = crl_signed_by(crl, issuer)
    return hit


_ISSUER_MEMO: dict[int, tuple[x509.CertificateRevocationList, bytes]] = {}


def _issuer_der(crl: x509.CertificateRevocationList) -> bytes:
    # Comparing x509.Name objects rebuilds them on every access; the issuer's DER is
    # computed once per CRL object (CRLs live in the long-lived trust config / cache).
    hit = _ISSUER_MEMO.get(id(crl))
    if hit is not None and hit[0] is crl:
        return hit[1]
    if len(_ISSUER_MEMO) > 1024:
        _ISSUER_MEMO.clear()
    der = crl.issuer.public_bytes()
    _ISSUER_MEMO[id(crl)] = (crl, der)
    return der


def _crl_defect(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> str | None:
    """Why ``crl`` cannot be relied on, or ``None`` (signature is checked separately)."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        # RFC 5280 §5.2.3: conforming CRL issuers MUST include the CRL number.
        return "it has no cRLNumber extension (RFC 5280 §5.2.3)"
    if number.critical:
        return "its cRLNumber extension is marked critical (RFC 5280 §5.2.3: non-critical)"
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not ku.crl_sign:
        # RFC 5280 §6.3.3 (f): the CRL issuer's key usage must allow cRLSign.
        return f"its issuer {subject_text(issuer)} lacks the cRLSign key usage"
    return None


def check_revocation(
    chain: Sequence[x509.Certificate],
    crls: Iterable[x509.CertificateRevocationList],
    *,
    at: _dt.datetime,
    mode: RevocationMode,
) -> tuple[RevocationWarning, ...]:
    """Check every certificate of ``chain`` (leaf first, anchor last) against ``crls``."""
    if mode is RevocationMode.OFF:
        return ()
    all_crls = list(crls)
    warnings: list[RevocationWarning] = []
    for cert, issuer in itertools.pairwise(chain):
        wanted = cert.issuer.public_bytes()
        candidates = [c for c in all_crls if _issuer_der(c) == wanted and not _is_delta(c)]
        signed = [c for c in candidates if _crl_signed(c, issuer)]
        defects = [(c, _crl_defect(c, issuer)) for c in signed]
        verified = [c for c, d in defects if d is None]
        for crl in verified:
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                raise CertificateRevoked(
                    f"certificate {_describe(cert)} (serial {cert.serial_number:x}) was revoked "
                    f"at {entry.revocation_date_utc.isoformat()} per the CRL of "
                    f"{crl.issuer.rfc4514_string()} dated {crl.last_update_utc.isoformat()}"
                )
        fresh = [
            c
            for c in verified
            if c.last_update_utc <= at and c.next_update_utc is not None and at < c.next_update_utc
        ]
        if fresh:
            continue
        if verified:
            newest = max(verified, key=lambda c: c.last_update_utc)
            until = (
                newest.next_update_utc.isoformat() if newest.next_update_utc else "no nextUpdate"
            )
            reason = (
                f"no fresh CRL from {cert.issuer.rfc4514_string()}: the newest "
                f"(thisUpdate {newest.last_update_utc.isoformat()}) is valid until {until}, "
                f"checked at {at.isoformat()}"
            )
        elif signed:
            reason = f"the CRL from {cert.issuer.rfc4514_string()} is unusable: " + "; ".join(
                d for _c, d in defects if d
            )
        elif candidates:
            reason = (
                f"the CRL(s) named {cert.issuer.rfc4514_string()} are not signed by the "
                "issuer's key (tampered or from another CA)"
            )
        else:
            reason = f"no CRL from {cert.issuer.rfc4514_string()} is loaded"
        if mode is RevocationMode.REQUIRE:
            raise RevocationUnavailable(
                f"revocation status of {_describe(cert)} unknown and required: {reason}"
            )
        warnings.append(RevocationWarning(_describe(cert), cert.serial_number, reason))
    return tuple(warnings)


def chain_crls(
    chain: Sequence[x509.Certificate], crls: Iterable[x509.CertificateRevocationList]
) -> dict[str, bytes]:
    """The CRLs :func:`check_revocation` consults for ``chain`` (leaf first, anchor
    last) — those named by the issuer of one of its certificates, delta CRLs left out —
    as DER bytes by their SHA-256 (hex): what a signature was checked with, to keep."""
    wanted = {cert.issuer.public_bytes() for cert in chain[:-1]}
    out: dict[str, bytes] = {}
    for crl in crls:
        if _issuer_der(crl) in wanted and not _is_delta(crl):
            der = crl.public_bytes(Encoding.DER)
            out[hashlib.sha256(der).hexdigest()] = der
    return out
