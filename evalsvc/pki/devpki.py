"""A complete test PKI for the four Yangtze River Delta regions (``evalsvc certs dev``).

=======  ==========  ==================================================================
region   algorithm   contents
=======  ==========  ==================================================================
SH       RSA-2048    root, intermediate, cross-certificate for the JS root, expert Zhang
                     (ID in RSA-era 1.2.86.11.7.1), a revoked expert, the primary's TLS
                     server certificate
JS       ECDSA P-256 root, intermediate, expert Li (ID in subject serialNumber), an
                     expired expert, the JS venue agent's client certificate
ZJ       SM2         root, intermediate, expert Zhang again (same person, GM/T 0015-2012
                     IdentifyCode), an encryption-only certificate, the ZJ venue client
AH       ECDSA P-384 root, intermediate, expert Wang (GM/T 0015-2023-style sub-arc)
=======  ==========  ==================================================================

Every CA publishes a CRL (fresh at ``now``; SH's intermediate lists the revoked expert).
:func:`build_dev_pki` is pure apart from key generation; :func:`write_dev_pki` writes the
region folders (loadable with :func:`evalsvc.pki.trust.load_trust`) plus ``leaves/`` and
``private/``. Keys are unencrypted: this is test material only.
"""

from __future__ import annotations

__all__ = [
    "DevPki",
    "Issued",
    "RegionPki",
    "build_dev_pki",
    "load_private_key",
    "private_key_pem",
    "write_browser_keys",
    "write_dev_pki",
]

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evalsvc.files import private_dir, write_private
from evalsvc.ids import resident_id_check_char, uscc_check_char
from evalsvc.pki import der
from evalsvc.pki.builder import issue_certificate, issue_crl
from evalsvc.pki.signatures import PrivateKey, PublicKey
from evalsvc.pki.sm2 import Sm2PrivateKey, Sm2PublicKey
from evalsvc.pki.trust import DEFAULT_IDENTITY_OIDS, RegionTrust, TrustConfig

REGION_ALGORITHMS = {"SH": "rsa", "JS": "ecdsa-p256", "ZJ": "sm2", "AH": "ecdsa-p384"}
REGION_NAMES = {"SH": "上海", "JS": "江苏", "ZJ": "浙江", "AH": "安徽"}

# Holders (valid check characters computed, GB 11643 / GB 32100).
ZHANG_ID = "31010419800101123" + resident_id_check_char("31010419800101123")
LI_ID = "32010619850315002" + resident_id_check_char("32010619850315002")
WANG_ID = "34010419900909004" + resident_id_check_char("34010419900909004")
ZHAO_ID = "33010219751120003" + resident_id_check_char("33010219751120003")
SH_VENUE_USCC = "12310000MB2C31234" + uscc_check_char("12310000MB2C31234")
JS_VENUE_USCC = "12320000MB1D56789" + uscc_check_char("12320000MB1D56789")
ZJ_VENUE_USCC = "12330000MB0E24680" + uscc_check_char("12330000MB0E24680")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    name: str
    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class RegionPki:
    """One region's CAs and CRLs."""

    code: str
    root: Issued
    intermediate: Issued
    crls: tuple[x509.CertificateRevocationList, ...]
    cross: tuple[x509.Certificate, ...] = ()  # cross-certificates this region's root issued


@dataclass(frozen=True)
class DevPki:
    """The whole dev PKI (see the module docstring)."""

    now: _dt.datetime
    regions: dict[str, RegionPki]
    leaves: dict[str, Issued] = field(default_factory=dict)

    def region_trust(self, code: str) -> RegionTrust:
        """The ``RegionTrust`` a ``certs/<code>/`` folder of this PKI loads as."""
        r = self.regions[code]
        return RegionTrust(
            code=code,
            name=REGION_NAMES[code],
            anchors=(r.root.cert,),
            intermediates=(r.intermediate.cert, *r.cross),
            crls=r.crls,
            identity_oids=DEFAULT_IDENTITY_OIDS,
        )

    def trust(self, *codes: str) -> TrustConfig:
        """A trust config of the given regions (all four when none given)."""
        return TrustConfig(tuple(self.region_trust(c) for c in (codes or tuple(self.regions))))


def _new_key(algorithm: str, rsa_bits: int) -> PrivateKey:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    return Sm2PrivateKey.generate()


def _public(key: PrivateKey) -> PublicKey:
    return key.public_key()


def _spki_der(key: PublicKey) -> bytes:
    if isinstance(key, Sm2PublicKey):
        return key.spki_der()
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ski(key: PublicKey) -> x509.SubjectKeyIdentifier:
    # RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
    import hashlib

    bits = der.decode_bit_string(der.parse(_spki_der(key)).children()[1])
    return x509.SubjectKeyIdentifier(hashlib.sha1(bits, usedforsecurity=False).digest())


def _name(cn: str, code: str, *, org: str = "", serial: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org or f"evalsvc dev CA {code}"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _ext(value: x509.ExtensionType, critical: bool = False) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, critical, value)


def _ku(**on: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    )
    flags = {n: on.get(n, False) for n in names}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _ca_exts(
    pub: PublicKey, issuer_ski: x509.SubjectKeyIdentifier | None, path_len: int | None
) -> list[x509.Extension[x509.ExtensionType]]:
    ski = _ski(pub)
    exts = [
        _ext(x509.BasicConstraints(ca=True, path_length=path_len), critical=True),
        _ext(_ku(key_cert_sign=True, crl_sign=True, digital_signature=True), critical=True),
        _ext(ski),
    ]
    exts.append(
        _ext(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski or ski))
    )
    return exts


def _identity_ext(oid: str, value: bytes) -> x509.Extension[x509.ExtensionType]:
    return _ext(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value))


def build_dev_pki(now: _dt.datetime, *, rsa_bits: int = 2048) -> DevPki:
    """Generate every key, certificate and CRL of the dev PKI, valid at ``now``."""
    day = _dt.timedelta(days=1)
    regions: dict[str, RegionPki] = {}
    cas: dict[str, tuple[Issued, Issued]] = {}
    serial = iter(range(0x1000, 0x100000))
    for code, alg in REGION_ALGORITHMS.items():
        root_key = _new_key(alg, rsa_bits)
        root_name = _name(f"evalsvc dev root {code}", code)
        root = Issued(
            f"{code}-root",
            issue_certificate(
                subject=root_name,
                issuer=root_name,
                public_key=_public(root_key),
                signing_key=root_key,
                serial=next(serial),
                not_before=now - 730 * day,
                not_after=now + 7300 * day,
                extensions=_ca_exts(_public(root_key), None, None),
            ),
            root_key,
        )
        int_key = _new_key(alg, rsa_bits)
        int_cert = issue_certificate(
            subject=_name(f"evalsvc dev issuing CA {code}", code),
            issuer=root_name,
            public_key=_public(int_key),
            signing_key=root_key,
            serial=next(serial),
            not_before=now - 730 * day,
            not_after=now + 3650 * day,
            extensions=_ca_exts(_public(int_key), _ski(_public(root_key)), 0),
        )
        cas[code] = (root, Issued(f"{code}-intermediate", int_cert, int_key))

    def leaf(
        name: str,
        code: str,
        *,
        holder: str,
        key_alg: str | None = None,
        serial_attr: str | None = None,
        ident: x509.Extension[x509.ExtensionType] | None = None,
        ku: x509.KeyUsage | None = None,
        ekus: Sequence[x509.ObjectIdentifier] = (),
        san: Sequence[x509.GeneralName] = (),
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
    ) -> Issued:
        _root, inter = cas[code]
        key = _new_key(key_alg or REGION_ALGORITHMS[code], rsa_bits)
        inter_ski = _ski(_public(inter.key))
        exts = [
            _ext(x509.BasicConstraints(ca=False, path_length=None), critical=True),
            _ext(ku or _ku(digital_signature=True, content_commitment=True), critical=True),
            _ext(_ski(_public(key))),
            _ext(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(inter_ski)),
        ]
        if ekus:
            exts.append(_ext(x509.ExtendedKeyUsage(list(ekus))))
        if san:
            exts.append(_ext(x509.SubjectAlternativeName(list(san))))
        if ident is not None:
            exts.append(ident)
        cert = issue_certificate(
            subject=_name(holder, code, org=f"evalsvc dev {code}", serial=serial_attr),
            issuer=inter.cert.subject,
            public_key=_public(key),
            signing_key=inter.key,
            serial=next(serial),
            not_before=not_before or now - 30 * day,
            not_after=not_after or now + 730 * day,
            extensions=exts,
        )
        return Issued(name, cert, key)

    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    leaves = [
        # Same person (ZHANG_ID) holding certificates from Shanghai (RSA) and Zhejiang (SM2).
        leaf(
            "expert-zhang-SH",
            "SH",
            holder="张伟",
            ident=_identity_ext(
                "1.2.86.11.7.1", der.encode(der.PRINTABLE_STRING, f"SF{ZHANG_ID}".encode())
            ),
        ),
        leaf(
            "expert-zhang-ZJ",
            "ZJ",
            holder="张伟",
            # GM/T 0015-2012 IdentifyCode: CHOICE { residenterCardNumber [0] PrintableString ... }
            ident=_identity_ext(
                "1.2.156.10260.4.1.1", der.context(0, ZHANG_ID.encode(), constructed=False)
            ),
        ),
        leaf("expert-li-JS", "JS", holder="李娜", serial_attr=f"ID:{LI_ID}", ekus=client),
        leaf(
            "expert-wang-AH",
            "AH",
            holder="王芳",
            ident=_identity_ext(
                "1.2.156.10260.4.1.1.1", der.encode(der.UTF8_STRING, WANG_ID.encode())
            ),
        ),
        leaf(
            "expert-zhao-ZJ-enc",
            "ZJ",
            holder="赵强",
            serial_attr=f"SF{ZHAO_ID}",
            ku=_ku(key_encipherment=True, data_encipherment=True, key_agreement=True),
        ),
        leaf("expert-revoked-SH", "SH", holder="钱军", serial_attr=f"SF{ZHAO_ID}"),
        leaf(
            "expert-expired-JS",
            "JS",
            holder="孙丽",
            serial_attr=f"ID:{LI_ID}",
            not_before=now - 400 * day,
            not_after=now - 35 * day,
        ),
        leaf(
            "venue-SH-server",
            "SH",
            holder="primary.sh.evalsvc.test",
            serial_attr=SH_VENUE_USCC,
            ku=_ku(digital_signature=True, key_encipherment=True),
            ekus=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            san=[x509.DNSName("primary.sh.evalsvc.test"), x509.DNSName("localhost")],
        ),
        leaf(
            "venue-JS-client",
            "JS",
            holder="江苏副场",
            serial_attr=JS_VENUE_USCC,
            ku=_ku(digital_signature=True),
            ekus=client,
        ),
        leaf(
            "venue-ZJ-client",
            "ZJ",
            holder="浙江副场",
            serial_attr=ZJ_VENUE_USCC,
            ku=_ku(digital_signature=True),
            ekus=client,
        ),
    ]
    by_name = {i.name: i for i in leaves}
    revoked_serial = by_name["expert-revoked-SH"].cert.serial_number

    # Cross-certificate (RFC 5280 §3.2): the SH root certifies the JS root's key, so a
    # party trusting only SH reaches JS certificates through it.
    sh_root, _ = cas["SH"]
    js_root, _ = cas["JS"]
    cross = issue_certificate(
        subject=js_root.cert.subject,
        issuer=sh_root.cert.subject,
        public_key=_public(js_root.key),
        signing_key=sh_root.key,
        serial=next(serial),
        not_before=now - 365 * day,
        not_after=now + 1825 * day,
        extensions=_ca_exts(_public(js_root.key), _ski(_public(sh_root.key)), 1),
    )

    for code, (root, inter) in cas.items():
        crls = (
            issue_crl(
                issuer=root.cert,
                signing_key=root.key,
                this_update=now - day,
                next_update=now + 30 * day,
            ),
            issue_crl(
                issuer=inter.cert,
                signing_key=inter.key,
                this_update=now - day,
                next_update=now + 7 * day,
                revoked=[(revoked_serial, now - 2 * day)] if code == "SH" else [],
            ),
        )
        regions[code] = RegionPki(code, root, inter, crls, (cross,) if code == "SH" else ())
    return DevPki(now=now, regions=regions, leaves=by_name)


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM for RSA/ECDSA, SEC 1 ``EC PRIVATE KEY`` PEM for SM2 (unencrypted)."""
    if isinstance(key, Sm2PrivateKey):
        return key.to_pem()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(data: bytes) -> PrivateKey:
    """Inverse of :func:`private_key_pem` (also reads GmSSL/Tongsuo SM2 keys)."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return Sm2PrivateKey.from_pem(data)
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise ValueError(f"unsupported private key type {type(key).__name__}")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_dev_pki(pki: DevPki, out: Path) -> list[Path]:
    """Write region folders, ``leaves/`` and ``private/`` under ``out``; returns the files."""
    written: list[Path] = []

    def put(path: Path, data: bytes) -> None:
        # Unencrypted private keys sit next to certificates: folders 0700, keys 0600.
        private_dir(path.parent)
        if path.suffix == ".key":
            write_private(path, data)
        else:
            path.write_bytes(data)
        written.append(path)

    for code, r in pki.regions.items():
        base = out / code
        put(
            base / "region.toml",
            (
                f'name = "{REGION_NAMES[code]}"\n'
                f'algorithms = ["rsa", "ecdsa", "sm2"]\n'
                "identity_oids = [" + ", ".join(f'"{o}"' for o in DEFAULT_IDENTITY_OIDS) + "]\n"
                "crl_sources = []\n"
            ).encode(),
        )
        put(base / "anchors" / "root.pem", _pem(r.root.cert))
        put(base / "intermediates" / "intermediate.pem", _pem(r.intermediate.cert))
        for i, c in enumerate(r.cross):
            put(base / "intermediates" / f"cross-{i}.pem", _pem(c))
        put(base / "crls" / "root.pem", r.crls[0].public_bytes(serialization.Encoding.PEM))
        put(base / "crls" / "intermediate.pem", r.crls[1].public_bytes(serialization.Encoding.PEM))
        put(out / "private" / f"{code}-root.key", private_key_pem(r.root.key))
        put(out / "private" / f"{code}-intermediate.key", private_key_pem(r.intermediate.key))
    for name, leaf in pki.leaves.items():
        code = next((p for p in name.split("-") if p in pki.regions), "")
        region = pki.regions.get(code)
        put(out / "leaves" / f"{name}.pem", _pem(leaf.cert))
        put(out / "leaves" / f"{name}.key", private_key_pem(leaf.key))
        if region is not None:
            put(out / "leaves" / f"{name}.chain.pem", _pem(region.intermediate.cert))
    put(
        out / "README.txt",
        (
            "evalsvc dev PKI - TEST MATERIAL ONLY, unencrypted keys. Regenerate with\n"
            "  evalsvc certs dev --out certs/dev\n"
            f"Generated for {pki.now.isoformat()}. Region folders load with load_trust().\n"
        ).encode(),
    )
    return written


# The experts' leaves a browser can sign with (certificate sign-in and signing in the page).
BROWSER_EXPERTS = ("expert-zhang-SH", "expert-zhang-ZJ", "expert-li-JS", "expert-wang-AH")


def browser_key_file(pki: DevPki, name: str) -> bytes:
    """One PEM file for the browser's file input: the private key, then the certificate and
    its intermediate (leaf first), as ``evalsvc/web/certkey.js`` reads it."""
    leaf = pki.leaves[name]
    code = next(p for p in name.split("-") if p in pki.regions)
    return (
        private_key_pem(leaf.key) + _pem(leaf.cert) + _pem(pki.regions[code].intermediate.cert)
    )


def write_browser_keys(pki: DevPki, out: Path) -> list[Path]:
    """Write ``<out>/<name>.pem`` (0600) for each of :data:`BROWSER_EXPERTS`; returns them."""
    private_dir(out)
    written = []
    for name in BROWSER_EXPERTS:
        path = out / f"{name}.pem"
        write_private(path, browser_key_file(pki, name))
        written.append(path)
    return written
