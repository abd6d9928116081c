"""The projector: the SQL projections written behind the journal, off the acknowledgement path.

A batch is acknowledged once its journal rows are committed (gateway/sequencer.py); the rows
it projects — orders, trades, receipts and their events, transfers, accounts, settlement
reports — are handed here as a ``Batch`` and written by this task, on its own connection, many
batches per transaction (at most one every ``INTERVAL_SECONDS``, unless a read waits): one
statement inserts the appended rows (by COPY when there are many, as in a catch-up) and
upserts the latest row of each key, and the watermark (``projection_watermark``, migration
060), in the same transaction. The watermark is therefore exact: every entry up to it is projected, none after.

After a crash the batches handed here but not yet written are gone from memory; recovery
replays the journal and hands over again what the entries after the watermark produce
(``Exchange.recover``), so the projections catch up with the journal before the first
command. Reads that need SQL wait for the member's last acknowledged entry
(``wait_for``, read-your-writes) for at most ``READ_WAIT_SECONDS``.
"""

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence

import asyncpg

from gateway.store import (
    ACCOUNTS,
    ORDERS,
    RECEIPT_EVENTS,
    RECEIPTS,
    REPORTS,
    TRADES,
    TRANSFERS,
    Batch,
    Table,
    commit_statement,
)

log = logging.getLogger("commex.projector")
APPENDED = (TRADES, RECEIPT_EVENTS, TRANSFERS, REPORTS)  # rows only ever inserted: COPY
UPSERTED = (ORDERS, RECEIPTS, ACCOUNTS)  # rows keyed and overwritten: the latest row per key
PROJECTED = (*APPENDED, *UPSERTED)
WATERMARK = Table("projection_watermark", (("id", "integer"), ("entry_no", "bigint")), key=("id",),
                  update=("entry_no",))
COPY_ROWS = 5_000  # appended rows from which COPY beats one INSERT (it looks up the table's types per call)
MAX_ENTRIES = 50_000  # journal entries per projector transaction, at most
READ_WAIT_SECONDS = 2.0  # a read that needs SQL waits this long for the projector, then 503
STOP_SECONDS = 30.0  # at stop, what is pending gets this long to be written
RETRY_SECONDS = 0.5  # after a failed write (a lost database), try again this often
INTERVAL_SECONDS = 0.05  # at most one write this often (unless a read waits): fewer, larger transactions


def merge(batches: Sequence[Batch]) -> Batch:
    """Consecutive batches as one: appended rows concatenated in order, keyed rows the latest
    per key (a PostgreSQL upsert may touch a row only once per statement)."""
    merged = Batch(batch_no=batches[-1].batch_no, ts_ns=batches[-1].ts_ns, last_entry=batches[-1].last_entry)
    for table in APPENDED:
        merged.add(table, (row for b in batches for row in b.rows.get(table.name, ())))
    for table in UPSERTED:
        positions = [table.names.index(k) for k in table.key]
        latest = {tuple(row[p] for p in positions): row for b in batches for row in b.rows.get(table.name, ())}
        merged.add(table, latest.values())
    return merged


def statements() -> tuple[str, str]:
    """One statement writing every projected table and the watermark, and one writing the
    keyed tables and the watermark (after the appended ones went by COPY)."""
    return (commit_statement((*PROJECTED, WATERMARK), as_json=True),
            commit_statement((*UPSERTED, WATERMARK), as_json=True))


class Projector:
    """Writes handed-over batches' projections in order; ``watermark`` is the last entry written."""

    def __init__(self, url: str | None, watermark: int = 0, delay: Callable[[float], None] | None = None) -> None:
        self.url = url
        self.delay = delay  # observes, per write, seconds from its oldest batch's hand-over to its commit
        self.watermark = watermark
        self.pending: list[Batch] = []
        self.conn: asyncpg.Connection | None = None
        self.statements = statements()
        self.written = 0  # projector transactions committed
        self.seconds = 0.0  # time spent writing them
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a reader waits, or stop: write now
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._handed_at: dict[int, float] = {}  # a pending batch's last entry -> when it was handed over
        self._task: asyncio.Task | None = None
        self._stopping = False

    @property
    def handed(self) -> int:
        """The last entry handed over (projected or pending)."""
        return self.pending[-1].last_entry if self.pending else self.watermark

    def add(self, batch: Batch) -> None:
        """Queue a committed batch's projections (entries after everything queued before)."""
        if batch.last_entry <= self.handed:
            return  # already projected (a catch-up that overlaps what was written)
        self.pending.append(batch)
        self._handed_at[batch.last_entry] = time.perf_counter()
        self._wake.set()

    def lag(self) -> int:
        """Entries handed over and not yet written."""
        return self.handed - self.watermark

    def start(self, conn: asyncpg.Connection | None = None) -> None:
        """Write in the background (on ``conn``, else on a connection of its own)."""
        self.conn = conn
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="projector")

    async def stop(self) -> None:
        """Write everything pending, then stop and close the connection."""
        self._stopping = True
        self._wake.set()
        self._hurry.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STOP_SECONDS)
            except TimeoutError:  # the database is gone: what is pending is projected again on restart
                log.warning("projector: entries %d-%d not written at stop; recovery will project them",
                            self.watermark + 1, self.handed)
            self._task = None
        if self.conn is not None and not self.conn.is_closed():
            if self.pending:  # a write may be stuck on it
                self.conn.terminate()
            else:
                await self.conn.close()
        self.conn = None

    async def wait_for(self, entry_no: int, timeout: float = READ_WAIT_SECONDS) -> bool:
        """Whether the projections reach ``entry_no`` within ``timeout`` seconds."""
        if self.watermark >= entry_no:
            return True
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((entry_no, future))
        self._hurry.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)
        future.cancel()  # done, or given up: dropped from the waiters at the next write
        return self.watermark >= entry_no

    def _advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)
        self.pending = [b for b in self.pending if b.last_entry > self.watermark]
        self._handed_at = {n: t for n, t in self._handed_at.items() if n > self.watermark}
        waiting = []
        for entry_no, future in self._waiters:
            if entry_no <= self.watermark:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                waiting.append((entry_no, future))
        self._waiters = waiting

    async def flush(self, conn: asyncpg.Connection) -> int:
        """Write what is pending now, on ``conn`` (before the sequencer starts); the new watermark."""
        if self.pending:
            self._advance(await write(conn, self.pending, self.statements))
        return self.watermark

    def trim(self, watermark: int) -> None:
        """Forget what another process projected through ``watermark`` (a standby's buffer)."""
        self._advance(watermark)

    async def _run(self) -> None:
        last = 0.0
        while True:
            if not self.pending:
                if self._stopping:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            pause = last + INTERVAL_SECONDS - time.perf_counter()
            if pause > 0 and not self._waiters and not self._stopping:
                with contextlib.suppress(TimeoutError):  # more batches come meanwhile; a reader or stop cuts it short
                    await asyncio.wait_for(self._hurry.wait(), pause)
                self._hurry.clear()
            last = time.perf_counter()
            try:
                await self._write_pending()
            except asyncio.CancelledError:
                raise
            except ProjectionGap:
                log.critical("projector: the stored projections do not continue what is pending; exiting so a "
                             "restart projects again from the stored watermark", exc_info=True)
                logging.shutdown()
                os._exit(70)
            except Exception:
                log.exception("projector: writing entries %d-%d failed; retrying in %.1f s", self.watermark + 1,
                              self.handed, RETRY_SECONDS)
                await self._reconnect()

    async def _write_pending(self) -> None:
        take, entries = 0, 0
        while take < len(self.pending) and (not take or entries < MAX_ENTRIES):
            entries = self.pending[take].last_entry - self.watermark
            take += 1
        if self.conn is None:
            self.conn = await asyncpg.connect(self.url, timeout=5)
        started = time.perf_counter()
        oldest = self._handed_at.get(self.pending[0].last_entry, started)
        done = await write(self.conn, self.pending[:take], self.statements)
        finished = time.perf_counter()
        self.seconds += finished - started
        self.written += 1
        if self.delay is not None:
            self.delay(finished - oldest)
        self._advance(done)

    async def _reconnect(self) -> None:
        """After a failure: drop the connection and wait; the next write reconnects (and skips
        what a transaction whose reply was lost did commit: ``write`` reads the watermark)."""
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None
        await asyncio.sleep(RETRY_SECONDS)


class ProjectionGap(RuntimeError):
    """The rows to write do not continue the stored projections: written rows were lost (the
    database lost committed transactions), or a batch straddles the watermark. Only a restart,
    which projects again from the stored watermark, can mend it."""


async def write(conn: asyncpg.Connection, batches: Sequence[Batch], statements: tuple[str, str]) -> int:
    """One transaction: lock the watermark, then write the batches after it — the appended
    rows and the keyed ones and the watermark, in one statement, or by COPY when there are
    many (a catch-up) —; return the new watermark. Batches already projected (by a transaction
    whose reply was lost, or by another node) are skipped, so the keyed rows never go back to
    older values and no appended row is written twice."""
    async with conn.transaction():
        done = await conn.fetchval("SELECT entry_no FROM projection_watermark WHERE id = 1 FOR UPDATE")
        batches = [b for b in batches if b.last_entry > done]
        if not batches:
            return done
        if batches[0].first_entry not in (0, done + 1):
            raise ProjectionGap(f"the projections end at entry {done}, the rows to write start at entry "
                                f"{batches[0].first_entry}")
        batch = merge(batches)
        appended = sum(len(batch.rows_of(table)) for table in APPENDED)
        if appended >= COPY_ROWS:
            for table in APPENDED:
                rows = batch.rows_of(table)
                if rows:
                    await conn.copy_records_to_table(table.name, records=copy_rows(table, rows), columns=table.names)
            tables, statement = UPSERTED, statements[1]
        else:
            tables, statement = PROJECTED, statements[0]
        rows = [table.json(batch.rows_of(table)) for table in tables]
        await conn.execute(statement, *rows, WATERMARK.json([(1, batch.last_entry)]))
    return batch.last_entry


def copy_rows(table: Table, rows: Sequence[tuple]) -> list[tuple]:
    """Rows as COPY takes them: jsonb values as JSON text."""
    if not any(kind == "jsonb" for _, kind in table.columns):
        return list(rows)
    return list(zip(*table.arrays(rows), strict=True))


async def read_watermark(conn: asyncpg.Connection) -> int:
    """The last journal entry whose projections are committed."""
    return await conn.fetchval("SELECT entry_no FROM projection_watermark WHERE id = 1") or 0
