"""A small DER encoder/decoder (ITU-T X.690 §8, §10) for what ``cryptography`` cannot do.

``cryptography`` parses SM2 certificates and CRLs but cannot build or verify them, so
the SM2 parts (SubjectPublicKeyInfo, SM2 private keys, the ``SEQUENCE {r, s}`` signature
value, TBSCertificate / TBSCertList for the dev PKI) are read and written here. Only
definite-length DER with tags below 31 is supported; that is all X.509 needs. Pure.
"""

from __future__ import annotations

__all__ = [
    "BIT_STRING",
    "BOOLEAN",
    "GENERALIZED_TIME",
    "IA5_STRING",
    "INTEGER",
    "NULL",
    "OCTET_STRING",
    "OID",
    "PRINTABLE_STRING",
    "SEQUENCE",
    "SET",
    "UTC_TIME",
    "UTF8_STRING",
    "DerError",
    "Tlv",
    "bit_string",
    "boolean",
    "context",
    "decode_bit_string",
    "decode_integer",
    "decode_oid",
    "encode",
    "integer",
    "null",
    "octet_string",
    "oid",
    "parse",
    "parse_all",
    "sequence",
    "time",
]

import datetime as _dt
from dataclasses import dataclass

# X.690 §8.1.2: universal tag numbers (with the constructed bit for SEQUENCE/SET).
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


class DerError(ValueError):
    """The bytes are not the DER this module expects."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded element: tag byte, content octets and the full encoding."""

    tag: int
    content: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        """X.690 §8.1.2.5: bit 6 of the identifier octet."""
        return bool(self.tag & 0x20)

    def children(self) -> list[Tlv]:
        """The elements inside a constructed element."""
        return parse_all(self.content)


def _length(n: int) -> bytes:
    # X.690 §10.1: definite form, minimum number of length octets.
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, content: bytes) -> bytes:
    """One TLV with a single-octet tag."""
    return bytes([tag]) + _length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    """``SEQUENCE { items }`` from already-encoded items."""
    return encode(SEQUENCE, b"".join(items))


def context(number: int, content: bytes, *, constructed: bool = True) -> bytes:
    """A context-specific tag ``[number]`` (explicit when ``constructed``)."""
    return encode(0x80 | (0x20 if constructed else 0) | number, content)


def integer(value: int) -> bytes:
    """X.690 §8.3: two's-complement, minimal octets."""
    length = max(1, (value.bit_length() + 8) // 8)
    return encode(INTEGER, value.to_bytes(length, "big", signed=True))


def boolean(value: bool) -> bytes:
    """X.690 §11.1: DER TRUE is 0xFF."""
    return encode(BOOLEAN, b"\xff" if value else b"\x00")


def null() -> bytes:
    """NULL."""
    return encode(NULL, b"")


def octet_string(value: bytes) -> bytes:
    """OCTET STRING."""
    return encode(OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    """BIT STRING with no unused bits (keys and signatures)."""
    return encode(BIT_STRING, b"\x00" + value)


def oid(dotted: str) -> bytes:
    """X.690 §8.19: OBJECT IDENTIFIER from dotted decimal."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2:
        raise DerError(f"OID needs at least two arcs: {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return encode(OID, bytes(out))


def time(value: _dt.datetime) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    value = value.astimezone(_dt.UTC)
    if 1950 <= value.year < 2050:
        return encode(UTC_TIME, value.strftime("%y%m%d%H%M%SZ").encode())
    return encode(GENERALIZED_TIME, value.strftime("%Y%m%d%H%M%SZ").encode())


def _parse_one(data: bytes, pos: int) -> tuple[Tlv, int]:
    start = pos
    if pos + 2 > len(data):
        raise DerError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not supported")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        count = n & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length")
        n = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + n
    if end > len(data):
        raise DerError("element runs past the end")
    return Tlv(tag, data[pos:end], data[start:end]), end


def parse(data: bytes) -> Tlv:
    """Exactly one element filling ``data``."""
    tlv, end = _parse_one(data, 0)
    if end != len(data):
        raise DerError(f"{len(data) - end} trailing bytes after the element")
    return tlv


def parse_all(data: bytes) -> list[Tlv]:
    """All consecutive elements in ``data``."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tlv, pos = _parse_one(data, pos)
        out.append(tlv)
    return out


def decode_integer(tlv: Tlv) -> int:
    """The value of an INTEGER."""
    if tlv.tag != INTEGER or not tlv.content:
        raise DerError("expected INTEGER")
    return int.from_bytes(tlv.content, "big", signed=True)


def decode_bit_string(tlv: Tlv) -> bytes:
    """The octets of a BIT STRING with no unused bits."""
    if tlv.tag != BIT_STRING or not tlv.content or tlv.content[0] != 0:
        raise DerError("expected BIT STRING with no unused bits")
    return tlv.content[1:]


def decode_oid(tlv: Tlv) -> str:
    """Dotted decimal of an OBJECT IDENTIFIER."""
    if tlv.tag != OID or not tlv.content:
        raise DerError("expected OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for b in tlv.content:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - first * 40, *arcs[1:]])
