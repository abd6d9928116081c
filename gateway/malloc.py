"""The C allocator's thresholds, fixed for a long-running server (glibc).

glibc serves a large block (128 KiB and more at first) from its own mapping and unmaps it when
it is freed, but then raises that threshold to the freed block's size: later blocks of that
size come from the heap, where they fragment it and are not given back. The server frees large
blocks all the time (a batch's journal arrays, the projector's JSON rows, asyncpg's buffers), so
its resident memory rose in steps over a long run: +20.7 % over the 1,000,000-order soak, with
the exchange's own state bounded. Fixing the mmap threshold (and the heap-trim threshold) at
128 KiB keeps every large block in its own mapping, given back when freed.

``COMMEX_MALLOC_TUNE=0``, or glibc's own ``MALLOC_MMAP_THRESHOLD_`` in the environment, leaves
the allocator as it is; so does a C library without ``mallopt`` (musl).
"""

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
THRESHOLD = 128 * 1024


def tune() -> bool:
    """Fix glibc's mmap and trim thresholds at ``THRESHOLD``; whether they were set."""
    if os.environ.get("COMMEX_MALLOC_TUNE") == "0" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
