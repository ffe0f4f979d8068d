"""``evalsvc audit verify | export | keygen`` — the audit log on the command line."""

from __future__ import annotations

__all__ = ["cmd_export", "cmd_keygen", "cmd_verify", "register"]

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from evalsvc.audit.bundle import Policy, parse_policy
from evalsvc.audit.note import cosignature_vkey, generate_key
from evalsvc.audit.verify import verify_bundle
from evalsvc.errors import InvalidInput


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
    v.set_defaults(func=cmd_verify)

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


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a bundle; print the summary (exit 0) or every failed check (exit 1)."""
    trusted = args.trusted_keys.read_text("utf-8") if args.trusted_keys else None
    extra = [(p.name, p.read_text("utf-8")) for p in args.checkpoint]
    report = verify_bundle(args.dir, trusted_policy=trusted, extra_checkpoints=extra)
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


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
    url = args.database or load_settings(args.config).database.url
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            meta = export_bundle(
                conn, args.session, args.out, policy=policy, entry_proofs=args.entry_proofs
            )
    finally:
        engine.dispose()
    print(f"wrote {args.out}: {meta['entries']} entries, checkpoints {meta['checkpoints']}")
    if policy is None:
        print("no policy embedded: verify with --trusted-keys FILE", file=sys.stderr)
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
