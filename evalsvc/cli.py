"""Command line: ``evalsvc serve | demo | tokens | db | ...``.

Each feature area registers its own sub-commands through a ``register(subparsers)``
function in its ``cli`` module, listed in :data:`COMMAND_MODULES`, so this file stays
the table of contents and not the implementation.
"""

from __future__ import annotations

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from evalsvc import __version__
from evalsvc.errors import EvalsvcError

# Order is the order of --help. Each module has register(subparsers) -> None and sets
# ``func`` (args -> int exit status) on the sub-parsers it adds.
COMMAND_MODULES: tuple[str, ...] = (
    "evalsvc.commands",
    "evalsvc.pki.cli",
    "evalsvc.experts.cli",
    "evalsvc.audit.cli",
    "evalsvc.report.cli",
    "evalsvc.venues.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every feature's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="evalsvc",
        description="远程异地评标会话服务 — session server for remote cross-region bid evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"evalsvc {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="extra TOML settings file layered over config/default.toml (env: EVALSVC_CONFIG)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evalsvc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # The scheduler logs two lines per run of every job (checkpoints run each second);
        # fontTools, laying out a report PDF, a page of glyph ids per font subset.
        for noisy in ("apscheduler", "fontTools"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except EvalsvcError as exc:
        print(f"evalsvc: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
