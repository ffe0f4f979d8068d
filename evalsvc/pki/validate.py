"""Certificate validation for one purpose: chain, validity, key usage, revocation, identity.

:func:`validate` is the one entry point. It is pure: the trust config, the time, the CRLs
and the revocation mode are parameters.

Engines:

- RSA / ECDSA chains go through ``cryptography.x509.verification`` (RFC 5280 + CA/B
  webpki profile), with extension policies fitted to Chinese CA profiles for client
  certificates: subjectAltName optional, extendedKeyUsage clientAuth (or anyEKU) *or
  absent*, non-critical basicConstraints on CA certificates tolerated.
- SM2 chains, and ``Usage.CA`` checks, go through :mod:`evalsvc.pki.pathbuild`.

When ``cryptography`` refuses a chain, :mod:`evalsvc.pki.pathbuild` is run on it to name
the specific reason (expired intermediate, unknown CA, too deep, ...); if that finds no
specific reason, ``cryptography``'s own message is reported.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Usage",
    "ValidationResult",
    "validate",
]

import datetime as _dt
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID

from evalsvc.errors import (
    CertificateRejected,
    ChainTooDeep,
    WrongCertificateRole,
    WrongKeyUsage,
)
from evalsvc.pki.identity import Identity, IdentityKind, extract_identity
from evalsvc.pki.names import subject_text
from evalsvc.pki.pathbuild import build_path, check_key_strength, check_validity
from evalsvc.pki.revocation import RevocationMode, RevocationWarning, check_revocation
from evalsvc.pki.signatures import is_sm2_certificate, key_algorithm, public_key_of
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.webpki import check_server_name, check_server_profile, check_wildcard_suffix

DEFAULT_MAX_DEPTH = 8  # intermediates between leaf and anchor (cryptography's default)


class Usage(StrEnum):
    """What the certificate is presented for."""

    LOGIN = "login"  # an expert / operator signing a login challenge
    SIGNING = "signing"  # signing a score sheet or the report
    VENUE_CLIENT = "venue-client"  # a secondary venue agent (mutual TLS client)
    VENUE_SERVER = "venue-server"  # the primary's TLS server, checked by a venue agent
    CA = "ca"  # a CA certificate an operator wants to add to a region


@dataclass(frozen=True)
class ValidationResult:
    """A certificate accepted for ``usage``."""

    chain: tuple[x509.Certificate, ...]  # leaf first, anchor last
    region: str  # the region whose trust anchor ended the chain
    usage: Usage
    identity: Identity | None
    algorithm: str  # the leaf key's: rsa / ecdsa / sm2
    engine: str  # "cryptography" or "evalsvc" (own path building)
    warnings: tuple[RevocationWarning, ...] = ()

    @property
    def leaf(self) -> x509.Certificate:
        """The validated certificate."""
        return self.chain[0]


def _ext_value(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _name(cert: x509.Certificate) -> str:
    return subject_text(cert)


def _ekus(cert: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    eku = _ext_value(cert, x509.ExtendedKeyUsage)
    return set(eku) if isinstance(eku, x509.ExtendedKeyUsage) else None


def _check_leaf_usage(cert: x509.Certificate, usage: Usage) -> None:
    """RFC 5280 §4.2.1.3 keyUsage and §4.2.1.12 extendedKeyUsage for ``usage``."""
    ku = _ext_value(cert, x509.KeyUsage)
    bc = _ext_value(cert, x509.BasicConstraints)
    ekus = _ekus(cert)
    any_eku = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
    who = _name(cert)
    if usage is Usage.CA:
        if not (isinstance(bc, x509.BasicConstraints) and bc.ca):
            raise WrongKeyUsage(f"{who} is not a CA certificate (basicConstraints cA is not set)")
        if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
            raise WrongKeyUsage(f"{who} is a CA certificate whose key usage lacks keyCertSign")
        return
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise WrongKeyUsage(f"{who} is a CA certificate; an end-entity certificate is required")
    if isinstance(ku, x509.KeyUsage):
        if usage is Usage.SIGNING:
            ok = ku.digital_signature or ku.content_commitment
            need = "digitalSignature or nonRepudiation"
        elif usage is Usage.VENUE_SERVER:
            ok = ku.digital_signature or ku.key_encipherment or ku.key_agreement
            need = "digitalSignature, keyEncipherment or keyAgreement"
        else:
            ok = ku.digital_signature
            need = "digitalSignature"
        if not ok:
            raise WrongKeyUsage(
                f"{who} has key usage {_ku_names(ku)}; {usage.value} needs {need} "
                "(an encryption-only certificate cannot sign)"
            )
    if ekus is not None and any_eku not in ekus:
        wanted = (
            ExtendedKeyUsageOID.SERVER_AUTH
            if usage is Usage.VENUE_SERVER
            else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        # Signing: Chinese CAs mark personal signing certificates with clientAuth,
        # emailProtection or nothing; any EKU set except serverAuth-only is acceptable.
        if usage is Usage.SIGNING:
            if ekus == {ExtendedKeyUsageOID.SERVER_AUTH}:
                raise WrongCertificateRole(f"{who} is a TLS server certificate, not a signing one")
        elif wanted not in ekus:
            if usage in (Usage.LOGIN,) and ExtendedKeyUsageOID.SERVER_AUTH in ekus:
                raise WrongCertificateRole(
                    f"{who} is a server (venue) certificate (extendedKeyUsage serverAuth); "
                    "an expert's own certificate is required"
                )
            raise WrongKeyUsage(
                f"{who} has extendedKeyUsage without {_EKU_NAMES[wanted]}; {usage.value} needs it"
            )


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
}


def _ku_names(ku: x509.KeyUsage) -> str:
    names = [
        n
        for n in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        )
        if getattr(ku, n)
    ]
    return "{" + ", ".join(names) + "}" if names else "{}"


def _eku_client_or_absent(
    policy: xv.Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    # Chinese CA profiles often omit EKU on personal certificates; when present it must
    # allow client authentication (RFC 5280 §4.2.1.12).
    if eku is None:
        return
    if (
        ExtendedKeyUsageOID.CLIENT_AUTH not in eku
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    ):
        raise ValueError("extendedKeyUsage present without clientAuth")


def _ee_policy(*, eku_must_allow_client: bool) -> xv.ExtensionPolicy:
    validator = _eku_client_or_absent if eku_must_allow_client else None
    return (
        xv.ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, xv.Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, validator)
    )


_CLIENT_CA_POLICY = xv.ExtensionPolicy.webpki_defaults_ca()
_CLIENT_EE_POLICY = _ee_policy(eku_must_allow_client=True)  # login, venue-client
_SIGNING_EE_POLICY = _ee_policy(eku_must_allow_client=False)  # EKU judged by _check_leaf_usage


def _classify_cryptography_error(exc: xv.VerificationError) -> CertificateRejected:
    text = str(exc)
    if "exceeds max depth" in text or "maximum depth" in text:
        return ChainTooDeep(f"chain too deep: {text}")
    return CertificateRejected(f"chain refused: {text}")


def _check_ca_shape(
    path: Sequence[x509.Certificate], *, is_anchor: Callable[[x509.Certificate], bool]
) -> None:
    """The webpki CA profile for certificates our own builder accepted (not anchors).

    RFC 5280 §4.2.1.9: basicConstraints MUST be critical in CA certificates that sign;
    §4.2.1.3: keyUsage with keyCertSign (CABF BR 7.1.2.10.7 requires it present).
    """
    for cert in path[1:]:
        if is_anchor(cert):
            continue
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:  # pragma: no cover - build_path refused it already
            raise WrongKeyUsage(f"{_name(cert)} has no basicConstraints") from None
        if not bc.critical:
            raise CertificateRejected(
                f"CA {_name(cert)}: basicConstraints must be critical (RFC 5280 §4.2.1.9)"
            )
        if not isinstance(_ext_value(cert, x509.KeyUsage), x509.KeyUsage):
            raise WrongKeyUsage(f"CA {_name(cert)} has no keyUsage (RFC 5280 §4.2.1.3)")


def _with_cryptography(
    leaf: x509.Certificate,
    *,
    trust: TrustConfig,
    intermediates: Sequence[x509.Certificate],
    at: _dt.datetime,
    usage: Usage,
    max_depth: int,
    server_name: str | None,
) -> tuple[x509.Certificate, ...]:
    store = trust.verification_store
    assert store is not None  # validate() routes SM2-only configs to our path builder
    builder = xv.PolicyBuilder().store(store).time(at).max_chain_depth(max_depth)
    if usage is Usage.VENUE_SERVER:
        if not server_name:
            raise CertificateRejected("venue-server validation needs the expected server name")
        subject: xv.Subject
        try:
            subject = x509.IPAddress(ipaddress.ip_address(server_name))
        except ValueError:
            subject = x509.DNSName(server_name)
        return tuple(builder.build_server_verifier(subject).verify(leaf, list(intermediates)))
    ee_policy = _SIGNING_EE_POLICY if usage is Usage.SIGNING else _CLIENT_EE_POLICY
    verifier = builder.extension_policies(
        ca_policy=_CLIENT_CA_POLICY, ee_policy=ee_policy
    ).build_client_verifier()
    return tuple(verifier.verify(leaf, list(intermediates)).chain)


def validate(
    leaf: x509.Certificate,
    *,
    trust: TrustConfig,
    at: _dt.datetime,
    usage: Usage,
    intermediates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    revocation: RevocationMode | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    server_name: str | None = None,
) -> ValidationResult:
    """Validate ``leaf`` for ``usage`` at time ``at``; raise a specific ``CertificateRejected``.

    ``intermediates`` are offered by the client; the config's own intermediates and
    cross-certificates are always offered too. ``crls`` add to the config's CRLs.
    ``revocation`` defaults to ``REQUIRE`` for signing and ``SOFT_FAIL`` otherwise
    (issue 6 §3: signing actions refuse without a fresh CRL, read-only access warns).
    """
    if revocation is None:
        revocation = RevocationMode.REQUIRE if usage is Usage.SIGNING else RevocationMode.SOFT_FAIL
    if at.tzinfo is None:
        raise ValueError("validation time must be timezone-aware")
    try:
        return _validate(
            leaf,
            trust=trust,
            at=at.astimezone(_dt.UTC),
            usage=usage,
            intermediates=intermediates,
            crls=crls,
            revocation=revocation,
            max_depth=max_depth,
            server_name=server_name,
        )
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        # cryptography parses extensions lazily: a malformed one surfaces on first use.
        raise CertificateRejected(f"malformed certificate or CRL: {exc}") from exc


def _validate(
    leaf: x509.Certificate,
    *,
    trust: TrustConfig,
    at: _dt.datetime,
    usage: Usage,
    intermediates: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    revocation: RevocationMode,
    max_depth: int,
    server_name: str | None,
) -> ValidationResult:
    # Leaf first: these are the errors a user most often needs told apart.
    check_validity(leaf, at)
    _check_leaf_usage(leaf, usage)
    algorithm = check_key_strength(leaf)
    offered = [*intermediates, *trust.intermediates]

    if usage is Usage.CA or is_sm2_certificate(leaf) or trust.verification_store is None:
        chain = build_path(
            leaf,
            anchors=trust.anchors,
            intermediates=offered,
            at=at,
            max_depth=max_depth,
            is_anchor=trust.is_anchor,
        )
        engine = "evalsvc"
        if usage is Usage.VENUE_SERVER:
            if not server_name:
                raise CertificateRejected("venue-server validation needs the expected server name")
            check_server_name(leaf, server_name)
    else:
        try:
            chain = _with_cryptography(
                leaf,
                trust=trust,
                intermediates=offered,
                at=at,
                usage=usage,
                max_depth=max_depth,
                server_name=server_name,
            )
            engine = "cryptography"
        except xv.VerificationError as exc:
            # Name the specific reason if our builder finds one; else cryptography's.
            try:
                path = build_path(
                    leaf,
                    anchors=trust.anchors,
                    intermediates=offered,
                    at=at,
                    max_depth=max_depth,
                    is_anchor=trust.is_anchor,
                )
            except CertificateRejected as specific:
                raise specific from exc
            if any(c.subject == c.issuer for c in path[1:-1]):
                # A self-issued intermediate (CA key rollover): cryptography counts it toward
                # max depth and pathLenConstraint, RFC 5280 §4.2.1.9 / §6.1.4 (l) do not.
                # Our builder's path stands, with the webpki CA shape cryptography would
                # otherwise have enforced.
                _check_ca_shape(path, is_anchor=trust.is_anchor)
                if usage is Usage.VENUE_SERVER:
                    check_server_name(leaf, server_name or "")
            elif not any(is_sm2_certificate(c) for c in path[1:]) or usage is Usage.VENUE_SERVER:
                raise _classify_cryptography_error(exc) from exc
            # An RSA/ECDSA leaf under an SM2 CA or SM2 cross-certificate: cryptography
            # cannot verify that link, our RFC 5280 path building can.
            chain, engine = path, "evalsvc"

    if usage is Usage.VENUE_SERVER:
        check_server_profile(chain, is_anchor=trust.is_anchor)
        check_wildcard_suffix(leaf, server_name or "")
    region_code = trust.anchor_region(chain[-1])
    if region_code is None:  # pragma: no cover - the store only holds region anchors
        raise CertificateRejected("chain ended at a certificate that is not a region anchor")
    region = trust.region(region_code)
    for cert in chain:
        alg = key_algorithm(public_key_of(cert))
        if alg not in region.algorithms:
            raise CertificateRejected(
                f"region {region.code} does not accept {alg} keys (in {_name(cert)}); "
                f"its region.toml allows {sorted(region.algorithms)}"
            )
    warnings = check_revocation(chain, [*trust.crls, *crls], at=at, mode=revocation)
    identity = extract_identity(leaf, region.identity_oids)
    if (
        usage in (Usage.LOGIN, Usage.SIGNING)
        and identity is not None
        and identity.kind is IdentityKind.ORGANISATION
    ):
        raise WrongCertificateRole(
            f"{_name(leaf)} identifies an organisation (USCC {identity.number}), "
            "not a person: a venue or company certificate cannot be used as an expert's"
        )
    if (
        usage is Usage.VENUE_CLIENT
        and identity is not None
        and identity.kind is IdentityKind.PERSON
    ):
        raise WrongCertificateRole(
            f"{_name(leaf)} identifies a person; a venue agent needs its venue's certificate"
        )
    return ValidationResult(
        chain=chain,
        region=region_code,
        usage=usage,
        identity=identity,
        algorithm=algorithm,
        engine=engine,
        warnings=warnings,
    )
