"""Warehouse tariffs and storage fees, on the ledger.

Each warehouse publishes, per commodity, a daily storage rate and an inbound deposit, both in
fen per tonne (``SetTariff``, a journaled command by the warehouse). At every end of day (one
trading day of the calendar) each receipt not yet cancelled is charged one day of storage at
its warehouse's rate: ``rate × kg / 1000`` rounded half up to the fen, paid by the receipt's
owner at that moment to the warehouse's cash account (``cash:W``), code ``STORAGE_FEE``, the
receipt named in the transfer's cause. The day's owner at the close pays the whole day; fees
are charged the same day they accrue, so a receipt sold later carries no unpaid fees to its
buyer by construction. What an owner cannot pay from available cash (held cash is never
touched) becomes the owner's arrears to that warehouse — a debt of the member, not of the
receipt — and is collected first at the next end of day.
"""

import msgspec

from clearing.core import ClearingRejected
from clearing.ledger import Ledger, Overdraft, Ref, cash
from warehouse_receipts.grading import TABLES
from warehouse_receipts.registry import CANCELLED, Registry

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
MAX_RATE = 10**9  # fen per tonne (a day, or once inbound)
COMMODITIES = frozenset(commodity for commodity, _ in TABLES)
ARREARS = "storage-arrears"


class SetTariff(msgspec.Struct, tag="set_tariff", **_OPTS):
    """Warehouse ``actor``'s rates for ``commodity``: storage fen per tonne per trading day,
    inbound deposit fen per tonne (paid once when declared goods are accepted)."""

    actor: str
    commodity: str
    storage_per_tonne_day: int
    inbound_per_tonne: int = 0


class Tariff(msgspec.Struct, kw_only=True):
    warehouse: str
    commodity: str
    storage_per_tonne_day: int
    inbound_per_tonne: int
    since_ns: int


def per_tonne(rate: int, kg: int) -> int:
    """``rate`` fen per tonne for ``kg``, rounded half up to the fen."""
    return (rate * kg * 2 + 1_000) // 2_000


class Warehousing:
    """Tariffs by (warehouse, commodity), storage fees earned, arrears by (member, warehouse)."""

    def __init__(self) -> None:
        self.tariffs: dict[tuple[str, str], Tariff] = {}
        self.earned: dict[str, int] = {}  # warehouse -> storage fees received, fen
        self.paid: dict[str, int] = {}  # receipt -> storage fees paid on it, fen
        self.arrears: dict[tuple[str, str], int] = {}
        self.day_net: dict[str, int] = {}  # member -> fen received (+) or paid (−) to warehouses today

    def note(self, payer: str, warehouse: str, fen: int) -> None:
        """A payment to a warehouse today (storage fee or inbound deposit), for the day's report."""
        self.day_net[payer] = self.day_net.get(payer, 0) - fen
        self.day_net[warehouse] = self.day_net.get(warehouse, 0) + fen

    def close_day(self) -> dict[str, int]:
        """Today's payments to warehouses by member; the next day starts from nothing."""
        day, self.day_net = self.day_net, {}
        return day

    def set_tariff(self, cmd: SetTariff, now_ns: int) -> Tariff | ClearingRejected:
        if cmd.commodity not in COMMODITIES:
            return ClearingRejected("UNKNOWN_COMMODITY", f"no commodity {cmd.commodity!r}")
        if not (0 <= cmd.storage_per_tonne_day <= MAX_RATE and 0 <= cmd.inbound_per_tonne <= MAX_RATE):
            return ClearingRejected("INVALID_RATE", f"rates are 0 to {MAX_RATE} fen per tonne")
        tariff = Tariff(warehouse=cmd.actor, commodity=cmd.commodity, storage_per_tonne_day=cmd.storage_per_tonne_day,
                        inbound_per_tonne=cmd.inbound_per_tonne, since_ns=now_ns)
        self.tariffs[(cmd.actor, cmd.commodity)] = tariff
        return tariff

    def tariff(self, warehouse: str, commodity: str) -> Tariff | None:
        return self.tariffs.get((warehouse, commodity))

    def end_of_day(self, registry: Registry, ledger: Ledger, now_ns: int) -> None:
        """Collect arrears, then charge one trading day of storage on every live receipt."""
        if not self.tariffs:
            return
        for (member, warehouse), owed in list(self.arrears.items()):
            paid = min(owed, ledger.balance(cash(member)))
            if paid:
                ledger.post([(cash(member), cash(warehouse), paid, "STORAGE_FEE", Ref(reference=ARREARS))], now_ns)
                self._earn(warehouse, paid)
                self._owe(member, warehouse, -paid)
                self.note(member, warehouse, paid)
        for receipt in registry.receipts.values():
            if receipt.state == CANCELLED:
                continue
            tariff = self.tariffs.get((receipt.warehouse, receipt.commodity))
            fee = per_tonne(tariff.storage_per_tonne_day, receipt.quantity_kg) if tariff else 0
            if not fee or receipt.owner == receipt.warehouse:
                continue
            try:
                ledger.post([(cash(receipt.owner), cash(receipt.warehouse), fee, "STORAGE_FEE",
                              Ref(receipt_id=receipt.receipt_id))], now_ns)
            except Overdraft:
                self._owe(receipt.owner, receipt.warehouse, fee)
                continue
            self._earn(receipt.warehouse, fee)
            self.note(receipt.owner, receipt.warehouse, fee)
            self.paid[receipt.receipt_id] = self.paid.get(receipt.receipt_id, 0) + fee

    def _earn(self, warehouse: str, fen: int) -> None:
        self.earned[warehouse] = self.earned.get(warehouse, 0) + fen

    def _owe(self, member: str, warehouse: str, fen: int) -> None:
        left = self.arrears.get((member, warehouse), 0) + fen
        if left:
            self.arrears[(member, warehouse)] = left
        else:
            del self.arrears[(member, warehouse)]

    def check(self) -> None:
        assert all(v > 0 for v in self.arrears.values()), "arrears are positive or absent"
        assert all(v >= 0 for v in self.earned.values()), "a warehouse earned less than nothing"

    def state_hash(self) -> bytes:
        return msgspec.msgpack.encode([sorted(self.tariffs.items()), sorted(self.earned.items()),
                                       sorted(self.paid.items()), sorted(self.arrears.items()),
                                       sorted(self.day_net.items())])
