"""Seeded random deliveries in the core: members trade a forward at random over its last two
days with random cash, longs apply for rolling delivery, shorts get random cotton receipts
(some too many, some pledged, some in a warehouse that does not deliver) and tender at random
(early ones roll at the first end of day), longs name random warehouses; then
the tender deadline, the allocation and the payment deadline. Whatever happens, every refusal
changes nothing, every position ends closed, no receipt stays tendered, each line ends
settled one way or another, the state checks and reconciles, and a replay gives the same hash."""

import random
from decimal import Decimal

import pytest

from clearing.delivery import AllocateDelivery, DeliveryIntent, TenderReceipts
from clearing.ledger import FEES, margin
from tests.forwards.test_delivery import SYMBOL, cotton, fw, harness, issue, next_day
from warehouse_receipts.registry import PledgeReceipt

MEMBERS = [f"m{i}" for i in range(8)]
WAREHOUSES = ["wh-a", "wh-b", "wh-c", "wh-a", "wh-b", "wh-c", "wh-x"]  # wh-x does not deliver


def trade_day(h, rng: random.Random) -> None:
    for _ in range(30):
        member = rng.choice(MEMBERS)
        lots = rng.choice((1, 3, 8, 8, 16))
        fw(h, member, rng.choice(("buy", "sell")), lots, rng.randrange(14_700, 15_300, 5))


def tender_some(h, rng: random.Random) -> None:
    state = h.state
    for (member, _), p in sorted(state.forwards.positions.items()):
        if p.net >= 0:
            continue
        ids = [issue(h, rng.choice(WAREHOUSES), member, cotton(rng.randrange(168, 192),
                                                               colour_grade=rng.choice(("11", "21", "31", "41")),
                                                               length_mm=Decimal(rng.choice(("27.2", "28.3", "29.6")))))
               for _ in range(-p.net // 8 + rng.randrange(-1, 2))]
        if ids and rng.random() < 0.3:
            h.run(PledgeReceipt(actor=member, receipt_id=ids[0], lender="bank"))
        for chunk in ([i] for i in ids):
            before = state.state_hash()
            result = h.run(TenderReceipts(actor=member, member=member, symbol=SYMBOL, receipt_ids=chunk))
            if result.rejection is not None:
                assert state.state_hash() == before, result.rejection


@pytest.mark.parametrize("seed", range(20))
def test_random_deliveries_always_settle_and_reconcile(seed: int) -> None:
    rng = random.Random(seed)
    h = harness(last_trading_day=20270112, penalty_bps=rng.choice((1_000, 2_000, 5_000)))
    for member in MEMBERS:
        h.deposit(member, rng.choice((3_000_000, 30_000_000, 300_000_000)))
    trade_day(h, rng)
    for member in MEMBERS:  # rolling delivery: applicants take early tenders at this end of day
        if rng.random() < 0.4:
            h.run(DeliveryIntent(actor=member, member=member, symbol=SYMBOL, early=True))
    if rng.random() < 0.5:
        tender_some(h, rng)
    h.end_of_day()
    next_day(h, 20270112)
    trade_day(h, rng)
    tender_some(h, rng)
    for member in MEMBERS:
        if rng.random() < 0.5:
            h.run(DeliveryIntent(actor=member, member=member, symbol=SYMBOL, warehouse=rng.choice(WAREHOUSES)))
    h.state.check()
    h.end_of_day()
    next_day(h, 20270113)
    if rng.random() < 0.7:  # else the payment deadline allocates
        assert h.run(AllocateDelivery(actor="desk", symbol=SYMBOL)).rejection is None
    h.end_of_day()
    state = h.state
    assert all(p.net == 0 for p in state.forwards.positions.values())
    assert not any(r.state == "tendered" for r in state.registry.receipts.values())
    allocation = state.delivery.allocations[SYMBOL]
    assert allocation.settled
    lines = [line for a in (*state.delivery.rolls, allocation) for line in a.lines]
    assert {line.state for line in lines} <= {"delivered", "payment_default", "delivery_default", "closed"}
    for line in lines:
        receipt = state.registry.receipts.get(line.receipt_id)
        if line.state == "delivered":
            assert receipt.owner == line.long
        elif receipt is not None:
            assert receipt.owner == line.short
    defaulters = {(line.short if line.state == "delivery_default" else line.long, line.state)
                  for line in lines if line.state.endswith("_default")}
    assert {(e.member, e.kind) for e in state.credit.entries if e.ref.startswith("delivery:")} == defaulters
    ledger = state.clearing.ledger
    assert all(ledger.balance(margin(m)) == 0 for m in MEMBERS) and ledger.balance(FEES) >= 0
    state.check()
    h.assert_reconciled()
    assert h.replayed().state_hash() == state.state_hash()
