"""``evalsvc audit verify | export | trust-policy | keygen`` — the audit log on the command line."""

from __future__ import annotations

__all__ = [
    "cmd_export",
    "cmd_keygen",
    "cmd_open_pool",
    "cmd_trust_policy",
    "cmd_verify",
    "register",
]

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from evalsvc.audit.bundle import Policy, format_policy, parse_policy
from evalsvc.audit.note import cosignature_vkey, generate_key
from evalsvc.audit.rederive import verify_sealed
from evalsvc.errors import InvalidInput, NotFound


def register(sub: Any) -> None:
    """Add ``audit`` with its ``verify``, ``export`` and ``keygen`` actions."""
    p = sub.add_parser("audit", help="verify or export signed audit logs")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    v = asub.add_parser("verify", help="verify an exported audit bundle offline")
    v.add_argument("dir", type=Path, help="bundle directory")
    v.add_argument(
        "--trusted-keys",
        metavar="FILE",
        type=Path,
        help="policy file with the log key, witness keys and quorum you trust "
        "(default: the bundle's own, which proves only self-consistency)",
    )
    v.add_argument(
        "--checkpoint",
        metavar="FILE",
        type=Path,
        action="append",
        default=[],
        help="a signed checkpoint obtained elsewhere (e.g. from a venue); repeatable",
    )
    v.add_argument(
        "--trust-anchors",
        metavar="DIR",
        type=Path,
        help="CA trust stores (<REGION>/region.toml, anchors/, …) to check signers'"
        " certificate chains against (default: [pki] trust_dir of the settings, if present)",
    )
    v.add_argument(
        "--opening",
        metavar="FILE",
        type=Path,
        action="append",
        default=[],
        help="a masked pool field the primary opened (evalsvc audit open-pool): checked"
        " against the draw's pool snapshot (check 'openings'); repeatable",
    )
    v.add_argument("--json", action="store_true", help='print {"ok", "checks": {name: …}}')
    v.set_defaults(func=cmd_verify)

    o = asub.add_parser(
        "open-pool",
        help="on the server, as its operator: open one masked personal field (name,"
        " resident_id, employer, title) of an expert in a session's pool snapshot. NOT"
        " recorded in the audit log: the recorded way is POST …/audit/pool-openings",
    )
    o.add_argument("session", help="session id")
    o.add_argument("expert", help="expert id")
    o.add_argument("field", help="name | resident_id | employer | title")
    o.add_argument("--out", type=Path, metavar="FILE", help="write the opening here (0600)")
    o.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    o.set_defaults(func=cmd_open_pool)

    t = asub.add_parser(
        "trust-policy",
        help="write a session's trust policy (log key, witness keys, quorum) from the "
        "server's own settings, for supervisors",
    )
    t.add_argument("session", help="session id")
    t.add_argument("--out", required=True, type=Path, metavar="FILE")
    t.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    t.set_defaults(func=cmd_trust_policy)

    e = asub.add_parser("export", help="write a session's audit bundle from the database")
    e.add_argument("session", help="session id")
    e.add_argument("--out", required=True, type=Path, metavar="DIR")
    e.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    e.add_argument("--policy", type=Path, metavar="FILE", help="policy file to embed")
    e.add_argument("--origin", help="checkpoint origin (with --log-vkey)")
    e.add_argument("--log-vkey", metavar="VKEY", help="the log's verifier key")
    e.add_argument("--witness", metavar="VKEY", action="append", default=[])
    e.add_argument("--quorum", type=int, default=0)
    e.add_argument("--entry-proofs", action="store_true", help="add a tlog-proof per entry")
    e.set_defaults(func=cmd_export)

    k = asub.add_parser("keygen", help="create an Ed25519 note key (log or witness)")
    k.add_argument("name", help="key name: the log origin, or the witness name")
    k.add_argument("--out", required=True, type=Path, metavar="FILE", help="signer key file")
    k.set_defaults(func=cmd_keygen)


def _trust_anchors(args: argparse.Namespace) -> Any:
    """The CA trust stores to check signers' chains with: ``--trust-anchors``, or the
    settings' ``[pki] trust_dir`` when it exists; None when neither is at hand."""
    from evalsvc.pki.trust import load_trust

    if args.trust_anchors is not None:
        return load_trust(args.trust_anchors)
    try:
        from evalsvc.config import load_settings

        settings = load_settings(args.config)
        folder = settings.resolve(settings.pki.trust_dir)
    except Exception:  # no settings at hand: verify without anchors
        return None
    try:
        return load_trust(folder) if Path(folder).is_dir() else None
    except Exception:  # an unusable default store: said by the check
        return None


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a bundle and re-derive what it discloses; print every named check (exit 0
    when all pass, 1 otherwise)."""
    trusted = args.trusted_keys.read_text("utf-8") if args.trusted_keys else None
    extra = [(p.name, p.read_text("utf-8")) for p in args.checkpoint]
    openings = []
    for path in args.opening:
        try:
            openings.append(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"开启文件 {path} 无法读取 / cannot read the opening {path}: {exc}",
                               field="opening") from exc
    report = verify_sealed(
        args.dir, trusted_policy=trusted, trust=_trust_anchors(args), extra_checkpoints=extra,
        openings=openings,
    )
    if args.json:
        json.dump(report.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print(report.text(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def cmd_trust_policy(args: argparse.Namespace) -> int:
    """Write the trust policy of a session's log from the server's settings: the log's
    verifier key (derived from ``[audit] key_file``), the witness keys of the session's
    venues (``[audit.witness_keys]``) and the quorum."""
    from evalsvc.audit.service import log_keys
    from evalsvc.config import load_settings

    settings = load_settings(args.config)
    key_file = settings.resolve(settings.audit.key_file)
    if not Path(key_file).is_file():
        raise NotFound(f"找不到审计日志主密钥 {key_file} / no audit key file at {key_file}: "
                       "run this on the server, with its settings (--config)")
    from evalsvc.keys import load_or_create_secret

    master = load_or_create_secret(Path(key_file))  # it exists: read, never created
    venues = _session_venues(args, settings)
    origin = f"{settings.audit.log_name}/{args.session}"
    vkey = log_keys(master, origin)[1]
    keys = settings.audit.witness_keys
    witnesses = [v for v in venues if v in keys]
    quorum = len(witnesses) if settings.audit.quorum <= 0 else min(
        settings.audit.quorum, len(witnesses))
    policy = Policy(origin, vkey, tuple(cosignature_vkey(keys[v]) for v in witnesses), quorum)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# 评标会话 {args.session} 的信任策略 / trust policy of session {args.session}\n")
        fh.write(format_policy(policy))
    print(f"已写入 / wrote {args.out}: log {vkey}, {len(witnesses)} witnesses, quorum {quorum}")
    return 0


def _session_venues(args: argparse.Namespace, settings: Any) -> list[str]:
    """The session's venue ids, read from the database without creating it."""
    from sqlalchemy import create_engine

    from evalsvc.sessions.store import load_session

    url = args.database or settings.database.url
    _require_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            try:
                s, _ = load_session(conn, args.session)
            except NotFound:
                raise NotFound(f"未知的评标会话 {args.session} / unknown session "
                               f"{args.session}") from None
            except Exception as exc:  # not an evalsvc database
                raise NotFound(f"数据库 {url} 中没有评标会话 / no evalsvc sessions in {url}: "
                               f"{exc.__class__.__name__}") from exc
    finally:
        engine.dispose()
    return [v.id for v in s.venues]


def _require_database(url: str) -> None:
    """A SQLite file that does not exist is refused, never created."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            raise NotFound(f"数据库文件不存在 / no database file at {path} ({url}); "
                           "give the right one with --database URL")


def cmd_export(args: argparse.Namespace) -> int:
    """Export a session's bundle from the configured database."""
    # Database libraries only here: ``audit verify`` must run without them.
    from sqlalchemy import create_engine

    from evalsvc.audit.export import export_bundle
    from evalsvc.config import load_settings

    policy: Policy | None = None
    if args.policy:
        policy = parse_policy(args.policy.read_text("utf-8"))
    elif args.log_vkey:
        if not args.origin:
            raise InvalidInput("--log-vkey needs --origin", field="origin")
        policy = Policy(args.origin, args.log_vkey, tuple(args.witness), args.quorum)
    settings = load_settings(args.config)
    url = args.database or settings.database.url
    _require_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            meta = export_bundle(
                conn, args.session, args.out, policy=policy, entry_proofs=args.entry_proofs,
                candidates=settings.report.candidates,
            )
    finally:
        engine.dispose()
    print(f"wrote {args.out}: {meta['entries']} entries, checkpoints {meta['checkpoints']}")
    disclosed = meta.get("disclosed")
    if isinstance(disclosed, list) and disclosed:
        print(f"已导出复算材料 / with what re-derives the result ({meta.get('state')}): "
              + ", ".join(str(x) for x in disclosed))
    if policy is None:
        print("no policy embedded: verify with --trusted-keys FILE", file=sys.stderr)
    return 0


def cmd_open_pool(args: argparse.Namespace) -> int:
    """Print (or write) the opening of one masked pool field: value and salt."""
    from sqlalchemy import create_engine

    from evalsvc.config import load_settings
    from evalsvc.experts.store import pool_opening
    from evalsvc.files import write_private

    settings = load_settings(args.config)
    url = args.database or settings.database.url
    _require_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            opening = pool_opening(conn, args.session, args.expert, args.field)
    finally:
        engine.dispose()
    text = json.dumps(opening, ensure_ascii=False, indent=1) + "\n"
    # Said every time: this reads the server's database as its operator, beside the
    # API, and records nothing (docs/audit.md "Opening one field" says why).
    print(f"注意：命令行开启不记入会话审计日志，是服务器运维人员在 API 之外的操作；需要留痕的开启"
          f"请由本项目监督人员调用 POST /api/sessions/{args.session}/audit/pool-openings"
          " / note: an opening from the command line is NOT recorded in the session's audit"
          " log (the server's operator acting outside the API); for one on the record the"
          " tender's supervisor calls POST …/audit/pool-openings", file=sys.stderr)
    if args.out is not None:
        write_private(args.out, text.encode("utf-8"))
        print(f"已写入 / wrote {args.out}: {args.expert}.{args.field} 的开启值 / opening"
              f" (verify: evalsvc audit verify BUNDLE --opening {args.out})")
    else:
        sys.stdout.write(text)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new signer key (mode 0600) and print its verifier keys."""
    skey, vkey = generate_key(args.name)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(skey + "\n")
    print(f"log/note vkey:    {vkey}")
    print(f"cosignature vkey: {cosignature_vkey(vkey)}")
    return 0
