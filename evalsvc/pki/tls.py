"""``ssl`` contexts for venue mutual TLS, built from the regional trust (adapter).

OpenSSL does the handshake with the RSA/ECDSA anchors of every region (Python's ``ssl``
cannot use SM2 certificates; SM2-only venues use the signed-challenge fallback,
``purpose="venue-agent"`` in :mod:`evalsvc.pki.challenge`). The handshake is only the
first gate: after it, the caller runs :func:`peer_leaf` and
``validate(leaf, usage=Usage.VENUE_CLIENT, ...)`` — that check is authoritative (region,
identity, key usage, CRLs), OpenSSL's is transport hygiene.
"""

from __future__ import annotations

__all__ = ["anchors_pem", "client_ssl_context", "peer_leaf", "server_ssl_context"]

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import Unauthenticated
from evalsvc.pki.signatures import is_sm2_certificate
from evalsvc.pki.trust import TrustConfig


def anchors_pem(trust: TrustConfig) -> str:
    """PEM of every region's RSA/ECDSA anchors (what OpenSSL can verify against)."""
    return "".join(
        c.public_bytes(Encoding.PEM).decode("ascii")
        for c in trust.anchors
        if not is_sm2_certificate(c)
    )


def _base(
    ctx: ssl.SSLContext, trust: TrustConfig, cert_file: Path | str, key_file: Path | str
) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))  # leaf first, then its intermediates
    pem = anchors_pem(trust)
    if pem:
        ctx.load_verify_locations(cadata=pem)
    return ctx


def server_ssl_context(
    trust: TrustConfig,
    *,
    cert_file: Path | str,
    key_file: Path | str,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """The primary's TLS server context; venue agents must present a certificate."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), trust, cert_file, key_file)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_ssl_context(
    trust: TrustConfig, *, cert_file: Path | str, key_file: Path | str
) -> ssl.SSLContext:
    """A venue agent's client context: verifies the primary by name, presents its own cert."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust, cert_file, key_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def peer_leaf(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> x509.Certificate:
    """The certificate the peer presented (validate it before trusting who it names)."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise Unauthenticated("the peer presented no certificate")
    return x509.load_der_x509_certificate(der)
