"""Everything the sequencer folds a journal entry into: the engine (books), the receipt
registry and the order views. ``apply`` is the one path for live commands and for replay, so
both produce the same state, receipt timestamps included (they come from the journal)."""

import hashlib

import msgspec

from engine import AmendOrder, Engine, Event, NewOrder
from gateway.journal import Entry
from gateway.orders import OrderView, OrderViews
from warehouse_receipts.backing import follow, receipts_needed
from warehouse_receipts.registry import ReceiptEvent, ReceiptRejected, Registry


class Result:
    """What one command did: engine events, the order view a new order created, the receipt
    events or rejection of a registry command. ``duplicate`` marks a retried client order id:
    nothing was applied or journaled."""

    __slots__ = ("events", "view", "receipts", "duplicate")

    def __init__(self, events: list[Event], view: OrderView | None,
                 receipts: list[ReceiptEvent] | ReceiptRejected | None = None, duplicate: bool = False) -> None:
        self.events = events
        self.view = view
        self.receipts = receipts
        self.duplicate = duplicate


_TRADING = (NewOrder, AmendOrder)


class ExchangeState:
    """Engine + registry + order views, advanced one journal entry at a time."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.registry = Registry()
        self.views = OrderViews()

    def apply(self, entry: Entry, entry_no: int, ts_ns: int) -> Result:
        """Apply one journaled command."""
        cmd = entry.command
        if not hasattr(cmd, "ts_ns"):  # an engine command
            to_lock: list[str] = []
            if isinstance(cmd, _TRADING):
                needed = receipts_needed(self.registry, self.engine, cmd, entry.receipt_ids)
                if isinstance(needed, ReceiptRejected):
                    view = self.views.reject(entry, needed.code) if isinstance(cmd, NewOrder) else None
                    return Result([], view, needed)
                to_lock = needed or []
            events = self.engine.apply(cmd)
            follow(self.registry, events, to_lock, ts_ns)
            return Result(events, self.views.apply(entry, events, entry_no))
        return Result([], None, self.registry.apply(cmd))

    def state_hash(self) -> str:
        """Digest of books and receipts: equal on any two states reached by the same journal."""
        registry = self.registry
        receipts = msgspec.msgpack.encode([registry.seq, registry.next_number, sorted(registry.specs.items()),
                                           [registry.receipts[k] for k in sorted(registry.receipts)]])
        return self.engine.state_hash() + hashlib.blake2b(receipts, digest_size=8).hexdigest()
