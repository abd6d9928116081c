"""Bulk supply in the state machine: the handlers of auction, listing and escrow commands, the
clock timers that close lots and lapse counter-offers, and the end-of-day step (payment
deadlines, listing expiry). The pipeline's dispatch table and clock tick call these."""

from typing import TYPE_CHECKING, get_args

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
    return state.calendar.closed_days + 1


def _timers(state: "ExchangeState") -> None:
    for due_ns, action in state.auctions.drain_due() + state.listings.drain_due():
        state.timers.add(due_ns, action)


def auction(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    cmd = entry.command
    registry, ledger = state.registry, state.clearing.ledger
    if isinstance(cmd, PublishAuction):
        outcome = state.auctions.publish(cmd, registry, ledger, ctx.now_ns)
    elif isinstance(cmd, PlaceBid):
        outcome = state.auctions.bid(cmd, registry, ledger, ctx.now_ns)
    else:
        outcome = state.auctions.pay(cmd, registry, ledger, ctx.now_ns)
    _timers(state)
    return Result([], None, outcome)


def listing(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    outcome = state.listings.apply(entry.command, state.registry, state.clearing.ledger, state.engine, ctx.now_ns,
                                   today(state))
    _timers(state)
    return Result([], None, outcome)


def escrow(state: "ExchangeState", entry: "Entry", ctx) -> Result:
    return Result([], None, state.escrow.apply(entry.command))


def due(state: "ExchangeState", action: SupplyTimer, now_ns: int) -> None:
    """A bulk-supply timer fired by a clock tick."""
    if type(action) is AuctionDue:
        state.auctions.close(action, state.registry, state.clearing.ledger, now_ns, today(state))
    else:
        state.listings.lapse(action, state.clearing.ledger, now_ns)


def end_of_day(state: "ExchangeState", now_ns: int) -> None:
    """Before the day closes: unpaid lots past their payment day forfeit, listings not renewed
    today expire."""
    state.auctions.end_of_day(state.registry, state.clearing.ledger, now_ns, today(state))
    state.listings.end_of_day(state.registry, state.clearing.ledger, now_ns, today(state))


HANDLERS = {
    **dict.fromkeys(get_args(AuctionCommand), auction),
    **dict.fromkeys(get_args(ListingCommand), listing),
    SetSupplyFee: escrow,
    SetBuyerCategory: escrow,
}
TIMERS = frozenset(get_args(SupplyTimer))
__all__ = ["HANDLERS", "TIMERS", "due", "end_of_day"]
