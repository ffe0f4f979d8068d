"""Venue agents by venue certificate: which venue an organisation's certificate speaks for.

A secondary venue's agent (``evalsvc venue``) authenticates with its venue's certificate:
over mutual TLS, or — for SM2-only venues, which Python's ``ssl`` cannot serve — by
signing a ``venue-agent`` challenge. Either way the certificate is validated for
``Usage.VENUE_CLIENT`` and its canonical identity (``organisation:<USCC>``, see
:mod:`evalsvc.pki.identity`) is looked up in ``[pki] venue_agents``; the principal is an
operator of that venue, **read-only** (it lists and follows sessions; it changes nothing).
Pure: the validation result, the mapping and the key digest are parameters.
"""

from __future__ import annotations

__all__ = ["VenueAgentAuth", "parse_venue_agents", "venue_agent_principal"]

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from evalsvc.auth import Principal
from evalsvc.errors import ConfigError, UnknownVenueAgent, WrongCertificateRole
from evalsvc.ids import validate_uscc
from evalsvc.pki.identity import IdentityKind
from evalsvc.pki.validate import ValidationResult

_KINDS = ("organisation", "org")


def parse_venue_agents(text: str) -> dict[str, str]:
    """``"organisation:<USCC>=<venue id>, ..."`` → {identity key: venue id}.

    ``org:`` is accepted for ``organisation:``; the USCC must pass its GB 32100 check
    character (a typo would otherwise silently map nobody)."""
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, venue = item.partition("=")
        kind, colon, number = key.strip().partition(":")
        number, venue = number.strip().upper(), venue.strip()
        if not sep or not colon or not number or not venue:
            raise ConfigError(
                f"pki.venue_agents: expected 'organisation:<USCC>=<venue id>', got {item!r}"
            )
        if kind.strip().lower() not in _KINDS:
            raise ConfigError(
                f"pki.venue_agents: a venue agent is its organisation "
                f"('organisation:<USCC>'), got {key.strip()!r}"
            )
        why = validate_uscc(number)
        if why is not None:
            raise ConfigError(f"pki.venue_agents: {number} is not a valid USCC: {why}")
        ident = f"{IdentityKind.ORGANISATION.value}:{number}"
        if out.get(ident, venue) != venue:
            raise ConfigError(f"pki.venue_agents: {ident} is mapped to {out[ident]} and {venue}")
        out[ident] = venue
    return out


@dataclass(frozen=True)
class VenueAgentAuth:
    """A venue agent's accepted certificate: who it is and until when (unix seconds: the
    certificate's notAfter, or sooner when re-validation is due)."""

    principal: Principal
    expires_at: int
    region: str
    identity_key: str
    warnings: tuple[str, ...] = ()


def _cn(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()


def venue_agent_principal(
    result: ValidationResult,
    leaf: x509.Certificate,
    *,
    venue_agents: Mapping[str, str],
    key_sha256: str,
    expected_venue: str | None = None,
) -> Principal:
    """The read-only operator principal of the venue ``leaf`` (validated for
    ``Usage.VENUE_CLIENT`` as ``result``) speaks for.

    Raises :class:`~evalsvc.errors.WrongCertificateRole` for a personal certificate and
    :class:`~evalsvc.errors.UnknownVenueAgent` for an organisation mapped to no venue (or
    to another venue than ``expected_venue``)."""
    identity = result.identity
    if identity is None:
        raise UnknownVenueAgent(
            f"the certificate of {_cn(leaf)} carries no USCC in the identity fields region "
            f"{result.region} reads: it is not a venue certificate"
        )
    if identity.kind is not IdentityKind.ORGANISATION:
        raise WrongCertificateRole(
            f"the certificate of {_cn(leaf)} identifies a person; a venue agent needs its "
            "venue's certificate"
        )
    venue = venue_agents.get(identity.key)
    if venue is None:
        raise UnknownVenueAgent(
            f"the organisation {identity.key} ({_cn(leaf)}, region {result.region}) is not a "
            "configured venue agent ([pki] venue_agents)"
        )
    if expected_venue is not None and venue != expected_venue:
        raise UnknownVenueAgent(
            f"the certificate of {_cn(leaf)} speaks for venue {venue}, not {expected_venue}"
        )
    digest = hashlib.sha256(identity.key.encode()).hexdigest()[:12]
    return Principal(
        role="operator",
        subject=f"agent-{venue}-{digest}",
        name=_cn(leaf),
        venue=venue,
        key_sha256=key_sha256,
        read_only=True,
    )
