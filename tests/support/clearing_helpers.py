"""An in-process exchange state with a spot urea instrument, a cotton spot, a forward, fees and
funded members, for clearing tests that count every fen."""

from decimal import Decimal as D

from clearing.core import Deposit, EndOfDay, SetFees
from clearing.ledger import BANK, FEES, cash, held
from clearing.reconcile import held_equals_needs
from engine import AddInstrument, NewOrder, SetSession
from exchange.journal import Entry, decode_entry, encode_entry
from exchange.state import ExchangeState, Result
from warehouse_receipts.quality import UreaQuality
from warehouse_receipts.registry import IssueReceipt, SetDeliverySpec

UR_REF = 200_000  # 2,000 yuan/t in fen
UR_LOT_KG = 20_000
# the most a lot of UR can cost at 2,000 yuan/t: a 22,000 kg receipt (10 % tolerance) + 0.2 ‰ commission
UR_NEED_AT_REF = 200_000 * 22_000 // 1_000 + 880
BASE_UREA = UreaQuality(nitrogen_pct=D("46.2"), biuret_pct=D("0.8"), moisture_pct=D("0.4"), granules_pct=D("95"))
SUBSTITUTE_UREA = UreaQuality(nitrogen_pct=D("45.4"), biuret_pct=D("1.2"), moisture_pct=D("0.8"),
                              granules_pct=D("91"))


class Harness:
    """Applies commands like the sequencer does, one entry number and timestamp each."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.state = ExchangeState()
        self.entry_no = 0
        self.ts = self.start_ns = start_ns
        self.coid = 0
        self.journal: list[tuple[Entry, int, int]] | None = None
        for cmd in (
            AddInstrument(symbol="UR", tick=100, lot_size=UR_LOT_KG, ref_price=UR_REF, band_bps=400,
                          max_limit_qty=100, max_market_qty=20, protection_ticks=5),
            AddInstrument(symbol="FW", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400),
            SetSession("UR", "continuous"), SetSession("FW", "continuous"),
        ):
            self.run(cmd)
        self.run(SetDeliverySpec(actor="ops", symbol="UR", commodity="urea", table="GB/T2440-2017",
                                 lot_kg=UR_LOT_KG))
        self.run(SetFees(actor="ops", symbol="UR", rate_ppm=200))
        self.run(SetFees(actor="ops", symbol="FW", per_lot=430))

    def run(self, command, client_order_id: str = "", receipt_ids: list[str] | None = None) -> Result:
        self.entry_no += 1
        self.ts += 1_000_000
        if isinstance(command, NewOrder) and not client_order_id:
            self.coid += 1
            client_order_id = f"o{self.coid}"
        entry = Entry(command, client_order_id, receipt_ids or [])
        if self.journal is not None:  # through the journal's encoding, as a restart reads it
            self.journal.append((decode_entry(encode_entry(entry)), self.entry_no, self.ts))
        return self.state.apply(entry, self.entry_no, self.ts)

    def record(self) -> None:
        """Journal every command from now on (``replayed`` applies them to a fresh harness)."""
        self.journal = []

    def replayed(self) -> ExchangeState:
        """A fresh harness's state (its own set-up) with the recorded entries applied."""
        state = Harness(self.start_ns).state
        for entry, entry_no, now_ns in self.journal or []:
            state.apply(entry, entry_no, now_ns)
        return state

    def deposit(self, member: str, amount: int) -> Result:
        return self.run(Deposit(actor="desk", member=member, amount=amount,
                                reference=f"t{self.entry_no}"))

    def issue(self, owner: str, quality: UreaQuality = BASE_UREA, kg: int = UR_LOT_KG) -> str:
        self.coid += 1
        result = self.run(IssueReceipt(actor="wh", certificate_no=f"C{self.coid}", inspector="i",
                                       owner=owner, quality=quality, quantity_kg=kg))
        return result.outcome[0].receipt_id

    def order(self, member: str, side: str, qty: int, price: int, symbol: str = "UR", **kw) -> Result:
        return self.run(NewOrder(member=member, symbol=symbol, side=side, quantity=qty, price=price, **kw))

    def end_of_day(self) -> Result:
        return self.run(EndOfDay(actor="desk"))

    # ledger views
    def available(self, member: str) -> int:
        return self.state.clearing.ledger.balance(cash(member))

    def held(self, member: str) -> int:
        return self.state.clearing.ledger.balance(held(member))

    def fees(self) -> int:
        return self.state.clearing.ledger.balance(FEES)

    def ledger_snapshot(self) -> tuple:
        ledger = self.state.clearing.ledger
        return ledger.next_id, {a.account_id: (a.debits, a.credits) for a in ledger.accounts.values()}

    def assert_reconciled(self) -> None:
        """The in-memory half of reconciliation, plus the ledger's own balance."""
        s = self.state
        assert held_equals_needs(s.engine, s.registry, s.clearing) == []
        ledger = s.clearing.ledger
        assert sum(a.debits for a in ledger.accounts.values()) == sum(a.credits for a in ledger.accounts.values())
        liabilities = sum(a.balance for a in ledger.accounts.values() if a.account_id != BANK)
        assert ledger.balance(BANK) == liabilities == s.clearing.deposited - s.clearing.withdrawn
        assert all(a.balance >= 0 for a in ledger.accounts.values())
