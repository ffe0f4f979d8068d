"""``ssl`` contexts for venue mutual TLS, built from the regional trust (adapter).

OpenSSL does the handshake with the RSA/ECDSA anchors of every region (Python's ``ssl``
cannot use SM2 certificates; SM2-only venues use the signed-challenge fallback,
``purpose="venue-agent"`` in :mod:`evalsvc.pki.challenge`). The handshake is only the
first gate: after it, the caller runs :func:`peer_leaf` and
``validate(leaf, usage=Usage.VENUE_CLIENT, ...)`` — that check is authoritative (region,
identity, key usage, CRLs), OpenSSL's is transport hygiene.

The HTTPS server (``evalsvc serve`` with ``[server] tls_cert``/``tls_key``) asks for
client certificates as *optional* (experts' browsers present none); a trust reload adds
the new anchors to the live context (:func:`load_anchors`) — OpenSSL cannot forget an
anchor that was removed, but :func:`~evalsvc.pki.validate.validate`, run after the
handshake with the current trust, refuses it.
"""

from __future__ import annotations

__all__ = [
    "anchors_pem",
    "client_ssl_context",
    "load_anchors",
    "peer_certificate",
    "peer_leaf",
    "server_ssl_context",
]

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.errors import ConfigError, Unauthenticated
from evalsvc.pki.signatures import is_sm2_certificate
from evalsvc.pki.trust import TrustConfig


def anchors_pem(trust: TrustConfig) -> str:
    """PEM of every region's RSA/ECDSA anchors (what OpenSSL can verify against)."""
    return "".join(
        c.public_bytes(Encoding.PEM).decode("ascii")
        for c in trust.anchors
        if not is_sm2_certificate(c)
    )


def load_anchors(ctx: ssl.SSLContext, trust: TrustConfig) -> int:
    """Add ``trust``'s RSA/ECDSA anchors to ``ctx`` (anchors already there are kept), and
    its intermediates and cross-certificates, so that a peer sending its leaf alone is
    still verified — OpenSSL (without ``X509_V_FLAG_PARTIAL_CHAIN``, which is not set)
    still needs a self-signed anchor to end the chain. Returns how many certificates were
    offered. Safe on a context in use: later handshakes see them."""
    pem = anchors_pem(trust) + "".join(
        c.public_bytes(Encoding.PEM).decode("ascii")
        for c in trust.intermediates
        if not is_sm2_certificate(c)
    )
    if pem:
        ctx.load_verify_locations(cadata=pem)
    return pem.count("-----BEGIN CERTIFICATE-----")


def _base(
    ctx: ssl.SSLContext,
    trust: TrustConfig | None,
    cert_file: Path | str | None,
    key_file: Path | str | None,
) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        try:  # leaf first, then its intermediates
            ctx.load_cert_chain(str(cert_file), str(key_file or cert_file))
        except FileNotFoundError as exc:
            raise ConfigError(f"TLS certificate or key not found: {exc.filename}") from exc
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot use {cert_file} with key {key_file} for TLS (PEM RSA/ECDSA chain, "
                f"leaf first, and its matching key; SM2 cannot do TLS here): {exc}"
            ) from exc
    if trust is not None:
        load_anchors(ctx, trust)
    return ctx


def server_ssl_context(
    trust: TrustConfig | None,
    *,
    cert_file: Path | str,
    key_file: Path | str,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """The primary's TLS server context; venue agents must present a certificate unless
    ``require_client_cert`` is false (then it is asked for, and optional). ``trust`` None:
    no anchors yet (add them with :func:`load_anchors`)."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), trust, cert_file, key_file)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_ssl_context(
    trust: TrustConfig,
    *,
    cert_file: Path | str | None = None,
    key_file: Path | str | None = None,
) -> ssl.SSLContext:
    """A venue agent's client context: verifies the primary by name against ``trust``
    and presents its own certificate when ``cert_file`` is given."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust, cert_file, key_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> x509.Certificate | None:
    """The certificate the peer presented, or None (no TLS, or no certificate). Python's
    ``ssl`` (before 3.13) gives the leaf only: the path to an anchor is built from the
    trust stores' intermediates."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def peer_leaf(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> x509.Certificate:
    """The certificate the peer presented (validate it before trusting who it names)."""
    leaf = peer_certificate(ssl_object)
    if leaf is None:
        raise Unauthenticated("the peer presented no certificate")
    return leaf
