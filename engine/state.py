"""The engine's mutable records: an instrument's configuration and session, and a resting order.

Both are ``msgspec.Struct``s so a snapshot encodes them as they are. ``Order`` is built lean
(no GC header, identity equality) because thousands rest at once.
"""

import msgspec

from engine.codes import Side, Stp, TimeInForce


class Instrument(msgspec.Struct, kw_only=True, gc=False):
    """Trading configuration and session of one instrument; ``lower``/``upper`` are the
    band limits derived from ``ref_price`` and ``band_bps`` (0 and a huge number if unbanded)."""

    symbol: str
    tick: int
    lot_size: int
    ref_price: int
    band_bps: int
    max_limit_qty: int
    max_market_qty: int
    protection_ticks: int
    session: str
    lower: int
    upper: int


MAX_PRICE = 10**12  # fen: no price above ten thousand million yuan a unit, band or no band
MAX_QUANTITY = 10**9  # lots: no order, amendment or instrument limit above this
NO_UPPER = MAX_PRICE


def band_limits(ref_price: int, band_bps: int, tick: int) -> tuple[int, int]:
    """Lowest and highest admissible limit prices, snapped inward to the tick grid."""
    if band_bps <= 0:
        return tick, NO_UPPER
    width = ref_price * band_bps // 10_000
    lower = -(-(ref_price - width) // tick) * tick
    upper = (ref_price + width) // tick * tick
    return max(lower, tick), min(upper, MAX_PRICE)


class Order(msgspec.Struct, array_like=True, gc=False, eq=False):
    """A resting order. Open quantity is ``visible + hidden``; an iceberg (``display`` > 0)
    shows ``visible`` and refills it from ``hidden`` at the back of its level."""

    order_id: int
    member: str
    symbol: str
    side: Side
    price: int
    quantity: int
    filled: int
    visible: int
    hidden: int
    display: int
    tif: TimeInForce
    stp: Stp
    post_only: bool
