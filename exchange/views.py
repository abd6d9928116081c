"""Order views: the engine's events projected into what members ask about — each order's
status, cumulative and open quantity, average price and fills — plus the client-order-id
index that makes a retried order return its first answer. Rebuilt identically by replay.

Prices are integer fen here; rendering them in yuan is the wire's business (``gateway.wire``)."""

import hashlib
from collections import defaultdict

import msgspec

from engine import Accepted, Amended, Cancelled, Event, NewOrder, Rejected, Trade
from exchange.journal import Entry

TERMINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


class FillRecord(msgspec.Struct, kw_only=True):
    """One execution of one order; ``price`` in fen."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: int
    quantity: int
    seq: int


class OrderRecord(msgspec.Struct, kw_only=True):
    """An order as its member sees it (FIX / Binance field names); prices in fen."""

    order_id: int | None
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: int | None
    quantity: int
    cum_qty: int = 0
    leaves_qty: int = 0
    avg_price: int | None = None
    status: str
    reject_code: str | None = None
    fills: list[FillRecord] = msgspec.field(default_factory=list)
    seq: int = 0


class OrderViews:
    """All orders the exchange has seen, by id and by (member, client_order_id)."""

    def __init__(self) -> None:
        self.by_id: dict[int, OrderRecord] = {}
        self.owner: dict[int, str] = {}
        self.by_client: dict[tuple[str, str], OrderRecord] = {}
        self.fills: dict[str, list[FillRecord]] = defaultdict(list)
        self._notional: dict[int, int] = {}
        self.touched: dict[int, int] = {}  # order id -> journal entry that last changed it
        self.new_trades: list[tuple] = []  # trade rows for the batch being written

    def new_day(self) -> None:
        """A new trading day: client order ids are unique per member per trading day, so the
        index of first answers starts again (yesterday's ids may be used anew)."""
        self.by_client = {}

    def lookup(self, member: str, order_id: int) -> OrderRecord | None:
        """The member's own order, or None (another member's order looks absent)."""
        view = self.by_id.get(order_id)
        return view if view is not None and self.owner[order_id] == member else None

    def open_orders(self, member: str) -> list[OrderRecord]:
        return [v for oid, v in self.by_id.items() if self.owner[oid] == member and v.status not in TERMINAL]

    def apply(self, entry: Entry, events: list[Event], entry_no: int) -> OrderRecord | None:
        """Fold one command's events in; return the view of the order a new order created
        (a REJECTED view, not indexed by id, if the engine refused it)."""
        created = None
        cmd = entry.command
        for e in events:
            if type(e) is Trade:
                self._fill(e, e.buy_order_id, "buy", e.buy_leaves, entry_no)
                self._fill(e, e.sell_order_id, "sell", e.sell_leaves, entry_no)
                self.new_trades.append((e.trade_id, e.symbol, e.price, e.quantity, e.buy_order_id, e.sell_order_id,
                                        e.buyer, e.seller, e.aggressor, entry_no))
            elif type(e) is Accepted:
                created = OrderRecord(
                    order_id=e.order_id, client_order_id=entry.client_order_id, symbol=e.symbol, side=e.side,
                    type=cmd.order_type, time_in_force=cmd.tif, price=e.price, quantity=e.quantity,
                    leaves_qty=e.quantity, status="NEW", seq=e.seq,
                )
                self.by_id[e.order_id] = created
                self.owner[e.order_id] = e.member
                self.by_client[(e.member, entry.client_order_id)] = created
                self.touched[e.order_id] = entry_no
            elif type(e) is Cancelled:
                view = self.by_id[e.order_id]
                view.status = "EXPIRED" if e.reason == "expired" else "CANCELED"
                view.leaves_qty = 0
                view.seq = e.seq
                self.touched[e.order_id] = entry_no
            elif type(e) is Amended:
                view = self.by_id[e.order_id]
                view.price = e.price
                view.quantity = e.quantity
                view.leaves_qty = e.leaves
                view.seq = e.seq
                if not e.leaves:
                    view.status = "FILLED"
                self.touched[e.order_id] = entry_no
            elif type(e) is Rejected and type(cmd) is NewOrder:
                created = self.reject(entry, e.code, e.seq)
        return created

    def reject(self, entry: Entry, code: str, seq: int = 0) -> OrderRecord:
        """Record a refused new order: by the engine (``seq`` of its rejection) or before the
        engine saw it (no receipts or cash to back it)."""
        view = refused_order(entry, code, seq)
        self.by_client[(entry.command.member, entry.client_order_id)] = view
        return view

    def _fill(self, trade: Trade, order_id: int, side: str, leaves: int, entry_no: int) -> None:
        view = self.by_id[order_id]
        view.cum_qty += trade.quantity
        view.leaves_qty = leaves
        notional = self._notional.get(order_id, 0) + trade.price * trade.quantity
        self._notional[order_id] = notional
        view.avg_price = (2 * notional + view.cum_qty) // (2 * view.cum_qty)  # nearest fen, halves up
        view.status = "PARTIALLY_FILLED" if leaves else "FILLED"
        view.seq = trade.seq
        fill = FillRecord(trade_id=trade.trade_id, order_id=order_id, symbol=trade.symbol, side=side,
                    price=trade.price, quantity=trade.quantity, seq=trade.seq)
        view.fills.append(fill)
        self.fills[self.owner[order_id]].append(fill)
        self.touched[order_id] = entry_no

    def drain_rows(self) -> tuple[list[tuple], list[tuple]]:
        """Order rows to upsert and trade rows to insert since the last call."""
        orders = []
        for oid, entry_no in self.touched.items():
            v = self.by_id[oid]
            orders.append((oid, self.owner[oid], v.client_order_id, v.symbol, v.side, v.type, v.time_in_force,
                           v.price, v.quantity, v.cum_qty, v.leaves_qty, v.status, entry_no))
        trades = self.new_trades
        self.touched = {}
        self.new_trades = []
        return orders, trades

    # -------------------------------------------------------------- invariants (tests and tools)

    def state_hash(self) -> str:
        """Digest of every accepted order's record: O(orders ever seen), so for tests and tools
        (replays compared view by view), not for the sequencer's checkpoints. A refused order's
        kept answer is not covered."""
        state = msgspec.msgpack.encode([self.by_id[k] for k in sorted(self.by_id)])
        return hashlib.blake2b(state, digest_size=8).hexdigest()

    def check(self) -> None:
        """Assert the views' invariants (AssertionError naming the first one broken)."""
        assert self.owner.keys() == self.by_id.keys(), "orders and owners differ"
        assert self.touched.keys() <= self.by_id.keys(), "an unknown order is marked changed"
        for order_id, view in self.by_id.items():
            assert view.order_id == order_id, f"order {order_id} is filed under another id"
            self._check_quantities(view)
            self._check_fills(view)
        for (member, client_order_id), view in self.by_client.items():
            assert view.client_order_id == client_order_id, f"{member}/{client_order_id}: another client order id"
            if view.order_id is None:
                assert view.status == "REJECTED" and not view.cum_qty and not view.leaves_qty and not view.fills, \
                    f"{member}/{client_order_id}: an order without id that is not a clean rejection"
            else:
                assert self.by_id.get(view.order_id) is view and self.owner[view.order_id] == member, \
                    f"{member}/{client_order_id}: not the view of order {view.order_id}"
        self._check_member_fills()

    @staticmethod
    def _check_quantities(view: OrderRecord) -> None:
        name, cum, leaves = f"order {view.order_id}", view.cum_qty, view.leaves_qty
        assert cum >= 0 and leaves >= 0 and cum + leaves <= view.quantity, \
            f"{name}: {cum} filled + {leaves} open exceed {view.quantity}"
        status = view.status
        if status == "NEW":
            assert not cum and leaves == view.quantity, f"{name}: NEW but {cum} filled, {leaves} open"
        elif status == "PARTIALLY_FILLED":
            assert cum and leaves, f"{name}: PARTIALLY_FILLED but {cum} filled, {leaves} open"
        elif status == "FILLED":
            assert cum == view.quantity and not leaves, f"{name}: FILLED but {cum} of {view.quantity} filled"
        else:
            assert status in ("CANCELED", "EXPIRED") and not leaves, f"{name}: {status} with {leaves} open"

    def _check_fills(self, view: OrderRecord) -> None:
        name, fills = f"order {view.order_id}", view.fills
        assert sum(f.quantity for f in fills) == view.cum_qty, f"{name}: fills do not add up to {view.cum_qty}"
        assert all((f.order_id, f.symbol, f.side) == (view.order_id, view.symbol, view.side) for f in fills), \
            f"{name}: another order's fill"
        assert self._notional.get(view.order_id, 0) == sum(f.price * f.quantity for f in fills), \
            f"{name}: notional differs from its fills"
        assert (view.avg_price is None) == (not fills), f"{name}: an average price without fills, or none with"

    def _check_member_fills(self) -> None:
        by_member = {id(f) for fills in self.fills.values() for f in fills}
        by_order = {id(f) for v in self.by_id.values() for f in v.fills}
        assert by_member == by_order and sum(map(len, self.fills.values())) == len(by_order), \
            "members' fills are not their orders' fills"
        assert all(self.owner[f.order_id] == member for member, fills in self.fills.items() for f in fills), \
            "a fill is filed under another member"


def refused_order(entry: Entry, code: str, seq: int = 0) -> OrderRecord:
    """The REJECTED view of a new order refused with ``code`` (not recorded anywhere)."""
    cmd = entry.command
    return OrderRecord(order_id=None, client_order_id=entry.client_order_id, symbol=cmd.symbol, side=cmd.side,
                       type=cmd.order_type, time_in_force=cmd.tif,
                       price=cmd.price if cmd.order_type == "limit" else None, quantity=cmd.quantity,
                       status="REJECTED", reject_code=code, seq=seq)
