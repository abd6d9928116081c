"""Snapshots (gateway/snapshots.py): written by a forked child while the sequencer goes on
acknowledging; a restart starts from the latest one that verifies and replays the journal's
tail to the same state as a whole replay; a damaged one is skipped with a log line."""

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import msgspec
import pytest

from engine import AddInstrument, NewOrder, SetSession
from exchange.journal import Entry, decode_entry
from exchange.state import ExchangeState
from gateway.demo import CF_NEAR
from gateway.process import ServerProcess
from gateway.sequencer import Exchange, rebuild
from gateway.snapshots import decode_state, encode_state, snapshot_format
from gateway.standby import open_standby
from tests.data.golden_journal import Golden

CF = AddInstrument(symbol="CF", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400)
ROOT = Path(__file__).parents[2]


def order(i: int) -> Entry:
    side = "buy" if i % 2 else "sell"
    return Entry(NewOrder(member=f"m{i % 3}", symbol="CF", side=side, quantity=1 + i % 4,
                          price=1_500_000 + 500 * (i % 5 - 2)), f"c{i}")


async def trade(ex: Exchange, first: int, n: int) -> None:
    results = await asyncio.gather(*(ex.submit(order(i)) for i in range(first, first + n)))
    assert all(r.view is not None for r in results)


async def snapshot_now(ex: Exchange) -> int:
    """Take a snapshot at the current batch boundary and wait for it to be written."""
    ex.snapshots.take(ex.state, ex.entry_no, ex.batch_no)
    await ex.snapshots.wait()
    return ex.entry_no


async def full_replay(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        state, _, _, _, snapshot = await rebuild(conn, from_snapshot=False)
        assert snapshot == 0
        return state.state_hash()
    finally:
        await conn.close()


async def build(url: str, snapshots: int) -> tuple[list[int], str]:
    """A journal with ``snapshots`` snapshots (each after 60 more orders) and a tail after the
    last; return the snapshots' entries and the final state hash."""
    ex = await Exchange.open(url)
    await ex.submit(Entry(CF))
    await ex.submit(Entry(SetSession("CF", "continuous")))
    taken = []
    for k in range(snapshots):
        await trade(ex, 100 * k, 60)
        taken.append(await snapshot_now(ex))
    await trade(ex, 10_000, 40)  # the tail
    final = ex.state.state_hash()
    await ex.close()
    return taken, final


def test_a_state_round_trips_through_a_snapshot_at_every_golden_entry() -> None:
    golden = msgspec.msgpack.decode(next((ROOT / "tests" / "data").glob("golden-journal-v*.msgpack")).read_bytes(),
                                    type=Golden)
    state = ExchangeState()
    for entry_no, at_ns, data in golden.rows:
        state.apply(decode_entry(data), entry_no, at_ns)
        copy = decode_state(encode_state(state))
        assert copy.state_hash() == state.state_hash()
    copy.check()
    assert copy.state_hash() == golden.state_hash


def test_restart_loads_the_snapshot_and_replays_the_tail(database_url: str) -> None:
    async def scenario() -> None:
        (taken,), final = await build(database_url, 1)
        again = await Exchange.open(database_url)
        assert again.snapshot_entry == taken
        assert again.entry_no == taken + 40
        assert again.state.state_hash() == final == await full_replay(database_url)
        assert again.views.by_client[("m2", "c10001")].order_id  # the tail's views are there
        await again.submit(order(20_000))  # and it goes on from there
        await again.close()

    asyncio.run(scenario())


def test_a_damaged_snapshot_is_skipped(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        taken, final = await build(database_url, 3)
        conn = await asyncpg.connect(database_url)
        # the latest: bytes cut short; the one before: its hash altered
        await conn.execute("UPDATE snapshots SET bytes = substring(bytes FROM 1 FOR length(bytes) - 100) "
                           "WHERE entry_no = $1", taken[2])
        await conn.execute("UPDATE snapshots SET state_hash = 'h2:0' WHERE entry_no = $1", taken[1])
        with caplog.at_level(logging.WARNING, logger="commex.snapshots"):
            ex = await Exchange.open(database_url)
        assert ex.snapshot_entry == taken[0]  # the oldest still verifies
        assert ex.state.state_hash() == final
        await ex.close()
        messages = [r.getMessage() for r in caplog.records]
        assert any(f"snapshot at entry {taken[2]} skipped: it does not load" in m for m in messages), messages
        assert any(f"snapshot at entry {taken[1]} skipped: it loads to state hash" in m for m in messages), messages

        await conn.execute("UPDATE snapshots SET format = 'pickle5/0000000000000000' WHERE entry_no = $1", taken[0])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="commex.snapshots"):
            ex = await Exchange.open(database_url)
        assert ex.snapshot_entry == 0 and ex.state.state_hash() == final
        await ex.close()
        assert any(f"snapshot at entry {taken[0]} skipped: written by other code" in r.getMessage()
                   for r in caplog.records)

        await conn.execute("UPDATE snapshots SET format = $1 WHERE entry_no = $2", snapshot_format(), taken[0])
        await conn.execute("UPDATE snapshots SET bytes = overlay(bytes PLACING '\\x00ff00ff'::bytea FROM 200) "
                           "WHERE entry_no = $1", taken[0])
        await conn.close()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="commex.snapshots"):
            ex = await Exchange.open(database_url)
        assert ex.snapshot_entry == 0  # none verifies: the whole journal
        assert ex.state.state_hash() == final
        await ex.close()
        assert any(f"snapshot at entry {taken[0]} skipped" in r.getMessage() for r in caplog.records)

    asyncio.run(scenario())


def test_a_watermark_bound_picks_an_earlier_snapshot_and_keeps_later_outputs(database_url: str) -> None:
    """The projector's contract: recovery uses a snapshot at or before its watermark and keeps
    what the entries after it project."""
    async def scenario() -> None:
        taken, final = await build(database_url, 2)
        conn = await asyncpg.connect(database_url)
        state, _, _, _, snapshot = await rebuild(conn, keep_from=taken[1] - 1)
        await conn.close()
        assert snapshot == taken[0] and state.state_hash() == final
        orders, _ = state.views.drain_rows()
        assert orders, "the outputs of entries after the bound are kept for the caller"

    asyncio.run(scenario())


def test_commex_replay_from_snapshot(database_url: str, tmp_path: Path) -> None:
    (taken,), final = asyncio.run(build(database_url, 1))
    env = {**os.environ, "DATABASE_URL": database_url}
    runs = {}
    for flags in ([], ["--from-snapshot"]):
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "--data-dir", str(tmp_path), "replay", *flags],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
        runs[bool(flags)] = json.loads(out.stdout)
    assert runs[True]["snapshot_entry"] == taken and runs[False]["snapshot_entry"] == 0
    assert runs[True]["state_hash"] == runs[False]["state_hash"] == final
    assert runs[True]["match"] and runs[True]["checkpoint_state_hash"] == final


def test_the_sequencer_acknowledges_while_a_snapshot_is_written(database_url: str) -> None:
    async def scenario() -> None:
        ex = await Exchange.open(database_url)
        await ex.submit(Entry(CF))
        await ex.submit(Entry(SetSession("CF", "continuous")))
        await trade(ex, 0, 50)
        blocker = await asyncpg.connect(database_url)
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("LOCK TABLE snapshots IN ACCESS EXCLUSIVE MODE")  # the child's insert waits
        at = ex.entry_no
        ex.snapshots.take(ex.state, ex.entry_no, ex.batch_no)
        await trade(ex, 1_000, 100)  # acknowledged (committed) while the child is stuck
        assert ex.snapshots.pid is not None, "the snapshot child should still be waiting for the lock"
        await blocking.rollback()
        await ex.snapshots.wait()
        assert ex.snapshots.written == 1
        row = await blocker.fetchrow("SELECT entry_no, batch_no FROM snapshots")
        assert row["entry_no"] == at
        await blocker.close()
        await ex.close()
        again = await Exchange.open(database_url)
        assert again.snapshot_entry == at and again.entry_no == at + 100
        await again.close()

    asyncio.run(scenario())


def test_a_snapshot_is_taken_every_n_entries(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMEX_SNAPSHOT_ENTRIES", "50")

    async def scenario() -> None:
        ex = await Exchange.open(database_url)
        await ex.submit(Entry(CF))
        await ex.submit(Entry(SetSession("CF", "continuous")))
        for k in range(4):
            for i in range(30):
                await ex.submit(order(100 * k + i))
            await ex.snapshots.wait()
        await ex.close()
        conn = await asyncpg.connect(database_url)
        entries = [r["entry_no"] for r in await conn.fetch("SELECT entry_no FROM snapshots ORDER BY entry_no")]
        await conn.close()
        assert len(entries) >= 2 and all(b - a >= 50 for a, b in zip(entries, entries[1:], strict=False))

    asyncio.run(scenario())


def test_a_standby_starts_from_the_snapshot_and_takes_over(database_url: str) -> None:
    async def scenario() -> None:
        (taken,), final = await build(database_url, 1)
        primary = await Exchange.open(database_url)
        standby = await open_standby(database_url)
        assert standby.snapshot_entry == taken
        await primary.submit(order(30_000))
        await primary.close()  # the lock is free: the standby takes over
        for _ in range(200):
            if standby.role == "primary":
                break
            await asyncio.sleep(0.05)
        assert standby.role == "primary" and standby.entry_no == taken + 41
        await standby.submit(order(30_001))
        expected = standby.state.state_hash()
        await standby.close()
        assert await full_replay(database_url) == expected != final

    asyncio.run(scenario())


def test_the_real_server_takes_snapshots_and_restarts_from_one(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "var", database_url, env={"COMMEX_SNAPSHOT_ENTRIES": "5"})
    server.cli("demo")
    journaled = asyncio.run(fetchval(database_url, "SELECT max(entry_no) FROM journal"))
    server.start()
    try:
        trader = server.client("huafang-textile")
        for i in range(12):
            assert trader.place(CF_NEAR, "buy", 1, "14950", f"snap-{i}")[0] == 201
    finally:
        assert server.stop(signal.SIGTERM) == 0
    log = server.log.read_text()
    assert "failed (child exit" not in log and "skipped" not in log and "Traceback" not in log, log[-2000:]
    latest = asyncio.run(fetchval(database_url, "SELECT max(entry_no) FROM snapshots"))
    assert latest > journaled  # taken by the server, not only by the demo's seeding
    assert f"snapshot at entry {latest} written" in log  # the operator sees it (found by a review)
    report = json.loads(server.cli("replay", "--from-snapshot"))
    assert report["match"] and report["snapshot_entry"] == latest
    assert report["checkpoint_verified"] == (report["checkpoint_state_hash"] is not None)
    started = server.log.stat().st_size
    server.start()  # and starts from it (the in-process tests check which snapshot a start uses)
    try:
        assert server.client("huafang-textile").place(CF_NEAR, "buy", 1, "14950", "snap-after")[0] == 201
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert f"from the snapshot at entry {latest} in" in server.log.read_text()[started:]


async def fetchval(url: str, sql: str):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()
