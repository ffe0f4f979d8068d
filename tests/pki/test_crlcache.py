"""The CRL cache: refresh from files and URLs, keep the last good, never go back in time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.pki.builder import issue_crl
from evalsvc.pki.crlcache import CrlCache
from evalsvc.pki.devpki import DevPki
from evalsvc.pki.trust import RegionTrust, TrustConfig

from .conftest import NOW


def _crl(pki: DevPki, hours: int) -> bytes:
    sh = pki.regions["SH"]
    return issue_crl(
        issuer=sh.intermediate.cert,
        signing_key=sh.intermediate.key,
        this_update=NOW + dt.timedelta(hours=hours),
        next_update=NOW + dt.timedelta(days=7),
        number=hours + 10,
    ).public_bytes(Encoding.DER)


def test_refresh_from_file_and_url(pki: DevPki, tmp_path: Path) -> None:
    (tmp_path / "a.crl").write_bytes(_crl(pki, 1))
    served = {"http://crl.example.test/sh.crl": _crl(pki, 2)}
    cache = CrlCache(
        [f"file:{tmp_path / 'a.crl'}", "http://crl.example.test/sh.crl"], fetch=served.__getitem__
    )
    report = cache.refresh()
    assert len(report.updated) == 2 and not report.failed
    assert len(cache.crls) == 2


def test_failure_keeps_last_good_and_older_is_not_taken(pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "a.crl"
    path.write_bytes(_crl(pki, 5))
    cache = CrlCache([f"file:{path}"])
    cache.refresh()
    path.write_bytes(b"garbage")
    report = cache.refresh()
    assert report.failed and len(cache.crls) == 1
    path.write_bytes(_crl(pki, 1))  # a replayed older CRL
    assert cache.refresh().unchanged == (f"file:{path}",)
    assert cache.crls[0].last_update_utc == NOW + dt.timedelta(hours=5)


def test_sources_from_region_config(tmp_path: Path, pki: DevPki) -> None:
    region = RegionTrust(
        code="SH",
        name="上海",
        anchors=(pki.regions["SH"].root.cert,),
        crl_sources=("file:crls/x.crl", "https://crl.example.test/a.crl"),
    )
    cache = CrlCache.from_trust(TrustConfig.of(region), tmp_path)
    assert cache.sources == (
        f"file:{tmp_path / 'SH' / 'crls' / 'x.crl'}",
        "https://crl.example.test/a.crl",
    )


def test_the_crls_kept_for_a_signature_are_those_of_its_chain(pki: DevPki) -> None:
    import hashlib

    from cryptography import x509

    from evalsvc.pki.revocation import chain_crls
    from evalsvc.pki.validate import Usage, validate

    trust = pki.trust()
    everyone = trust.crls
    chain = validate(pki.leaves["expert-li-JS"].cert, trust=trust, at=NOW,
                     usage=Usage.SIGNING).chain
    kept = chain_crls(chain, everyone)
    # The JS intermediate's CRL (covers the leaf) and the JS root's (covers the
    # intermediate) — no other region's, each under the SHA-256 of its DER.
    issuers = {x509.load_der_x509_crl(der).issuer for der in kept.values()}
    assert issuers == {c.issuer for c in chain[:-1]} and len(kept) == 2
    assert all(hashlib.sha256(der).hexdigest() == sha for sha, der in kept.items())
    assert len(everyone) > len(kept)
