"""``evalsvc report verify report.pdf [--trusted-keys DIR]``: check a report PDF offline."""

from __future__ import annotations

__all__ = ["cmd_verify", "register"]

import argparse
import sys
from pathlib import Path
from typing import Any

from evalsvc.errors import InvalidInput


def register(sub: Any) -> None:
    """Add ``report`` with its ``verify`` action."""
    p = sub.add_parser("report", help="评标报告 / the evaluation report")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    v = rsub.add_parser(
        "verify",
        help="离线校验评标报告 PDF / verify a report PDF offline",
        description="校验 PDF 所附 report.json 的 SHA-256 与每页所印一致，"
        "且每个成员签名对该字节有效。"
        " / Checks the attached report.json against the SHA-256 printed on every page and"
        " every member's signature over those bytes.",
    )
    v.add_argument("pdf", type=Path, help="report.pdf")
    v.add_argument(
        "--trusted-keys",
        metavar="DIR",
        type=Path,
        help="信任的 CA 目录（certs/ 布局，每区域一个 region.toml）；不给则只校验签名本身"
        " / trust anchors (the certs/ layout); without it only the signatures are checked",
    )
    v.add_argument(
        "--log-key",
        metavar="VKEY",
        help="该会话审计日志的验证公钥（GET /api/sessions/{id}/audit/key 或审计包的 policy），"
        "用于校验检查点签名 / the session log's verifier key, to check the checkpoint's signature",
    )
    v.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify; print every check (exit 0 when all pass, 1 otherwise)."""
    from evalsvc.pki.trust import load_trust
    from evalsvc.report.verify import verify_report_pdf

    try:
        data = args.pdf.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"无法读取 / cannot read {args.pdf}: {exc.strerror}", field="pdf"
        ) from exc
    trust = load_trust(args.trusted_keys) if args.trusted_keys else None
    result = verify_report_pdf(data, trust=trust, log_vkey=args.log_key)
    print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1
