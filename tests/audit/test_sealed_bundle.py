"""A sealed session's bundle re-derives everything, and any single change fails by name.

One sealed session (the demo's sealed tender, seat 0 signing the report with a dev-PKI
SM2 certificate) is exported once; every venue witness is simulated by cosigning the
bundle's checkpoints with a test key. Each tamper test copies the bundle, changes one
thing a supervisor would care about, and checks which named checks fail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import io
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
    served_pdf: bytes  # GET …/report.pdf of the sealed session, as a supervisor gets it
    devpki: DevPki
    opening: Path  # `evalsvc audit open-pool` of seat 0's expert's name
    personal: list[tuple[str, str]]  # (name, resident ID) of every pool expert
    refused: dict[str, int]  # exit status of open-pool for what it must refuse
    open_pool_said: str  # what open-pool printed on stderr beside the opening


async def _seed(settings: Settings, devpki: DevPki) -> tuple[str, str, bytes]:
    from aiohttp import web

    from evalsvc.app import create_app
    from evalsvc.audit.routes import AUDIT
    from evalsvc.auth import Principal
    from evalsvc.demo import seal_demo, seed_demo
    from evalsvc.experts.routes import DRAWS
    from evalsvc.report.routes import REPORTS
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
        # What the report route serves a supervisor (get_report_pdf returns these bytes).
        served = await app[REPORTS].pdf(Principal("supervisor", "sup-zhao", "赵监督"), sealed)
        return sealed, running, served
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
    with fresh_database(tmp) as url:
        settings = make_settings(tmp, url)
        settings = dataclasses.replace(
            settings, pki=dataclasses.replace(settings.pki, trust_dir=str(certs))
        )
        sid, running, served = asyncio.run(_seed(settings, devpki))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp / "bundle")
                export_bundle(conn, running, tmp / "running")
                personal = [(str(r[0]), str(r[1])) for r in
                            conn.exec_driver_sql("SELECT name, resident_id FROM expert")]
        finally:
            engine.dispose()
        seat0 = json.loads((tmp / "bundle" / "session.json").read_text())["seats"][0]
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            assert main(["audit", "open-pool", sid, seat0["expert_id"], "name", "--database",
                         url.replace("postgresql://", "postgresql+psycopg://", 1),
                         "--out", str(tmp / "opening.json")]) == 0
        answers = {
            label: main(["audit", "open-pool", *args, "--database",
                         url.replace("postgresql://", "postgresql+psycopg://", 1)])
            for label, args in (
                ("unknown session", ["s-000000000000", seat0["expert_id"], "name"]),
                ("not masked", [sid, seat0["expert_id"], "specialties"]),
                ("not in the pool", [sid, "E-NOT-IN-POOL", "name"]),
            )
        }
    wskey, wvkey = generate_key("venue.js-suzhou.example")
    for b in ("bundle", "running"):
        _cosign_all(tmp / b, wskey)
    return Sealed(tmp / "bundle", _policy(settings, sid, wvkey), trust, certs,
                  tmp / "running", _policy(settings, running, wvkey), served, devpki,
                  tmp / "opening.json", personal, answers, said.getvalue())


def _seal_and_export(tmp_path: Path, out: str, *,
                     candidates: int = 3) -> tuple[Settings, str, Path]:
    """Seal the demo's session on a fresh database (the server recommending
    ``candidates``) and export its bundle to ``tmp_path / out``: (settings, id, trust
    anchors)."""
    devpki = build_dev_pki(dt.datetime.now(dt.UTC))
    certs = tmp_path / "certs"
    write_dev_pki(devpki, certs)
    with fresh_database(tmp_path) as url:
        settings = make_settings(tmp_path, url)
        settings = dataclasses.replace(
            settings, pki=dataclasses.replace(settings.pki, trust_dir=str(certs)),
            report=dataclasses.replace(settings.report, candidates=candidates),
        )
        sid, _running, _pdf = asyncio.run(_seed(settings, devpki))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp_path / out, candidates=candidates)
        finally:
            engine.dispose()
    return settings, sid, certs


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
    for f in ("session.json", "report.json", "report.pdf", "sheets.json", "draw", "certs",
              "crls"):
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
    # The signature is in a logged entry: the log shows the edit, and the signature fails;
    # the report PDF still carries the signature given, no longer the logged one.
    assert _failed(checks) == {"log", "signatures", "report"}
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


def _swap_first_two(report: dict[str, Any]) -> None:
    """Swap the first two bids of a report's ranking."""
    ranking = report["result"]["ranking"]
    ranking[0]["bid_id"], ranking[1]["bid_id"] = ranking[1]["bid_id"], ranking[0]["bid_id"]


def test_a_changed_ranking_in_the_report_fails_result_signatures_and_report(
    sealed: Sealed, tmp_path: Path
) -> None:
    def change(b: Path) -> None:
        _edit_json(b / "report.json", lambda doc: _swap_first_two(doc["report"]))

    checks = _tampered(sealed, tmp_path, change)
    # Not the report recomputed, not the bytes the committee signed, not the PDF's.
    assert _failed(checks) == {"result", "signatures", "report"}


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
    settings, sid, certs = _seal_and_export(tmp_path, "hidden")
    master = load_or_create_secret(settings.resolve(settings.audit.key_file))
    origin = f"{settings.audit.log_name}/{sid}"
    policy = format_policy(Policy(origin, log_keys(master, origin)[1], (), 0))
    hidden = tmp_path / "hidden"
    checks = verify_sealed(hidden, trusted_policy=policy, trust=load_trust(certs)).checks
    assert not checks["alerts"].ok and "not recorded" in checks["alerts"].detail, checks
    assert checks["log"].ok and checks["sheets"].ok and checks["result"].ok, checks


# -- the report PDF ------------------------------------------------------------------------


def _pdf_attachments(data: bytes) -> dict[str, bytes]:
    import io

    from pypdf import PdfReader

    return {k: v[0] for k, v in PdfReader(io.BytesIO(data)).attachments.items()}


def _rewrite_pdf(path: Path, **attachments: bytes) -> None:
    """Replace the PDF's embedded files (pages untouched), as a forger with pypdf would."""
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    files = {**_pdf_attachments(path.read_bytes()),
             **{k.replace("_", "."): v for k, v in attachments.items()}}
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(path.read_bytes())))
    del writer._root_object["/Names"][NameObject("/EmbeddedFiles")]
    for name, data in files.items():
        writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    path.write_bytes(out.getvalue())


def test_the_bundle_holds_the_report_pdf_the_route_serves(sealed: Sealed) -> None:
    pdf = (sealed.bundle / "report.pdf").read_bytes()
    assert pdf == sealed.served_pdf
    files = _pdf_attachments(pdf)
    report = json.loads((sealed.bundle / "report.json").read_text("utf-8"))
    from evalsvc.canonical import canonical_bytes

    assert files["report.json"] == canonical_bytes(report["report"])
    checks = _verify(sealed)
    assert checks["report"].ok, checks["report"].detail
    assert "report.pdf embeds report.json and 1 certificate signatures" in (
        checks["report"].detail)


def test_a_pdf_embedding_another_report_json_fails_report(
    sealed: Sealed, tmp_path: Path
) -> None:
    from evalsvc.canonical import canonical_bytes

    def change(b: Path) -> None:
        doc = json.loads(_pdf_attachments((b / "report.pdf").read_bytes())["report.json"])
        _swap_first_two(doc)
        _rewrite_pdf(b / "report.pdf", report_json=canonical_bytes(doc))

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"report"}
    assert "does not verify on its own" in checks["report"].detail


def test_a_pdf_without_the_logged_signatures_fails_report(
    sealed: Sealed, tmp_path: Path
) -> None:
    # A PDF consistent in itself (its digest printed, no signature to fail) that leaves
    # out the members' signatures the log records.
    def change(b: Path) -> None:
        sigs = json.loads(_pdf_attachments((b / "report.pdf").read_bytes())["signatures.json"])
        emptied = {**sigs, "signatures": [], "without_certificate": []}
        _rewrite_pdf(b / "report.pdf", signatures_json=json.dumps(emptied).encode())

    checks = _tampered(sealed, tmp_path, change)
    assert _failed(checks) == {"report"}
    assert "report.pdf lists signatures of seats []" in checks["report"].detail


def test_another_or_no_pdf_fails_report(sealed: Sealed, tmp_path: Path) -> None:
    def swap(b: Path) -> None:
        # A PDF of another document: the running session's has none, so a damaged copy.
        data = (b / "report.pdf").read_bytes()
        (b / "report.pdf").write_bytes(data[: len(data) // 2])

    checks = _tampered(sealed, tmp_path / "swap", swap)
    assert _failed(checks) == {"report"}
    checks = _tampered(sealed, tmp_path / "gone", lambda b: (b / "report.pdf").unlink())
    assert _failed(checks) == {"report"}
    assert "lacks report.pdf" in checks["report"].detail


def test_a_running_session_has_no_report_pdf_yet(sealed: Sealed) -> None:
    checks = verify_sealed(sealed.running, trusted_policy=sealed.running_policy,
                           trust=sealed.trust).checks
    assert checks["report"].ok and "not yet disclosed" in checks["report"].detail
    assert not (sealed.running / "report.pdf").exists()


# -- the CRLs in force at signing time --------------------------------------------------------


def _signed_at(bundle: Path) -> dt.datetime:
    from evalsvc.audit.rederive import parse_entries

    entries = (bundle / "entries").read_bytes().split(b"\n")[:-1]
    ms = max(e.time_ms for e in parse_entries(entries)
             if e.action == "report.signed" and "signature" in e.payload)
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _signer_crl(bundle: Path, devpki: DevPki) -> Path:
    """The bundled CRL of the signer's issuing CA (the ZJ intermediate)."""
    from cryptography import x509

    issuer = devpki.leaves[SIGNER].cert.issuer
    return next(p for p in (bundle / "crls").glob("*.crl")
                if x509.load_der_x509_crl(p.read_bytes()).issuer == issuer)


def _crl(devpki: DevPki, *, revoked_at: dt.datetime | None, signer: Any = None,
         this_update: dt.datetime | None = None) -> bytes:
    """A CRL of the ZJ intermediate (or signed by ``signer``) listing the signer's
    certificate revoked at ``revoked_at``."""
    from evalsvc.pki.builder import issue_crl

    inter = devpki.regions["ZJ"].intermediate
    start = this_update or devpki.now - dt.timedelta(days=1)
    serial = devpki.leaves[SIGNER].cert.serial_number
    crl = issue_crl(issuer=inter.cert, signing_key=signer or inter.key, this_update=start,
                    next_update=start + dt.timedelta(days=7), number=2,
                    revoked=[(serial, revoked_at)] if revoked_at else [])
    return crl.public_bytes(serialization.Encoding.DER)


def _relogged(sealed: Sealed, crl: bytes) -> Callable[[Path], None]:
    """Put ``crl`` in place of the signer's issuer's CRL, in the bundle *and* in the
    logged signature records (as a server that had accepted the signature with it)."""
    import hashlib

    def change(b: Path) -> None:
        old = _signer_crl(b, sealed.devpki)
        sha = hashlib.sha256(crl).hexdigest()
        (b / "crls" / f"{sha}.crl").write_bytes(crl)
        _edit_signed_report_entries(b, lambda p: p["signature"].update(
            crls=sorted(sha if x == old.stem else x for x in p["signature"]["crls"])))
        old.unlink()

    return change


def test_the_record_names_the_crls_bundled_once(sealed: Sealed) -> None:
    import hashlib

    from evalsvc.audit.rederive import parse_entries

    entries = (sealed.bundle / "entries").read_bytes().split(b"\n")[:-1]
    named = {sha for e in parse_entries(entries) if e.action == "report.signed"
             and "signature" in e.payload for sha in e.payload["signature"]["crls"]}
    files = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in (sealed.bundle / "crls").glob("*.crl")}
    # The leaf's issuer's CRL and the intermediate's issuer's (the root's), each once.
    assert len(named) == 2 and set(files) == named
    assert all(stem == sha for stem, sha in files.items())


def test_a_removed_crl_fails_signatures(sealed: Sealed, tmp_path: Path) -> None:
    checks = _tampered(sealed, tmp_path,
                       lambda b: _signer_crl(b, sealed.devpki).unlink())
    assert _failed(checks) == {"signatures"}
    assert "the bundle lacks crls/" in checks["signatures"].detail


def test_a_crl_listing_the_signer_revoked_before_signing_fails_signatures(
    sealed: Sealed, tmp_path: Path
) -> None:
    revoked = _signed_at(sealed.bundle) - dt.timedelta(hours=1)
    forged = _crl(sealed.devpki, revoked_at=revoked)

    # In place of the CRL the server logged: its digest is not the logged one.
    checks = _tampered(sealed, tmp_path / "swapped",
                       lambda b: _signer_crl(b, sealed.devpki).write_bytes(forged))
    assert _failed(checks) == {"signatures"}
    assert "is not the CRL the server logged" in checks["signatures"].detail

    # A log that names it too (the server itself would have refused the signature): the
    # log fails, and the chain fails at signing time with that CRL.
    checks = _tampered(sealed, tmp_path / "relogged", _relogged(sealed, forged))
    assert {"log", "signatures"} <= _failed(checks)
    assert "was revoked at" in checks["signatures"].detail


def test_a_crl_with_a_forged_signature_fails_signatures(sealed: Sealed, tmp_path: Path) -> None:
    other = build_dev_pki(dt.datetime.now(dt.UTC)).regions["ZJ"].intermediate.key
    forged = _crl(sealed.devpki, revoked_at=None, signer=other)

    checks = _tampered(sealed, tmp_path / "relogged", _relogged(sealed, forged))
    assert {"log", "signatures"} <= _failed(checks)
    assert "not signed by the issuer's key" in checks["signatures"].detail
    checks = _tampered(sealed, tmp_path / "swapped",
                       lambda b: _signer_crl(b, sealed.devpki).write_bytes(forged))
    assert _failed(checks) == {"signatures"}


def test_a_crl_stale_at_signing_time_fails_signatures(sealed: Sealed, tmp_path: Path) -> None:
    # thisUpdate ≤ signing time < nextUpdate, or the CRL says nothing about that time.
    stale = _crl(sealed.devpki, revoked_at=None,
                 this_update=_signed_at(sealed.bundle) - dt.timedelta(days=30))

    checks = _tampered(sealed, tmp_path, _relogged(sealed, stale))
    assert "no fresh CRL" in checks["signatures"].detail


def test_a_certificate_revoked_after_signing_still_verifies(
    sealed: Sealed, tmp_path: Path
) -> None:
    # The verifier's own trust stores now hold a CRL revoking the signer after it
    # signed: the chain is checked with the CRLs in force when it signed, and passes.
    anchors = tmp_path / "certs"
    shutil.copytree(sealed.certs, anchors)
    later = _signed_at(sealed.bundle) + dt.timedelta(minutes=5)
    (anchors / "ZJ" / "crls" / "later.crl").write_bytes(
        _crl(sealed.devpki, revoked_at=later, this_update=later))
    trust = load_trust(anchors)
    assert any(c.get_revoked_certificate_by_serial_number(
        sealed.devpki.leaves[SIGNER].cert.serial_number) for c in trust.crls)
    checks = verify_sealed(sealed.bundle, trusted_policy=sealed.policy, trust=trust).checks
    assert _failed(checks) == set(), checks["signatures"].detail


# -- masked personal data of the pool snapshot ------------------------------------------------


def test_the_pool_snapshot_masks_personal_fields_behind_salted_commitments(
    sealed: Sealed,
) -> None:
    from evalsvc.experts.pool import MASKED_FIELDS

    text = (sealed.bundle / "draw" / "1.json").read_text("utf-8")
    pool = json.loads(text)["pool"]
    assert len(pool) == len(sealed.personal) > 7
    commitments = [v["masked"][f] for v in pool for f in MASKED_FIELDS]
    assert all(set(v["masked"]) == set(MASKED_FIELDS) for v in pool)
    assert all(len(c) == 64 and int(c, 16) >= 0 for c in commitments)
    # Fresh salt per field: equal values (every empty title) commit differently.
    assert len(set(commitments)) == len(commitments)
    assert all("name" not in v and "resident_id" not in v for v in pool)
    for name, resident_id in sealed.personal:
        assert resident_id not in text and f'"{name}"' not in text
    # Nothing of the openings (salts) leaves the server in the bundle.
    opening = json.loads(sealed.opening.read_text("utf-8"))
    for p in sealed.bundle.rglob("*"):
        if p.is_file():
            assert opening["salt"].encode() not in p.read_bytes(), p


def test_an_opened_field_verifies_against_the_bundle(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opening = json.loads(sealed.opening.read_text("utf-8"))
    session = json.loads((sealed.bundle / "session.json").read_text("utf-8"))
    assert opening["field"] == "name" and opening["value"] == session["seats"][0]["expert_name"]
    assert len(bytes.fromhex(opening["salt"])) == 16  # 128 bits: no dictionary of names
    policy = tmp_path / "policy"
    policy.write_text(sealed.policy)
    assert main(["audit", "verify", str(sealed.bundle), "--trusted-keys", str(policy),
                 "--trust-anchors", str(sealed.certs), "--opening", str(sealed.opening),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checks"]["openings"]["ok"]
    assert f"{opening['expert']}.name = {opening['value']!r}" in doc["checks"]["openings"][
        "detail"]
    # The command line opened it outside the API: nothing in the log, and it says so.
    assert "opened outside the API" in doc["checks"]["openings"]["detail"]
    assert "不记入会话审计日志" in sealed.open_pool_said
    assert not (sealed.bundle / "entries").read_text("utf-8").count("pool.field_opened")


@pytest.mark.parametrize("forge", ["value", "field", "salt", "pool"])
def test_a_forged_opening_fails_openings(sealed: Sealed, forge: str) -> None:
    opening = json.loads(sealed.opening.read_text("utf-8"))
    if forge == "value":
        opening["value"] = opening["value"][::-1] + "甲"
    elif forge == "field":
        opening["field"] = "resident_id"  # the name's opening shown as another field's
    elif forge == "salt":
        opening["salt"] = opening["salt"][:8]
    else:
        opening["pool_sha256"] = "0" * 64
    report = verify_sealed(sealed.bundle, trusted_policy=sealed.policy, trust=sealed.trust,
                           openings=[opening])
    assert _failed(report.checks) == {"openings"}, report.checks["openings"].detail


def test_open_pool_refuses_what_it_cannot_open(sealed: Sealed) -> None:
    # Each refused with exit status 1 and a zh-CN message (EvalsvcError), never a crash.
    assert sealed.refused == {"unknown session": 1, "not masked": 1, "not in the pool": 1}


def test_a_server_recommending_one_candidate_verifies(tmp_path: Path) -> None:
    # [report] candidates is a setting, not a logged value: the bundle holds the report
    # as signed (one candidate) and `result` accepts it as recomputed with that count.
    settings, sid, certs = _seal_and_export(tmp_path, "one", candidates=1)
    wskey, wvkey = generate_key("venue.js-suzhou.example")
    _cosign_all(tmp_path / "one", wskey)
    report = json.loads((tmp_path / "one" / "report.json").read_text("utf-8"))["report"]
    assert len(report["candidates"]) == 1
    checks = verify_sealed(tmp_path / "one", trusted_policy=_policy(settings, sid, wvkey),
                           trust=load_trust(certs)).checks
    assert _failed(checks) == set(), {n: c.detail for n, c in checks.items() if not c.ok}
    assert "recommending up to 1" in checks["result"].detail


def test_the_checkpoint_the_pdf_prints_must_be_a_signed_one_of_the_bundle(
    sealed: Sealed, tmp_path: Path
) -> None:
    import re

    from evalsvc.report.verify import verify_report_pdf

    printed = verify_report_pdf((sealed.bundle / "report.pdf").read_bytes()).checkpoints
    assert len(printed) == 1
    size = printed[0][1]
    assert re.fullmatch(r"\d+", size) and (sealed.bundle / "checkpoints" / f"{size}.note").exists()
    checks = _tampered(sealed, tmp_path,
                       lambda b: (b / "checkpoints" / f"{size}.note").unlink())
    assert "report" in _failed(checks)
    assert f"the checkpoint report.pdf prints (size {size}" in checks["report"].detail


async def _seal_and_open(settings: Settings, devpki: DevPki) -> tuple[str, dict[str, Any]]:
    """Seal the demo's session, then its supervisor opens seat 0's expert's resident ID
    number over the API's service (the name is the committee's, in session.json):
    (session id, the opening it was given)."""
    from aiohttp import web

    from evalsvc.app import create_app
    from evalsvc.auth import Principal
    from evalsvc.demo import seal_demo
    from evalsvc.experts.routes import DRAWS
    from evalsvc.sessions.routes import SESSIONS

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        sid = await seal_demo(app[SESSIONS], app[DRAWS])
        sup = Principal("supervisor", "sup-zhao", "赵监督")
        seat0 = (await app[SESSIONS].get(sup, sid))["seats"][0]
        body, _ = await app[DRAWS].open_pool_field(
            sup, sid, {"expert_id": seat0["expert_id"], "field": "resident_id",
                       "reason": "核查利害关系"}, key=None)
        # (No checkpoint job run: the opening is a milestone, signed with its event.)
        return sid, body["opening"]
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any],
                                                              TrustConfig]:
    """A sealed session's bundle, exported after its supervisor opened a pool field
    over the API: (bundle, trust policy, the opening, trust anchors)."""
    tmp = tmp_path_factory.mktemp("opened")
    devpki = build_dev_pki(dt.datetime.now(dt.UTC))
    write_dev_pki(devpki, tmp / "certs")
    with fresh_database(tmp) as url:
        settings = make_settings(tmp, url)
        settings = dataclasses.replace(
            settings, pki=dataclasses.replace(settings.pki, trust_dir=str(tmp / "certs")))
        sid, opening = asyncio.run(_seal_and_open(settings, devpki))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                export_bundle(conn, sid, tmp / "bundle")
        finally:
            engine.dispose()
    wskey, wvkey = generate_key("venue.js-suzhou.example")
    _cosign_all(tmp / "bundle", wskey)
    return tmp / "bundle", _policy(settings, sid, wvkey), opening, load_trust(tmp / "certs")


def _opening_entry(bundle: Path) -> tuple[list[bytes], int]:
    lines = (bundle / "entries").read_bytes().split(b"\n")[:-1]
    (i,) = [i for i, x in enumerate(lines) if json.loads(x)["action"] == "pool.field_opened"]
    return lines, i


def test_an_opening_on_the_record_verifies_and_its_value_is_in_no_bundle_file(
    opened: tuple[Path, str, dict[str, Any], TrustConfig],
) -> None:
    bundle, policy, opening, trust = opened
    assert opening["field"] == "resident_id" and len(opening["value"]) == 18
    lines, i = _opening_entry(bundle)
    assert i == len(lines) - 1  # after the seal, under a checkpoint of its own
    checks = verify_sealed(bundle, trusted_policy=policy, trust=trust).checks
    assert _failed(checks) == set(), {n: c.detail for n, c in checks.items() if not c.ok}
    assert f"seq {i + 1} {opening['expert']}.resident_id" in checks["openings"].detail
    # The bundle holds that it was opened — never the value nor its salt.
    for p in bundle.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert opening["salt"].encode() not in data, p
            assert opening["value"].encode() not in data, p
    # The opening handed over is said to be on the record.
    both = verify_sealed(bundle, trusted_policy=policy, trust=trust, openings=[opening])
    assert both.checks["openings"].ok
    assert f"on the record at seq {i + 1}" in both.checks["openings"].detail


def test_an_opening_on_the_record_removed_or_altered_fails_log(
    opened: tuple[Path, str, dict[str, Any], TrustConfig], tmp_path: Path,
) -> None:
    bundle, policy, opening, trust = opened

    def change(edit: Callable[[list[bytes], int], list[bytes]]) -> dict[str, Check]:
        copy = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        shutil.copytree(bundle, copy)
        lines, i = _opening_entry(copy)
        (copy / "entries").write_bytes(b"".join(x + b"\n" for x in edit(lines, i)))
        return verify_sealed(copy, trusted_policy=policy, trust=trust).checks

    # Left out: the signed checkpoints cover one entry more than the log holds.
    assert "log" in _failed(change(lambda lines, i: lines[:i]))

    # Another expert's or another field's commitment written in: the leaf changes.
    def altered(lines: list[bytes], i: int) -> list[bytes]:
        text = lines[i].decode("utf-8").replace(opening["commitment"], "0" * 64)
        assert text != lines[i].decode("utf-8")
        return [*lines[:i], text.encode("utf-8")]

    assert "log" in _failed(change(altered))


def test_a_recorded_opening_must_name_the_snapshots_commitment() -> None:
    """A primary that records one opening and hands over another (a consistent log,
    another commitment): ``openings`` names it."""
    from evalsvc.audit.rederive import Disclosed, LoggedEvent, check_recorded_openings

    pool = [{"id": "E-1", "masked": {"name": "c" * 64}}]
    d = Disclosed(draws={1: {"pool_sha256": "p" * 64, "pool": pool}})

    def event(**payload: Any) -> LoggedEvent:
        base = {"expert_id": "E-1", "field": "name", "pool_sha256": "p" * 64,
                "commitment": "c" * 64, "reason": "核查"}
        return LoggedEvent(9, "pool.field_opened", {**base, **payload}, 0)

    assert check_recorded_openings([event()], d).ok
    for bad in ({"commitment": "d" * 64}, {"field": "title"}, {"expert_id": "E-2"},
                {"pool_sha256": "q" * 64}):
        check = check_recorded_openings([event(**bad)], d)
        assert not check.ok and check.detail.startswith("seq 9") and "snapshot" in check.detail
