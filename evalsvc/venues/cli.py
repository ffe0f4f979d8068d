"""``evalsvc venue``: run the secondary-venue agent.

How it is known to the primary (``--auth``, default ``auto``): ``--token`` → the operator
token; ``--cert``/``--key`` with an RSA/ECDSA certificate and an ``https://`` primary →
mutual TLS; an SM2 certificate (or a plain ``http://`` primary) → a signed
``venue-agent`` challenge (docs/pki.md "Mutual TLS between venues").
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from evalsvc.errors import ConfigError, InvalidInput
from evalsvc.keys import load_or_create_secret
from evalsvc.venues.agent import Agent, WitnessConfig
from evalsvc.venues.credentials import (
    ChallengeCredentials,
    Credentials,
    PrimaryCheck,
    TlsCredentials,
    TokenCredentials,
    load_venue_certificate,
)
from evalsvc.venues.mirror import Mirror
from evalsvc.venues.readonly import create_readonly_app

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add ``venue``."""
    p = sub.add_parser(
        "venue",
        help="run a secondary venue's agent: mirror the primary's sessions, serve them read-only",
    )
    p.add_argument("--primary", metavar="URL", help="the primary's base URL (http/https)")
    p.add_argument("--venue", metavar="ID", help="this venue's id")
    p.add_argument("--token", help="an operator token of this venue (or use --cert/--key)")
    p.add_argument(
        "--cert",
        metavar="PEM",
        type=Path,
        help="the venue's certificate (leaf first, then its intermediates): mutual TLS, "
        "or a signed venue-agent challenge for SM2",
    )
    p.add_argument("--key", metavar="PEM", type=Path, help="the --cert certificate's key")
    p.add_argument(
        "--trust",
        metavar="DIR",
        type=Path,
        default=Path("certs"),
        help="regional trust stores the https primary's certificate is checked against "
        "(default certs/)",
    )
    p.add_argument(
        "--server-name",
        metavar="NAME",
        help="the name the primary's certificate must carry (default: the --primary host)",
    )
    p.add_argument(
        "--auth",
        choices=("auto", "token", "tls", "challenge"),
        default="auto",
        help="how to authenticate (auto: token with --token; with --cert: tls for an "
        "RSA/ECDSA certificate and an https primary, else challenge)",
    )
    p.add_argument("--mirror", metavar="PATH", help="mirror database (default var/venue-<ID>.db)")
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:8090",
        help="read-only HTTP for the venue's operators (default 127.0.0.1:8090; 'off' for none)",
    )
    p.add_argument("--witness-key", metavar="FILE", help="signer key to cosign checkpoints with")
    p.add_argument(
        "--log-key",
        action="append",
        default=[],
        metavar="ORIGIN=VKEY",
        help="a log this venue witnesses, with its verifier key (repeatable)",
    )
    p.add_argument("--discover", type=float, default=10.0, help="seconds between session lists")
    p.add_argument(
        "--view-token-file",
        metavar="FILE",
        help="secret the venue's operators present to read the mirror "
        "(default var/venue-<ID>.view-token, created 0600)",
    )
    p.add_argument(
        "--trusted-witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="another venue's witness key: a checkpoint cosigned by --quorum of them is "
        "trusted too (default: only what this venue cosigned)",
    )
    p.add_argument("--quorum", type=int, default=1, help="cosignatures of --trusted-witness")
    p.add_argument("--verify", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between checks of the mirror against the signed log")
    p.set_defaults(func=cmd_venue)
    vs = p.add_subparsers(dest="venue_cmd")
    e = vs.add_parser("export", help="write a bundle of what the mirror verified "
                      "(evalsvc audit verify reads it)")
    e.add_argument("session", metavar="SESSION")
    e.add_argument("--out", required=True, type=Path, metavar="DIR")
    e.add_argument("--mirror", required=True, type=Path, metavar="PATH")
    e.add_argument("--venue", metavar="ID", default="", help="this venue's id (recorded)")
    e.set_defaults(func=cmd_export)
    st = vs.add_parser("status", help="per session: events verified, pending, split views")
    st.add_argument("--mirror", required=True, type=Path, metavar="PATH")
    st.set_defaults(func=cmd_status)


def cmd_export(args: argparse.Namespace) -> int:
    """``evalsvc venue export SESSION --mirror PATH --out DIR``."""
    from evalsvc.venues.export import export_mirror

    mirror = Mirror(args.mirror)
    try:
        meta = export_mirror(mirror, args.session, args.out, venue=args.venue)
    finally:
        mirror.close()
    print(f"wrote {args.out}: {meta['entries']} entries, checkpoints {meta['checkpoints']}, "
          f"{meta['undisclosed_fields']} fields not disclosed to this venue")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``evalsvc venue status --mirror PATH``: exit 2 when a split view was detected."""
    mirror = Mirror(args.mirror)
    try:
        sessions = [r[0] for r in mirror._db.execute("SELECT session_id FROM cursor")]
        split = False
        for sid in sessions:
            st = mirror.audit_status(sid)
            line = (f"{sid}: 已核验 verified {st.verified}, 待核验 pending "
                    f"{max(0, st.events - st.verified)}")
            if st.split is not None:
                split = True
                line += (f" — 分叉视图 SPLIT VIEW ({st.split[0]}): {st.split[1]}; "
                         f"evidence {st.split[2]}")
                line += "\n  " + split_report_text(st.reported)
            print(line)
    finally:
        mirror.close()
    return 2 if split else 0


def split_report_text(reported: tuple[bool, str] | None) -> str:
    """What became of reporting a split view to the primary's supervisors (zh-CN, then
    English): the venue's own copy stands either way."""
    if reported is None:
        return ("尚未向主场的监督人员报告；证据保存在本副场，并随 venue export 导出 / not "
                "reported to the primary yet; the evidence is kept here and in the export")
    ok, detail = reported
    if ok:
        return f"已报告监督人员（alert.raised）/ reported to the supervisors: {detail}"
    return (f"未能报告监督人员：{detail}；证据仅在本副场，请导出 (venue export) 后交监督人员 / "
            "not reported; the evidence is only here: export it for the supervisors")


def _witness(args: argparse.Namespace) -> WitnessConfig | None:
    if not args.witness_key:
        return None
    logs: dict[str, list[str]] = {}
    for item in args.log_key:
        origin, sep, vkey = item.partition("=")
        if not sep or not origin or not vkey:
            raise InvalidInput(f"--log-key must be ORIGIN=VKEY, got {item!r}", field="log-key")
        logs.setdefault(origin, []).append(vkey)
    skey = Path(args.witness_key).read_text(encoding="utf-8").strip()
    return WitnessConfig(skey=skey, logs=logs)


def _connection(
    args: argparse.Namespace,
) -> tuple[Credentials, ssl.SSLContext | None, PrimaryCheck | None]:
    """Credentials, TLS context and primary check from the command line (clear errors
    before anything starts)."""
    url = urlsplit(args.primary)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"--primary must be an http:// or https:// URL, got {args.primary!r}")
    https = url.scheme == "https"
    if args.server_name and not https:
        raise ConfigError("--server-name is for an https:// --primary")
    if args.token and args.cert and args.auth == "auto":
        raise ConfigError("give --token or --cert/--key, not both (or choose with --auth)")
    if bool(args.cert) != bool(args.key):
        raise ConfigError("--cert and --key go together")
    auth = args.auth
    leaf_is_sm2 = False
    if args.cert:
        from evalsvc.pki.signatures import is_sm2_certificate

        leaf, chain_pem, key = load_venue_certificate(args.cert, args.key)
        leaf_is_sm2 = is_sm2_certificate(leaf)
        if auth == "auto":
            auth = "tls" if https and not leaf_is_sm2 else "challenge"
    elif auth == "auto" and args.token:
        auth = "token"
    if auth == "auto":
        raise ConfigError(
            "the agent needs --token (an operator token of the venue) or --cert and --key "
            "(the venue's certificate)"
        )
    if auth == "token" and not args.token:
        raise ConfigError("--auth token needs --token")
    if auth in ("tls", "challenge") and not args.cert:
        raise ConfigError(f"--auth {auth} needs --cert and --key")
    if auth == "tls" and not https:
        raise ConfigError("mutual TLS needs an https:// --primary")
    if auth == "tls" and leaf_is_sm2:
        raise ConfigError(
            "Python's ssl cannot do TLS with an SM2 certificate: use --auth challenge "
            "(the default for SM2)"
        )
    context: ssl.SSLContext | None = None
    check: PrimaryCheck | None = None
    if https:
        from evalsvc.pki.tls import client_ssl_context
        from evalsvc.pki.trust import load_trust

        trust = load_trust(args.trust)
        context = client_ssl_context(
            trust,
            cert_file=args.cert if auth == "tls" else None,
            key_file=args.key if auth == "tls" else None,
        )
        check = PrimaryCheck(trust, server_name=args.server_name or url.hostname)
    credentials: Credentials
    if auth == "token":
        credentials = TokenCredentials(args.token)
    elif auth == "tls":
        credentials = TlsCredentials()
    else:
        credentials = ChallengeCredentials(
            primary=args.primary,
            venue=args.venue,
            chain_pem=chain_pem,
            key=key,
            server_hostname=args.server_name,
        )
    log.info("venue %s: authenticating to %s by %s", args.venue, args.primary, auth)
    return credentials, context, check


def cmd_venue(args: argparse.Namespace) -> int:
    """Run until interrupted."""
    if not args.primary or not args.venue:
        raise InvalidInput("evalsvc venue needs --primary and --venue", field="primary")
    credentials, context, check = _connection(args)
    path = Path(args.mirror or f"var/venue-{args.venue}.db")
    mirror = Mirror(path)
    agent = Agent(
        primary=args.primary,
        venue=args.venue,
        credentials=credentials,
        ssl_context=context,
        server_hostname=args.server_name,
        primary_check=check,
        mirror=mirror,
        witness=_witness(args),
        discover_s=args.discover,
        trusted_witnesses=args.trusted_witness,
        quorum=args.quorum,
        verify_s=args.verify,
    )

    async def main() -> None:
        runner = None
        if args.listen != "off":
            host, _, port = args.listen.rpartition(":")
            token_file = Path(args.view_token_file or f"var/venue-{args.venue}.view-token")
            view_token = load_or_create_secret(token_file).hex()
            runner = web.AppRunner(create_readonly_app(agent, path, view_token=view_token))
            await runner.setup()
            await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
            print(
                f"evalsvc venue {args.venue}: mirror {path}, read-only on http://{args.listen}"
                f" (Authorization: Bearer <the hex token in {token_file}>)",
                flush=True,
            )
        try:
            await agent.run()
        finally:
            if runner is not None:
                await runner.cleanup()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    finally:
        mirror.close()
    return 0
