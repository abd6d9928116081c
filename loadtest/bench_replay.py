"""Recovery speed: how fast a journal replays (DESIGN §8: ≥ 200,000 commands/s, equal hash),
and how long a start-up takes with a snapshot and without one.

``python -m loadtest.bench_replay [N]`` records a journal of the exchange-core order mix (the
engine benchmark's stream, as encoded journal entries), then replays it from bytes twice:
into a bare engine, and into the whole exchange state (engine, receipts, clearing, order
views, market information) through the restart's own loop (``gateway.replay.Replay``: the
outputs of entries already stored are not collected, the collector is off). Prints one JSON
line with both rates and whether each replay reproduced the recorded state hash.

``python -m loadtest.bench_replay --startup [N]`` (default 1,000,000) writes such a journal
straight into an embedded PostgreSQL (COPY: journal rows, batch rows of 512 entries, the
last with the state hash as a checkpoint) and a snapshot at 90 % of it (the worst case of the
default policy's tail is 100,000 entries), then times the real ``Exchange.recover`` with the
snapshot and without one (one JSON line: seconds, state hashes equal, and what a snapshot of
the whole state costs the sequencer: the ``fork()`` stall, and the child's time to write it).
"""

import asyncio
import json
import sys
import time

import asyncpg

from exchange.journal import Entry, decode_entry, encode_entry
from exchange.state import ExchangeState
from gateway.pg import migrate, scratch_database
from gateway.replay import Replay
from gateway.sequencer import Exchange
from gateway.snapshots import Policy, encode_state, load, store
from loadtest.bench_engine import SETUP, exchange_core_mix

BATCH = 512  # entries per journaled batch


def record(n: int) -> tuple[list[bytes], str, str]:
    """Journal entries (encoded) for ``n`` commands, and the engine and full state hashes."""
    stream = exchange_core_mix(n)
    state = ExchangeState()
    entries = []
    for i, command in enumerate([*SETUP, *stream.prefill, *stream.commands], 1):
        entry = Entry(command, f"c{i}" if type(command).__name__ == "NewOrder" else "")
        state.apply(entry, i, i)
        entries.append(encode_entry(entry))
    return entries, state.engine.state_hash(), state.state_hash()


def replay_rates(n: int) -> dict:
    entries, engine_hash, full_hash = record(n)

    start = time.perf_counter()
    engine = ExchangeState().engine
    for raw in entries:
        engine.apply(decode_entry(raw).command)
    engine_seconds = time.perf_counter() - start

    start = time.perf_counter()
    state = ExchangeState()
    replay = Replay(state, drop_until=len(entries))  # the restart's loop: its outputs were stored before
    replay.rows((i, i, raw) for i, raw in enumerate(entries, 1))
    replay.finish()
    state_seconds = time.perf_counter() - start

    return {
        "commands": len(entries),
        "engine_replay_per_s": round(len(entries) / engine_seconds),
        "state_replay_per_s": round(len(entries) / state_seconds),
        "ratio": round(engine_seconds / state_seconds, 3),
        "engine_hash_equal": engine.state_hash() == engine_hash,
        "state_hash_equal": state.state_hash() == full_hash,
    }


async def write_journal(url: str, conn: asyncpg.Connection, entries: list[bytes], snapshot_at: int) -> tuple[str, dict]:
    """COPY the journal (and its batches) in; store a snapshot of the state at ``snapshot_at``.
    Return the final state hash and what the snapshot took."""
    state, snap = ExchangeState(), {}
    for i, raw in enumerate(entries, 1):
        state.apply(decode_entry(raw), i, i)
        if i == snapshot_at:
            state.discard_outputs()
            started = time.perf_counter()
            data = encode_state(state)
            snap = {"snapshot_entry": i, "snapshot_bytes": len(data),
                    "snapshot_encode_s": round(time.perf_counter() - started, 3)}
            await store(url, i, -(-i // BATCH), state.state_hash(), data)
    final = state.state_hash()
    await conn.copy_records_to_table("journal", columns=["entry_no", "batch_no", "ts_ns", "entry"], records=(
        (i, -(-i // BATCH), i, raw) for i, raw in enumerate(entries, 1)))
    last = len(entries)
    batches = ((b, min(b * BATCH, last), 0, final if b * BATCH >= last else None)
               for b in range(1, -(-last // BATCH) + 1))  # the last one is the checkpoint
    await conn.copy_records_to_table("batches", columns=["batch_no", "last_entry", "engine_seq", "state_hash"],
                                     records=batches)
    await conn.execute("UPDATE projection_watermark SET entry_no = $1", last)  # as if projected (not timed here)
    return final, snap


async def timed_recover(url: str, from_snapshot: bool) -> tuple[float, Exchange]:
    conn = await asyncpg.connect(url)
    exchange = Exchange(conn)
    started = time.perf_counter()
    await exchange.recover(from_snapshot=from_snapshot)
    return time.perf_counter() - started, exchange


async def startup(n: int) -> dict:
    entries, _, _ = record(n)
    with scratch_database("commex-replay-") as (_, url):
        conn = await asyncpg.connect(url)
        await migrate(conn)
        at = len(entries) * 9 // 10 // BATCH * BATCH  # at a batch boundary, as the sequencer takes them
        final, snap = await write_journal(url, conn, entries, at)
        await conn.close()
        cold, full = await timed_recover(url, from_snapshot=False)
        warm, fast = await timed_recover(url, from_snapshot=True)
        conn = await asyncpg.connect(url)
        loading = time.perf_counter()
        assert await load(conn) is not None
        loading = time.perf_counter() - loading  # of the start-up with a snapshot: read, unpickle, verify
        await conn.close()
        full_hash, fast_hash = full.state.state_hash(), fast.state.state_hash()
        # what a snapshot of this state costs the sequencer: fork() on the event loop, the rest in a child
        fast.snapshots.url, fast.snapshots.policy = url, Policy()
        written = time.perf_counter()
        fast.snapshots.take(fast.state, fast.entry_no, fast.batch_no)
        await fast.snapshots.wait()
        written = time.perf_counter() - written
        for ex in (full, fast):
            await ex.conn.close()
    return {
        "commands": len(entries),
        "startup_without_snapshot_s": round(cold, 2),
        "startup_with_snapshot_s": round(warm, 2),
        "snapshot_load_s": round(loading, 2),
        "tail_replayed": len(entries) - fast.snapshot_entry if fast.snapshot_entry else None,
        **snap,
        "snapshot_fork_stall_ms": round(1e3 * fast.snapshots.fork_seconds[-1], 1),
        "snapshot_child_write_s": round(written, 2),
        "snapshot_written": fast.snapshots.written == 1,
        "state_hash_equal": full_hash == fast_hash == final,
    }


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--startup"]:
        report = asyncio.run(startup(int(args[1]) if len(args) > 1 else 1_000_000))
    else:
        report = replay_rates(int(args[0]) if args else 200_000)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
