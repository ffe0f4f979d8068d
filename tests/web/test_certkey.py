"""The browser's certificate key (``evalsvc/web/certkey.js``) against the server's own
signature code, both ways: the page signs with each dev-PKI expert key (SM2 through the
vendored sm-crypto, ECDSA P-256/P-384 and RSA through WebCrypto) and
``evalsvc.pki.signatures.verify_signature`` accepts; the server signs with SM2 and
sm-crypto accepts. Keys are generated here by the dev PKI, never pasted."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_or_fail
from cryptography import x509

from evalsvc.canonical import canonical_bytes
from evalsvc.errors import SignatureInvalid
from evalsvc.pki.devpki import BROWSER_EXPERTS, DevPki, browser_key_file, build_dev_pki
from evalsvc.pki.signatures import sign, verify_signature
from evalsvc.pki.sm2 import Sm2PrivateKey

HERE = Path(__file__).parent
DATA = '{"nonce":"挑战","type":"evalsvc-cert-challenge/v1"}'.encode()
SHEET = {"stage": "scoring", "bids": {"B2": {"T1": "35.5", "C1": "8"}, "B1": {"T1": "40"}}}


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return build_dev_pki(dt.datetime.now(dt.UTC))


def node(request: dict[str, Any]) -> dict[str, Any]:
    exe = shutil.which("node")
    if exe is None:
        skip_or_fail("Node.js is not installed (apt-get install nodejs)")
    run = subprocess.run(
        [str(exe), str(HERE / "certkey_cli.mjs")], input=json.dumps(request),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def test_every_browser_key_signs_what_the_server_verifies(pki: DevPki) -> None:
    files = {n: browser_key_file(pki, n).decode() for n in BROWSER_EXPERTS}
    out = node({"op": "sign", "files": files, "data_b64": base64.b64encode(DATA).decode(),
                "sheet": SHEET})
    algorithms = {n: out[n]["algorithm"] for n in BROWSER_EXPERTS}
    assert algorithms == {"expert-zhang-SH": "rsa", "expert-zhang-ZJ": "sm2",
                          "expert-li-JS": "ecdsa-p256", "expert-wang-AH": "ecdsa-p384"}
    for name in BROWSER_EXPERTS:
        cert = pki.leaves[name].cert
        signature = base64.b64decode(out[name]["signature"])
        verify_signature(cert, DATA, signature)
        # A signature over other bytes is refused: the check above can fail.
        with pytest.raises(SignatureInvalid):
            verify_signature(cert, DATA + b" ", signature)
        chain = x509.load_pem_x509_certificates(out[name]["certificate"].encode())
        assert chain[0] == cert and len(chain) == 2
        # The signed sheet covers exactly the server's canonical bytes of {stage, bids}.
        sheet = out[name]["sheet"]
        verify_signature(cert, canonical_bytes(SHEET), base64.b64decode(sheet["signature"]))
        assert {k: sheet[k] for k in ("stage", "bids")} == SHEET


def test_sm2_signatures_by_the_server_verify_in_sm_crypto(pki: DevPki) -> None:
    key = pki.leaves["expert-zhang-ZJ"].key
    assert isinstance(key, Sm2PrivateKey)
    signature = sign(key, DATA)
    request = {"op": "verify-sm2", "data_b64": base64.b64encode(DATA).decode(),
               "public_hex": key.public_key().point.hex(), "signature_hex": signature.hex()}
    assert node(request)["valid"] is True
    assert node({**request, "data_b64": base64.b64encode(DATA + b"x").decode()})["valid"] is False


def test_files_that_are_not_a_usable_key_are_named(pki: DevPki) -> None:
    whole = browser_key_file(pki, "expert-li-JS").decode()
    key_only = whole[: whole.index("-----BEGIN CERTIFICATE-----")]
    certs_only = whole[whole.index("-----BEGIN CERTIFICATE-----"):]
    out = node({"op": "sign", "data_b64": "", "sheet": SHEET,
                "files": {"key": key_only, "certs": certs_only, "text": "hello"}})
    assert out == {"key": {"error": "no_certificate"}, "certs": {"error": "no_key"},
                   "text": {"error": "no_key"}}


def test_the_vendored_sm_crypto_is_the_pinned_bundle_unchanged_with_its_licences() -> None:
    root = HERE.parent.parent
    lock = json.loads((root / "webvendor" / "package-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["node_modules/sm-crypto"]["version"]
    vendored = (root / "evalsvc" / "web" / "vendor" / "sm2.js").read_text(encoding="utf-8")
    lines = vendored.split("\n")
    assert lines[0].startswith(f"// sm-crypto {version} dist/sm2.js (MIT")
    # The wrapper's header names the SHA-256 of the original bundle: the bytes between
    # the wrapper's lines must still hash to it (no hand edits of the library).
    digest = lines[1].split("sha256 of the original: ")[1].split(".")[0]
    body = "\n".join(lines[4:-3]).encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == digest
    for name in ("sm-crypto.LICENCE", "jsbn.LICENSE"):
        text = (root / "evalsvc" / "web" / "vendor" / name).read_text(encoding="utf-8")
        assert "Permission is hereby granted" in text or "MIT" in text, name
