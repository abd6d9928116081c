"""loadtest/cpu.py: CPU time by part, read from /proc, as bench_gateway's CPU budget uses it."""

import os
import subprocess
import sys
from pathlib import Path

from loadtest.cpu import CpuMeter, named, per_request_us

# spins for 0.6 s of CPU, says so, then idles until killed (the meter reads a live process)
SPIN = ("import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
        "print('spun', flush=True)\ntime.sleep(60)\n")


def spinner(executable: str = sys.executable) -> subprocess.Popen:
    return subprocess.Popen([executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)


def test_a_busy_process_is_counted_and_an_idle_one_is_not() -> None:
    busy, idle = spinner(), subprocess.Popen(["sleep", "60"])
    try:
        meter = CpuMeter({"busy": lambda: {busy.pid}, "idle": lambda: {idle.pid}})
        with meter:
            assert busy.stdout.readline() == "spun\n"
        assert meter.spent["busy"] >= 0.5
        assert meter.spent["idle"] <= 0.05
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()


def test_processes_are_found_by_name_and_one_started_in_the_phase_counts_from_zero(tmp_path: Path) -> None:
    renamed = tmp_path / "cpu-spin"  # a process's command name is its executable's file name
    os.symlink(sys.executable, renamed)
    meter = CpuMeter({"spinners": lambda: named("cpu-spin")})
    meter.start()
    child = spinner(str(renamed))
    try:
        assert child.stdout.readline() == "spun\n"
        assert named("cpu-spin") == {child.pid}
        assert meter.stop()["spinners"] >= 0.5
    finally:
        child.kill()
        child.wait()


def test_per_request_microseconds() -> None:
    assert per_request_us({"server": 2.0, "postgres": 0.5}, 10_000) == {"server": 200.0, "postgres": 50.0}
    assert per_request_us({"server": 2.0}, 0) == {"server": 0.0}
