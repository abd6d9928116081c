"""Applying journal rows to a state as a restart does: one loop for the recovery and for the
replay benchmark (``loadtest/bench_replay.py``), so the benchmark measures what a restart runs.

What entries up to ``drop_until`` leave for the store (order and trade rows, transfers,
notices) was stored before the restart: the views do not collect it, and the rest is dropped
every ``DROP_EVERY`` entries as the replay passes them. The later entries' outputs are kept,
with their settlement reports, for the projector. The cyclic collector is off while a chunk of
rows is applied, and what the chunk made is frozen before it is back on: a replay makes millions
of long-lived objects, and collections over them would find nothing to free (the server
freezes its long-lived objects too, after start-up and as batches commit).
"""

from collections.abc import Callable, Iterable

from clearing.core import SettlementReport
from exchange.journal import decode_entry
from exchange.state import ExchangeState
from gateway.snapshots import collector_off

DROP_EVERY = 10_000  # entries between two drops of the outputs already stored
PROGRESS_EVERY = 10_000


class RecoveryError(RuntimeError):
    """The journal replayed to a state hash other than the one committed with it."""


class Replay:
    """Journal rows (entry no, ts ns, encoded entry) applied in order to ``state``, the state as
    of entry ``after`` (a fresh one, or a snapshot's with its outputs discarded). At entry
    ``check_at`` the state hash must be ``expected`` (RecoveryError otherwise)."""

    def __init__(self, state: ExchangeState, drop_until: int, after: int = 0, check_at: int = -1,
                 expected: str | None = None, progress: Callable[[int], None] | None = None) -> None:
        self.state, self.drop_until, self.done = state, drop_until, after
        self.check_at, self.expected, self.progress = check_at, expected, progress
        self.reports: list[SettlementReport] = []
        state.views.recording = drop_until <= after  # rows up to drop_until were written before

    def rows(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Apply a chunk of rows."""
        state, drop_until, check_at, progress = self.state, self.drop_until, self.check_at, self.progress
        apply, decode, done = state.apply, decode_entry, self.done
        try:
            with collector_off(freeze=True):
                for done, ts_ns, raw in rows:
                    result = apply(decode(raw), done, ts_ns)
                    if done > drop_until:
                        if isinstance(result.outcome, SettlementReport):
                            self.reports.append(result.outcome)
                    elif done == drop_until or done % DROP_EVERY == 0:
                        state.discard_outputs()
                        state.views.recording = done == drop_until
                    if done == check_at and state.state_hash() != self.expected:
                        raise RecoveryError(f"journal replays to {state.state_hash()} at entry {done}, "
                                             f"the checkpoint recorded {self.expected}")
                    if progress and done % PROGRESS_EVERY == 0:
                        progress(done)
        finally:
            self.done = done

    def finish(self) -> tuple[int, list[SettlementReport]]:
        """(the last entry applied, the reports of entries after ``drop_until``); the views
        collect rows again from here."""
        self.state.views.recording = True
        return self.done, self.reports
