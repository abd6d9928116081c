"""Clearing: pre-trade cash holds, delivery versus payment of fills, commission, funding and
end of day, on the ledger. Deterministic and I/O-free like the engine; the sequencer calls it
for every command, so a journal replay rebuilds the same ledger.

Holds. Every open order that may need cash has a hold equal to its *need*, kept as the
ledger's pending transfer of that order's id (its amount sits in ``held:M``):
leaves × the most one lot can cost. For a buy on a receipt-backed (spot) instrument a lot
costs at most (limit price + the premium table's largest premium) × the heaviest deliverable
receipt + the largest commission; a spot sell needs nothing (its commission comes out of the
proceeds); on other instruments either side needs only its largest commission. Holds are
resized to the need after every event, so held cash always equals the open orders' needs,
and a fill can never cost more than its hold.
"""

from collections.abc import Mapping

import msgspec

from clearing.forwards import FundDraw, MarginCall, Position, Variation
from clearing.ledger import BANK, FEES, MAX_AMOUNT, Ledger, LedgerLimit, Overdraft, Ref, cash, ceil_div, held
from engine import Accepted, Amended, AmendOrder, Cancelled, Engine, Event, NewOrder, Trade
from warehouse_receipts.grading import table_for, value_fen
from warehouse_receipts.registry import Registry

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}


class Funding(msgspec.Struct, **_OPTS):
    """Money paid in or out for ``member``, recorded by clearing staff (``actor``)."""

    actor: str
    member: str
    amount: int
    reference: str


class Deposit(Funding, tag="deposit"):
    pass


class Withdraw(Funding, tag="withdraw"):
    pass


class Fees(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Commission charged to each side of a fill: ``per_lot`` fen a lot plus ``rate_ppm``
    millionths of the fill's value (rounded half up to the fen)."""

    per_lot: int = 0
    rate_ppm: int = 0


class SetFees(msgspec.Struct, tag="set_fees", **_OPTS):
    """Commission on ``symbol``, charged to each side of a fill: ``per_lot`` fen a lot plus
    ``rate_ppm`` millionths of the fill's value (rounded half up to the fen)."""

    actor: str
    symbol: str
    per_lot: int = 0
    rate_ppm: int = 0


class EndOfDay(msgspec.Struct, tag="end_of_day", **_OPTS):
    """Close the trading day: settlement prices (VWAP of the last ``window_ns`` of trades, else
    the last trade, else the reference), DAY orders expire, reports are drawn up."""

    actor: str
    window_ns: int = 3_600_000_000_000


ClearingCommand = Deposit | Withdraw | SetFees | EndOfDay


class ClearingRejected(msgspec.Struct):
    code: str
    message: str


class FundingRecord(msgspec.Struct, kw_only=True):
    """A deposit or withdrawal as booked; a retry with the same (member, reference) gets this
    first answer back and moves no money."""

    kind: str
    member: str
    amount: int
    reference: str
    transfer_id: int


class OpenOrder(msgspec.Struct, kw_only=True, gc=False):
    """An order that holds cash, with the most one of its lots can cost at its current price."""

    member: str
    symbol: str
    side: str
    price: int
    need_per_lot: int


class DayTrade(msgspec.Struct, kw_only=True, gc=False):
    trade_id: int
    symbol: str
    price: int
    quantity: int
    buyer: str
    seller: str
    value: int
    buyer_fee: int
    seller_fee: int
    receipts: int
    ts_ns: int


class InstrumentSettlement(msgspec.Struct, kw_only=True):
    symbol: str
    settlement_price: int
    trades: int
    volume_lots: int
    turnover: int


class MemberSettlement(msgspec.Struct, kw_only=True):
    member: str
    bought_lots: int = 0
    sold_lots: int = 0
    bought_value: int = 0
    sold_value: int = 0
    fees: int = 0
    deposits: int = 0
    withdrawals: int = 0
    receipts_in: int = 0
    receipts_out: int = 0
    warehouse_cash: int = 0  # storage fees and inbound deposits: received (+) by a warehouse, paid (−)
    net_cash: int = 0
    cash_available: int = 0
    cash_held: int = 0
    # the member's money at the exchange (cash, held, margin, bulk escrow) before and after the
    # day, and every move of it from or to another party, net by transfer code (trades, fees,
    # bulk-supply deals, forfeits, loans, variation, storage …): opening + Σ flows = closing
    opening_balance: int = 0
    closing_balance: int = 0
    flows: dict[str, int] = {}


class SettlementReport(msgspec.Struct, kw_only=True):
    day: int
    ts_ns: int
    trading_date: int = 0  # yyyymmdd of the day closed
    instruments: list[InstrumentSettlement]
    members: list[MemberSettlement]
    fee_revenue: int
    turnover: int
    positions: list[Position] = []  # margined forwards: open positions after settlement
    variation: list[Variation] = []  # the day's variation per member and instrument (sums to 0 each)
    margin_calls: list[MarginCall] = []  # calls made at this end of day
    fund_draws: list[FundDraw] = []  # losses beyond a member's cash and margin, and who covered them
    deliveries: list[dict] = []  # forward delivery lines settled at this end of day (clearing.delivery)


def receipt_value(registry: Registry, table, receipt, price: int) -> int:
    """What a delivered receipt is paid: (price + its premium − any old-crop discount) × its
    weight, never below zero (``table`` None: no grade premium)."""
    return paid(price, registry.premium(receipt, table), receipt.quantity_kg)


def paid(price: int, premium: int, kg: int) -> int:
    """What ``kg`` are paid at ``price`` plus ``premium`` fen a tonne, never below zero."""
    return max(0, value_fen(price, premium, kg))


def fee_of(per_lot: int, rate_ppm: int, lots: int, value: int) -> int:
    return per_lot * lots + (value * rate_ppm * 2 + 1_000_000) // 2_000_000




class Clearing:
    """Ledger, holds, fees, the day's trades and the settlement reports."""

    def __init__(self, fees: Mapping[str, tuple[int, int]] | None = None) -> None:
        self.ledger = Ledger()
        self.fees = fees if fees is not None else {}  # symbol -> (per lot, ppm): the catalogue's view
        self.orders: dict[int, OpenOrder] = {}
        self.day_trades: list[DayTrade] = []
        self.day_funding: dict[str, list[int]] = {}  # member -> [deposits, withdrawals] today
        self.reports: list[SettlementReport] = []
        self.funding: dict[tuple[str, str], FundingRecord] = {}  # (member, reference) -> first answer
        self.deposited = 0
        self.withdrawn = 0

    # -------------------------------------------------------------- needs

    def per_lot_need(self, engine: Engine, registry: Registry, symbol: str, side: str, price: int) -> int:
        """The most one lot of an order can cost its member (see the module docstring)."""
        inst = engine.instruments[symbol]
        per_lot, ppm = self.fees.get(symbol, (0, 0))
        spec = registry.specs.get(symbol)
        if spec is not None:
            max_kg = inst.lot_size * (10_000 + spec.tolerance_bps) // 10_000
            max_value = ceil_div(max(0, price + table_for(spec.commodity, spec.table).max_premium()) * max_kg, 1_000)
            fee = per_lot + ceil_div(max_value * ppm, 1_000_000)
            return max_value + fee if side == "buy" else 0
        value = ceil_div(max(0, price) * inst.lot_size, 1_000)
        return per_lot + ceil_div(value * ppm, 1_000_000)

    def needs_cash(self, registry: Registry, symbol: str) -> bool:
        """Whether orders on ``symbol`` can need a hold at all (fees or delivery)."""
        return symbol in self.fees or symbol in registry.specs

    def available(self, member: str) -> int:
        return self.ledger.balance(cash(member))

    def extra_hold(self, engine: Engine, registry: Registry, cmd: NewOrder | AmendOrder) -> int:
        """What an order (or amendment) would add to its member's held cash."""
        if not self.fees and not registry.specs:  # no instrument needs a hold (see needs_cash)
            return 0
        if type(cmd) is NewOrder:
            if not self.needs_cash(registry, cmd.symbol) or cmd.symbol not in engine.instruments or cmd.quantity <= 0:
                return 0
            price = cmd.price if cmd.order_type == "limit" else engine.market_limit_price(cmd.symbol, cmd.side)
            if not price or price <= 0:
                return 0
            return cmd.quantity * self.per_lot_need(engine, registry, cmd.symbol, cmd.side, price)
        order = engine.orders.get(cmd.order_id)
        if order is None or order.member != cmd.member or cmd.price < 0 or cmd.quantity < 0 \
                or not self.needs_cash(registry, order.symbol):
            return 0
        leaves = (cmd.quantity or order.quantity) - order.filled
        if leaves <= 0:
            return 0
        need = leaves * self.per_lot_need(engine, registry, order.symbol, order.side, cmd.price or order.price)
        return need - self.ledger.reserved(order.order_id)

    def check_funds(self, engine: Engine, registry: Registry, cmd: NewOrder | AmendOrder) -> ClearingRejected | None:
        """Refuse an order (or amendment) whose extra hold exceeds the member's available cash."""
        extra = self.extra_hold(engine, registry, cmd)
        if extra <= 0:  # nothing more to hold (available cash is never negative: the ledger keeps it so)
            return None
        if extra > self.available(cmd.member):
            return ClearingRejected("INSUFFICIENT_FUNDS",
                                    f"the order needs {extra} fen held, {self.available(cmd.member)} fen available")
        return None

    def _set_hold(self, order_id: int, target: int, ts_ns: int) -> None:
        self.ledger.reserve(order_id, self.orders[order_id].member, target, ts_ns)

    def _resize(self, engine: Engine, registry: Registry, order_id: int, leaves: int, ts_ns: int) -> None:
        order = self.orders.get(order_id)
        if order is None:
            return
        self._set_hold(order_id, leaves * order.need_per_lot, ts_ns)
        if not leaves:
            del self.orders[order_id]

    # -------------------------------------------------------------- after the engine

    def follow(self, engine: Engine, registry: Registry, events: list[Event], delivered: dict[int, list[str]],
               ts_ns: int) -> None:
        """Holds and settlement for one command's engine events."""
        if not self.orders and not self.fees and not registry.specs:  # no holds, none to come: fills only
            for e in events:
                if type(e) is Trade:
                    self._settle(engine, registry, e, delivered.get(e.trade_id, []), ts_ns)
            return
        for e in events:
            kind = type(e)
            if kind is Trade:
                self._settle(engine, registry, e, delivered.get(e.trade_id, []), ts_ns)
                self._resize(engine, registry, e.buy_order_id, e.buy_leaves, ts_ns)
                self._resize(engine, registry, e.sell_order_id, e.sell_leaves, ts_ns)
            elif kind is Accepted:
                if self.needs_cash(registry, e.symbol):
                    need = self.per_lot_need(engine, registry, e.symbol, e.side, e.price)
                    if need:
                        self.orders[e.order_id] = OpenOrder(member=e.member, symbol=e.symbol, side=e.side,
                                                            price=e.price, need_per_lot=need)
                        self._resize(engine, registry, e.order_id, e.quantity, ts_ns)
            elif kind is Amended:
                order = self.orders.get(e.order_id)
                if order is not None:
                    if order.price != e.price:
                        order.price = e.price
                        order.need_per_lot = self.per_lot_need(engine, registry, order.symbol, order.side, e.price)
                    self._resize(engine, registry, e.order_id, e.leaves, ts_ns)
            elif kind is Cancelled and e.order_id in self.orders:
                self._resize(engine, registry, e.order_id, 0, ts_ns)

    def _settle(self, engine: Engine, registry: Registry, t: Trade, receipt_ids: list[str], ts_ns: int) -> None:
        """Delivery versus payment of one fill, with commission on both sides."""
        per_lot, ppm = self.fees.get(t.symbol, (0, 0))
        ref = Ref(trade_id=t.trade_id)
        spec = registry.specs.get(t.symbol)
        if spec is not None:
            table = table_for(spec.commodity, spec.table)
            value = sum(receipt_value(registry, table, registry.receipts[r], t.price) for r in receipt_ids)
            buyer_fee = seller_fee = fee_of(per_lot, ppm, t.quantity, value)
            legs = [(held(t.buyer), cash(t.seller), value, "DVP", ref),
                    (held(t.buyer), FEES, buyer_fee, "FEE", ref),
                    (cash(t.seller), FEES, seller_fee, "FEE", ref)]
            self.ledger.post(legs, ts_ns, spend={t.buy_order_id: value + buyer_fee})  # out of the order's hold
        else:
            value = t.price * t.quantity * engine.instruments[t.symbol].lot_size // 1_000
            buyer_fee = seller_fee = fee_of(per_lot, ppm, t.quantity, value)
            if buyer_fee:  # without one, a fill of goods not delivered through receipts moves no money
                legs = [(held(t.buyer), FEES, buyer_fee, "FEE", ref), (held(t.seller), FEES, seller_fee, "FEE", ref)]
                self.ledger.post(legs, ts_ns, spend={t.buy_order_id: buyer_fee, t.sell_order_id: seller_fee})
        self.day_trades.append(DayTrade(trade_id=t.trade_id, symbol=t.symbol, price=t.price, quantity=t.quantity,
                                        buyer=t.buyer, seller=t.seller, value=value, buyer_fee=buyer_fee,
                                        seller_fee=seller_fee, receipts=len(receipt_ids), ts_ns=ts_ns))

    # -------------------------------------------------------------- funding and fees

    def apply_funding(self, cmd: Deposit | Withdraw, now_ns: int) -> FundingRecord | ClearingRejected:
        """Book a deposit or withdrawal once per (member, reference): a retry gets the first
        answer back; the same reference for a different movement is refused."""
        kind = type(cmd).__struct_config__.tag
        first = self.funding.get((cmd.member, cmd.reference))
        if first is not None:
            if (first.kind, first.amount) != (kind, cmd.amount):
                return ClearingRejected("DUPLICATE_REFERENCE",
                                        f"reference {cmd.reference!r} already booked a {first.kind} of {first.amount}")
            return first
        if not 0 < cmd.amount <= MAX_AMOUNT:
            return ClearingRejected("INVALID_AMOUNT", f"the amount must be positive and at most {MAX_AMOUNT} fen")
        ref = Ref(reference=cmd.reference)
        deposit = isinstance(cmd, Deposit)
        leg = (BANK, cash(cmd.member), cmd.amount, "DEPOSIT", ref) if deposit else \
            (cash(cmd.member), BANK, cmd.amount, "WITHDRAWAL", ref)
        try:
            transfer = self.ledger.post([leg], now_ns)[0]
        except LedgerLimit as e:
            return ClearingRejected("LIMIT_EXCEEDED", str(e))
        except Overdraft:
            return ClearingRejected("INSUFFICIENT_FUNDS",
                                    f"{cmd.amount} fen asked, {self.available(cmd.member)} fen available")
        funding = self.day_funding.setdefault(cmd.member, [0, 0])
        funding[0 if deposit else 1] += cmd.amount
        if deposit:
            self.deposited += cmd.amount
        else:
            self.withdrawn += cmd.amount
        record = self.funding[(cmd.member, cmd.reference)] = FundingRecord(
            kind=kind, member=cmd.member, amount=cmd.amount, reference=cmd.reference,
            transfer_id=transfer.transfer_id)
        return record

    # -------------------------------------------------------------- end of day

    def settlement_price(self, engine: Engine, symbol: str, now_ns: int, window_ns: int) -> int:
        """VWAP of the day's trades in the last ``window_ns``, else the last trade, else the
        reference price; rounded half up to the tick."""
        inst = engine.instruments[symbol]
        trades = [t for t in self.day_trades if t.symbol == symbol]
        recent = [t for t in trades if t.ts_ns >= now_ns - window_ns]
        if recent:
            lots = sum(t.quantity for t in recent)
            vwap2 = 2 * sum(t.price * t.quantity for t in recent) // lots  # twice the VWAP, floored
            price = (vwap2 + 1) // 2
        elif trades:
            price = trades[-1].price
        else:
            return inst.ref_price
        return (price * 2 + inst.tick) // (2 * inst.tick) * inst.tick

    def report(self, engine: Engine, day: int, ts_ns: int, prices: dict[str, int],
               trading_date: int = 0, warehouse_cash: dict[str, int] | None = None) -> SettlementReport:
        """The day's settlement report, per instrument and per member."""
        members: dict[str, MemberSettlement] = {}

        def row(member: str) -> MemberSettlement:
            if member not in members:
                members[member] = MemberSettlement(member=member)
            return members[member]

        spot_cash: dict[str, int] = {}  # member -> paid out (−) and received (+) for delivered receipts
        for t in self.day_trades:
            b, s = row(t.buyer), row(t.seller)
            if t.receipts:
                spot_cash[t.buyer] = spot_cash.get(t.buyer, 0) - t.value
                spot_cash[t.seller] = spot_cash.get(t.seller, 0) + t.value
            b.bought_lots += t.quantity
            b.bought_value += t.value
            b.fees += t.buyer_fee
            b.receipts_in += t.receipts
            s.sold_lots += t.quantity
            s.sold_value += t.value
            s.fees += t.seller_fee
            s.receipts_out += t.receipts
        for member, (deposits, withdrawals) in self.day_funding.items():
            r = row(member)
            r.deposits, r.withdrawals = deposits, withdrawals
        for member, fen in (warehouse_cash or {}).items():
            row(member).warehouse_cash = fen
        for member, flows in self.ledger.member_flows().items():
            row(member).flows = flows
        for r in members.values():
            r.net_cash = r.deposits - r.withdrawals + spot_cash.get(r.member, 0) - r.fees + r.warehouse_cash
            r.cash_available = self.ledger.balance(cash(r.member))
            r.cash_held = self.ledger.balance(held(r.member))
            r.closing_balance = self.ledger.member_balance(r.member)
            r.opening_balance = r.closing_balance - sum(r.flows.values())
        instruments = []
        for symbol in sorted(prices):
            trades = [t for t in self.day_trades if t.symbol == symbol]
            instruments.append(InstrumentSettlement(symbol=symbol, settlement_price=prices[symbol],
                                                    trades=len(trades), volume_lots=sum(t.quantity for t in trades),
                                                    turnover=sum(t.value for t in trades)))
        return SettlementReport(day=day, ts_ns=ts_ns, trading_date=trading_date, instruments=instruments,
                                members=[members[m] for m in sorted(members)],
                                fee_revenue=sum(t.buyer_fee + t.seller_fee for t in self.day_trades),
                                turnover=sum(t.value for t in self.day_trades))

    def check_reports(self) -> None:
        """Assert that each report's members open where they last closed (0 before their first
        row): every fen that moved a member's money is in some day's flows."""
        closed: dict[str, int] = {}
        for report in self.reports:
            for r in report.members:
                assert r.opening_balance == closed.get(r.member, 0), \
                    f"day {report.day}: {r.member} opens at {r.opening_balance}, closed at {closed.get(r.member, 0)}"
                closed[r.member] = r.closing_balance

    def close_day(self, report: SettlementReport) -> None:
        self.reports.append(report)
        self.ledger.new_day()
        self.day_trades = []
        self.day_funding = {}
