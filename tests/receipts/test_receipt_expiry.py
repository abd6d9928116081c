"""Receipt expiry by crop year (cotton) and production date (urea): the old-crop discount in
valuation, the owner warned beforehand, expiry fired by the journaled clock (replay: same hash),
and an expired receipt refused for sale, pledge and loans while refusals change nothing."""

from clearing.financing import DecideLoan, RepayLoan, RequestLoan, SetTerms
from engine import AddInstrument, NewOrder, SetSession
from exchange.clock import ClockTick
from gateway.financing_api import expiry_flags
from tests.receipts.test_receipt_grading import lot
from tests.support.clearing_helpers import BASE_UREA, Harness
from warehouse_receipts.dates import DAY_NS, beijing_midnight_ns
from warehouse_receipts.expiry import SetExpiryRule
from warehouse_receipts.grading import value_fen
from warehouse_receipts.registry import IssueReceipt, LockReceipt, PledgeReceipt, SetDeliverySpec, TransferReceipt

CF_REF = 1_500_000
DISCOUNT = 20_000  # 200 yuan/t for old crop
MARCH = beijing_midnight_ns(20260302) + 10 * 3_600 * 10**9  # 2026-03-02 10:00 Beijing: crop year 2025


def code(result) -> str:
    return result.rejection.code if result.rejection is not None else "ok"


def cotton_harness() -> Harness:
    h = Harness()
    h.record()
    h.ts = MARCH
    for cmd in (AddInstrument(symbol="CF", tick=500, lot_size=40_000, ref_price=CF_REF, band_bps=400),
                SetSession("CF", "continuous"),
                SetDeliverySpec(actor="ops", symbol="CF", commodity="cotton", table="ZCE-2016/17", lot_kg=40_000),
                SetExpiryRule(actor="ops", commodity="cotton", by="crop_year", month=11, day=30, years_after=1,
                              old_crop_discount=DISCOUNT, warn_days=10),
                SetExpiryRule(actor="ops", commodity="urea", by="production", days=150),
                SetTerms(actor="bank", commodity="cotton", ltv_bps=6_000, daily_rate_ppm=100, warning_bps=8_000,
                         liquidation_bps=9_000, max_tenor_days=365)):
        assert h.run(cmd).rejection is None, cmd
    for member in ("gin", "bank"):
        h.deposit(member, 10**12)
    return h


def issue_cotton(h: Harness, n: int) -> str:
    return h.run(IssueReceipt(actor="wh", certificate_no=f"GJ-{n}", inspector="CFIC", owner="gin",
                              quality=lot(180))).outcome[0].receipt_id


def at(h: Harness, date: int, hour: int = 10) -> None:
    """Move the sequencer's clock and journal a tick, as the sequencer does when a timer is due."""
    h.ts = beijing_midnight_ns(date) + hour * 3_600 * 10**9
    h.run(ClockTick())


def test_crop_year_expiry_old_crop_discount_warning_and_refusals_replayed_to_the_same_hash() -> None:
    h = cotton_harness()
    reg = h.state.registry
    free, selling, pledged = (issue_cotton(h, n) for n in range(3))
    r = reg.receipts[free]
    assert (r.crop_year, r.expires_ns) == (2025, beijing_midnight_ns(20261130))  # the following November
    urea = h.run(IssueReceipt(actor="wh", certificate_no="U-1", inspector="i", owner="gin", quality=BASE_UREA,
                              quantity_kg=20_000)).outcome[0].receipt_id
    issued = reg.receipts[urea].issued_ts_ns
    assert reg.receipts[urea].expires_ns == issued + 150 * DAY_NS  # urea: 150 days after production (issue)
    # this season's cotton is valued at par; the pledged one secures a loan
    kg = r.quantity_kg
    assert reg.mark(r, h.state.engine.instruments) == ("CF", 0, value_fen(CF_REF, 0, kg))
    loan = h.run(RequestLoan(actor="gin", lender="bank", receipt_ids=[pledged], principal=1_000_000,
                             tenor_days=300)).outcome
    assert h.run(DecideLoan(actor="bank", loan_id=loan.loan_id, approve=True)).rejection is None
    # a new season: last crop year's receipts are old crop, valued 200 yuan/t lower
    at(h, 20260915)
    assert reg.mark(r, h.state.engine.instruments) == ("CF", -DISCOUNT, value_fen(CF_REF, -DISCOUNT, kg))
    assert value_fen(CF_REF, -DISCOUNT, kg) == (1_500_000 - 20_000) * kg // 1_000  # whole fen: 40,860 kg
    order = h.run(NewOrder(member="gin", symbol="CF", side="sell", quantity=1, price=1_550_000),
                  receipt_ids=[selling])
    assert order.rejection is None and reg.receipts[selling].state == "locked_for_sale"
    # ten days before: the owner is warned (a notice for its private stream), the pledge is flagged
    reg.notices.clear()
    at(h, 20261120, hour=1)
    assert {(m, n["receipt_id"]) for m, n in reg.notices if n["type"] == "receipt_expiring"} == {
        ("gin", free), ("gin", selling), ("gin", pledged)}
    assert pledged in reg.warned
    # the lender's loan view flags the collateral (the gateway's view of this state)
    assert expiry_flags(reg, [pledged, free]) == {pledged: "expires 2026-11-29T16:00:00+00:00",
                                                  free: "expires 2026-11-29T16:00:00+00:00"}
    # expiry, fired by the clock: the sell order is cancelled, the pledged one waits for its release
    at(h, 20261130, hour=0)
    assert reg.receipts[free].state == reg.receipts[selling].state == "expired"
    assert not h.state.engine.orders and reg.receipts[pledged].state == "pledged" and pledged in reg.overdue
    assert expiry_flags(reg, [pledged]) == {pledged: "expired"}
    before = h.state.state_hash()
    refusals = [
        h.run(LockReceipt(actor="gin", receipt_id=free)),
        h.run(PledgeReceipt(actor="gin", receipt_id=free, lender="bank")),
        h.run(TransferReceipt(actor="gin", receipt_id=free, to="mill")),
        h.run(NewOrder(member="gin", symbol="CF", side="sell", quantity=1, price=1_500_000), receipt_ids=[free]),
        h.run(RequestLoan(actor="gin", lender="bank", receipt_ids=[free], principal=1, tenor_days=5)),
    ]
    assert [code(x) for x in refusals] == ["RECEIPT_EXPIRED"] * 5
    assert code(h.run(NewOrder(member="gin", symbol="CF", side="sell", quantity=1, price=1_500_000))) == \
        "INSUFFICIENT_RECEIPTS"
    assert h.state.state_hash() == before
    # repaying the loan frees the pledged receipt: it expires at the end of day
    assert h.run(RepayLoan(actor="gin", loan_id=loan.loan_id)).rejection is None
    h.state.check()  # registered again, overdue until the end of day, and refused meanwhile
    assert reg.receipts[pledged].state == "registered"
    assert code(h.run(LockReceipt(actor="gin", receipt_id=pledged))) == "RECEIPT_EXPIRED"
    assert code(h.run(RequestLoan(actor="gin", lender="bank", receipt_ids=[pledged], principal=1,
                                  tenor_days=5))) == "RECEIPT_EXPIRED"
    h.end_of_day()
    assert reg.receipts[pledged].state == "expired" and not reg.overdue
    assert [e.action for e in reg.history[selling]] == ["issue", "lock", "unlock", "expire"]
    h.assert_reconciled()
    h.state.check()
    # replay: the same journal gives the same state
    assert h.replayed().state_hash() == h.state.state_hash()


def test_goods_already_past_their_validity_are_not_registered() -> None:
    h = cotton_harness()
    from clearing.inbound import AnswerDeclaration, DeclareInbound, PayInboundDeposit, RecordArrival, RecordInspection
    h.run(DeclareInbound(actor="gin", warehouse="wh", commodity="cotton", expected_kg=40_000, reference="d",
                         crop_year=2024))
    h.run(AnswerDeclaration(actor="wh", declaration_id=1, accept=True))
    h.run(PayInboundDeposit(actor="gin", declaration_id=1))
    h.run(RecordArrival(actor="wh", declaration_id=1, arrived_kg=40_800))
    before = h.state.state_hash()
    inspect = RecordInspection(actor="wh", declaration_id=1, certificate_no="OLD", inspector="i", quality=lot(180))
    assert code(h.run(inspect)) == "RECEIPT_EXPIRED"  # crop year 2024 expired on 2025-11-30
    assert h.state.state_hash() == before
    h.assert_reconciled()
    h.state.check()


def test_an_old_crop_receipt_is_delivered_at_the_discount() -> None:
    """Delivery versus payment pays an old-crop receipt (price + premium − discount) × weight."""
    h = cotton_harness()
    receipt = issue_cotton(h, 9)
    at(h, 20260915)  # a new season: crop year 2025 is old crop
    h.deposit("mill", 10**12)
    assert h.run(NewOrder(member="gin", symbol="CF", side="sell", quantity=1, price=CF_REF),
                 receipt_ids=[receipt]).rejection is None
    assert h.run(NewOrder(member="mill", symbol="CF", side="buy", quantity=1, price=CF_REF)).rejection is None
    r = h.state.registry.receipts[receipt]
    assert r.owner == "mill"
    dvp = [t for t in h.state.clearing.ledger.new_transfers if t.code == "DVP"]
    table_premium = h.state.registry.mark(r, h.state.engine.instruments)[1] + DISCOUNT  # mark nets the discount
    assert [t.amount for t in dvp] == [value_fen(CF_REF, table_premium - DISCOUNT, r.quantity_kg)]
    h.assert_reconciled()
    h.state.check()
