"""Fixtures for the certificate tests: one dev PKI (generated, never pasted) per run."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest
from cryptography import x509

from evalsvc.pki.devpki import DevPki, build_dev_pki
from evalsvc.pki.trust import TrustConfig

VECTORS = Path(__file__).parent / "vectors"
NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def pki() -> DevPki:
    """The four-region dev PKI, valid at :data:`NOW`."""
    return build_dev_pki(NOW)


@pytest.fixture(scope="session")
def trust(pki: DevPki) -> TrustConfig:
    """All four regions trusted."""
    return pki.trust()


def load_vector_cert(name: str) -> x509.Certificate:
    """A certificate from tests/pki/vectors (Tongsuo's carry non-positive serials: quiet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificate((VECTORS / name).read_bytes())
