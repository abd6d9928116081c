"""Timed auctions of receipt lots (bulk supply): sell auctions (竞卖) and buy auctions (竞买).

**Sell auction.** A supplier (or the operator, for a reserve sale) offers lots, each one or
more of its receipts of one commodity (locked in the registry as ``offered``), each with a
floor (given, or the base price + the lot's premium). A bid must be at least the floor, then
beat the lot's best by one increment; bids cannot be withdrawn; the highest wins and the
earlier of equal bids (a later equal bid is refused: it does not beat by an increment). The
first bid a member makes in an auction freezes its pre-deposit (``INSUFFICIENT_DEPOSIT`` if its
cash is short). A lot closes at its time, fired by a journaled clock tick (``AuctionDue``); a
bid in the last ``extend_ns`` moves the close ``extend_ns`` later, never past the hard stop.
At the close the winner's performance bond (``bond_per_t`` × tonnes) is frozen, taken from
its pre-deposit first, then from its cash; the winner pays the balance (``PayLot``) by the
end of the ``payment_days``-th trading day after the close's, and the lot settles by DvP.
Unpaid then (checked at that end of day), the bond is forfeited (the exchange keeps its fee,
the seller gets the rest), the receipts go back to the seller and the forfeit enters the
credit register. Unsold lots go back to the seller; pre-deposits are released when the
auction's last lot closes.

**Buy auction.** A buyer publishes demand lots (quantity, tolerance, grade constraints, a
ceiling price per tonne); publishing freezes the most each lot can cost (ceiling × the upper
weight + the fee), the buyer's side of the bond. Suppliers offer receipts at a price (locked
while the offer leads; an outbid offer's receipts are freed at once); the lowest price wins,
the earlier of equal prices; the same increments, pre-deposit, countdown and caps apply. At
the close the lot settles at once by DvP from the buyer's frozen money (nothing to default
on); the rest of the freeze is released.
"""

import hashlib
from typing import Literal

import msgspec

from clearing.credit import CreditRegister
from clearing.escrow import (
    MAX_PRICE,
    Escrow,
    SupplyRejected,
    bulk,
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
from clearing.ledger import FEES, MAX_AMOUNT, Ledger, Ref, cash
from warehouse_receipts.dates import DAY_NS, MAX_TIME_NS
from warehouse_receipts.grading import value_fen
from warehouse_receipts.registry import OFFERED, Registry

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
MAX_LOTS = 100

AUCTION_STATES = ("open", "ended")  # ended: every lot closed
LOT_STATES = ("open", "unsold", "won", "paid", "forfeited", "settled")
OPEN, ENDED = AUCTION_STATES
_, UNSOLD, WON, PAID, FORFEITED, SETTLED = LOT_STATES


class LotSpec(msgspec.Struct, kw_only=True, gc=False):
    """A sell auction's lot: its receipts and floor (fen per tonne; 0: base price + premium)."""

    receipt_ids: list[str]
    floor: int = 0


class DemandLot(msgspec.Struct, kw_only=True, gc=False):
    """A buy auction's lot: ``quantity_kg`` within ``tolerance_bps``, at most ``ceiling`` fen
    per tonne, receipts whose grade factors take one of the ``factors`` values given (none:
    any) from ``warehouses`` (none: any)."""

    quantity_kg: int
    ceiling: int
    tolerance_bps: int = 1_000
    factors: dict[str, list[str]] = {}
    warehouses: list[str] = []


class PublishAuction(msgspec.Struct, tag="publish_auction", **_OPTS):
    """Publish an auction. Times are UTC ns; prices and the increment fen per tonne."""

    actor: str
    side: Literal["sell", "buy"] = "sell"
    commodity: str
    lots: list[LotSpec] = []
    demand: list[DemandLot] = []
    opens_ns: int
    closes_ns: int
    increment: int
    base_price: int = 0
    extend_ns: int = 60 * 10**9
    hard_stop_ns: int = 0  # 0: the close + 30 minutes
    deposit: int = 30_000_000  # fen: 300,000 yuan
    bond_per_t: int = 100_000  # fen a tonne: 1,000 yuan
    clean_days: int = 0  # no credit-register entry in this many trading days (0: not asked)
    categories: list[str] = []  # buyer categories admitted (none: any)
    max_lots: int = 0  # lots one bidder may lead or win in this auction (0: no cap)
    max_kg_per_day: int = 0  # kilograms one bidder may lead or win a trading day (0: no cap)
    payment_days: int = 5


class PlaceBid(msgspec.Struct, tag="auction_bid", **_OPTS):
    """A bid on a sell auction's lot, or a supplier's offer of ``receipt_ids`` on a buy auction's."""

    actor: str
    auction_id: int
    lot_no: int
    price: int
    receipt_ids: list[str] = []


class PayLot(msgspec.Struct, tag="pay_auction_lot", **_OPTS):
    """The winner of a sell auction's lot pays the balance: the lot settles by DvP."""

    actor: str
    auction_id: int
    lot_no: int


AuctionCommand = PublishAuction | PlaceBid | PayLot


class AuctionDue(msgspec.Struct, tag="auction_due", **_OPTS):
    """Timer: close ``lot_no`` if its close is still ``close_ns`` (an extension moved it)."""

    auction_id: int
    lot_no: int
    close_ns: int


class Lot(msgspec.Struct, kw_only=True):
    lot_no: int
    kg: int  # sell: the receipts' weight; buy: the quantity asked
    receipt_ids: list[str] = []  # sell: the lot; buy: the leading offer's
    floor: int = 0  # sell
    premium: int = 0  # sell: fen a tonne, weight-averaged
    demand: DemandLot | None = None  # buy
    close_ns: int = 0
    extensions: int = 0
    best: int = 0
    leader: str = ""
    best_seq: int = 0  # the leading bid's number
    bids: int = 0
    state: str = OPEN  # one of LOT_STATES
    winner: str = ""
    price: int = 0
    value: int = 0
    bond: int = 0
    pay_by_day: int = 0
    won_day: int = 0
    closed_day: int = 0  # the trading day it closed (the market report's day)
    closed_ns: int = 0
    buyer_fee: int = 0
    seller_fee: int = 0


class BidRecord(msgspec.Struct, array_like=True, gc=False):
    seq: int
    lot_no: int
    member: str
    price: int
    ts_ns: int


class Auction(msgspec.Struct, kw_only=True):
    auction_id: int
    side: str
    publisher: str
    commodity: str
    opens_ns: int
    hard_stop_ns: int
    increment: int
    extend_ns: int
    deposit: int
    bond_per_t: int
    clean_days: int
    categories: list[str]
    max_lots: int
    max_kg_per_day: int
    payment_days: int
    lots: list[Lot]
    bidders: list[str] = []  # members with a pre-deposit frozen, in order
    bid_log: list[BidRecord] = []
    state: str = OPEN  # one of AUCTION_STATES
    published_day: int = 0


class Auctions:
    """Every auction; money in the shared escrow, defaults in the credit register."""

    def __init__(self, escrow: Escrow, credit: CreditRegister) -> None:
        self.escrow, self.credit = escrow, credit
        self.auctions: dict[int, Auction] = {}
        self.next_id = 1
        self.bid_seq = 0
        self.due: list[tuple[int, AuctionDue]] = []  # timers to set (drained by the exchange)
        self.notices: list[tuple[str, dict]] = []  # (member or "" for public, message): the feeds

    # -------------------------------------------------------------- publish

    def publish(self, cmd: PublishAuction, registry: Registry, ledger: Ledger,
                now_ns: int) -> Auction | SupplyRejected:
        why = self._bad_terms(cmd, now_ns)
        if why is not None:
            return SupplyRejected("INVALID_AUCTION", why)
        auction_id = self.next_id
        hard_stop = cmd.hard_stop_ns or cmd.closes_ns + 30 * 60 * 10**9
        lots: list[Lot] = []
        if cmd.side == "sell":
            seen: set[str] = set()
            for n, spec in enumerate(cmd.lots, 1):
                if (refusal := unavailable(registry, cmd.actor, cmd.commodity, spec.receipt_ids, seen)) is not None:
                    return refusal
                seen.update(spec.receipt_ids)
                if not spec.floor and not cmd.base_price:  # else the floor would be the premium alone
                    return SupplyRejected("INVALID_PRICE", f"lot {n}: give it a floor, or the auction a base price")
                premium = lot_premium(registry, spec.receipt_ids)
                floor = spec.floor or cmd.base_price + premium
                if not 0 < floor <= MAX_PRICE or lot_value(registry, spec.receipt_ids, floor) > MAX_AMOUNT:
                    return SupplyRejected("INVALID_PRICE", f"lot {n}: floor {floor} fen a tonne is out of bounds")
                lots.append(Lot(lot_no=n, kg=lot_kg(registry, spec.receipt_ids), receipt_ids=list(spec.receipt_ids),
                                floor=floor, premium=premium, close_ns=cmd.closes_ns))
        else:
            needs = [self.escrow.fee(upper(d)) + upper_value(d) for d in cmd.demand]
            if sum(needs) > MAX_AMOUNT:
                return SupplyRejected("INVALID_PRICE", "the demand's value passes the ledger's bounds")
            for n, d in enumerate(cmd.demand, 1):
                lots.append(Lot(lot_no=n, kg=d.quantity_kg, demand=d, close_ns=cmd.closes_ns))
            if ledger.balance(cash(cmd.actor)) < sum(needs):  # checked first: a refusal moves nothing
                return SupplyRejected("INSUFFICIENT_FUNDS", f"the demand needs {sum(needs)} fen frozen")
            for lot, need in zip(lots, needs, strict=True):
                self.escrow.freeze(ledger, _pay_key(auction_id, lot.lot_no), cmd.actor, need, "AUCTION_FREEZE",
                                   Ref(auction_id=auction_id), now_ns)
        self.next_id += 1
        auction = Auction(auction_id=auction_id, side=cmd.side, publisher=cmd.actor, commodity=cmd.commodity,
                          opens_ns=cmd.opens_ns, hard_stop_ns=hard_stop, increment=cmd.increment,
                          extend_ns=cmd.extend_ns, deposit=cmd.deposit, bond_per_t=cmd.bond_per_t,
                          clean_days=cmd.clean_days, categories=list(cmd.categories), max_lots=cmd.max_lots,
                          max_kg_per_day=cmd.max_kg_per_day, payment_days=cmd.payment_days, lots=lots,
                          published_day=self.credit.calendar.day)
        self.auctions[auction_id] = auction
        for lot in lots:
            if cmd.side == "sell":
                offer(registry, lot.receipt_ids, cmd.actor, now_ns, f"auction {auction_id} lot {lot.lot_no}")
            self.due.append((lot.close_ns, AuctionDue(auction_id=auction_id, lot_no=lot.lot_no, close_ns=lot.close_ns)))
        self.notices.append(("", {"type": "auction_published", "auction_id": auction_id}))
        return auction

    @staticmethod
    def _bad_terms(cmd: PublishAuction, now_ns: int) -> str | None:
        lots = cmd.lots if cmd.side == "sell" else cmd.demand
        hard_stop = cmd.hard_stop_ns or cmd.closes_ns + 30 * 60 * 10**9
        checks = [
            (1 <= len(lots) <= MAX_LOTS, f"1 to {MAX_LOTS} lots"),
            (not (cmd.lots and cmd.demand), "lots for a sell auction, demand for a buy auction"),
            (0 <= cmd.opens_ns < cmd.closes_ns <= hard_stop <= MAX_TIME_NS and cmd.closes_ns > now_ns,
             "need opens < closes ≤ hard stop, the close in the future"),
            (0 < cmd.increment <= MAX_PRICE and 0 <= cmd.base_price <= MAX_PRICE, "increment 1 fen to 10¹² fen"),
            (0 <= cmd.extend_ns <= DAY_NS, "extend_ns up to a day"),
            (0 <= cmd.deposit <= MAX_AMOUNT and 0 <= cmd.bond_per_t <= MAX_PRICE, "deposit or bond out of bounds"),
            (0 <= cmd.clean_days <= 3_650 and 0 <= cmd.payment_days <= 30, "clean_days ≤ 3650, payment_days ≤ 30"),
            (0 <= cmd.max_lots <= MAX_LOTS and 0 <= cmd.max_kg_per_day <= 10**12, "caps out of bounds"),
            (len(cmd.categories) <= 20, "at most 20 categories"),
            (all(0 < d.quantity_kg <= 10**9 and 0 < d.ceiling <= MAX_PRICE and 0 <= d.tolerance_bps <= 10_000
                 and len(d.factors) <= 20 and len(d.warehouses) <= 100 for d in cmd.demand),
             "demand: quantity 1 kg to 10⁹ kg, ceiling 1 fen to 10¹², tolerance ≤ 100 %"),
        ]
        return next((why for ok, why in checks if not ok), None)

    # -------------------------------------------------------------- bids

    def bid(self, cmd: PlaceBid, registry: Registry, ledger: Ledger, now_ns: int) -> BidRecord | SupplyRejected:
        auction = self.auctions.get(cmd.auction_id)
        if auction is None:
            return SupplyRejected("AUCTION_NOT_FOUND", f"no auction {cmd.auction_id}")
        if not 1 <= cmd.lot_no <= len(auction.lots):
            return SupplyRejected("LOT_NOT_FOUND", f"auction {auction.auction_id} has no lot {cmd.lot_no}")
        lot = auction.lots[cmd.lot_no - 1]
        refusal = self._bid_refusal(auction, lot, cmd, registry, now_ns)
        if refusal is not None:
            return refusal
        ref = Ref(auction_id=auction.auction_id)
        if cmd.actor not in auction.bidders:
            if not self.escrow.freeze(ledger, _deposit_key(auction.auction_id, cmd.actor), cmd.actor, auction.deposit,
                                      "AUCTION_DEPOSIT", ref, now_ns):
                return SupplyRejected("INSUFFICIENT_DEPOSIT", f"the pre-deposit is {auction.deposit} fen")
            auction.bidders.append(cmd.actor)
        if auction.side == "buy":
            keep = set(lot.receipt_ids) & set(cmd.receipt_ids) if lot.leader == cmd.actor else set()
            withdraw(registry, [r for r in lot.receipt_ids if r not in keep], now_ns,
                     f"outbid in auction {auction.auction_id} lot {lot.lot_no}")
            offer(registry, [r for r in cmd.receipt_ids if r not in keep], cmd.actor, now_ns,
                  f"auction {auction.auction_id} lot {lot.lot_no}")
            lot.receipt_ids = list(cmd.receipt_ids)
        self.bid_seq += 1
        record = BidRecord(self.bid_seq, lot.lot_no, cmd.actor, cmd.price, now_ns)
        outbid = lot.leader if lot.leader != cmd.actor else ""
        lot.best, lot.leader, lot.best_seq, lot.bids = cmd.price, cmd.actor, self.bid_seq, lot.bids + 1
        auction.bid_log.append(record)
        if lot.close_ns - now_ns < auction.extend_ns and lot.close_ns < auction.hard_stop_ns:
            lot.close_ns = min(lot.close_ns + auction.extend_ns, auction.hard_stop_ns)
            lot.extensions += 1
            self.due.append((lot.close_ns, AuctionDue(auction_id=auction.auction_id, lot_no=lot.lot_no,
                                                      close_ns=lot.close_ns)))
        self._lot_notice(auction, lot)
        self.notices.append((cmd.actor, {"type": "auction_bid", "auction_id": auction.auction_id,
                                         "lot_no": lot.lot_no, "price": cmd.price, "leading": True}))
        if outbid:
            self.notices.append((outbid, {"type": "auction_outbid", "auction_id": auction.auction_id,
                                          "lot_no": lot.lot_no, "price": cmd.price}))
        return record

    def _bid_refusal(self, auction: Auction, lot: Lot, cmd: PlaceBid, registry: Registry,
                     now_ns: int) -> SupplyRejected | None:
        if now_ns < auction.opens_ns:
            return SupplyRejected("AUCTION_NOT_OPEN", f"auction {auction.auction_id} opens at {auction.opens_ns}")
        if lot.state != OPEN or now_ns >= lot.close_ns:
            return SupplyRejected("AUCTION_CLOSED", f"lot {lot.lot_no} is closed")
        if (why := self._ineligible(auction, cmd.actor)) is not None:
            return SupplyRejected("NOT_ELIGIBLE", why)
        if not 0 < cmd.price <= MAX_PRICE:
            return SupplyRejected("INVALID_PRICE", f"a price is 1 to {MAX_PRICE} fen a tonne")
        sell = auction.side == "sell"
        if not lot.leader:
            if sell and cmd.price < lot.floor:
                return SupplyRejected("BELOW_FLOOR", f"the floor is {lot.floor} fen a tonne")
            if not sell and cmd.price > lot.demand.ceiling:
                return SupplyRejected("ABOVE_CEILING", f"the ceiling is {lot.demand.ceiling} fen a tonne")
        elif (cmd.price - lot.best if sell else lot.best - cmd.price) < auction.increment:
            return SupplyRejected("INCREMENT_TOO_SMALL",
                                  f"beat {lot.best} fen a tonne by at least {auction.increment}")
        if (why := self._capped(auction, lot, cmd.actor)) is not None:
            return SupplyRejected("BUYER_CAP", why)
        if sell:
            if lot_value(registry, lot.receipt_ids, cmd.price) > MAX_AMOUNT:
                return SupplyRejected("INVALID_PRICE", "the lot's value passes the ledger's bounds")
            return None
        return self._offer_refusal(auction, lot, cmd, registry)

    def _ineligible(self, auction: Auction, member: str) -> str | None:
        if member == auction.publisher:
            return "the publisher does not bid in its own auction"
        if not self.credit.clean_for(member, auction.clean_days):
            return f"a credit-register entry in the last {auction.clean_days} trading days"
        if auction.categories and self.escrow.categories.get(member) not in auction.categories:
            return f"open to {', '.join(auction.categories)} only"
        return None

    def _capped(self, auction: Auction, lot: Lot, member: str) -> str | None:
        if auction.max_lots:
            mine = sum(1 for other in auction.lots if other is not lot and member in (other.leader, other.winner))
            if mine >= auction.max_lots:
                return f"at most {auction.max_lots} lots a bidder in this auction"
        if auction.max_kg_per_day:
            today = self.credit.calendar.day
            kg = sum(other.kg for a in self.auctions.values() for other in a.lots
                     if other is not lot and (other.state == OPEN and other.leader == member
                                              or other.winner == member and other.won_day == today))
            if kg + lot.kg > auction.max_kg_per_day:
                return f"at most {auction.max_kg_per_day} kg a bidder a trading day"
        return None

    def _offer_refusal(self, auction: Auction, lot: Lot, cmd: PlaceBid, registry: Registry) -> SupplyRejected | None:
        if not cmd.receipt_ids or len(cmd.receipt_ids) != len(set(cmd.receipt_ids)):
            return SupplyRejected("INVALID_LOT", "offer one or more distinct receipts")
        own = set(lot.receipt_ids) if lot.leader == cmd.actor else set()
        free = [r for r in cmd.receipt_ids if r not in own]
        if free and (refusal := unavailable(registry, cmd.actor, auction.commodity, free)) is not None:
            return refusal
        d = lot.demand
        kg = lot_kg(registry, cmd.receipt_ids)
        if abs(kg - d.quantity_kg) * 10_000 > d.quantity_kg * d.tolerance_bps:
            return SupplyRejected("LOT_QUANTITY_MISMATCH", f"{kg} kg is not {d.quantity_kg} kg within tolerance")
        for receipt_id in cmd.receipt_ids:
            r = registry.receipts[receipt_id]
            bad = [f for f, allowed in d.factors.items() if r.factors.get(f) not in allowed]
            if bad or (d.warehouses and r.warehouse not in d.warehouses):
                return SupplyRejected("LOT_RECEIPT_UNAVAILABLE", f"receipt {receipt_id} does not meet the demand")
        return None

    # -------------------------------------------------------------- close, pay, forfeit

    def close(self, due: AuctionDue, registry: Registry, ledger: Ledger, now_ns: int, today: int) -> None:
        """A close timer: close the lot if its close has not moved since the timer was set."""
        auction = self.auctions.get(due.auction_id)
        if auction is None or not 1 <= due.lot_no <= len(auction.lots):
            return
        lot = auction.lots[due.lot_no - 1]
        if lot.state != OPEN or lot.close_ns != due.close_ns:
            return
        lot.closed_ns, lot.closed_day = now_ns, today
        ref = Ref(auction_id=auction.auction_id)
        where = f"auction {auction.auction_id} lot {lot.lot_no}"
        if not lot.leader:
            lot.state = UNSOLD
            if auction.side == "sell":
                withdraw(registry, lot.receipt_ids, now_ns, f"unsold in {where}")
            else:
                self.escrow.release(ledger, _pay_key(auction.auction_id, lot.lot_no), "AUCTION_RELEASE", ref, now_ns)
        elif auction.side == "sell":
            lot.state, lot.winner, lot.price = WON, lot.leader, lot.best
            lot.value = lot_value(registry, lot.receipt_ids, lot.price)
            lot.pay_by_day, lot.won_day = today + auction.payment_days, today
            self._freeze_bond(auction, lot, ledger, ref, now_ns)
            self.notices.append((lot.winner, {"type": "auction_won", "auction_id": auction.auction_id,
                                              "lot_no": lot.lot_no, "price": lot.price, "value": lot.value,
                                              "bond": lot.bond, "pay_by_day": lot.pay_by_day}))
        else:
            self._settle_buy(auction, lot, registry, ledger, ref, now_ns, where)
        self._lot_notice(auction, lot)
        if all(lot.state != OPEN for lot in auction.lots):
            self._end(auction, ledger, ref, now_ns)

    def _freeze_bond(self, auction: Auction, lot: Lot, ledger: Ledger, ref: Ref, now_ns: int) -> None:
        """The winner's bond: from its pre-deposit first, then as much of its cash as there is."""
        bond = min(value_fen(auction.bond_per_t, 0, lot.kg), lot.value)
        key = _bond_key(auction.auction_id, lot.lot_no)
        moved = self.escrow.move(_deposit_key(auction.auction_id, lot.winner), key, bond)
        available = max(0, min(bond - moved, ledger.balance(cash(lot.winner))))
        self.escrow.freeze(ledger, key, lot.winner, available, "AUCTION_BOND", ref, now_ns)
        lot.bond = self.escrow.held(key)

    def _settle_buy(self, auction: Auction, lot: Lot, registry: Registry, ledger: Ledger, ref: Ref, now_ns: int,
                    where: str) -> None:
        lot.winner, lot.price = lot.leader, lot.best
        lot.premium = lot_premium(registry, lot.receipt_ids)
        key = _pay_key(auction.auction_id, lot.lot_no)
        deal = settle(self.escrow, ledger, registry, lot.receipt_ids, auction.publisher, lot.winner, lot.price, ref,
                      now_ns, f"bought in {where}", from_holds=[key])
        self.escrow.release(ledger, key, "AUCTION_RELEASE", ref, now_ns)
        if isinstance(deal, SupplyRejected):  # cannot happen: the freeze covers the ceiling; kept total
            lot.state = UNSOLD
            withdraw(registry, lot.receipt_ids, now_ns, f"unsettled in {where}")
            return
        lot.state, lot.value, lot.buyer_fee, lot.seller_fee = SETTLED, deal.value, deal.buyer_fee, deal.seller_fee
        for member in (auction.publisher, lot.winner):
            self.notices.append((member, {"type": "auction_settled", "auction_id": auction.auction_id,
                                          "lot_no": lot.lot_no, "price": lot.price, "value": lot.value}))

    def _end(self, auction: Auction, ledger: Ledger, ref: Ref, now_ns: int) -> None:
        """Every lot closed: release what is left of the pre-deposits."""
        auction.state = ENDED
        for member in auction.bidders:
            self.escrow.release(ledger, _deposit_key(auction.auction_id, member), "AUCTION_DEPOSIT_RELEASE", ref,
                                now_ns)
        self.notices.append(("", {"type": "auction_ended", "auction_id": auction.auction_id}))

    def pay(self, cmd: PayLot, registry: Registry, ledger: Ledger, now_ns: int) -> Lot | SupplyRejected:
        auction = self.auctions.get(cmd.auction_id)
        if auction is None or not 1 <= cmd.lot_no <= len(auction.lots):
            return SupplyRejected("LOT_NOT_FOUND", f"no lot {cmd.lot_no} in auction {cmd.auction_id}")
        lot = auction.lots[cmd.lot_no - 1]
        if lot.winner != cmd.actor or auction.side != "sell":
            return SupplyRejected("NOT_WINNER", "only the lot's winner pays for it")
        if lot.state != WON:
            return SupplyRejected("LOT_NOT_PAYABLE", f"lot {lot.lot_no} is {lot.state}")
        ref = Ref(auction_id=auction.auction_id)
        key = _bond_key(auction.auction_id, lot.lot_no)
        where = f"auction {auction.auction_id} lot {lot.lot_no}"
        deal = settle(self.escrow, ledger, registry, lot.receipt_ids, lot.winner, auction.publisher, lot.price, ref,
                      now_ns, f"sold in {where}", from_holds=[key])
        if isinstance(deal, SupplyRejected):
            return deal
        self.escrow.release(ledger, key, "AUCTION_BOND_RELEASE", ref, now_ns)
        lot.state, lot.buyer_fee, lot.seller_fee = PAID, deal.buyer_fee, deal.seller_fee
        for member in (lot.winner, auction.publisher):
            self.notices.append((member, {"type": "auction_paid", "auction_id": auction.auction_id,
                                          "lot_no": lot.lot_no, "value": lot.value}))
        return lot

    def end_of_day(self, registry: Registry, ledger: Ledger, now_ns: int, today: int) -> None:
        """Forfeit every won lot unpaid by the end of its payment day (``today`` closing)."""
        for auction in self.auctions.values():
            for lot in auction.lots:
                if lot.state == WON and lot.pay_by_day <= today:
                    self._forfeit(auction, lot, registry, ledger, now_ns)

    def _forfeit(self, auction: Auction, lot: Lot, registry: Registry, ledger: Ledger, now_ns: int) -> None:
        """The bond to the seller less the exchange's fee (one side's per-tonne fee), the
        receipts back to the seller, the default into the credit register."""
        ref = Ref(auction_id=auction.auction_id)
        key = _bond_key(auction.auction_id, lot.lot_no)
        bond = self.escrow.held(key)
        fee = min(bond, self.escrow.fee(lot.kg))
        ledger.post([(bulk(lot.winner), FEES, fee, "FORFEIT_FEE", ref),
                     (bulk(lot.winner), cash(auction.publisher), bond - fee, "FORFEIT", ref)], now_ns)
        if bond:
            self.escrow.spent(key, bond)
        withdraw(registry, lot.receipt_ids, now_ns, f"unpaid in auction {auction.auction_id} lot {lot.lot_no}")
        lot.state = FORFEITED
        self.credit.record(lot.winner, "auction_forfeit", f"auction:{auction.auction_id}/lot:{lot.lot_no}", now_ns,
                           amount=bond, detail=f"unpaid by trading day {lot.pay_by_day}")
        self.notices.append((lot.winner, {"type": "auction_forfeit", "auction_id": auction.auction_id,
                                          "lot_no": lot.lot_no, "bond": bond}))

    # -------------------------------------------------------------- views and invariants

    def _lot_notice(self, auction: Auction, lot: Lot) -> None:
        self.notices.append(("", {"type": "auction_lot", "auction_id": auction.auction_id, "lot_no": lot.lot_no,
                                  "best": lot.best, "bids": lot.bids, "close_ns": lot.close_ns,
                                  "state": lot.state}))

    def drain_due(self) -> list[tuple[int, AuctionDue]]:
        due, self.due = self.due, []
        return due

    def check(self, registry: Registry) -> None:
        """Assert each open sell lot's receipts are offered and owned by its publisher, each
        open buy lot's leading offer is offered, and won lots hold their bond."""
        for a in self.auctions.values():
            for lot in a.lots:
                if lot.state in (OPEN, WON) and (a.side == "sell" or lot.leader):
                    owner = a.publisher if a.side == "sell" else lot.leader
                    for r in lot.receipt_ids:
                        receipt = registry.receipts[r]
                        assert receipt.state == OFFERED and receipt.owner == owner, f"auction {a.auction_id}: {r}"
                if lot.state == WON:
                    assert self.escrow.held(_bond_key(a.auction_id, lot.lot_no)) == lot.bond, "bond held differs"
            if a.state == ENDED:
                assert all(lot.state != OPEN for lot in a.lots), f"auction {a.auction_id} ended with open lots"

    def state_hash(self) -> str:
        data = msgspec.msgpack.encode([self.next_id, self.bid_seq, [self.auctions[k] for k in sorted(self.auctions)]])
        return hashlib.blake2b(data, digest_size=8).hexdigest()


def upper(d: DemandLot) -> int:
    """The heaviest lot a demand accepts (kg)."""
    return heaviest_kg(d.quantity_kg, d.tolerance_bps)


def upper_value(d: DemandLot) -> int:
    """The most a demand lot can cost: the ceiling on the heaviest lot, with rounding room of a
    fen for each of up to ``MAX_RECEIPTS`` receipts."""
    return most_value(d.ceiling, upper(d))


def _deposit_key(auction_id: int, member: str) -> str:
    return f"a{auction_id}:deposit:{member}"


def _bond_key(auction_id: int, lot_no: int) -> str:
    return f"a{auction_id}:bond:{lot_no}"


def _pay_key(auction_id: int, lot_no: int) -> str:
    return f"a{auction_id}:pay:{lot_no}"
