"""The one strict JSON reader for untrusted input (HTTP bodies, WebSocket frames). Pure.

RFC 8259 JSON, restricted the way I-JSON (RFC 7493) restricts it, so that whatever it
returns can be stored, hashed (RFC 8785) and sent back without a later step failing:

- UTF-8 only, and no unpaired surrogate (``"\\ud800"``) in any key or string
  (RFC 7493 §2.1; such a string cannot be encoded as UTF-8 later);
- no duplicate keys in an object (RFC 7493 §2.3);
- no ``NaN``, ``Infinity``, ``-Infinity`` (not JSON at all, RFC 8259 §6);
- integers within ±(2**53 − 1) (RFC 7493 §2.2), checked on the digits *before* any
  ``int()`` conversion, so a 5,000-digit number costs nothing;
- numbers with a fraction or an exponent become :class:`~decimal.Decimal` read from
  their text (``30.5`` is exactly 30.5), with at most :data:`MAX_NUMBER_DIGITS`
  significant digits and an exponent within ±:data:`MAX_EXPONENT`;
- arrays and objects nested at most :data:`MAX_DEPTH` deep.

The total size is bounded by the caller (``client_max_size`` over HTTP,
``MAX_MESSAGE_BYTES`` over the WebSocket). Every refusal is a
:class:`~evalsvc.errors.MalformedBody` whose message says what was wrong and, where it
can, whose ``field`` is the path of the offending value (``bids/B1/T1``).
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_INTEGER",
    "MAX_NUMBER_DIGITS",
    "loads",
    "loads_bytes",
]

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from evalsvc.errors import MalformedBody

# Our documents nest 4-6 levels (a sheet: {bids: {B1: {T1: …}}}); 32 leaves room for
# free-form maps while keeping the recursive parser and every later walk shallow.
MAX_DEPTH = 32
# RFC 7493 §2.2: integers an IEEE 754 double holds exactly (and RFC 8785 accepts).
MAX_INTEGER = 2**53 - 1
_MAX_INT_DIGITS = len(str(MAX_INTEGER))  # 16
# Decimals: points and money need a handful of digits; these bounds keep
# format(value, "f") short whatever the exponent a client writes.
MAX_NUMBER_DIGITS = 34  # decimal128's precision
MAX_EXPONENT = 40

# In text that went through a strict UTF-8 decoder (an HTTP body, a WebSocket text
# frame, RFC 6455 §8.1), which refuses encoded surrogates, a lone surrogate can only
# come from a \uD800-\uDFFF escape: without one the slow check is skipped.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refusal(MalformedBody):
    """A value refused inside the scanner, where its path is unknown; :func:`loads`
    finds it (:func:`_locate`) and raises a MalformedBody naming it."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class _Refused:
    """Stands in for a refused value in the lenient re-read of :func:`_locate`."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                shown = k if _printable(k) else k.encode("utf-8", "backslashreplace").decode()
                raise _Refusal(f"duplicate key {shown!r} in JSON object", key=k)
            seen.add(k)
    return out


def _no_constant(name: str) -> Any:
    raise _Refusal(f"{name} is not allowed in JSON (RFC 8259 §6): send a number")


def _integer(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > _MAX_INT_DIGITS:
        raise _Refusal(
            f"integer with {digits} digits is out of range: at most ±{MAX_INTEGER} "
            "(RFC 7493 §2.2)"
        )
    value = int(text)
    if not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise _Refusal(f"integer {text} is out of range: at most ±{MAX_INTEGER}")
    return value


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_DIGITS + 12:  # sign, point, exponent: never that long
        raise _Refusal(f"number of {len(text)} characters is too long")
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the scanner only passes numbers
        raise _Refusal(f"{text!r} is not a number") from None
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: the scanner passes no NaN here
    if len(digits) > MAX_NUMBER_DIGITS:
        raise _Refusal(f"number {text} has more than {MAX_NUMBER_DIGITS} significant digits")
    if not -MAX_EXPONENT <= exponent <= MAX_EXPONENT or abs(value.adjusted()) > MAX_EXPONENT:
        raise _Refusal(f"number {text} is out of range (exponent beyond ±{MAX_EXPONENT})")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_float=_decimal,
    parse_int=_integer,
    parse_constant=_no_constant,
)


def _or_refused(strict: Any) -> Any:
    def lenient(arg: Any) -> Any:
        try:
            return strict(arg)
        except _Refusal as exc:
            # A duplicate key: keep only it, marked, so the walk names object/key.
            return {exc.key: _Refused()} if exc.key is not None else _Refused()

    return lenient


_LOCATOR = json.JSONDecoder(
    object_pairs_hook=_or_refused(_no_duplicates),
    parse_float=_or_refused(_decimal),
    parse_int=_or_refused(_integer),
    parse_constant=_or_refused(_no_constant),
)


def _locate(text: str) -> str | None:
    """The path of the first value the strict reader refuses (None: at the top, or not
    found) — read again leniently, only when a refusal has happened."""
    try:
        doc = _LOCATOR.decode(text)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Any, list[str]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Refused):
            return _field(path)
        if isinstance(value, dict):
            items = [(v, [*path, k]) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(v, [*path, str(i)]) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))  # document order
    return None


def _printable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path(parts: list[str]) -> str:
    return "/".join(parts) if parts else "(top level)"


def _field(parts: list[str]) -> str | None:
    return "/".join(parts) if parts else None


def _check(doc: Any, max_depth: int) -> None:
    """Depth and surrogates, walked without recursion (the depth is not known yet)."""
    stack: list[tuple[Any, int, list[str]]] = [(doc, 1, [])]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if not _printable(value):
                raise MalformedBody(
                    f"{_path(path)}: the string contains an unpaired UTF-16 surrogate "
                    "(a \\ud800-\\udfff escape without its pair); send valid Unicode",
                    field=_field(path),
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise MalformedBody(
                f"{_path(path)}: JSON nested deeper than {max_depth} levels", field=_field(path)
            )
        if isinstance(value, dict):
            for k, v in value.items():
                if not _printable(k):
                    raise MalformedBody(
                        f"{_path(path)}: a key contains an unpaired UTF-16 surrogate "
                        "(a \\ud800-\\udfff escape without its pair); send valid Unicode",
                        field=_field(path),
                    )
                stack.append((v, depth + 1, [*path, k]))
        else:
            stack.extend((v, depth + 1, [*path, str(i)]) for i, v in enumerate(value))


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` under the rules of this module; :class:`MalformedBody` otherwise.

    ``text`` may come from anywhere: a surrogate in it, escaped or not, is refused."""
    return _loads(text, max_depth, text.isascii() or _printable(text))


def _loads(text: str, max_depth: int, utf8: bool) -> Any:
    """``utf8``: ``text`` holds no surrogate code point (it was decoded from UTF-8)."""
    try:
        doc = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        # The C scanner gives up around sys.getrecursionlimit() levels; far past ours.
        raise MalformedBody(f"JSON nested deeper than {max_depth} levels") from None
    except _Refusal as exc:
        where = _locate(text)
        if where is None:
            raise MalformedBody(exc.message) from None
        shown = where if _printable(where) else where.encode("utf-8", "backslashreplace").decode()
        raise MalformedBody(f"{shown}: {exc.message}", field=shown) from None
    # Cheap upper bounds first: a document with fewer brackets than the depth limit
    # cannot be too deep, and one decoded from UTF-8 without a surrogate escape has no
    # lone surrogate.
    if (
        not utf8
        or text.count("[") + text.count("{") > max_depth
        or _SURROGATE_ESCAPE.search(text)
    ):
        _check(doc, max_depth)
    return doc


def loads_bytes(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """:func:`loads` of UTF-8 bytes (RFC 8259 §8.1); invalid UTF-8 is refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not valid UTF-8 (byte {exc.start})") from None
    return _loads(text, max_depth, True)
