"""What auctions and listings (bulk supply) share: money frozen in escrow, the per-tonne fee,
buyer categories, lot weights, values and premiums, and delivery versus payment of a lot.

**Escrow.** Pre-deposits, performance bonds, a buy auction's payment and a counter-offer's
payment are frozen by a transfer ``cash:M → bulk:M`` and named by a key (``a3:deposit:mill``,
``a3:bond:2``, ``l5:counter:1``); releasing one is the transfer back, spending one debits
``bulk:M``. They are not the ledger's pending transfers on purpose: ``held:M`` must equal the
member's open orders' needs (reconciliation recomputes it from the book), so bulk supply keeps
its own account and the same invariant: ``bulk:M`` equals the member's open escrow holds.

**Units.** Prices are fen per tonne, weights kilograms; a lot's value is the sum over its
receipts of price × weight, each rounded half up to the fen (``value_fen``, as DvP does); the
fee is ``fee_per_t`` fen per tonne each side, on the lot's weight, rounded half up.
"""

import hashlib
from collections.abc import Iterable

import msgspec

from clearing.ledger import FEES, MAX_AMOUNT, Ledger, Overdraft, Ref, cash, ceil_div
from engine.state import MAX_PRICE
from warehouse_receipts.grading import value_fen
from warehouse_receipts.registry import OFFERED, REGISTERED, Receipt, Registry

MAX_RECEIPTS = 50  # receipts in one lot or listing
_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}


def bulk(member: str) -> str:
    return f"bulk:{member}"


class SupplyRejected(msgspec.Struct):
    """A refused auction or listing command; nothing changed."""

    code: str
    message: str


class SetSupplyFee(msgspec.Struct, tag="set_supply_fee", **_OPTS):
    """The exchange's fee on auction and listing deals, fen per tonne, charged to each side."""

    actor: str
    fee_per_t: int


class SetBuyerCategory(msgspec.Struct, tag="set_buyer_category", **_OPTS):
    """A member's buyer category (e.g. ``textile_mill``), which auctions may require; "" clears it."""

    actor: str
    member: str
    category: str


class Hold(msgspec.Struct, array_like=True, gc=False):
    member: str
    amount: int


class Escrow:
    """Open holds by key, the fee per tonne and buyer categories."""

    def __init__(self) -> None:
        self.holds: dict[str, Hold] = {}
        self.fee_per_t = 0
        self.categories: dict[str, str] = {}
        self.handed_over: list[Handover] = []  # this command's deals, for the disputes register (drained)

    def apply(self, cmd: SetSupplyFee | SetBuyerCategory) -> dict | SupplyRejected:
        if isinstance(cmd, SetSupplyFee):
            if not 0 <= cmd.fee_per_t <= MAX_PRICE:
                return SupplyRejected("INVALID_FEE", f"fee_per_t is 0 to {MAX_PRICE} fen a tonne")
            self.fee_per_t = cmd.fee_per_t
            return {"fee_per_t": self.fee_per_t}
        if not cmd.member or len(cmd.category) > 64:
            return SupplyRejected("INVALID_CATEGORY", "name a member and a category of at most 64 characters")
        if cmd.category:
            self.categories[cmd.member] = cmd.category
        else:
            self.categories.pop(cmd.member, None)
        return {"member": cmd.member, "category": cmd.category}

    # -------------------------------------------------------------- holds

    def held(self, key: str) -> int:
        hold = self.holds.get(key)
        return hold.amount if hold else 0

    def freeze(self, ledger: Ledger, key: str, member: str, amount: int, code: str, ref: Ref, ts_ns: int) -> bool:
        """Freeze ``amount`` more of ``member``'s cash under ``key``; False (nothing moved) if
        the cash is not there."""
        if amount <= 0:
            return amount == 0
        try:
            ledger.post([(cash(member), bulk(member), amount, code, ref)], ts_ns)
        except Overdraft:
            return False
        hold = self.holds.setdefault(key, Hold(member, 0))
        hold.amount += amount
        return True

    def release(self, ledger: Ledger, key: str, code: str, ref: Ref, ts_ns: int, amount: int | None = None) -> int:
        """Return (part of) a hold to its member's cash; what was returned."""
        hold = self.holds.get(key)
        if hold is None:
            return 0
        amount = hold.amount if amount is None else min(amount, hold.amount)
        ledger.post([(bulk(hold.member), cash(hold.member), amount, code, ref)], ts_ns)
        self.spent(key, amount)
        return amount

    def move(self, source: str, target: str, amount: int) -> int:
        """Re-name up to ``amount`` of hold ``source`` as hold ``target`` of the same member
        (no money moves: both sit in ``bulk:M``); what was moved."""
        moved = min(amount, self.held(source))
        if moved:
            member = self.holds[source].member
            self.spent(source, moved)
            self.holds.setdefault(target, Hold(member, 0)).amount += moved
        return moved

    def spent(self, key: str, amount: int) -> None:
        """Record that ``amount`` of a hold left ``bulk:M`` in a posting the caller made."""
        hold = self.holds[key]
        hold.amount -= amount
        if hold.amount == 0:
            del self.holds[key]

    def fee(self, kg: int) -> int:
        return value_fen(self.fee_per_t, 0, kg)

    # -------------------------------------------------------------- invariants

    def check(self, ledger: Ledger) -> None:
        """Assert every ``bulk:M`` account equals the member's open holds, and that this
        command's handovers went to the disputes register."""
        by_member: dict[str, int] = {}
        for key, hold in self.holds.items():
            assert hold.amount > 0, f"escrow hold {key} is {hold.amount}"
            by_member[hold.member] = by_member.get(hold.member, 0) + hold.amount
        for account_id, acct in ledger.accounts.items():
            if account_id.startswith("bulk:"):
                member = account_id[5:]
                assert acct.balance == by_member.pop(member, 0), f"{account_id} differs from its escrow holds"
        assert not by_member, f"escrow holds without an account: {sorted(by_member)}"
        assert not self.handed_over, "a deal's receipts were not passed to the disputes register"

    def state_hash(self) -> str:
        data = msgspec.msgpack.encode([sorted(self.holds.items()), self.fee_per_t, sorted(self.categories.items())])
        return hashlib.blake2b(data, digest_size=8).hexdigest()


# ------------------------------------------------------------------ lots

def premium_of(registry: Registry, receipt: Receipt) -> int:
    """The receipt's quality premium, fen per tonne, from its commodity's table."""
    return registry.premium(receipt, registry.commodity_table(receipt.commodity))


def heaviest_kg(kg: int, tolerance_bps: int) -> int:
    """The heaviest lot a demand for ``kg`` (within ``tolerance_bps``) accepts."""
    return kg + kg * tolerance_bps // 10_000


def most_value(price: int, kg: int) -> int:
    """The most receipts weighing ``kg`` can be paid at ``price`` fen a tonne: the value rounded
    up, with a fen of rounding room for each of up to ``MAX_RECEIPTS`` receipts (each receipt's
    value is rounded on its own)."""
    return ceil_div(price * kg, 1_000) + MAX_RECEIPTS


def lot_kg(registry: Registry, receipt_ids: Iterable[str]) -> int:
    return sum(registry.receipts[r].quantity_kg for r in receipt_ids)


def lot_premium(registry: Registry, receipt_ids: list[str]) -> int:
    """The lot's premium: its receipts' premiums weighted by weight, rounded half up."""
    kg = lot_kg(registry, receipt_ids)
    total = sum(premium_of(registry, registry.receipts[r]) * registry.receipts[r].quantity_kg for r in receipt_ids)
    return (2 * total + kg) // (2 * kg) if kg else 0


def lot_value(registry: Registry, receipt_ids: list[str], price: int) -> int:
    """What a lot is paid at ``price`` fen per tonne: Σ price × weight, each receipt half up."""
    return sum(value_fen(price, 0, registry.receipts[r].quantity_kg) for r in receipt_ids)


def unavailable(registry: Registry, owner: str, commodity: str, receipt_ids: list[str],
                taken: set[str] = frozenset()) -> SupplyRejected | None:
    """Why ``owner`` cannot offer these receipts (not its own, another commodity, not free:
    sold, pledged, frozen, already offered), or None."""
    if not 1 <= len(receipt_ids) <= MAX_RECEIPTS or len(set(receipt_ids)) != len(receipt_ids):
        return SupplyRejected("INVALID_LOT", f"a lot is 1 to {MAX_RECEIPTS} distinct receipts")
    for receipt_id in receipt_ids:
        r = registry.receipts.get(receipt_id)
        if r is None or r.owner != owner or r.commodity != commodity or receipt_id in taken:
            return SupplyRejected("LOT_RECEIPT_UNAVAILABLE", f"you have no free {commodity} receipt {receipt_id}")
        if r.state != REGISTERED or receipt_id in registry.overdue:
            return SupplyRejected("LOT_RECEIPT_UNAVAILABLE", f"receipt {receipt_id} is {r.state}")
    return None


def offer(registry: Registry, receipt_ids: list[str], actor: str, ts_ns: int, detail: str) -> None:
    for receipt_id in receipt_ids:
        registry.move(receipt_id, "offer", actor, ts_ns, detail=detail)


def withdraw(registry: Registry, receipt_ids: list[str], ts_ns: int, detail: str) -> None:
    for receipt_id in receipt_ids:
        if registry.receipts[receipt_id].state == OFFERED:
            registry.move(receipt_id, "withdraw_offer", "exchange", ts_ns, detail=detail)


class Handover(msgspec.Struct, kw_only=True, gc=False):
    """Receipts a deal handed to their buyer at ``price`` fen a tonne: disputable, as a fill's are."""

    receipt_ids: list[str]
    buyer: str
    seller: str
    price: int
    ref: Ref
    ts_ns: int


class Deal(msgspec.Struct, kw_only=True, gc=False):
    """A lot settled by delivery versus payment (fen)."""

    buyer: str
    seller: str
    kg: int
    price: int
    value: int
    buyer_fee: int
    seller_fee: int
    ts_ns: int


def settle(escrow: Escrow, ledger: Ledger, registry: Registry, receipt_ids: list[str], buyer: str, seller: str,
           price: int, ref: Ref, ts_ns: int, detail: str, from_holds: Iterable[str] = ()) -> Deal | SupplyRejected:
    """Delivery versus payment of an offered lot in one posting: value to the seller, the fee
    each side to ``exchange:fees``, paid from the buyer's holds ``from_holds`` first (what is
    left of them goes back to its cash), then its cash; then the receipts to the buyer.
    Refused (nothing moves) if the buyer's money is short."""
    kg = lot_kg(registry, receipt_ids)
    value, fee = lot_value(registry, receipt_ids, price), escrow.fee(kg)
    if value + fee > MAX_AMOUNT:
        return SupplyRejected("INVALID_PRICE", "the lot's value passes the ledger's bounds")
    owed, legs, spent = value + fee, [], []
    for key in from_holds:
        part = min(escrow.held(key), owed)
        if part:
            legs.append((bulk(buyer), cash(buyer), part, "ESCROW_APPLY", ref))
            spent.append((key, part))
            owed -= part
    legs += [(cash(buyer), cash(seller), value, "DVP", ref), (cash(buyer), FEES, fee, "FEE", ref),
             (cash(seller), FEES, fee, "FEE", ref)]
    try:
        ledger.post(legs, ts_ns)
    except Overdraft:
        return SupplyRejected("INSUFFICIENT_FUNDS", f"{buyer} cannot pay {value + fee} fen")
    for key, part in spent:
        escrow.spent(key, part)
    for receipt_id in receipt_ids:
        registry.hand_over(receipt_id, "award", buyer, "exchange", ts_ns, detail=detail)
    escrow.handed_over.append(Handover(receipt_ids=list(receipt_ids), buyer=buyer, seller=seller, price=price, ref=ref,
                                       ts_ns=ts_ns))
    return Deal(buyer=buyer, seller=seller, kg=kg, price=price, value=value, buyer_fee=fee, seller_fee=fee,
                ts_ns=ts_ns)
