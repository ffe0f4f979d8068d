"""Certificates across the four regions: trust stores, chains, revocation, identity, signatures.

Modules (pure unless noted):

- :mod:`~evalsvc.pki.trust` — ``certs/<REGION>/`` into an immutable ``TrustConfig`` (file I/O)
- :mod:`~evalsvc.pki.validate` — ``validate(leaf, trust=, at=, usage=, ...)``, the one entry point
- :mod:`~evalsvc.pki.pathbuild` — own RFC 5280 path building (SM2, CA checks, diagnosis)
- :mod:`~evalsvc.pki.revocation` — CRL checks, ``require`` / ``soft-fail``
- :mod:`~evalsvc.pki.crlcache` — CRLs fetched from files / URLs (I/O adapter)
- :mod:`~evalsvc.pki.identity` — resident ID / USCC from the region's OIDs
- :mod:`~evalsvc.pki.signatures`, :mod:`~evalsvc.pki.sm2` — SM2, ECDSA, RSA signatures
- :mod:`~evalsvc.pki.challenge` — certificate login challenges
- :mod:`~evalsvc.pki.tls` — ``ssl`` contexts for venue mutual TLS (adapter)
- :mod:`~evalsvc.pki.webpki`, :mod:`~evalsvc.pki.names` — TLS server rules; masked subjects
- :mod:`~evalsvc.pki.builder`, :mod:`~evalsvc.pki.devpki` — issuing (dev PKI, tests)
- :mod:`~evalsvc.pki.cli` — ``evalsvc certs dev | check``
"""

from __future__ import annotations

__all__: list[str] = []
