"""The exchange core without HTTP: engine + order views + the sequencer + PostgreSQL.

One asyncio task (the sequencer) owns the engine. It takes every queued command at once as a
batch, applies them in memory, then writes the batch — journal rows, order and trade rows,
the state hash — in ONE transaction, and only after the commit resolves the callers' futures
(acknowledged means durable). Commands queued while a commit is in flight form the next
batch, so batches grow with load: that is the group commit.

If a commit fails, memory is ahead of the record; the process exits and a restart rebuilds
memory from the journal, where the failed batch is absent and its callers were never acked.
"""

import asyncio
import logging
import os
import time
from collections.abc import Callable

import asyncpg

from engine import Engine, Event
from gateway.journal import Entry, decode_entry, encode_entry
from gateway.metrics import Metrics
from gateway.orders import OrderView, OrderViews
from gateway.pg import migrate

log = logging.getLogger("commex.exchange")
SEQUENCER_LOCK = 0x636F6D6D6578  # advisory lock: one sequencer per database

JOURNAL_COLUMNS = ("entry_no", "batch_no", "ts_ns", "entry")
TRADE_COLUMNS = ("trade_id", "symbol", "price", "quantity", "buy_order_id", "sell_order_id", "buyer", "seller",
                 "aggressor", "entry_no")
UPSERT_ORDERS = """
INSERT INTO orders (order_id, member, client_order_id, symbol, side, order_type, time_in_force, price, quantity,
                    cum_qty, leaves_qty, status, updated_entry)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (order_id) DO UPDATE SET price = EXCLUDED.price, quantity = EXCLUDED.quantity,
    cum_qty = EXCLUDED.cum_qty, leaves_qty = EXCLUDED.leaves_qty, status = EXCLUDED.status,
    updated_entry = EXCLUDED.updated_entry
"""


class Result:
    """What one command did: its events and the order view it created (new orders).
    ``duplicate`` marks a retried client_order_id: nothing was applied or journaled."""

    __slots__ = ("events", "view", "duplicate")

    def __init__(self, events: list[Event], view: OrderView | None, duplicate: bool = False) -> None:
        self.events = events
        self.view = view
        self.duplicate = duplicate


class RecoveryError(RuntimeError):
    """The journal replayed to a state hash other than the one committed with it."""


class Exchange:
    """Engine, views and sequencer over one PostgreSQL database."""

    def __init__(self, conn: asyncpg.Connection, max_batch: int = 512, metrics: Metrics | None = None) -> None:
        self.conn = conn
        self.metrics = metrics or Metrics()
        self.engine = Engine()
        self.views = OrderViews()
        self.max_batch = max_batch
        self.entry_no = 0
        self.batch_no = 0
        self.batch_sizes: list[int] = []
        self.commit_seconds: list[float] = []
        self.on_commit: list[Callable[[list[Entry], list[Result]], None]] = []
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._accepting = False

    # ------------------------------------------------------------------ life cycle

    @classmethod
    async def open(cls, url: str, progress: Callable[[int, int], None] | None = None, **kw) -> "Exchange":
        """Connect, migrate, rebuild memory from the journal and start the sequencer."""
        conn = await asyncpg.connect(url)
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SEQUENCER_LOCK):
            await conn.close()
            raise AlreadyRunning("another sequencer holds this database (is `commex serve` running?)")
        await migrate(conn)
        exchange = cls(conn, **kw)
        await exchange.recover(progress)
        exchange.start()
        return exchange

    def start(self) -> None:
        self._accepting = True
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")

    async def close(self) -> None:
        """Stop taking commands, commit what is queued, stop the sequencer, disconnect."""
        self._accepting = False
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        await self.conn.close()

    async def recover(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Replay the whole journal into a fresh engine and views; check the state hash
        against the last committed batch; return it."""
        self.engine, self.views = Engine(), OrderViews()
        last = await self.conn.fetchrow("SELECT batch_no, last_entry, state_hash FROM batches "
                                        "ORDER BY batch_no DESC LIMIT 1")
        total = last["last_entry"] if last else 0
        done = 0
        async with self.conn.transaction():
            async for row in self.conn.cursor("SELECT entry_no, entry FROM journal ORDER BY entry_no", prefetch=5_000):
                entry = decode_entry(row["entry"])
                self.views.apply(entry, self.engine.apply(entry.command), row["entry_no"])
                done = row["entry_no"]
                if progress and done % 10_000 == 0:
                    progress(done, total)
        self.views.drain_rows()
        self.entry_no = done
        self.batch_no = last["batch_no"] if last else 0
        state_hash = self.engine.state_hash()
        if last and state_hash != last["state_hash"]:
            raise RecoveryError(
                f"journal replays to {state_hash}, batch {self.batch_no} committed {last['state_hash']}")
        if progress:
            progress(done, total)
        return state_hash

    # ------------------------------------------------------------------ commands

    async def submit(self, entry: Entry) -> Result:
        """Sequence one command; return once it is committed."""
        if not self._accepting:
            raise ShuttingDown()
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, future))
        return await future

    def queue_length(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        queue = self._queue
        while True:
            first = await queue.get()
            stop = first is None
            batch = [] if stop else [first]
            while len(batch) < self.max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stop = True
                    continue
                batch.append(item)
            if batch:
                await self._commit(batch)
            if stop and queue.empty():
                return

    async def _commit(self, batch: list[tuple[Entry, asyncio.Future]]) -> None:
        engine, views, metrics = self.engine, self.views, self.metrics
        by_client = views.by_client
        clock = time.perf_counter
        ts = time.time_ns()
        rows, results = [], []
        for entry, _ in batch:
            if entry.client_order_id:
                first = by_client.get((entry.command.member, entry.client_order_id))
                if first is not None:
                    results.append(Result([], first, duplicate=True))
                    continue
            self.entry_no += 1
            t0 = clock()
            events = engine.apply(entry.command)
            metrics.match_latency.observe(clock() - t0)
            results.append(Result(events, views.apply(entry, events, self.entry_no)))
            rows.append((self.entry_no, self.batch_no + 1, ts, encode_entry(entry)))
        if not rows:
            self._resolve(batch, results)
            return
        self.batch_no += 1
        order_rows, trade_rows = views.drain_rows()
        state_hash = engine.state_hash()
        started = time.perf_counter()
        try:
            async with self.conn.transaction():
                await self.conn.copy_records_to_table("journal", records=rows, columns=JOURNAL_COLUMNS)
                if order_rows:
                    await self.conn.executemany(UPSERT_ORDERS, order_rows)
                if trade_rows:
                    await self.conn.copy_records_to_table("trades", records=trade_rows, columns=TRADE_COLUMNS)
                await self.conn.execute(
                    "INSERT INTO batches (batch_no, last_entry, engine_seq, state_hash) VALUES ($1, $2, $3, $4)",
                    self.batch_no, self.entry_no, engine.seq, state_hash)
        except BaseException:
            log.exception("batch %d failed to commit; memory is ahead of the journal: exiting", self.batch_no)
            for _, future in batch:
                if not future.done():
                    future.set_exception(StatusUnknown())
            os._exit(70)
        elapsed = time.perf_counter() - started
        metrics.commit_seconds.observe(elapsed)
        metrics.batch_size.observe(len(rows))
        self.commit_seconds.append(elapsed)
        self.batch_sizes.append(len(rows))
        entries = [entry for entry, _ in batch]
        for hook in self.on_commit:
            hook(entries, results)
        self._resolve(batch, results)

    @staticmethod
    def _resolve(batch: list[tuple[Entry, asyncio.Future]], results: list[Result]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class AlreadyRunning(RuntimeError):
    """Another process is the sequencer of this database."""


class ShuttingDown(RuntimeError):
    """The exchange is draining and takes no new commands."""


class StatusUnknown(RuntimeError):
    """The command's batch did not commit; query by client_order_id after restart."""
