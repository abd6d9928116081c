"""Polling helpers for end-to-end tests: wait for what a server does after its answer."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 15.0, every: float = 0.1) -> T:
    """Call ``fetch`` until ``done`` holds for its value or ``timeout`` passes; return the last
    value (the caller asserts on it, so a timeout fails with what was seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(every)
