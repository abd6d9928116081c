"""The projector against a real PostgreSQL: a batch is acknowledged on its journal rows alone,
the projections follow behind the journal, and after a crash that lost what the projector had
not written, recovery catches them up before the first command so they equal what the journal
projects (orders, trades, transfers, accounts, reports)."""

import asyncio

import asyncpg
import pytest

from clearing.core import Deposit, EndOfDay
from engine import AddInstrument, NewOrder, SetSession
from exchange.journal import Entry
from gateway import projector
from gateway.projection_check import projections_disagree
from gateway.projector import Projector, merge, read_watermark
from gateway.sequencer import Exchange
from gateway.store import ACCOUNTS, TRADES, Batch

CF = AddInstrument(symbol="CF", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400)
MEMBERS = ("m0", "m1", "m2")


def order(i: int) -> Entry:
    member, side = MEMBERS[i % 3], "buy" if i % 2 else "sell"
    return Entry(NewOrder(member=member, symbol="CF", side=side, quantity=1 + i % 4,
                          price=1_500_000 + 500 * (i % 5 - 2)), f"p{i}")


async def setup(ex: Exchange) -> None:
    await ex.submit(Entry(CF))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    for member in MEMBERS:
        await ex.submit(Entry(Deposit(actor="desk", member=member, amount=10**12, reference=f"dep-{member}")))


async def crash_scenario(url: str) -> None:
    ex = await Exchange.open(url)
    await setup(ex)
    assert await ex.projector.wait_for(ex.entry_no), "the projector should follow the journal"
    conn = await asyncpg.connect(url)
    try:
        assert await projections_disagree(conn) == []
        ex.projector._task.cancel()  # the projector stops writing (as in a process about to die)
        results = await asyncio.gather(*(ex.submit(order(i)) for i in range(120)))
        await ex.submit(Entry(EndOfDay(actor="desk")))
        assert all(r.view is not None for r in results)  # acknowledged, on the journal alone
        acked = ex.entry_no
        assert await read_watermark(conn) < acked, "the projections should lag the acknowledged journal"
        assert not await ex.projector.wait_for(acked, timeout=0.2)
        ex._task.cancel()  # the process dies: nothing drained, nothing more written
        ex.conn.terminate()

        again = await Exchange.open(url)
        try:
            assert again.entry_no == acked
            assert await read_watermark(conn) == acked, "recovery should catch the projections up before serving"
            assert await projections_disagree(conn) == []
            assert await conn.fetchval("SELECT count(*) FROM settlement_reports") == 1
            assert await conn.fetchval("SELECT count(*) FROM trades") > 0
        finally:
            await again.close()
    finally:
        await conn.close()


@pytest.mark.parametrize("copy_rows", [1, 10**9], ids=["copy", "insert"])
def test_projections_catch_up_after_a_crash_and_equal_the_journal(database_url: str, copy_rows: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector, "COPY_ROWS", copy_rows)  # COPY for large writes, one INSERT otherwise
    asyncio.run(crash_scenario(database_url))


async def projected_setup(url: str) -> asyncpg.Connection:
    """``setup`` run on an exchange that then closes (its projections written); a connection."""
    ex = await Exchange.open(url)
    await setup(ex)
    await ex.close()
    return await asyncpg.connect(url)


async def overlap_scenario(url: str) -> None:
    """Batches already written (by a transaction whose reply was lost, or another node) are
    skipped: the keyed rows never go back to older values and nothing is written twice."""
    conn = await projected_setup(url)
    try:
        written = await read_watermark(conn)
        stale = Batch(batch_no=1, ts_ns=0, last_entry=written)
        stale.add(ACCOUNTS, [("cash:m0", 0, 1)])  # an older account row: must not be written
        writer = Projector(url, watermark=0)
        writer.add(stale)
        writer.start(conn)
        assert await writer.wait_for(written)
        assert await conn.fetchval("SELECT credits FROM accounts WHERE account_id = 'cash:m0'") == 10**12
        await writer.stop()
    finally:
        await conn.close()


def test_a_batch_already_projected_is_not_written_again(database_url: str) -> None:
    asyncio.run(overlap_scenario(database_url))


def test_merged_batches_keep_every_appended_row_and_the_latest_keyed_row() -> None:
    first, second = Batch(batch_no=1, ts_ns=1, last_entry=2), Batch(batch_no=2, ts_ns=2, last_entry=5)
    first.add(ACCOUNTS, [("cash:a", 0, 5), ("cash:b", 1, 1)])
    second.add(ACCOUNTS, [("cash:a", 2, 5)])
    first.add(TRADES, [(1, "CF", 10, 1, 1, 2, "a", "b", "buy", 2)])
    second.add(TRADES, [(2, "CF", 10, 1, 3, 4, "a", "b", "sell", 5)])
    merged = merge([first, second])
    assert merged.last_entry == 5
    assert sorted(merged.rows_of(ACCOUNTS)) == [("cash:a", 2, 5), ("cash:b", 1, 1)]
    assert [r[0] for r in merged.rows_of(TRADES)] == [1, 2]


async def gap_scenario(url: str) -> None:
    """Rows that do not continue the stored projections — some lost, or a batch straddling the
    watermark — are refused whole (ProjectionGap), never written over a gap or twice."""
    conn = await projected_setup(url)
    try:
        done = await read_watermark(conn)
        for first in (done + 5, done - 1):  # after a gap; straddling the watermark
            late = Batch(batch_no=0, ts_ns=0, first_entry=first, last_entry=done + 9)
            late.add(ACCOUNTS, [("cash:m0", 0, 1)])
            with pytest.raises(projector.ProjectionGap):
                await projector.write(conn, [late], projector.statements())
        assert await read_watermark(conn) == done
        assert await conn.fetchval("SELECT credits FROM accounts WHERE account_id = 'cash:m0'") == 10**12
    finally:
        await conn.close()


def test_rows_that_do_not_continue_the_projections_are_refused(database_url: str) -> None:
    asyncio.run(gap_scenario(database_url))
