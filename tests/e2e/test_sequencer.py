"""The sequencer against a real PostgreSQL: acks are committed, batches are atomic, and a
restart rebuilds the same engine state and order views from the journal."""

import asyncio
import time

import asyncpg

from clearing.core import EndOfDay
from engine import AddInstrument, CancelOrder, NewOrder, SetSession
from exchange.clock import ClockTick, ScheduleSession
from exchange.journal import Entry, decode_entry
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


async def clock_scenario(url: str) -> None:
    """With no traffic at all, the sequencer journals a clock tick when a timer falls due; a
    restart replays the tick at the same place and reaches the same state."""
    ex = await Exchange.open(url)
    await ex.submit(Entry(CF))
    at = time.time_ns() + 300_000_000
    await ex.submit(Entry(ScheduleSession(actor="ops", symbol="CF", state="continuous", at_ns=at)))
    assert ex.engine.instruments["CF"].session == "closed"
    await asyncio.sleep(0.8)  # nothing submitted meanwhile
    assert ex.engine.instruments["CF"].session == "continuous" and ex.state.next_deadline() is None
    state_hash = ex.state.state_hash()
    await ex.close()
    conn = await asyncpg.connect(url)
    rows = await conn.fetch("SELECT ts_ns, entry FROM journal ORDER BY entry_no")
    await conn.close()
    ticks = [r["ts_ns"] for r in rows if type(decode_entry(r["entry"]).command) is ClockTick]
    assert len(ticks) == 1 and ticks[0] >= at
    again = await Exchange.open(url)
    assert again.state.state_hash() == state_hash and again.engine.instruments["CF"].session == "continuous"
    await again.close()


def test_a_timer_fires_from_a_journaled_clock_tick_and_replays(database_url: str) -> None:
    asyncio.run(clock_scenario(database_url))


async def out_of_range_scenario(url: str) -> None:
    """A number the journal cannot hold (past 64 bits) is refused before it is applied: the
    sequencer carries on, nothing is journaled for it, the other commands of its batch commit."""
    ex = await Exchange.open(url)
    await ex.submit(Entry(CF))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    results = await asyncio.gather(
        ex.submit(order("m1", "buy", 1, 10**20, "huge")),
        ex.submit(order("m1", "buy", 1, 1_500_000, "fine")),
    )
    assert results[0].rejection.code == "OUT_OF_RANGE" and results[0].view.status == "REJECTED"
    assert results[1].view.status == "NEW"
    entries = ex.entry_no
    await ex.close()
    again = await Exchange.open(url)
    assert again.entry_no == entries and again.state.first_answer("m1", "fine") is not None
    await again.close()


def test_a_number_past_64_bits_is_refused_and_the_sequencer_carries_on(database_url: str) -> None:
    asyncio.run(out_of_range_scenario(database_url))


async def next_day_scenario(url: str) -> None:
    """Client order ids are unique per member per trading day: after the end of day the same id
    names a new order, which commits (and a restart replays both)."""
    ex = await Exchange.open(url)
    await ex.submit(Entry(CF))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    first = await ex.submit(order("m1", "buy", 1, 1_500_000, "daily-1"))
    again = await ex.submit(order("m1", "buy", 1, 1_500_000, "daily-1"))
    assert again.duplicate and again.view.order_id == first.view.order_id
    await ex.submit(Entry(EndOfDay(actor="desk")))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    second = await ex.submit(order("m1", "buy", 1, 1_500_000, "daily-1"))
    assert not second.duplicate and second.view.order_id != first.view.order_id
    state_hash = ex.state.state_hash()
    await ex.close()
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE client_order_id = 'daily-1'") == 2
    await conn.close()
    restarted = await Exchange.open(url)
    assert restarted.state.state_hash() == state_hash
    await restarted.close()


def test_a_client_order_id_names_a_new_order_on_the_next_trading_day(database_url: str) -> None:
    asyncio.run(next_day_scenario(database_url))
