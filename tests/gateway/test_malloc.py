"""glibc's thresholds fixed: a freed large block goes back to the system even after glibc would
have raised its mmap threshold (gateway/malloc.py)."""

import os
import subprocess
import sys

import pytest

from gateway import malloc

# Allocate and free large blocks once (glibc raises its threshold when it sees one freed), then
# allocate them again and free every other one: the resident memory that is left, in MiB.
PROBE = """
import sys
from gateway import malloc
tuned = malloc.tune()
blocks = [b"x" * 200_000 for _ in range(300)]
del blocks
blocks = [b"x" * 200_000 for _ in range(300)]
del blocks[::2]
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) // 1024
print(tuned, rss)
"""


def resident_after_freeing(env: dict[str, str]) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="glibc only")
def test_tuned_thresholds_give_freed_large_blocks_back() -> None:
    tuned, kept_tuned = resident_after_freeing({"COMMEX_MALLOC_TUNE": "1"})
    untouched, kept_default = resident_after_freeing({"COMMEX_MALLOC_TUNE": "0"})
    assert tuned and not untouched
    # 150 blocks of 200 kB are still held either way (~29 MiB); glibc's default keeps the other
    # 150, freed in the middle of its heap, resident as well
    assert kept_default - kept_tuned > 20, (kept_default, kept_tuned)


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMEX_MALLOC_TUNE", "0")
    assert malloc.tune() is False
