"""Snapshots of the whole exchange state in PostgreSQL, taken off the acknowledgement path.

Every ``COMMEX_SNAPSHOT_ENTRIES`` entries or ``COMMEX_SNAPSHOT_SECONDS`` seconds (whichever
first), right after a batch committed, the sequencer forks: the child holds a copy-on-write
image of the state at that batch boundary, encodes it, computes its state hash and writes the
row with its own connection, then exits; the parent only pays for ``fork()`` and goes on. One
child at a time; the last ``KEEP`` snapshots are kept.

The encoding is pickle (protocol 5), not msgspec: the state is a graph of plain classes and
Structs that msgspec cannot encode without rewriting every component (docs/PERFORMANCE.md,
"Snapshots"). We write it to our own database and verify it by state hash after loading; its
``format`` names the code it came from (a digest of the pure packages' sources), and a snapshot
of other code is never loaded: the journal is replayed instead.
"""

import asyncio
import contextlib
import functools
import gc
import hashlib
import logging
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import asyncpg

import clearing
import engine
import exchange
import warehouse_receipts
from exchange.state import ExchangeState

log = logging.getLogger("commex.snapshots")
CHILD_SECONDS = 1_800.0  # a snapshot child still running after this is stuck: it is killed
KEEP = 3  # snapshots kept; older ones are deleted by the child that writes a new one
PURE = (engine, warehouse_receipts, clearing, exchange)  # the packages whose objects a snapshot holds
# Freeze long-lived objects out of the collector's sight (the sequencer after batches, the
# server after start-up, a replay after each chunk); COMMEX_GC_FREEZE=0 turns it off, to measure
GC_FREEZE = os.environ.get("COMMEX_GC_FREEZE", "1") != "0"


@functools.cache
def snapshot_format() -> str:
    """``pickle5/`` + a digest of the pure packages' sources: a snapshot loads only into the code
    that wrote it (unpickling into changed classes could give a state the journal would not)."""
    digest = hashlib.blake2b(digest_size=8)
    for package in PURE:
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"pickle5/{digest.hexdigest()}"


def encode_state(state: ExchangeState) -> bytes:
    with collector_off():
        return pickle.dumps(state, protocol=5)


def decode_state(data: bytes) -> ExchangeState:
    with collector_off():  # millions of new objects would trigger collection after collection (3x slower)
        state = pickle.loads(data)
    if not isinstance(state, ExchangeState):
        raise TypeError(f"a snapshot holds a {type(state).__name__}, not an ExchangeState")
    return state


@contextlib.contextmanager
def collector_off(freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector off for a while (and back on after, if it was on). With
    ``freeze`` (and ``GC_FREEZE``), what was made meanwhile goes to the permanent generation
    first: long-lived objects that the next young collection would otherwise all traverse."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze and GC_FREEZE:
            gc.freeze()
        if was:
            gc.enable()


class Policy:
    """When to snapshot: every ``entries`` journal entries or ``seconds`` (0 turns either off)."""

    def __init__(self, entries: int = 100_000, seconds: float = 600.0) -> None:
        self.entries, self.seconds = entries, seconds

    @classmethod
    def from_env(cls) -> "Policy":
        env = os.environ
        return cls(int(env.get("COMMEX_SNAPSHOT_ENTRIES", "100000")), float(env.get("COMMEX_SNAPSHOT_SECONDS", "600")))


class Snapshotter:
    """Takes snapshots of a sequencer's state in forked children (see the module docstring)."""

    def __init__(self, url: str | None, policy: Policy | None = None) -> None:
        self.url = url
        self.policy = policy or Policy.from_env()
        self.pid: int | None = None  # the child writing a snapshot, if any
        self.reaper: asyncio.Task | None = None
        self.last_entry = 0  # the entry of the last snapshot taken (or loaded)
        self.last_time = time.monotonic()
        self.fork_seconds: list[float] = []  # what each fork() stalled the sequencer
        self.written = 0  # snapshots whose child reported success

    def due(self, entry_no: int) -> bool:
        if self.url is None or self.pid is not None or entry_no <= self.last_entry:
            return False
        p = self.policy
        return bool((p.entries and entry_no - self.last_entry >= p.entries)
                    or (p.seconds and time.monotonic() - self.last_time >= p.seconds))

    def after_commit(self, state: ExchangeState, entry_no: int, batch_no: int) -> None:
        """Called at a batch boundary, after its commit: snapshot if one is due."""
        if self.due(entry_no):
            self.take(state, entry_no, batch_no)

    def take(self, state: ExchangeState, entry_no: int, batch_no: int) -> None:
        """Fork a child that writes the snapshot of ``state`` as of ``entry_no``."""
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            write_in_child(self.url, state, entry_no, batch_no)
        self.fork_seconds.append(time.perf_counter() - started)
        self.pid, self.last_entry, self.last_time = pid, entry_no, time.monotonic()
        self.reaper = asyncio.get_running_loop().create_task(self._reap(pid, entry_no, started), name="snapshot")

    async def _reap(self, pid: int, entry_no: int, started: float) -> None:
        killed = False
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): its outcome is unknown
                done, status = pid, 255 << 8
            if done:
                break
            if not killed and time.perf_counter() - started > CHILD_SECONDS:  # stuck: stop it; the next is due now
                killed = True
                log.error("the snapshot child for entry %d ran for %.0f s: killing it", entry_no, CHILD_SECONDS)
                os.kill(pid, signal.SIGKILL)
                self.last_entry = 0
            await asyncio.sleep(0.05)
        self.pid = None
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            self.written += 1
            log.info("snapshot at entry %d written in %.2f s (fork stalled %.1f ms)", entry_no,
                     time.perf_counter() - started, 1e3 * self.fork_seconds[-1])
        else:
            log.error("the snapshot at entry %d failed (child exit %d)", entry_no, code)

    async def wait(self, timeout: float | None = None) -> None:
        """Until the child writing a snapshot (if any) has exited; after ``timeout`` seconds it is
        killed (the snapshot is simply not there)."""
        if self.reaper is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.reaper), timeout)
        except TimeoutError:
            if self.pid is not None:
                log.warning("stopping the snapshot child for entry %d (not written)", self.last_entry)
                os.kill(self.pid, signal.SIGKILL)
            await self.reaper


def write_in_child(url: str, state: ExchangeState, entry_no: int, batch_no: int) -> None:
    """The forked child: encode, hash, write, exit (never through the parent's exit handlers)."""
    code = 1
    try:
        # The parent's signal plumbing is not the child's: no wakeup byte into the parent's event
        # loop (a shared socket), and a stop signal simply ends the child (no snapshot, no harm).
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        gc.disable()  # the image is frozen: collecting it would only copy pages
        state.discard_outputs()
        data = encode_state(state)
        asyncio.run(store(url, entry_no, batch_no, state.state_hash(), data))
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


async def store(url: str, entry_no: int, batch_no: int, state_hash: str, data: bytes, keep: int = KEEP) -> None:
    """Insert one snapshot and delete all but the ``keep`` latest."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO snapshots (entry_no, batch_no, state_hash, format, bytes) "
                               "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (entry_no) DO NOTHING",
                               entry_no, batch_no, state_hash, snapshot_format(), data)
            await conn.execute("DELETE FROM snapshots WHERE entry_no < (SELECT min(entry_no) FROM "
                               "(SELECT entry_no FROM snapshots ORDER BY entry_no DESC LIMIT $1) AS kept)", keep)
    finally:
        await conn.close()


async def load(conn: asyncpg.Connection, upto: int | None = None) -> tuple[ExchangeState, int, int] | None:
    """The latest snapshot at or before entry ``upto`` that verifies: (state, entry_no, batch_no).
    A snapshot of other code, past the journal's end, unreadable, or whose state hash (or the
    journal's checkpoint at its entry) disagrees with the loaded state is skipped with a warning."""
    rows = await conn.fetch("SELECT entry_no, batch_no, state_hash, format FROM snapshots "
                            "WHERE entry_no <= $1 ORDER BY entry_no DESC", upto if upto is not None else 2**62)
    if not rows:
        return None
    journal_end = await conn.fetchval("SELECT coalesce(max(last_entry), 0) FROM batches")
    for row in rows:
        entry_no, recorded = row["entry_no"], row["state_hash"]
        if row["format"] != snapshot_format():
            log.warning("snapshot at entry %d skipped: written by other code (%s)", entry_no, row["format"])
            continue
        if entry_no > journal_end:
            log.warning("snapshot at entry %d skipped: the journal ends at entry %d", entry_no, journal_end)
            continue
        batch_end = await conn.fetchval("SELECT last_entry FROM batches WHERE batch_no = $1", row["batch_no"])
        if batch_end != entry_no:
            log.warning("snapshot at entry %d skipped: the journal's batch %d ends at entry %s", entry_no,
                        row["batch_no"], batch_end)
            continue
        checkpoint = await conn.fetchval("SELECT state_hash FROM batches WHERE last_entry = $1", entry_no)
        try:
            state = decode_state(await conn.fetchval("SELECT bytes FROM snapshots WHERE entry_no = $1", entry_no))
        except Exception as e:  # a damaged snapshot is skipped, whatever the damage
            log.warning("snapshot at entry %d skipped: it does not load (%s: %s)", entry_no, type(e).__name__, e)
            continue
        loaded = state.state_hash()
        if loaded != recorded or checkpoint not in (None, recorded):
            log.warning("snapshot at entry %d skipped: it loads to state hash %s, recorded %s (checkpoint %s)",
                        entry_no, loaded, recorded, checkpoint)
            continue
        return state, entry_no, row["batch_no"]
    return None
