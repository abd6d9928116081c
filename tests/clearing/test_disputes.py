"""Delivery disputes, to the fen: a re-inspection that lowers the grade and the weight refunds
the buyer from the seller; a rejected dispute moves nothing; refusals change nothing."""

from clearing.disputes import DecideDispute, OpenDispute, OrderReinspection, RecordReinspection, SetDisputeWindow
from clearing.ledger import cash
from tests.support.clearing_helpers import SUBSTITUTE_UREA, Harness
from warehouse_receipts.dates import DAY_NS

PRICE = 200_500  # 2,005 yuan/t


def code(result) -> str:
    return result.rejection.code if result.rejection is not None else "ok"


def delivered(h: Harness, n: int = 1) -> list[str]:
    """``n`` base-grade 20 t urea receipts sold by seller to buyer at 2,005 yuan/t."""
    h.deposit("seller", 1_000_000)
    h.deposit("buyer", 100_000_000)
    rids = [h.issue("seller") for _ in range(n)]
    assert h.order("seller", "sell", n, PRICE).rejection is None
    assert h.order("buyer", "buy", n, PRICE).rejection is None
    assert all(h.state.registry.receipts[r].owner == "buyer" for r in rids)
    return rids


def test_a_dispute_that_lowers_the_grade_refunds_the_buyer_to_the_fen() -> None:
    h = Harness()
    [rid] = delivered(h)
    seller, buyer = h.available("seller"), h.available("buyer")
    d = h.run(OpenDispute(actor="buyer", receipt_id=rid, kind="quality", reference="q1")).outcome
    assert d.state == "open" and h.state.registry.receipts[rid].state == "frozen_for_delivery"  # no resale meanwhile
    assert h.run(OpenDispute(actor="buyer", receipt_id=rid, kind="quality", reference="q1")).outcome is d
    h.run(OrderReinspection(actor="desk", dispute_id=1))
    before = h.state.state_hash()
    assert code(h.run(RecordReinspection(actor="other-wh", dispute_id=1, quality=SUBSTITUTE_UREA,
                                         quantity_kg=19_950))) == "NOT_WAREHOUSE"
    assert code(h.run(DecideDispute(actor="desk", dispute_id=1, uphold=True))) == "DISPUTE_NOT_REINSPECTED"
    assert h.state.state_hash() == before
    h.run(RecordReinspection(actor="wh", dispute_id=1, quality=SUBSTITUTE_UREA, quantity_kg=19_950))
    h.state.clearing.ledger.drain()
    done = h.run(DecideDispute(actor="desk", dispute_id=1, uphold=True)).outcome
    # by hand: delivered 20.000 t base grade at 2,005.00 = 4,010,000 fen; re-inspected substitute (−20 yuan/t)
    # at 19.950 t: 1,985.00 × 19.95 = 39,600.75 yuan = 3,960,075 fen; refund 49,925 fen
    assert (done.state, done.adjustment) == ("upheld", 4_010_000 - 3_960_075) and done.adjustment == 49_925
    [t] = h.state.clearing.ledger.drain()[0]
    assert (t.debit, t.credit, t.amount, t.code) == (cash("seller"), cash("buyer"), 49_925, "DISPUTE_ADJUSTMENT")
    assert (h.available("seller"), h.available("buyer")) == (seller - 49_925, buyer + 49_925)
    receipt = h.state.registry.receipts[rid]
    assert (receipt.state, receipt.quantity_kg, receipt.factors) == ("registered", 19_950, {"grade": "substitute"})
    assert [e.action for e in h.state.registry.history[rid]][-4:] == ["deliver", "freeze", "reinspect", "unfreeze"]
    decided = h.state.state_hash()
    assert h.run(DecideDispute(actor="desk", dispute_id=1, uphold=True)).outcome is done  # the same decision again
    assert code(h.run(DecideDispute(actor="desk", dispute_id=1, uphold=False))) == "DISPUTE_DECIDED"  # not another
    assert h.state.state_hash() == decided
    h.assert_reconciled()
    h.state.check()


def test_a_rejected_dispute_moves_nothing_and_late_or_foreign_disputes_change_nothing() -> None:
    h = Harness()
    first, second = delivered(h, 2)
    ledger_before = h.ledger_snapshot()
    h.run(OpenDispute(actor="buyer", receipt_id=first, kind="weight", reference="w1"))
    h.run(OrderReinspection(actor="desk", dispute_id=1))
    h.run(RecordReinspection(actor="wh", dispute_id=1, quality=h.state.registry.receipts[first].quality,
                             quantity_kg=20_000))  # the same as delivered
    assert h.run(DecideDispute(actor="desk", dispute_id=1, uphold=True)).outcome.state == "rejected"  # nothing owed
    assert h.ledger_snapshot() == ledger_before and h.state.registry.receipts[first].state == "registered"
    before = h.state.state_hash()
    assert code(h.run(OpenDispute(actor="seller", receipt_id=second, kind="weight", reference="s1"))) == \
        "NOT_DELIVERED_TO_YOU"
    h.ts += 5 * DAY_NS + 1  # the window closes five days after delivery
    assert code(h.run(OpenDispute(actor="buyer", receipt_id=second, kind="weight", reference="w2"))) == \
        "DISPUTE_WINDOW_CLOSED"
    assert h.state.state_hash() == before and h.ledger_snapshot() == ledger_before
    assert code(h.run(SetDisputeWindow(actor="desk", days=0))) == "INVALID_WINDOW"
    assert code(h.run(SetDisputeWindow(actor="desk", days=10))) == "ok"  # configuration: now it is open again
    assert h.run(OpenDispute(actor="buyer", receipt_id=second, kind="weight", reference="w2")).outcome.state == \
        "open"
    h.assert_reconciled()
    h.state.check()


def test_receipts_bought_from_a_listing_are_disputable_and_refunded_at_the_deal_price() -> None:
    from clearing.listings import PublishListing, TakeListing

    h = Harness()
    h.deposit("sup", 100_000)
    h.deposit("mill", 10_000_000)
    rid = h.issue("sup")  # 20 t of base-grade urea
    listing = h.run(PublishListing(actor="sup", commodity="urea", receipt_ids=[rid], price=205_000)).outcome
    hashed = h.state.disputes.state_hash()
    assert h.run(TakeListing(actor="mill", listing_id=listing.listing_id)).outcome.state == "taken"
    assert h.state.disputes.state_hash() == hashed  # deals stay out of the hash: older journals replay to theirs
    assert code(h.run(OpenDispute(actor="sup", receipt_id=rid, kind="quality", reference="x"))) == \
        "NOT_DELIVERED_TO_YOU"  # the seller cannot dispute what it sold
    d = h.run(OpenDispute(actor="mill", receipt_id=rid, kind="quality", reference="q1")).outcome
    assert (d.state, d.delivery.seller, d.delivery.ref.label()) == ("open", "sup", f"listing:{listing.listing_id}")
    h.run(OrderReinspection(actor="desk", dispute_id=1))
    h.run(RecordReinspection(actor="wh", dispute_id=1, quality=SUBSTITUTE_UREA, quantity_kg=19_950))
    seller, buyer = h.available("sup"), h.available("mill")
    h.state.clearing.ledger.drain()
    done = h.run(DecideDispute(actor="desk", dispute_id=1, uphold=True)).outcome
    # by hand: the deal priced 20.000 t as described at 2,050.00 yuan/t = 4,100,000 fen. Re-inspected: 50 kg short
    # at the deal price (102.50 yuan) and substitute grade (−20 yuan/t) on 19.950 t (399.00 yuan): 50,150 fen
    assert (done.state, done.adjustment) == ("upheld", 50_150)
    [t] = h.state.clearing.ledger.drain()[0]
    assert (t.debit, t.credit, t.amount, t.code, t.ref) == \
        (cash("sup"), cash("mill"), 50_150, "DISPUTE_ADJUSTMENT", f"listing:{listing.listing_id}")
    assert (h.available("sup"), h.available("mill")) == (seller - 50_150, buyer + 50_150)
    h.assert_reconciled()
    h.state.check()


def test_the_last_delivery_counts_a_fill_after_a_deal_and_a_deal_after_a_fill() -> None:
    from clearing.listings import PublishListing, TakeListing

    h = Harness()
    [rid] = delivered(h)  # the book: seller → buyer
    listing = h.run(PublishListing(actor="buyer", commodity="urea", receipt_ids=[rid], price=205_000)).outcome
    h.deposit("mill", 10_000_000)
    h.run(TakeListing(actor="mill", listing_id=listing.listing_id))  # a deal: buyer → mill
    assert code(h.run(OpenDispute(actor="buyer", receipt_id=rid, kind="weight", reference="b1"))) == \
        "NOT_DELIVERED_TO_YOU"
    h.deposit("mill", 1_000_000)
    assert h.order("mill", "sell", 1, PRICE).rejection is None
    assert h.order("buyer", "buy", 1, PRICE).rejection is None  # the book again: mill → buyer
    d = h.run(OpenDispute(actor="buyer", receipt_id=rid, kind="weight", reference="b2")).outcome
    assert (d.state, d.delivery.seller, d.delivery.ref, d.delivery.trade_id > 0) == ("open", "mill", None, True)
    h.state.check()
