"""``evalsvc venue``: run the secondary-venue agent."""

from __future__ import annotations

__all__ = ["register"]

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from evalsvc.errors import InvalidInput
from evalsvc.keys import load_or_create_secret
from evalsvc.venues.agent import Agent, WitnessConfig
from evalsvc.venues.mirror import Mirror
from evalsvc.venues.readonly import create_readonly_app

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add ``venue``."""
    p = sub.add_parser(
        "venue",
        help="run a secondary venue's agent: mirror the primary's sessions, serve them read-only",
    )
    p.add_argument("--primary", required=True, metavar="URL", help="the primary's base URL")
    p.add_argument("--venue", required=True, metavar="ID", help="this venue's id")
    p.add_argument("--token", required=True, help="an operator token of this venue")
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
    p.set_defaults(func=cmd_venue)


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


def cmd_venue(args: argparse.Namespace) -> int:
    """Run until interrupted."""
    path = Path(args.mirror or f"var/venue-{args.venue}.db")
    mirror = Mirror(path)
    agent = Agent(
        primary=args.primary,
        venue=args.venue,
        token=args.token,
        mirror=mirror,
        witness=_witness(args),
        discover_s=args.discover,
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
