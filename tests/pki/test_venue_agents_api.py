"""Venue agents authenticated by their venue certificate, through the real app:

- over HTTPS with a client certificate (an in-process server with the ``ssl`` context
  ``evalsvc serve --tls-cert`` builds): ``/api/me``, ``/api/sessions`` and the WebSocket's
  ``{"type": "auth", "method": "tls"}`` — read-only; refusals by error code;
- by a signed ``venue-agent`` challenge (the SM2 fallback) over plain HTTP.

The dev PKI is generated for the real current time (the app's clock) into tmp.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Harness, make_token, session_doc

from evalsvc.app import create_app
from evalsvc.config import Settings
from evalsvc.pki.devpki import JS_VENUE_USCC, ZJ_VENUE_USCC, DevPki, build_dev_pki, write_dev_pki
from evalsvc.pki.routes import SERVER_SSL
from evalsvc.pki.signatures import sign
from evalsvc.pki.tls import client_ssl_context, server_ssl_context
from evalsvc.pki.trust import load_trust

from .test_login_api import pem_chain

AGENTS = f"organisation:{JS_VENUE_USCC}=js-suzhou, org:{ZJ_VENUE_USCC}=zj-hangzhou"


@pytest.fixture(scope="module")
def devpki() -> DevPki:
    return build_dev_pki(dt.datetime.now(dt.UTC))


@pytest.fixture
def certs(devpki: DevPki, tmp_path: Path) -> Path:
    out = tmp_path / "pki"
    write_dev_pki(devpki, out)
    return out


def _settings(settings: Settings, trust_dir: Path, **pki: Any) -> Settings:
    return dataclasses.replace(
        settings,
        pki=dataclasses.replace(
            settings.pki, trust_dir=str(trust_dir), venue_agents=AGENTS, **pki
        ),
    )


def _bundle(certs: Path, name: str) -> Path:
    path = certs / f"{name}.bundle.pem"
    leaves = certs / "leaves"
    path.write_bytes(
        (leaves / f"{name}.pem").read_bytes() + (leaves / f"{name}.chain.pem").read_bytes()
    )
    return path


class Https:
    """An HTTPS evalsvc (client certificates optional) and clients that present one."""

    def __init__(self, base: str, certs: Path, settings: Settings) -> None:
        self.base = base
        self.certs = certs
        self.settings = settings
        self.trust = load_trust(certs)
        self.sessions: list[aiohttp.ClientSession] = []

    def client(self, name: str | None) -> aiohttp.ClientSession:
        """A client presenting leaf ``name`` alone (the server's store has the
        intermediates), or no certificate."""
        leaves = self.certs / "leaves"
        ctx = client_ssl_context(
            self.trust,
            cert_file=leaves / f"{name}.pem" if name else None,
            key_file=leaves / f"{name}.key" if name else None,
        )
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, force_close=True),
            timeout=aiohttp.ClientTimeout(total=20),
        )
        self.sessions.append(http)
        return http

    async def call(
        self, http: aiohttp.ClientSession, method: str, path: str, token: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)


@pytest.fixture
async def https(aiohttp_server: Any, settings: Settings, certs: Path) -> AsyncIterator[Https]:
    s = _settings(settings, certs)
    app = create_app(s)
    ctx = server_ssl_context(
        None,
        cert_file=_bundle(certs, "venue-SH-server"),
        key_file=certs / "leaves" / "venue-SH-server.key",
        require_client_cert=False,
    )
    app[SERVER_SSL] = ctx  # as `evalsvc serve --tls-cert` does: anchors come on start
    server = await aiohttp_server(app, ssl=ctx)
    h = Https(f"https://localhost:{server.port}", certs, s)
    try:
        yield h
    finally:
        for http in h.sessions:
            await http.close()


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (presence and heartbeats pass by)."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=10)
        if frame["type"] == kind:
            return frame
        assert frame["type"] in ("presence", "heartbeat"), frame


async def test_a_jiangsu_venue_certificate_reads_as_its_venue_and_changes_nothing(
    https: Https,
) -> None:
    op = make_token(https.settings, "operator", venue="sh-ggzy")
    plain = https.client(None)
    status, created = await https.call(plain, "POST", "/api/sessions", op, session_doc())
    assert status == 201, created
    sid = created["id"]
    agent = https.client("venue-JS-client")

    status, me = await https.call(agent, "GET", "/api/me")
    assert status == 200, me
    assert (me["role"], me["venue"], me["name"]) == ("operator", "js-suzhou", "江苏副场")
    assert me["subject"].startswith("agent-js-suzhou-")
    status, listed = await https.call(agent, "GET", "/api/sessions")
    assert status == 200 and [s["id"] for s in listed["sessions"]] == [sid]
    # Read-only: what an operator of the venue could change, its agent cannot.
    status, err = await https.call(
        agent, "POST", f"/api/sessions/{sid}/commands", body={"command": "pause", "reason": "x"}
    )
    assert (status, err["code"]) == (403, "forbidden") and "venue agent" in err["detail"]
    # A bearer token, when sent, wins over the certificate.
    status, me = await https.call(agent, "GET", "/api/me", op)
    assert (status, me["venue"]) == (200, "sh-ggzy")

    async with agent.ws_connect(https.base.replace("https", "wss") + f"/ws/sessions/{sid}") as ws:
        await ws.send_json({"type": "auth", "method": "tls"})
        ok = await ws.receive_json(timeout=10)
        assert ok["type"] == "auth_ok" and ok["you"]["venue"] == "js-suzhou", ok
        await ws.send_json({"type": "hello", "epoch": None, "last_seq": 0})
        frames = []
        while not frames or frames[-1]["type"] != "synced":
            frames.append(await ws.receive_json(timeout=10))
        events = [f for f in frames if f["type"] == "event"]
        assert events[0]["event"] == "session.created"
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        await ws.send_json(
            {"type": "command", "id": "cmd-agent-0001", "body": {"command": "open_draw"}}
        )
        err = await _next(ws, "error")
        assert (err["code"], err["id"]) == ("forbidden", "cmd-agent-0001")
        # Live events reach the agent.
        status, _ = await https.call(
            plain, "POST", f"/api/sessions/{sid}/commands", op, {"command": "open_draw"}
        )
        assert status == 200
        live = await _next(ws, "event")
        assert live["seq"] == len(events) + 1, live


async def test_certificates_that_are_not_a_configured_venue_are_refused(https: Https) -> None:
    expert = https.client("expert-li-JS")  # a person's certificate (clientAuth, ECDSA)
    status, err = await https.call(expert, "GET", "/api/me")
    assert (status, err["code"]) == (403, "certificate_wrong_role"), err
    # A valid organisation certificate mapped to no venue (the SH primary's own).
    unmapped = https.client("venue-SH-server")
    status, err = await https.call(unmapped, "GET", "/api/me")
    assert (status, err["code"]) == (403, "venue_agent_unknown"), err
    assert "[pki] venue_agents" in err["detail"]
    # Routes that need nobody still answer a refused certificate.
    async with expert.get(https.base + "/healthz") as r:
        assert r.status == 200
    # No certificate and no token.
    status, err = await https.call(https.client(None), "GET", "/api/me")
    assert (status, err["code"]) == (401, "unauthenticated")

    op = make_token(https.settings, "operator", venue="sh-ggzy")
    plain = https.client(None)
    status, created = await https.call(plain, "POST", "/api/sessions", op, session_doc())
    url = https.base.replace("https", "wss") + f"/ws/sessions/{created['id']}"
    for name, code, close in (
        ("expert-li-JS", "certificate_wrong_role", 4403),
        ("venue-SH-server", "venue_agent_unknown", 4403),
        (None, "unauthenticated", 4401),
    ):
        async with https.client(name).ws_connect(url) as ws:
            await ws.send_json({"type": "auth", "method": "tls"})
            err = await ws.receive_json(timeout=10)
            assert (err["type"], err["code"]) == ("error", code), err
            bye = await ws.receive_json(timeout=10)
            assert bye == {"type": "bye", "code": code, "message": err["message"]}
            await ws.receive(timeout=10)
            assert ws.close_code == close


async def test_a_trust_reload_lets_a_new_region_s_agents_in(
    aiohttp_server: Any, settings: Settings, certs: Path, tmp_path: Path
) -> None:
    # Without SH either: its cross-certificate for the JS root would let OpenSSL accept
    # the handshake (validate() would then refuse: the JS intermediate is in no store).
    partial = tmp_path / "trust"
    for region in ("ZJ", "AH"):
        shutil.copytree(certs / region, partial / region)
    s = _settings(settings, partial)
    app = create_app(s)
    ctx = server_ssl_context(
        None,
        cert_file=_bundle(certs, "venue-SH-server"),
        key_file=certs / "leaves" / "venue-SH-server.key",
        require_client_cert=False,
    )
    app[SERVER_SSL] = ctx
    server = await aiohttp_server(app, ssl=ctx)
    h = Https(f"https://localhost:{server.port}", certs, s)
    try:
        # Jiangsu is not trusted yet: OpenSSL refuses the handshake.
        with pytest.raises(aiohttp.ClientError):
            await h.call(h.client("venue-JS-client"), "GET", "/api/me")
        shutil.copytree(certs / "JS", partial / "JS")
        sup = make_token(s, "supervisor")
        status, body = await h.call(h.client(None), "POST", "/api/admin/trust/reload", sup)
        assert status == 200, body
        status, me = await h.call(h.client("venue-JS-client"), "GET", "/api/me")
        assert (status, me.get("venue")) == (200, "js-suzhou"), me
    finally:
        for http in h.sessions:
            await http.close()


# --- the signed-challenge fallback (SM2 venues), over plain HTTP ------------------------


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, certs: Path) -> Harness:
    s = _settings(settings, certs, venue_agent_ttl_seconds=300)
    return Harness(await aiohttp_client(create_app(s)), s)


async def agent_login(
    api: Harness, devpki: DevPki, name: str, **extra: Any
) -> tuple[int, Any]:
    status, ch = await api.call("POST", "/api/auth/challenge", json={"purpose": "venue-agent"})
    assert status == 201, ch
    assert (ch["challenge"]["purpose"], ch["challenge"]["session"]) == ("venue-agent", "-")
    sig = sign(devpki.leaves[name].key, base64.b64decode(ch["signing_bytes"]))
    return await api.call(
        "POST",
        "/api/auth/login",
        json={
            "nonce": ch["nonce"],
            "certificate": pem_chain(devpki, name),
            "signature": base64.b64encode(sig).decode(),
            **extra,
        },
    )


async def test_an_sm2_venue_agent_gets_a_short_read_only_token_by_signed_challenge(
    api: Harness, devpki: DevPki
) -> None:
    doc = session_doc()
    doc["secondary_venues"].append(
        {"id": "zj-hangzhou", "name": "杭州中心", "region": "ZJ", "city": "杭州", "seats": 1}
    )
    sid, _ = await api.create(doc)
    before = await api.events(sid)
    status, body = await agent_login(api, devpki, "venue-ZJ-client", venue="zj-hangzhou")
    assert status == 200, body
    assert (body["role"], body["venue"], body["region"], body["seq"], body["read_only"]) == (
        "operator",
        "zj-hangzhou",
        "ZJ",
        None,
        True,
    )
    assert 290 <= body["expires_at"] - int(dt.datetime.now(dt.UTC).timestamp()) <= 300
    token = body["token"]
    status, listed = await api.call("GET", "/api/sessions", token)
    assert status == 200 and [s["id"] for s in listed["sessions"]] == [sid]
    status, err = await api.command(sid, token, "pause", reason="x")
    assert (status, err["code"]) == (403, "forbidden")
    # Nothing was written to the session's log by the login (it names no session).
    assert await api.events(sid) == before


async def test_venue_agent_challenge_refusals(api: Harness, devpki: DevPki) -> None:
    status, err = await agent_login(api, devpki, "venue-ZJ-client", venue="js-suzhou")
    assert (status, err["code"]) == (403, "venue_agent_unknown"), err
    status, err = await agent_login(api, devpki, "expert-zhang-ZJ")
    assert (status, err["code"]) == (403, "certificate_wrong_role"), err
    status, err = await agent_login(api, devpki, "venue-ZJ-client", role="expert")
    assert (status, err["field"]) == (422, "role"), err
    status, err = await api.call(
        "POST", "/api/auth/challenge", json={"purpose": "venue-agent", "session": "s-1"}
    )
    assert (status, err["field"]) == (422, "session"), err
    status, err = await api.call("POST", "/api/auth/challenge", json={"purpose": "step-up"})
    assert (status, err["field"]) == (422, "purpose"), err


async def test_without_venue_agents_configured_there_is_no_venue_agent_challenge(
    aiohttp_client: Any, settings: Settings, certs: Path
) -> None:
    s = dataclasses.replace(settings, pki=dataclasses.replace(settings.pki, trust_dir=str(certs)))
    api = Harness(await aiohttp_client(create_app(s)), s)
    status, err = await api.call("POST", "/api/auth/challenge", json={"purpose": "venue-agent"})
    assert (status, err["code"]) == (403, "forbidden") and "venue_agents" in err["detail"]
