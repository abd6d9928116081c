"""Write a golden journal: a small journal in the current format, with the state hash it
replays to, which every later version of the exchange must still replay to the same hash.

Run once per journal format (``python -m tests.data.golden_journal``), commit the file it
writes, and never rewrite an existing one: a later version that cannot replay it has broken
the journals of every exchange running today. The scenario touches every kind of command: the
catalogue (and the older commands it replaced), sessions, funding and its retry, receipts,
orders that trade, amend and cancel, a loan, a scheduled session fired by a clock tick, the
end of day.
"""

from decimal import Decimal as D
from pathlib import Path

import msgspec

from clearing.core import Deposit, EndOfDay, Fees, SetFees, Withdraw
from clearing.financing import DecideLoan, RepayLoan, RequestLoan, SetTerms
from engine import AddInstrument, AmendOrder, CancelOrder, MassCancel, NewOrder, SetSession
from exchange.catalogue import ForwardTerms, InstrumentSpec, SetInstrument
from exchange.clock import ClockTick, ScheduleSession
from exchange.journal import FORMAT, Entry, encode_entry
from exchange.state import ExchangeState
from warehouse_receipts.quality import UreaQuality
from warehouse_receipts.registry import DeliverySpec, IssueReceipt, PledgeReceipt, SetDeliverySpec, TransferReceipt

HERE = Path(__file__).parent
T0 = 1_795_395_600_000_000_000  # 2026-11-23 09:00 Beijing
MS = 1_000_000
UREA = UreaQuality(nitrogen_pct=D("46.2"), biuret_pct=D("0.8"), moisture_pct=D("0.4"), granules_pct=D("95"))


class Golden(msgspec.Struct):
    """The file: its journal format, the rows (entry number, batch time, entry bytes) and the
    hashes the rows replay to."""

    format: int
    rows: list[tuple[int, int, bytes]]
    engine_hash: str
    state_hash: str


def order(member: str, symbol: str, side: str, qty: int, price: int, coid: str, **kw) -> Entry:
    return Entry(NewOrder(member=member, symbol=symbol, side=side, quantity=qty, price=price, **kw), coid)


def scenario() -> list[Entry]:
    ur = InstrumentSpec(symbol="UR", kind="spot", commodity="urea", lot_size=20_000, tick=100, ref_price=200_000,
                        band_bps=400, fees=Fees(rate_ppm=200),
                        delivery=DeliverySpec(symbol="UR", commodity="urea", table="GB/T2440-2017", lot_kg=20_000))
    fw = InstrumentSpec(symbol="CF2701", kind="forward", commodity="cotton", lot_size=5_000, tick=500,
                        ref_price=1_500_000, band_bps=400, fees=Fees(per_lot=430),
                        forward=ForwardTerms(delivery_month=202701, last_trading_day=20270115))
    issue = [Entry(IssueReceipt(actor="wh", certificate_no=f"G-{n}", inspector="CCIC", owner="sinofert",
                                quality=UREA, quantity_kg=20_000 + 100 * n)) for n in range(4)]
    return [
        Entry(SetInstrument(actor="ops", spec=ur)), Entry(SetInstrument(actor="ops", spec=fw)),
        Entry(AddInstrument(symbol="OLD", tick=100, lot_size=1_000, ref_price=10_000, band_bps=500)),
        Entry(SetDeliverySpec(actor="ops", symbol="OLD", commodity="urea", table="GB/T2440-2017")),
        Entry(SetFees(actor="ops", symbol="OLD", rate_ppm=100)),
        Entry(SetSession("UR", "continuous")), Entry(SetSession("CF2701", "pre_open")),
        *[Entry(Deposit(actor="desk", member=m, amount=500_000_000, reference=f"open-{m}"))
          for m in ("mill", "sinofert", "trader-a", "trader-b", "bank")],
        Entry(Deposit(actor="desk", member="mill", amount=500_000_000, reference="open-mill")),  # a retry
        *issue,
        Entry(TransferReceipt(actor="sinofert", receipt_id="WR00000004", to="mill")),
        order("sinofert", "UR", "sell", 2, 201_000, "s1"), order("mill", "UR", "buy", 1, 201_000, "b1"),
        order("mill", "UR", "buy", 3, 199_000, "b2"),
        Entry(AmendOrder(member="mill", order_id=3, quantity=2)),
        order("trader-a", "CF2701", "buy", 10, 1_500_000, "f1"),
        order("trader-b", "CF2701", "sell", 6, 1_495_000, "f2"),
        Entry(ScheduleSession(actor="ops", symbol="CF2701", state="continuous", at_ns=T0 + 10 * MS)),
        Entry(ClockTick()),
        order("trader-b", "CF2701", "sell", 4, 1_500_000, "f3", tif="IOC"),
        Entry(CancelOrder("mill", 3)), Entry(MassCancel(member="trader-a")),
        Entry(SetTerms(actor="bank", commodity="urea", ltv_bps=6_000, daily_rate_ppm=200, warning_bps=7_500,
                       liquidation_bps=8_500, max_tenor_days=30)),
        Entry(RequestLoan(actor="mill", lender="bank", receipt_ids=["WR00000001"], principal=100_000,
                          tenor_days=10)),
        Entry(DecideLoan(actor="bank", loan_id=1, approve=True)),
        Entry(PledgeReceipt(actor="mill", receipt_id="WR00000004", lender="bank")),
        Entry(EndOfDay(actor="desk")),
        Entry(RepayLoan(actor="mill", loan_id=1)),
        Entry(Withdraw(actor="desk", member="trader-b", amount=1_000_000, reference="out-1")),
        Entry(EndOfDay(actor="desk")),
    ]


def build() -> Golden:
    state, rows = ExchangeState(), []
    for n, entry in enumerate(scenario(), 1):
        at = T0 + n * MS
        state.apply(entry, n, at)
        rows.append((n, at, encode_entry(entry)))
    state.check()
    return Golden(format=FORMAT, rows=rows, engine_hash=state.engine.state_hash(), state_hash=state.state_hash())


def path_for(fmt: int) -> Path:
    return HERE / f"golden-journal-v{fmt}.msgpack"


if __name__ == "__main__":
    target = path_for(FORMAT)
    if target.exists():
        raise SystemExit(f"{target.name} exists: a golden journal is never rewritten")
    target.write_bytes(msgspec.msgpack.encode(build()))
    print(f"wrote {target.name}")
