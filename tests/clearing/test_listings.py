"""Listings in the pure core, to the fen: a fixed-price lot taken, a basis-priced lot
counter-offered and accepted, demand filled, counters declined and lapsed by the clock,
expiry at the end of the day unless renewed, and refusals that change nothing."""

import msgspec

from clearing.escrow import SetSupplyFee, bulk
from clearing.listings import (
    AnswerCounter,
    CounterOffer,
    PublishListing,
    RenewListing,
    TakeListing,
    WithdrawListing,
)
from exchange.clock import ClockTick
from tests.support.clearing_helpers import Harness

S = 10**9
FW_SETTLEMENT = 1_500_000  # the harness's forward FW: its reference (settlement) price


def setup() -> tuple[Harness, list[str]]:
    h = Harness()
    h.run(SetSupplyFee(actor="ops", fee_per_t=500))
    h.deposit("mill", 10_000_000)
    h.deposit("sup", 100_000)
    return h, [h.issue("sup") for _ in range(4)]


def run(h: Harness, cmd):
    return h.run(cmd).outcome


def snapshot(h: Harness) -> bytes:
    return msgspec.msgpack.encode([h.state.state_hash(), h.ledger_snapshot()])


def test_fixed_listing_taken_and_basis_listing_countered() -> None:
    h, r = setup()
    fixed = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[0]], price=205_000))
    basis = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], forward="FW",
                                  basis=200_000 - FW_SETTLEMENT))
    assert h.state.listings.price_of(basis, h.state.engine) == 200_000
    taken = run(h, TakeListing(actor="mill", listing_id=fixed.listing_id))
    assert (taken.state, taken.deal_price, taken.value, taken.buyer_fee) == ("taken", 205_000, 4_100_000, 10_000)
    assert run(h, TakeListing(actor="mill", listing_id=fixed.listing_id)).code == "LISTING_CLOSED"
    run(h, CounterOffer(actor="mill", listing_id=basis.listing_id, price=199_000, respond_ns=60 * S))
    assert h.state.clearing.ledger.balance(bulk("mill")) == 3_980_000 + 10_000
    accepted = run(h, AnswerCounter(actor="sup", listing_id=basis.listing_id, counter_no=1, accept=True))
    assert (accepted.state, accepted.taker, accepted.deal_price, accepted.value) == ("taken", "mill", 199_000,
                                                                                       3_980_000)
    assert h.available("mill") == 10_000_000 - 4_110_000 - 3_990_000
    assert h.available("sup") == 100_000 + 4_090_000 + 3_970_000
    assert h.fees() == 40_000
    assert h.state.clearing.ledger.balance(bulk("mill")) == 0
    assert {h.state.registry.receipts[x].owner for x in r[:2]} == {"mill"}
    assert [e.action for e in h.state.registry.history[r[1]]] == ["issue", "offer", "award"]
    h.state.check()
    h.assert_reconciled()


def test_demand_filled_and_counters_declined_or_lapsed() -> None:
    h, r = setup()
    demand = run(h, PublishListing(actor="mill", side="buy", commodity="urea", quantity_kg=20_000,
                                   tolerance_bps=500, price=202_000))
    frozen = (202_000 * 21_000 + 999) // 1_000 + 50 + 500 * 21
    assert h.state.clearing.ledger.balance(bulk("mill")) == frozen
    filled = run(h, TakeListing(actor="sup", listing_id=demand.listing_id, receipt_ids=[r[0]]))
    assert (filled.state, filled.value) == ("taken", 4_040_000)
    assert h.available("mill") == 10_000_000 - 4_040_000 - 10_000
    assert h.state.registry.receipts[r[0]].owner == "mill"
    lot = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], price=210_000))
    h.deposit("mill", 5_000_000)
    run(h, CounterOffer(actor="mill", listing_id=lot.listing_id, price=200_000, respond_ns=60 * S))
    run(h, CounterOffer(actor="mill", listing_id=lot.listing_id, price=201_000, respond_ns=120 * S))
    run(h, AnswerCounter(actor="sup", listing_id=lot.listing_id, counter_no=1, accept=False))
    assert [c.state for c in h.state.listings.listings[lot.listing_id].counters] == ["declined", "open"]
    h.ts += 200 * S
    h.run(ClockTick())
    assert [c.state for c in h.state.listings.listings[lot.listing_id].counters] == ["declined", "lapsed"]
    assert run(h, AnswerCounter(actor="sup", listing_id=lot.listing_id, counter_no=2, accept=True)).code \
        == "COUNTER_CLOSED"
    assert h.state.clearing.ledger.balance(bulk("mill")) == 0
    h.state.check()
    h.assert_reconciled()


def test_listings_expire_at_end_of_day_unless_renewed() -> None:
    h, r = setup()
    a = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[0]], price=210_000))
    b = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], price=210_000))
    run(h, CounterOffer(actor="mill", listing_id=a.listing_id, price=200_000))
    run(h, RenewListing(actor="sup", listing_id=b.listing_id))
    h.end_of_day()
    assert (h.state.listings.listings[a.listing_id].state, h.state.listings.listings[b.listing_id].state) == \
        ("expired", "open")
    assert h.state.registry.receipts[r[0]].state == "registered"
    assert h.state.clearing.ledger.balance(bulk("mill")) == 0
    h.end_of_day()
    assert h.state.listings.listings[b.listing_id].state == "expired"
    h.state.check()


def test_listing_refusals_change_nothing() -> None:
    h, r = setup()
    h.deposit("poor", 10)
    lot = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[0]], price=210_000))
    demand = run(h, PublishListing(actor="mill", side="buy", commodity="urea", quantity_kg=20_000, price=202_000))
    gone = run(h, PublishListing(actor="sup", commodity="urea", receipt_ids=[r[3]], price=210_000))
    run(h, WithdrawListing(actor="sup", listing_id=gone.listing_id))
    cases = [
        (PublishListing(actor="sup", commodity="urea", receipt_ids=[r[0]], price=210_000), "LOT_RECEIPT_UNAVAILABLE"),
        (PublishListing(actor="mill", commodity="urea", receipt_ids=[r[1]], price=210_000), "LOT_RECEIPT_UNAVAILABLE"),
        (PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], price=0), "INVALID_PRICE"),
        (PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], forward="NOPE"), "UNKNOWN_INSTRUMENT"),
        (PublishListing(actor="sup", commodity="urea", receipt_ids=[r[1]], forward="FW", basis=-FW_SETTLEMENT),
         "NO_SETTLEMENT_PRICE"),
        (PublishListing(actor="poor", side="buy", commodity="urea", quantity_kg=20_000, price=200_000),
         "INSUFFICIENT_FUNDS"),
        (TakeListing(actor="mill", listing_id=99), "LISTING_NOT_FOUND"),
        (TakeListing(actor="mill", listing_id=gone.listing_id), "LISTING_CLOSED"),
        (TakeListing(actor="sup", listing_id=lot.listing_id), "SELF_TRADE"),
        (TakeListing(actor="poor", listing_id=lot.listing_id), "INSUFFICIENT_FUNDS"),
        (CounterOffer(actor="poor", listing_id=lot.listing_id, price=200_000), "INSUFFICIENT_FUNDS"),
        (CounterOffer(actor="mill", listing_id=demand.listing_id, price=200_000), "INVALID_LISTING"),
        (AnswerCounter(actor="mill", listing_id=lot.listing_id, counter_no=1, accept=True), "NOT_LISTING_OWNER"),
        (AnswerCounter(actor="sup", listing_id=lot.listing_id, counter_no=1, accept=True), "COUNTER_NOT_FOUND"),
        (TakeListing(actor="sup", listing_id=demand.listing_id, receipt_ids=[r[1], r[2]]), "LOT_QUANTITY_MISMATCH"),
        (TakeListing(actor="sup", listing_id=demand.listing_id, receipt_ids=[r[0]]), "LOT_RECEIPT_UNAVAILABLE"),
    ]
    for command, expected in cases:
        before = snapshot(h)
        assert run(h, command).code == expected, command
        assert snapshot(h) == before, command
    h.state.check()


def test_demand_buyer_short_after_renewal_refuses_the_fill() -> None:
    h, r = setup()
    demand = run(h, PublishListing(actor="mill", side="buy", commodity="urea", quantity_kg=20_000, forward="FW",
                                   basis=202_000 - FW_SETTLEMENT))
    assert demand.listing_id == 1
    from clearing.core import Withdraw
    h.run(Withdraw(actor="desk", member="mill", amount=h.available("mill"), reference="out"))
    h.state.engine.instruments["FW"].ref_price += 100_000  # the next day's settlement price, higher
    before = snapshot(h)
    assert run(h, TakeListing(actor="sup", listing_id=1, receipt_ids=[r[0]])).code == "BUYER_FUNDS_SHORT"
    assert snapshot(h) == before
