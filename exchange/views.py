"""Order views: the engine's events projected into what members ask about — each order's
status, cumulative and open quantity, average price and fills — plus the client-order-id
index that makes a retried order return its first answer. Rebuilt identically by replay.

Prices are integer fen here; rendering them in yuan is the wire's business (``gateway.wire``)."""

import hashlib
from collections import defaultdict, deque

import msgspec

from engine import Accepted, Amended, Cancelled, Event, NewOrder, Rejected, Trade
from exchange.journal import Entry

TERMINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})
ARCHIVED = "ARCHIVED"  # the status of a stub naming an order that left memory (read it from SQL)
HORIZON_ENTRIES = 100_000  # a closed order stays in memory this many journal entries
FILLS_KEPT = 5_000  # each member's newest fills kept in memory (the most GET /v1/fills returns)


class FillRecord(msgspec.Struct, kw_only=True, gc=False):
    """One execution of one order; ``price`` in fen."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: int
    quantity: int
    seq: int


class OrderRecord(msgspec.Struct, kw_only=True, gc=False):
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
    member: str = ""  # whose order it is
    notional: int = 0  # Σ price × quantity of its fills, fen × lots (the average price's numerator)


class OrderViews:
    """The orders members ask about, by id, by member and by (member, client_order_id).

    Memory is bounded: an order that reached a terminal status leaves memory ``horizon``
    journal entries later (it stays in SQL, where the gateway reads it), and each member keeps
    its newest ``fills_kept`` fills. Both are decided from journal entry numbers alone, so a
    replay evicts exactly what the live run evicted. An evicted order's client order id stays
    in ``by_client`` as its bare order id for the rest of the trading day, so a retry still
    finds it (``first_answer`` returns an ``ARCHIVED`` stub the gateway completes from SQL)."""

    def __init__(self, horizon: int = HORIZON_ENTRIES, fills_kept: int = FILLS_KEPT) -> None:
        self.horizon = max(1, horizon)
        self.fills_kept = max(1, fills_kept)
        self.by_id: dict[int, OrderRecord] = {}  # open orders and recently closed ones
        self.by_member: dict[str, dict[int, OrderRecord]] = defaultdict(dict)  # member -> its orders in memory
        self.open: dict[str, dict[int, OrderRecord]] = defaultdict(dict)  # member -> its open orders
        self.by_client: dict[tuple[str, str], OrderRecord | int] = {}  # first answers; int: an evicted order
        self.fills: dict[str, deque[FillRecord]] = {}  # member -> its newest fills, oldest first
        self.fills_trimmed: set[str] = set()  # members some of whose fills left memory
        self.closed: deque[tuple[int, int]] = deque()  # (entry no, order id) as orders closed
        self.evicted = 0  # orders that left memory (for tools and the soak benchmark)
        self.recording = True  # collect rows for the batch write (off while replaying)
        self.touched: dict[int, int] = {}  # order id -> journal entry that last changed it
        self.new_trades: list[tuple] = []  # trade rows for the batch being written
        self._evicted_rows: list[tuple] = []  # rows of orders evicted before their batch was drained

    def new_day(self) -> None:
        """A new trading day: client order ids are unique per member per trading day, so the
        index of first answers starts again (yesterday's ids may be used anew)."""
        self.by_client = {}

    def lookup(self, member: str, order_id: int) -> OrderRecord | None:
        """The member's own order if it is in memory, or None (another member's order looks
        absent; an evicted one is in SQL)."""
        return self.by_member.get(member, {}).get(order_id)

    def open_orders(self, member: str) -> list[OrderRecord]:
        return list(self.open.get(member, {}).values())

    def member_orders(self, member: str) -> list[OrderRecord]:
        """The member's orders still in memory, oldest first."""
        return list(self.by_member.get(member, {}).values())

    def first_answer(self, member: str, client_order_id: str) -> OrderRecord | None:
        """The answer already given today to this member's order id: its record, an
        ``ARCHIVED`` stub naming an evicted order, or None."""
        found = self.by_client.get((member, client_order_id))
        if type(found) is int:
            return archived(found, client_order_id, member)
        return found

    def member_fills(self, member: str, limit: int) -> list[FillRecord] | None:
        """The member's newest ``limit`` fills, or None when some of them left memory."""
        kept = self.fills.get(member, ())
        if len(kept) < limit and member in self.fills_trimmed:
            return None
        return list(kept)[-limit:]

    def apply(self, entry: Entry, events: list[Event], entry_no: int) -> OrderRecord | None:
        """Fold one command's events in; return the view of the order a new order created
        (a REJECTED view, not indexed by id, if the engine refused it)."""
        created = None
        cmd = entry.command
        for e in events:
            kind = type(e)
            if kind is Amended:
                view = self.by_id[e.order_id]
                view.price = e.price
                view.quantity = e.quantity
                view.leaves_qty = e.leaves
                view.seq = e.seq
                if not e.leaves:
                    view.status = "FILLED"
                    self._close(view, entry_no)
                self._touch(e.order_id, entry_no)
            elif kind is Accepted:
                created = self._accept(e, entry, cmd, entry_no)
            elif kind is Trade:
                self._fill(e, e.buy_order_id, "buy", e.buy_leaves, entry_no)
                self._fill(e, e.sell_order_id, "sell", e.sell_leaves, entry_no)
                if self.recording:
                    self.new_trades.append((e.trade_id, e.symbol, e.price, e.quantity, e.buy_order_id,
                                            e.sell_order_id, e.buyer, e.seller, e.aggressor, entry_no, e.seq))
            elif kind is Cancelled:
                view = self.by_id[e.order_id]
                view.status = "EXPIRED" if e.reason == "expired" else "CANCELED"
                view.leaves_qty = 0
                view.seq = e.seq
                self._close(view, entry_no)
                self._touch(e.order_id, entry_no)
            elif kind is Rejected and type(cmd) is NewOrder:
                created = self.reject(entry, e.code, e.seq)
        return created

    def _accept(self, e: Accepted, entry: Entry, cmd: NewOrder, entry_no: int) -> OrderRecord:
        """A new order on the book (or about to fill): its record, in every index."""
        created = OrderRecord(
            order_id=e.order_id, client_order_id=entry.client_order_id, symbol=e.symbol, side=e.side,
            type=cmd.order_type, time_in_force=cmd.tif, price=e.price, quantity=e.quantity,
            leaves_qty=e.quantity, status="NEW", seq=e.seq, member=e.member,
        )
        order_id, member = e.order_id, e.member
        self.by_id[order_id] = created
        self.by_member[member][order_id] = created
        self.open[member][order_id] = created
        self.by_client[(member, entry.client_order_id)] = created
        self._touch(order_id, entry_no)
        return created

    def reject(self, entry: Entry, code: str, seq: int = 0) -> OrderRecord:
        """Record a refused new order: by the engine (``seq`` of its rejection) or before the
        engine saw it (no receipts or cash to back it)."""
        view = refused_order(entry, code, seq)
        self.by_client[(entry.command.member, entry.client_order_id)] = view
        return view

    def _touch(self, order_id: int, entry_no: int) -> None:
        if self.recording:
            self.touched[order_id] = entry_no

    def _close(self, view: OrderRecord, entry_no: int) -> None:
        """The order reached a terminal status: off the open index, due to leave memory."""
        if self.open[view.member].pop(view.order_id, None) is not None:
            self.closed.append((entry_no, view.order_id))

    def _fill(self, trade: Trade, order_id: int, side: str, leaves: int, entry_no: int) -> None:
        view = self.by_id[order_id]
        view.cum_qty += trade.quantity
        view.leaves_qty = leaves
        view.notional = notional = view.notional + trade.price * trade.quantity
        view.avg_price = (2 * notional + view.cum_qty) // (2 * view.cum_qty)  # nearest fen, halves up
        view.status = "PARTIALLY_FILLED" if leaves else "FILLED"
        view.seq = trade.seq
        fill = FillRecord(trade_id=trade.trade_id, order_id=order_id, symbol=trade.symbol, side=side,
                    price=trade.price, quantity=trade.quantity, seq=trade.seq)
        view.fills.append(fill)
        member = view.member
        kept = self.fills.get(member)
        if kept is None:
            kept = self.fills[member] = deque()
        kept.append(fill)
        if len(kept) > self.fills_kept:
            kept.popleft()
            self.fills_trimmed.add(member)
        if not leaves:
            self._close(view, entry_no)
        self._touch(order_id, entry_no)

    def evict(self, entry_no: int) -> None:
        """After journal entry ``entry_no``: orders closed ``horizon`` or more entries before
        it leave memory (their SQL rows stay)."""
        closed, limit = self.closed, entry_no - self.horizon
        while closed and closed[0][0] <= limit:
            order_id = closed.popleft()[1]
            view = self.by_id.pop(order_id)
            member = view.member
            del self.by_member[member][order_id]
            if not self.by_member[member]:
                del self.by_member[member]
                self.open.pop(member, None)
            key = (member, view.client_order_id)
            if self.by_client.get(key) is view:  # today's answer: keep its order id only
                self.by_client[key] = order_id
            if order_id in self.touched:  # changed in the batch not yet written: keep its row
                self._evicted_rows.append(self._row(order_id, view, self.touched.pop(order_id)))
            self.evicted += 1

    @staticmethod
    def _row(order_id: int, v: OrderRecord, entry_no: int) -> tuple:
        return (order_id, v.member, v.client_order_id, v.symbol, v.side, v.type, v.time_in_force, v.price,
                v.quantity, v.cum_qty, v.leaves_qty, v.status, entry_no, v.avg_price, v.seq)

    def drain_rows(self) -> tuple[list[tuple], list[tuple]]:
        """Order rows to upsert and trade rows to insert since the last call."""
        orders, self._evicted_rows = self._evicted_rows, []
        by_id = self.by_id
        orders += [self._row(oid, by_id[oid], entry_no) for oid, entry_no in self.touched.items()]
        trades = self.new_trades
        self.touched = {}
        self.new_trades = []
        return orders, trades

    # -------------------------------------------------------------- invariants (tests and tools)

    def state_hash(self) -> str:
        """Digest of what is in memory: every order record, the client-order-id index (an
        evicted order's id, a refusal's answer), the members' kept fills and the eviction queue.
        O(orders in memory), so for tests and tools (replays compared view by view), not for
        the sequencer's checkpoints."""
        state = msgspec.msgpack.encode([
            [self.by_id[k] for k in sorted(self.by_id)],
            sorted((k, v) for k, v in self.by_client.items()),
            sorted((m, list(f)) for m, f in self.fills.items()), sorted(self.fills_trimmed),
            list(self.closed), self.evicted,
        ])
        return hashlib.blake2b(state, digest_size=8).hexdigest()

    def check(self) -> None:
        """Assert the views' invariants (AssertionError naming the first one broken)."""
        assert all(v.member for v in self.by_id.values()), "an order of no member"
        assert self.touched.keys() <= self.by_id.keys(), "an unknown order is marked changed"
        for order_id, view in self.by_id.items():
            assert view.order_id == order_id, f"order {order_id} is filed under another id"
            self._check_quantities(view)
            self._check_fills(view)
        self._check_indexes()
        for (member, client_order_id), view in self.by_client.items():
            if type(view) is int:
                assert view not in self.by_id, f"{member}/{client_order_id}: order {view} is in memory, not evicted"
                continue
            assert view.client_order_id == client_order_id, f"{member}/{client_order_id}: another client order id"
            if view.order_id is None:
                assert view.status == "REJECTED" and not view.cum_qty and not view.leaves_qty and not view.fills, \
                    f"{member}/{client_order_id}: an order without id that is not a clean rejection"
            else:
                assert self.by_id.get(view.order_id) is view and view.member == member, \
                    f"{member}/{client_order_id}: not the view of order {view.order_id}"
        self._check_member_fills()

    def _check_indexes(self) -> None:
        """The per-member indexes are the scans they replace; the eviction queue lists exactly
        the closed orders in memory, in closing order."""
        scan = defaultdict(dict)
        for order_id, view in self.by_id.items():
            scan[view.member][order_id] = view
        assert {m: d for m, d in self.by_member.items() if d} == scan, "the per-member index is not the scan"
        for member, orders in self.by_member.items():
            assert list(orders) == sorted(orders), f"{member}: orders out of order"
            is_open = {oid: v for oid, v in orders.items() if v.status not in TERMINAL}
            assert self.open.get(member, {}) == is_open, f"{member}: the open index is not the scan"
        assert not {m for m, d in self.open.items() if d} - self.by_member.keys(), "open orders of no member"
        queued = [oid for _, oid in self.closed]
        assert sorted(queued) == sorted(oid for oid, v in self.by_id.items() if v.status in TERMINAL) \
            and len(set(queued)) == len(queued), "the eviction queue is not the closed orders in memory"
        assert [n for n, _ in self.closed] == sorted(n for n, _ in self.closed), "the eviction queue is out of order"

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
        assert view.notional == sum(f.price * f.quantity for f in fills), \
            f"{name}: notional differs from its fills"
        assert (view.avg_price is None) == (not fills), f"{name}: an average price without fills, or none with"

    def _check_member_fills(self) -> None:
        """Each member's kept fills are the newest of its orders' fills: those of orders still
        in memory are in their order's list, and an order in memory lists no fill newer than
        the member's oldest kept one that the member's list lacks."""
        for member, kept in self.fills.items():
            assert len(kept) <= self.fills_kept, f"{member}: more fills kept than {self.fills_kept}"
            assert [f.trade_id for f in kept] == sorted(f.trade_id for f in kept), f"{member}: fills out of order"
            assert len(kept) == self.fills_kept or member not in self.fills_trimmed, f"{member}: trimmed too early"
            ids = {id(f) for f in kept}
            for f in kept:
                view = self.by_id.get(f.order_id)
                assert view is None or (view.member == member and any(g is f for g in view.fills)), \
                    f"{member}: fill {f.trade_id} is not its order's"
            oldest = kept[0].trade_id if kept else 0
            for view in self.by_member.get(member, {}).values():
                assert all(id(f) in ids for f in view.fills if f.trade_id > oldest) or not kept, \
                    f"{member}: a fill of order {view.order_id} is missing from the member's fills"
        assert all(v.fills == [] or v.member in self.fills for v in self.by_id.values()), \
            "an order's fills are filed under no member"


def archived(order_id: int, client_order_id: str, member: str) -> OrderRecord:
    """A stub naming an order that left memory: the gateway reads the order from SQL."""
    return OrderRecord(order_id=order_id, client_order_id=client_order_id, symbol="", side="", type="",
                       time_in_force="", price=None, quantity=0, status=ARCHIVED, member=member)


def refused_order(entry: Entry, code: str, seq: int = 0) -> OrderRecord:
    """The REJECTED view of a new order refused with ``code`` (not recorded anywhere)."""
    cmd = entry.command
    return OrderRecord(order_id=None, client_order_id=entry.client_order_id, symbol=cmd.symbol, side=cmd.side,
                       type=cmd.order_type, time_in_force=cmd.tif,
                       price=cmd.price if cmd.order_type == "limit" else None, quantity=cmd.quantity,
                       status="REJECTED", reject_code=code, seq=seq, member=cmd.member)
