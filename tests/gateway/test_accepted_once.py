"""The receive window's memory of accepted signatures and login nonces: each value once, forgotten
when its timestamp leaves the window, and bounded (503 BUSY, nothing remembered, when full)."""

import pytest

from gateway.auth import AcceptedOnce, AuthError, Nonces


def test_a_value_is_accepted_once_within_the_window_then_forgotten() -> None:
    seen = AcceptedOnce(window_ms=5_000)
    assert seen.first("sig", timestamp_ms=1_000, now_ms=1_000)
    assert not seen.first("sig", timestamp_ms=1_000, now_ms=6_000)  # its last fresh moment
    assert seen.first("other", timestamp_ms=7_000, now_ms=7_000) and len(seen) == 1  # "sig" forgotten


def test_a_full_memory_refuses_with_busy_and_remembers_nothing_more() -> None:
    seen = Nonces(window_ms=5_000, capacity=2)
    assert seen.use("k", "n1", 1_000, 1_000) and seen.use("k", "n2", 1_000, 1_000)
    with pytest.raises(AuthError) as refused:
        seen.use("k", "n3", 1_000, 1_000)
    assert (refused.value.status, refused.value.code, len(seen)) == (503, "BUSY", 2)
    assert seen.use("k", "n3", 7_000, 7_000)  # the window passed: room again
