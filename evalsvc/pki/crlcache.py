"""A CRL cache fed from files and URLs (I/O adapter; the scheduler job calls ``refresh``).

Sources come from each region's ``crl_sources`` (``file:relative/or/absolute`` — relative
to the region folder — or ``http://`` / ``https://`` URLs). A source that fails keeps its
last good CRL, and a CRL older than the one held (smaller thisUpdate) is not taken, so a
replayed old CRL cannot hide a revocation (RFC 5280 §5.1.2.4). Signatures are checked
where CRLs are used (:func:`evalsvc.pki.revocation.check_revocation`), against the issuer
in the chain.
"""

from __future__ import annotations

__all__ = ["CrlCache", "RefreshReport", "fetch_url"]

import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from evalsvc.pki.trust import TrustConfig

Fetch = Callable[[str], bytes]


def fetch_url(url: str, *, timeout: float = 10.0, limit: int = 16 * 1024 * 1024) -> bytes:
    """GET ``url`` (http/https only) with a timeout and a size limit."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"CRL URL must be http(s): {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # scheme checked above
        data: bytes = resp.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"CRL at {url} is larger than {limit} bytes")
    return data


def _parse(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


@dataclass(frozen=True)
class RefreshReport:
    """What one ``refresh()`` did: sources updated, kept, failed (with reasons)."""

    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


class CrlCache:
    """CRLs by source; ``crls`` is an immutable snapshot safe to pass to ``validate``."""

    def __init__(self, sources: Iterable[str], *, fetch: Fetch | None = None) -> None:
        self._sources = tuple(dict.fromkeys(sources))
        self._fetch = fetch or fetch_url
        self._held: dict[str, x509.CertificateRevocationList] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_trust(
        cls, trust: TrustConfig, trust_dir: Path | str, *, fetch: Fetch | None = None
    ) -> CrlCache:
        """Sources from every region's ``crl_sources``; ``file:`` relative to its folder."""
        base = Path(trust_dir)
        sources: list[str] = []
        for region in trust.regions:
            for src in region.crl_sources:
                if src.startswith("file:"):
                    path = Path(src[len("file:") :])
                    sources.append(
                        "file:" + str(path if path.is_absolute() else base / region.code / path)
                    )
                else:
                    sources.append(src)
        return cls(sources, fetch=fetch)

    @property
    def sources(self) -> tuple[str, ...]:
        """Where CRLs are read from."""
        return self._sources

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs currently held."""
        with self._lock:
            return tuple(self._held.values())

    def _read(self, source: str) -> bytes:
        if source.startswith("file:"):
            return Path(source[len("file:") :]).read_bytes()
        return self._fetch(source)

    def refresh(self) -> RefreshReport:
        """Re-read every source; keep the last good CRL for sources that fail."""
        updated: list[str] = []
        unchanged: list[str] = []
        failed: list[tuple[str, str]] = []
        for source in self._sources:
            try:
                crl = _parse(self._read(source))
            except (OSError, ValueError) as exc:
                failed.append((source, f"{type(exc).__name__}: {exc}"))
                continue
            with self._lock:
                held = self._held.get(source)
                if held is not None and crl.last_update_utc <= held.last_update_utc:
                    unchanged.append(source)
                    continue
                self._held[source] = crl
            updated.append(source)
        return RefreshReport(tuple(updated), tuple(unchanged), tuple(failed))
