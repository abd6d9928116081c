"""The sequencer: the pure state machine (``exchange.ExchangeState``) driven over PostgreSQL.

One asyncio task (the sequencer) owns the engine. It takes every queued command at once as a
batch, applies them in memory, then hands the batch's journal rows (and, on checkpoints, the
state hash) to the store (gateway/store.py), which writes them in ONE statement (one
transaction), and only after the commit resolves the callers' futures (acknowledged means
durable). Commands queued while a commit is in flight form the next batch, so batches grow
with load: that is the group commit. What the batch changed in the SQL projections (orders,
trades, transfers, accounts, receipts, reports) goes to the projector (gateway/projector.py),
which writes it behind the journal, off the acknowledgement path.

If a commit fails, memory is ahead of the record; the process exits and a restart rebuilds
memory from the journal, where the failed batch is absent and its callers were never acked.
Every so many entries, after a commit, a forked child writes a snapshot of the state
(gateway/snapshots.py); a restart starts from the latest that verifies and replays the rest.
"""

import asyncio
import gc
import logging
import os
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import msgspec

from clearing.core import ClearingRejected, SettlementReport
from engine import NewOrder
from exchange.clock import ClockTick
from exchange.journal import Entry, encode_entry
from exchange.state import ExchangeState, Result
from exchange.views import FILLS_KEPT, HORIZON_ENTRIES, refused_order
from gateway.metrics import Metrics
from gateway.pg import migrate
from gateway.projector import Projector, read_watermark
from gateway.replay import RecoveryError, Replay
from gateway.snapshots import GC_FREEZE, Snapshotter
from gateway.snapshots import load as load_snapshot
from gateway.store import (
    ACCOUNTS,
    BATCHES,
    JOURNAL,
    ORDERS,
    RECEIPT_EVENTS,
    RECEIPTS,
    REPORTS,
    TRADES,
    TRANSFERS,
    Batch,
    Store,
)
from warehouse_receipts.registry import HISTORY_KEPT, Receipt, ReceiptEvent, Registry

OLDER_HASH = re.compile(r"[0-9a-f]{48}")  # the state hash before HASH_FORMAT (engine + rest, hex)
log = logging.getLogger("commex.exchange")
SEQUENCER_LOCK = 0x636F6D6D6578  # advisory lock: one sequencer per database

RECONNECT_SECONDS = 30.0  # after losing the database mid-commit, look this long for its new primary
# At most this often a batch also records the state hash. Hashing is O(state) and stalls order
# entry while it runs (10 ms at 7,800 open orders); once a second, about 1 % of orders waited on it.
CHECKPOINT_SECONDS = float(os.environ.get("COMMEX_CHECKPOINT_SECONDS", "10"))
SNAPSHOT_CLOSE_SECONDS = 60.0  # on close, a snapshot being written gets this long to finish
JOURNALED = (JOURNAL, BATCHES)  # what a batch commits before its acknowledgement; the projector writes the rest
REPLAY_CHUNK = 5_000  # journal rows fetched and applied at a time on recovery
FREEZE_SECONDS = 1.0  # at most this often long-lived objects move to the GC's permanent generation


async def take_sequencer_lock(conn: asyncpg.Connection) -> bool:
    """Take the one-sequencer-per-database lock on ``conn`` (held until it closes), if free."""
    return await conn.fetchval("SELECT pg_try_advisory_lock($1)", SEQUENCER_LOCK)


class Exchange:
    """The exchange state, its sequencer and its journal over one PostgreSQL database."""

    def __init__(self, conn: asyncpg.Connection | None, max_batch: int = 512, metrics: Metrics | None = None) -> None:
        self.conn = conn
        self.store = Store(conn, JOURNALED)
        self.metrics = metrics or Metrics()
        self.projector = Projector(None, delay=self.metrics.projection_delay.observe)
        self.read_pool: asyncpg.Pool | None = None  # the app's pool: reads of the projections (order_history.py)
        self.order_horizon = int(os.environ.get("COMMEX_ORDER_HORIZON", HORIZON_ENTRIES))  # entries
        self.fills_kept = int(os.environ.get("COMMEX_FILLS_KEPT", FILLS_KEPT))  # each member's newest, in memory
        self.history_kept = int(os.environ.get("COMMEX_RECEIPT_HISTORY", HISTORY_KEPT))  # events per receipt
        self.state = self._fresh_state()
        self.max_batch = max_batch
        self.entry_no = 0
        self.batch_no = 0
        self.largest_batch = 0  # commands in the largest batch so far (the histograms keep the rest)
        self.on_commit: list[Callable[[list[Entry], list[Result]], None]] = []
        self.last_checkpoint = 0.0
        self.last_freeze = 0.0
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._accepting = False
        # high availability (gateway/standby.py): "primary", "standby" (following the journal) or
        # "refused" (its journal disagreed with a checkpoint: it will not take over, ``refusal`` says why)
        self.role = "primary"
        self.refusal: str | None = None
        self.on_promote: list[Callable[[], Awaitable[None]]] = []  # run when a standby takes over
        self.follower = None  # the standby's journal follower, while it follows
        self.url: str | None = None  # to reconnect after a PostgreSQL failover (may name several hosts)
        self.tail: tuple[int, bytes] | None = None  # the last committed journal entry: number and bytes
        self.simulated_clock = os.environ.get("COMMEX_SIMULATED_CLOCK") == "1"  # drills and tests
        self.clock_offset_ns = 0
        self.last_ts = 0
        self.snapshots = Snapshotter(None)  # given the database URL by ``open``
        self.snapshot_entry = 0  # the snapshot the last recovery started from (0: the whole journal)

    # ------------------------------------------------------------------ life cycle

    @classmethod
    async def open(cls, url: str, progress: Callable[[int, int], None] | None = None, **kw) -> "Exchange":
        """Connect, migrate, rebuild memory from the journal and start the sequencer."""
        conn = await asyncpg.connect(url)
        if not await take_sequencer_lock(conn):
            await conn.close()
            raise AlreadyRunning("another sequencer holds this database (is `commex serve` running?)")
        try:
            await migrate(conn)
            exchange = cls(conn, **kw)
            exchange.url = url
            exchange.snapshots.url = url
            await exchange.recover(progress)
            await exchange.catch_up_projections()
        except BaseException:
            await conn.close()  # also releases the sequencer lock
            raise
        exchange.start()
        return exchange

    async def catch_up_projections(self) -> None:
        """Write what recovery handed the projector (the entries after its watermark) before
        the first command, so the projections agree with the journal from the start."""
        if self.projector.pending:
            before = self.projector.watermark
            log.info("projections caught up from entry %d to %d", before, await self.projector.flush(self.conn))

    def start(self) -> None:
        self.projector.url = self.url
        self.projector.start()
        self._accepting = True
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sequencer")
        self.on_commit.append(self._snapshot_hook)

    def _snapshot_hook(self, entries: list[Entry], results: list[Result]) -> None:
        """At a batch boundary, after its commit: fork a snapshot writer if one is due."""
        self.snapshots.after_commit(self.state, self.entry_no, self.batch_no)

    async def close(self) -> None:
        """Stop taking commands, commit what is queued, stop the sequencer, disconnect."""
        self._accepting = False
        if self.follower is not None:
            await self.follower.stop()
            return
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        await self.projector.stop()
        await self.snapshots.wait(SNAPSHOT_CLOSE_SECONDS)
        if self.entry_no:
            await self.store.checkpoint(self.batch_no, self.state.state_hash())
        await self.conn.close()

    def _fresh_state(self) -> ExchangeState:
        state = ExchangeState(self.order_horizon)
        state.views.fills_kept = self.fills_kept
        state.registry.history_kept = self.history_kept
        return state

    @property
    def engine(self):
        return self.state.engine

    @property
    def views(self):
        return self.state.views

    @property
    def registry(self):
        return self.state.registry

    async def recover(self, progress: Callable[[int, int], None] | None = None, from_snapshot: bool = True) -> str:
        """Rebuild the state — from the latest snapshot that verifies at or before the projection
        watermark, and the journal after it, else from the whole journal — and return its hash.
        What the entries after the watermark project is handed to the projector."""
        self.batch_no = await self.conn.fetchval("SELECT coalesce(max(batch_no), 0) FROM batches")
        watermark = await read_watermark(self.conn)
        self.projector.trim(watermark)
        started = time.perf_counter()
        self.state, self.entry_no, _, reports, self.snapshot_entry = await rebuild(
            self.conn, progress, keep_from=watermark, from_snapshot=from_snapshot, fresh=self._fresh_state)
        log.info("recovered to entry %d from %s in %.1f s", self.entry_no,
                 f"the snapshot at entry {self.snapshot_entry}" if self.snapshot_entry else "the whole journal",
                 time.perf_counter() - started)
        self.snapshots.last_entry = self.snapshot_entry  # the next snapshot is due N entries after it
        self.tail = await read_tail(self.conn)
        if self.entry_no > watermark:
            self.projector.add(projection(self.state, watermark + 1, self.entry_no, reports))
        self.state.discard_outputs()  # replayed notices were delivered before the restart
        return self.state.state_hash()

    async def projected(self) -> bool:
        """Whether the SQL projections reach every command journaled so far — whoever sent it,
        so a read sees its own writes and everything it could have seen in memory — waiting for
        the projector a bounded time. A standby does not project: it reads as it is."""
        if self.role != "primary":
            return True
        return await self.projector.wait_for(self.entry_no)

    # ------------------------------------------------------------------ commands

    async def submit(self, entry: Entry) -> Result:
        """Sequence one command; return once it is committed."""
        return await self.enqueue(entry)

    def enqueue(self, entry: Entry) -> asyncio.Future:
        """Queue one command (Standby or ShuttingDown if this process takes none): the future
        is done, with its Result, once the command is committed."""
        if not self._accepting:
            raise Standby(self.refusal) if self.role != "primary" else ShuttingDown()
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, future, time.perf_counter()))  # enqueue time: settlement lag
        return future

    def queue_length(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception:
            # A command that fails half-way leaves memory unlike any journal prefix: the only
            # honest recovery is a restart, which rebuilds memory from what was committed.
            log.exception("sequencer failed; exiting so a restart replays the journal")
            traceback.print_exc()  # also when no logging is configured
            logging.shutdown()
            os._exit(70)

    async def _loop(self) -> None:
        queue = self._queue
        while True:
            first = await self._next(queue)
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

    async def _next(self, queue: asyncio.Queue):
        """The next queued command, or a clock tick when a timer falls due before one comes."""
        due = self.state.next_deadline()
        if due is None or not queue.empty():  # no timer to wait for, or no wait at all
            return await queue.get()
        try:
            return await asyncio.wait_for(queue.get(), max(0.0, (due - self.now_ns()) / 1e9))
        except TimeoutError:
            return self._tick()

    def now_ns(self) -> int:
        """The sequencer's clock: wall time (plus a drill's offset), never behind the last batch."""
        self.last_ts = max(self.last_ts, time.time_ns() + self.clock_offset_ns)
        return self.last_ts

    def wake(self) -> None:
        """Re-check timers now (after a simulated clock moved): queue a clock tick."""
        if self.state.next_deadline() is not None and self._accepting:
            self._queue.put_nowait(self._tick())

    @staticmethod
    def _tick() -> tuple[Entry, asyncio.Future, float]:
        return Entry(ClockTick()), asyncio.get_running_loop().create_future(), time.perf_counter()

    async def _commit(self, queued: list[tuple[Entry, asyncio.Future, float]]) -> None:
        ts = self.now_ns()
        due = self.state.next_deadline()
        if due is not None and due <= ts and type(queued[0][0].command) is not ClockTick:
            queued = [self._tick(), *queued]  # the clock first: timers fire before the batch's commands
        journal, results = self._apply(queued, ts)
        if not journal:
            self._resolve(queued, results)
            return
        self.batch_no += 1
        batch = Batch(batch_no=self.batch_no, ts_ns=ts, first_entry=journal[0][0], last_entry=self.entry_no,
                      engine_seq=self.state.engine.seq)
        batch.add(JOURNAL, journal)
        started = time.perf_counter()
        if started - self.last_checkpoint >= CHECKPOINT_SECONDS:
            batch.state_hash = self.state.state_hash()
            self.last_checkpoint = started
        try:
            await self.store.commit(batch)
        except BaseException as e:
            if lost_connection(e) and await self._recommit(batch):
                self._committed(queued, results, batch, started, ts)
                return
            log.exception("batch %d failed to commit; memory is ahead of the journal: exiting", self.batch_no)
            traceback.print_exc()
            for _, future, _ in queued:
                if not future.done():
                    future.set_exception(StatusUnknown())
            os._exit(70)
        self._committed(queued, results, batch, started, ts)

    async def _recommit(self, batch: Batch) -> bool:
        """The database went away mid-commit (a PostgreSQL failover): connect to whichever server
        now takes writes (``url`` may name several hosts with target_session_attrs=read-write),
        take the sequencer lock, check that its journal continues what was acknowledged (the last
        acknowledged entry's number and bytes), and write the batch unless it is there already.
        False (and a loud log) when that cannot be done: the caller exits."""
        rows = batch.rows_of(JOURNAL)
        first, last = rows[0][0], rows[-1][0]
        log.warning("lost the database while committing entries %d-%d; reconnecting to %s", first, last,
                    redact(self.url or ""))
        conn = await connect_within(self.url, RECONNECT_SECONDS) if self.url else None
        if conn is None:
            log.critical("no writable PostgreSQL within %.0f s", RECONNECT_SECONDS)
            return False
        try:
            if not await take_sequencer_lock(conn):
                raise RecoveryError("another sequencer holds the lock on the new primary (the standby took over)")
            found = await conn.fetch("SELECT entry_no, entry FROM journal WHERE entry_no >= $1 ORDER BY entry_no",
                                     first - 1)
            continues(self.tail, first, rows, [(r["entry_no"], bytes(r["entry"])) for r in found])
            if not found or found[-1]["entry_no"] < last:
                await Store(conn, JOURNALED).commit(batch)
        except Exception as e:
            log.critical("stopping: %s", e)
            conn.terminate()
            return False
        old, self.conn, self.store.conn = self.conn, conn, conn
        old.terminate()
        log.warning("reconnected: the journal continues at entry %d; carrying on", last)
        return True

    def _apply(self, queued: list[tuple[Entry, asyncio.Future, float]], ts: int) -> tuple[list[tuple], list[Result]]:
        """Apply the queued commands (a repeated client order id gets its first answer);
        return the journal rows of those applied and every command's result."""
        state, metrics, clock = self.state, self.metrics, time.perf_counter
        journal, results = [], []
        for entry, _, _ in queued:
            if entry.client_order_id:
                first = state.first_answer(entry.command.member, entry.client_order_id)
                if first is not None:
                    results.append(Result([], first, duplicate=True))
                    continue
            try:
                data = encode_entry(entry)
            except (OverflowError, msgspec.EncodeError) as e:  # the journal cannot hold it: refused, not applied
                results.append(unjournalable(entry, str(e)))
                continue
            self.entry_no += 1
            t0 = clock()
            results.append(state.apply(entry, self.entry_no, ts))
            metrics.match_latency.observe(clock() - t0)
            journal.append((self.entry_no, self.batch_no + 1, ts, data))
        return journal, results

    def _committed(self, queued: list[tuple[Entry, asyncio.Future, float]], results: list[Result], batch: Batch,
                   started: float, ts: int) -> None:
        """After the commit: the projections to the projector, metrics, the on-commit hooks,
        then the answers (ack = durable)."""
        metrics = self.metrics
        done = time.perf_counter()
        metrics.commit_seconds.observe(done - started)
        projected = projection(self.state, batch.first_entry, self.entry_no, results_reports(results), ts)
        self.projector.add(projected)
        metrics.transfers.inc(len(projected.rows_of(TRANSFERS)))
        trades = len(projected.rows_of(TRADES))
        metrics.trades.inc(trades)
        if trades:
            metrics.settlement_lag.observe(done - min(enqueued for _, _, enqueued in queued))
        journal = batch.rows_of(JOURNAL)
        commands = len(journal)
        if journal:
            self.tail = (journal[-1][0], journal[-1][3])
        metrics.batch_size.observe(commands)
        self.largest_batch = max(self.largest_batch, commands)
        entries = [entry for entry, _, _ in queued]
        for hook in self.on_commit:
            hook(entries, results)
        self._resolve(queued, results)
        if GC_FREEZE and started - self.last_freeze >= FREEZE_SECONDS:
            # Books, accounts and the views within their horizon are long-lived; a full collection
            # over them stalls order entry for tens of ms. Freezing makes the collector skip them
            # from now on; garbage is still freed by reference counting, and young cycles by young
            # collections (COMMEX_GC_FREEZE=0 turns it off, to measure the difference).
            gc.freeze()
            self.last_freeze = started

    @staticmethod
    def _resolve(queued: list[tuple[Entry, asyncio.Future, float]], results: list[Result]) -> None:
        for (_, future, _), result in zip(queued, results, strict=True):
            if not future.done():
                future.set_result(result)


LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.AdminShutdownError,
        asyncpg.CannotConnectNowError, asyncpg.ReadOnlySQLTransactionError, TimeoutError,
        asyncpg.exceptions.TargetServerAttributeNotMatched,  # no server takes writes yet (mid-failover)
        asyncpg.exceptions.InternalClientError)  # seen when the server's backend is killed mid-query


def lost_connection(e: BaseException) -> bool:
    """Whether ``e`` says the database went away (or stopped taking writes), not that the batch is bad."""
    return isinstance(e, LOST)


def redact(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


async def connect_within(url: str, seconds: float) -> asyncpg.Connection | None:
    """A connection to ``url`` (retried every 0.2 s for ``seconds``), or None."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await asyncpg.connect(url, timeout=5)
        except (*LOST, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.2)


async def read_tail(conn: asyncpg.Connection) -> tuple[int, bytes] | None:
    """The last journal entry's number and bytes (None for an empty journal)."""
    row = await conn.fetchrow("SELECT entry_no, entry FROM journal ORDER BY entry_no DESC LIMIT 1")
    return None if row is None else (row["entry_no"], bytes(row["entry"]))


def continues(tail: tuple[int, bytes] | None, first: int, batch: Sequence[tuple],
              found: list[tuple[int, bytes]]) -> None:
    """Check the journal ``found`` from entry ``first - 1`` on: it must hold the last acknowledged
    entry (``tail``) as acknowledged, then nothing, or exactly this unacknowledged ``batch``
    (committed before the old server died). Raise ``RecoveryError`` otherwise."""
    acked = tail[0] if tail else 0
    if acked != first - 1:
        raise RecoveryError(f"the batch starts at entry {first} but entry {acked} was the last acknowledged")
    have = dict(found)
    if acked and have.get(acked) != tail[1]:
        raise RecoveryError(f"the new primary's journal does not hold acknowledged entry {acked} as acknowledged "
                            f"(it ends at {max(have, default=0)}): acknowledged entries were lost")
    later = [(n, e) for n, e in found if n > acked]
    if later and later != [(row[0], bytes(row[3])) for row in batch]:
        raise RecoveryError(f"the new primary's journal has entries {later[0][0]}-{later[-1][0]} "
                            "that this sequencer did not write")


def unjournalable(entry: Entry, why: str) -> Result:
    """The answer to a command the journal cannot encode (a number past 64 bits): refused
    before it is applied, so nothing changes and nothing is journaled."""
    refusal = ClearingRejected("OUT_OF_RANGE", f"a number in the command is out of range: {why}")
    view = refused_order(entry, refusal.code) if type(entry.command) is NewOrder else None
    return Result([], view, refusal)


def projection(state: ExchangeState, first_entry: int, last_entry: int, reports: list[SettlementReport],
               ts: int = 0) -> Batch:
    """What entries ``first_entry`` to ``last_entry`` (those applied since the last call) changed
    in the SQL projections: order and trade rows, receipts and their events, transfers, accounts
    and the settlement ``reports`` the entries made."""
    batch = Batch(batch_no=0, ts_ns=ts, first_entry=first_entry, last_entry=last_entry)
    orders, trades = state.views.drain_rows()
    events = state.registry.drain_events()
    transfers, accounts = state.clearing.ledger.drain()
    batch.add(ORDERS, orders)
    batch.add(TRADES, trades)
    batch.add(RECEIPTS, RECEIPTS.rows(touched_receipts(state.registry, events)))
    batch.add(RECEIPT_EVENTS, RECEIPT_EVENTS.rows(events))
    batch.add(TRANSFERS, TRANSFERS.rows(transfers))
    batch.add(ACCOUNTS, ACCOUNTS.rows(accounts))
    batch.add(REPORTS, [(r.day, r.ts_ns, r) for r in reports])
    return batch


def results_reports(results: list[Result]) -> list[SettlementReport]:
    return [r.outcome for r in results if isinstance(r.outcome, SettlementReport)]


def touched_receipts(registry: Registry, events: list[ReceiptEvent]) -> list[Receipt]:
    """The receipts these events touched, once each, in first-touched order."""
    return [registry.receipts[receipt_id] for receipt_id in dict.fromkeys(e.receipt_id for e in events)]


async def rebuild(conn: asyncpg.Connection, progress: Callable[[int, int], None] | None = None,
                  keep_from: int | None = None, from_snapshot: bool = True,
                  fresh: Callable[[], ExchangeState] = ExchangeState,
                  ) -> tuple[ExchangeState, int, str | None, list[SettlementReport], int]:
    """The state after the whole journal: if ``from_snapshot``, from the latest snapshot that
    verifies at or before entry ``keep_from`` (the projection watermark: the entries after it
    must be replayed for what they project), else — or when none does, or the journal after it
    does not replay to the last checkpoint — from the start. Outputs as ``replay_journal``.
    Return (state, last entry, checkpoint hash verified, reports after ``keep_from``, the
    snapshot's entry or 0). ``fresh`` makes the empty state (the server's memory bounds)."""
    found = await load_snapshot(conn, keep_from) if from_snapshot else None
    if found is not None:
        state, start, _ = found
        try:
            done, checked, reports = await replay_journal(conn, state, progress, keep_from, after=start)
            return state, done, checked, reports, start
        except RecoveryError as e:
            log.warning("the journal after the snapshot at entry %d does not replay to its checkpoint (%s): "
                        "replaying the whole journal", start, e)
    state = fresh()
    done, checked, reports = await replay_journal(conn, state, progress, keep_from)
    return state, done, checked, reports, 0


async def replay_journal(
    conn: asyncpg.Connection,
    state: ExchangeState,
    progress: Callable[[int, int], None] | None = None,
    keep_from: int | None = None,
    after: int = 0,
) -> tuple[int, str | None, list[SettlementReport]]:
    """Apply every journal entry after entry ``after`` to ``state`` (the state as of ``after``,
    a snapshot's, its outputs discarded), checking the state hash at the last checkpoint if it
    comes after ``after``. What entries up to ``keep_from`` (all, without it) leave for the store
    is dropped as the replay passes them; the later entries' outputs are kept, and their
    settlement reports returned (for the projector).
    Return (the last entry applied, or ``after``; the checkpoint hash verified; those reports)."""
    total = await conn.fetchval("SELECT coalesce(max(last_entry), 0) FROM batches")
    checkpoint = await conn.fetchrow("SELECT last_entry, state_hash FROM batches WHERE state_hash IS NOT NULL "
                                     "ORDER BY batch_no DESC LIMIT 1")
    if checkpoint and checkpoint["last_entry"] <= after:
        checkpoint = None  # the snapshot at ``after`` was verified by its own hash
    check_at = checkpoint["last_entry"] if checkpoint else -1
    if checkpoint and OLDER_HASH.fullmatch(checkpoint["state_hash"]):
        # Written before the hash format was named: it cannot be compared, and this version
        # refuses some commands older ones accepted, so memory could differ from the record.
        if os.environ.get("COMMEX_REPLAY_UNCHECKED") != "1":
            raise RecoveryError("the journal was written by an older version whose state hash cannot be checked; "
                                "set COMMEX_REPLAY_UNCHECKED=1 to replay it unchecked, or start afresh")
        log.warning("replaying a journal of an older hash format unchecked (COMMEX_REPLAY_UNCHECKED=1)")
        check_at = -1
    replay = Replay(state, total if keep_from is None else keep_from, after, check_at,
                    checkpoint["state_hash"] if checkpoint else None,
                    (lambda done: progress(done, total)) if progress else None)
    async with conn.transaction():
        cursor = await conn.cursor("SELECT entry_no, ts_ns, entry FROM journal WHERE entry_no > $1 ORDER BY entry_no",
                                   after)
        while rows := await cursor.fetch(REPLAY_CHUNK):
            replay.rows(rows)
    done, reports = replay.finish()
    if progress:
        progress(done, total)
    return done, checkpoint["state_hash"] if checkpoint else None, reports


class AlreadyRunning(RuntimeError):
    """Another process is the sequencer of this database."""


class Standby(RuntimeError):
    """This process is the hot standby (or a refused one): it takes no commands."""


class ShuttingDown(RuntimeError):
    """The exchange is draining and takes no new commands."""


class StatusUnknown(RuntimeError):
    """The command's batch did not commit; query by client_order_id after restart."""
