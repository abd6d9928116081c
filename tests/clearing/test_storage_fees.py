"""Storage fees to the fen: one trading day at each end of day, paid by the owner at the close
to the warehouse, the receipt named in each transfer; a sold receipt leaves no fees behind."""

from clearing.ledger import cash
from clearing.warehousing import SetTariff
from engine import SetSession
from tests.support.clearing_helpers import Harness
from warehouse_receipts.warehouse import RecordPickup, RequestRelease, code_digest

RATE = 137  # fen per tonne per trading day


def fees_of(h: Harness, code: str = "STORAGE_FEE") -> list:
    transfers, _ = h.state.clearing.ledger.drain()
    return [t for t in transfers if t.code == code]


def test_storage_fee_each_trading_day_to_the_owner_at_the_close() -> None:
    h = Harness()
    assert h.run(SetTariff(actor="wh", commodity="urea", storage_per_tonne_day=RATE, inbound_per_tonne=500)) \
        .rejection is None
    h.deposit("seller", 1_000_000)
    h.deposit("buyer", 10_000_000_000)
    rid = h.issue("seller", kg=20_013)
    other = h.issue("seller", kg=19_990)
    h.state.clearing.ledger.drain()
    h.end_of_day()
    day1 = fees_of(h)
    # 20.013 t × 137 = 2,741.781 → 2,742 fen; 19.990 t × 137 = 2,738.63 → 2,739 fen
    assert [(t.debit, t.credit, t.amount, t.cause.receipt_id, t.ref) for t in day1] == [
        (cash("seller"), cash("wh"), 2_742, rid, f"receipt:{rid}"),
        (cash("seller"), cash("wh"), 2_739, other, f"receipt:{other}")]
    # the receipt is sold during day 2: the buyer owns it at the close and pays day 2; the seller does not
    seller_before = h.available("seller")
    h.run(SetSession("UR", "continuous"))  # the close closed the session
    assert h.order("seller", "sell", 1, 200_000).rejection is None
    assert h.order("buyer", "buy", 1, 200_000).rejection is None
    assert h.state.registry.receipts[rid].owner == "buyer"
    h.state.clearing.ledger.drain()
    h.end_of_day()
    assert [(t.debit, t.amount, t.cause.receipt_id) for t in fees_of(h)] == [
        (cash("buyer"), 2_742, rid), (cash("seller"), 2_739, other)]
    rows = {r.member: r for r in h.state.clearing.reports[-1].members}  # the day's report shows them
    assert (rows["wh"].warehouse_cash, rows["buyer"].warehouse_cash, rows["seller"].warehouse_cash) == (
        2_742 + 2_739, -2_742, -2_739)
    assert h.state.warehousing.earned["wh"] == 2 * (2_742 + 2_739)
    assert h.state.warehousing.paid == {rid: 2 * 2_742, other: 2 * 2_739}
    assert not h.state.warehousing.arrears  # nothing unpaid travels with the receipt
    assert h.available("seller") > seller_before  # the sale's proceeds, less only its own day's fee
    h.assert_reconciled()
    h.state.check()


def test_an_owner_short_of_cash_owes_arrears_collected_first_next_day_and_picked_up_goods_stop_accruing() -> None:
    h = Harness()
    h.run(SetTariff(actor="wh", commodity="urea", storage_per_tonne_day=RATE))
    rid = h.issue("farm", kg=20_000)  # 2,740 fen a day
    h.deposit("farm", 1_000)
    h.end_of_day()
    assert h.available("farm") == 1_000 and h.state.warehousing.arrears == {("farm", "wh"): 2_740}
    h.deposit("farm", 10_000)
    h.state.clearing.ledger.drain()
    h.end_of_day()
    assert [(t.amount, t.ref) for t in fees_of(h)] == [(2_740, "storage_fee:storage-arrears"),
                                                       (2_740, f"receipt:{rid}")]
    assert h.available("farm") == 11_000 - 2 * 2_740 and not h.state.warehousing.arrears
    h.run(RequestRelease(actor="farm", receipt_id=rid, reference="out", code_hash=code_digest("ABCD-EFGH-JKLM")))
    h.run(RecordPickup(actor="wh", release_id=1, code_hash=code_digest("ABCD-EFGH-JKLM"), weight_kg=20_000))
    h.state.clearing.ledger.drain()
    h.end_of_day()
    assert fees_of(h) == []  # cancelled at pickup: no more storage
    h.assert_reconciled()
    h.state.check()


def test_tariff_refusals_change_nothing() -> None:
    h = Harness()
    before = h.state.state_hash()
    assert h.run(SetTariff(actor="wh", commodity="gold", storage_per_tonne_day=1)).rejection.code == \
        "UNKNOWN_COMMODITY"
    assert h.run(SetTariff(actor="wh", commodity="urea", storage_per_tonne_day=-1)).rejection.code == "INVALID_RATE"
    assert h.state.state_hash() == before
    h.assert_reconciled()
