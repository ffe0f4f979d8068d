"""Core sub-commands: ``serve``, ``demo``, ``tokens``, ``db``."""

from __future__ import annotations

__all__ = ["register"]

import argparse
import asyncio
import gc
import json
import logging
import re
import secrets
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url as sa_url

from evalsvc.auth import ROLES, VENUE_ROLES, issue_token
from evalsvc.config import Settings, load_settings
from evalsvc.db import is_sqlite, make_engine
from evalsvc.errors import ConfigError, InvalidInput
from evalsvc.keys import load_or_create_secret
from evalsvc.schema import ensure_schema, new_revision, schema_status, upgrade_schema


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    over: dict[str, Any] = {}
    for section, values in overrides.items():
        clean = {k: v for k, v in values.items() if v is not None}
        if clean:
            over[section] = clean
    return load_settings(args.config, overrides=over)


def register(sub: Any) -> None:
    """Add ``serve``, ``demo``, ``tokens`` and ``db``."""
    p = sub.add_parser("serve", help="run the session server (primary venue)")
    p.add_argument("--host", help="listen address (default from settings: 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8080)")
    p.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    p.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve HTTPS with this certificate chain, leaf first (server.tls_cert); "
        "venue agents may then authenticate by client certificate",
    )
    p.add_argument("--tls-key", metavar="PEM", help="the TLS certificate's key (server.tls_key)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="seed a cross-region demo session and serve it")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--database",
        metavar="URL",
        default="sqlite:///var/demo.db",
        help="database for the demo (default sqlite:///var/demo.db, recreated)",
    )
    p.add_argument("--keep", action="store_true", help="keep an existing demo database")
    p.add_argument("--seed-only", action="store_true", help="seed, print the tokens and exit")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("tokens", help="issue and revoke bearer tokens")
    tsub = p.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    t = tsub.add_parser(
        "issue",
        help="print a signed bearer token for one person",
        description="Print a signed bearer token on stdout; its id (jti), subject and "
        "expiry go to stderr (or everything as JSON with --json).",
    )
    t.add_argument("--role", required=True, choices=ROLES)
    t.add_argument(
        "--venue", help="venue id (required for operator, expert and site_supervisor)"
    )
    t.add_argument(
        "--scope",
        action="append",
        metavar="ID",
        help="supervisor only: a session id or tender number (招标项目编号) the token is bound "
        "to; repeat for more. Without it a supervisor token covers every session",
    )
    t.add_argument(
        "--subject",
        required=True,
        help="the person: expert id, or the operator's or supervisor's own id or name — "
        "the audit log names this person as the actor of everything done with the token",
    )
    t.add_argument("--name", help="display name (default: the subject)")
    t.add_argument("--ttl-hours", type=int, help="validity (default from settings: 12)")
    t.add_argument("--json", action="store_true", help="print {token, jti, ...} as JSON")
    t.set_defaults(func=cmd_tokens_issue)
    t = tsub.add_parser(
        "revoke",
        help="revoke a bearer token (by the token or by its id)",
        description="Put a token on the deny list in the database: every server on that "
        "database refuses it within [auth] revocation_refresh_ms and closes its open "
        "WebSockets (bye token_revoked, close 4401).",
    )
    t.add_argument("token", nargs="?", help="the token itself (its signature is checked)")
    t.add_argument("--id", dest="jti", metavar="JTI", help="the token id `tokens issue` printed")
    t.add_argument("--reason", default="", help="why (kept with the revocation)")
    t.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    t.set_defaults(func=cmd_tokens_revoke)

    p = sub.add_parser("db", help="数据库结构：查看版本、升级 (database schema: status, upgrade)")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    d = dsub.add_parser(
        "status", help="查看数据库结构版本（只读，不会新建数据库） / show the schema revision"
    )
    d.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    d.set_defaults(func=cmd_db_status)
    d = dsub.add_parser(
        "upgrade", help="新建或升级数据库结构到最新版本（请先备份） / create or upgrade the schema"
    )
    d.add_argument("--database", metavar="URL", help="database URL (overrides settings)")
    d.set_defaults(func=cmd_db_upgrade)
    d = dsub.add_parser(
        "revision",
        help="for developers: write an empty alembic revision after the head "
        "(evalsvc/migrations/versions; docs/architecture.md \"Schema\")",
    )
    d.add_argument("-m", "--message", required=True, help="what the revision changes")
    d.set_defaults(func=cmd_db_revision)


def cmd_serve(args: argparse.Namespace) -> int:
    from evalsvc.app import create_app

    settings = _settings(
        args,
        server={
            "host": args.host,
            "port": args.port,
            "tls_cert": args.tls_cert,
            "tls_key": args.tls_key,
        },
        database={"url": args.database},
    )
    ssl_context = _server_ssl(settings)  # before the database: a bad file fails first
    engine = make_engine(settings.database)
    try:
        ensure_schema(engine)  # fail fast with a clear message before binding the port
    finally:
        engine.dispose()
    scheme = "https" if ssl_context is not None else "http"
    print(
        f"evalsvc serving on {scheme}://{settings.server.host}:{settings.server.port} "
        f"(database: {settings.database.url})",
        flush=True,
    )
    app = create_app(settings)
    if ssl_context is not None:
        from evalsvc.pki.routes import SERVER_SSL

        app[SERVER_SSL] = ssl_context  # the trust stores' anchors are added on start
    # Everything allocated so far lives as long as the process: keep it out of the
    # collector's generations, and collect the young generation less often (the tail
    # latency of a busy server was partly full collections walking import-time objects).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # The event loop and the database writer threads hand work to each other many times
    # per request; CPython's default 5 ms GIL switch interval made each hand-off wait.
    sys.setswitchinterval(settings.server.gil_switch_interval_ms / 1000)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        print=None,
        ssl_context=ssl_context,
        handle_signals=True,
        access_log=logging.getLogger("aiohttp.access") if settings.server.access_log else None,
    )
    return 0


def _server_ssl(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS context of ``[server] tls_cert``/``tls_key`` (None: plain HTTP). Client
    certificates are optional: experts' browsers present none, venue agents do."""
    cert, key = settings.server.tls_cert, settings.server.tls_key
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError("server.tls_cert and server.tls_key (--tls-cert, --tls-key) go together")
    from evalsvc.pki.tls import server_ssl_context

    return server_ssl_context(
        None,
        cert_file=settings.resolve(cert),
        key_file=settings.resolve(key),
        require_client_cert=False,
    )


def cmd_tokens_issue(args: argparse.Namespace) -> int:
    settings = _settings(args)
    subject = (args.subject or "").strip()
    # A token names a person: tokens shared by everyone of a role made them one actor in
    # the audit log (issue "Blinding and integrity hold against an insider").
    if not subject:
        raise InvalidInput(
            f"a {args.role} token needs --subject: the person it is for", field="subject"
        )
    if subject in ROLES or subject == f"op-{args.venue}":
        raise InvalidInput(
            f"--subject {subject!r} names a role or a venue, not a person: "
            "give the person's id or name",
            field="subject",
        )
    if args.role in VENUE_ROLES and not args.venue:
        raise InvalidInput(f"a {args.role} token needs --venue", field="venue")
    scope = getattr(args, "scope", None)
    if scope is not None and args.role != "supervisor":
        raise InvalidInput(
            f"--scope binds a supervisor token to sessions or tenders; a {args.role} token"
            " is bound by its venue",
            field="scope",
        )
    secret = load_or_create_secret(settings.resolve(settings.auth.token_secret_file))
    ttl = (args.ttl_hours or settings.auth.token_ttl_hours) * 3600
    now = int(time.time())
    jti = secrets.token_hex(8)
    token = issue_token(
        secret,
        role=args.role,
        subject=subject,
        name=args.name or subject,
        venue=args.venue,
        now=now,
        ttl_seconds=ttl,
        nonce=jti,
        scope=tuple(scope) if scope is not None else None,
    )
    expires = _utc(now + ttl)
    if args.json:
        _print_json(
            {
                "token": token,
                "jti": jti,
                "role": args.role,
                "subject": subject,
                "venue": args.venue,
                "scope": scope,
                "expires_at": expires,
            }
        )
        return 0
    print(token)
    print(
        f"token id (jti) {jti}: {args.role}:{subject}, valid until {expires}; "
        f"revoke with `evalsvc tokens revoke --id {jti}`",
        file=sys.stderr,
    )
    return 0


def _utc(unix_s: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from evalsvc.auth import verify_token
    from evalsvc.tokens import revoke

    if bool(args.token) == bool(args.jti):
        raise InvalidInput("give the token, or its id with --id JTI (one of the two)")
    settings = _settings(args, database={"url": args.database})
    role = subject = None
    expires: int | None = None
    if args.token:
        secret = load_or_create_secret(settings.resolve(settings.auth.token_secret_file))
        # now=0: an expired token may still be revoked (it names whom it was for).
        p = verify_token(secret, args.token.strip(), now=0)
        jti, role, subject, expires = p.token_id, p.role, p.subject, p.expires_at
    else:
        jti = args.jti.strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", jti):
            raise InvalidInput("--id must be a token id as `tokens issue` prints it", field="id")
    assert jti is not None
    engine = make_engine(settings.database)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            added = revoke(
                conn,
                jti=jti,
                expires_at=expires,
                role=role,
                subject=subject,
                reason=args.reason,
                now_ms=time.time_ns() // 1_000_000,
            )
    finally:
        engine.dispose()
    who = f" ({role}:{subject}, valid until {_utc(expires)})" if expires is not None else ""
    state = "revoked" if added else "was already revoked"
    print(
        f"token {jti}{who} {state}; servers refuse it within "
        f"{settings.auth.revocation_refresh_ms} ms"
    )
    return 0


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: in memory or not SQLite)."""
    if not is_sqlite(url):
        return None
    path = sa_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).expanduser()


def cmd_db_status(args: argparse.Namespace) -> int:
    """Print the schema state (exit 0 only at the head); never creates a database."""
    import sqlalchemy as sa

    settings = _settings(args, database={"url": args.database})
    url = settings.database.url
    where = _sqlite_file(url)
    if where is not None:
        if not where.exists():
            print(f"数据库文件不存在：{where}（未新建任何文件；"
                  "`evalsvc db upgrade` 或 `evalsvc serve` 会新建它）", file=sys.stderr)
            return 1
        # A plain engine on an existing file: make_engine would set WAL mode and narrow
        # the file's permissions, and status only reads.
        engine = sa.create_engine(f"sqlite:///{where}")
    else:
        engine = make_engine(settings.database)
    try:
        state = schema_status(engine)
    except sa.exc.DatabaseError as exc:
        what = "不是 SQLite 数据库文件" if where is not None else "无法读取数据库"
        print(f"{what}：{where or _masked(url)}（{exc.orig.__class__.__name__}）", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    line = f"数据库 {where or _masked(url)}：{state.describe()}"
    print(line, file=sys.stdout if state.kind == "current" else sys.stderr)
    return 0 if state.kind == "current" else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Create or upgrade the schema to the head revision, in one transaction."""
    settings = _settings(args, database={"url": args.database})
    engine = make_engine(settings.database)
    try:
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    where = _sqlite_file(settings.database.url) or _masked(settings.database.url)
    if before is None:
        print(f"数据库 {where}：已新建，结构版本 {after}")
    elif before == after:
        print(f"数据库 {where}：结构版本 {after}，已是最新")
    else:
        print(f"数据库 {where}：结构版本 {before} → {after}，升级完成")
    return 0


def cmd_db_revision(args: argparse.Namespace) -> int:
    """Write an empty revision after the head (developers, in a source checkout)."""
    path = new_revision(args.message)
    print(f"wrote {path}: fill in upgrade(), then run `evalsvc db upgrade`")
    return 0


def _masked(url: str) -> str:
    """``url`` without its password (for messages)."""
    return sa_url(url).render_as_string(hide_password=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from evalsvc.demo import run_demo

    if args.database.startswith("sqlite:///") and not args.keep:
        path = Path(args.database[len("sqlite:///") :])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    settings = _settings(
        args, server={"host": args.host, "port": args.port}, database={"url": args.database}
    )
    settings = _demo_pki(settings)
    try:
        return asyncio.run(run_demo(settings, serve=not args.seed_only, config=args.config))
    except KeyboardInterrupt:
        return 0


def _demo_pki(settings: Settings) -> Settings:
    """Without real regional CA roots in ``[pki] trust_dir`` (a fresh clone ships none),
    the demo generates the four-region test PKI into ``var/demo-pki`` (anew each run:
    its CRLs are dated) and trusts it, so certificate login and signing work out of the
    box; its experts' keys are in ``var/demo-pki/leaves`` and, as one file each for the
    browser's certificate sign-in, ``var/demo-pki/browser``. Test material only."""
    import dataclasses
    import datetime as _dt

    from evalsvc.files import private_dir
    from evalsvc.pki.devpki import build_dev_pki, write_browser_keys, write_dev_pki

    configured = settings.resolve(settings.pki.trust_dir)
    if any(configured.glob("*/anchors/*.pem")):
        return settings
    out = settings.resolve("var/demo-pki")
    private_dir(out.parent)
    pki = build_dev_pki(_dt.datetime.now(_dt.UTC))
    write_dev_pki(pki, out)
    # One PEM file per expert (key + chain) for the browser's certificate sign-in.
    write_browser_keys(pki, out / "browser")
    print(f"演示用测试证书体系 / demo test PKI (test material only): {out}", flush=True)
    return dataclasses.replace(
        settings, pki=dataclasses.replace(settings.pki, trust_dir=str(out))
    )


def _print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
    print()
