"""The hot standby: ``commex serve --standby`` keeps a second copy of the whole state warm.

It connects to the same database as the primary and follows the journal as it is committed
(the primary's batch rows NOTIFY ``commex_journal``, migration 040; a timed read by entry number
catches what a notification missed), applying each entry to its own ``ExchangeState`` exactly as
recovery does and checking the state hash at every checkpoint it passes. A standby whose journal
disagrees with a checkpoint stops following, will not take over, and says why (log, /healthz).

Meanwhile a second connection waits in ``pg_advisory_lock`` on the sequencer lock the primary
holds for its whole life. PostgreSQL releases that lock when the primary's session ends (the
process died, stopped, or lost its connection), so the standby's wait returns at once: it
applies the last entries under the lock (nothing else can commit now), and that connection
becomes its sequencer's connection — the lock and the writes stay on one session, as for a
primary. Until then every command is refused with ``Standby`` (HTTP 503 ``STANDBY``).
"""

import asyncio
import contextlib
import logging
import time

import asyncpg

from exchange.journal import decode_entry
from gateway.pg import migrate
from gateway.projector import read_watermark
from gateway.sequencer import (
    JOURNALED,
    LOST,
    SEQUENCER_LOCK,
    Exchange,
    RecoveryError,
    projection,
    read_tail,
    results_reports,
)
from gateway.snapshots import load as load_snapshot
from gateway.store import Store

log = logging.getLogger("commex.standby")
CHANNEL = "commex_journal"  # notified by the batches trigger (migration 040)
POLL_SECONDS = 0.5  # read the journal at least this often, notified or not
CHUNK = 5_000  # journal entries per read
GRACE_SECONDS = 2.0  # after the database went away, the primary gets this long to reconnect and keep its lock


class Follower:
    """Follows the committed journal into ``exchange`` until it can take the sequencer lock."""

    def __init__(self, exchange: Exchange, url: str) -> None:
        self.exchange, self.url = exchange, url
        self.read: asyncpg.Connection | None = None
        self.lock: asyncpg.Connection | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.checked = 0  # checkpoints verified while following
        self.stopped = False  # set by stop(): never follow (or reconnect) again

    async def start(self) -> None:
        """Connect, catch up with the journal as it is now, then follow it in the background."""
        self.read = await asyncpg.connect(self.url)
        await self.read.add_listener(CHANNEL, lambda *_: self.wake.set())
        try:
            await self.from_snapshot(self.read)
            await self.catch_up(self.read, initial=True)
        except RecoveryError as e:
            await self.refuse(str(e))
            return
        if not self.stopped:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="standby")

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self._close()

    async def _close(self) -> None:
        for conn in (self.read, self.lock):
            if conn is not None and not conn.is_closed():
                conn.terminate()  # never wait on a connection that may be stuck in a lock wait
        self.read = self.lock = None

    async def _run(self) -> None:
        try:
            self.lock = await asyncpg.connect(self.url)
            locked = asyncio.ensure_future(self.lock.execute("SELECT pg_advisory_lock($1)", SEQUENCER_LOCK))
            locked.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if abandoned
            while not locked.done():
                woken = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait({locked, woken}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                self.wake.clear()
                await self.catch_up(self.read)
            locked.result()
            if not self.stopped:
                await self.promote()
        except RecoveryError as e:
            await self.refuse(str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a lost connection: the state is still good; start following again
            if self.stopped:
                return
            log.exception("standby lost its database connection; reconnecting")
            await self._close()
            await asyncio.sleep(POLL_SECONDS)
            self.task = asyncio.get_running_loop().create_task(self._restart(e), name="standby")

    async def _restart(self, cause: Exception) -> None:
        while not self.stopped:
            try:
                self.read = await asyncpg.connect(self.url, timeout=5)
                await self.read.add_listener(CHANNEL, lambda *_: self.wake.set())
                break
            except (*LOST, asyncpg.PostgresError):
                await asyncio.sleep(POLL_SECONDS)
        if self.stopped:
            return
        log.warning("standby reconnected after %r; following again in %.0f s", cause, GRACE_SECONDS)
        await asyncio.sleep(GRACE_SECONDS)
        await self._run()

    async def from_snapshot(self, conn: asyncpg.Connection) -> None:
        """Start from the latest snapshot that verifies, if there is one, at or before the
        projection watermark (as recovery does: the projections of the entries after it are
        the primary's to write, and this standby's on takeover)."""
        try:
            found = await load_snapshot(conn, await read_watermark(conn))
        except asyncpg.UndefinedTableError:  # a fresh database the primary has not migrated yet
            return
        if found is not None:
            ex = self.exchange
            ex.state, ex.entry_no, _ = found
            ex.snapshot_entry = ex.snapshots.last_entry = ex.entry_no
            ex.last_ts = max(ex.last_ts, await conn.fetchval("SELECT ts_ns FROM journal WHERE entry_no = $1",
                                                             ex.entry_no) or 0)
            log.info("standby starts from the snapshot at entry %d", ex.entry_no)

    async def catch_up(self, conn: asyncpg.Connection, initial: bool = False) -> int:
        """Apply the journal entries committed since the last one applied; return how many.
        Each checkpoint passed is verified (on the first catch-up, only the latest one per read:
        as recovery does). Raises ``RecoveryError`` when the state disagrees with one."""
        ex, applied = self.exchange, 0
        while True:
            try:
                rows = await conn.fetch("SELECT entry_no, batch_no, ts_ns, entry FROM journal WHERE entry_no > $1 "
                                        "ORDER BY entry_no LIMIT $2", ex.entry_no, CHUNK)
            except asyncpg.UndefinedTableError:  # a fresh database the primary has not migrated yet
                return applied
            if not rows:
                return applied
            last = rows[-1]["entry_no"]
            checks = dict(await conn.fetch("SELECT last_entry, state_hash FROM batches WHERE state_hash IS NOT NULL "
                                           "AND last_entry > $1 AND last_entry <= $2", ex.entry_no, last))
            if initial and checks:
                latest = max(checks)
                checks = {latest: checks[latest]}
            self._apply(rows, checks)
            await self._trim(conn)
            applied += len(rows)

    async def _trim(self, conn: asyncpg.Connection) -> None:
        """Keep only the projections the primary has not written yet (to write them on takeover)."""
        with contextlib.suppress(asyncpg.UndefinedTableError):  # not migrated yet
            self.exchange.projector.trim(await read_watermark(conn))

    def _apply(self, rows: list, checks: dict[int, str]) -> None:
        ex = self.exchange
        state, entries, results = ex.state, [], []
        first, since = ex.entry_no + 1, 0  # the sequencer batch being followed: its first entry and result
        for i, row in enumerate(rows):
            entry_no, entry = row["entry_no"], decode_entry(row["entry"])
            if entry_no != ex.entry_no + 1:
                raise RecoveryError(f"the journal skips from entry {ex.entry_no} to {entry_no}")
            results.append(state.apply(entry, entry_no, row["ts_ns"]))
            ex.last_ts = max(ex.last_ts, row["ts_ns"])  # after a takeover its clock never runs behind the journal
            entries.append(entry)
            ex.entry_no = entry_no
            recorded = checks.get(entry_no)
            if recorded is not None:
                if state.state_hash() != recorded:
                    raise RecoveryError(f"journal replays to {state.state_hash()} at entry {entry_no}, "
                                        f"the checkpoint recorded {recorded}")
                self.checked += 1
            if i + 1 == len(rows) or rows[i + 1]["batch_no"] != row["batch_no"]:
                # The projections are the primary's to write; kept, one per sequencer batch (the
                # primary's watermark is always at a batch's end), until its watermark passes them.
                ex.projector.add(projection(state, first, entry_no, results_reports(results[since:]), row["ts_ns"]))
                first, since = entry_no + 1, len(results)
        for hook in ex.on_commit:  # the market-data feed keeps serving from the standby
            hook(entries, results)
        state.discard_outputs()  # the primary delivers the notices

    async def promote(self) -> None:
        """Holding the lock: apply the last entries, then become the primary on this connection."""
        started = time.perf_counter()
        ex, conn = self.exchange, self.lock
        await migrate(conn)
        await self.catch_up(conn)
        ex.batch_no = await conn.fetchval("SELECT coalesce(max(batch_no), 0) FROM batches")
        ex.conn, ex.store, ex.url = conn, Store(conn, JOURNALED), self.url
        await ex.catch_up_projections()  # what the old primary's projector had not written
        ex.snapshots.url = self.url
        ex.tail = await read_tail(conn)
        self.lock = None
        if self.read is not None:
            self.read.terminate()
            self.read = None
        ex.follower, ex.role = None, "primary"
        ex.start()
        for hook in ex.on_promote:
            try:
                await hook()
            except Exception:  # logged; the sequencer runs on (keys created since the start may be unknown)
                log.exception("an on-promote hook failed")
        log.warning("standby took over as primary at entry %d (%.0f ms after the lock was free)", ex.entry_no,
                    1e3 * (time.perf_counter() - started))

    async def refuse(self, why: str) -> None:
        """Stop following and never take over: the journal disagrees with its checkpoint."""
        ex = self.exchange
        ex.role, ex.refusal = "refused", f"standby refuses to take over: {why}"
        log.critical("%s", ex.refusal)
        await self._close()


async def open_standby(url: str, **kw) -> Exchange:
    """An ``Exchange`` in standby: following the journal, refusing commands until it takes over."""
    exchange = Exchange(None, **kw)  # its connection comes with the lock, on takeover
    exchange.role = "standby"
    exchange.follower = Follower(exchange, url)
    await exchange.follower.start()
    return exchange
