"""Forwards (中远期): positions, margin, limits, daily settlement, margin calls and forced
liquidation, on the ledger. Pure and deterministic like the rest of clearing.

**Positions.** One per (member, instrument): ``net`` lots (long > 0), the open orders' leaves
on each side, the average open price, realised P&L, and what daily settlement needs:
``start_net`` (the net at the last settlement) and ``flow`` (Σ sells p×q − Σ buys p×q since).

**Margin.** A position's *exposure* is the largest position its open orders could create:
``max(net + buy leaves, sell leaves − net)``; its requirement is exposure × the margin per lot
(the last settlement price × lot weight × the day's rate, rounded up to the fen). So an order
that only reduces a position needs none, and a fill never raises the requirement. ``margin:M``
holds the member's requirement: after every event that touches a position, margin moves
``cash:M → margin:M`` or back (``MARGIN`` / ``MARGIN_RELEASE``). An order is refused when
the requirement it adds exceeds available cash (``INSUFFICIENT_MARGIN``), its exposure passes
the position limit (``POSITION_LIMIT``), or the lots it could open pass the daily opening
limit (``DAILY_OPEN_LIMIT``).

**Daily settlement (每日无负债结算).** At end of day each position's variation is
``net × S − start_net × S_prev + flow`` (price units × lots), × lot weight / 1,000 in fen,
rounded so that each instrument's variations sum to exactly zero (largest remainders take the
odd fen). Losers pay ``exchange:settlement`` from cash, then margin; what they cannot pay is
drawn from ``exchange:default_fund`` (funded by a share of each day's commission), then from
the exchange's fee revenue, and recorded; winners are paid from ``exchange:settlement``. Then
margin is re-marked at the settlement price and the next day's rate; a member whose cash
cannot cover it gets a margin call due an hour after the next session opens. A deposit or
closing trades cure it; unmet at the deadline, clearing liquidates (强行平仓).
"""

import hashlib
from collections.abc import Mapping

import msgspec

from clearing.credit import CreditRegister, TradingDay
from clearing.forward_terms import ForwardTerms
from clearing.ledger import FEES, Ledger, Ref, cash, ceil_div, margin
from engine import Accepted, Amended, AmendOrder, Cancelled, Event, NewOrder, Trade
from warehouse_receipts.dates import BEIJING_OFFSET_NS, DAY_NS, day_number

SETTLEMENT = "exchange:settlement"
DEFAULT_FUND = "exchange:default_fund"
MINUTE_NS = 60_000_000_000


class ForwardRejected(msgspec.Struct):
    code: str
    message: str


class Position(msgspec.Struct, kw_only=True, gc=False):
    member: str
    symbol: str
    net: int = 0
    buy_leaves: int = 0
    sell_leaves: int = 0
    open_price: int = 0  # average price of the open lots (fen a tonne)
    realised: int = 0  # fen, closes against the average open price
    start_net: int = 0
    flow: int = 0
    opened_today: int = 0
    since_day: int = 0  # the trading day the position was opened from flat (delivery: oldest first)

    def exposure(self) -> int:
        return max(self.net + self.buy_leaves, self.sell_leaves - self.net)


class Market(msgspec.Struct, kw_only=True, gc=False):
    """A margined instrument's settlement state: the last settlement price and whether that
    day closed locked at a price limit (the next day's band and margin rise)."""

    settle: int
    locked: bool = False


class MarginCall(msgspec.Struct, kw_only=True, gc=False):
    call_id: int
    member: str
    day: int
    amount: int  # the shortfall when called
    deadline_ns: int
    state: str = "open"  # open, met, liquidating, closed


class MarginCallDue(msgspec.Struct, tag="margin_call_due", tag_field="cmd", kw_only=True, gc=False):
    """A margin call's deadline (a timer's action)."""

    call_id: int


class FundDraw(msgspec.Struct, kw_only=True, gc=False):
    day: int
    member: str
    symbol: str
    amount: int
    source: str  # exchange:default_fund, exchange:fees, or "uncovered"


class Variation(msgspec.Struct, kw_only=True, gc=False):
    member: str
    symbol: str
    amount: int  # fen: > 0 received, < 0 paid




class Forwards:
    """Positions, markets, margin calls and default-fund draws of the margined forwards."""

    def __init__(self, terms: Mapping[str, ForwardTerms], calendar: TradingDay, credit: CreditRegister) -> None:
        self.terms = terms  # the catalogue's view: margined forwards only
        self.calendar = calendar
        self.credit = credit
        self.positions: dict[tuple[str, str], Position] = {}
        self.by_member: dict[str, list[str]] = {}  # member -> symbols it has positions in (sorted)
        self.orders: dict[int, list] = {}  # open order id -> [member, symbol, side, leaves]
        self.markets: dict[str, Market] = {}
        self.lot_kg: dict[str, int] = {}
        self._per_lot: dict[str, tuple] = {}  # symbol -> (terms, key, margin a lot): derived, not hashed
        self._limit: dict[str, tuple] = {}  # symbol -> (terms, trading date, position limit): derived, not hashed
        self.calls: dict[int, MarginCall] = {}
        self.open_call: dict[str, int] = {}  # member -> its open or liquidating call
        self.liquidation_orders: dict[int, int] = {}  # order id -> call id
        self.draws: list[FundDraw] = []
        self.day_variation: list[Variation] = []
        self.notices: list[tuple[str, dict]] = []  # (member, message) for the private streams
        self.to_cancel: list[tuple[str, int]] = []  # (member, order id): liquidation orders no longer needed

    # -------------------------------------------------------------- terms and prices

    def margined(self, symbol: str) -> bool:
        return symbol in self.terms

    def market(self, symbol: str, ref_price: int, lot_kg: int) -> Market:
        m = self.markets.get(symbol)
        if m is None:
            m = self.markets[symbol] = Market(settle=ref_price)
            self.lot_kg[symbol] = lot_kg
        return m

    def per_lot(self, symbol: str) -> int:
        """Margin for one lot today: settlement price × lot weight × rate, rounded up to the fen.
        Asked for every fill and order: computed once per (terms, trading date, price, locked)."""
        m, terms = self.markets[symbol], self.terms[symbol]
        key = (self.calendar.trading_date, m.settle, m.locked)
        cached = self._per_lot.get(symbol)
        if cached is None or cached[0] is not terms or cached[1] != key:
            value = self._margin_at(symbol, m.settle, self.lot_kg[symbol], m.locked)
            cached = self._per_lot[symbol] = (terms, key, value)
        return cached[2]

    def limit_lots(self, symbol: str) -> int:
        """The position limit today (0: none), computed once per (terms, trading date)."""
        terms, date = self.terms[symbol], self.calendar.trading_date
        cached = self._limit.get(symbol)
        if cached is None or cached[0] is not terms or cached[1] != date:
            cached = self._limit[symbol] = (terms, date, terms.limit_lots(date))
        return cached[2]

    def _margin_at(self, symbol: str, settle: int, lot_kg: int, locked: bool) -> int:
        terms = self.terms[symbol]
        rate = terms.rate_bps(self.calendar.trading_date)
        if locked:  # the day after one locked at a limit
            rate += rate * terms.limit_margin_raise_bps // 10_000
        return ceil_div(settle * lot_kg * rate, 1_000 * 10_000)

    def position(self, member: str, symbol: str) -> Position:
        p = self.positions.get((member, symbol))
        if p is None:
            p = self.positions[(member, symbol)] = Position(member=member, symbol=symbol)
            symbols = self.by_member.setdefault(member, [])
            symbols.append(symbol)
            symbols.sort()
        return p

    def requirement(self, member: str) -> int:
        """Margin the member's positions and open orders need now, in fen."""
        total = 0
        for symbol in self.by_member.get(member, ()):  # a loop, not sum() over a generator: asked every order
            total += self.positions[(member, symbol)].exposure() * self.per_lot(symbol)
        return total

    def shortfall(self, ledger: Ledger, member: str) -> int:
        return max(0, self.requirement(member) - ledger.balance(margin(member)))

    # -------------------------------------------------------------- risk at entry

    def admit(self, engine, cmd: NewOrder | AmendOrder, fee_extra: int, available: int) -> ForwardRejected | None:
        """Refuse an order or amendment that would pass a limit or that cash cannot margin."""
        if isinstance(cmd, NewOrder):
            symbol, side, extra_lots, member = cmd.symbol, cmd.side, cmd.quantity, cmd.member
        else:
            order = engine.orders.get(cmd.order_id)
            if order is None or order.member != cmd.member or not cmd.quantity:
                return None
            symbol, side, member = order.symbol, order.side, cmd.member
            extra_lots = cmd.quantity - order.quantity
        if symbol not in self.terms or extra_lots <= 0 or symbol not in engine.instruments:
            return None
        terms, inst = self.terms[symbol], engine.instruments[symbol]
        if self.calendar.trading_date > terms.last_trading_day:
            return ForwardRejected("TRADING_ENDED", f"{symbol}'s last trading day was {terms.last_trading_day}")
        p = self.positions.get((member, symbol)) or Position(member=member, symbol=symbol)
        before = p.exposure()
        after = max(p.net + p.buy_leaves + (extra_lots if side == "buy" else 0),
                    p.sell_leaves + (extra_lots if side == "sell" else 0) - p.net)
        limit = self.limit_lots(symbol)
        if limit and after > max(before, limit):
            return ForwardRejected("POSITION_LIMIT", f"{symbol}: {after} lots would pass the limit of {limit}")
        opening = max(0, extra_lots - max(0, -p.net if side == "buy" else p.net))
        if terms.daily_open_limit and opening and p.opened_today + opening > terms.daily_open_limit:
            return ForwardRejected("DAILY_OPEN_LIMIT", f"{symbol}: {p.opened_today} lots opened today, "
                                   f"{opening} more would pass {terms.daily_open_limit}")
        per_lot = self.per_lot(symbol) if symbol in self.markets else self._margin_at(symbol, inst.ref_price,
                                                                                      inst.lot_size, False)
        need = (after - before) * per_lot + fee_extra
        if need > available:
            return ForwardRejected("INSUFFICIENT_MARGIN", f"the order needs {need} fen of margin and fees, "
                                   f"{available} fen available")
        return None

    # -------------------------------------------------------------- after the engine

    def follow(self, engine, ledger: Ledger, events: list[Event], now_ns: int) -> None:
        """Positions and margin for one command's engine events."""
        touched: dict[str, Ref] = {}
        for e in events:
            kind = type(e)
            if kind is Trade and e.symbol in self.terms:
                self._fill(e.buyer, e.symbol, e.quantity, e.price, e.buy_order_id, e.buy_leaves)
                self._fill(e.seller, e.symbol, -e.quantity, e.price, e.sell_order_id, e.sell_leaves)
                touched[e.buyer] = touched[e.seller] = Ref(trade_id=e.trade_id)
            elif kind is Accepted and e.symbol in self.terms:
                inst = engine.instruments[e.symbol]
                self.market(e.symbol, inst.ref_price, inst.lot_size)
                p = self.position(e.member, e.symbol)
                self.orders[e.order_id] = [e.member, e.symbol, e.side, e.quantity]
                if e.side == "buy":
                    p.buy_leaves += e.quantity
                else:
                    p.sell_leaves += e.quantity
                touched.setdefault(e.member, Ref(order_id=e.order_id))
            elif kind is Amended and e.order_id in self.orders:
                touched.setdefault(e.member, Ref(order_id=e.order_id))
                self._leaves(e.order_id, e.leaves)
            elif kind is Cancelled and e.order_id in self.orders:
                touched.setdefault(e.member, Ref(order_id=e.order_id))
                self._leaves(e.order_id, 0)
        for member, ref in touched.items():
            self.sync(ledger, member, ref, now_ns)

    def _leaves(self, order_id: int, leaves: int) -> None:
        """Set an open order's leaves (the position keeps the per-side totals)."""
        order = self.orders[order_id]
        member, symbol, side, current = order
        p = self.positions[(member, symbol)]
        if side == "buy":
            p.buy_leaves += leaves - current
        else:
            p.sell_leaves += leaves - current
        if leaves:
            order[3] = leaves
        else:
            del self.orders[order_id]
            self.liquidation_orders.pop(order_id, None)

    def _fill(self, member: str, symbol: str, signed: int, price: int, order_id: int, leaves: int) -> None:
        p = self.position(member, symbol)
        if order_id in self.orders:
            self._leaves(order_id, leaves)
        p.flow -= signed * price
        qty = abs(signed)
        if p.net == 0 or (p.net > 0) == (signed > 0):  # opening
            p.open_price = (p.open_price * abs(p.net) + price * qty) // (abs(p.net) + qty)
            p.opened_today += qty
            if p.net == 0:
                p.since_day = self.calendar.day
        else:
            closed = min(qty, abs(p.net))
            direction = 1 if p.net > 0 else -1
            p.realised += (price - p.open_price) * closed * direction * self.lot_kg[symbol] // 1_000
            if qty > closed:  # turned over: the rest opens at this price
                p.open_price, p.since_day = price, self.calendar.day
                p.opened_today += qty - closed
        p.net += signed
        if p.net == 0:
            p.open_price = 0

    def sync(self, ledger: Ledger, member: str, ref: Ref, now_ns: int) -> int:
        """Move margin to the member's requirement as far as its cash allows; a met call
        closes. Returns the shortfall left."""
        account = margin(member)
        target, held = self.requirement(member), ledger.balance(account)
        if held > target:
            ledger.post_one(account, cash(member), held - target, "MARGIN_RELEASE", ref, now_ns)
        elif held < target and (top_up := min(target - held, ledger.balance(cash(member)))) > 0:
            ledger.post_one(cash(member), account, top_up, "MARGIN", ref, now_ns)
        short = max(0, target - ledger.balance(account))
        call_id = self.open_call.get(member)
        if call_id is not None and not short:
            self._close_call(self.calls[call_id], "met" if self.calls[call_id].state == "open" else "closed")
        return short

    def _close_call(self, call: MarginCall, state: str) -> None:
        call.state = state
        del self.open_call[call.member]
        self.to_cancel += [(call.member, o) for o, c in sorted(self.liquidation_orders.items()) if c == call.call_id]
        self.notices.append((call.member, {"type": "margin_call", "call_id": call.call_id, "state": state}))

    # -------------------------------------------------------------- funding cures calls

    def funded(self, ledger: Ledger, member: str, now_ns: int, reference: str) -> None:
        """A deposit: top margin up and close a call it meets."""
        if member in self.by_member:
            self.sync(ledger, member, Ref(reference=reference), now_ns)

    # -------------------------------------------------------------- end of day

    def settle_day(self, ledger: Ledger, prices: dict[str, int], last_trade: dict[str, int], limits: dict,
                   day_fees: dict[str, int], now_ns: int) -> list[Variation]:
        """Daily settlement at ``prices``: the default fund's share of the day's commission,
        variation paid between members through ``exchange:settlement``, then each market
        remembers its settlement price and whether it closed locked at a limit (``limits``:
        symbol -> (lower, upper) of the day's band; ``last_trade``: symbol -> last price)."""
        for symbol in sorted(day_fees):
            share = day_fees[symbol] * self.terms[symbol].default_fund_share_bps // 10_000
            ledger.post([(FEES, DEFAULT_FUND, share, "DEFAULT_FUND_SHARE", Ref(reference=f"{symbol}:{self.today}"))],
                        now_ns)
        groups: dict[str, list[Position]] = {}
        for key in sorted(self.positions):
            groups.setdefault(key[1], []).append(self.positions[key])
        self.day_variation = []
        for symbol in sorted(self.markets):
            if symbol not in prices:
                continue
            m, price = self.markets[symbol], prices[symbol]
            group = groups.get(symbol, [])
            units = [p.net * price - p.start_net * m.settle + p.flow for p in group]
            amounts = _apportion([u * self.lot_kg[symbol] for u in units], 1_000)
            self._pay(ledger, symbol, group, amounts, now_ns)
            lower, upper = limits[symbol]
            m.locked = last_trade.get(symbol) in (lower, upper) and upper > lower
            m.settle = price
            for p in group:
                p.start_net, p.flow, p.opened_today = p.net, 0, 0
        return self.day_variation

    @property
    def today(self) -> int:
        return self.calendar.trading_date

    def _pay(self, ledger: Ledger, symbol: str, group: list[Position], amounts: list[int], now_ns: int) -> None:
        """Collect the losers' variation (cash, then margin, then the default fund, then fees),
        then pay the winners what was collected."""
        ref = Ref(reference=f"{symbol}:{self.today}")
        uncovered = 0
        for p, amount in zip(group, amounts, strict=True):
            if amount < 0:
                uncovered += self._collect(ledger, p, -amount, ref, now_ns)
        gains = [(p, a) for p, a in zip(group, amounts, strict=True) if a > 0]
        cuts = _apportion_cut([a for _, a in gains], uncovered)
        for (p, amount), cut in zip(gains, cuts, strict=True):
            ledger.post([(SETTLEMENT, cash(p.member), amount - cut, "VARIATION", ref)], now_ns)
        for p, amount in zip(group, amounts, strict=True):
            if amount:
                self.day_variation.append(Variation(member=p.member, symbol=symbol, amount=amount))

    def _collect(self, ledger: Ledger, p: Position, owed: int, ref: Ref, now_ns: int) -> int:
        """Take ``owed`` from a loser; return what nobody could cover."""
        from_cash = min(owed, ledger.balance(cash(p.member)))
        from_margin = min(owed - from_cash, ledger.balance(margin(p.member)))
        legs = [(cash(p.member), SETTLEMENT, from_cash, "VARIATION", ref),
                (margin(p.member), SETTLEMENT, from_margin, "VARIATION", ref)]
        rest = owed - from_cash - from_margin
        for source in (DEFAULT_FUND, FEES):
            if rest:
                drawn = min(rest, ledger.balance(source))
                legs.append((source, SETTLEMENT, drawn, "DEFAULT_FUND_DRAW" if source == DEFAULT_FUND else "FEE_DRAW",
                             ref))
                self._draw(p, drawn, source)
                rest -= drawn
        ledger.post(legs, now_ns)
        if rest:
            self._draw(p, rest, "uncovered")
        if owed > from_cash + from_margin:
            self.credit.record(p.member, "payment_default", f"variation:{p.symbol}:{self.today}", now_ns,
                               owed - from_cash - from_margin, "daily settlement loss beyond cash and margin")
        return rest

    def _draw(self, p: Position, amount: int, source: str) -> None:
        if amount:
            self.draws.append(FundDraw(day=self.calendar.day, member=p.member, symbol=p.symbol,
                                       amount=amount, source=source))

    def remark(self, ledger: Ledger, open_minutes: dict[str, int], now_ns: int) -> list[MarginCallDue]:
        """After the calendar rolled: margin re-marked at the settlement prices and the new
        day's rates; a member short of cash is called, due ``call_grace_minutes`` after its
        earliest session opens (``open_minutes``: symbol -> minute of the Beijing day)."""
        timers = []
        for member in sorted(self.by_member):
            short = self.sync(ledger, member, Ref(reference=f"remark:{self.today}"), now_ns)
            if not short or member in self.open_call:
                continue
            symbols = self.by_member[member]
            minute = min(open_minutes.get(s, 540) + self.terms[s].call_grace_minutes for s in symbols)
            deadline = day_number(self.today) * DAY_NS - BEIJING_OFFSET_NS + minute * MINUTE_NS
            call = MarginCall(call_id=len(self.calls) + 1, member=member, day=self.calendar.day,
                              amount=short, deadline_ns=max(deadline, now_ns))
            self.calls[call.call_id] = call
            self.open_call[member] = call.call_id
            self.notices.append((member, {"type": "margin_call", "call_id": call.call_id, "state": "open",
                                          "amount": short, "deadline_ns": call.deadline_ns}))
            timers.append(MarginCallDue(call_id=call.call_id))
        return timers

    def due(self, ledger: Ledger, call_id: int, now_ns: int) -> bool:
        """A call's deadline: True when it is unmet and the member is to be liquidated."""
        call = self.calls.get(call_id)
        if call is None or call.state != "open":
            return False
        short = self.sync(ledger, call.member, Ref(reference=f"call:{call_id}"), now_ns)
        if not short:
            return False
        call.state = "liquidating"
        self.credit.record(call.member, "forced_liquidation", f"call:{call_id}", now_ns, short,
                           "margin call unmet at its deadline")
        self.notices.append((call.member, {"type": "margin_call", "call_id": call_id, "state": "liquidating",
                                           "shortfall": short}))
        return True

    def free_for_fees(self, ledger: Ledger, member: str, need: int, now_ns: int) -> None:
        """Move margin to cash so a liquidation order's commission hold can be taken."""
        move = min(max(0, need - ledger.balance(cash(member))), ledger.balance(margin(member)))
        ledger.post([(margin(member), cash(member), move, "MARGIN_RELEASE", Ref(reference="liquidation-fees"))],
                    now_ns)

    # -------------------------------------------------------------- state

    def state_hash(self) -> str:
        data = msgspec.msgpack.encode([
            [self.positions[k] for k in sorted(self.positions)], sorted(self.orders.items()),
            sorted(self.markets.items()), [self.calls[k] for k in sorted(self.calls)],
            sorted(self.liquidation_orders.items()), self.draws,
        ])
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def check(self, engine, ledger: Ledger) -> None:
        """Assert: positions net to zero per instrument, open orders' leaves match the book,
        margin never above the requirement, a shortfall only under a call."""
        nets: dict[str, int] = {}
        for (member, symbol), p in self.positions.items():
            nets[symbol] = nets.get(symbol, 0) + p.net
            assert p.buy_leaves >= 0 and p.sell_leaves >= 0, f"{member} {symbol}: negative leaves"
        assert not any(nets.values()), f"positions do not net to zero: {nets}"
        for order_id, (*_, leaves) in self.orders.items():
            order = engine.orders.get(order_id)
            assert order is not None and order.visible + order.hidden == leaves, f"order {order_id}: leaves differ"
        for member in self.by_member:
            held, need = ledger.balance(margin(member)), self.requirement(member)
            assert held <= need, f"{member} holds {held} fen of margin, needs {need}"
            assert held == need or member in self.open_call or ledger.balance(cash(member)) == 0, \
                f"{member} is short of margin with cash and no call"


def _apportion(values: list[int], unit: int) -> list[int]:
    """``values`` / ``unit`` rounded so the results sum to ``sum(values) // unit``: floors,
    then one more to the largest remainders (earlier first on ties).

    >>> _apportion([1_500, -1_500], 1_000), _apportion([2_500, -1_250, -1_250], 1_000)
    ([2, -2], [2, -1, -1])
    """
    floors = [v // unit for v in values]
    extra = sum(values) // unit - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i] * unit), i))
    for i in order[:extra]:
        floors[i] += 1
    return floors


def _apportion_cut(gains: list[int], cut: int) -> list[int]:
    """Split a loss nobody could cover over the winners, in proportion to their gains."""
    total = sum(gains)
    if not cut or not total:
        return [0] * len(gains)
    return _apportion([g * cut for g in gains], total)
