"""x509-limbo through ``validate`` (vectors/limbo.json.gz; provenance in vectors/README.md).

SERVER cases run as ``Usage.VENUE_SERVER`` with the expected peer name, CLIENT cases as
``Usage.LOGIN``; cases with CRLs run in ``require`` mode. The skip list below names every
SERVER case we deliberately answer differently, and why (see docs/pki.md).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import warnings
from typing import Any

import pytest
from cryptography import x509

from evalsvc.errors import EvalsvcError
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.trust import RegionTrust, TrustConfig
from evalsvc.pki.validate import Usage, validate

from .conftest import VECTORS

# Some vectors carry non-positive serial numbers (RFC 5280 §4.1.2.2 forbids them, real CAs
# issue them); cryptography warns on every access. The warning is not what is tested.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

# Skipped SERVER cases: id -> why our answer deliberately differs.
SKIPS: dict[str, str] = {
    # Features not implemented (x509-limbo feature flags).
    "rfc5280::nc::permitted-dn-match": (
        "directoryName name constraints unsupported by cryptography; "
        "venue-server checks always name the server"
    ),
    # cryptography's webpki profile, which we keep for TLS server chains.
    "crl::issuer-no-keyusage-extension": "webpki requires keyUsage on CA certificates",
    "pathlen::validation-ignores-pathlen-in-leaf": "a CA certificate is refused as an end entity",
    "rfc5280::ca-as-leaf": "a CA certificate is refused as an end entity",
    "rfc5280::aki::cross-signed-root-missing-aki": "pedantic-rfc5280: the chain found does not use "
    "the cross-signed root",
    # Pairs of cases that contradict each other: we follow the webpki variant for TLS.
    "rfc5280::eku::ee-without-eku": "conflicts with webpki::eku::ee-without-eku",
    "rfc5280::nc::permitted-dns-match-noncritical": "conflicts with "
    "webpki::nc::permitted-dns-match-noncritical",
    "webpki::cn::not-in-san": "conflicts with rfc5280::nc::* cases whose CN is outside the SAN",
    "webpki::cn::punycode-not-in-san": "same as webpki::cn::not-in-san",
}


def _load() -> list[dict[str, Any]]:
    with gzip.open(VECTORS / "limbo.json.gz", "rt", encoding="utf-8") as fh:
        cases: list[dict[str, Any]] = json.load(fh)["testcases"]
    return cases


def _run(case: dict[str, Any]) -> tuple[str, str]:
    """(SUCCESS|FAILURE, reason)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            anchors = [x509.load_pem_x509_certificate(c.encode()) for c in case["trusted_certs"]]
            inter = [
                x509.load_pem_x509_certificate(c.encode()) for c in case["untrusted_intermediates"]
            ]
            peer = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
            crls = [x509.load_pem_x509_crl(c.encode()) for c in case["crls"]]
        except ValueError as exc:
            return "FAILURE", f"does not parse: {exc}"
    at = (
        dt.datetime.fromisoformat(case["validation_time"])
        if case["validation_time"]
        else dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    )
    trust = TrustConfig.of(RegionTrust(code="LIMBO", name="limbo", anchors=tuple(anchors)))
    server = case["validation_kind"] == "SERVER"
    peer_name = case.get("expected_peer_name") or {}
    kwargs: dict[str, Any] = {}
    if case["max_chain_depth"] is not None:
        kwargs["max_depth"] = case["max_chain_depth"]
    try:
        validate(
            peer,
            trust=trust,
            at=at,
            usage=Usage.VENUE_SERVER if server else Usage.LOGIN,
            intermediates=inter,
            crls=crls,
            revocation=RevocationMode.REQUIRE if crls else RevocationMode.OFF,
            server_name=peer_name.get("value"),
            **kwargs,
        )
    except EvalsvcError as exc:
        return "FAILURE", f"{type(exc).__name__}: {exc.message}"
    return "SUCCESS", ""


@pytest.fixture(scope="module")
def outcomes() -> list[tuple[dict[str, Any], str, str]]:
    return [(case, *_run(case)) for case in _load()]


def test_all_client_cases_match(outcomes: list[tuple[dict[str, Any], str, str]]) -> None:
    client = [(c, got, why) for c, got, why in outcomes if c["validation_kind"] == "CLIENT"]
    wrong = [
        (c["id"], c["expected_result"], why)
        for c, got, why in client
        if got != c["expected_result"]
    ]
    print(f"\nx509-limbo CLIENT: {len(client) - len(wrong)}/{len(client)} match")
    assert len(client) == 10
    assert not wrong


def test_server_cases_match(outcomes: list[tuple[dict[str, Any], str, str]]) -> None:
    server = [(c, got, why) for c, got, why in outcomes if c["validation_kind"] == "SERVER"]
    matched = [c["id"] for c, got, _ in server if got == c["expected_result"]]
    skipped = [c["id"] for c, _, _ in server if c["id"] in SKIPS]
    wrong = [
        (c["id"], c["expected_result"], why)
        for c, got, why in server
        if got != c["expected_result"] and c["id"] not in SKIPS
    ]
    considered = len(server) - len(skipped)
    matched_considered = len([i for i in matched if i not in SKIPS])
    print(
        f"\nx509-limbo SERVER: {len(matched)}/{len(server)} match overall "
        f"({100 * len(matched) / len(server):.1f} %); skip list {len(skipped)}; "
        f"{matched_considered}/{considered} of the rest "
        f"({100 * matched_considered / considered:.1f} %)"
    )
    assert len(server) == 198
    assert not wrong, wrong
    # Issue 6: ≥ 95 % of all SERVER cases match; a skipped case counts as not matching.
    assert len(matched) / len(server) >= 0.95
    # The skip list stays honest: every entry exists and is still a mismatch.
    ids = {c["id"] for c, _, _ in server}
    assert set(SKIPS) <= ids
    stale = [c["id"] for c, got, _ in server if c["id"] in SKIPS and got == c["expected_result"]]
    assert not stale, f"now matching, remove from SKIPS: {stale}"
