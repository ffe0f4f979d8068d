"""``evalsvc certs dev`` and ``evalsvc certs check``."""

from __future__ import annotations

__all__ = ["register"]

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from cryptography import x509

from evalsvc.errors import CertificateRejected, ConfigError, EvalsvcError
from evalsvc.ids import mask_resident_id
from evalsvc.pki.devpki import build_dev_pki, write_dev_pki
from evalsvc.pki.identity import IdentityKind
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.signatures import key_algorithm, public_key_of
from evalsvc.pki.trust import RegionTrust, TrustConfig, load_certificates, load_crls, load_region
from evalsvc.pki.trust import load_trust as _load_trust_dir
from evalsvc.pki.validate import DEFAULT_MAX_DEPTH, Usage, ValidationResult, validate


def register(subparsers: Any) -> None:
    """Add ``certs dev`` and ``certs check`` to the ``evalsvc`` parser."""
    certs = subparsers.add_parser("certs", help="certificates: dev PKI, chain checks")
    sub = certs.add_subparsers(dest="certs_command", metavar="ACTION")
    certs.set_defaults(func=lambda _args: (certs.print_help(), 2)[1])

    dev = sub.add_parser("dev", help="generate the four-region test PKI (test material only)")
    dev.add_argument("--out", type=Path, default=Path("certs/dev"), help="output directory")
    dev.add_argument("--at", help="ISO 8601 time the PKI is built around (default: now)")
    dev.set_defaults(func=_cmd_dev)

    check = sub.add_parser("check", help="validate a certificate; exit 0 if accepted, 1 if not")
    check.add_argument(
        "leaf", type=Path, metavar="LEAF", help="PEM/DER; extra certs = intermediates"
    )
    check.add_argument("--intermediate", type=Path, action="append", default=[], metavar="PEM")
    check.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="PEM_OR_DIR",
        help="anchor PEM, a region folder, or a folder of region folders (default: certs/)",
    )
    check.add_argument("--crl", type=Path, action="append", default=[], metavar="PEM")
    check.add_argument("--at", help="ISO 8601 validation time (default: now)")
    check.add_argument("--max-depth", type=int, default=DEFAULT_MAX_DEPTH, metavar="N")
    check.add_argument("--usage", choices=[u.value for u in Usage], default=Usage.LOGIN.value)
    check.add_argument("--server-name", metavar="NAME", help="for --usage venue-server")
    check.add_argument(
        "--revocation",
        choices=[m.value for m in RevocationMode],
        default=None,
        help="require: no fresh CRL refuses; soft-fail: warns "
        "(default: require for --usage signing, soft-fail otherwise)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=_cmd_check)


def _parse_at(text: str | None) -> _dt.datetime:
    if not text:
        return _dt.datetime.now(_dt.UTC)
    try:
        at = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--at {text!r} is not an ISO 8601 time") from exc
    return at if at.tzinfo else at.replace(tzinfo=_dt.UTC)


def _cmd_dev(args: argparse.Namespace) -> int:
    at = _parse_at(args.at)
    pki = build_dev_pki(at)
    files = write_dev_pki(pki, args.out)
    print(f"wrote {len(files)} files under {args.out} (regions {', '.join(pki.regions)})")
    return 0


def _load_trust(paths: list[Path]) -> TrustConfig:
    if not paths:
        paths = [Path("certs")]
    regions: list[RegionTrust] = []
    for i, path in enumerate(paths):
        if path.is_dir() and (path / "region.toml").is_file():
            regions.append(load_region(path))
        elif path.is_dir():
            regions.extend(_load_trust_dir(path).regions)
        elif path.is_file():
            code = f"CLI{i}" if len(paths) > 1 else "CLI"
            regions.append(
                RegionTrust(code=code, name=path.name, anchors=tuple(load_certificates(path)))
            )
        else:
            raise ConfigError(f"--trust {path}: no such file or directory")
    return TrustConfig(tuple(regions))


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    try:
        alg = key_algorithm(public_key_of(cert))
    except CertificateRejected:
        alg = "unsupported"
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "key": alg,
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


def _report(result: ValidationResult) -> dict[str, Any]:
    identity = None
    if result.identity is not None:
        number = result.identity.number
        shown = mask_resident_id(number) if result.identity.kind is IdentityKind.PERSON else number
        identity = {
            "kind": result.identity.kind.value,
            "number": shown,
            "source": result.identity.source,
        }
    return {
        "accepted": True,
        "usage": result.usage.value,
        "region": result.region,
        "engine": result.engine,
        "identity": identity,
        "chain": [_describe(c) for c in result.chain],
        "warnings": [str(w) for w in result.warnings],
    }


def _cmd_check(args: argparse.Namespace) -> int:
    at = _parse_at(args.at)
    try:
        certs = load_certificates(args.leaf)
        intermediates = certs[1:] + [c for p in args.intermediate for c in load_certificates(p)]
        crls = [c for p in args.crl for c in load_crls(p)]
        trust = _load_trust(args.trust)
        result = validate(
            certs[0],
            trust=trust,
            at=at,
            usage=Usage(args.usage),
            intermediates=intermediates,
            crls=crls,
            revocation=RevocationMode(args.revocation) if args.revocation else None,
            max_depth=args.max_depth,
            server_name=args.server_name,
        )
    except EvalsvcError as exc:
        if args.json:
            print(
                json.dumps(
                    {"accepted": False, "error": exc.code, "reason": exc.message},
                    ensure_ascii=False,
                )
            )
        else:
            print(f"REFUSED ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    report = _report(result)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"ACCEPTED for {report['usage']} — anchor region {report['region']} ({report['engine']})")
    for depth, item in enumerate(report["chain"]):
        print(f"  {depth}: {item['subject']}  [{item['key']}, until {item['not_after']}]")
    ident = report["identity"]
    print(
        f"  identity: {ident['kind']} {ident['number']} (from {ident['source']})"
        if ident
        else "  identity: none found in the region's identity fields"
    )
    for w in report["warnings"]:
        print(f"  WARNING revocation: {w}")
    return 0
