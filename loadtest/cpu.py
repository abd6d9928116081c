"""CPU time spent by each part of a benchmark during one phase, read from ``/proc`` (Linux).

A rate alone does not say what stops it rising: ``CpuMeter`` says how many microseconds of CPU
each part (the server under test, PostgreSQL, the load generator) spent per request, and so
what a goal rate would need of a machine's cores (docs/PERFORMANCE.md "The CPU budget").

>>> import os
>>> meter = CpuMeter({"me": lambda: {os.getpid()}})
>>> with meter:
...     _ = sum(range(10**6))
>>> meter.spent["me"] >= 0
True
"""

import os
from collections.abc import Callable, Iterable

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of process ``pid`` and its threads, in clock ticks; 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def named(command: str) -> set[int]:
    """The pids of processes whose command name (``comm``) is ``command``, e.g. every
    PostgreSQL process on this machine: the postmaster, its backends and helpers."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == command:
                        found.add(int(entry))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds of named parts between ``start`` and ``stop`` (or over a ``with`` block); each
    part is a function that lists its pids, asked at both ends (a process started in the phase
    counts from zero). Clock ticks are 10 ms: time a phase of seconds, not milliseconds."""

    def __init__(self, parts: dict[str, Callable[[], Iterable[int]]]) -> None:
        self.parts = parts
        self.before: dict[str, dict[int, int]] = {}
        self.spent: dict[str, float] = {}

    def _read(self) -> dict[str, dict[int, int]]:
        return {name: {pid: cpu_ticks(pid) for pid in pids()} for name, pids in self.parts.items()}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        """Seconds of CPU each part spent since ``start`` (kept in ``spent`` too)."""
        after = self._read()
        self.spent = {name: sum(ticks - self.before[name].get(pid, 0) for pid, ticks in now.items()) / TICKS
                      for name, now in after.items()}
        return self.spent

    def __enter__(self) -> "CpuMeter":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def per_request_us(spent: dict[str, float], requests: int) -> dict[str, float]:
    """``CpuMeter.stop``'s seconds as microseconds a request, rounded."""
    return {name: round(seconds * 1e6 / requests, 1) if requests else 0.0 for name, seconds in spent.items()}
