"""Regional trust stores: ``certs/<REGION>/region.toml`` plus anchor, intermediate and CRL files.

Layout of one region folder (the folder name is the region code, e.g. ``SH``)::

    certs/SH/region.toml        settings, see below
    certs/SH/anchors/*.pem      trust anchors (self-signed roots, one or more per file)
    certs/SH/intermediates/*.pem  CA certificates offered for path building, including
                                  cross-certificates issued to or by other regions' CAs
    certs/SH/crls/*.pem|*.crl   CRLs loaded at start (more come from ``crl_sources``)

``region.toml``::

    name = "上海"
    algorithms = ["rsa", "ecdsa", "sm2"]     # key algorithms accepted in chains ending here
    identity_oids = ["1.2.156.10260.4.1.1.*", "1.2.156.10260.4.1.1", "1.2.86.11.7.*",
                     "subject.serialNumber"]  # priority order, see evalsvc.pki.identity
    crl_sources = ["file:crls/extra.crl", "http://crl.example.cn/sub.crl"]

A loaded :class:`TrustConfig` is immutable: reloading means calling :func:`load_trust`
again and swapping the object (SIGHUP / operator API wiring lives in the app). Loading
does file I/O; everything that *uses* a ``TrustConfig`` is pure.
"""

from __future__ import annotations

__all__ = [
    "ALGORITHMS",
    "DEFAULT_IDENTITY_OIDS",
    "RegionTrust",
    "TrustConfig",
    "load_certificates",
    "load_crls",
    "load_region",
    "load_trust",
]

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import Store

from evalsvc.errors import ConfigError

ALGORITHMS = frozenset({"rsa", "ecdsa", "sm2"})
# Default priority (issue 6 §4): GM/T 0015-2023 sub-arcs, GM/T 0015-2012, RSA-era
# 1.2.86.11.7.x, then the subject serialNumber attribute (X.520 2.5.4.5).
DEFAULT_IDENTITY_OIDS = (
    "1.2.156.10260.4.1.1.*",
    "1.2.156.10260.4.1.1",
    "1.2.86.11.7.*",
    "subject.serialNumber",
)
_REGION_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{0,15}$")
_OID_PATTERN = re.compile(r"^(subject\.serialNumber|[0-2](\.\d+)+(\.\*)?)$")


def _fingerprint(cert: x509.Certificate) -> bytes:
    # SHA-256 of the DER certificate (what `openssl x509 -fingerprint -sha256` shows).
    return cert.fingerprint(hashes.SHA256())


@dataclass(frozen=True)
class RegionTrust:
    """One region's trust material and policy."""

    code: str
    name: str
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    algorithms: frozenset[str] = ALGORITHMS
    identity_oids: tuple[str, ...] = DEFAULT_IDENTITY_OIDS
    crl_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrustConfig:
    """All regions' trust, combined for path building; immutable (rebuild to reload)."""

    regions: tuple[RegionTrust, ...]
    _anchor_region: Mapping[bytes, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: dict[bytes, str] = {}
        for region in self.regions:
            for cert in region.anchors:
                # An anchor listed by two regions belongs to the first (a config smell,
                # but not an error: the chain still ends at a trusted key).
                seen.setdefault(_fingerprint(cert), region.code)
        object.__setattr__(self, "_anchor_region", dict(seen))

    @functools.cached_property
    def verification_store(self) -> Store | None:
        """``cryptography``'s Store of the non-SM2 anchors (SM2 ones: our path builder)."""
        from evalsvc.pki.signatures import is_sm2_certificate

        certs = [c for c in self.anchors if not is_sm2_certificate(c)]
        return Store(certs) if certs else None

    @classmethod
    def of(cls, *regions: RegionTrust) -> TrustConfig:
        """A config from regions built in code (tests, the CLI's ``--trust``)."""
        return cls(tuple(regions))

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        """Every region's anchors."""
        return tuple(c for r in self.regions for c in r.anchors)

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Every region's intermediates and cross-certificates."""
        return tuple(c for r in self.regions for c in r.intermediates)

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """CRLs shipped in the region folders."""
        return tuple(c for r in self.regions for c in r.crls)

    def region(self, code: str) -> RegionTrust:
        """The region with this code."""
        for r in self.regions:
            if r.code == code:
                return r
        raise KeyError(code)

    def anchor_region(self, cert: x509.Certificate) -> str | None:
        """The code of the region whose anchor ``cert`` is, if it is one."""
        return self._anchor_region.get(_fingerprint(cert))

    def summary(self) -> dict[str, object]:
        """JSON-able description for the audit event written on every (re)load."""
        return {
            "regions": [
                {
                    "code": r.code,
                    "name": r.name,
                    "algorithms": sorted(r.algorithms),
                    "identity_oids": list(r.identity_oids),
                    "anchors": [_fingerprint(c).hex() for c in r.anchors],
                    "intermediates": [_fingerprint(c).hex() for c in r.intermediates],
                    "crls": len(r.crls),
                    "crl_sources": list(r.crl_sources),
                }
                for r in self.regions
            ]
        }

    def is_anchor(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is a trust anchor of some region."""
        return _fingerprint(cert) in self._anchor_region


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates in a PEM (one or more) or DER file."""
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError(f"{path}: not a certificate file: {exc}") from exc


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    """All CRLs in a PEM or DER file."""
    data = path.read_bytes()
    try:
        if b"-----BEGIN" not in data:
            return [x509.load_der_x509_crl(data)]
        out = []
        for block in data.split(b"-----END X509 CRL-----")[:-1]:
            out.append(x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n"))
        return out
    except ValueError as exc:
        raise ConfigError(f"{path}: not a CRL file: {exc}") from exc


def _files(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    wanted = set(suffixes)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in wanted)


def _str_list(
    doc: Mapping[str, Any], key: str, where: Path, default: Iterable[str]
) -> tuple[str, ...]:
    value = doc.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def load_region(folder: Path) -> RegionTrust:
    """One region folder (see the module docstring)."""
    code = folder.name
    if not _REGION_CODE.match(code):
        raise ConfigError(f"{folder}: region folder name must be a code like SH or JS")
    toml_path = folder / "region.toml"
    try:
        doc = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{toml_path}: missing") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path}: {exc}") from exc
    unknown = set(doc) - {"name", "algorithms", "identity_oids", "crl_sources"}
    if unknown:
        raise ConfigError(f"{toml_path}: unknown keys {sorted(unknown)}")
    algorithms = frozenset(_str_list(doc, "algorithms", toml_path, sorted(ALGORITHMS)))
    if not algorithms <= ALGORITHMS:
        raise ConfigError(
            f"{toml_path}: algorithms {sorted(algorithms - ALGORITHMS)} unknown; "
            f"expected some of {sorted(ALGORITHMS)}"
        )
    oids = _str_list(doc, "identity_oids", toml_path, DEFAULT_IDENTITY_OIDS)
    for o in oids:
        if not _OID_PATTERN.match(o):
            raise ConfigError(
                f"{toml_path}: identity_oids entry {o!r} is not a dotted OID, "
                "an OID ending in '.*', or 'subject.serialNumber'"
            )
    anchors = [
        c
        for p in _files(folder / "anchors", (".pem", ".crt", ".cer", ".der"))
        for c in load_certificates(p)
    ]
    if not anchors:
        raise ConfigError(f"{folder}: no trust anchors in {folder / 'anchors'}")
    intermediates = [
        c
        for p in _files(folder / "intermediates", (".pem", ".crt", ".cer", ".der"))
        for c in load_certificates(p)
    ]
    crls = [c for p in _files(folder / "crls", (".pem", ".crl")) for c in load_crls(p)]
    name = doc.get("name", code)
    if not isinstance(name, str):
        raise ConfigError(f"{toml_path}: name must be a string")
    return RegionTrust(
        code=code,
        name=name,
        anchors=tuple(anchors),
        intermediates=tuple(intermediates),
        crls=tuple(crls),
        algorithms=algorithms,
        identity_oids=oids,
        crl_sources=_str_list(doc, "crl_sources", toml_path, ()),
    )


def load_trust(directory: Path | str) -> TrustConfig:
    """Every ``<REGION>/region.toml`` folder under ``directory``, as one immutable config."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{root}: trust directory does not exist")
    regions = [load_region(p) for p in sorted(root.iterdir()) if (p / "region.toml").is_file()]
    if not regions:
        raise ConfigError(f"{root}: no region folders (each needs a region.toml)")
    return TrustConfig(tuple(regions))
