"""Canonical identity of a certificate holder: resident ID number or USCC, never the DN.

Chinese CAs put the holder's number in different places; a region lists where to look,
in priority order (``identity_oids`` in ``region.toml``):

- ``1.2.156.10260.4.1.1.*`` — sub-arcs of the GM/T 0015 identity-code arc (the 2023
  revision's finer-grained identifiers);
- ``1.2.156.10260.4.1.1`` — GM/T 0015-2012 §7.3 ``IdentifyCode``, a CHOICE whose
  ``residenterCardNumber [0] PrintableString`` carries the resident ID number;
- ``1.2.86.11.7.*`` — the RSA-era extensions several provincial CAs still issue, a string
  with the ID number or the organisation code;
- any CA-specific OID;
- ``subject.serialNumber`` — X.520 ``serialNumber`` (2.5.4.5) in the subject, often with a
  prefix such as ``SF`` (身份证), ``ID:`` or ``USCC:``.

The value's ASN.1 wrapper differs between CAs, so the first character string found inside
the extension is taken. The number is accepted only if it passes its check character:
GB 11643-1999 for people (15-digit first-generation numbers are upgraded to 18 digits,
GB 11643-1999 §8) and GB 32100-2015 for organisations (e.g. ``91…`` for companies). Pure.
"""

from __future__ import annotations

__all__ = [
    "Identity",
    "IdentityKind",
    "extract_identity",
    "normalise_identifier",
]

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.x509.oid import NameOID

from evalsvc.ids import resident_id_check_char, validate_resident_id, validate_uscc
from evalsvc.pki import der


class IdentityKind(StrEnum):
    """Whom a certificate identifies."""

    PERSON = "person"  # resident ID number (公民身份号码)
    ORGANISATION = "organisation"  # unified social credit code (统一社会信用代码)


@dataclass(frozen=True, slots=True)
class Identity:
    """One canonical identity; equal for the same person across regions and CAs."""

    kind: IdentityKind
    number: str
    source: str  # the OID (or ``subject.serialNumber``) it was read from

    @property
    def key(self) -> str:
        """Stable lookup key for the expert pool, e.g. ``person:31010419900101123X``."""
        return f"{self.kind.value}:{self.number}"

    def __eq__(self, other: object) -> bool:
        # The same holder whichever extension the number came from.
        return isinstance(other, Identity) and (self.kind, self.number) == (
            other.kind,
            other.number,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.number))


# Prefixes seen in subject serialNumber and extension values; longest first.
# Prefixes seen in subject serialNumber and extension values, with the kind they announce:
# a prefixed number is only accepted as that kind (an 18-digit string with a bad resident
# ID check character can pass the USCC check by chance, 1 in 31).
_PREFIXES: dict[str, IdentityKind] = {
    "IDCARD": IdentityKind.PERSON,
    "SFZ": IdentityKind.PERSON,
    "SF": IdentityKind.PERSON,
    "ID": IdentityKind.PERSON,
    "身份证号码": IdentityKind.PERSON,
    "身份证": IdentityKind.PERSON,
    "USCC": IdentityKind.ORGANISATION,
    "TYSHXYDM": IdentityKind.ORGANISATION,
    "统一社会信用代码": IdentityKind.ORGANISATION,
}
_GMT_PERSON_ARC = "1.2.156.10260.4.1.1."
_SEPARATORS = re.compile(r"^[\s:：=#_-]+")
_STRING_TAGS = {0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1E, der.OCTET_STRING}


def _upgrade_15(number: str) -> str:
    # GB 11643-1999 §8 / GB 11643-1989: insert the century "19" and append the check char.
    first17 = number[:6] + "19" + number[6:]
    return first17 + resident_id_check_char(first17)


def normalise_identifier(
    value: str, *, kind: IdentityKind | None = None
) -> tuple[IdentityKind, str] | None:
    """``(kind, number)`` for a resident ID or USCC, prefixes stripped; ``None`` if neither.

    ``kind`` (or a prefix such as ``SF`` / ``USCC:``) restricts what is accepted.
    """
    text = value.strip().upper()
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        if text.startswith(prefix):
            rest = _SEPARATORS.sub("", text[len(prefix) :])
            if rest:
                text = rest
                kind = kind or _PREFIXES[prefix]
            break
    text = re.sub(r"\s", "", text)
    if kind is not IdentityKind.ORGANISATION:
        if len(text) == 15 and text.isdigit() and text.isascii():
            text = _upgrade_15(text)
        if validate_resident_id(text) is None:
            return IdentityKind.PERSON, text
    if kind is not IdentityKind.PERSON and validate_uscc(text) is None:
        return IdentityKind.ORGANISATION, text
    return None


def _strings(data: bytes, depth: int = 0) -> list[str]:
    """Character strings inside a DER value, in encoding order."""
    out: list[str] = []
    try:
        items = der.parse_all(data)
    except der.DerError:
        return out
    for item in items:
        if item.constructed and depth < 4:
            out.extend(_strings(item.content, depth + 1))
        elif item.tag in _STRING_TAGS or 0x80 <= item.tag <= 0x9E:
            codec = "utf-16-be" if item.tag == 0x1E else "utf-8"
            try:
                out.append(item.content.decode(codec))
            except UnicodeDecodeError:
                continue
    return out


def _extension_values(cert: x509.Certificate, pattern: str) -> list[tuple[str, bytes]]:
    values: list[tuple[str, bytes]] = []
    prefix = pattern[:-1] if pattern.endswith(".*") else None
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if (dotted.startswith(prefix) if prefix else dotted == pattern) and isinstance(
            ext.value, x509.UnrecognizedExtension
        ):
            values.append((dotted, ext.value.value))
    return values


def extract_identity(cert: x509.Certificate, oids: Sequence[str]) -> Identity | None:
    """The holder's identity from the first of ``oids`` that yields a valid number."""
    for pattern in oids:
        if pattern == "subject.serialNumber":
            for attr in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
                found = normalise_identifier(str(attr.value))
                if found:
                    return Identity(found[0], found[1], pattern)
            continue
        for dotted, raw in _extension_values(cert, pattern):
            candidates = _strings(raw)
            if not candidates:
                # Some CAs store the bare text as the extension value, without DER.
                try:
                    candidates = [raw.decode("ascii")]
                except UnicodeDecodeError:
                    continue
            # GM/T 0015-2012 §7.3: the 1.2.156.10260.4.1.1 arc is the *personal* identity
            # code (organisation codes have their own arcs, .4.1.3 to .4.1.5).
            hint = IdentityKind.PERSON if (dotted + ".").startswith(_GMT_PERSON_ARC) else None
            for text in candidates:
                found = normalise_identifier(text, kind=hint)
                if found:
                    return Identity(found[0], found[1], dotted)
    return None
