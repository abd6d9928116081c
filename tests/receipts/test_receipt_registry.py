"""The registry state machine: property tests over random operation sequences, and the rules
of each transition."""

from decimal import Decimal as D

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse_receipts.quality import ScrapSteelQuality, UreaQuality
from warehouse_receipts.registry import (
    CANCELLED,
    FROZEN,
    LOCKED,
    PLEDGED,
    REGISTERED,
    CancelReceipt,
    DeliverySpec,
    FreezeReceipt,
    IssueReceipt,
    LockReceipt,
    PledgeReceipt,
    ReceiptRejected,
    Registry,
    ReleaseReceipt,
    TransferReceipt,
    UnfreezeReceipt,
    UnlockReceipt,
    fold,
)

MEMBERS = ["m1", "m2", "bank", "wh"]
UREA = UreaQuality(nitrogen_pct=D("46.1"), biuret_pct=D("0.8"), moisture_pct=D("0.4"), granules_pct=D("94"))


def issue(n: int, owner: str = "m1") -> IssueReceipt:
    return IssueReceipt(actor="wh", certificate_no=f"C{n}", inspector="CCIC", owner=owner, quality=UREA,
                        quantity_kg=20_000)


def fresh(receipts: int = 4) -> Registry:
    # the catalogue's delivery terms of UR, as the exchange hands them to the registry
    registry = Registry(specs={"UR": DeliverySpec(symbol="UR", commodity="urea", table="GB/T2440-2017")})
    for n in range(receipts):
        registry.apply(issue(n, owner=MEMBERS[n % 2]))
    return registry


receipt_ids = st.integers(1, 4).map(lambda n: f"WR{n:08d}")
members = st.sampled_from(MEMBERS)
# who acts: usually the party entitled to (None), sometimes anyone
actors = st.one_of(st.none(), st.none(), st.none(), members)
operations = st.lists(st.one_of(
    st.tuples(st.just("transfer"), receipt_ids, actors, members),
    st.tuples(st.just("lock"), receipt_ids, actors),
    st.tuples(st.just("unlock"), receipt_ids, actors),
    st.tuples(st.just("pledge"), receipt_ids, actors, members),
    st.tuples(st.just("release"), receipt_ids, actors),
    st.tuples(st.just("freeze"), receipt_ids),
    st.tuples(st.just("unfreeze"), receipt_ids),
    st.tuples(st.just("cancel"), receipt_ids, actors),
    st.tuples(st.just("issue"), members),
    st.tuples(st.just("sell"), members, st.integers(1, 3)),
    st.tuples(st.just("fill"), st.integers(1, 6), st.integers(1, 3), members),
    st.tuples(st.just("close"), st.integers(1, 6), st.integers(0, 2)),
    # into a middle state and out again, each step by the party entitled to it
    st.tuples(st.just("cycle"), receipt_ids, st.sampled_from(["pledge", "lock", "freeze"]), members),
), max_size=60)
CYCLES = {"pledge": "release", "lock": "unlock", "freeze": "unfreeze"}


def run(registry: Registry, op: tuple, step: int, orders: list[int]) -> object:
    kind, *args = op
    ts = 1_000 + step
    if kind == "cycle":
        receipt_id, into, lender = args
        entry = (into, receipt_id, None, lender) if into == "pledge" else (into, receipt_id, None)
        entry = entry if into != "freeze" else (into, receipt_id)
        if isinstance(run(registry, entry, step, orders), ReceiptRejected):
            return None
        check(registry)
        out = (CYCLES[into], receipt_id) + ((None,) if into != "freeze" else ())
        run(registry, out, step, orders)
        return None
    if kind in ("transfer", "lock", "unlock", "pledge", "release", "cancel") and args[1] is None:
        receipt = registry.receipts.get(args[0])
        entitled = {"release": "pledgee", "cancel": "warehouse"}.get(kind, "owner")
        args[1] = getattr(receipt, entitled) if receipt else "m1"
    if kind == "transfer":
        return registry.apply(TransferReceipt(actor=args[1], receipt_id=args[0], to=args[2]))
    if kind == "lock":
        return registry.apply(LockReceipt(actor=args[1], receipt_id=args[0]))
    if kind == "unlock":
        return registry.apply(UnlockReceipt(actor=args[1], receipt_id=args[0]))
    if kind == "pledge":
        return registry.apply(PledgeReceipt(actor=args[1], receipt_id=args[0], lender=args[2]))
    if kind == "release":
        return registry.apply(ReleaseReceipt(actor=args[1], receipt_id=args[0]))
    if kind == "freeze":
        return registry.apply(FreezeReceipt(actor="clearing", receipt_id=args[0]))
    if kind == "unfreeze":
        return registry.apply(UnfreezeReceipt(actor="clearing", receipt_id=args[0]))
    if kind == "cancel":
        return registry.apply(CancelReceipt(actor=args[1], receipt_id=args[0], pickup_code="PK-1"))
    if kind == "issue":
        return registry.apply(issue(100 + step, owner=args[0]))
    if kind == "sell":  # what the sequencer does for an accepted sell order
        chosen = registry.select_for_sale(args[0], "UR", args[1])
        if isinstance(chosen, ReceiptRejected):
            return chosen
        orders.append(len(orders) + 1)
        registry.lock_for_order(orders[-1], chosen, args[0], ts)
        return None
    if kind == "fill":
        order_id, lots, buyer = args
        if order_id in registry.by_order:
            registry.deliver(order_id, min(lots, registry.held_by(order_id)), buyer, ts, step)
        return None
    order_id, keep = args  # close or shrink an order
    if order_id in registry.by_order:
        registry.unlock_order(order_id, min(keep, registry.held_by(order_id)), ts)
    return None


def check(registry: Registry) -> None:
    for receipt_id, receipt in registry.receipts.items():
        history = registry.history[receipt_id]
        assert [e.version for e in history] == list(range(1, len(history) + 1)), "history has a gap"
        assert fold(history) == receipt, "the receipt is not the fold of its history"
        assert receipt.state in (REGISTERED, LOCKED, PLEDGED, FROZEN, CANCELLED)
        assert (receipt.state == PLEDGED) == bool(receipt.pledgee), "pledged exactly when a lender is named"
        assert not receipt.order_id or receipt.state == LOCKED, "an order holds only locked receipts"
    held = [r for ids in registry.by_order.values() for r in ids]
    assert len(held) == len(set(held)), "a receipt backs two orders"
    for order_id, ids in registry.by_order.items():
        assert all(registry.receipts[r].order_id == order_id for r in ids)
    seqs = [e.seq for h in registry.history.values() for e in h]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    registry.check()
    for member in MEMBERS:  # a sell picks the member's first registered receipts in issue order
        mine = [r for r in registry.receipts.values() if r.owner == member and r.state == REGISTERED]
        for lots in range(1, len(mine) + 2):
            picked = registry.select_for_sale(member, "UR", lots)
            expected = [r.receipt_id for r in mine][:lots] if lots <= len(mine) else None
            assert (picked if isinstance(picked, list) else None) == expected, f"{member} selling {lots}"


@settings(max_examples=300, deadline=None)
@given(operations)
def test_random_operations_keep_one_state_and_state_is_the_fold(ops: list[tuple]) -> None:
    registry = fresh()
    orders: list[int] = []
    for step, op in enumerate(ops):
        before = msgspec.msgpack.encode([registry.receipts, registry.by_order, registry.seq])
        hash_before = registry.state_hash()
        outcome = run(registry, op, step, orders)
        if isinstance(outcome, ReceiptRejected):
            assert msgspec.msgpack.encode([registry.receipts, registry.by_order, registry.seq]) == before, \
                f"rejected {op} changed something"
            assert registry.state_hash() == hash_before, f"rejected {op} changed the state hash"
        check(registry)


# ----------------------------------------------------------------- transition rules

def code(outcome) -> str:
    return outcome.code if isinstance(outcome, ReceiptRejected) else "ok"


def test_a_pledged_receipt_cannot_be_sold_transferred_repledged_or_withdrawn() -> None:
    r = fresh(1)
    rid = "WR00000001"
    assert code(r.apply(PledgeReceipt(actor="m1", receipt_id=rid, lender="bank"))) == "ok"
    assert code(r.apply(LockReceipt(actor="m1", receipt_id=rid))) == "RECEIPT_PLEDGED"
    assert code(r.apply(TransferReceipt(actor="m1", receipt_id=rid, to="m2"))) == "RECEIPT_PLEDGED"
    assert code(r.apply(PledgeReceipt(actor="m1", receipt_id=rid, lender="bank2"))) == "RECEIPT_PLEDGED"
    assert code(r.apply(CancelReceipt(actor="wh", receipt_id=rid, pickup_code="PK"))) == "RECEIPT_PLEDGED"
    assert code(r.select_for_sale("m1", "UR", 1)) == "INSUFFICIENT_RECEIPTS"
    assert code(r.select_for_sale("m1", "UR", 1, [rid])) == "RECEIPT_PLEDGED"
    assert code(r.apply(ReleaseReceipt(actor="m1", receipt_id=rid))) == "NOT_PLEDGEE"
    assert code(r.apply(ReleaseReceipt(actor="bank", receipt_id=rid))) == "ok"
    assert r.receipts[rid].state == REGISTERED
    r.check()


def test_authority_over_each_transition() -> None:
    r = fresh(1)
    rid = "WR00000001"
    assert code(r.apply(TransferReceipt(actor="m2", receipt_id=rid, to="m2"))) == "NOT_OWNER"
    assert code(r.apply(TransferReceipt(actor="m1", receipt_id=rid, to="m1"))) == "INVALID_COUNTERPARTY"
    assert code(r.apply(CancelReceipt(actor="other-wh", receipt_id=rid, pickup_code="PK"))) == \
        "NOT_WAREHOUSE"
    assert code(r.apply(CancelReceipt(actor="wh", receipt_id=rid, pickup_code=""))) == \
        "PICKUP_CODE_REQUIRED"
    assert code(r.apply(UnlockReceipt(actor="m1", receipt_id=rid))) == "RECEIPT_NOT_LOCKED"
    assert code(r.apply(UnfreezeReceipt(actor="c", receipt_id=rid))) == "RECEIPT_NOT_FROZEN"
    assert code(r.apply(ReleaseReceipt(actor="bank", receipt_id=rid))) == "RECEIPT_NOT_PLEDGED"
    assert code(r.apply(TransferReceipt(actor="m1", receipt_id="WR99", to="m2"))) == "RECEIPT_NOT_FOUND"
    assert code(r.apply(issue(0))) == "DUPLICATE_CERTIFICATE"
    refused = IssueReceipt(actor="wh", certificate_no="X", inspector="i", owner="m1", quantity_kg=1,
                           quality=ScrapSteelQuality(steel_class="heavy", inclusions_pct=D("0.9")))
    assert code(r.apply(refused)) == "QUALITY_REFUSED"
    assert code(r.apply(CancelReceipt(actor="wh", receipt_id=rid, pickup_code="PK"))) == "ok"
    assert code(r.apply(TransferReceipt(actor="m1", receipt_id=rid, to="m2"))) == "RECEIPT_CANCELLED"
    assert [e.action for e in r.history[rid]] == ["issue", "cancel"]
    r.check()


def test_order_lock_delivery_and_release() -> None:
    r = fresh(4)  # m1 owns WR1 and WR3, m2 owns WR2 and WR4
    chosen = r.select_for_sale("m1", "UR", 2)
    assert chosen == ["WR00000001", "WR00000003"]
    r.lock_for_order(7, chosen, "m1", 10)
    assert code(r.apply(UnlockReceipt(actor="m1", receipt_id="WR00000001"))) == "RECEIPT_BOUND_TO_ORDER"
    assert r.deliver(7, 1, "m2", 12, trade_id=1) == ["WR00000001"]
    assert r.receipts["WR00000001"].owner == "m2" and r.receipts["WR00000001"].state == REGISTERED
    r.unlock_order(7, 0, 13)
    assert r.receipts["WR00000003"].state == REGISTERED and 7 not in r.by_order
    assert [e.action for e in r.history["WR00000001"]] == ["issue", "lock", "deliver"]
    assert code(r.select_for_sale("m1", "UR", 1, ["WR00000002"])) == "RECEIPT_NOT_FOUND"  # not m1's
    assert code(r.select_for_sale("m1", "UR", 2, ["WR00000003"])) == "RECEIPT_COUNT_MISMATCH"
    r.check()
