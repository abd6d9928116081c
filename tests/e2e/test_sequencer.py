"""The sequencer against a real PostgreSQL: acks are committed, batches are atomic, and a
restart rebuilds the same engine state and order views from the journal."""

import asyncio

import asyncpg

from engine import AddInstrument, CancelOrder, NewOrder, SetSession
from exchange.journal import Entry
from gateway.sequencer import Exchange

CF = AddInstrument(symbol="CF", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400)


def order(member: str, side: str, qty: int, price: int, coid: str) -> Entry:
    return Entry(NewOrder(member=member, symbol="CF", side=side, quantity=qty, price=price), coid)


async def scenario(url: str) -> None:
    ex = await Exchange.open(url)
    await ex.submit(Entry(CF))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    # many concurrent submissions: they share batches
    results = await asyncio.gather(*(
        ex.submit(order(f"m{i % 3}", "buy" if i % 2 else "sell", 1 + i % 4, 1_500_000 + 500 * (i % 5 - 2), f"c{i}"))
        for i in range(200)
    ))
    assert all(r.view is not None for r in results)
    await ex.submit(Entry(CancelOrder("m0", results[0].view.order_id)))
    hash_before = ex.engine.state_hash()
    views_before = {oid: (v.status, v.cum_qty, v.leaves_qty, v.avg_price) for oid, v in ex.views.by_id.items()}
    assert ex.largest_batch > 1, "concurrent submissions should be group-committed"
    await ex.close()

    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT count(*) FROM journal") == 203
    assert await conn.fetchval("SELECT max(entry_no) - min(entry_no) + 1 FROM journal") == 203
    traded = await conn.fetchval("SELECT coalesce(sum(quantity), 0) FROM trades")
    filled = await conn.fetchval("SELECT sum(cum_qty) FROM orders")
    assert filled == 2 * traded
    await conn.close()

    again = await Exchange.open(url)
    assert again.engine.state_hash() == hash_before
    views_after = {oid: (v.status, v.cum_qty, v.leaves_qty, v.avg_price) for oid, v in again.views.by_id.items()}
    assert views_after == views_before
    assert again.views.by_client[("m1", "c1")].order_id == results[1].view.order_id
    await again.close()


def test_commit_then_recover(database_url: str) -> None:
    asyncio.run(scenario(database_url))
