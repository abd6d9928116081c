"""The journaled clock: timed rules fire from clock commands, never from reading a clock.

Only the sequencer stamps time: each journal entry carries its batch's time, and the pure core
sees that time as ``now``. A rule that must happen at a moment (a scheduled session change
today; margin-call, auction-close, payment and expiry deadlines as they come) is a ``Timer``
in ``Timers``. When ``Timers.next_due()`` has passed, the sequencer journals a ``ClockTick``
(an empty command: its entry's time is the clock reading) and applying it fires every timer
due by then, in (due time, creation order). A replay meets the same ticks at the same places
in the journal, so every timed event happens at the same point with the same time.
"""

import heapq

import msgspec

from clearing.forwards import MarginCallDue
from clearing.inbound import DeclarationDue
from clearing.supply import SupplyTimer
from engine.codes import SessionState
from warehouse_receipts.expiry import ReceiptDue
from warehouse_receipts.warehouse import ReleaseDue

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}


class ClockTick(msgspec.Struct, tag="clock_tick", **_OPTS):
    """The sequencer's clock reading, journaled: fire every timer due by the entry's time."""


class ScheduleSession(msgspec.Struct, tag="schedule_session", **_OPTS):
    """At ``at_ns`` (UTC ns), move ``symbol``'s session to ``state`` (an operator's schedule)."""

    actor: str
    symbol: str
    state: SessionState
    at_ns: int


# what a timer can do; the pipeline's ``tick`` dispatches on it
TimerAction = ScheduleSession | ReleaseDue | DeclarationDue | ReceiptDue | MarginCallDue | SupplyTimer


class Timer(msgspec.Struct, array_like=True, gc=False, frozen=True, order=True):
    """What to do at ``due_ns``; ``seq`` orders timers due at the same time by creation."""

    due_ns: int
    seq: int
    action: TimerAction


class Timers:
    """Pending timers, earliest first (a binary heap)."""

    def __init__(self) -> None:
        self.heap: list[Timer] = []
        self.seq = 0

    def add(self, due_ns: int, action: TimerAction) -> Timer:
        self.seq += 1
        timer = Timer(due_ns, self.seq, action)
        heapq.heappush(self.heap, timer)
        return timer

    def next_due(self) -> int | None:
        """When the earliest timer is due (UTC ns), or None if none is pending."""
        return self.heap[0].due_ns if self.heap else None

    def pop_due(self, now_ns: int) -> list[Timer]:
        """Remove and return the timers due by ``now_ns``, in firing order."""
        due = []
        while self.heap and self.heap[0].due_ns <= now_ns:
            due.append(heapq.heappop(self.heap))
        return due

    def state(self) -> list[Timer]:
        """The pending timers in firing order (for the state hash)."""
        return sorted(self.heap)
