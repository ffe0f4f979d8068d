"""Mutual TLS over loopback with contexts from the regional trust, then ``validate``."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from evalsvc.pki.devpki import DevPki, write_dev_pki
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.tls import client_ssl_context, peer_leaf, server_ssl_context
from evalsvc.pki.trust import load_trust
from evalsvc.pki.validate import Usage, validate

from .conftest import NOW


def _bundle(out: Path, name: str) -> Path:
    path = out / f"{name}.bundle.pem"
    leaves = out / "leaves"
    path.write_bytes(
        (leaves / f"{name}.pem").read_bytes() + (leaves / f"{name}.chain.pem").read_bytes()
    )
    return path


def test_jiangsu_venue_agent_connects_to_shanghai_primary(pki: DevPki, tmp_path: Path) -> None:
    write_dev_pki(pki, tmp_path)
    trust = load_trust(tmp_path)
    server_ctx = server_ssl_context(
        trust,
        cert_file=_bundle(tmp_path, "venue-SH-server"),
        key_file=tmp_path / "leaves" / "venue-SH-server.key",
    )
    client_ctx = client_ssl_context(
        trust,
        cert_file=_bundle(tmp_path, "venue-JS-client"),
        key_file=tmp_path / "leaves" / "venue-JS-client.key",
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            leaf = peer_leaf(tls)
            result = validate(
                leaf,
                trust=trust,
                at=NOW,
                usage=Usage.VENUE_CLIENT,
                revocation=RevocationMode.REQUIRE,
            )
            seen["region"], seen["identity"] = result.region, result.identity
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        server_leaf = peer_leaf(tls)
        assert tls.recv(2) == b"ok"
    thread.join(10)
    listener.close()
    assert seen["region"] == "JS"
    assert getattr(seen["identity"], "kind", None).value == "organisation"  # type: ignore[union-attr]
    assert (
        validate(
            server_leaf, trust=trust, at=NOW, usage=Usage.VENUE_SERVER, server_name="localhost"
        ).region
        == "SH"
    )


def test_client_without_certificate_is_refused(pki: DevPki, tmp_path: Path) -> None:
    write_dev_pki(pki, tmp_path)
    trust = load_trust(tmp_path)
    server_ctx = server_ssl_context(
        trust,
        cert_file=_bundle(tmp_path, "venue-SH-server"),
        key_file=tmp_path / "leaves" / "venue-SH-server.key",
    )
    bare = ssl.create_default_context(cadata=(tmp_path / "SH" / "anchors" / "root.pem").read_text())
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        bare.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.recv(1)  # TLS 1.3: the refusal arrives after the handshake
    thread.join(10)
    listener.close()
