"""A sealed session's bundle re-derives everything, and any single change fails by name.

One sealed session (the demo's sealed tender, seat 0 signing the report with a dev-PKI
SM2 certificate) is exported once; every venue witness is simulated by cosigning the
bundle's checkpoints with a test key. Each tamper test copies the bundle, changes one
thing a supervisor would care about, and checks which named checks fail.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_database, make_settings
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine

from evalsvc.audit.bundle import Policy, format_policy
from evalsvc.audit.export import export_bundle
from evalsvc.audit.note import cosign_checkpoint, cosignature_vkey, generate_key
from evalsvc.audit.rederive import CHECK_ORDER, Check, verify_sealed
from evalsvc.audit.service import log_keys
from evalsvc.cli import main
from evalsvc.config import Settings
from evalsvc.keys import load_or_create_secret
from evalsvc.pki.devpki import DevPki, build_dev_pki, write_dev_pki
from evalsvc.pki.signatures import sign
from evalsvc.pki.trust import TrustConfig, load_trust

# Seeded on SQLite, or on PostgreSQL in the `-m db` pass (EVALSVC_TEST_DATABASE).
pytestmark = pytest.mark.db

SIGNER = "expert-zhang-ZJ"  # seat 0 signs the report with this SM2 certificate


@dataclasses.dataclass(frozen=True)
class Sealed:
    bundle: Path
    policy: str  # the supervisor's trust policy (log key, one witness, quorum 1)
    trust: TrustConfig
    certs: Path
    running: Path  # a bundle of a session still being scored
    running_policy: str


async def _seed(settings: Settings, devpki: DevPki) -> tuple[str, str]:
    from aiohttp import web

    from evalsvc.app import create_app
    from evalsvc.audit.routes import AUDIT
    from evalsvc.demo import seal_demo, seed_demo
    from evalsvc.experts.routes import DRAWS
    from evalsvc.sessions.routes import SESSIONS

    leaf = devpki.leaves[SIGNER]
    inter = devpki.regions["ZJ"].intermediate.cert
    pem = "".join(
        c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf.cert, inter)
    )

    def signer(seat: int, signing: bytes) -> dict[str, Any]:
        if seat != 0:
            return {}
        return {"signature": base64.b64encode(sign(leaf.key, signing)).decode(),
                "certificate": pem}

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        sealed = await seal_demo(app[SESSIONS], app[DRAWS], sign=signer)
        running = await seed_demo(app[SESSIONS], app[DRAWS])
        # The seal is a milestone, checkpointed in its own transaction; the running
        # session's scoring sheets wait for the checkpoint job, run here once.
        app[AUDIT].mark_dirty(running)
        await app[AUDIT].sign_pending()
        return sealed, running
    finally:
        await runner.cleanup()


def _cosign_all(bundle: Path, witness_skey: str) -> None:
    """Play a venue witness: cosign every checkpoint of the bundle."""
    for note in sorted((bundle / "checkpoints").glob("*.note")):
        text = note.read_text("utf-8")
        note.write_text(text + cosign_checkpoint(text, witness_skey, timestamp=1_780_000_000))


def _policy(settings: Settings, sid: str, witness_vkey: str) -> str:
    master = load_or_create_secret(settings.resolve(settings.audit.key_file))
    origin = f"{settings.audit.log_name}/{sid}"
    return format_policy(
        Policy(origin, log_keys(master, origin)[1], (cosignature_vkey(witness_vkey),), 1)
    )


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    tmp = tmp_path_factory.mktemp("sealed")
    devpki = build_dev_pki(dt.datetime.now(dt.UTC))
    certs = tmp / "certs"
    write_dev_pki(devpki, certs)
    trust = load_trust(certs)
    crls = [c.public_bytes(serialization.Encoding.DER) for c in trust.crls]
    with fresh_database(tmp) as url:
        settings = make_settings(tmp, url)
        settings = dataclasses.replace(
            settings, pki=dataclasses.replace(settings.pki, trust_dir=str(certs))
        )
        sid, running = asyncio.run(_seed(settings, devpki))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp / "bundle", crls=crls)
                export_bundle(conn, running, tmp / "running", crls=crls)
        finally:
            engine.dispose()
    wskey, wvkey = generate_key("venue.js-suzhou.example")
    for b in ("bundle", "running"):
        _cosign_all(tmp / b, wskey)
    return Sealed(tmp / "bundle", _policy(settings, sid, wvkey), trust, certs,
                  tmp / "running", _policy(settings, running, wvkey))


def _verify(s: Sealed, bundle: Path | None = None, **kw: Any) -> dict[str, Check]:
    return verify_sealed(bundle or s.bundle, trusted_policy=s.policy, trust=s.trust, **kw).checks


def _failed(checks: dict[str, Check]) -> set[str]:
    return {name for name, c in checks.items() if not c.ok}


def _tampered(s: Sealed, tmp_path: Path, change: Callable[[Path], None]) -> dict[str, Check]:
    copy = tmp_path / "bundle"
    shutil.copytree(s.bundle, copy)
    change(copy)
    return _verify(s, copy)


def _edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text("utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


def _edit_entry(bundle: Path, action: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the payload of the last log entry recording ``action`` (keeping it canonical)."""
    from evalsvc.canonical import canonical_bytes

    lines = (bundle / "entries").read_bytes().split(b"\n")
    i = max(n for n, raw in enumerate(lines) if raw and json.loads(raw)["action"] == action)
    doc = json.loads(lines[i])
    _edit_disclosed(doc, edit)
    lines[i] = canonical_bytes(doc)
    (bundle / "entries").write_bytes(b"\n".join(lines))


def _payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The payload a format-2 entry discloses (docs/audit.md "Leaves")."""
    return {name[len("payload."):]: value for _, name, value in doc["disclosed"]
            if name.startswith("payload.")}


def _edit_disclosed(doc: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a format-2 entry's disclosed payload in place (keeping each field's salt)."""
    payload = _payload(doc)
    edit(payload)
    salts = {name: salt for salt, name, _ in doc["disclosed"]}
    doc["disclosed"] = sorted(
        ([salts.get(n, salts["actor"]), n, v] for n, v in
         [("actor", next(v for _, n, v in doc["disclosed"] if n == "actor")),
          *(("payload." + k, v) for k, v in payload.items())]),
        key=lambda d: d[1],
    )


# -- the untouched bundle ----------------------------------------------------------------


def test_the_sealed_bundle_passes_every_named_check(sealed: Sealed) -> None:
    checks = _verify(sealed)
    assert list(checks) == list(CHECK_ORDER)
    assert _failed(checks) == set(), {n: c.detail for n, c in checks.items()}
    assert "1 certificate signatures valid" in checks["signatures"].detail
    assert "(ZJ)" in checks["signatures"].detail
    assert "same committee" in checks["draw"].detail
    assert "report equal to the recomputed one" in checks["result"].detail
    assert "quorum 1 met" in checks["witnesses"].detail
    names = sorted(p.name for p in sealed.bundle.iterdir())
    for f in ("session.json", "report.json", "sheets.json", "draw", "certs", "crls"):
        assert f in names


def test_the_clarification_is_in_the_report_and_the_handover_follows_the_seal(
    sealed: Sealed,
) -> None:
    """The demo's clarification is in the signed report; the handover recorded after the
    seal is in the log after the seal's entry and the bundle passes every check."""
    report = json.loads((sealed.bundle / "report.json").read_text("utf-8"))
    doc = report.get("report", report)
    assert [c["answer"] is not None for c in doc["clarifications"]] == [True]
    actions = [json.loads(raw)["action"]
               for raw in (sealed.bundle / "entries").read_bytes().split(b"\n") if raw]
    seal = max(i for i, a in enumerate(actions) if a == "session.state_changed")
    after = actions[seal + 1:]
    session = json.loads((sealed.bundle / "session.json").read_text("utf-8"))
    secondary = [v for v in session.get("session", session)["venues"] if not v["primary"]]
    assert after.count("handover.recorded") == len(secondary) == 3
    assert after.count("handover.acknowledged") == len(secondary)
    assert "clarification.answered" in actions[:seal]


def test_verify_json_names_each_check_and_the_text_the_keys_trusted(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text(sealed.policy)
    base = ["audit", "verify", str(sealed.bundle), "--trusted-keys", str(policy),
            "--trust-anchors", str(sealed.certs)]
    assert main([*base, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert set(doc["checks"]) == set(CHECK_ORDER)
    assert all(set(c) == {"ok", "detail"} for c in doc["checks"].values())
    assert main(base) == 0
    out = capsys.readouterr().out
    log_vkey = next(ln.split()[1] for ln in sealed.policy.splitlines() if ln.startswith("log "))
    assert "信任的密钥 / keys trusted" in out and log_vkey in out
    assert "见证 witness venue.js-suzhou.example+" in out
    assert out.rstrip().endswith("结论 / verdict: 通过 VERIFIED")


def test_without_trust_anchors_a_certificate_signature_cannot_pass(sealed: Sealed) -> None:
    checks = verify_sealed(sealed.bundle, trusted_policy=sealed.policy, trust=None).checks
    assert _failed(checks) == {"signatures"}
    assert "--trust-anchors" in checks["signatures"].detail


def test_a_running_session_verifies_what_is_disclosed_and_says_what_is_not(
    sealed: Sealed,
) -> None:
    checks = verify_sealed(sealed.running, trusted_policy=sealed.running_policy,
                           trust=sealed.trust).checks
    assert _failed(checks) == set(), {n: c.detail for n, c in checks.items()}
    assert "scoring not locked" in checks["result"].detail
    assert "scoring not locked, its sheets stay sealed" in checks["sheets"].detail
    assert "not yet disclosed: the report is not signed" in checks["signatures"].detail
    assert not (sealed.running / "report.json").exists()


def test_an_alert_hook_adds_its_named_check(sealed: Sealed) -> None:
    seen: list[int] = []

    def hook(events: Any, disclosed: Any) -> Check:
        seen.append(len(events))
        return Check(False, "planted")

    report = verify_sealed(sealed.bundle, trusted_policy=sealed.policy, trust=sealed.trust,
                           alerts=hook)
    assert seen and report.checks["alerts"] == Check(False, "planted") and not report.ok


# -- one change each -----------------------------------------------------------------------


def test_a_changed_score_fails_sheets(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(sheets: list[dict[str, Any]]) -> None:
            scoring = [o for o in sheets if o["stage"] == "scoring"]
            scoring[0]["sheet"]["bids"]["B1"]["T1"] = "20"

        _edit_json(b / "sheets.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    # The sheet no longer opens its commitment; the ranking recomputed from it differs too.
    assert _failed(checks) == {"sheets", "result"}
    assert "does not open its commitment" in checks["sheets"].detail


def test_a_second_different_opening_of_a_sheet_fails_sheets(
    sealed: Sealed, tmp_path: Path
) -> None:
    # The demo's re-review opened the scoring sheets twice; the bundle holds each
    # version once. A copy of one version with another score must not pass beside it.
    def change(b: Path) -> None:
        def edit(sheets: list[dict[str, Any]]) -> None:
            keys = [(o["stage"], o["seat"], o["version"]) for o in sheets]
            assert len(keys) == len(set(keys))
            forged = json.loads(json.dumps(next(o for o in sheets if o["stage"] == "scoring")))
            forged["sheet"]["bids"]["B1"]["T1"] = "20"
            sheets.insert(0, forged)

        _edit_json(b / "sheets.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert "sheets" in _failed(checks)
    assert "opened twice" in checks["sheets"].detail


def test_a_changed_seal_time_fails_result(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["sealed_at"] -= 86_400  # a day earlier

        _edit_json(b / "session.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"result"}
    assert "seal time" in checks["result"].detail


def test_the_deemed_agreement_accounts_for_the_seat_that_did_not_sign(sealed: Sealed) -> None:
    checks = _verify(sealed)
    assert "seat(s) [6] deemed to agree" in checks["signatures"].detail


def test_a_changed_seat_fails_draw(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["seats"][2]["expert_id"] = "EZJ000001"

        _edit_json(b / "session.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"draw"}
    assert "seat 2" in checks["draw"].detail


def test_a_changed_seed_contribution_fails_draw(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            r = doc["ceremony"]["reveals"][0]
            r["secret"] = ("00" if r["secret"][:2] != "00" else "11") + r["secret"][2:]

        _edit_json(b / "draw" / "1.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"draw"}
    assert "reveals" in checks["draw"].detail


def test_a_changed_drawn_member_fails_draw(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["result"]["seats"][0]["member"]["expert"] = "EZJ000001"

        _edit_json(b / "draw" / "1.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"draw"}


def test_a_changed_signature_fails_signatures(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(payload: dict[str, Any]) -> None:
            raw = bytearray(base64.b64decode(payload["signature"]["value"]))
            raw[-3] ^= 1
            payload["signature"]["value"] = base64.b64encode(bytes(raw)).decode()

        _edit_signed_report_entries(b, edit)

    checks = _tampered(sealed, tmp_path, change)
    # The signature is in a logged entry: the log shows the edit, and the signature fails.
    assert _failed(checks) == {"log", "signatures"}
    assert "signature invalid" in checks["signatures"].detail


def _edit_signed_report_entries(b: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    from evalsvc.canonical import canonical_bytes

    lines = (b / "entries").read_bytes().split(b"\n")
    for n, raw in enumerate(lines):
        if raw and (d := json.loads(raw))["action"] == "report.signed" and "signature" in (
            _payload(d)
        ):
            _edit_disclosed(d, edit)
            lines[n] = canonical_bytes(d)
    (b / "entries").write_bytes(b"\n".join(lines))


def test_another_signer_certificate_fails_signatures(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        pem = next((b / "certs").glob("*.pem"))
        other = build_dev_pki(dt.datetime.now(dt.UTC))
        leaf = other.leaves[SIGNER].cert.public_bytes(serialization.Encoding.PEM)
        pem.write_bytes(leaf)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"signatures"}
    assert "holds another certificate" in checks["signatures"].detail


def test_a_changed_price_fails_result(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["bids"][1]["price_fen"] += 100_000

        _edit_json(b / "session.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"result"}
    assert "price" in checks["result"].detail


def test_a_changed_ranking_in_the_report_fails_result_and_signatures(
    sealed: Sealed, tmp_path: Path
) -> None:
    def change(b: Path) -> None:
        def edit(doc: dict[str, Any]) -> None:
            ranking = doc["report"]["result"]["ranking"]
            ranking[0]["bid_id"], ranking[1]["bid_id"] = ranking[1]["bid_id"], ranking[0]["bid_id"]

        _edit_json(b / "report.json", edit)

    checks = _tampered(sealed, tmp_path, change)
    # Not the report recomputed, and not the bytes the committee signed.
    assert _failed(checks) == {"result", "signatures"}


def test_a_changed_log_entry_fails_log(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        _edit_entry(b, "expert.checked_in", lambda p: p.update(venue_id="zj-hangzhou"))

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"log"}
    assert "[root]" in checks["log"].detail or "[entry]" in checks["log"].detail


def test_a_changed_cosignature_fails_witnesses(sealed: Sealed, tmp_path: Path) -> None:
    def change(b: Path) -> None:
        latest = max((b / "checkpoints").glob("*.note"), key=lambda p: int(p.stem))
        text = latest.read_text()
        head, _, line = text.rstrip("\n").rpartition("\n")
        name, sig = line.rsplit(" ", 1)
        raw = bytearray(base64.b64decode(sig))
        raw[-1] ^= 1
        latest.write_text(f"{head}\n{name} {base64.b64encode(bytes(raw)).decode()}\n")

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"witnesses"}


@pytest.mark.parametrize("name", ["session.json", "report.json", "sheets.json", "draw/1.json"])
def test_malformed_disclosed_files_fail_checks_and_never_crash(
    sealed: Sealed, tmp_path: Path, name: str
) -> None:
    import random

    rng = random.Random(name)
    original = (sealed.bundle / name).read_bytes()
    replacements: list[bytes] = [b"[]", b"{}", b"null", b"1", b"\xff\xfe", original[:-7]]
    doc = json.loads(original)
    # Structurally valid JSON with one value of the wrong type somewhere inside.
    for _ in range(12):
        mutated = json.loads(original)
        node: Any = mutated
        while isinstance(node, (dict, list)) and node:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if not isinstance(node[key], (dict, list)) or rng.random() < 0.3:
                node[key] = rng.choice([None, "x", -1, [], {}, 1.5])
                break
            node = node[key]
        if mutated != doc:  # a value replaced by an equal one is no change
            replacements.append(json.dumps(mutated).encode())
    assert doc  # the original parsed
    for data in replacements:
        copy = tmp_path / f"b{len(data)}-{rng.random()}"
        shutil.copytree(sealed.bundle, copy)
        (copy / name).write_bytes(data)
        checks = _verify(sealed, copy)  # never raises
        if data != original:
            assert _failed(checks) - {"log", "witnesses"}, (name, data[:80])
        assert not _failed(checks) & {"log", "witnesses"}


def test_alerts_the_primary_left_out_of_its_log_fail_alerts(
    sealed: Sealed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A primary whose service records its alert checks with the alerts removed: the log
    # is whole and signed, so only the recomputation can tell.
    import evalsvc.sessions.service as service_module
    from evalsvc.sessions import machine as m

    honest = _verify(sealed)
    assert honest["alerts"].ok, honest["alerts"].detail
    real = service_module._alerts_checked

    def hiding(*args: Any, **kwargs: Any) -> list[m.Event]:
        return [m.Event(e.type, {**e.payload, "alerts": []}) for e in real(*args, **kwargs)]

    monkeypatch.setattr(service_module, "_alerts_checked", hiding)
    devpki = build_dev_pki(dt.datetime.now(dt.UTC))
    certs = tmp_path / "certs"
    write_dev_pki(devpki, certs)
    with fresh_database(tmp_path) as url:
        settings = make_settings(tmp_path, url)
        settings = dataclasses.replace(
            settings, pki=dataclasses.replace(settings.pki, trust_dir=str(certs))
        )
        sid, _running = asyncio.run(_seed(settings, devpki))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp_path / "hidden")
        finally:
            engine.dispose()
        master = load_or_create_secret(settings.resolve(settings.audit.key_file))
        origin = f"{settings.audit.log_name}/{sid}"
        policy = format_policy(Policy(origin, log_keys(master, origin)[1], (), 0))
    hidden = tmp_path / "hidden"
    checks = verify_sealed(hidden, trusted_policy=policy, trust=load_trust(certs)).checks
    assert not checks["alerts"].ok and "not recorded" in checks["alerts"].detail, checks
    assert checks["log"].ok and checks["sheets"].ok and checks["result"].ok, checks
