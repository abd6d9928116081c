"""The matching engine: validates commands, matches by price-time priority, emits events.

The hot paths (new order, amend, cancel) keep their state in locals and build events
positionally; everything else favours plainness. One engine holds many instruments, one
``Book`` each, and one gap-free event sequence across them all.
"""

from collections.abc import Callable

from engine.auction import uncross_price
from engine.book import Book
from engine.codes import (
    BUY,
    CANCEL_BOTH,
    CANCEL_NEWEST,
    CANCEL_OLDEST,
    CLOSED,
    CONTINUOUS,
    DAY,
    FOK,
    GTC,
    HALTED,
    IOC,
    LIMIT,
    MARKET,
    PRE_OPEN,
    SELL,
    SESSION_TRANSITIONS,
    Reject,
)
from engine.commands import (
    AddInstrument,
    AmendOrder,
    CancelOrder,
    Command,
    MassCancel,
    NewOrder,
    SetReferencePrice,
    SetSession,
)
from engine.events import (
    Accepted,
    Amended,
    Cancelled,
    Event,
    InstrumentAdded,
    MassCancelled,
    ReferencePriceSet,
    Rejected,
    SessionChanged,
    Trade,
)
from engine.snapshot import Snapshot, decode_snapshot, encode_snapshot, state_hash_of
from engine.state import Instrument, Order, band_limits

_RESTING_TIF = (GTC, DAY)
_ALL_TIF = (GTC, DAY, IOC, FOK)
_STP_MODES = (CANCEL_NEWEST, CANCEL_OLDEST, CANCEL_BOTH)
_CLOSED_CODES = {CLOSED: Reject.SESSION_CLOSED, HALTED: Reject.SESSION_HALTED}


class Engine:
    """A deterministic matching engine: ``apply(command) -> events``.

    Public attributes are read-only for callers: ``instruments`` and ``books`` by symbol,
    ``orders`` (every open order by id), and the counters ``seq``, ``next_order_id`` and
    ``next_trade_id``.
    """

    def __init__(self) -> None:
        self.seq = 0
        self.next_order_id = 1
        self.next_trade_id = 1
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, Book] = {}
        self.orders: dict[int, Order] = {}
        self._handlers: dict[type, Callable[[Command], list[Event]]] = {
            NewOrder: self._new_order,
            AmendOrder: self._amend,
            CancelOrder: self._cancel,
            MassCancel: self._mass_cancel,
            SetSession: self._set_session,
            SetReferencePrice: self._set_reference,
            AddInstrument: self._add_instrument,
        }

    # ------------------------------------------------------------------ commands

    def apply(self, command: Command) -> list[Event]:
        """Apply one command and return the events it caused, in sequence order."""
        try:
            handler = self._handlers[type(command)]
        except KeyError:
            raise TypeError(f"not an engine command: {type(command).__name__}") from None
        return handler(command)

    def _reject(self, code: str, member: str = "", order_id: int = 0, symbol: str = "") -> list[Event]:
        self.seq += 1
        return [Rejected(self.seq, code, member, order_id, symbol)]

    def _new_order(self, cmd: NewOrder) -> list[Event]:
        symbol = cmd.symbol
        member = cmd.member
        inst = self.instruments.get(symbol)
        if inst is None:
            return self._reject(Reject.UNKNOWN_INSTRUMENT, member, 0, symbol)
        session = inst.session
        tif = cmd.tif
        qty = cmd.quantity
        display = cmd.display_quantity
        min_qty = cmd.min_quantity
        side = cmd.side
        stp = cmd.stp
        if session != CONTINUOUS:
            if session != PRE_OPEN:
                return self._reject(_CLOSED_CODES[session], member, 0, symbol)
            if cmd.order_type != LIMIT or tif in (IOC, FOK) or min_qty:
                return self._reject(Reject.NOT_ALLOWED_IN_AUCTION, member, 0, symbol)
        if (side != BUY and side != SELL) or tif not in _ALL_TIF or stp not in _STP_MODES:
            return self._reject(Reject.INVALID_ORDER, member, 0, symbol)
        if qty <= 0 or display < 0 or display > qty or min_qty < 0 or min_qty > qty:
            return self._reject(Reject.INVALID_QUANTITY, member, 0, symbol)
        book = self.books[symbol]
        if cmd.order_type == MARKET:
            if tif not in (IOC, FOK) or cmd.post_only or display:
                return self._reject(Reject.INVALID_ORDER, member, 0, symbol)
            if qty > inst.max_market_qty:
                return self._reject(Reject.MAX_SIZE, member, 0, symbol)
            price = self._protection_price(inst, book, side)
            if not price:
                return self._reject(Reject.NO_LIQUIDITY, member, 0, symbol)
        elif cmd.order_type == LIMIT:
            price = cmd.price
            if price <= 0:
                return self._reject(Reject.INVALID_PRICE, member, 0, symbol)
            if price % inst.tick:
                return self._reject(Reject.BAD_TICK, member, 0, symbol)
            if price < inst.lower or price > inst.upper:
                return self._reject(Reject.PRICE_OUT_OF_BAND, member, 0, symbol)
            if qty > inst.max_limit_qty:
                return self._reject(Reject.MAX_SIZE, member, 0, symbol)
            if (cmd.post_only or display) and tif not in (GTC, DAY):
                return self._reject(Reject.INVALID_ORDER, member, 0, symbol)
        else:
            return self._reject(Reject.INVALID_ORDER, member, 0, symbol)
        if side == BUY:
            opposite = book.asks
            crosses = session == CONTINUOUS and bool(opposite) and opposite.peekitem(0)[0] <= price
        else:
            opposite = book.bids
            crosses = session == CONTINUOUS and bool(opposite) and opposite.peekitem(-1)[0] >= price
        if crosses:
            if cmd.post_only:
                return self._reject(Reject.POST_ONLY_WOULD_TAKE, member, 0, symbol)
            if tif == FOK:
                if book.fillable(side, price, member, stp, qty) < qty:
                    return self._reject(Reject.FOK_NOT_FILLABLE, member, 0, symbol)
            elif min_qty and book.fillable(side, price, member, stp, min_qty) < min_qty:
                return self._reject(Reject.MIN_QTY_NOT_MET, member, 0, symbol)
        elif tif == FOK and session == CONTINUOUS:
            return self._reject(Reject.FOK_NOT_FILLABLE, member, 0, symbol)
        elif min_qty and session == CONTINUOUS:
            return self._reject(Reject.MIN_QTY_NOT_MET, member, 0, symbol)

        oid = self.next_order_id
        self.next_order_id = oid + 1
        self.seq += 1
        events: list[Event] = [Accepted(self.seq, oid, member, symbol, side, price, qty)]
        rem = self._match(events, book, symbol, oid, member, side, price, qty, stp) if crosses else qty
        if rem:
            if tif in _RESTING_TIF:
                if display and display < rem:
                    order = Order(oid, member, symbol, side, price, qty, qty - rem, display, rem - display, display,
                                  tif, stp, cmd.post_only)
                else:
                    order = Order(oid, member, symbol, side, price, qty, qty - rem, rem, 0, display, tif, stp,
                                  cmd.post_only)
                book.rest(order)
                self.orders[oid] = order
            else:
                self.seq += 1
                events.append(Cancelled(self.seq, oid, member, symbol, rem, "unfilled"))
        return events

    def _match(
        self,
        events: list[Event],
        book: Book,
        symbol: str,
        oid: int,
        member: str,
        side: str,
        limit: int,
        rem: int,
        stp: str,
    ) -> int:
        """Fill an incoming order against the opposite side up to ``limit``; return what is
        left open. Self-trade prevention may cancel resting orders and/or the incoming one
        (then 0 is returned and its ``Cancelled`` event is already emitted)."""
        orders = self.orders
        if side == BUY:
            levels, index, sign = book.asks, 0, 1
        else:
            levels, index, sign = book.bids, -1, -1
        bound = limit * sign
        seq = self.seq
        tid = self.next_trade_id
        while rem and levels:
            price, queue = levels.peekitem(index)
            if price * sign > bound:
                break
            while queue:
                maker = queue[0]
                if maker.member == member:
                    if stp != CANCEL_NEWEST:
                        queue.popleft()
                        queue.shown -= maker.visible
                        del orders[maker.order_id]
                        seq += 1
                        events.append(
                            Cancelled(seq, maker.order_id, member, symbol, maker.visible + maker.hidden, "stp")
                        )
                        if stp == CANCEL_OLDEST:
                            continue
                    seq += 1
                    events.append(Cancelled(seq, oid, member, symbol, rem, "stp"))
                    rem = 0
                    break
                visible = maker.visible
                fill = visible if visible < rem else rem
                rem -= fill
                visible -= fill
                maker.visible = visible
                queue.shown -= fill
                maker.filled += fill
                seq += 1
                if sign == 1:
                    events.append(
                        Trade(seq, tid, symbol, price, fill, oid, maker.order_id, member, maker.member,
                              rem, visible + maker.hidden, BUY)
                    )
                else:
                    events.append(
                        Trade(seq, tid, symbol, price, fill, maker.order_id, oid, maker.member, member,
                              visible + maker.hidden, rem, SELL)
                    )
                tid += 1
                if not visible:
                    queue.popleft()
                    hidden = maker.hidden
                    if hidden:
                        refill = maker.display if maker.display < hidden else hidden
                        maker.visible = refill
                        maker.hidden = hidden - refill
                        queue.append(maker)
                        queue.shown += refill
                    else:
                        del orders[maker.order_id]
                if not rem:
                    break
            if not queue:
                del levels[price]
        self.seq = seq
        self.next_trade_id = tid
        return rem

    def _cancel(self, cmd: CancelOrder) -> list[Event]:
        oid = cmd.order_id
        order = self.orders.get(oid)
        if order is None or order.member != cmd.member:
            return self._reject(Reject.UNKNOWN_ORDER, cmd.member, oid)
        self.books[order.symbol].remove(order)
        del self.orders[oid]
        self.seq += 1
        return [Cancelled(self.seq, oid, order.member, order.symbol, order.visible + order.hidden, "user")]

    def _amend(self, cmd: AmendOrder) -> list[Event]:
        member = cmd.member
        oid = cmd.order_id
        order = self.orders.get(oid)
        if order is None or order.member != member:
            return self._reject(Reject.UNKNOWN_ORDER, member, oid)
        symbol = order.symbol
        inst = self.instruments[symbol]
        session = inst.session
        if session != CONTINUOUS and session != PRE_OPEN:
            return self._reject(_CLOSED_CODES[session], member, oid, symbol)
        old_price = order.price
        old_qty = order.quantity
        price = cmd.price
        qty = cmd.quantity
        if price < 0:
            return self._reject(Reject.INVALID_PRICE, member, oid, symbol)
        if qty < 0:
            return self._reject(Reject.INVALID_QUANTITY, member, oid, symbol)
        if not price:
            price = old_price
        elif price != old_price:
            if price % inst.tick:
                return self._reject(Reject.BAD_TICK, member, oid, symbol)
            if price < inst.lower or price > inst.upper:
                return self._reject(Reject.PRICE_OUT_OF_BAND, member, oid, symbol)
        if not qty:
            qty = old_qty
        elif qty > inst.max_limit_qty:
            return self._reject(Reject.MAX_SIZE, member, oid, symbol)
        filled = order.filled
        if qty <= filled:
            return self._reject(Reject.AMEND_QTY_TOO_LOW, member, oid, symbol)
        book = self.books[symbol]
        if price == old_price:
            if qty == old_qty:
                return self._reject(Reject.NO_CHANGE, member, oid, symbol)
            if qty < old_qty:
                cut = old_qty - qty
                from_hidden = cut if cut < order.hidden else order.hidden
                order.hidden -= from_hidden
                order.visible -= cut - from_hidden
                (book.bids if order.side == BUY else book.asks)[price].shown -= cut - from_hidden
                order.quantity = qty
                self.seq += 1
                return [Amended(self.seq, oid, member, symbol, price, qty, qty - filled, True)]
        side = order.side
        if side == BUY:
            crosses = bool(book.asks) and book.asks.peekitem(0)[0] <= price
        else:
            crosses = bool(book.bids) and book.bids.peekitem(-1)[0] >= price
        if crosses and order.post_only and price != old_price and session == CONTINUOUS:
            return self._reject(Reject.POST_ONLY_WOULD_TAKE, member, oid, symbol)
        book.remove(order)  # from its old price's level
        leaves = qty - filled
        order.price = price
        order.quantity = qty
        self.seq += 1
        events: list[Event] = [Amended(self.seq, oid, member, symbol, price, qty, leaves, False)]
        rem = leaves
        if crosses and session == CONTINUOUS:
            rem = self._match(events, book, symbol, oid, member, side, price, leaves, order.stp)
            if not rem:
                del self.orders[oid]
                return events
            order.filled = qty - rem
        display = order.display
        if display and display < rem:
            order.visible = display
            order.hidden = rem - display
        else:
            order.visible = rem
            order.hidden = 0
        book.rest(order)
        return events

    def _mass_cancel(self, cmd: MassCancel) -> list[Event]:
        member, symbol = cmd.member, cmd.symbol
        if symbol and symbol not in self.instruments:
            return self._reject(Reject.UNKNOWN_INSTRUMENT, member, 0, symbol)
        doomed = [o for o in self.orders.values() if o.member == member and (not symbol or o.symbol == symbol)]
        events = self._remove_all(doomed, "mass")
        self.seq += 1
        events.append(MassCancelled(self.seq, member, symbol, len(doomed)))
        return events

    def _remove_all(self, doomed: list[Order], reason: str) -> list[Event]:
        """Take ``doomed`` out of their books, in order-id order, one event each."""
        events: list[Event] = []
        for order in sorted(doomed, key=lambda o: o.order_id):
            self.books[order.symbol].remove(order)
            del self.orders[order.order_id]
            self.seq += 1
            events.append(
                Cancelled(self.seq, order.order_id, order.member, order.symbol, order.visible + order.hidden, reason)
            )
        return events

    def _set_session(self, cmd: SetSession) -> list[Event]:
        inst = self.instruments.get(cmd.symbol)
        if inst is None:
            return self._reject(Reject.UNKNOWN_INSTRUMENT, "", 0, cmd.symbol)
        previous, state = inst.session, cmd.state
        if previous not in SESSION_TRANSITIONS.get(state, ()):
            return self._reject(Reject.INVALID_SESSION_TRANSITION, "", 0, cmd.symbol)
        events: list[Event] = []
        if state == CONTINUOUS:
            self._uncross(inst, events)
        elif state == CLOSED:
            day = [o for o in self.orders.values() if o.symbol == inst.symbol and o.tif == DAY]
            events = self._remove_all(day, "expired")
        inst.session = state
        self.seq += 1
        events.append(SessionChanged(self.seq, inst.symbol, previous, state))
        return events

    def _uncross(self, inst: Instrument, events: list[Event]) -> None:
        """Run the call auction: trade the crossed part of the book at one price."""
        book = self.books[inst.symbol]
        if not book.crossed():
            return
        bids = [(p, sum(o.visible + o.hidden for o in q)) for p, q in book.bids.items()]
        asks = [(p, sum(o.visible + o.hidden for o in q)) for p, q in book.asks.items()]
        price, volume = uncross_price(bids, asks, inst.ref_price)
        while volume:
            bid_price, bid_queue = book.bids.peekitem(-1)
            ask_price, ask_queue = book.asks.peekitem(0)
            buy, sell = bid_queue[0], ask_queue[0]
            fill = min(buy.visible, sell.visible, volume)
            volume -= fill
            self._take_visible(book.bids, bid_price, bid_queue, buy, fill)
            self._take_visible(book.asks, ask_price, ask_queue, sell, fill)
            self.seq += 1
            events.append(
                Trade(self.seq, self.next_trade_id, inst.symbol, price, fill, buy.order_id, sell.order_id,
                      buy.member, sell.member, buy.visible + buy.hidden, sell.visible + sell.hidden, "")
            )
            self.next_trade_id += 1

    def _take_visible(self, levels: dict, price: int, queue, order: Order, fill: int) -> None:
        """Fill the head-of-queue ``order`` by ``fill``; refill an iceberg at the back of the
        level or retire a finished order, dropping an emptied level."""
        order.visible -= fill
        order.filled += fill
        queue.shown -= fill
        if order.visible:
            return
        queue.popleft()
        if order.hidden:
            order.visible = min(order.display, order.hidden)
            order.hidden -= order.visible
            queue.append(order)
            queue.shown += order.visible
        else:
            del self.orders[order.order_id]
            if not queue:
                del levels[price]

    def _set_reference(self, cmd: SetReferencePrice) -> list[Event]:
        inst = self.instruments.get(cmd.symbol)
        if inst is None:
            return self._reject(Reject.UNKNOWN_INSTRUMENT, "", 0, cmd.symbol)
        if cmd.price <= 0:
            return self._reject(Reject.INVALID_PRICE, "", 0, cmd.symbol)
        if cmd.price % inst.tick:
            return self._reject(Reject.BAD_TICK, "", 0, cmd.symbol)
        if not -1 <= cmd.band_bps <= 10_000:
            return self._reject(Reject.INVALID_PRICE, "", 0, cmd.symbol)
        if cmd.band_bps >= 0:
            inst.band_bps = cmd.band_bps
        inst.ref_price = cmd.price
        inst.lower, inst.upper = band_limits(cmd.price, inst.band_bps, inst.tick)
        self.seq += 1
        return [ReferencePriceSet(self.seq, inst.symbol, cmd.price, inst.lower, inst.upper)]

    def _add_instrument(self, cmd: AddInstrument) -> list[Event]:
        if cmd.symbol in self.instruments:
            return self._reject(Reject.DUPLICATE_INSTRUMENT, "", 0, cmd.symbol)
        if (
            not cmd.symbol
            or cmd.tick <= 0
            or cmd.lot_size <= 0
            or cmd.ref_price <= 0
            or cmd.ref_price % cmd.tick
            or cmd.band_bps < 0
            or cmd.max_limit_qty <= 0
            or cmd.max_market_qty <= 0
            or cmd.protection_ticks < 0
        ):
            return self._reject(Reject.INVALID_INSTRUMENT, "", 0, cmd.symbol)
        lower, upper = band_limits(cmd.ref_price, cmd.band_bps, cmd.tick)
        self.instruments[cmd.symbol] = Instrument(
            symbol=cmd.symbol,
            tick=cmd.tick,
            lot_size=cmd.lot_size,
            ref_price=cmd.ref_price,
            band_bps=cmd.band_bps,
            max_limit_qty=cmd.max_limit_qty,
            max_market_qty=cmd.max_market_qty,
            protection_ticks=cmd.protection_ticks,
            session=CLOSED,
            lower=lower,
            upper=upper,
        )
        self.books[cmd.symbol] = Book(cmd.symbol)
        self.seq += 1
        return [InstrumentAdded(self.seq, cmd.symbol)]

    # ------------------------------------------------------------------ queries

    def market_limit_price(self, symbol: str, side: str) -> int | None:
        """The protection price a market order of ``side`` would be limited to now: the best
        opposite price moved ``protection_ticks`` against the taker, clipped to the band;
        None if nothing on the opposite side is reachable."""
        return self._protection_price(self.instruments[symbol], self.books[symbol], side) or None

    @staticmethod
    def _protection_price(inst: Instrument, book: Book, side: str) -> int:
        reach = inst.protection_ticks * inst.tick
        if side == BUY:
            if not book.asks:
                return 0
            best = book.asks.peekitem(0)[0]
            limit = best + reach
            if limit > inst.upper:
                limit = inst.upper
            return limit if limit >= best else 0
        if not book.bids:
            return 0
        best = book.bids.peekitem(-1)[0]
        limit = best - reach
        if limit < inst.lower:
            limit = inst.lower
        return limit if limit <= best else 0

    def snapshot(self) -> bytes:
        """The whole engine state, msgspec-encoded, canonical (equal state, equal bytes)."""
        return encode_snapshot(self._snapshot_struct())

    def _snapshot_struct(self) -> Snapshot:
        orders: list[Order] = []
        for symbol in sorted(self.books):
            book = self.books[symbol]
            for side in (BUY, SELL):
                for _, queue in book.levels(side):
                    orders.extend(queue)
        return Snapshot(
            seq=self.seq,
            next_order_id=self.next_order_id,
            next_trade_id=self.next_trade_id,
            instruments=[self.instruments[s] for s in sorted(self.instruments)],
            orders=orders,
        )

    @classmethod
    def restore(cls, data: bytes) -> "Engine":
        """Rebuild an engine from ``snapshot()`` bytes."""
        snap = decode_snapshot(data)
        engine = cls()
        engine.seq = snap.seq
        engine.next_order_id = snap.next_order_id
        engine.next_trade_id = snap.next_trade_id
        for inst in snap.instruments:
            engine.instruments[inst.symbol] = inst
            engine.books[inst.symbol] = Book(inst.symbol)
        for order in snap.orders:
            engine.books[order.symbol].rest(order)
        for order in sorted(snap.orders, key=lambda o: o.order_id):
            engine.orders[order.order_id] = order
        return engine

    def state_hash(self) -> str:
        """Hex digest of the full engine state: equal on any two engines in equal states."""
        return state_hash_of(self.snapshot())

    # ------------------------------------------------------------------ invariants (tests and tools)

    def check(self) -> None:
        """Assert the engine's invariants (AssertionError naming the first one broken); for
        tests and tools, never called on the matching path. Each book's levels are non-empty
        FIFO queues on the tick grid; every resting order sits in exactly one level, at its
        price and side, and is in ``orders``, and every open order rests; open quantity is
        visible + hidden = quantity − filled, with visible ≥ 1; a continuous book is
        uncrossed; order ids are below the counter."""
        assert self.books.keys() == self.instruments.keys(), "books and instruments differ"
        assert self.seq >= 0 and self.next_order_id >= 1 and self.next_trade_id >= 1, "a counter went below its start"
        resting: dict[int, Order] = {}
        for symbol, book in self.books.items():
            inst = self.instruments[symbol]
            assert inst.symbol == book.symbol == symbol, f"{symbol}: filed under another symbol"
            for order in book.check(inst.tick):
                assert order.order_id not in resting, f"order {order.order_id} rests twice"
                assert self.orders.get(order.order_id) is order, f"order {order.order_id} rests but is not open"
                _check_resting(order, self.next_order_id)
                resting[order.order_id] = order
            if inst.session == CONTINUOUS:
                assert not book.crossed(), f"{symbol}: the continuous book is crossed"
        missing = sorted(self.orders.keys() - resting.keys())
        assert not missing, f"open orders {missing[:5]} rest in no book"


def _check_resting(order: Order, next_order_id: int) -> None:
    """Assert one resting order's own invariants."""
    name = f"order {order.order_id}"
    assert 0 < order.order_id < next_order_id, f"{name}: id not below the counter {next_order_id}"
    assert order.tif in _RESTING_TIF, f"{name}: {order.tif} rests"
    assert order.visible >= 1 and order.hidden >= 0 and order.filled >= 0, \
        f"{name}: {order.visible} shown, {order.hidden} hidden, {order.filled} filled"
    assert order.visible + order.hidden == order.quantity - order.filled, \
        f"{name}: open {order.visible} + {order.hidden} is not {order.quantity} less {order.filled} filled"
    if order.display:
        assert order.visible <= order.display, f"{name}: shows {order.visible} of an iceberg displaying {order.display}"
    else:
        assert not order.hidden, f"{name}: hides {order.hidden} but is no iceberg"
