"""Extra checks for TLS server certificates (``Usage.VENUE_SERVER``): RFC 5280 MUSTs and CA/B
Forum Baseline Requirements rules that ``cryptography``'s verifier leaves out. Pure.

Applied only to venue-server chains: a venue agent checking the primary's TLS
certificate expects a web-PKI-shaped certificate. Personal certificates from Chinese CAs
are judged by RFC 5280 alone (old roots without subjectKeyIdentifier, non-positive
serials as in the Tongsuo test PKI), because refusing them would refuse real experts.
"""

from __future__ import annotations

__all__ = ["check_server_name", "check_server_profile", "check_wildcard_suffix"]

import functools
import ipaddress
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from publicsuffixlist import PublicSuffixList

from evalsvc.errors import CertificateRejected, WrongKeyUsage
from evalsvc.pki.names import subject_text
from evalsvc.pki.signatures import public_key_of


def _name(cert: x509.Certificate) -> str:
    return subject_text(cert)


def _get(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # The list shipped inside the ``publicsuffixlist`` package (ICANN and PRIVATE sections),
    # loaded once; updating it means upgrading the package, never a fetch at run time.
    return PublicSuffixList()


def check_wildcard_suffix(leaf: x509.Certificate, server_name: str) -> None:
    """Refuse ``server_name`` when only a wildcard over a public suffix matches it.

    CABF BR 3.2.2.6: a wildcard whose FQDN portion is a public suffix ("*.com", "*.co.uk",
    "*.s3.amazonaws.com" from the PRIVATE section) covers names of many registrants, so it
    is never relied on. A certificate that also names the host exactly is still accepted
    for that host (as real certificates such as s3.amazonaws.com's do).
    """
    san = _get(leaf, x509.SubjectAlternativeName)
    if san is None or not isinstance(san.value, x509.SubjectAlternativeName):
        return
    host = server_name.lower().rstrip(".")
    names = [d.lower().rstrip(".") for d in san.value.get_values_for_type(x509.DNSName)]
    if host in names:
        return
    psl = _public_suffixes()
    for name in names:
        if name.startswith("*.") and host.split(".", 1)[-1] == name[2:] and psl.is_public(name[2:]):
            raise CertificateRejected(
                f"{_name(leaf)}: {server_name!r} matches only the wildcard {name!r}, which "
                "covers a public suffix (CABF BR 3.2.2.6); expected a registered domain"
            )


def _check_leaf(leaf: x509.Certificate) -> None:
    eku = _get(leaf, x509.ExtendedKeyUsage)
    # CABF BR 7.1.2.7.10: serverAuth present; anyExtendedKeyUsage MUST NOT be.
    if eku is None or not isinstance(eku.value, x509.ExtendedKeyUsage):
        raise WrongKeyUsage(f"{_name(leaf)} has no extendedKeyUsage; a TLS server needs serverAuth")
    usages = set(eku.value)
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        raise WrongKeyUsage(f"{_name(leaf)} asserts anyExtendedKeyUsage (CABF BR 7.1.2.7.10)")
    if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        raise WrongKeyUsage(f"{_name(leaf)} lacks serverAuth in extendedKeyUsage")
    # CABF BR 7.1.4.3: a commonName must be a character-for-character copy of a SAN entry.
    # Enforced where the CN *names the same host* as a SAN entry in another spelling
    # (letter case, IPv4 hex / leading zeros, IPv6 non-RFC 5952 form, U-label vs A-label):
    # such a CN is the classic way to smuggle a name past a CN-fallback verifier. A CN that
    # names no SAN entry is left alone, as RFC 5280 validators (and x509-limbo's rfc5280
    # cases) do.
    san = _get(leaf, x509.SubjectAlternativeName)
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    if san is not None and isinstance(san.value, x509.SubjectAlternativeName):
        dns = list(san.value.get_values_for_type(x509.DNSName))
        ips = [
            ip
            for ip in san.value.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        ]
    for attr in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = str(attr.value)
        if value in dns or value in {str(ip) for ip in ips}:
            continue
        if _same_host(value, dns, ips):
            raise CertificateRejected(
                f"{_name(leaf)}: commonName {value!r} names a subjectAltName entry in another "
                "spelling; it must be a character-for-character copy (CABF BR 7.1.4.3)"
            )


def _as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:  # inet_aton-style spellings: hex, leading zeros
        parts = text.split(".")
        if 1 <= len(parts) <= 4 and all(parts):
            nums = [
                int(p, 0) if not (p.startswith("0") and p[1:].isdigit()) else int(p, 10)
                for p in parts
            ]
            if len(nums) == 1 and 0 <= nums[0] < 2**32:
                return ipaddress.IPv4Address(nums[0])
            if len(nums) == 4 and all(0 <= n < 256 for n in nums):
                return ipaddress.IPv4Address(".".join(map(str, nums)))
    except ValueError:
        return None
    return None


def _same_host(
    cn: str, dns: list[str], ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> bool:
    ip = _as_ip(cn)
    if ip is not None and ip in ips:
        return True
    folded = {d.lower() for d in dns}
    if cn.lower() in folded:
        return True
    # A U-label host name ("测试.com") can never be a copy of a dNSName (IA5String A-labels).
    return not cn.isascii() and "." in cn


def _check_any(cert: x509.Certificate, *, anchor: bool) -> None:
    key = public_key_of(cert)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size % 8:
        raise CertificateRejected(
            f"{_name(cert)} has an RSA modulus of {key.key_size} bits, not a multiple of 8 "
            "(CABF BR 6.1.5)"
        )
    if not anchor and cert.serial_number <= 0:
        raise CertificateRejected(f"{_name(cert)} has a non-positive serial (RFC 5280 §4.1.2.2)")
    self_issued = cert.subject == cert.issuer
    if not anchor and not self_issued and _get(cert, x509.AuthorityKeyIdentifier) is None:
        raise CertificateRejected(f"{_name(cert)} lacks authorityKeyIdentifier (RFC 5280 §4.2.1.1)")
    # RFC 5280 §4.2.1.11: policyConstraints MUST be critical. (nameConstraints' MUST in
    # §4.2.1.10 is not enforced: the CA/B Forum allows it non-critical, and so do we.)
    pc = _get(cert, x509.PolicyConstraints)
    if pc is not None and not pc.critical:
        raise CertificateRejected(
            f"{_name(cert)}: policyConstraints must be critical (RFC 5280 §4.2.1.11)"
        )


def _check_ca(cert: x509.Certificate, *, anchor: bool) -> None:
    ski = _get(cert, x509.SubjectKeyIdentifier)
    if ski is None:
        raise CertificateRejected(
            f"CA {_name(cert)} lacks subjectKeyIdentifier (RFC 5280 §4.2.1.2)"
        )
    if not anchor or cert.subject != cert.issuer:
        return  # the root rules below are for self-signed roots, not trusted intermediates
    if _get(cert, x509.ExtendedKeyUsage) is not None:
        raise CertificateRejected(f"root {_name(cert)} has extendedKeyUsage (CABF BR 7.1.2.1.2)")
    aki = _get(cert, x509.AuthorityKeyIdentifier)
    if aki is not None and isinstance(aki.value, x509.AuthorityKeyIdentifier):
        a = aki.value
        # CABF BR 7.1.2.1.3: keyIdentifier only, equal to the root's own SKI.
        if a.authority_cert_issuer is not None or a.authority_cert_serial_number is not None:
            raise CertificateRejected(
                f"root {_name(cert)}: authorityKeyIdentifier may hold only keyIdentifier"
            )
        assert isinstance(ski.value, x509.SubjectKeyIdentifier)
        if a.key_identifier is not None and a.key_identifier != ski.value.digest:
            raise CertificateRejected(
                f"root {_name(cert)}: authorityKeyIdentifier differs from its subjectKeyIdentifier"
            )


def check_server_name(leaf: x509.Certificate, server_name: str) -> None:
    """RFC 6125 §6.4 / RFC 9525: ``server_name`` matches a SAN dNSName or iPAddress.

    Used for SM2 server certificates (``cryptography``'s verifier checks RSA/ECDSA ones).
    Only a whole leftmost ``*`` label is a wildcard; the subject CN is never consulted.
    """
    san = _get(leaf, x509.SubjectAlternativeName)
    if san is None or not isinstance(san.value, x509.SubjectAlternativeName):
        raise CertificateRejected(f"{_name(leaf)} has no subjectAltName to match {server_name!r}")
    try:
        wanted_ip = ipaddress.ip_address(server_name)
    except ValueError:
        wanted_ip = None
    if wanted_ip is not None:
        if wanted_ip in san.value.get_values_for_type(x509.IPAddress):
            return
    else:
        host = server_name.lower().rstrip(".")
        for pattern in (d.lower() for d in san.value.get_values_for_type(x509.DNSName)):
            if pattern == host:
                return
            if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
                return
    raise CertificateRejected(f"{_name(leaf)} is not valid for server name {server_name!r}")


def check_server_profile(
    chain: Sequence[x509.Certificate], *, is_anchor: Callable[[x509.Certificate], bool]
) -> None:
    """Refuse a venue-server chain (leaf first) that breaks the rules listed above."""
    _check_leaf(chain[0])
    for i, cert in enumerate(chain):
        anchor = is_anchor(cert)
        _check_any(cert, anchor=anchor)
        if i > 0:
            _check_ca(cert, anchor=anchor)
