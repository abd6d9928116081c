"""Sell orders on receipt-backed instruments, tied to receipts: one lot is one receipt.

Before the engine sees a sell order (or an amendment that raises one), ``receipts_needed``
picks the receipts that will back it, or refuses; after the engine, ``follow`` walks the
events: an accepted sell locks its receipts, a fill delivers receipts to the buyer, a cancel
or expiry unlocks what is left, an amendment down unlocks the surplus. Deterministic, so a
journal replay moves the same receipts.
"""

from collections.abc import Sequence

from engine import Accepted, Amended, AmendOrder, Cancelled, Engine, Event, NewOrder, Trade
from warehouse_receipts.registry import ReceiptRejected, Registry


def receipts_needed(registry: Registry, engine: Engine, cmd: NewOrder | AmendOrder,
                    chosen: list[str]) -> list[str] | ReceiptRejected | None:
    """Receipts to lock for this command, a rejection, or None when receipts are not involved."""
    if isinstance(cmd, NewOrder):
        if cmd.side != "sell" or cmd.symbol not in registry.specs or cmd.quantity <= 0:
            return None
        return registry.select_for_sale(cmd.member, cmd.symbol, cmd.quantity, chosen)
    order = engine.orders.get(cmd.order_id)
    if order is None or order.member != cmd.member or order.side != "sell" or order.symbol not in registry.specs:
        return None
    more = (cmd.quantity - order.filled) - registry.held_by(order.order_id) if cmd.quantity else 0
    if more <= 0:
        return None
    return registry.select_for_sale(cmd.member, order.symbol, more)


def follow(registry: Registry, events: list[Event], to_lock: Sequence[str], ts_ns: int) -> dict[int, list[str]]:
    """Move receipts as the engine's events say (see the module docstring); return the
    receipts each trade delivered, by trade id. (The pipeline skips the call when no
    instrument is receipt-backed and no receipt is behind an order: then it moves nothing.)"""
    specs = registry.specs
    delivered: dict[int, list[str]] = {}
    for e in events:
        kind = type(e)
        if kind is Trade:
            if e.symbol in specs:
                delivered[e.trade_id] = registry.deliver(e.sell_order_id, e.quantity, e.buyer, ts_ns, e.trade_id)
        elif kind is Accepted:
            if to_lock and e.side == "sell" and e.symbol in specs:
                registry.lock_for_order(e.order_id, to_lock, e.member, ts_ns)
        elif kind is Cancelled:
            if registry.held_by(e.order_id):
                registry.unlock_order(e.order_id, 0, ts_ns)
        elif kind is Amended and e.symbol in specs:
            held = registry.held_by(e.order_id)
            if e.leaves < held:
                registry.unlock_order(e.order_id, e.leaves, ts_ns)
            elif to_lock:
                registry.lock_for_order(e.order_id, to_lock, e.member, ts_ns)
    return delivered
