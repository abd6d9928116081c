"""Prices and amounts on the wire are decimal strings in yuan; inside they are integer fen.

One strict grammar for every money field: ASCII digits, optionally a point and one or two
decimals; no sign, exponent, whitespace, underscores or other scripts' digits; at most 13
digits before the point, so any value fits 64 bits many times over (< 10^15 fen). Times on
the wire are ISO 8601 (``iso``).
"""

import re
from collections.abc import Collection
from datetime import UTC, datetime

MONEY_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"  # as declared in /openapi.json (msgspec searches it)
MONEY_MAX_LENGTH = 16
_MONEY = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,2})?")  # the same, matched whole (``$`` admits a final \n)


class PriceError(ValueError):
    """The text is not a decimal amount in the money grammar."""


def to_fen(text: str) -> int:
    """Parse a yuan decimal string ("15000", "15000.5", "15000.50") into integer fen."""
    if not isinstance(text, str) or _MONEY.fullmatch(text) is None:
        raise PriceError(f"not a decimal amount with at most 13 digits and 2 decimals: {text!r}")
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def to_yuan(fen: int) -> str:
    """Render integer fen as a yuan decimal string with two decimals."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_or_none(fen: int | None) -> str | None:
    """``to_yuan`` of an amount that may be absent: None stays None."""
    return None if fen is None else to_yuan(fen)


def yuan_if_set(fen: int | None) -> str | None:
    """``to_yuan`` of an amount where 0 means not set (yet): 0 and None are None."""
    return to_yuan(fen) if fen else None


def with_yuan(fields: dict, money: Collection[str]) -> dict:
    """``fields`` with the integer values of the keys in ``money`` (fen) as yuan strings."""
    return {k: to_yuan(v) if k in money and isinstance(v, int) else v for k, v in fields.items()}


def signed_fen(text: str) -> int:
    """A signed yuan decimal string ("-50", "12.5") as integer fen (PriceError if malformed)."""
    return -to_fen(text[1:]) if text.startswith("-") else to_fen(text)


def iso(ts_ns: int) -> str:
    """A journal time (UTC nanoseconds) as ISO 8601 with its offset, as every answer shows times."""
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()
