"""The pipeline: which stages each kind of command passes through, as a dispatch table.

A trading command (new order, amend, cancel, mass cancel, session, reference price) runs
exchange-core's processors in order:

    risk      receipts for spot sells, cash for orders that need a hold; on a margined forward
              the trading window, position and opening limits, and margin; may refuse
    match     the engine: events with a gap-free sequence
    receipts  the registry follows the events (lock, deliver, unlock)
    clearing  holds resized, fills settled by delivery versus payment, commission
    forwards  positions and margin follow the events (clearing.forwards)
    loans     liquidation fills repay their loans
    market    trade prints and the day's statistics
    views     order views and the client-order-id index

A session opening also places the pending forced sales (loans) and forced closes (forward
margin calls). Every other command goes to the one component that owns it (catalogue,
registry, clearing, financing, delivery, bulk supply, clock, end of day). ``HANDLERS`` maps
each command type to its handler; the state machine dispatches on ``type(command)`` alone.
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, get_args

import msgspec

from clearing.core import Deposit, EndOfDay, FundingRecord, SetFees, Withdraw
from clearing.delivery import DeliveryCommand
from clearing.disputes import DisputeCommand
from clearing.financing import LIQUIDATOR, FinancingCommand
from clearing.forwards import MarginCallDue
from clearing.inbound import Declaration, DeclarationDue, DeclareInbound, InboundCommand
from clearing.ledger import ceil_div
from clearing.warehousing import SetTariff
from engine import (
    Accepted,
    AddInstrument,
    AmendOrder,
    Cancelled,
    CancelOrder,
    Event,
    MassCancel,
    NewOrder,
    SetSession,
    Trade,
)
from engine import Command as EngineCommand
from exchange import bulk
from exchange.calendar import SetHolidays, bad_dates
from exchange.catalogue import CatalogueRejected, SetInstrument
from exchange.clock import ClockTick, ScheduleSession
from exchange.journal import Entry
from exchange.result import Result
from warehouse_receipts.backing import follow, receipts_needed
from warehouse_receipts.dates import MAX_TIME_NS
from warehouse_receipts.expiry import ReceiptDue
from warehouse_receipts.registry import LOCKED, ReceiptCommand, ReceiptRejected, ReleaseReceipt, SetDeliverySpec
from warehouse_receipts.warehouse import ReleaseDue, ReleaseOrder, RequestRelease, WarehouseCommand

if TYPE_CHECKING:
    from exchange.state import ExchangeState

_TRADING = (NewOrder, AmendOrder)


class Ctx(msgspec.Struct, gc=False):
    """One command's context: its journal entry number and the batch time."""

    entry_no: int
    now_ns: int


# ------------------------------------------------------------------ trading stages

def risk(state: "ExchangeState", entry: Entry) -> tuple[Sequence[str], object]:
    """Receipts to lock behind a new order or amendment (a sell) and the funds check:
    (receipts, refusal or None)."""
    cmd = entry.command
    registry, clearing, margined = state.registry, state.clearing, state.catalogue.margined
    if not registry.specs and not clearing.fees and not margined:  # no receipts, holds or margin anywhere
        return (), None
    needed = receipts_needed(registry, state.engine, cmd, entry.receipt_ids) if registry.specs else None
    if isinstance(needed, ReceiptRejected):
        return (), needed
    forwards = state.forwards
    if margined and (cmd.symbol if type(cmd) is NewOrder else _order_symbol(state, cmd)) in margined:
        fee_extra = clearing.extra_hold(state.engine, state.registry, cmd)
        return (), forwards.admit(state.engine, cmd, fee_extra, clearing.available(cmd.member))
    return needed or (), clearing.check_funds(state.engine, state.registry, cmd)


def _order_symbol(state: "ExchangeState", cmd: AmendOrder) -> str:
    order = state.engine.orders.get(cmd.order_id)
    return order.symbol if order is not None else ""


def settle(state: "ExchangeState", events: list[Event], to_lock: Sequence[str], now_ns: int) -> None:
    """The stages after matching: receipts → clearing → loans → market."""
    registry = state.registry
    receipts_involved = registry.specs or registry.by_order  # a receipt-backed instrument, or a receipt behind an order
    delivered = follow(registry, events, to_lock, now_ns) if receipts_involved else {}
    state.clearing.follow(state.engine, registry, events, delivered, now_ns)
    if state.catalogue.margined:
        state.forwards.follow(state.engine, state.clearing.ledger, events, now_ns)
    if delivered:
        state.disputes.note(events, delivered, state.registry, now_ns)
    if state.financing.order_loan:
        liquidation_fills(state, events, now_ns)
    for e in events:
        if type(e) is Trade:
            state.market.record(e, state.engine.instruments[e.symbol].lot_size, now_ns,
                                state.catalogue.kind(e.symbol) == "forward")


def trade(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """An engine command through the whole pipeline: risk → match → settle → views."""
    command = entry.command
    to_lock: Sequence[str] = ()
    if type(command) in _TRADING:
        to_lock, refused = risk(state, entry)
        if refused is not None:
            view = state.views.reject(entry, refused.code) if type(command) is NewOrder else None
            return Result([], view, refused)
    events = state.engine.apply(command)
    settle(state, events, to_lock, ctx.now_ns)
    result = Result(events, state.views.apply(entry, events, ctx.entry_no))
    if type(command) is SetSession:
        result.events = result.events + place_liquidations(state, ctx) + force_close_all(state, ctx)
    if state.forwards.to_cancel:
        result.events = result.events + cancel_liquidations(state, ctx)
    return result


# ------------------------------------------------------------------ forced closing of forward positions

def force_close_all(state: "ExchangeState", ctx: Ctx) -> list[Event]:
    """Liquidate every member whose margin call failed (when their sessions are open)."""
    forwards = state.forwards
    events: list[Event] = []
    for member, call_id in sorted(forwards.open_call.items()):
        if forwards.calls[call_id].state == "liquidating":
            events += force_close(state, member, call_id, ctx)
    return events


def force_close(state: "ExchangeState", member: str, call_id: int, ctx: Ctx) -> list[Event]:
    """强行平仓: cancel the member's open forward orders, then close positions through the book
    with reduce-only GTC orders at the band limit until the requirement is met."""
    forwards, engine, ledger = state.forwards, state.engine, state.clearing.ledger
    events: list[Event] = []
    open_symbols = [s for s in forwards.by_member.get(member, ())
                    if engine.instruments[s].session in ("continuous", "pre_open")]
    for symbol in open_symbols:
        if any(o[0] == member and o[1] == symbol and oid not in forwards.liquidation_orders
               for oid, o in forwards.orders.items()):
            events += trade(state, Entry(MassCancel(member=member, symbol=symbol)), ctx).events
    for symbol in open_symbols:
        short, p = forwards.shortfall(ledger, member), forwards.positions[(member, symbol)]
        if not short or member not in forwards.open_call:
            break
        if not p.net or any(c == call_id and forwards.orders[o][1] == symbol
                            for o, c in forwards.liquidation_orders.items()):
            continue
        inst = engine.instruments[symbol]
        lots = min(abs(p.net), ceil_div(short, max(1, forwards.per_lot(symbol))))
        side = "sell" if p.net > 0 else "buy"
        price = inst.lower if side == "sell" else inst.upper
        forwards.free_for_fees(ledger, member, lots * state.clearing.per_lot_need(engine, state.registry, symbol,
                                                                                  side, price), ctx.now_ns)
        order = NewOrder(member=member, symbol=symbol, side=side, quantity=lots, price=price)
        result = trade(state, Entry(order, f"liquidation-{call_id}-{symbol}"), ctx)
        events += result.events
        accepted = next((e for e in result.events if type(e) is Accepted), None)
        if accepted is not None and accepted.order_id in forwards.orders:
            forwards.liquidation_orders[accepted.order_id] = call_id
    return events


def cancel_liquidations(state: "ExchangeState", ctx: Ctx) -> list[Event]:
    """Cancel what is left of liquidation orders once their call is met."""
    events: list[Event] = []
    while state.forwards.to_cancel:
        member, order_id = state.forwards.to_cancel.pop(0)
        if order_id in state.engine.orders:
            events += trade(state, Entry(CancelOrder(member, order_id)), ctx).events
    return events


# ------------------------------------------------------------------ forced sales of collateral

def place_liquidations(state: "ExchangeState", ctx: Ctx) -> list[Event]:
    """Sell collateral awaiting liquidation on instruments whose session is open: one GTC
    order a receipt at the lower band limit, by clearing's liquidation account."""
    events: list[Event] = []
    for loan in state.financing.loans.values():
        if not loan.to_sell:
            continue
        spec = state.registry.spot_spec(loan.commodity, state.engine.instruments)
        if spec is None or state.engine.instruments[spec.symbol].session not in ("continuous", "pre_open"):
            continue
        inst = state.engine.instruments[spec.symbol]
        for receipt_id in list(loan.to_sell):
            order = NewOrder(member=LIQUIDATOR, symbol=spec.symbol, side="sell", quantity=1, price=inst.lower)
            result = trade(state, Entry(order, f"liquidation-{loan.loan_id}-{receipt_id}", [receipt_id]), ctx)
            events += result.events
            accepted = next((e for e in result.events if type(e) is Accepted), None)
            if accepted is None:
                continue  # stays pending: tried again when the session next opens
            loan.to_sell.remove(receipt_id)  # before its fills: the last close settles the loan
            loan.liquidation_orders.append(accepted.order_id)
            state.financing.order_loan[accepted.order_id] = loan.loan_id
            liquidation_fills(state, result.events, ctx.now_ns)  # it may have traded at once
    return events


def liquidation_fills(state: "ExchangeState", events: list[Event], now_ns: int) -> None:
    """Route liquidation fills' net proceeds to the loan; settle loans whose orders are done."""
    financing, clearing = state.financing, state.clearing
    for e in events:
        kind = type(e)
        if kind is Trade and e.sell_order_id in financing.order_loan:
            fill = next(t for t in reversed(clearing.day_trades) if t.trade_id == e.trade_id)
            financing.on_liquidation_fill(e.sell_order_id, fill.value - fill.seller_fee, clearing.ledger, now_ns)
            if not e.sell_leaves:
                financing.on_liquidation_closed(e.sell_order_id, now_ns)
        elif kind is Cancelled and e.order_id in financing.order_loan:
            financing.on_liquidation_closed(e.order_id, now_ns)


# ------------------------------------------------------------------ the other owners

def catalogue(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    cmd = entry.command
    symbol = cmd.spec.symbol if isinstance(cmd, SetInstrument) else cmd.symbol
    busy = any(o.symbol == symbol for o in state.engine.orders.values())
    outcome = state.catalogue.apply(cmd, state.engine, busy)
    return Result(outcome, None) if isinstance(outcome, list) else Result([], None, outcome)


def receipts(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    cmd = entry.command
    if type(cmd) is ReleaseReceipt and (loan := state.financing.loan_of(cmd.receipt_id)) is not None:
        # a lender's direct release would free collateral its loan still counts on
        return Result([], None, ReceiptRejected("RECEIPT_ON_LOAN", f"{cmd.receipt_id} secures loan {loan.loan_id}: "
                                                                   "it is released by repaying the loan"))
    return Result([], None, state.registry.apply(cmd, ctx.now_ns))


def warehouse(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """A warehouse operation; a new release order's window closes by a clock timer."""
    cmd = entry.command
    before = state.warehouse.next_release
    outcome = state.warehouse.apply(cmd, state.registry, ctx.now_ns)
    if type(cmd) is RequestRelease and isinstance(outcome, ReleaseOrder) and outcome.release_id == before:
        state.timers.add(outcome.deadline_ns, ReleaseDue(release_id=outcome.release_id))
    return Result([], None, outcome)


def tariff(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    return Result([], None, state.warehousing.set_tariff(entry.command, ctx.now_ns))


def inbound(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """A registration step; a new declaration's answer deadline is a clock timer."""
    cmd = entry.command
    before = state.inbound.next_id
    outcome = state.inbound.apply(cmd, state.registry, state.clearing.ledger, state.warehousing, ctx.now_ns)
    if type(cmd) is DeclareInbound and isinstance(outcome, Declaration) and outcome.declaration_id == before:
        state.timers.add(outcome.answer_by_ns, DeclarationDue(declaration_id=outcome.declaration_id))
    return Result([], None, outcome)


def dispute(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    return Result([], None, state.disputes.apply(entry.command, state.registry, state.clearing.ledger, ctx.now_ns))


def funding(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """A deposit or withdrawal; a deposit tops up margin and may meet a margin call."""
    cmd = entry.command
    outcome = state.clearing.apply_funding(cmd, ctx.now_ns)
    if type(cmd) is Deposit and type(outcome) is FundingRecord:
        state.forwards.funded(state.clearing.ledger, cmd.member, ctx.now_ns, cmd.reference)
    events = cancel_liquidations(state, ctx) if state.forwards.to_cancel else []
    return Result(events, None, outcome)


def financing(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    return Result([], None, state.financing.apply(entry.command, state.registry, state.engine,
                                                  state.clearing.ledger, ctx.now_ns))


def schedule(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """Schedule a session change; it fires from the first clock tick at or after ``at_ns``."""
    cmd: ScheduleSession = entry.command
    if cmd.symbol not in state.engine.instruments:
        return Result([], None, CatalogueRejected("UNKNOWN_INSTRUMENT", f"no instrument {cmd.symbol}"))
    if not 0 <= cmd.at_ns <= MAX_TIME_NS:
        return Result([], None, CatalogueRejected("INVALID_TIME", "at_ns is nanoseconds since 1970, before 2116"))
    return Result([], None, state.timers.add(cmd.at_ns, cmd))


def tick(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """Fire every timer due by the entry's time, in order."""
    events: list[Event] = []
    for timer in state.timers.pop_due(ctx.now_ns):
        action = timer.action
        if type(action) is ReleaseDue:
            state.warehouse.lapse(action, state.registry, ctx.now_ns)
        elif type(action) is DeclarationDue:
            state.inbound.expire(action, ctx.now_ns)
        elif type(action) is ReceiptDue:
            events += receipt_due(state, action, ctx)
        elif type(action) is MarginCallDue:
            if state.forwards.due(state.clearing.ledger, action.call_id, ctx.now_ns):
                events += force_close(state, state.forwards.calls[action.call_id].member, action.call_id, ctx)
        elif type(action) in bulk.TIMERS:
            bulk.due(state, action, ctx.now_ns)
        else:
            events += trade(state, Entry(SetSession(action.symbol, action.state)), ctx).events
    return Result(events, None)


def holidays(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """Publish the holiday list (at most 1,000 real dates)."""
    cmd: SetHolidays = entry.command
    wrong = bad_dates(cmd.holidays[:1_001])
    if len(cmd.holidays) > 1_000 or wrong:
        return Result([], None, CatalogueRejected("INVALID_DATE", f"at most 1,000 real dates (yyyymmdd): {wrong[:5]}"))
    state.calendar.holidays = sorted(set(cmd.holidays))
    return Result([], None, state.calendar)


def receipt_due(state: "ExchangeState", due: ReceiptDue, ctx: Ctx) -> list[Event]:
    """A receipt's expiry warning or expiry. An expiring receipt behind a sell order has the
    order cancelled first (an expired receipt is never delivered)."""
    registry = state.registry
    receipt = registry.receipts[due.receipt_id]
    if receipt.state in ("cancelled", "expired"):
        return []
    if due.kind == "warn":
        registry.warn(receipt.receipt_id)
        return []
    events: list[Event] = []
    if receipt.state == LOCKED and receipt.order_id in state.engine.orders:
        order = state.engine.orders[receipt.order_id]
        events = trade(state, Entry(CancelOrder(order.member, order.order_id)), ctx).events
    registry.expire(receipt.receipt_id, ctx.now_ns)
    return events


def delivery(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    """A forward's delivery: a tender, a long's warehouse preference, or the allocation."""
    return Result([], None, state.delivery.apply(entry.command, state.registry, state.forwards, state.clearing.ledger,
                                                 state.engine.instruments, ctx.now_ns))


def cancel_expired_orders(state: "ExchangeState", ctx: Ctx) -> list[Event]:
    """At the end of a forward's last trading day, cancel the orders left on it (GTC orders
    would otherwise keep margin, and an amendment trade, on positions going to delivery)."""
    expired = state.delivery.expiring(state.calendar.trading_date, state.forwards.markets)
    if not expired:
        return []
    orders = sorted((o.order_id, o.member) for o in state.engine.orders.values() if o.symbol in expired)
    events: list[Event] = []
    for order_id, member in orders:
        events += trade(state, Entry(CancelOrder(member, order_id)), ctx).events
    return events


def end_of_day(state: "ExchangeState", entry: Entry, ctx: Ctx) -> Result:
    events: list[Event] = []
    bulk.end_of_day(state, ctx.now_ns)  # payment deadlines and listing expiry, on the day closing
    report = state.end_of_day(entry, ctx, events)
    return Result(events, None, report)


HANDLERS: dict[type, Callable[["ExchangeState", Entry, Ctx], Result]] = {
    **dict.fromkeys(get_args(EngineCommand), trade),
    **dict.fromkeys(get_args(ReceiptCommand), receipts),
    **dict.fromkeys(get_args(FinancingCommand), financing),
    **dict.fromkeys(get_args(WarehouseCommand), warehouse),
    **dict.fromkeys(get_args(InboundCommand), inbound),
    **dict.fromkeys(get_args(DisputeCommand), dispute),
    **dict.fromkeys(get_args(DeliveryCommand), delivery),
    Deposit: funding,
    Withdraw: funding,
    EndOfDay: end_of_day,
    SetTariff: tariff,
    AddInstrument: catalogue,
    SetInstrument: catalogue,
    SetFees: catalogue,
    SetDeliverySpec: catalogue,
    ScheduleSession: schedule,
    ClockTick: tick,
    SetHolidays: holidays,
    **bulk.HANDLERS,
}
