"""Delivery at a forward's expiry in the core, fen by fen: three cotton receipts of different
grades and warehouses tendered by one short, allocated to two longs oldest position first (one
long's warehouse preference honoured), settled by delivery versus payment at the final
settlement price + each receipt's premium + its warehouse's differential; a short that tenders
nothing and a long that cannot pay, each in default; every refusal changes nothing."""

from decimal import ROUND_HALF_UP, Decimal

from clearing.core import Fees
from clearing.delivery import AllocateDelivery, DeliveryIntent, TenderReceipts
from clearing.forward_terms import ForwardTerms
from clearing.ledger import FEES, cash, margin
from engine import SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from tests.forwards.test_forward_story import beijing
from tests.support.clearing_helpers import Harness
from warehouse_receipts.expiry import SetExpiryRule
from warehouse_receipts.quality import Bale, CottonQuality
from warehouse_receipts.registry import IssueReceipt, PledgeReceipt, TransferReceipt

SYMBOL = "CF2701"
HOUR_NS = 3_600_000_000_000
FEE_PER_TONNE = 400  # fen a tonne of delivery fee, each side
DIFFERENTIALS = {"wh-b": 10_000, "wh-c": -5_000}  # fen a tonne: wh-a is the reference warehouse


def spec(last_trading_day: int, **terms) -> InstrumentSpec:
    forward = ForwardTerms(delivery_month=202701, last_trading_day=last_trading_day, margined=True,
                           delivery_warehouses=["wh-a", "wh-b", "wh-c"], location_differentials=DIFFERENTIALS,
                           delivery_fee_per_tonne=FEE_PER_TONNE, **terms)
    return InstrumentSpec(symbol=SYMBOL, kind="forward", commodity="cotton", lot_size=5_000, tick=500,
                          ref_price=1_500_000, band_bps=600, fees=Fees(per_lot=430), forward=forward)


def harness(last_trading_day: int, **terms) -> Harness:
    """Monday 11 January 2027, 10:00 Beijing: the delivery month of CF2701."""
    h = Harness(start_ns=beijing(20270111, 10))
    h.record()
    h.run(SetInstrument(actor="ops", spec=spec(last_trading_day, **terms)))
    h.run(SetSession(SYMBOL, "continuous"))
    return h


def cotton(bales: int, **grade) -> CottonQuality:
    fields = dict(net_kg=Decimal("227.0"), colour_grade="31", length_mm=Decimal("28.2"), micronaire=Decimal("4.5"),
                  strength_cn_tex=Decimal("27.5"), uniformity_pct=Decimal("81.5"), trash_pct=Decimal("2.1"),
                  moisture_regain_pct=Decimal("8.5"))
    fields.update(grade)
    return CottonQuality(ginning="P2", bales=[Bale(barcode=f"6523{bales:03d}{i:05d}", **fields) for i in range(bales)])


def issue(h: Harness, warehouse: str, owner: str, quality: CottonQuality) -> str:
    h.coid += 1
    result = h.run(IssueReceipt(actor=warehouse, certificate_no=f"CF-{h.coid}", inspector="fibre-inspection",
                                owner=owner, quality=quality))
    return result.outcome[0].receipt_id


def fw(h: Harness, member: str, side: str, qty: int, yuan: int):
    return h.order(member, side, qty, yuan * 100, symbol=SYMBOL)


def next_day(h: Harness, date: int) -> None:
    h.ts = beijing(date, 9) + HOUR_NS // 2
    h.run(SetSession(SYMBOL, "continuous"))


def refused(h: Harness, command, code: str) -> None:
    """``command`` is refused with ``code`` and the whole state is as it was."""
    before = h.state.state_hash()
    result = h.run(command)
    assert result.rejection is not None and result.rejection.code == code, result.outcome
    assert h.state.state_hash() == before


def yuan_value(price_fen: int, kg: int) -> int:
    """Fen for ``kg`` at ``price_fen`` a tonne, rounded half up (computed apart from the code)."""
    return int((Decimal(price_fen) * kg / 1_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def transfers(h: Harness, code: str) -> list:
    return [t for t in h.state.clearing.ledger.new_transfers if t.code == code]


def test_three_receipts_two_longs_delivery_versus_payment() -> None:
    h = harness(last_trading_day=20270112)
    for member, amount in (("a1", 200_000_000), ("a2", 100_000_000), ("b", 60_000_000)):
        h.deposit(member, amount)
    base = issue(h, "wh-a", "b", cotton(185))  # 3128B: at par
    fine = issue(h, "wh-b", "b", cotton(180, colour_grade="21", length_mm=Decimal("29.1")))  # +300 +300 yuan
    coarse = issue(h, "wh-c", "b", cotton(176, colour_grade="41", micronaire=Decimal("4.0")))  # −400 +200 yuan
    elsewhere = issue(h, "wh-x", "b", cotton(185))  # not a deliverable warehouse
    pledged = issue(h, "wh-a", "b", cotton(184))
    h.run(PledgeReceipt(actor="b", receipt_id=pledged, lender="agri-bank"))
    weights = {r: h.state.registry.receipts[r].quantity_kg for r in (base, fine, coarse)}
    assert weights == {base: 41_995, fine: 40_860, coarse: 39_952}  # 8 lots of 5 t each, within 10 %
    # day 1 (Mon 11 Jan): a2 buys 8 lots at 15,000; day 2, the last trading day: a1 buys 16 at 15,100
    fw(h, "b", "sell", 8, 15_000)
    fw(h, "a2", "buy", 8, 15_000)
    h.end_of_day()
    next_day(h, 20270112)
    fw(h, "b", "sell", 16, 15_100)
    fw(h, "a1", "buy", 16, 15_100)
    refused(h, TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[base, pledged]), "RECEIPT_PLEDGED")
    refused(h, TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[elsewhere]), "NOT_DELIVERABLE")
    refused(h, TenderReceipts(actor="a1", member="a1", symbol=SYMBOL, receipt_ids=[base]), "NOT_SHORT")
    refused(h, AllocateDelivery(actor="desk", symbol=SYMBOL), "TENDER_OPEN")
    tender = h.run(TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[base, fine, coarse])).outcome
    assert (tender.receipt_ids, tender.lots) == ([base, fine, coarse], 24)
    refused(h, TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[base]), "RECEIPT_TENDERED")
    refused(h, PledgeReceipt(actor="b", receipt_id=fine, lender="agri-bank"), "RECEIPT_TENDERED")
    refused(h, TransferReceipt(actor="b", receipt_id=fine, to="a1"), "RECEIPT_TENDERED")
    assert h.run(DeliveryIntent(actor="a1", member="a1", symbol=SYMBOL, warehouse="wh-c")).rejection is None
    resting = fw(h, "a1", "buy", 1, 14_900).view.order_id  # a GTC bid nobody takes
    h.ts += 2 * HOUR_NS
    h.end_of_day()  # the last trading day settles at 15,100: the final settlement price
    assert resting not in h.state.engine.orders  # no order outlives the last trading day
    final = 1_510_000
    assert h.state.delivery.final[SYMBOL] == final
    # day 3 (Wed 13 Jan): trading is over, the tender deadline passed; clearing allocates
    next_day(h, 20270113)
    refused(h, TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[pledged]), "TENDER_CLOSED")
    refused(h, DeliveryIntent(actor="b", member="b", symbol=SYMBOL, warehouse="wh-a"), "NOT_LONG")
    before = h.state.state_hash()
    s = h.state
    _, preview, returned = s.delivery.plan(SYMBOL, s.registry, s.forwards, s.engine.instruments)
    assert h.state.state_hash() == before and returned == []  # a preview changes nothing
    allocation = h.run(AllocateDelivery(actor="desk", symbol=SYMBOL)).outcome
    assert [(p.long, p.receipt_id, p.value) for p in preview] == [
        (line.long, line.receipt_id, line.value) for line in allocation.lines]
    # a2's position is the older (day 1): it takes the first tendered receipt; a1 prefers wh-c
    assert [(line.long, line.receipt_id, line.lots) for line in allocation.lines] == [
        ("a2", base, 8), ("a1", coarse, 8), ("a1", fine, 8)]
    refused(h, AllocateDelivery(actor="desk", symbol=SYMBOL), "ALLOCATION_DONE")
    notices = [(m, n["receipt_id"]) for m, n in h.state.delivery.notices if n["type"] == "delivery_notice"]
    assert notices == [("b", base), ("a2", base), ("b", coarse), ("a1", coarse), ("b", fine), ("a1", fine)]
    # the payment deadline is the end of this day: delivery versus payment
    h.state.clearing.ledger.new_transfers.clear()
    h.ts += 8 * HOUR_NS
    report = h.end_of_day().outcome
    premium = {base: 0, fine: 60_000, coarse: -20_000}
    differential = {base: 0, fine: 10_000, coarse: -5_000}
    value = {r: yuan_value(final + premium[r] + differential[r], weights[r]) for r in weights}
    fee = {r: yuan_value(FEE_PER_TONNE, weights[r]) for r in weights}
    # 15,100 yuan × 41.995 t; 15,800 yuan × 40.860 t; 14,850 yuan × 39.952 t
    assert value == {base: 63_412_450, fine: 64_558_800, coarse: 59_328_720}
    assert fee == {base: 16_798, fine: 16_344, coarse: 15_981}
    assert [(d["receipt_id"], d["long"], d["value"], d["state"]) for d in report.deliveries] == [
        (r, long, value[r], "delivered") for r, long in ((base, "a2"), (coarse, "a1"), (fine, "a1"))]
    assert [(t.debit, t.credit, t.amount) for t in transfers(h, "DELIVERY_DVP")] == [
        (cash("a2"), cash("b"), value[base]), (cash("a1"), cash("b"), value[coarse]),
        (cash("a1"), cash("b"), value[fine])]
    assert [(t.debit, t.credit, t.amount) for t in transfers(h, "DELIVERY_FEE")] == [
        (cash(m), FEES, fee[r]) for r, long in ((base, "a2"), (coarse, "a1"), (fine, "a1")) for m in (long, "b")]
    # every lot closed at the final price, all margin back, the cash to the fen
    ledger = h.state.clearing.ledger
    assert all(p.net == 0 for p in h.state.forwards.positions.values())
    assert [ledger.balance(margin(m)) for m in ("a1", "a2", "b")] == [0, 0, 0]
    variation_a2 = 100 * 100 * 8 * 5  # 15,000 → 15,100 on 8 lots of 5 t
    assert h.available("a2") == 100_000_000 - 8 * 430 + variation_a2 - value[base] - fee[base]
    assert h.available("a1") == 200_000_000 - 16 * 430 - value[coarse] - fee[coarse] - value[fine] - fee[fine]
    assert h.available("b") == 60_000_000 - 24 * 430 - variation_a2 + sum(value.values()) - sum(fee.values())
    # the receipts are the longs' now, their custody chains show the delivery
    registry = h.state.registry
    for receipt_id, long in ((base, "a2"), (coarse, "a1"), (fine, "a1")):
        receipt = registry.receipts[receipt_id]
        assert (receipt.owner, receipt.state) == (long, "registered")
        *_, tendered, delivered = registry.history[receipt_id]
        assert (tendered.action, tendered.actor) == ("tender", "b")
        assert (delivered.action, delivered.counterparty) == ("tender_deliver", long)
        assert delivered.detail.startswith(f"delivery {SYMBOL} line ")
    assert [line.state for line in h.state.delivery.allocations[SYMBOL].lines] == ["delivered"] * 3
    assert h.state.credit.entries == []
    h.state.check()
    h.assert_reconciled()
    assert h.replayed().state_hash() == h.state.state_hash()


def test_a_short_that_tenders_nothing_pays_the_penalty_to_the_long() -> None:
    h = harness(last_trading_day=20270111, penalty_bps=3_000)
    h.deposit("a", 30_000_000)
    h.deposit("b", 12_010_000)  # 8 lots × 1,500,000 fen of margin (20 % in the delivery month) + commission
    fw(h, "b", "sell", 8, 15_000)
    fw(h, "a", "buy", 8, 15_000)
    assert h.state.clearing.ledger.balance(margin("b")) == 12_000_000
    h.end_of_day()  # the last trading day: final settlement price 15,000
    next_day(h, 20270112)
    h.state.clearing.ledger.new_transfers.clear()
    allocation = h.run(AllocateDelivery(actor="desk", symbol=SYMBOL)).outcome
    [line] = allocation.lines
    # penalty: 30 % of 8 lots × 5 t × 15,000 yuan = 180,000 yuan; b has 120,065.60 yuan once its margin is free
    assert (line.kind, line.state, line.short, line.long, line.lots) == ("delivery_default", "delivery_default",
                                                                         "b", "a", 8)
    b_cash = 12_010_000 - 8 * 430
    assert (line.penalty, line.penalty_paid) == (18_000_000, b_cash)
    assert [(t.debit, t.credit, t.amount) for t in transfers(h, "DELIVERY_PENALTY")] == [(cash("b"), cash("a"), b_cash)]
    ledger = h.state.clearing.ledger
    assert ledger.balance(margin("a")) == ledger.balance(margin("b")) == 0
    assert h.available("a") == 30_000_000 - 8 * 430 + b_cash and h.available("b") == 0
    [entry] = h.state.credit.of("b")
    assert (entry.kind, entry.ref, entry.amount) == ("delivery_default", f"delivery:{SYMBOL}", 18_000_000)
    assert "5993440 fen unpaid" in entry.detail
    assert h.state.credit.of("a") == []
    h.end_of_day()  # the payment deadline: nothing left to pay
    assert h.available("a") == 30_000_000 - 8 * 430 + b_cash
    h.state.check()
    h.assert_reconciled()
    assert h.replayed().state_hash() == h.state.state_hash()


def test_a_long_that_cannot_pay_defaults_and_the_receipt_goes_back() -> None:
    h = harness(last_trading_day=20270111)
    h.deposit("a", 12_010_000)  # margin for 8 lots, not the ~63,000,000 fen the receipt costs
    h.deposit("b", 20_000_000)
    receipt_id = issue(h, "wh-a", "b", cotton(185))
    fw(h, "b", "sell", 8, 15_000)
    fw(h, "a", "buy", 8, 15_000)
    h.run(TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[receipt_id]))
    h.end_of_day()
    next_day(h, 20270112)
    h.ts += 8 * HOUR_NS
    h.end_of_day()  # nobody ran the allocation: the payment deadline runs it, then payment
    [line] = h.state.delivery.allocations[SYMBOL].lines
    a_cash = 12_010_000 - 8 * 430
    assert (line.state, line.penalty, line.penalty_paid) == ("payment_default", 12_000_000, 12_000_000)
    assert h.available("a") == a_cash - 12_000_000 and h.available("b") == 20_000_000 - 8 * 430 + 12_000_000
    receipt = h.state.registry.receipts[receipt_id]
    assert (receipt.owner, receipt.state, h.state.registry.history[receipt_id][-1].action) == (
        "b", "registered", "tender_return")
    [entry] = h.state.credit.of("a")
    assert (entry.kind, entry.amount) == ("payment_default", 12_000_000)
    h.state.check()
    h.assert_reconciled()
    assert h.replayed().state_hash() == h.state.state_hash()


def test_rolling_delivery_goes_to_the_longest_held_long_that_applied() -> None:
    h = harness(last_trading_day=20270115)
    for member in ("idle", "old", "new", "b"):
        h.deposit(member, 100_000_000)
    first = issue(h, "wh-b", "b", cotton(185))  # 41,995 kg: 8 lots
    second = issue(h, "wh-a", "b", cotton(180))  # 40,860 kg: 8 lots
    # day 1 (Mon 11 Jan): "idle" buys first, then "old"; day 2: "new"; idle never applies
    fw(h, "b", "sell", 16, 15_000)
    fw(h, "idle", "buy", 8, 15_000)
    fw(h, "old", "buy", 8, 15_000)
    h.end_of_day()
    next_day(h, 20270112)
    fw(h, "b", "sell", 8, 15_100)
    fw(h, "new", "buy", 8, 15_100)
    for member in ("new", "old"):
        assert h.run(DeliveryIntent(actor=member, member=member, symbol=SYMBOL, early=True)).rejection is None
    refused(h, DeliveryIntent(actor="idle", member="idle", symbol=SYMBOL), "INVALID_REQUEST")
    h.run(TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[first]))
    h.state.clearing.ledger.new_transfers.clear()
    h.ts += 2 * HOUR_NS
    h.end_of_day()  # settles at 15,100 (the day's last trade): "old" applied and has held longest
    [roll] = h.state.delivery.rolls
    [line] = roll.lines
    assert (roll.final_price, line.long, line.short, line.receipt_id, line.state) == (1_510_000, "old", "b", first,
                                                                                      "delivered")
    value = yuan_value(1_510_000 + 10_000, 41_995)  # wh-b's differential, a base-grade receipt
    assert [(t.debit, t.credit, t.amount) for t in transfers(h, "DELIVERY_DVP")] == [(cash("old"), cash("b"), value)]
    assert h.state.registry.receipts[first].owner == "old"
    nets = {m: h.state.forwards.positions[(m, SYMBOL)].net for m in ("idle", "old", "new", "b")}
    assert nets == {"idle": 8, "old": 0, "new": 8, "b": -16}
    assert h.state.clearing.ledger.balance(margin("old")) == 0
    # day 3: the second receipt goes to "new", the only applicant left
    next_day(h, 20270113)
    h.run(TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[second]))
    h.end_of_day()
    assert [(ln.long, ln.receipt_id) for r in h.state.delivery.rolls for ln in r.lines] == [("old", first),
                                                                                           ("new", second)]
    # the last trading day passes with b short 8 lots and nothing tendered: at the payment deadline
    # (Mon 18 Jan) the allocation runs by itself and b defaults to "idle"
    for date in (20270114, 20270115, 20270118):
        next_day(h, date)
        h.end_of_day()
    [line] = h.state.delivery.allocations[SYMBOL].lines
    assert (line.kind, line.short, line.long, line.lots) == ("delivery_default", "b", "idle", 8)
    assert [(e.member, e.kind) for e in h.state.credit.entries] == [("b", "delivery_default")]
    assert all(p.net == 0 for p in h.state.forwards.positions.values())
    h.state.check()
    h.assert_reconciled()
    assert h.replayed().state_hash() == h.state.state_hash()


def test_a_receipt_that_expires_by_the_payment_deadline_cannot_be_tendered() -> None:
    h = harness(last_trading_day=20270112)  # payment deadline: the end of Wed 13 Jan
    h.run(SetExpiryRule(actor="desk", commodity="cotton", by="crop_year", month=1, day=13, years_after=1))
    h.deposit("a", 30_000_000)
    h.deposit("b", 30_000_000)
    expiring = issue(h, "wh-a", "b", cotton(185))  # crop year 2026: expires at 00:00 on 13 Jan 2027
    fw(h, "b", "sell", 8, 15_000)
    fw(h, "a", "buy", 8, 15_000)
    refused(h, TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[expiring]), "NOT_DELIVERABLE")
    h.run(SetExpiryRule(actor="desk", commodity="cotton", by="crop_year", month=1, day=14, years_after=1))
    lasting = issue(h, "wh-a", "b", cotton(185))
    assert h.run(TenderReceipts(actor="b", member="b", symbol=SYMBOL, receipt_ids=[lasting])).rejection is None
