"""The whole exchange as one state machine: every component, advanced one journal entry at a
time by ``apply``, the one path for live commands and for replay (timestamps included: they
come from the journal), so both reach the same state. ``pipeline.HANDLERS`` says which stages
each command passes through.
"""

import functools
import hashlib

import msgspec

from clearing.auctions import Auctions
from clearing.core import Clearing, EndOfDay, SettlementReport
from clearing.credit import CreditRegister
from clearing.delivery import Delivery
from clearing.disputes import Disputes
from clearing.escrow import Escrow
from clearing.financing import Financing
from clearing.forwards import Forwards
from clearing.inbound import Inbound
from clearing.listings import Listings
from clearing.reconcile import check_memory
from clearing.warehousing import Warehousing
from engine import Engine, Event, SetReferencePrice, SetSession
from exchange.calendar import Calendar
from exchange.catalogue import Catalogue, CatalogueRejected
from exchange.clock import Timers
from exchange.journal import Entry
from exchange.marketinfo import MarketInfo
from exchange.pipeline import HANDLERS, Ctx, cancel_expired_orders, settle
from exchange.result import Result
from exchange.views import HORIZON_ENTRIES, OrderRecord, OrderViews
from warehouse_receipts.registry import Registry
from warehouse_receipts.warehouse import Warehouse

__all__ = ["HASH_FORMAT", "ExchangeState", "Result"]
HASH_FORMAT = "h2:"  # what a state hash covers changed with the catalogue, calendar and clock


class ExchangeState:
    """Catalogue, calendar, timers, engine, registry, clearing, financing, views, market."""

    def __init__(self, order_horizon: int = HORIZON_ENTRIES) -> None:
        self.catalogue = Catalogue()
        self.calendar = Calendar()
        self.timers = Timers()
        self.engine = Engine()
        self.registry = Registry(specs=self.catalogue.deliveries)
        self.clearing = Clearing(fees=self.catalogue.fees)
        self.views = OrderViews(order_horizon)  # closed orders leave memory order_horizon entries on
        self.market = MarketInfo(self.calendar)
        self.credit = CreditRegister(self.calendar)
        self.financing = Financing(self.credit)
        self.forwards = Forwards(self.catalogue.forwards, self.calendar, self.credit)
        self.delivery = Delivery(self.catalogue.forwards, self.catalogue.specs, self.calendar, self.credit)
        self.warehouse = Warehouse()
        self.warehousing = Warehousing()
        self.inbound = Inbound()
        self.disputes = Disputes()
        self.escrow = Escrow()  # bulk supply: auctions and listings
        self.auctions = Auctions(self.escrow, self.credit)
        self.listings = Listings(self.escrow)

    def apply(self, entry: Entry, entry_no: int, now_ns: int) -> Result:
        """Apply one journaled command at the sequencer's time ``now_ns``. Total: a command
        of a type the exchange does not know is refused, never raised."""
        if not self.calendar.trading_date:
            self.calendar.open(now_ns)
        handler = HANDLERS.get(type(entry.command))
        if handler is None:
            return Result([], None, _unknown(entry))
        self.registry.now_ns = now_ns  # old crop is judged against the entry's date
        result = handler(self, entry, Ctx(entry_no, now_ns))
        views = self.views  # closed orders past the horizon leave memory (the test evict starts with, saving a call)
        if views.closed and views.closed[0][0] <= entry_no - views.horizon:
            views.evict(entry_no)
        if self.registry.scheduled:  # new receipts' expiry warnings and expiries
            for due_ns, action in self.registry.take_scheduled():
                self.timers.add(due_ns, action)
        return result

    def discard_outputs(self) -> None:
        """Drop what applying entries left for the gateway to publish or store (rows, events,
        transfers, notices): after a replay, those were published and stored before."""
        self.views.drain_rows()
        self.registry.drain_events()
        self.clearing.ledger.drain()
        for source in (self.financing, self.registry, self.inbound, self.forwards, self.credit, self.delivery,
                       self.auctions, self.listings):
            source.notices.clear()

    def first_answer(self, member: str, client_order_id: str) -> OrderRecord | None:
        """The answer already given to this member's order id today, if any (an ``ARCHIVED``
        stub if that order has left memory: the gateway reads it from SQL)."""
        return self.views.first_answer(member, client_order_id)

    def next_deadline(self) -> int | None:
        """When the sequencer must journal a clock tick (UTC ns), or None."""
        return self.timers.next_due()

    def end_of_day(self, entry: Entry, ctx: Ctx, published: list[Event]) -> SettlementReport:
        """Close the trading day: sessions close (DAY orders expire), settlement prices become
        reference prices, clearing reports, loans are marked, the calendar rolls."""
        cmd: EndOfDay = entry.command
        engine, clearing, forwards = self.engine, self.clearing, self.forwards
        prices = {s: clearing.settlement_price(engine, s, ctx.now_ns, cmd.window_ns)
                  for s in sorted(engine.instruments)}
        for symbol in sorted(engine.instruments):
            if engine.instruments[symbol].session != "closed":
                events = engine.apply(SetSession(symbol, "closed"))  # DAY orders expire
                settle(self, events, [], ctx.now_ns)
                self.views.apply(entry, events, ctx.entry_no)
                published.extend(events)
            if prices[symbol] != engine.instruments[symbol].ref_price and symbol not in forwards.markets:
                engine.apply(SetReferencePrice(symbol, prices[symbol]))
        published.extend(cancel_expired_orders(self, ctx))  # a forward's last trading day: no order outlives it
        if forwards.markets:
            self._settle_forwards(prices, ctx.now_ns)
            settled = self.delivery.close_day(self.registry, forwards, clearing.ledger, engine.instruments, ctx.now_ns)
            deliveries = [{"symbol": a.symbol, **msgspec.structs.asdict(line)} for a in settled for line in a.lines]
        self.warehousing.end_of_day(self.registry, clearing.ledger, ctx.now_ns)  # one trading day of storage
        day = self.calendar.day  # the trading day being closed, for every report
        report = clearing.report(engine, day, ctx.now_ns, prices, self.calendar.trading_date,
                                 self.warehousing.close_day())
        clearing.close_day(report)
        self.financing.end_of_day(self.registry, engine, ctx.now_ns, day)  # marks at the new settlement prices
        for receipt_id in sorted(self.registry.overdue):  # past expiry, held elsewhere until now
            self.registry.expire(receipt_id, ctx.now_ns)
        self.market.close_day(prices, {s for s in engine.instruments if self.catalogue.kind(s) == "forward"})
        self.calendar.roll(ctx.now_ns)
        if forwards.markets:
            report.deliveries = deliveries
            report.positions = [msgspec.structs.replace(p) for _, p in sorted(forwards.positions.items()) if p.net]
            report.variation, report.fund_draws = forwards.day_variation, [d for d in forwards.draws if d.day == day]
            calls = len(forwards.calls)
            for due in forwards.remark(clearing.ledger, self._open_minutes(), ctx.now_ns):
                self.timers.add(forwards.calls[due.call_id].deadline_ns, due)
            # copies: a call met or closed later changes the live call, not the day's filed report
            report.margin_calls = [msgspec.structs.replace(forwards.calls[i])
                                   for i in range(calls + 1, len(forwards.calls) + 1)]
        self.views.new_day()
        return report

    def _settle_forwards(self, prices: dict[str, int], now_ns: int) -> None:
        """Daily settlement of the margined forwards, then their reference prices and bands
        (wider after a day locked at a limit)."""
        engine, forwards = self.engine, self.forwards
        last_trade, day_fees = {}, {}
        for t in self.clearing.day_trades:
            if t.symbol in forwards.terms:
                last_trade[t.symbol] = t.price
                day_fees[t.symbol] = day_fees.get(t.symbol, 0) + t.buyer_fee + t.seller_fee
        limits = {s: (engine.instruments[s].lower, engine.instruments[s].upper) for s in forwards.markets}
        forwards.settle_day(self.clearing.ledger, prices, last_trade, limits, day_fees, now_ns)
        for symbol, market in sorted(forwards.markets.items()):
            base = self.catalogue.specs[symbol].band_bps
            terms = forwards.terms.get(symbol)
            band = base + base * terms.limit_band_widen_bps // 10_000 if market.locked and terms else base
            inst = engine.instruments[symbol]
            if (prices[symbol], band) != (inst.ref_price, inst.band_bps):
                engine.apply(SetReferencePrice(symbol, prices[symbol], band))

    def _open_minutes(self) -> dict[str, int]:
        """Minute of the Beijing day each margined forward's session opens (its published hours)."""
        minutes = {}
        for symbol in self.forwards.terms:
            opens = [t.minute for t in self.catalogue.specs[symbol].hours if t.state in ("continuous", "pre_open")]
            if opens:
                minutes[symbol] = min(opens)
        return minutes

    def state_hash(self) -> str:
        """``h2:`` + the engine's hash (whole, so it can be compared on its own) + a digest of
        every other part by name. The order views are not a part: they are folded from the
        engine's events, and hashing them is O(orders ever seen), too slow for a checkpoint a
        second (``OrderViews.state_hash`` serves tests and tools). A part still in its initial
        state is left out, so a part added in a later version leaves the hashes of older
        journals (the golden ones) as they were: keep it that way."""
        parts = {name: value for name, value in self._parts().items() if value != _initial_parts().get(name)}
        rest = msgspec.msgpack.encode(sorted(parts.items()))
        return HASH_FORMAT + self.engine.state_hash() + hashlib.blake2b(rest, digest_size=8).hexdigest()

    def _parts(self) -> dict[str, object]:
        clearing = self.clearing
        return {
            "registry": self.registry.state_hash(), "ledger": clearing.ledger.state_hash(),
            "financing": self.financing.state_hash(), "reports": len(clearing.reports),
            "funding": sorted(clearing.funding), "catalogue": self.catalogue.state_hash_part(),
            "calendar": self.calendar, "timers": self.timers.state(), "market": self.market.state_hash(),
            "warehouse": self.warehouse.state_hash(), "warehousing": self.warehousing.state_hash(),
            "inbound": self.inbound.state_hash(), "disputes": self.disputes.state_hash(),
            "credit": self.credit.state_hash(), "forwards": self.forwards.state_hash(),
            "delivery": self.delivery.state_hash(),
            "escrow": self.escrow.state_hash(), "auctions": self.auctions.state_hash(),
            "listings": self.listings.state_hash(),
        }

    def check(self) -> None:
        """Assert every component's invariants and those between them (held cash equals the
        open orders' needs)."""
        self.engine.check()
        self.registry.check()
        self.clearing.ledger.check()
        self.clearing.check_reports()
        self.financing.check(self.registry)
        self.warehouse.check(self.registry)
        self.warehousing.check()
        self.inbound.check(self.registry)
        self.disputes.check(self.registry)
        self.credit.check()
        assert self.catalogue.margined == set(self.catalogue.forwards), "the margined index disagrees with the specs"
        self.forwards.check(self.engine, self.clearing.ledger)
        self.delivery.check(self.registry)
        self.escrow.check(self.clearing.ledger)
        self.auctions.check(self.registry)
        self.listings.check(self.registry)
        self.views.check()
        breaks = check_memory(self.engine, self.registry, self.clearing)
        assert not breaks, breaks


@functools.cache
def _initial_parts() -> dict[str, object]:
    """The parts of a fresh state (what ``state_hash`` leaves out)."""
    return ExchangeState()._parts()


def _unknown(entry: Entry) -> CatalogueRejected:
    return CatalogueRejected("UNKNOWN_COMMAND", f"no such command: {type(entry.command).__name__}")
