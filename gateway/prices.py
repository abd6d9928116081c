"""Prices on the wire are decimal strings in yuan per quote unit; inside they are integer fen."""

from decimal import Decimal, InvalidOperation


class PriceError(ValueError):
    """The text is not a price with at most two decimals."""


def to_fen(text: str) -> int:
    """Parse a yuan decimal string ("15000", "15000.5", "15000.50") into integer fen."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise PriceError(f"not a decimal price: {text!r}") from None
    if not value.is_finite():
        raise PriceError(f"not a finite price: {text!r}")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise PriceError(f"price has more than two decimals: {text!r}")
    return int(fen)


def to_yuan(fen: int) -> str:
    """Render integer fen as a yuan decimal string with two decimals."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"
