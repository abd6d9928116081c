"""Delivery disputes: a buyer contests a delivered receipt's weight or quality.

    open (buyer, within ``window_days`` of delivery; the receipt is frozen)
      → reinspection ordered (clearing) → reinspected (the receipt's warehouse: quality, weight)
      → upheld (clearing: the receipt takes the new inspection, the seller refunds the buyer)
      | rejected (clearing, or upheld with nothing owed: nothing moves); the receipt is unfrozen.

The refund is the delivery's value at the trade price recomputed from the new inspection:
``value(price, old premium, old kg) − value(price, new premium, new kg)``, each rounded half
up to the fen as at delivery, posted ``cash:seller → cash:buyer`` (code
``DISPUTE_ADJUSTMENT``, the trade as cause). Commission is not recomputed. A re-inspection that
finds the goods no worse gives nothing to pay: the dispute is rejected.

Receipts bought in bulk supply (an auction's lot, a listing) are disputable the same way, with
the deal as cause. A deal's price per tonne was agreed for the goods as described, premium and
all, so its refund is ``value(price, 0, old kg) − value(price, new premium − old premium, new kg)``:
the weight short at the deal's price, and the grade lost at the premium table's difference (the
table of the commodity's spot instrument; a commodity without one is refunded by weight only).
Deals' deliveries are kept apart from fills' and left out of the state hash (the deals that
made them are in it), so a journal written before deals were disputable replays to its hash.
"""

from typing import Literal

import msgspec

from clearing.core import ClearingRejected, paid
from clearing.escrow import Handover
from clearing.ledger import Ledger, Overdraft, Ref, cash
from engine import Event, Trade
from warehouse_receipts.dates import DAY_NS
from warehouse_receipts.grading import table_for
from warehouse_receipts.quality import Quality, Refused, commodity_of, grade
from warehouse_receipts.registry import Registry, issued_weight_kg

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
WINDOW_DAYS = 5
CLEARING_ROLE_ACTOR = "exchange"


class OpenDispute(msgspec.Struct, tag="open_dispute", **_OPTS):
    actor: str
    receipt_id: str
    kind: Literal["weight", "quality"]
    reference: str


class OrderReinspection(msgspec.Struct, tag="order_reinspection", **_OPTS):
    actor: str
    dispute_id: int


class RecordReinspection(msgspec.Struct, tag="record_reinspection", **_OPTS):
    actor: str
    dispute_id: int
    quality: Quality
    quantity_kg: int = 0


class DecideDispute(msgspec.Struct, tag="decide_dispute", **_OPTS):
    actor: str
    dispute_id: int
    uphold: bool


class SetDisputeWindow(msgspec.Struct, tag="set_dispute_window", **_OPTS):
    """Clearing sets how many days after delivery a buyer may dispute: it applies to every dispute
    opened from then on, whatever the delivery's date."""

    actor: str
    days: int


DisputeCommand = OpenDispute | OrderReinspection | RecordReinspection | DecideDispute | SetDisputeWindow


class Delivery(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """A receipt's last delivery: who, at what price, against which premium table ("": none).
    A fill's price is for the base grade, the premium on top; a bulk-supply deal (``ref`` names
    it) was priced for the goods as described (``as_described``)."""

    trade_id: int
    buyer: str
    seller: str
    price: int
    ts_ns: int
    commodity: str
    table: str
    ref: Ref | None = None  # a deal's ledger reference (a fill's is its trade id)
    as_described: bool = False


class Dispute(msgspec.Struct, kw_only=True):
    dispute_id: int
    receipt_id: str
    kind: str
    reference: str
    delivery: Delivery
    old_kg: int
    old_premium: int
    state: str = "open"
    new_kg: int = 0
    new_premium: int = 0
    new_quality: Quality | None = None
    adjustment: int = 0  # fen the seller refunded
    history: list[str] = []


def _premium(delivery: Delivery, factors: dict[str, str]) -> int:
    """Fen a tonne these grade factors are worth in the delivery's premium table (0 without one)."""
    return table_for(delivery.commodity, delivery.table).premium(factors) if delivery.table else 0


def _no(code: str, message: str) -> ClearingRejected:
    return ClearingRejected(code, message)


class Disputes:
    """Each receipt's last delivery, and the disputes."""

    def __init__(self, window_days: int = WINDOW_DAYS) -> None:
        self.window_ns = window_days * DAY_NS
        self.deliveries: dict[str, Delivery] = {}  # by fills
        self.deal_deliveries: dict[str, Delivery] = {}  # by bulk-supply deals, when later than any fill
        self.cases: dict[int, Dispute] = {}
        self.by_reference: dict[tuple[str, str], int] = {}
        self.next_id = 1

    def note(self, events: list[Event], delivered: dict[int, list[str]], registry: Registry, now_ns: int) -> None:
        """Remember the deliveries of these fills (the pipeline calls it after settlement)."""
        for e in events:
            if type(e) is Trade and delivered.get(e.trade_id):
                spec = registry.specs[e.symbol]
                for rid in delivered[e.trade_id]:
                    self.deal_deliveries.pop(rid, None)
                    self.deliveries[rid] = Delivery(trade_id=e.trade_id, buyer=e.buyer, seller=e.seller, price=e.price,
                                                    ts_ns=now_ns, commodity=spec.commodity, table=spec.table)

    def note_deals(self, handovers: list[Handover], registry: Registry) -> None:
        """Remember the receipts bulk-supply deals handed over (auctions, listings)."""
        for h in handovers:
            for rid in h.receipt_ids:
                commodity = registry.receipts[rid].commodity
                table = registry.commodity_table(commodity)
                self.deal_deliveries[rid] = Delivery(
                    trade_id=0, buyer=h.buyer, seller=h.seller, price=h.price, ts_ns=h.ts_ns, commodity=commodity,
                    table=table.version if table else "", ref=h.ref, as_described=True)

    def apply(self, cmd: DisputeCommand, registry: Registry, ledger: Ledger,
              now_ns: int) -> Dispute | ClearingRejected | list:
        if isinstance(cmd, OpenDispute):
            return self._open(cmd, registry, now_ns)
        if isinstance(cmd, SetDisputeWindow):
            if not 1 <= cmd.days <= 90:
                return _no("INVALID_WINDOW", "the dispute window is 1 to 90 days")
            self.window_ns = cmd.days * DAY_NS
            return []
        d = self.cases.get(cmd.dispute_id)
        if d is None:
            return _no("DISPUTE_NOT_FOUND", f"no dispute {cmd.dispute_id}")
        if isinstance(cmd, OrderReinspection):
            if d.state == "reinspection":
                return d
            return self._needs(d, "open") or self._step(d, "reinspection", f"ordered by {cmd.actor}")
        if isinstance(cmd, RecordReinspection):
            return self._reinspect(d, cmd, registry, now_ns)
        return self._decide(d, cmd, registry, ledger, now_ns)

    def _open(self, cmd: OpenDispute, registry: Registry, now_ns: int) -> Dispute | ClearingRejected:
        first = self.by_reference.get((cmd.actor, cmd.reference))
        if first is not None:
            return self.cases[first]
        if not cmd.reference:
            return _no("REFERENCE_REQUIRED", "name a reference so a retry returns the first dispute")
        receipt = registry.receipts.get(cmd.receipt_id)
        delivery = self.deal_deliveries.get(cmd.receipt_id) or self.deliveries.get(cmd.receipt_id)
        if receipt is None or delivery is None or delivery.buyer != cmd.actor or receipt.owner != cmd.actor:
            return _no("NOT_DELIVERED_TO_YOU", f"receipt {cmd.receipt_id} was not delivered to you")
        if now_ns > delivery.ts_ns + self.window_ns:
            return _no("DISPUTE_WINDOW_CLOSED", f"disputes are opened within {self.window_ns // DAY_NS} days")
        if any(c.receipt_id == cmd.receipt_id and c.state not in ("upheld", "rejected") for c in self.cases.values()):
            return _no("DISPUTE_OPEN", f"receipt {cmd.receipt_id} is already disputed")
        if (refusal := registry.refusal(receipt, "freeze", cmd.actor)) is not None:
            return _no(refusal.code, refusal.message)
        d = Dispute(dispute_id=self.next_id, receipt_id=receipt.receipt_id, kind=cmd.kind, reference=cmd.reference,
                    delivery=delivery, old_kg=receipt.quantity_kg, old_premium=_premium(delivery, receipt.factors),
                    history=[])
        self.next_id += 1
        self.cases[d.dispute_id] = d
        self.by_reference[(cmd.actor, cmd.reference)] = d.dispute_id
        registry.move(receipt.receipt_id, "freeze", CLEARING_ROLE_ACTOR, now_ns, detail=f"dispute {d.dispute_id}")
        return self._step(d, "open", f"{cmd.kind} disputed by {cmd.actor}")

    def _reinspect(self, d: Dispute, cmd: RecordReinspection, registry: Registry,
                   now_ns: int) -> Dispute | ClearingRejected:
        receipt = registry.receipts[d.receipt_id]
        if cmd.actor != receipt.warehouse:
            return _no("NOT_WAREHOUSE", "the warehouse holding the goods re-inspects them")
        if (refusal := self._needs(d, "reinspection")) is not None:
            return refusal
        if commodity_of(cmd.quality) != receipt.commodity:
            return _no("COMMODITY_MISMATCH", f"the receipt is {receipt.commodity}")
        try:
            factors = grade(cmd.quality)
        except Refused as e:
            return _no("QUALITY_REFUSED", e.reason)
        kg = issued_weight_kg(cmd.quality, cmd.quantity_kg)
        if not 0 < kg <= 10**9:
            return _no("INVALID_QUANTITY", "quantity_kg must be positive")
        d.new_kg, d.new_quality = kg, cmd.quality
        d.new_premium = _premium(d.delivery, factors)
        return self._step(d, "reinspected", f"{kg} kg, premium {d.new_premium} fen/t")

    def _decide(self, d: Dispute, cmd: DecideDispute, registry: Registry, ledger: Ledger,
                now_ns: int) -> Dispute | ClearingRejected:
        if d.state in ("upheld", "rejected"):  # the same decision again is answered as before; another is refused
            if cmd.uphold == (d.state == "upheld"):
                return d
            return _no("DISPUTE_DECIDED", f"dispute {d.dispute_id} was decided already: {d.state}")
        if cmd.uphold and (refusal := self._needs(d, "reinspected")) is not None:
            return refusal  # clearing may reject at any stage, uphold only on a re-inspection
        delivery = d.delivery
        owed = 0
        if cmd.uphold:
            base = d.old_premium if delivery.as_described else 0  # what the price already paid for
            owed = (paid(delivery.price, d.old_premium - base, d.old_kg)
                    - paid(delivery.price, d.new_premium - base, d.new_kg))
        if owed > 0:
            try:
                ledger.post([(cash(delivery.seller), cash(delivery.buyer), owed, "DISPUTE_ADJUSTMENT",
                              delivery.ref or Ref(trade_id=delivery.trade_id))], now_ns)
            except Overdraft:
                return _no("INSUFFICIENT_FUNDS", f"the seller owes {owed} fen and cannot pay it now")
            registry.reinspect(d.receipt_id, d.new_quality, d.new_kg, CLEARING_ROLE_ACTOR, now_ns,
                               detail=f"dispute {d.dispute_id}")
            d.adjustment = owed
        registry.move(d.receipt_id, "unfreeze", CLEARING_ROLE_ACTOR, now_ns, detail=f"dispute {d.dispute_id}")
        return self._step(d, "upheld" if owed > 0 else "rejected",
                          f"{owed} fen refunded to {delivery.buyer}" if owed > 0 else f"rejected by {cmd.actor}")

    @staticmethod
    def _needs(d: Dispute, state: str) -> ClearingRejected | None:
        if d.state != state:
            return _no("DISPUTE_NOT_" + state.upper(), f"dispute {d.dispute_id} is {d.state}")
        return None

    @staticmethod
    def _step(d: Dispute, state: str, note: str) -> Dispute:
        d.state = state
        d.history.append(f"{state}: {note}")
        return d

    def check(self, registry: Registry) -> None:
        for d in self.cases.values():
            frozen = registry.receipts[d.receipt_id].state == "frozen_for_delivery"
            assert frozen or d.state in ("upheld", "rejected"), f"dispute {d.dispute_id} open, receipt not frozen"
            assert d.adjustment >= 0 and (d.adjustment == 0 or d.state == "upheld"), f"dispute {d.dispute_id}"

    def configured(self) -> bool:
        """Whether anything beyond the remembered deliveries is set (for the state hash)."""
        return bool(self.cases) or self.window_ns != WINDOW_DAYS * DAY_NS

    def state_hash(self) -> bytes:
        return msgspec.msgpack.encode([self.next_id, self.window_ns, [self.cases[k] for k in sorted(self.cases)],
                                       sorted(self.deliveries.items())])
