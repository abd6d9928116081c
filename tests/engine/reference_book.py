"""A naive, obviously-correct model of the engine for differential testing.

Orders live in one flat list; every question ("best ask?", "queue order?") is a linear scan
or a sort by (price, arrival). Priority is an arrival counter: a new order or a
priority-losing amend or an iceberg refill takes the next value. Fill-or-kill and minimum
quantity checks are answered by running the match on a deep copy. It shares only the
vocabulary (commands, events, the snapshot format) with ``engine/``, never its logic.
"""

import copy
from dataclasses import dataclass

from engine.codes import Reject
from engine.commands import AddInstrument, AmendOrder, CancelOrder, MassCancel, NewOrder, SetReferencePrice, SetSession
from engine.events import (
    Accepted,
    Amended,
    Cancelled,
    InstrumentAdded,
    MassCancelled,
    ReferencePriceSet,
    Rejected,
    SessionChanged,
    Trade,
)
from engine.snapshot import Snapshot, encode_snapshot, state_hash_of
from engine.state import MAX_PRICE, Instrument, Order

ALLOWED_FROM = {
    "pre_open": {"closed", "halted"},
    "continuous": {"closed", "pre_open", "halted"},
    "halted": {"pre_open", "continuous"},
    "closed": {"pre_open", "continuous", "halted"},
}


@dataclass
class RefOrder:
    order_id: int
    member: str
    symbol: str
    side: str
    price: int
    quantity: int
    filled: int
    visible: int
    hidden: int
    display: int
    tif: str
    stp: str
    post_only: bool
    arrival: int


class ReferenceBook:
    """Same commands in, same events out as ``engine.Engine``; slow and simple."""

    def __init__(self) -> None:
        self.seq = 0
        self.next_order_id = 1
        self.next_trade_id = 1
        self.arrivals = 0
        self.instruments: dict[str, dict] = {}
        self.orders: list[RefOrder] = []
        self.events: list = []

    # -------------------------------------------------------------- helpers
    def emit(self, cls, *fields):
        self.seq += 1
        self.events.append(cls(self.seq, *fields))

    def reject(self, code, member="", order_id=0, symbol=""):
        self.emit(Rejected, code, member, order_id, symbol)

    def arrive(self) -> int:
        self.arrivals += 1
        return self.arrivals

    def queue(self, symbol: str, side: str) -> list[RefOrder]:
        """Resting orders of one side, best first, oldest first within a price."""
        mine = [o for o in self.orders if o.symbol == symbol and o.side == side]
        if side == "buy":
            return sorted(mine, key=lambda o: (-o.price, o.arrival))
        return sorted(mine, key=lambda o: (o.price, o.arrival))

    def band(self, inst: dict) -> tuple[int, int]:
        if inst["band_bps"] == 0:
            return inst["tick"], MAX_PRICE  # no price above the engine's declared bound, band or no band
        ref, tick = inst["ref_price"], inst["tick"]
        width = ref * inst["band_bps"] // 10_000
        lo = ref - width
        lower = lo // tick * tick
        if lower < lo:
            lower += tick
        upper = (ref + width) // tick * tick
        return max(lower, tick), min(upper, MAX_PRICE)

    @staticmethod
    def crosses(side: str, limit: int, price: int) -> bool:
        return price <= limit if side == "buy" else price >= limit

    # -------------------------------------------------------------- matching
    def match(self, symbol, oid, member, side, limit, rem, stp) -> int:
        opposite = "sell" if side == "buy" else "buy"
        while rem > 0:
            queue = [o for o in self.queue(symbol, opposite) if self.crosses(side, limit, o.price)]
            if not queue:
                break
            maker = queue[0]
            if maker.member == member:
                if stp in ("cancel_oldest", "cancel_both"):
                    self.orders.remove(maker)
                    self.emit(Cancelled, maker.order_id, member, symbol, maker.visible + maker.hidden, "stp")
                    if stp == "cancel_oldest":
                        continue
                self.emit(Cancelled, oid, member, symbol, rem, "stp")
                return 0
            fill = min(rem, maker.visible)
            rem -= fill
            maker.visible -= fill
            maker.filled += fill
            maker_leaves = maker.visible + maker.hidden
            if side == "buy":
                self.emit(Trade, self.next_trade_id, symbol, maker.price, fill, oid, maker.order_id, member,
                          maker.member, rem, maker_leaves, "buy")
            else:
                self.emit(Trade, self.next_trade_id, symbol, maker.price, fill, maker.order_id, oid, maker.member,
                          member, maker_leaves, rem, "sell")
            self.next_trade_id += 1
            self.after_fill(maker)
        return rem

    def after_fill(self, order: RefOrder) -> None:
        if order.visible == 0:
            if order.hidden:
                order.visible = min(order.display, order.hidden)
                order.hidden -= order.visible
                order.arrival = self.arrive()
            else:
                self.orders.remove(order)

    def would_fill(self, symbol, member, side, limit, qty, stp) -> int:
        """Run the match on a copy of the opposite side and report how much traded."""
        opposite = "sell" if side == "buy" else "buy"
        trial = ReferenceBook()
        trial.arrivals = self.arrivals
        trial.orders = [copy.copy(o) for o in self.orders if o.symbol == symbol and o.side == opposite]
        trial.match(symbol, -1, member, side, limit, qty, stp)
        return sum(e.quantity for e in trial.events if isinstance(e, Trade))

    def best_price(self, symbol, side):
        queue = self.queue(symbol, side)
        return queue[0].price if queue else None

    # -------------------------------------------------------------- commands
    def apply(self, cmd) -> list:
        handler = {
            AddInstrument: self.add_instrument,
            SetReferencePrice: self.set_reference,
            SetSession: self.set_session,
            NewOrder: self.new_order,
            CancelOrder: self.cancel,
            AmendOrder: self.amend,
            MassCancel: self.mass_cancel,
        }.get(type(cmd))
        if handler is None:
            raise TypeError(f"not an engine command: {type(cmd).__name__}")
        self.events = []
        handler(cmd)
        return self.events

    def add_instrument(self, c: AddInstrument):
        if c.symbol in self.instruments:
            return self.reject(Reject.DUPLICATE_INSTRUMENT, "", 0, c.symbol)
        bad = (
            not c.symbol or c.tick <= 0 or c.lot_size <= 0 or c.ref_price <= 0 or c.ref_price % c.tick != 0
            or c.band_bps < 0 or c.max_limit_qty <= 0 or c.max_market_qty <= 0 or c.protection_ticks < 0
        )
        if bad:
            return self.reject(Reject.INVALID_INSTRUMENT, "", 0, c.symbol)
        self.instruments[c.symbol] = {
            "symbol": c.symbol, "tick": c.tick, "lot_size": c.lot_size, "ref_price": c.ref_price,
            "band_bps": c.band_bps, "max_limit_qty": c.max_limit_qty, "max_market_qty": c.max_market_qty,
            "protection_ticks": c.protection_ticks, "session": "closed",
        }
        self.emit(InstrumentAdded, c.symbol)

    def set_reference(self, c: SetReferencePrice):
        inst = self.instruments.get(c.symbol)
        if inst is None:
            return self.reject(Reject.UNKNOWN_INSTRUMENT, "", 0, c.symbol)
        if c.price <= 0:
            return self.reject(Reject.INVALID_PRICE, "", 0, c.symbol)
        if c.price % inst["tick"]:
            return self.reject(Reject.BAD_TICK, "", 0, c.symbol)
        inst["ref_price"] = c.price
        lower, upper = self.band(inst)
        self.emit(ReferencePriceSet, c.symbol, c.price, lower, upper)

    def set_session(self, c: SetSession):
        inst = self.instruments.get(c.symbol)
        if inst is None:
            return self.reject(Reject.UNKNOWN_INSTRUMENT, "", 0, c.symbol)
        previous = inst["session"]
        if previous not in ALLOWED_FROM.get(c.state, set()):
            return self.reject(Reject.INVALID_SESSION_TRANSITION, "", 0, c.symbol)
        if c.state == "continuous":
            self.auction(inst)
        elif c.state == "closed":
            for o in sorted(self.orders, key=lambda o: o.order_id):
                if o.symbol == c.symbol and o.tif == "DAY":
                    self.orders.remove(o)
                    self.emit(Cancelled, o.order_id, o.member, o.symbol, o.visible + o.hidden, "expired")
        inst["session"] = c.state
        self.emit(SessionChanged, c.symbol, previous, c.state)

    def auction(self, inst: dict):
        symbol = inst["symbol"]
        bids, asks = self.queue(symbol, "buy"), self.queue(symbol, "sell")
        if not bids or not asks or bids[0].price < asks[0].price:
            return
        best_key, best_price = None, None
        for p in sorted({o.price for o in bids + asks}):
            demand = sum(o.visible + o.hidden for o in bids if o.price >= p)
            supply = sum(o.visible + o.hidden for o in asks if o.price <= p)
            volume = min(demand, supply)
            if volume == 0:
                continue
            key = (-volume, abs(demand - supply), abs(p - inst["ref_price"]), p)
            if best_key is None or key < best_key:
                best_key, best_price = key, p
        volume = -best_key[0]
        while volume:
            buy, sell = self.queue(symbol, "buy")[0], self.queue(symbol, "sell")[0]
            fill = min(buy.visible, sell.visible, volume)
            volume -= fill
            for o in (buy, sell):
                o.visible -= fill
                o.filled += fill
            # the bid's refill is queued before the ask's, as in the engine
            self.after_fill(buy)
            self.after_fill(sell)
            self.emit(Trade, self.next_trade_id, symbol, best_price, fill, buy.order_id, sell.order_id, buy.member,
                      sell.member, buy.visible + buy.hidden, sell.visible + sell.hidden, "")
            self.next_trade_id += 1

    def new_order(self, c: NewOrder):
        inst = self.instruments.get(c.symbol)
        m, s = c.member, c.symbol
        if inst is None:
            return self.reject(Reject.UNKNOWN_INSTRUMENT, m, 0, s)
        session = inst["session"]
        if session == "closed":
            return self.reject(Reject.SESSION_CLOSED, m, 0, s)
        if session == "halted":
            return self.reject(Reject.SESSION_HALTED, m, 0, s)
        if session == "pre_open" and (c.order_type != "limit" or c.tif in ("IOC", "FOK") or c.min_quantity):
            return self.reject(Reject.NOT_ALLOWED_IN_AUCTION, m, 0, s)
        if c.side not in ("buy", "sell") or c.tif not in ("GTC", "DAY", "IOC", "FOK") or c.stp not in (
            "cancel_newest", "cancel_oldest", "cancel_both"
        ):
            return self.reject(Reject.INVALID_ORDER, m, 0, s)
        if c.quantity <= 0 or not 0 <= c.display_quantity <= c.quantity or not 0 <= c.min_quantity <= c.quantity:
            return self.reject(Reject.INVALID_QUANTITY, m, 0, s)
        lower, upper = self.band(inst)
        opposite = "sell" if c.side == "buy" else "buy"
        if c.order_type == "market":
            if c.tif not in ("IOC", "FOK") or c.post_only or c.display_quantity:
                return self.reject(Reject.INVALID_ORDER, m, 0, s)
            if c.quantity > inst["max_market_qty"]:
                return self.reject(Reject.MAX_SIZE, m, 0, s)
            best = self.best_price(s, opposite)
            reach = inst["protection_ticks"] * inst["tick"]
            price = None
            if best is not None:
                if c.side == "buy":
                    price = min(best + reach, upper)
                    price = price if price >= best else None
                else:
                    price = max(best - reach, lower)
                    price = price if price <= best else None
            if price is None:
                return self.reject(Reject.NO_LIQUIDITY, m, 0, s)
        elif c.order_type == "limit":
            price = c.price
            if price <= 0:
                return self.reject(Reject.INVALID_PRICE, m, 0, s)
            if price % inst["tick"]:
                return self.reject(Reject.BAD_TICK, m, 0, s)
            if not lower <= price <= upper:
                return self.reject(Reject.PRICE_OUT_OF_BAND, m, 0, s)
            if c.quantity > inst["max_limit_qty"]:
                return self.reject(Reject.MAX_SIZE, m, 0, s)
            if (c.post_only or c.display_quantity) and c.tif not in ("GTC", "DAY"):
                return self.reject(Reject.INVALID_ORDER, m, 0, s)
        else:
            return self.reject(Reject.INVALID_ORDER, m, 0, s)
        continuous = session == "continuous"
        if continuous:
            best = self.best_price(s, opposite)
            if c.post_only and best is not None and self.crosses(c.side, price, best):
                return self.reject(Reject.POST_ONLY_WOULD_TAKE, m, 0, s)
            if c.tif == "FOK":
                if self.would_fill(s, m, c.side, price, c.quantity, c.stp) < c.quantity:
                    return self.reject(Reject.FOK_NOT_FILLABLE, m, 0, s)
            elif c.min_quantity and self.would_fill(s, m, c.side, price, c.quantity, c.stp) < c.min_quantity:
                return self.reject(Reject.MIN_QTY_NOT_MET, m, 0, s)
        oid = self.next_order_id
        self.next_order_id += 1
        self.emit(Accepted, oid, m, s, c.side, price, c.quantity)
        rem = self.match(s, oid, m, c.side, price, c.quantity, c.stp) if continuous else c.quantity
        if rem == 0:
            return
        if c.tif in ("IOC", "FOK"):
            self.emit(Cancelled, oid, m, s, rem, "unfilled")
            return
        visible = min(c.display_quantity, rem) if c.display_quantity else rem
        self.orders.append(RefOrder(oid, m, s, c.side, price, c.quantity, c.quantity - rem, visible, rem - visible,
                                    c.display_quantity, c.tif, c.stp, c.post_only, self.arrive()))

    def find(self, order_id, member):
        for o in self.orders:
            if o.order_id == order_id and o.member == member:
                return o
        return None

    def cancel(self, c: CancelOrder):
        o = self.find(c.order_id, c.member)
        if o is None:
            return self.reject(Reject.UNKNOWN_ORDER, c.member, c.order_id)
        self.orders.remove(o)
        self.emit(Cancelled, o.order_id, o.member, o.symbol, o.visible + o.hidden, "user")

    def amend(self, c: AmendOrder):
        o = self.find(c.order_id, c.member)
        if o is None:
            return self.reject(Reject.UNKNOWN_ORDER, c.member, c.order_id)
        inst = self.instruments[o.symbol]
        m, s, oid = c.member, o.symbol, o.order_id
        if inst["session"] == "closed":
            return self.reject(Reject.SESSION_CLOSED, m, oid, s)
        if inst["session"] == "halted":
            return self.reject(Reject.SESSION_HALTED, m, oid, s)
        price = c.price if c.price else o.price
        qty = c.quantity if c.quantity else o.quantity
        if c.price < 0:
            return self.reject(Reject.INVALID_PRICE, m, oid, s)
        if c.quantity < 0:
            return self.reject(Reject.INVALID_QUANTITY, m, oid, s)
        lower, upper = self.band(inst)
        if price != o.price:
            if price % inst["tick"]:
                return self.reject(Reject.BAD_TICK, m, oid, s)
            if not lower <= price <= upper:
                return self.reject(Reject.PRICE_OUT_OF_BAND, m, oid, s)
        if c.quantity and qty > inst["max_limit_qty"]:
            return self.reject(Reject.MAX_SIZE, m, oid, s)
        if qty <= o.filled:
            return self.reject(Reject.AMEND_QTY_TOO_LOW, m, oid, s)
        if price == o.price and qty == o.quantity:
            return self.reject(Reject.NO_CHANGE, m, oid, s)
        continuous = inst["session"] == "continuous"
        if price == o.price and qty < o.quantity:
            leaves = qty - o.filled
            # shrink the hidden reserve first, then what is displayed
            o.hidden = max(0, min(o.hidden, leaves - o.visible))
            o.visible = leaves - o.hidden
            o.quantity = qty
            return self.emit(Amended, oid, m, s, price, qty, leaves, True)
        opposite = "sell" if o.side == "buy" else "buy"
        best = self.best_price(s, opposite)
        if continuous and o.post_only and price != o.price and best is not None and self.crosses(o.side, price, best):
            return self.reject(Reject.POST_ONLY_WOULD_TAKE, m, oid, s)
        self.orders.remove(o)
        leaves = qty - o.filled
        self.emit(Amended, oid, m, s, price, qty, leaves, False)
        rem = self.match(s, oid, m, o.side, price, leaves, o.stp) if continuous else leaves
        if rem == 0:
            return
        o.price, o.quantity, o.filled = price, qty, qty - rem
        o.visible = min(o.display, rem) if o.display else rem
        o.hidden = rem - o.visible
        o.arrival = self.arrive()
        self.orders.append(o)

    def mass_cancel(self, c: MassCancel):
        if c.symbol and c.symbol not in self.instruments:
            return self.reject(Reject.UNKNOWN_INSTRUMENT, c.member, 0, c.symbol)
        doomed = sorted(
            (o for o in self.orders if o.member == c.member and (not c.symbol or o.symbol == c.symbol)),
            key=lambda o: o.order_id,
        )
        for o in doomed:
            self.orders.remove(o)
            self.emit(Cancelled, o.order_id, o.member, o.symbol, o.visible + o.hidden, "mass")
        self.emit(MassCancelled, c.member, c.symbol, len(doomed))

    # -------------------------------------------------------------- state
    def snapshot_struct(self) -> Snapshot:
        """The state in the engine's snapshot format: instruments by symbol, orders book by
        book (bids best first, then asks best first, each level oldest first)."""
        instruments = []
        for symbol in sorted(self.instruments):
            i = self.instruments[symbol]
            lower, upper = self.band(i)
            instruments.append(Instrument(lower=lower, upper=upper, **i))
        orders = []
        for symbol in sorted(self.instruments):
            for side in ("buy", "sell"):
                for o in self.queue(symbol, side):
                    orders.append(Order(o.order_id, o.member, o.symbol, o.side, o.price, o.quantity, o.filled,
                                        o.visible, o.hidden, o.display, o.tif, o.stp, o.post_only))
        return Snapshot(seq=self.seq, next_order_id=self.next_order_id, next_trade_id=self.next_trade_id,
                        instruments=instruments, orders=orders)

    def snapshot(self) -> bytes:
        return encode_snapshot(self.snapshot_struct())

    def state_hash(self) -> str:
        return state_hash_of(self.snapshot())
