"""Events the engine emits. Every event's first field is ``seq``: one gap-free counter across
the whole engine, so a consumer can detect a lost or repeated event."""

import msgspec

from engine.codes import CancelReason, SessionState, Side

_OPTS = {"tag_field": "event", "gc": False}


class Accepted(msgspec.Struct, tag="accepted", **_OPTS):
    """An order was accepted and given ``order_id``; its fills (if any) follow."""

    seq: int
    order_id: int
    member: str
    symbol: str
    side: Side
    price: int
    quantity: int


class Trade(msgspec.Struct, tag="trade", **_OPTS):
    """A fill between a buy and a sell order. ``*_leaves`` are each order's open quantity
    after the fill; ``aggressor`` is the taking side, empty for call-auction fills."""

    seq: int
    trade_id: int
    symbol: str
    price: int
    quantity: int
    buy_order_id: int
    sell_order_id: int
    buyer: str
    seller: str
    buy_leaves: int
    sell_leaves: int
    aggressor: str


class Cancelled(msgspec.Struct, tag="cancelled", **_OPTS):
    """An order left the book with ``quantity`` unfilled, for ``reason``."""

    seq: int
    order_id: int
    member: str
    symbol: str
    quantity: int
    reason: CancelReason


class Amended(msgspec.Struct, tag="amended", **_OPTS):
    """An order now has ``price`` and total ``quantity``, ``leaves`` of it open."""

    seq: int
    order_id: int
    member: str
    symbol: str
    price: int
    quantity: int
    leaves: int
    kept_priority: bool


class MassCancelled(msgspec.Struct, tag="mass_cancelled", **_OPTS):
    """Summary after a mass cancel; the per-order ``Cancelled`` events precede it."""

    seq: int
    member: str
    symbol: str
    count: int


class Rejected(msgspec.Struct, tag="rejected", **_OPTS):
    """The command was refused and changed nothing in the books."""

    seq: int
    code: str
    member: str = ""
    order_id: int = 0
    symbol: str = ""


class InstrumentAdded(msgspec.Struct, tag="instrument_added", **_OPTS):
    seq: int
    symbol: str


class ReferencePriceSet(msgspec.Struct, tag="reference_price_set", **_OPTS):
    seq: int
    symbol: str
    price: int
    lower: int
    upper: int


class SessionChanged(msgspec.Struct, tag="session_changed", **_OPTS):
    """The instrument's session moved ``previous`` -> ``state``; auction fills precede it."""

    seq: int
    symbol: str
    previous: SessionState
    state: SessionState


Event = (
    Accepted | Trade | Cancelled | Amended | MassCancelled | Rejected | InstrumentAdded | ReferencePriceSet
    | SessionChanged
)


def closed_order_ids(events: list[Event]) -> list[int]:
    """Ids of the orders these events took out of the book: cancelled or fully filled."""
    closed = []
    for e in events:
        if type(e) is Cancelled:
            closed.append(e.order_id)
        elif type(e) is Trade:
            if not e.buy_leaves:
                closed.append(e.buy_order_id)
            if not e.sell_leaves:
                closed.append(e.sell_order_id)
    return closed
