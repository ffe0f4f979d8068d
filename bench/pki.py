"""Certificate validation and login throughput (prints figures; never pass/fail).

    .venv/bin/python bench/pki.py [--seconds 1.5] [--http] [--clients 8]

Per algorithm: full ``validate()`` per second (chain, key usage, CRL check in
``require`` mode, identity) and certificate-login verifications per second
(``verify_challenge_response``: the same validation plus the signature over the
challenge). Baselines measured in the same run, with the ratio, so figures from
different machines compare: for RSA/ECDSA a bare ``cryptography`` chain verify with
the same extension policies (no CRL, no identity); for SM2 the three bare gmalglib
verifies a chain needs. CRL signature checks are memoised per (CRL, issuer), as in
production, where one CRL serves every certificate of its CA.

``--http`` adds certificate-login handshakes/s over HTTP against a real ``evalsvc serve``
process (SQLite, dev PKI written to a temp dir as ``[pki] trust_dir``): each handshake is
``POST /api/auth/challenge`` + signing in this process + ``POST /api/auth/login`` (which
validates, consumes the nonce and writes the ``auth.login`` event and audit leaf).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification as xv

from evalsvc.pki.challenge import make_challenge, verify_challenge_response
from evalsvc.pki.devpki import DevPki, build_dev_pki
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import public_key_of, sign
from evalsvc.pki.sm2 import Sm2PublicKey
from evalsvc.pki.trust import TrustConfig
from evalsvc.pki.validate import Usage, validate

NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()  # warm up (and fail loudly if it raises)
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            fn()
        n += 10
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def _baseline(pki: DevPki, name: str, code: str) -> tuple[str, Callable[[], object]]:
    leaf = pki.leaves[name].cert
    inter, root = pki.regions[code].intermediate.cert, pki.regions[code].root.cert
    ik, rk = public_key_of(inter), public_key_of(root)
    if isinstance(ik, Sm2PublicKey) and isinstance(rk, Sm2PublicKey):

        def sm2() -> object:
            ik.verify(leaf.signature, leaf.tbs_certificate_bytes)
            rk.verify(inter.signature, inter.tbs_certificate_bytes)
            return rk.verify(root.signature, root.tbs_certificate_bytes)

        return "3 bare gmalglib SM2 verifies", sm2
    ee = (
        xv.ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, xv.Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, None)
    )
    verifier = (
        xv.PolicyBuilder()
        .store(xv.Store([root]))
        .time(NOW)
        .extension_policies(ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )
    return "bare cryptography chain verify", lambda: verifier.verify(leaf, [inter])


def _ours(
    pki: DevPki, trust: TrustConfig, name: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    leaf = pki.leaves[name]
    challenge = make_challenge(
        nonce=bytes(32),
        session="S-1",
        purpose="login",
        audience="https://primary.test",
        issued_at=NOW,
    )
    signature = sign(leaf.key, challenge.signing_bytes())

    def full() -> object:
        return validate(
            leaf.cert, trust=trust, at=NOW, usage=Usage.LOGIN, revocation=RevocationMode.REQUIRE
        )

    def login() -> object:
        return verify_challenge_response(
            challenge,
            certificate=leaf.cert,
            signature=signature,
            trust=trust,
            at=NOW,
            revocation=RevocationMode.REQUIRE,
        )

    return full, login


def http_logins(seconds: float, clients: int) -> None:
    """Login handshakes/s over HTTP per algorithm (see the module docstring)."""
    import asyncio
    import base64
    import json
    import os
    import secrets
    import sys
    import tempfile
    from pathlib import Path

    import aiohttp
    from cryptography.hazmat.primitives import serialization

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tests"))
    sys.path.insert(0, str(root / "tests" / "e2e"))
    from conftest import session_doc
    from procs import Server

    from evalsvc.auth import issue_token
    from evalsvc.keys import load_or_create_secret
    from evalsvc.pki.devpki import LI_ID, WANG_ID, ZHANG_ID, write_dev_pki

    now = dt.datetime.now(dt.UTC)
    pki = build_dev_pki(now)
    people = {  # seat holder -> (leaf, region of its intermediate)
        "SM2 (ZJ)": (f"person:{ZHANG_ID}", "expert-zhang-ZJ", "ZJ"),
        "RSA-2048 (SH)": (f"person:{ZHANG_ID}", "expert-zhang-SH", "SH"),
        "ECDSA P-256 (JS)": (f"person:{LI_ID}", "expert-li-JS", "JS"),
        "ECDSA P-384 (AH)": (f"person:{WANG_ID}", "expert-wang-AH", "AH"),
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_dev_pki(pki, tmp / "certs")
        (tmp / "bench.toml").write_text(
            f"[pki]\ntrust_dir = {json.dumps(str(tmp / 'certs'))}\n", encoding="utf-8"
        )
        os.environ["EVALSVC_CONFIG"] = str(tmp / "bench.toml")
        secret_file = tmp / "token-secret"
        server = Server(
            db_url=f"sqlite:///{tmp / 'bench.db'}", secret_file=secret_file, log=tmp / "log"
        )
        server.start()
        secret = load_or_create_secret(secret_file)

        def token(role: str, venue: str | None) -> str:
            return issue_token(
                secret,
                role=role,
                subject=f"bench-{role}-{venue}",
                name="bench",
                venue=venue,
                now=int(time.time()),
                ttl_seconds=3600,
                nonce=secrets.token_hex(8),
            )

        async def run() -> None:
            async with aiohttp.ClientSession() as http:
                op = token("operator", "sh-ggzy")
                h = {"Authorization": f"Bearer {op}"}
                async with http.post(
                    server.url + "/api/sessions", json=session_doc(), headers=h
                ) as r:
                    created = await r.json()
                sid = created["id"]

                async def cmd(name: str, **f: object) -> None:
                    async with http.post(
                        f"{server.url}/api/sessions/{sid}/commands",
                        json={"command": name, **f},
                        headers=h,
                    ) as r:
                        assert r.status == 200, await r.text()

                await cmd("open_draw")
                holders = [f"person:{ZHANG_ID}", f"person:{LI_ID}", f"person:{WANG_ID}"]
                for i, seat in enumerate(created["seats"]):
                    eid = holders[i] if i < len(holders) else f"E-{i}"
                    await cmd("assign_seat", seat=seat["index"], expert_id=eid, expert_name="x")

                async def one(name: str, region: str) -> None:
                    async with http.post(
                        server.url + "/api/auth/challenge", json={"session": sid}
                    ) as r:
                        ch = await r.json()
                    sig = sign(pki.leaves[name].key, base64.b64decode(ch["signing_bytes"]))
                    chain = "".join(
                        c.public_bytes(serialization.Encoding.PEM).decode()
                        for c in (pki.leaves[name].cert, pki.regions[region].intermediate.cert)
                    )
                    body = {
                        "nonce": ch["nonce"],
                        "certificate": chain,
                        "signature": base64.b64encode(sig).decode(),
                    }
                    async with http.post(server.url + "/api/auth/login", json=body) as r:
                        assert r.status == 200, await r.text()

                print(
                    f"\nlogin handshakes over HTTP ({clients} clients, SQLite, one server process)"
                )
                for label, (_holder, name, region) in people.items():
                    await one(name, region)  # warm up
                    deadline = time.perf_counter() + seconds

                    async def client(name: str, region: str, deadline: float) -> int:
                        n = 0
                        while time.perf_counter() < deadline:
                            await one(name, region)
                            n += 1
                        return n

                    start = time.perf_counter()
                    counts = await asyncio.gather(
                        *(client(name, region, deadline) for _ in range(clients))
                    )
                    done = sum(counts)
                    print(f"{label:26} {done / (time.perf_counter() - start):8.0f} /s")

        try:
            asyncio.run(run())
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="per measurement")
    parser.add_argument("--http", action="store_true", help="also login handshakes over HTTP")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    args = parser.parse_args()
    pki = build_dev_pki(NOW)
    trust = pki.trust()
    print(f"{'measurement':26} {'per s':>8}   {'baseline (same run)':31} {'per s':>8}  ratio")
    for alg, name, code in (
        ("RSA-2048", "expert-zhang-SH", "SH"),
        ("ECDSA P-256", "expert-li-JS", "JS"),
        ("ECDSA P-384", "expert-wang-AH", "AH"),
        ("SM2", "expert-zhang-ZJ", "ZJ"),
    ):
        full, login = _ours(pki, trust, name)
        base_name, base = _baseline(pki, name, code)
        v_base = rate(base, args.seconds)
        for what, fn in ((f"{alg} validate()", full), (f"{alg} login verify", login)):
            v = rate(fn, args.seconds)
            print(f"{what:26} {v:8.0f}   {base_name:31} {v_base:8.0f}  {v / v_base:5.2f}")
    k = ec.generate_private_key(ec.SECP256R1())
    msg = b"x" * 200
    sig = k.sign(msg, ec.ECDSA(hashes.SHA256()))
    pub = k.public_key()
    raw = rate(lambda: pub.verify(sig, msg, ec.ECDSA(hashes.SHA256())), args.seconds)
    print(f"{'bare ECDSA P-256 verify':26} {raw:8.0f}")
    if args.http:
        http_logins(max(args.seconds, 3.0), args.clients)


if __name__ == "__main__":
    main()
