"""Bulk supply in the state machine: the handlers of auction, listing and escrow commands, the
clock timers that close lots and lapse counter-offers, and the end-of-day step (payment
deadlines, listing expiry). The pipeline's dispatch table and clock tick call these."""

from typing import TYPE_CHECKING, get_args

import msgspec

from clearing import auctions, listings
from clearing.auctions import AuctionCommand, AuctionDue, PlaceBid, PublishAuction
from clearing.escrow import SetBuyerCategory, SetSupplyFee
from clearing.listings import ListingCommand
from clearing.supply import SupplyTimer
from exchange.result import Result

if TYPE_CHECKING:
    from exchange.journal import Entry
    from exchange.state import ExchangeState


def today(state: "ExchangeState") -> int:
    """The trading day's number (1 = the first), as the credit register counts them."""
    return state.calendar.day


def _after_step(state: "ExchangeState") -> None:
    """After an auction or listing command: its new timers to the clock, its deals noted."""
    for due_ns, action in state.auctions.drain_due() + state.listings.drain_due():
        state.timers.add(due_ns, action)
    _note_deals(state)


def _note_deals(state: "ExchangeState") -> None:
    """The receipts this step's deals handed over become disputable, as a fill's are."""
    if state.escrow.handed_over:
        handovers, state.escrow.handed_over = state.escrow.handed_over, []
        state.disputes.note_deals(handovers, state.registry)


def auction(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    cmd = entry.command
    registry, ledger = state.registry, state.clearing.ledger
    if isinstance(cmd, PublishAuction):
        outcome = state.auctions.publish(cmd, registry, ledger, ctx.now_ns)
    elif isinstance(cmd, PlaceBid):
        outcome = state.auctions.bid(cmd, registry, ledger, ctx.now_ns)
    else:
        outcome = state.auctions.pay(cmd, registry, ledger, ctx.now_ns)
    _after_step(state)
    return Result([], None, outcome)


def listing(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    outcome = state.listings.apply(entry.command, state.registry, state.clearing.ledger, state.engine, ctx.now_ns,
                                   today(state))
    _after_step(state)
    return Result([], None, outcome)


def escrow(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    return Result([], None, state.escrow.apply(entry.command))


def due(state: "ExchangeState", action: SupplyTimer, now_ns: int) -> None:
    """A bulk-supply timer fired by a clock tick."""
    if type(action) is AuctionDue:
        state.auctions.close(action, state.registry, state.clearing.ledger, now_ns, today(state))
    else:
        state.listings.lapse(action, state.clearing.ledger, now_ns)
    _note_deals(state)


def end_of_day(state: "ExchangeState", now_ns: int) -> None:
    """Before the day closes: unpaid lots past their payment day forfeit, listings not renewed
    today expire."""
    state.auctions.end_of_day(state.registry, state.clearing.ledger, now_ns, today(state))
    state.listings.end_of_day(state.registry, state.clearing.ledger, now_ns, today(state))
    _note_deals(state)


class SupplyDay(msgspec.Struct, kw_only=True):
    """One trading day's bulk supply in one commodity, by mode (``auction`` sell or buy,
    ``listing``): lots offered (closed that day, sold or not), lots sold, tonnes sold in kg, the
    tonne-weighted average quality premium of the lots sold (fen a tonne) and their value."""

    commodity: str
    mode: str
    lots_offered: int = 0
    lots_sold: int = 0
    kg_sold: int = 0
    average_premium: int = 0
    turnover: int = 0


_SOLD = frozenset({auctions.WON, auctions.PAID, auctions.FORFEITED, auctions.SETTLED})


def supply_day(state: "ExchangeState", day: int) -> list[SupplyDay]:
    """The market report's bulk-supply rows for trading day ``day``."""
    rows: dict[tuple[str, str], list] = {}  # (commodity, mode) -> [offered, sold, kg, premium × kg, value]

    def add(commodity: str, mode: str, sold: bool, kg: int, premium: int, value: int) -> None:
        row = rows.setdefault((commodity, mode), [0, 0, 0, 0, 0])
        row[0] += 1
        if sold:
            row[1], row[2], row[3], row[4] = row[1] + 1, row[2] + kg, row[3] + premium * kg, row[4] + value

    for a in state.auctions.auctions.values():
        for lot in a.lots:
            if lot.closed_day == day:
                add(a.commodity, f"{a.side}_auction", lot.state in _SOLD, lot.kg if a.side == "sell" else
                    sum(state.registry.receipts[r].quantity_kg for r in lot.receipt_ids), lot.premium, lot.value)
    for listing in state.listings.listings.values():
        if listing.closed_day == day and listing.state != listings.OPEN:
            add(listing.commodity, "listing", listing.state == listings.TAKEN, sum(
                state.registry.receipts[r].quantity_kg for r in listing.receipt_ids), listing.premium, listing.value)
    return [SupplyDay(commodity=c, mode=m, lots_offered=o, lots_sold=s, kg_sold=kg, turnover=v,
                      average_premium=(2 * pk + kg) // (2 * kg) if kg else 0)
            for (c, m), (o, s, kg, pk, v) in sorted(rows.items())]


HANDLERS = {
    **dict.fromkeys(get_args(AuctionCommand), auction),
    **dict.fromkeys(get_args(ListingCommand), listing),
    SetSupplyFee: escrow,
    SetBuyerCategory: escrow,
}
TIMERS = frozenset(get_args(SupplyTimer))
__all__ = ["HANDLERS", "TIMERS", "SupplyDay", "due", "end_of_day", "supply_day"]
