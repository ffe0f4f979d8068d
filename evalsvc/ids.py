"""Chinese identifiers with check characters. Pure: no I/O.

- Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters from a
  31-symbol alphabet (digits and capitals without I, O, Z, S, V); the 18th is a check
  character computed with weights 3^i mod 31.
- Resident identity number (公民身份号码), GB 11643-1999: 17 digits and an ISO 7064
  MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

__all__ = [
    "USCC_ALPHABET",
    "mask_resident_id",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_resident_id",
    "validate_uscc",
]

import datetime as _dt

# GB 32100-2015 §4: the code character set, in value order 0..30.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
# GB 32100-2015 §5.2: weights W_i = 3^(i-1) mod 31 for the first 17 positions.
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str | None:
    """``None`` when ``code`` is a valid USCC, else the reason (for error messages)."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = sorted({c for c in code if c not in _USCC_VALUE})
    if bad:
        return f"contains characters outside GB 32100 (0-9, A-Y without I O S V Z): {''.join(bad)}"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r} (GB 32100)"
    return None


# GB 11643-1999: weights 2^(17-i) mod 11 and the MOD 11-2 check map.
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_resident_id(number: str) -> str | None:
    """``None`` when ``number`` is a valid 18-character resident ID number, else the reason."""
    if len(number) != 18:
        return f"must be 18 characters, got {len(number)}"
    if not number[:17].isdigit() or not number[:17].isascii():
        return "first 17 characters must be digits"
    if number[17] not in "0123456789X":
        return "last character must be a digit or X"
    try:
        _dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return f"birth date {number[6:14]} is not a date"
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        return f"check digit is {number[17]!r}, expected {expected!r} (GB 11643)"
    return None


def mask_resident_id(number: str) -> str:
    """Show only the region prefix and the last character: ``310104**********1X``-style."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 7) + number[-1]
