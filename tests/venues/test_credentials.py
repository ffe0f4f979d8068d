"""How a venue agent is known to the primary: command-line checks, the signed-challenge
credentials (renewal, no login loop) against the real app, and the check of the
primary's certificate."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from evalsvc.app import create_app
from evalsvc.config import Settings
from evalsvc.errors import (
    CertificateRejected,
    ConfigError,
    Forbidden,
    UnknownIssuer,
)
from evalsvc.pki.devpki import ZJ_VENUE_USCC, DevPki, build_dev_pki, write_dev_pki
from evalsvc.pki.trust import load_trust
from evalsvc.venues.cli import _connection
from evalsvc.venues.credentials import (
    ChallengeCredentials,
    PrimaryCheck,
    TlsCredentials,
    TokenCredentials,
    load_venue_certificate,
)


@pytest.fixture(scope="module")
def devpki() -> DevPki:
    return build_dev_pki(dt.datetime.now(dt.UTC))


@pytest.fixture
def certs(devpki: DevPki, tmp_path: Path) -> Path:
    write_dev_pki(devpki, tmp_path / "pki")
    return tmp_path / "pki"


def _args(certs: Path, **kw: Any) -> argparse.Namespace:
    base: dict[str, Any] = {
        "primary": "https://localhost:8443",
        "venue": "js-suzhou",
        "token": None,
        "cert": None,
        "key": None,
        "trust": certs,
        "server_name": None,
        "auth": "auto",
    }
    return argparse.Namespace(**{**base, **kw})


def _leaf(certs: Path, name: str) -> dict[str, Path]:
    return {"cert": certs / "leaves" / f"{name}.pem", "key": certs / "leaves" / f"{name}.key"}


def test_the_command_line_picks_how_to_authenticate(certs: Path) -> None:
    creds, ctx, check = _connection(_args(certs, **_leaf(certs, "venue-JS-client")))
    assert isinstance(creds, TlsCredentials) and ctx is not None and check is not None
    assert check.server_name == "localhost"
    # SM2 cannot do TLS here: the signed challenge, with a context that checks the primary.
    creds, ctx, check = _connection(_args(certs, **_leaf(certs, "venue-ZJ-client")))
    assert isinstance(creds, ChallengeCredentials) and ctx is not None
    creds, ctx, check = _connection(
        _args(certs, primary="http://127.0.0.1:8080", **_leaf(certs, "venue-JS-client"))
    )
    assert isinstance(creds, ChallengeCredentials) and ctx is None and check is None
    creds, _, _ = _connection(_args(certs, primary="http://127.0.0.1:8080", token="t"))
    assert isinstance(creds, TokenCredentials)
    _, _, check = _connection(
        _args(certs, server_name="primary.sh.evalsvc.test", **_leaf(certs, "venue-JS-client"))
    )
    assert check is not None and check.server_name == "primary.sh.evalsvc.test"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "needs --token .* or --cert and --key"),
        ({"token": "t", "leaf": "venue-JS-client"}, "not both"),
        ({"cert": Path("nowhere.pem")}, "--cert and --key go together"),
        ({"primary": "ftp://x", "token": "t"}, "http:// or https://"),
        ({"primary": "http://x", "auth": "tls", "leaf": "venue-JS-client"}, "needs an https://"),
        ({"auth": "tls", "leaf": "venue-ZJ-client"}, "cannot do TLS with an SM2"),
        ({"auth": "challenge"}, "needs --cert and --key"),
        ({"primary": "http://x", "token": "t", "server_name": "n"}, "is for an https://"),
    ],
)
def test_command_line_mistakes_are_clear_errors(
    certs: Path, kw: dict[str, Any], message: str
) -> None:
    leaf = kw.pop("leaf", None)
    if leaf:
        kw.update(_leaf(certs, leaf))
    with pytest.raises(ConfigError, match=message):
        _connection(_args(certs, **kw))


def test_missing_or_mismatched_certificate_files_are_named(certs: Path) -> None:
    leaves = certs / "leaves"
    with pytest.raises(ConfigError, match=r"--cert .*nowhere\.pem"):
        load_venue_certificate(leaves / "nowhere.pem", leaves / "venue-JS-client.key")
    with pytest.raises(ConfigError, match=r"--key .*nowhere\.key"):
        load_venue_certificate(leaves / "venue-JS-client.pem", leaves / "nowhere.key")
    with pytest.raises(ConfigError, match="is not the key of the certificate"):
        load_venue_certificate(leaves / "venue-JS-client.pem", leaves / "expert-li-JS.key")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_venue_certificate(leaves / "venue-JS-client.pem", leaves / "venue-JS-client.pem")
    leaf, pem, _ = load_venue_certificate(
        leaves / "venue-ZJ-client.pem", leaves / "venue-ZJ-client.key"
    )
    assert pem.count("BEGIN CERTIFICATE") == 1 and leaf.subject


class _Peer:
    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        return self.der


def test_the_primary_certificate_is_validated_as_a_venue_server(
    devpki: DevPki, certs: Path, tmp_path: Path
) -> None:
    der = devpki.leaves["venue-SH-server"].cert.public_bytes(Encoding.DER)
    PrimaryCheck(load_trust(certs), server_name="localhost").check(_Peer(der))  # type: ignore[arg-type]
    with pytest.raises(CertificateRejected, match=r"does not validate as evil\.example"):
        PrimaryCheck(load_trust(certs), server_name="evil.example").check(_Peer(der))  # type: ignore[arg-type]
    # A Jiangsu-only trust store does not reach the Shanghai primary's certificate.
    with pytest.raises(UnknownIssuer):
        PrimaryCheck(devpki.trust("JS"), server_name="localhost").check(_Peer(der))  # type: ignore[arg-type]
    with pytest.raises(CertificateRejected, match="presented no TLS certificate"):
        PrimaryCheck(load_trust(certs), server_name="localhost").check(_Peer(None))  # type: ignore[arg-type]
    # A client certificate is not a server's.
    client = devpki.leaves["venue-JS-client"].cert.public_bytes(Encoding.DER)
    with pytest.raises(CertificateRejected):
        PrimaryCheck(load_trust(certs), server_name="localhost").check(_Peer(client))  # type: ignore[arg-type]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_challenge_credentials_renew_before_expiry_and_after_a_refusal(
    aiohttp_client: Any, settings: Settings, certs: Path, devpki: DevPki
) -> None:
    s = dataclasses.replace(
        settings,
        pki=dataclasses.replace(
            settings.pki,
            trust_dir=str(certs),
            venue_agents=f"org:{ZJ_VENUE_USCC}=zj-hangzhou",
            venue_agent_ttl_seconds=100,
        ),
    )
    client = await aiohttp_client(create_app(s))
    _, pem, key = load_venue_certificate(
        certs / "leaves" / "venue-ZJ-client.pem", certs / "leaves" / "venue-ZJ-client.key"
    )
    clock = _Clock()
    base = str(client.make_url("")).rstrip("/")
    creds = ChallengeCredentials(
        primary=base, venue="zj-hangzhou", chain_pem=pem, key=key, clock=clock
    )
    async with aiohttp.ClientSession() as http:
        first = await creds.token_for(http)
        assert creds.logins == 1
        clock.now += 79  # more than a fifth of the lifetime left: the same token
        assert await creds.token_for(http) == first and creds.logins == 1
        clock.now += 2  # less than a fifth left: renewed ahead of expiry
        second = await creds.token_for(http)
        assert second != first and creds.logins == 2
        # The primary refusing the *old* token (a link closed at its expiry) does not
        # cost a login; refusing the current one does — once.
        creds.refused(first)
        assert await creds.token_for(http) == second and creds.logins == 2
        creds.refused(second)
        third = await creds.token_for(http)
        assert third not in (first, second) and creds.logins == 3
        assert await creds.auth_message(http) == {"type": "auth", "token": third}
        async with http.get(base + "/api/me", headers=await creds.headers(http)) as r:
            me = await r.json()
        assert (me["role"], me["venue"]) == ("operator", "zj-hangzhou")

        wrong = ChallengeCredentials(
            primary=base, venue="js-suzhou", chain_pem=pem, key=key, clock=clock
        )
        with pytest.raises(Forbidden, match=r"certificate \(venue_agent_unknown\)"):
            await wrong.token_for(http)
