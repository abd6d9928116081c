"""Commands the engine accepts. Each is a tagged ``msgspec.Struct`` so the journal stores
exactly what ``Engine.apply`` saw, and a replay decodes the same objects back."""

import msgspec

from engine.codes import CANCEL_NEWEST, GTC, LIMIT, OrderType, SessionState, Side, Stp, TimeInForce

_OPTS = {"tag_field": "cmd", "gc": False, "omit_defaults": True, "forbid_unknown_fields": True}


class AddInstrument(msgspec.Struct, tag="add_instrument", kw_only=True, **_OPTS):
    """List an instrument. Prices are fen per quote unit; ``tick`` is the price grid step.

    ``band_bps`` is the daily price band around ``ref_price`` in basis points (0 = no band).
    ``protection_ticks`` caps how far a market order may sweep past the best opposite price.
    """

    symbol: str
    tick: int
    lot_size: int
    ref_price: int
    band_bps: int = 0
    max_limit_qty: int = 1_000
    max_market_qty: int = 200
    protection_ticks: int = 10


class SetReferencePrice(msgspec.Struct, tag="set_reference_price", **_OPTS):
    """Move the reference (last settlement) price the band is measured from; ``band_bps``
    (when not -1) also sets the band's width (a forward's band widens after a locked day)."""

    symbol: str
    price: int
    band_bps: int = -1


class SetSession(msgspec.Struct, tag="set_session", **_OPTS):
    """Change an instrument's session; pre_open -> continuous runs the call auction, and
    entering closed expires DAY orders."""

    symbol: str
    state: SessionState


class NewOrder(msgspec.Struct, tag="new_order", kw_only=True, **_OPTS):
    """Enter an order. ``price`` is ignored for market orders; ``display_quantity`` > 0 makes an
    iceberg; ``min_quantity`` is the least that must trade on entry or nothing happens."""

    member: str
    symbol: str
    side: Side
    quantity: int
    price: int = 0
    order_type: OrderType = LIMIT
    tif: TimeInForce = GTC
    post_only: bool = False
    display_quantity: int = 0
    min_quantity: int = 0
    stp: Stp = CANCEL_NEWEST


class CancelOrder(msgspec.Struct, tag="cancel_order", **_OPTS):
    """Cancel one of the member's own open orders."""

    member: str
    order_id: int


class AmendOrder(msgspec.Struct, tag="amend_order", kw_only=True, **_OPTS):
    """Change price and/or total quantity (0 = unchanged). ``quantity`` is the new total
    order quantity including what has already filled, as FIX OrderQty on a replace."""

    member: str
    order_id: int
    price: int = 0
    quantity: int = 0


class MassCancel(msgspec.Struct, tag="mass_cancel", kw_only=True, **_OPTS):
    """Cancel all of a member's open orders, on one instrument or (``symbol`` empty) all."""

    member: str
    symbol: str = ""


Command = AddInstrument | SetReferencePrice | SetSession | NewOrder | CancelOrder | AmendOrder | MassCancel
