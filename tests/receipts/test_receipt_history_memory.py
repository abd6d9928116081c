"""Long custody histories leave memory: a receipt keeps its newest events, the older ones fold
into its base, and the events written to SQL (drained) are the whole history."""

from tests.receipts.test_receipt_registry import MEMBERS, fresh
from warehouse_receipts.registry import PledgeReceipt, Registry, ReleaseReceipt, fold


def cycles(registry: Registry, times: int) -> list:
    """Pledge and release every receipt ``times`` times; every event drained on the way."""
    drained = registry.drain_events()
    for n in range(times):
        for receipt_id, receipt in sorted(registry.receipts.items()):
            owner = receipt.owner
            lender = next(m for m in MEMBERS if m != owner)
            assert isinstance(registry.apply(PledgeReceipt(actor=owner, receipt_id=receipt_id, lender=lender), n), list)
            assert isinstance(registry.apply(ReleaseReceipt(actor=lender, receipt_id=receipt_id), n), list)
            registry.check()
        drained += registry.drain_events()
    return drained


def test_a_long_history_keeps_its_newest_events_and_folds_the_rest() -> None:
    registry = fresh(2)
    registry.history_kept = 3
    drained = cycles(registry, 20)
    assert registry.trimmed > 60
    for receipt_id, receipt in registry.receipts.items():
        kept = registry.history[receipt_id]
        assert len(kept) <= 6
        whole = [e for e in drained if e.receipt_id == receipt_id]
        assert [e.version for e in whole] == list(range(1, receipt.version + 1))
        assert whole[-len(kept):] == kept  # the newest, as written to SQL
        assert fold(whole) == receipt == fold(kept, registry.history_base[receipt_id])


def test_trimming_is_the_same_on_replay() -> None:
    a, b = fresh(2), fresh(2)
    a.history_kept = b.history_kept = 4
    cycles(a, 9)
    cycles(b, 9)
    assert a.history == b.history and a.history_base == b.history_base and a.trimmed == b.trimmed
    assert a.state_hash() == b.state_hash()
    untrimmed = fresh(2)
    cycles(untrimmed, 9)
    assert untrimmed.state_hash() == a.state_hash()  # histories are not hashed: memory's limit changes no hash
