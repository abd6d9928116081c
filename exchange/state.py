"""Everything the sequencer folds a journal entry into: the engine (books), the receipt
registry, clearing (ledger and holds) and the order views. ``apply`` is the one path for live
commands and for replay, so both produce the same state, timestamps included (they come
from the journal).

For a trading command the pipeline is exchange-core's: risk (receipts for spot sells, cash
for orders that need it) → matching → receipts follow the events → clearing settles and
resizes holds → order views.
"""

import hashlib
from typing import get_args

import msgspec

from clearing.core import Clearing, ClearingRejected, EndOfDay, SetFees, SettlementReport
from clearing.financing import LIQUIDATOR, Financing, FinancingCommand, FinancingRejected
from engine import (
    Accepted,
    AmendOrder,
    Cancelled,
    Command,
    Engine,
    Event,
    NewOrder,
    SetReferencePrice,
    SetSession,
    Trade,
)
from exchange.journal import Entry
from exchange.marketinfo import MarketInfo
from exchange.views import OrderRecord, OrderViews
from warehouse_receipts.backing import follow, receipts_needed
from warehouse_receipts.registry import ReceiptCommand, ReceiptEvent, ReceiptRejected, Registry, SetDeliverySpec

Outcome = list[ReceiptEvent] | ReceiptRejected | ClearingRejected | FinancingRejected | SettlementReport | object


class Result:
    """What one command did: engine events, the order view a new order created, and the
    outcome of the non-engine step (receipt events, a report, or a rejection). ``duplicate``
    marks a retried client order id: nothing was applied or journaled."""

    __slots__ = ("events", "view", "outcome", "duplicate")

    def __init__(self, events: list[Event], view: OrderRecord | None, outcome: Outcome = None,
                 duplicate: bool = False) -> None:
        self.events = events
        self.view = view
        self.outcome = outcome
        self.duplicate = duplicate

    @property
    def rejection(self) -> ReceiptRejected | ClearingRejected | FinancingRejected | None:
        return self.outcome if isinstance(self.outcome, ReceiptRejected | ClearingRejected | FinancingRejected) \
            else None


_TRADING = (NewOrder, AmendOrder)
_ENGINE_COMMANDS = frozenset(get_args(Command))
_RECEIPT_COMMANDS = frozenset(get_args(ReceiptCommand))
_FINANCING_COMMANDS = frozenset(get_args(FinancingCommand))


class ExchangeState:
    """Engine + registry + clearing + order views, advanced one journal entry at a time."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.registry = Registry()
        self.clearing = Clearing()
        self.views = OrderViews()
        self.market = MarketInfo()
        self.financing = Financing()

    def apply(self, entry: Entry, entry_no: int, ts_ns: int) -> Result:
        """Apply one journaled command."""
        cmd = entry.command
        kind = type(cmd)
        if kind in _ENGINE_COMMANDS:
            result = self._trade(entry, entry_no, ts_ns)
            if kind is SetSession:
                result.events = result.events + self._place_liquidations(entry_no, ts_ns)
            return result
        if kind is EndOfDay:
            events: list[Event] = []
            report = self._end_of_day(entry, entry_no, events)
            return Result(events, None, report)
        if kind in _FINANCING_COMMANDS:
            return Result([], None, self.financing.apply(cmd, self.registry, self.engine, self.clearing.ledger))
        if (kind is SetFees or kind is SetDeliverySpec) and any(
                o.symbol == cmd.symbol for o in self.engine.orders.values()):
            # open orders' holds and receipts were sized under the old terms
            return Result([], None, ClearingRejected("OPEN_ORDERS", f"{cmd.symbol} has open orders"))
        if kind in _RECEIPT_COMMANDS:
            return Result([], None, self.registry.apply(cmd))
        spot = getattr(cmd, "symbol", "") in self.registry.specs
        return Result([], None, self.clearing.apply_funding(cmd, spot=spot))

    def _trade(self, entry: Entry, entry_no: int, ts_ns: int) -> Result:
        """An engine command through the pipeline: risk → match → receipts → clearing → views."""
        cmd = entry.command
        to_lock: list[str] = []
        if isinstance(cmd, _TRADING):
            needed = receipts_needed(self.registry, self.engine, cmd, entry.receipt_ids)
            refused = needed if isinstance(needed, ReceiptRejected) else \
                self.clearing.check_funds(self.engine, self.registry, cmd)
            if refused is not None:
                view = self.views.reject(entry, refused.code) if isinstance(cmd, NewOrder) else None
                return Result([], view, refused)
            to_lock = needed or []
        events = self.engine.apply(cmd)
        self._follow(events, to_lock, ts_ns)
        return Result(events, self.views.apply(entry, events, entry_no))

    def _place_liquidations(self, entry_no: int, ts_ns: int) -> list[Event]:
        """Sell collateral awaiting liquidation on instruments whose session is open: one GTC
        order a receipt at the lower band limit, by clearing's liquidation account."""
        events: list[Event] = []
        for loan in self.financing.loans.values():
            if not loan.to_sell:
                continue
            spec = self.registry.spot_spec(loan.commodity, self.engine.instruments)
            if spec is None or self.engine.instruments[spec.symbol].session not in ("continuous", "pre_open"):
                continue
            symbol, inst = spec.symbol, self.engine.instruments[spec.symbol]
            for receipt_id in list(loan.to_sell):
                order = NewOrder(member=LIQUIDATOR, symbol=symbol, side="sell", quantity=1, price=inst.lower)
                result = self._trade(Entry(order, f"liquidation-{loan.loan_id}-{receipt_id}", [receipt_id]),
                                     entry_no, ts_ns)
                events += result.events
                accepted = next((e for e in result.events if type(e) is Accepted), None)
                if accepted is None:
                    continue  # stays pending: tried again when the session next opens
                loan.to_sell.remove(receipt_id)  # before its fills: the last close settles the loan
                loan.liquidation_orders.append(accepted.order_id)
                self.financing.order_loan[accepted.order_id] = loan.loan_id
                self._after_liquidation_events(result.events, ts_ns)  # it may have traded at once
        return events

    def _follow(self, events: list[Event], to_lock: list[str], ts_ns: int) -> None:
        delivered = follow(self.registry, events, to_lock, ts_ns)
        self.clearing.follow(self.engine, self.registry, events, delivered, ts_ns)
        if self.financing.order_loan:
            self._after_liquidation_events(events, ts_ns)
        for e in events:
            if type(e) is Trade:
                self.market.record(e, self.engine.instruments[e.symbol].lot_size, ts_ns,
                                   e.symbol not in self.registry.specs)

    def _after_liquidation_events(self, events: list[Event], ts_ns: int) -> None:
        """Route liquidation fills' net proceeds to the loan; settle loans whose orders are done."""
        financing, clearing = self.financing, self.clearing
        for e in events:
            kind = type(e)
            if kind is Trade and e.sell_order_id in financing.order_loan:
                fill = next(t for t in reversed(clearing.day_trades) if t.trade_id == e.trade_id)
                financing.on_liquidation_fill(e.sell_order_id, fill.value - fill.seller_fee, clearing.ledger, ts_ns)
                if not e.sell_leaves:
                    financing.on_liquidation_closed(e.sell_order_id, ts_ns)
            elif kind is Cancelled and e.order_id in financing.order_loan:
                financing.on_liquidation_closed(e.order_id, ts_ns)

    def _end_of_day(self, entry: Entry, entry_no: int, published: list[Event]) -> SettlementReport:
        cmd: EndOfDay = entry.command
        engine, clearing = self.engine, self.clearing
        prices = {s: clearing.settlement_price(engine, s, cmd.ts_ns, cmd.window_ns) for s in sorted(engine.instruments)}
        for symbol in sorted(engine.instruments):
            if engine.instruments[symbol].session != "closed":
                events = engine.apply(SetSession(symbol, "closed"))  # DAY orders expire
                self._follow(events, [], cmd.ts_ns)
                self.views.apply(entry, events, entry_no)
                published.extend(events)
            if prices[symbol] != engine.instruments[symbol].ref_price:
                engine.apply(SetReferencePrice(symbol, prices[symbol]))
        report = clearing.report(engine, len(clearing.reports) + 1, cmd.ts_ns, prices)
        clearing.close_day(report)
        self.financing.end_of_day(self.registry, engine, cmd.ts_ns)  # marks at the new settlement prices
        self.market.close_day(prices, {s for s in engine.instruments if s not in self.registry.specs})
        return report

    def state_hash(self) -> str:
        """Digest of books, receipts and the ledger: equal on any two states reached by the
        same journal."""
        registry, clearing = self.registry, self.clearing
        rest = msgspec.msgpack.encode([
            registry.seq, registry.next_number, sorted(registry.specs.items()),
            # a receipt's inspection data is fixed at issue; what can change is hashed
            [(r.receipt_id, r.owner, r.state, r.pledgee, r.order_id, r.version, r.quantity_kg)
             for r in (registry.receipts[k] for k in sorted(registry.receipts))],
            clearing.ledger.next_id, [clearing.ledger.accounts[k] for k in sorted(clearing.ledger.accounts)],
            sorted((k, p.amount) for k, p in clearing.ledger.pending.items()), sorted(clearing.fees.items()),
            len(clearing.reports),
            [self.financing.loans[k] for k in sorted(self.financing.loans)], self.financing.day,
        ])
        return self.engine.state_hash() + hashlib.blake2b(rest, digest_size=8).hexdigest()
