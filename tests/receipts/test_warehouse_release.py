"""Outbound release orders (出库单): request, pickup against the one-time code, the window
closed by the journaled clock, and every refusal changing nothing."""

from engine import NewOrder
from exchange.clock import ClockTick
from tests.support.clearing_helpers import Harness
from warehouse_receipts.registry import LockReceipt, PledgeReceipt, TransferReceipt
from warehouse_receipts.warehouse import DAY_NS, CancelRelease, RecordPickup, RequestRelease, code_digest

CODE = "K7QM-2XPA-9RTB"


def code(result) -> str:
    return result.rejection.code if result.rejection is not None else "ok"


def request(h: Harness, rid: str, actor: str = "seller", ref: str = "r1", pickup: str = CODE, days: int = 10):
    return h.run(RequestRelease(actor=actor, receipt_id=rid, reference=ref, code_hash=code_digest(pickup),
                                window_days=days))


def pickup(h: Harness, release_id: int, pickup_code: str = CODE, actor: str = "wh", kg: int = 20_010):
    return h.run(RecordPickup(actor=actor, release_id=release_id, code_hash=code_digest(pickup_code), weight_kg=kg))


def test_release_locks_the_receipt_and_the_right_code_only_picks_it_up() -> None:
    h = Harness()
    rid = h.issue("seller")
    order = request(h, rid).outcome
    assert (order.release_id, order.state, order.deadline_ns - order.requested_ns) == (1, "open", 10 * DAY_NS)
    assert order.code_hash == code_digest(CODE) and CODE not in repr(order)  # only the digest is kept
    receipt = h.state.registry.receipts[rid]
    assert receipt.state == "released_for_pickup"
    # while the release order is open the receipt cannot be sold, pledged or transferred
    for cmd in (LockReceipt(actor="seller", receipt_id=rid), PledgeReceipt(actor="seller", receipt_id=rid,
                                                                           lender="bank"),
                TransferReceipt(actor="seller", receipt_id=rid, to="buyer")):
        assert code(h.run(cmd)) == "RECEIPT_RELEASED_FOR_PICKUP"
    sell = NewOrder(member="seller", symbol="UR", side="sell", quantity=1, price=200_000)
    assert code(h.run(sell, receipt_ids=[rid])) == "RECEIPT_RELEASED_FOR_PICKUP"
    assert code(h.run(sell)) == "INSUFFICIENT_RECEIPTS"
    assert code(request(h, rid, ref="r2")) == "RECEIPT_RELEASED_FOR_PICKUP"
    assert request(h, rid).outcome is order  # a retry returns the first order
    # refusals change nothing
    before = h.state.state_hash()
    assert code(pickup(h, 1, "K7QM-2XPA-9RTC")) == "WRONG_PICKUP_CODE"
    assert code(pickup(h, 1, actor="other-wh")) == "NOT_WAREHOUSE"
    assert code(pickup(h, 2)) == "RELEASE_NOT_FOUND"
    assert code(pickup(h, 1, kg=0)) == "INVALID_QUANTITY"
    assert code(pickup(h, 1, kg=999_999_999)) == "WEIGHT_OUT_OF_TOLERANCE"  # a 20 t receipt: a mistyped weight
    assert code(pickup(h, 1, kg=17_999)) == "WEIGHT_OUT_OF_TOLERANCE"  # more than a tenth short
    assert h.state.state_hash() == before
    done = pickup(h, 1, "k7qm2xpa9rtb").outcome  # case and dashes do not matter
    assert (done.state, done.weight_out_kg) == ("picked_up", 20_010)
    assert h.state.registry.receipts[rid].state == "cancelled"
    assert pickup(h, 1, "k7qm2xpa9rtb").outcome is done  # a retry of the pickup
    assert code(pickup(h, 1, "OTHER-CODE")) == "RELEASE_PICKED_UP"
    assert [e.action for e in h.state.registry.history[rid]] == ["issue", "outbound", "pickup"]
    h.assert_reconciled()
    h.state.check()


def test_request_refusals() -> None:
    h = Harness()
    rid = h.issue("seller")
    before = h.state.state_hash()
    assert code(request(h, rid, actor="buyer")) == "NOT_OWNER"
    assert code(request(h, "WR99999999")) == "RECEIPT_NOT_FOUND"
    assert code(request(h, rid, days=0)) == "INVALID_WINDOW"
    assert code(request(h, rid, ref="")) == "REFERENCE_REQUIRED"
    assert code(h.run(RequestRelease(actor="seller", receipt_id=rid, reference="x", code_hash="PK-1"))) == \
        "INVALID_CODE"
    h.run(PledgeReceipt(actor="seller", receipt_id=rid, lender="bank"))
    before = h.state.state_hash()
    assert code(request(h, rid)) == "RECEIPT_PLEDGED"
    assert h.state.state_hash() == before
    h.assert_reconciled()


def test_pickup_outside_the_window_is_refused_and_the_clock_lapses_the_order_identically_on_replay() -> None:
    h = Harness()
    h.record()  # from here: the set-up is replayed by a fresh harness
    rid = h.issue("seller")
    order = request(h, rid, days=1).outcome
    assert h.state.next_deadline() == order.deadline_ns
    h.ts = order.deadline_ns  # the sequencer's clock passes the deadline: it journals a tick
    h.run(ClockTick())
    assert order.state == "lapsed" and h.state.registry.receipts[rid].state == "registered"
    before = h.state.state_hash()
    assert code(pickup(h, 1)) == "PICKUP_WINDOW_CLOSED"
    assert h.state.state_hash() == before
    assert [e.action for e in h.state.registry.history[rid]] == ["issue", "outbound", "outbound_lapse"]
    # a new order may be requested again; a late pickup without a tick is refused by time too
    order2 = request(h, rid, ref="r2", days=1).outcome
    h.ts = order2.deadline_ns + 5
    assert code(pickup(h, 2)) == "PICKUP_WINDOW_CLOSED"
    h.assert_reconciled()
    h.state.check()
    assert h.replayed().state_hash() == h.state.state_hash()



def test_the_owner_cancels_an_open_release_and_the_receipt_is_registered_again() -> None:
    h = Harness()
    rid = h.issue("seller")
    request(h, rid)
    before = h.state.state_hash()
    assert code(h.run(CancelRelease(actor="buyer", release_id=1))) == "NOT_OWNER"
    assert code(h.run(CancelRelease(actor="wh", release_id=1))) == "NOT_OWNER"  # the warehouse records pickups only
    assert code(h.run(CancelRelease(actor="seller", release_id=2))) == "RELEASE_NOT_FOUND"
    assert h.state.state_hash() == before
    cancelled = h.run(CancelRelease(actor="seller", release_id=1)).outcome
    assert (cancelled.state, h.state.registry.receipts[rid].state) == ("cancelled", "registered")
    assert h.run(CancelRelease(actor="seller", release_id=1)).outcome is cancelled  # a retry
    assert code(pickup(h, 1)) == "RELEASE_CLOSED"  # the code no longer opens the gate
    h.ts += 11 * DAY_NS
    h.run(ClockTick())  # the window's timer finds nothing open
    assert cancelled.state == "cancelled" and h.state.registry.receipts[rid].state == "registered"
    assert [e.action for e in h.state.registry.history[rid]] == ["issue", "outbound", "outbound_lapse"]
    assert request(h, rid, ref="r2").outcome.release_id == 2  # asked for again later
    assert code(h.run(CancelRelease(actor="seller", release_id=2))) == "ok"
    late = request(h, rid, ref="r2b").outcome
    h.ts = late.deadline_ns + 1  # the window closed; the clock has not ticked yet
    assert code(h.run(CancelRelease(actor="seller", release_id=late.release_id))) == "RELEASE_CLOSED"  # it lapses
    h.run(ClockTick())
    assert late.state == "lapsed"
    pickup_after = request(h, rid, ref="r3").outcome
    assert pickup(h, pickup_after.release_id).outcome.state == "picked_up"
    assert code(h.run(CancelRelease(actor="seller", release_id=pickup_after.release_id))) == "RELEASE_CLOSED"
    h.assert_reconciled()
    h.state.check()
