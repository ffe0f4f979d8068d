"""Our own RFC 5280 §6.1 path building, used where ``cryptography``'s verifier cannot be.

Used for SM2 chains (``cryptography`` cannot verify SM2 signatures), for ``--usage ca``
(the target is itself a CA, which a webpki end-entity policy refuses), and to name the
*specific* reason when ``cryptography`` refuses a chain (its errors are prose).

Checks per certificate on the path (§6.1.3, §6.1.4): signature by the next certificate's
key, name chaining (issuer == next subject; AKI/SKI must agree when both are present),
validity at ``at``, basicConstraints cA for every issuer (anchors with no basicConstraints
are accepted, as RFC 5280 §6.1 puts no requirement on trust anchor certificates),
keyCertSign when keyUsage is present, pathLenConstraint, no repeated certificate, and a
maximum number of intermediates (self-issued ones not counted for either, §4.2.1.9).
Unknown critical extensions are refused (§4.2).
Not checked: name constraints and certificate policies (documented skip; the limbo
suite runs through ``cryptography`` for those). Pure.
"""

from __future__ import annotations

__all__ = ["build_path", "check_key_strength", "check_validity"]

import datetime as _dt
import hashlib
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from evalsvc.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRejected,
    CertificateSignatureInvalid,
    ChainTooDeep,
    UnknownIssuer,
    WrongKeyUsage,
)
from evalsvc.pki.names import subject_text
from evalsvc.pki.signatures import issued_by, public_key_of

# Extensions this builder understands (RFC 5280 §4.2: refuse unknown critical ones).
_KNOWN = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}


_BUDGET = 256


def _fp(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.tbs_certificate_bytes + cert.signature).digest()


def _name(cert: x509.Certificate) -> str:
    return subject_text(cert)


def check_validity(cert: x509.Certificate, at: _dt.datetime) -> None:
    """RFC 5280 §6.1.3 (a)(2): ``notBefore <= at <= notAfter``.

    Certificate times have whole seconds (RFC 5280 §4.1.2.5), so ``at`` is truncated too.
    """
    at = at.replace(microsecond=0)
    if at < cert.not_valid_before_utc:
        raise CertificateNotYetValid(
            f"certificate {_name(cert)} is not valid before "
            f"{cert.not_valid_before_utc.isoformat()} (checked at {at.isoformat()})"
        )
    if at > cert.not_valid_after_utc:
        raise CertificateExpired(
            f"certificate {_name(cert)} expired at {cert.not_valid_after_utc.isoformat()} "
            f"(checked at {at.isoformat()})"
        )


def check_key_strength(cert: x509.Certificate) -> str:
    """RSA ≥ 2048 bits, ECDSA on P-256/P-384, or SM2; returns ``rsa``/``ecdsa``/``sm2``."""
    key = public_key_of(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CertificateRejected(
                f"certificate {_name(cert)} has a {key.key_size}-bit RSA key; "
                "at least 2048 bits required"
            )
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise CertificateRejected(
                f"certificate {_name(cert)} uses curve {key.curve.name}; expected P-256 or P-384"
            )
        return "ecdsa"
    return "sm2"


def _ext(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _check_unknown_critical(cert: x509.Certificate) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _KNOWN:
            raise CertificateRejected(
                f"certificate {_name(cert)} has an unsupported critical extension "
                f"{ext.oid.dotted_string} (RFC 5280 §4.2)"
            )


def _check_issuer_role(issuer: x509.Certificate, *, anchor: bool, below: int) -> None:
    """``issuer`` may issue: cA, keyCertSign, and ``below`` intermediates fit its pathLen."""
    bc_ext = _ext(issuer, x509.BasicConstraints)
    if bc_ext is None:
        if not anchor:
            raise WrongKeyUsage(
                f"{_name(issuer)} issued a certificate but has no basicConstraints "
                "(RFC 5280 §4.2.1.9: cA must be asserted)"
            )
    else:
        bc = bc_ext.value
        assert isinstance(bc, x509.BasicConstraints)
        if not bc.ca:
            raise WrongKeyUsage(f"{_name(issuer)} issued a certificate but is not a CA (cA=false)")
        if bc.path_length is not None and below > bc.path_length:
            raise ChainTooDeep(
                f"{_name(issuer)} allows {bc.path_length} intermediate CA(s) below it "
                f"(pathLenConstraint), the chain has {below}"
            )
    ku_ext = _ext(issuer, x509.KeyUsage)
    if ku_ext is not None:
        ku = ku_ext.value
        assert isinstance(ku, x509.KeyUsage)
        if not ku.key_cert_sign:
            raise WrongKeyUsage(
                f"{_name(issuer)} issued a certificate but its key usage "
                "lacks keyCertSign (RFC 5280 §4.2.1.3)"
            )


def _key_ids_agree(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    aki = _ext(child, x509.AuthorityKeyIdentifier)
    ski = _ext(issuer, x509.SubjectKeyIdentifier)
    if aki is None or ski is None:
        return True
    a, s = aki.value, ski.value
    assert isinstance(a, x509.AuthorityKeyIdentifier) and isinstance(s, x509.SubjectKeyIdentifier)
    return a.key_identifier is None or a.key_identifier == s.digest


def build_path(
    leaf: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    at: _dt.datetime,
    max_depth: int,
    is_anchor: Callable[[x509.Certificate], bool] | None = None,
) -> tuple[x509.Certificate, ...]:
    """A path ``leaf … anchor`` or the most specific reason none exists.

    ``max_depth`` is the most intermediates allowed between leaf and anchor. The leaf
    itself is only checked for signature and name chaining here; its validity, usage and
    role are the caller's (``validate``).
    """
    anchor_fps = {_fp(a) for a in anchors}
    anchor_test = is_anchor or (lambda c: _fp(c) in anchor_fps)
    pool = [*anchors, *intermediates]
    failures: list[CertificateRejected] = []
    # A work budget, as cryptography's builder has: crafted intermediate sets (x509-limbo
    # "denial-of-service" cases) otherwise make depth-first search exponential.
    budget = [_BUDGET]

    if anchor_test(leaf):
        return (leaf,)

    def extend(
        path: list[x509.Certificate], seen: set[bytes]
    ) -> tuple[x509.Certificate, ...] | None:
        current = path[-1]
        # Intermediates already under the next issuer, for max_depth. Self-issued ones (a CA
        # re-certifying itself on key rollover) are not counted, as for pathLenConstraint
        # (RFC 5280 §4.2.1.9, §6.1.4 (l)): the depth limit is on logical CAs.
        below = sum(1 for c in path[1:] if c.subject != c.issuer)
        for cand in pool:
            fp = _fp(cand)
            if fp in seen or cand.subject != current.issuer or not _key_ids_agree(current, cand):
                continue
            is_anch = anchor_test(cand)
            budget[0] -= 1
            if budget[0] < 0:
                raise CertificateRejected(
                    f"path building for {_name(leaf)} gave up after {_BUDGET} candidate "
                    "issuers (too many possible paths)"
                )
            try:
                if not is_anch and below + (cand.subject != cand.issuer) > max_depth:
                    raise ChainTooDeep(
                        f"chain from {_name(leaf)} needs more than {max_depth} intermediate "
                        "certificate(s) (maximum depth)"
                    )
                if not issued_by(current, cand):
                    raise CertificateSignatureInvalid(
                        f"signature on {_name(current)} does not verify with the key of "
                        f"{_name(cand)} (tampered or issued by another key)"
                    )
                check_validity(cand, at)
                check_key_strength(cand)
                _check_unknown_critical(cand)
                # RFC 5280 §4.2.1.9: self-issued intermediates do not count toward pathLen.
                _check_issuer_role(cand, anchor=is_anch, below=below)
            except CertificateRejected as exc:
                failures.append(exc)
                continue
            if is_anch:
                return (*path, cand)
            found = extend([*path, cand], seen | {fp})
            if found is not None:
                return found
        return None

    check_key_strength(leaf)
    _check_unknown_critical(leaf)
    found = extend([leaf], {_fp(leaf)})
    if found is not None:
        return found
    # Most specific first: a named defect beats "no issuer known".
    for kind in (
        CertificateSignatureInvalid,
        CertificateExpired,
        CertificateNotYetValid,
        ChainTooDeep,
        WrongKeyUsage,
        CertificateRejected,
    ):
        for exc in failures:
            if type(exc) is kind:
                raise exc
    raise UnknownIssuer(
        f"no path from {_name(leaf)} to a trusted anchor: its issuer "
        f"{leaf.issuer.rfc4514_string()} is not a trust anchor of any region and no "
        "supplied intermediate leads to one"
    )
