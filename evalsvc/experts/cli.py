"""``evalsvc experts import|synth`` and ``evalsvc draw simulate|verify|commitment``.

The file I/O around the pure modules of :mod:`evalsvc.experts`. Human output has
Chinese labels; ``--json`` output has English keys.
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import datetime as _dt
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from evalsvc.errors import ConfigError, InvalidInput
from evalsvc.experts.bundle import (
    ceremony_from_json,
    ceremony_seed,
    draw_bundle,
    verify_bundle,
)
from evalsvc.experts.draw import DrawResult, draw
from evalsvc.experts.pool import (
    CSV_COLUMNS,
    REGION_NAMES,
    Expert,
    ImportRefused,
    Pool,
    expert_to_json,
    pool_document,
    validated_experts,
)
from evalsvc.experts.rules import DrawConfig, load_rules
from evalsvc.experts.seed import commitment_digest
from evalsvc.experts.specialties import SPECIALTIES
from evalsvc.experts.synth import synthetic_experts
from evalsvc.files import write_private


def register(subparsers: Any) -> None:
    """Add the ``experts`` and ``draw`` command groups."""
    experts = subparsers.add_parser("experts", help="expert pool: import, synthesise")
    esub = experts.add_subparsers(dest="experts_command", metavar="ACTION", required=True)

    imp = esub.add_parser(
        "import",
        help="validate a CSV/JSON file of experts into the database (or a pool file)")
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.add_argument("--format", choices=("csv", "json"),
                     help="input format (default: from the file name)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid rows, report the rest (default: all or nothing)")
    imp.add_argument("--report", metavar="FILE", type=Path,
                     help="write the row-level report (.csv or .json)")
    imp.add_argument("--out", metavar="POOLFILE", type=Path,
                     help="write a validated pool file (JSON) instead of the database")
    imp.add_argument("--database", metavar="URL",
                     help="database to import into (default: from the settings)")
    imp.set_defaults(func=_cmd_import)

    syn = esub.add_parser("synth", help="write a realistic synthetic pool")
    syn.add_argument("--count", type=int, required=True)
    syn.add_argument("--seed", type=int, required=True)
    syn.add_argument("--as-of", type=_dt.date.fromisoformat, default=None, metavar="DATE",
                     help="reference date for histories (default: today)")
    syn.add_argument("--format", choices=("json", "csv"), default="json")
    syn.add_argument("--out", type=Path, required=True, metavar="FILE")
    syn.set_defaults(func=_cmd_synth)

    d = subparsers.add_parser("draw", help="expert draw: simulate, verify, commitment")
    dsub = d.add_subparsers(dest="draw_command", metavar="ACTION", required=True)
    sim = dsub.add_parser("simulate", help="draw a committee from a pool file and rules")
    sim.add_argument("--pool", type=Path, required=True, metavar="FILE")
    sim.add_argument("--rules", type=Path, required=True, metavar="FILE")
    seed = sim.add_mutually_exclusive_group(required=True)
    seed.add_argument("--seed", metavar="HEX", help="the seed (at least 16 bytes, hex)")
    seed.add_argument("--ceremony", type=Path, metavar="FILE",
                      help="commit-reveal record (JSON) to compute the seed from")
    sim.add_argument("--json", action="store_true", help="machine-readable output")
    sim.add_argument("--bundle-out", type=Path, metavar="FILE",
                     help="also write a draw bundle for `evalsvc draw verify`")
    sim.set_defaults(func=_cmd_simulate)

    ver = dsub.add_parser(
        "verify", help="recompute a recorded draw from an exported bundle or the database")
    src = ver.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", type=Path, metavar="FILE")
    src.add_argument("--session", metavar="ID",
                     help="the draw recorded in this session's events (database)")
    ver.add_argument("--ceremony", type=int, metavar="N",
                     help="with --session: this ceremony (default: the last one drawn)")
    ver.add_argument("--database", metavar="URL",
                     help="with --session: the database (default: from the settings)")
    ver.add_argument("--bundle-out", type=Path, metavar="FILE",
                     help="with --session: also write the rebuilt bundle")
    ver.add_argument("--given-seed", action="store_true",
                     help="with --bundle: accept a bundle without a ceremony (a simulation;"
                          " the seed is taken as given and the output says so)")
    ver.set_defaults(func=_cmd_verify)

    com = dsub.add_parser("commitment", help="compute a commitment to a secret (hex)")
    com.add_argument("--secret", required=True, metavar="HEX")
    com.add_argument("--party", required=True)
    com.add_argument("--session", required=True)
    com.set_defaults(func=_cmd_commitment)


def _write_report(path: Path, report: Any) -> None:
    # Pool files, their reports and draw bundles name people: 0600 (evalsvc.files).
    text = (report.to_csv() if path.suffix.lower() == ".csv"
            else json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
    write_private(path, text.encode("utf-8"))


def _cmd_import(args: argparse.Namespace) -> int:
    fmt: Literal["csv", "json"] = args.format or (
        "json" if args.file.suffix.lower() == ".json" else "csv"
    )
    data = args.file.read_bytes()
    try:
        result = validated_experts(data, fmt=fmt, skip_invalid=args.skip_invalid)
    except ImportRefused as exc:
        if args.report:
            _write_report(args.report, exc.report)
        for p in exc.report.problems[:20]:
            where = f"line {p.line}" if p.line is not None else f"row {p.row}"
            print(f"{args.file}:{where}: {p.field or '-'}: {p.reason}", file=sys.stderr)
        if len(exc.report.problems) > 20:
            print(f"... {len(exc.report.problems) - 20} more problems", file=sys.stderr)
        print(f"导入失败 (import refused): {exc.message}", file=sys.stderr)
        return 1
    if args.report:
        _write_report(args.report, result.report)
    r = result.report
    if args.out:
        _write_json(args.out, pool_document(result.experts))
        where = str(args.out)
    else:
        added, replaced = _import_to_database(args, result.experts)
        where = f"database ({added} new, {replaced} replaced)"
    print(f"已导入 {r.accepted} 名专家 (imported {r.accepted} of {r.rows} rows, encoding"
          f" {r.encoding}; {r.rejected_rows} rows skipped) → {where}")
    return 0


def _engine(args: argparse.Namespace) -> Any:
    from evalsvc.config import load_settings
    from evalsvc.db import make_engine
    from evalsvc.schema import ensure_schema

    over = {"database": {"url": args.database}} if args.database else {}
    settings = load_settings(args.config, overrides=over)
    engine = make_engine(settings.database)
    ensure_schema(engine)
    return engine


def _import_to_database(args: argparse.Namespace, experts: tuple[Expert, ...]) -> tuple[int, int]:
    """All or nothing: every expert in one transaction (replacing rows of the same id)."""
    import time

    from evalsvc.experts.store import import_experts

    engine = _engine(args)
    try:
        with engine.begin() as conn:
            return import_experts(conn, experts, now_ms=time.time_ns() // 1_000_000)
    finally:
        engine.dispose()


def _write_json(path: Path, doc: Any) -> None:
    # Atomic (a half-written pool file never replaces a good one) and 0600.
    write_private(path, (json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                         + "\n").encode("utf-8"))


def _cmd_synth(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise InvalidInput("--count must be at least 1", field="count")
    as_of = args.as_of or _dt.date.today()
    experts = synthetic_experts(args.count, seed=args.seed, as_of=as_of)
    if args.format == "json":
        _write_json(args.out, pool_document(experts))
    else:
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for e in experts:
            j = expert_to_json(e)
            w.writerow([
                *(j[c] for c in CSV_COLUMNS[:6]),
                ";".join(j["specialties"]),
                j["title"], j["years"], j["status"],
                *(json.dumps(j[c], ensure_ascii=False) if j[c] else "" for c in CSV_COLUMNS[10:]),
            ])
        write_private(args.out, buf.getvalue().encode("utf-8"))
    print(f"wrote {args.count} synthetic experts (seed {args.seed}, as of {as_of}) → {args.out}")
    return 0


def _load_pool(path: Path) -> tuple[Expert, ...]:
    fmt: Literal["csv", "json"] = "json" if path.suffix.lower() == ".json" else "csv"
    try:
        return validated_experts(path.read_bytes(), fmt=fmt).experts
    except ImportRefused as exc:
        first = exc.report.problems[0] if exc.report.problems else None
        detail = f": line {first.line} {first.field}: {first.reason}" if first else ""
        raise InvalidInput(f"pool file {path} is invalid{detail}") from exc


def _load_rules_file(path: Path) -> DrawConfig:
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
        else:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"rules file {path}: {exc}") from exc
    return load_rules(doc)


def _cmd_simulate(args: argparse.Namespace) -> int:
    config = _load_rules_file(args.rules)
    experts = _load_pool(args.pool)
    pool = Pool.from_experts(experts)
    ceremony = None
    if args.ceremony:
        ceremony = ceremony_from_json(json.loads(args.ceremony.read_text(encoding="utf-8")))
        seed = ceremony_seed(config.rules.context.session_id, ceremony).seed
    else:
        try:
            seed = bytes.fromhex(args.seed)
        except ValueError as exc:
            raise InvalidInput("--seed must be hex", field="seed") from exc
        if len(seed) < 16:
            raise InvalidInput("--seed must have at least 16 bytes (32 hex digits)",
                               field="seed")
    result = draw(pool, config.rules, config.seats, seed)
    if args.bundle_out:
        _write_json(args.bundle_out,
                    draw_bundle(experts, config.document, result, ceremony=ceremony))
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_human(result, pool)
    return 0


def _describe(pool: Pool, expert_id: str) -> str:
    e = pool.expert(pool.index_of(expert_id))
    return f"{e.id} {e.name} ({e.title}, {e.employer.name}, {REGION_NAMES[e.region]})"


def _print_human(result: DrawResult, pool: Pool) -> None:
    print(f"评标委员会抽取结果  会话 {result.session_id}")
    print(f"随机种子 {result.seed.hex()}")
    print(f"结果摘要 SHA-256 {result.digest()}")
    for s in result.seats:
        regions = "、".join(REGION_NAMES[r] for r in s.seat.regions)
        print(f"\n席位 {s.index + 1}  场地 {s.seat.venue}  专业 {s.seat.specialty}"
              f" {SPECIALTIES[s.seat.specialty]}  来源 {regions}")
        print(f"  评标专家  {_describe(pool, s.member.expert_id)}"
              f"  [可抽 {s.member.eligible} 人]")
        for n, a in enumerate(s.alternates, start=1):
            print(f"  候补 {n}    {_describe(pool, a.expert_id)}  [可抽 {a.eligible} 人]")
        if len(s.alternates) < result.alternates_per_seat:
            print(f"  注意: 候补不足 {result.alternates_per_seat} 人")


def _check_bundle(doc: Any, *, given_seed: bool) -> bool:
    check = verify_bundle(doc, given_seed=given_seed)
    ok = check.ok
    for line in check.lines:
        print(line)
    if ok and "result_sha256" in doc:
        from evalsvc.canonical import canonical_sha256

        digest = canonical_sha256(doc["result"])
        if digest != doc["result_sha256"]:
            ok = False
            print(f"FAIL result digest is {digest}, the record says {doc['result_sha256']}")
    return ok


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle:
        doc = json.loads(args.bundle.read_text(encoding="utf-8"))
        ok = _check_bundle(doc, given_seed=args.given_seed)
        print("一致 (draw matches)" if ok else "不一致 (draw does NOT match)")
        return 0 if ok else 1
    if args.given_seed:
        raise InvalidInput("--given-seed is for simulated bundles, not a session's draw",
                           field="given_seed")
    from evalsvc.experts.store import session_bundle, session_ceremonies

    engine = _engine(args)
    try:
        with engine.connect() as conn:
            ceremonies = session_ceremonies(conn, args.session)
            wanted = [c for c in ceremonies if args.ceremony in (None, c["number"])]
            bundles = {c["number"]: session_bundle(conn, args.session, ceremony=c["number"])
                       for c in wanted if c["outcome"] == "drawn"}
    finally:
        engine.dispose()
    print(f"session {args.session}: {len(ceremonies)} ceremonies, rebuilt from its events"
          " and the archived pools")
    ok = bool(wanted)
    if not wanted:
        print(f"FAIL no ceremony {args.ceremony} in session {args.session}")
    for c in wanted:
        dropped = ", ".join(f"{d['party']} ({d['reason']})" for d in c["dropped"]) or "none"
        print(f"ceremony {c['number']}: {c['outcome']}"
              + (f" — {c['reason']}: {c['message']}" if c["outcome"] == "failed" else "")
              + f"; parties {', '.join(c['parties'])}; dropped: {dropped}"
              + (f"; approved by {c['approval']['by']}: {c['approval']['reason']}"
                 if c.get("approval") else ""))
        if c["number"] in bundles:
            ok = _check_bundle(bundles[c["number"]], given_seed=False) and ok
    if args.bundle_out and bundles:
        _write_json(args.bundle_out, bundles[max(bundles)])
    print("一致 (draw matches)" if ok else "不一致 (draw does NOT match)")
    return 0 if ok else 1


def _cmd_commitment(args: argparse.Namespace) -> int:
    try:
        secret = bytes.fromhex(args.secret)
    except ValueError as exc:
        raise InvalidInput("--secret must be hex", field="secret") from exc
    print(commitment_digest(secret, party=args.party, session_id=args.session))
    return 0
