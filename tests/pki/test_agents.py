"""Venue agents by venue certificate: the ``[pki] venue_agents`` setting and the mapping
from a validated certificate to a read-only operator of its venue (pure)."""

from __future__ import annotations

import pytest

from evalsvc.auth import issue_token, verify_token
from evalsvc.errors import ConfigError, UnknownVenueAgent, WrongCertificateRole
from evalsvc.pki.agents import parse_venue_agents, venue_agent_principal
from evalsvc.pki.devpki import JS_VENUE_USCC, SH_VENUE_USCC, ZJ_VENUE_USCC, DevPki
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, validate

from .conftest import NOW

BAD_USCC = JS_VENUE_USCC[:-1] + ("1" if JS_VENUE_USCC[-1] != "1" else "2")
AGENTS = {f"organisation:{JS_VENUE_USCC}": "js-suzhou", f"organisation:{ZJ_VENUE_USCC}": "zj-hz"}


def test_the_setting_maps_organisations_to_venues() -> None:
    text = f" organisation:{JS_VENUE_USCC} = js-suzhou ,org:{ZJ_VENUE_USCC.lower()}=zj-hz, "
    assert parse_venue_agents(text) == AGENTS
    assert parse_venue_agents("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("js-suzhou", "expected 'organisation:<USCC>=<venue id>'"),
        (f"organisation:{JS_VENUE_USCC}=", "expected 'organisation:<USCC>=<venue id>'"),
        (f"{JS_VENUE_USCC}=js-suzhou", "expected 'organisation:<USCC>=<venue id>'"),
        ("person:310104198001011239=js-suzhou", "a venue agent is its organisation"),
        (f"organisation:{BAD_USCC}=js-suzhou", "not a valid USCC: check character"),
        (
            f"org:{JS_VENUE_USCC}=js-suzhou, org:{JS_VENUE_USCC}=ah-hefei",
            "mapped to js-suzhou and ah-hefei",
        ),
    ],
)
def test_a_bad_setting_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_venue_agents(text)



def test_a_venue_certificate_is_a_read_only_operator_of_its_venue(
    pki: DevPki, trust: TrustConfig
) -> None:
    for name, venue, region in (
        ("venue-JS-client", "js-suzhou", "JS"),
        ("venue-ZJ-client", "zj-hz", "ZJ"),  # SM2: the same mapping as over TLS
    ):
        leaf = pki.leaves[name].cert
        result = validate(leaf, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT)
        assert result.region == region
        p = venue_agent_principal(result, leaf, venue_agents=AGENTS, key_sha256="ab" * 32)
        assert (p.role, p.venue, p.read_only, p.key_sha256) == ("operator", venue, True, "ab" * 32)
        assert p.subject.startswith(f"agent-{venue}-") and p.name.endswith("副场")
        assert venue_agent_principal(
            result, leaf, venue_agents=AGENTS, key_sha256="", expected_venue=venue
        ).venue == venue


def test_refusals_name_the_reason(pki: DevPki, trust: TrustConfig) -> None:
    # An expert's certificate is refused by validation itself (a person, not a venue).
    with pytest.raises(WrongCertificateRole, match="a venue agent needs its venue"):
        validate(pki.leaves["expert-li-JS"].cert, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT)
    # A valid organisation certificate nobody mapped (the SH primary's, which allows
    # clientAuth) speaks for no venue.
    sh = pki.leaves["venue-SH-server"].cert
    result = validate(sh, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT)
    assert result.identity is not None and result.identity.number == SH_VENUE_USCC
    with pytest.raises(UnknownVenueAgent, match=r"not a configured venue agent \(\[pki\]"):
        venue_agent_principal(result, sh, venue_agents=AGENTS, key_sha256="")
    js = pki.leaves["venue-JS-client"].cert
    result = validate(js, trust=trust, at=NOW, usage=Usage.VENUE_CLIENT)
    with pytest.raises(UnknownVenueAgent, match="speaks for venue js-suzhou, not ah-hefei"):
        venue_agent_principal(
            result, js, venue_agents=AGENTS, key_sha256="", expected_venue="ah-hefei"
        )
    assert UnknownVenueAgent.code == "venue_agent_unknown"


def test_a_read_only_token_says_so_and_others_do_not() -> None:
    kw = {"role": "operator", "subject": "s", "name": "n", "venue": "v", "now": 100}
    ro = issue_token(b"k", **kw, ttl_seconds=60, nonce="1", read_only=True)  # type: ignore[arg-type]
    rw = issue_token(b"k", **kw, ttl_seconds=60, nonce="1")  # type: ignore[arg-type]
    assert verify_token(b"k", ro, now=100).read_only
    assert not verify_token(b"k", rw, now=100).read_only
