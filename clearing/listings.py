"""Listings (挂牌 / 摘牌): receipt lots at a fixed price or a basis, and buyers' demand.

A supplier lists a lot of its receipts (locked as ``offered``) at a fixed ``price`` or at
``basis`` over a forward: the price is then basis + that forward's settlement price of the day
(``forward_settlement_price``; ``NO_SETTLEMENT_PRICE`` while the forward has none). A buyer
takes the whole lot (摘牌): first come, first served through the sequencer, settled by DvP at
once. A buyer may instead counter-offer a price, its payment frozen in escrow until the
supplier accepts (DvP at the counter price), declines, or the counter's deadline passes (a
journaled clock timer, ``CounterDue``). A buyer may list demand (挂牌求购): commodity,
quantity (within a tolerance), price or basis; its payment is frozen at the price of the day
for the heaviest lot it accepts; a supplier fills it with its receipts, settled by DvP at
once. Listings expire at the end of the trading day unless renewed that day.
"""

import hashlib
from typing import Literal

import msgspec

from clearing.escrow import (
    Escrow,
    SupplyRejected,
    heaviest_kg,
    lot_kg,
    lot_premium,
    lot_value,
    most_value,
    offer,
    settle,
    unavailable,
    withdraw,
)
from clearing.ledger import MAX_AMOUNT, Ledger, Ref, cash
from engine import Engine
from engine.state import MAX_PRICE
from warehouse_receipts.dates import DAY_NS
from warehouse_receipts.registry import OFFERED, Registry

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}


def forward_settlement_price(engine: Engine, symbol: str) -> int:
    """The forward's settlement price of the day (fen a tonne; 0: none yet). Today the last
    end of day's settlement price, kept as the instrument's reference price; the one function
    to re-point when forwards publish their own daily settlement prices."""
    inst = engine.instruments.get(symbol)
    return inst.ref_price if inst is not None else 0

LISTING_STATES = ("open", "taken", "withdrawn", "expired")
COUNTER_STATES = ("open", "accepted", "declined", "lapsed", "void")
OPEN, TAKEN, WITHDRAWN, EXPIRED = LISTING_STATES
_, ACCEPTED, DECLINED, LAPSED, VOID = COUNTER_STATES


class PublishListing(msgspec.Struct, tag="publish_listing", **_OPTS):
    """A supplier's lot (``side`` sell, ``receipt_ids``) or a buyer's demand (``side`` buy,
    ``quantity_kg``), at ``price`` fen a tonne or, with ``forward``, at ``basis`` over it."""

    actor: str
    side: Literal["sell", "buy"] = "sell"
    commodity: str
    receipt_ids: list[str] = []
    quantity_kg: int = 0
    tolerance_bps: int = 1_000
    price: int = 0
    forward: str = ""
    basis: int = 0


class TakeListing(msgspec.Struct, tag="take_listing", **_OPTS):
    """Take a listed lot whole (摘牌), or fill a demand with ``receipt_ids``."""

    actor: str
    listing_id: int
    receipt_ids: list[str] = []


class CounterOffer(msgspec.Struct, tag="counter_offer", **_OPTS):
    """A buyer's counter-price on a listed lot; the supplier answers within ``respond_ns``."""

    actor: str
    listing_id: int
    price: int
    respond_ns: int = 600 * 10**9


class AnswerCounter(msgspec.Struct, tag="answer_counter", **_OPTS):
    actor: str
    listing_id: int
    counter_no: int
    accept: bool


class RenewListing(msgspec.Struct, tag="renew_listing", **_OPTS):
    """Keep a listing past today's end of day (for one more trading day)."""

    actor: str
    listing_id: int


class WithdrawListing(msgspec.Struct, tag="withdraw_listing", **_OPTS):
    actor: str
    listing_id: int


ListingCommand = PublishListing | TakeListing | CounterOffer | AnswerCounter | RenewListing | WithdrawListing


class CounterDue(msgspec.Struct, tag="counter_due", **_OPTS):
    """Timer: a counter-offer's answer deadline."""

    listing_id: int
    counter_no: int


class Counter(msgspec.Struct, kw_only=True):
    counter_no: int
    buyer: str
    price: int
    deadline_ns: int
    state: str = OPEN  # one of COUNTER_STATES


class Listing(msgspec.Struct, kw_only=True):
    listing_id: int
    side: str
    owner: str
    commodity: str
    receipt_ids: list[str] = []
    kg: int = 0
    tolerance_bps: int = 0
    price: int = 0
    forward: str = ""
    basis: int = 0
    state: str = OPEN  # one of LISTING_STATES
    renewed_day: int = 0
    counters: list[Counter] = []
    taker: str = ""
    deal_price: int = 0
    value: int = 0
    buyer_fee: int = 0
    seller_fee: int = 0
    listed_day: int = 0
    closed_day: int = 0  # the trading day it was taken, withdrawn or expired
    premium: int = 0  # the lot's quality premium, fen a tonne, once dealt


class Listings:
    """Every listing; money in the shared escrow."""

    def __init__(self, escrow: Escrow) -> None:
        self.escrow = escrow
        self.listings: dict[int, Listing] = {}
        self.next_id = 1
        self.due: list[tuple[int, CounterDue]] = []
        self.notices: list[tuple[str, dict]] = []
        self.today = 0  # the trading day of the command being applied

    def apply(self, cmd: ListingCommand, registry: Registry, ledger: Ledger, engine: Engine, now_ns: int,
              today: int) -> Listing | SupplyRejected:
        self.today = today
        if isinstance(cmd, PublishListing):
            return self._publish(cmd, registry, ledger, engine, now_ns, today)
        listing = self.listings.get(cmd.listing_id)
        if listing is None:
            return SupplyRejected("LISTING_NOT_FOUND", f"no listing {cmd.listing_id}")
        if listing.state != OPEN:
            return SupplyRejected("LISTING_CLOSED", f"listing {listing.listing_id} is {listing.state}")
        if isinstance(cmd, TakeListing):
            return self._take(cmd, listing, registry, ledger, engine, now_ns)
        if isinstance(cmd, CounterOffer):
            return self._counter(cmd, listing, registry, ledger, now_ns)
        if cmd.actor != listing.owner:
            return SupplyRejected("NOT_LISTING_OWNER", f"listing {listing.listing_id} is another member's")
        if isinstance(cmd, AnswerCounter):
            return self._answer(cmd, listing, registry, ledger, now_ns)
        if isinstance(cmd, RenewListing):
            listing.renewed_day = today
            return listing
        self._close(listing, WITHDRAWN, registry, ledger, now_ns)
        return listing

    def price_of(self, listing: Listing, engine: Engine) -> int:
        """The listing's price today: fixed, or basis + the forward's settlement price (0: none)."""
        if not listing.forward:
            return listing.price
        settlement = forward_settlement_price(engine, listing.forward)
        return listing.basis + settlement if settlement else 0

    # -------------------------------------------------------------- publish

    def _publish(self, cmd: PublishListing, registry: Registry, ledger: Ledger, engine: Engine, now_ns: int,
                 today: int) -> Listing | SupplyRejected:
        if cmd.forward and cmd.forward not in engine.instruments:
            return SupplyRejected("UNKNOWN_INSTRUMENT", f"no forward {cmd.forward}")
        if cmd.forward and (cmd.price or not -MAX_PRICE <= cmd.basis <= MAX_PRICE):
            return SupplyRejected("INVALID_PRICE", "a basis listing gives a basis and no price")
        if not cmd.forward and not 0 < cmd.price <= MAX_PRICE:
            return SupplyRejected("INVALID_PRICE", f"a price is 1 to {MAX_PRICE} fen a tonne")
        listing = Listing(listing_id=self.next_id, side=cmd.side, owner=cmd.actor, commodity=cmd.commodity,
                          price=cmd.price, forward=cmd.forward, basis=cmd.basis, listed_day=today)
        price = self.price_of(listing, engine)
        if price <= 0 or price > MAX_PRICE:
            return SupplyRejected("NO_SETTLEMENT_PRICE", f"{cmd.forward} has no settlement price to price the basis")
        ref = Ref(listing_id=listing.listing_id)
        if cmd.side == "sell":
            if (refusal := unavailable(registry, cmd.actor, cmd.commodity, cmd.receipt_ids)) is not None:
                return refusal
            if lot_value(registry, cmd.receipt_ids, price) > MAX_AMOUNT:
                return SupplyRejected("INVALID_PRICE", "the lot's value passes the ledger's bounds")
            listing.receipt_ids, listing.kg = list(cmd.receipt_ids), lot_kg(registry, cmd.receipt_ids)
            offer(registry, listing.receipt_ids, cmd.actor, now_ns, f"listing {listing.listing_id}")
        else:
            if cmd.receipt_ids or not 0 < cmd.quantity_kg <= 10**9 or not 0 <= cmd.tolerance_bps <= 10_000:
                return SupplyRejected("INVALID_LISTING", "demand gives quantity_kg (1 to 10⁹) and no receipts")
            listing.kg, listing.tolerance_bps = cmd.quantity_kg, cmd.tolerance_bps
            need = self._demand_need(listing, price)
            if need > MAX_AMOUNT:
                return SupplyRejected("INVALID_PRICE", "the demand's value passes the ledger's bounds")
            if not self.escrow.freeze(ledger, _demand_key(listing.listing_id), cmd.actor, need, "LISTING_FREEZE",
                                      ref, now_ns):
                return SupplyRejected("INSUFFICIENT_FUNDS", f"the demand needs {need} fen frozen")
        self.next_id += 1
        self.listings[listing.listing_id] = listing
        self.notices.append(("", {"type": "listing", "listing_id": listing.listing_id, "state": OPEN}))
        return listing

    def _demand_need(self, listing: Listing, price: int) -> int:
        """The most a demand can cost at ``price``: the heaviest lot, a fen of rounding room for
        each of up to 50 receipts, and the buyer's fee."""
        upper = heaviest_kg(listing.kg, listing.tolerance_bps)
        return most_value(price, upper) + self.escrow.fee(upper)

    # -------------------------------------------------------------- take, counter

    def _take(self, cmd: TakeListing, listing: Listing, registry: Registry, ledger: Ledger, engine: Engine,
              now_ns: int) -> Listing | SupplyRejected:
        if cmd.actor == listing.owner:
            return SupplyRejected("SELF_TRADE", "you cannot take your own listing")
        price = self.price_of(listing, engine)
        if price <= 0:
            return SupplyRejected("NO_SETTLEMENT_PRICE", f"{listing.forward} has no settlement price")
        ref = Ref(listing_id=listing.listing_id)
        where = f"listing {listing.listing_id}"
        if listing.side == "sell":
            if cmd.receipt_ids:
                return SupplyRejected("INVALID_LISTING", "a listed lot is taken whole: name no receipts")
            deal = settle(self.escrow, ledger, registry, listing.receipt_ids, cmd.actor, listing.owner, price, ref,
                          now_ns, f"taken from {where}")
        else:
            if (refusal := unavailable(registry, cmd.actor, listing.commodity, cmd.receipt_ids)) is not None:
                return refusal
            kg = lot_kg(registry, cmd.receipt_ids)
            if abs(kg - listing.kg) * 10_000 > listing.kg * listing.tolerance_bps:
                return SupplyRejected("LOT_QUANTITY_MISMATCH", f"{kg} kg is not {listing.kg} kg within tolerance")
            need = lot_value(registry, cmd.receipt_ids, price) + self.escrow.fee(kg)
            funds = self.escrow.held(_demand_key(listing.listing_id)) + ledger.balance(cash(listing.owner))
            if need > MAX_AMOUNT or need > funds:
                return SupplyRejected("BUYER_FUNDS_SHORT", f"the buyer of {where} cannot pay {need} fen")
            offer(registry, cmd.receipt_ids, cmd.actor, now_ns, f"filling {where}")
            deal = settle(self.escrow, ledger, registry, cmd.receipt_ids, listing.owner, cmd.actor, price, ref,
                          now_ns, f"sold to {where}", from_holds=[_demand_key(listing.listing_id)])
            listing.receipt_ids = list(cmd.receipt_ids)
        if isinstance(deal, SupplyRejected):
            return deal
        listing.taker, listing.deal_price, listing.value = cmd.actor, price, deal.value
        listing.buyer_fee, listing.seller_fee = deal.buyer_fee, deal.seller_fee
        self._close(listing, TAKEN, registry, ledger, now_ns)
        return listing

    def _counter(self, cmd: CounterOffer, listing: Listing, registry: Registry, ledger: Ledger,
                 now_ns: int) -> Listing | SupplyRejected:
        if listing.side != "sell":
            return SupplyRejected("INVALID_LISTING", "counter-offers are made on listed lots")
        if cmd.actor == listing.owner:
            return SupplyRejected("SELF_TRADE", "you cannot counter your own listing")
        if not 0 < cmd.price <= MAX_PRICE or not 0 < cmd.respond_ns <= DAY_NS:
            return SupplyRejected("INVALID_PRICE", "a price of 1 to 10¹² fen a tonne, an answer within a day")
        need = lot_value(registry, listing.receipt_ids, cmd.price) + self.escrow.fee(listing.kg)
        if need > MAX_AMOUNT:
            return SupplyRejected("INVALID_PRICE", "the lot's value passes the ledger's bounds")
        counter = Counter(counter_no=len(listing.counters) + 1, buyer=cmd.actor, price=cmd.price,
                          deadline_ns=now_ns + cmd.respond_ns)
        if not self.escrow.freeze(ledger, _counter_key(listing.listing_id, counter.counter_no), cmd.actor, need,
                                  "COUNTER_FREEZE", Ref(listing_id=listing.listing_id), now_ns):
            return SupplyRejected("INSUFFICIENT_FUNDS", f"the counter-offer needs {need} fen frozen")
        listing.counters.append(counter)
        self.due.append((counter.deadline_ns, CounterDue(listing_id=listing.listing_id, counter_no=counter.counter_no)))
        self.notices.append((listing.owner, {"type": "counter_offer", "listing_id": listing.listing_id,
                                             "counter_no": counter.counter_no, "price": cmd.price,
                                             "deadline_ns": counter.deadline_ns}))
        return listing

    def _answer(self, cmd: AnswerCounter, listing: Listing, registry: Registry, ledger: Ledger,
                now_ns: int) -> Listing | SupplyRejected:
        if not 1 <= cmd.counter_no <= len(listing.counters):
            return SupplyRejected("COUNTER_NOT_FOUND", f"no counter-offer {cmd.counter_no}")
        counter = listing.counters[cmd.counter_no - 1]
        if counter.state != OPEN or now_ns >= counter.deadline_ns:
            return SupplyRejected("COUNTER_CLOSED", f"counter-offer {counter.counter_no} is {counter.state}")
        ref = Ref(listing_id=listing.listing_id)
        key = _counter_key(listing.listing_id, counter.counter_no)
        if not cmd.accept:
            counter.state = DECLINED
            self.escrow.release(ledger, key, "COUNTER_RELEASE", ref, now_ns)
            self.notices.append((counter.buyer, {"type": "counter_declined", "listing_id": listing.listing_id,
                                                 "counter_no": counter.counter_no}))
            return listing
        deal = settle(self.escrow, ledger, registry, listing.receipt_ids, counter.buyer, listing.owner, counter.price,
                      ref, now_ns, f"counter-offer {counter.counter_no} on listing {listing.listing_id}",
                      from_holds=[key])
        if isinstance(deal, SupplyRejected):  # the freeze covers it; kept total
            return deal
        counter.state = ACCEPTED
        listing.taker, listing.deal_price, listing.value = counter.buyer, counter.price, deal.value
        listing.buyer_fee, listing.seller_fee = deal.buyer_fee, deal.seller_fee
        self._close(listing, TAKEN, registry, ledger, now_ns)
        return listing

    # -------------------------------------------------------------- closing

    def _close(self, listing: Listing, state: str, registry: Registry, ledger: Ledger, now_ns: int) -> None:
        """Taken, withdrawn or expired: open counters void, holds released, an untaken lot's
        receipts back to the supplier."""
        ref = Ref(listing_id=listing.listing_id)
        for counter in listing.counters:
            key = _counter_key(listing.listing_id, counter.counter_no)
            self.escrow.release(ledger, key, "COUNTER_RELEASE", ref, now_ns)
            if counter.state == OPEN:
                counter.state = VOID
        self.escrow.release(ledger, _demand_key(listing.listing_id), "LISTING_RELEASE", ref, now_ns)
        if state != TAKEN and listing.side == "sell":
            withdraw(registry, listing.receipt_ids, now_ns, f"listing {listing.listing_id} {state}")
        listing.state, listing.closed_day = state, self.today
        if state == TAKEN:
            listing.premium = lot_premium(registry, listing.receipt_ids)
            for member in (listing.owner, listing.taker):
                self.notices.append((member, {"type": "listing_taken", "listing_id": listing.listing_id,
                                              "price": listing.deal_price, "value": listing.value}))
        self.notices.append(("", {"type": "listing", "listing_id": listing.listing_id, "state": state}))

    def lapse(self, due: CounterDue, ledger: Ledger, now_ns: int) -> None:
        """A counter-offer's deadline: unanswered, it lapses and its freeze is released."""
        listing = self.listings.get(due.listing_id)
        if listing is None or not 1 <= due.counter_no <= len(listing.counters):
            return
        counter = listing.counters[due.counter_no - 1]
        if counter.state == OPEN:
            counter.state = LAPSED
            self.escrow.release(ledger, _counter_key(listing.listing_id, counter.counter_no), "COUNTER_RELEASE",
                                Ref(listing_id=listing.listing_id), now_ns)

    def end_of_day(self, registry: Registry, ledger: Ledger, now_ns: int, today: int) -> None:
        """Listings not renewed today expire."""
        self.today = today
        for listing in self.listings.values():
            if listing.state == OPEN and listing.renewed_day != today:
                self._close(listing, EXPIRED, registry, ledger, now_ns)

    def drain_due(self) -> list[tuple[int, CounterDue]]:
        due, self.due = self.due, []
        return due

    def check(self, registry: Registry) -> None:
        for listing in self.listings.values():
            if listing.state == OPEN and listing.side == "sell":
                for r in listing.receipt_ids:
                    receipt = registry.receipts[r]
                    assert receipt.state == OFFERED and receipt.owner == listing.owner, f"listing {listing.listing_id}"
            if listing.state != OPEN:
                assert not self.escrow.held(_demand_key(listing.listing_id)), "a closed demand still holds money"
                assert all(c.state != OPEN for c in listing.counters), "a closed listing has an open counter"

    def state_hash(self) -> str:
        data = msgspec.msgpack.encode([self.next_id, [self.listings[k] for k in sorted(self.listings)]])
        return hashlib.blake2b(data, digest_size=8).hexdigest()


def _demand_key(listing_id: int) -> str:
    return f"l{listing_id}:demand"


def _counter_key(listing_id: int, counter_no: int) -> str:
    return f"l{listing_id}:counter:{counter_no}"
