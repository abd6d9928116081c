"""Must-show 4, bounded: the locust "auction rush" (``loadtest/auction_rush.py``) run headless
against a real server: 200 bidders bid in the last 10 seconds of a lot; every bid is
acknowledged or refused with a code (zero failures), the final price is the highest
acknowledged bid, and the close moved exactly as the countdown rule says over the bid log."""

import json

import pytest

from tests.support.locust import run_locust


@pytest.mark.slow
def test_auction_rush_200_bidders_in_the_last_10_seconds(server) -> None:
    env = {"RUSH_BIDDERS": "200", "RUSH_LEAD_S": "12", "RUSH_WINDOW_S": "10", "RUSH_EXTEND_S": "3",
           "RUSH_HARD_STOP_S": "12"}
    out = run_locust(server, "auction_rush.py", "-u", "200", "-r", "200", "-t", "28s", "--stop-timeout", "5", env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"scenario": "auction_rush"')]
    assert lines, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(lines[-1])
    print(lines[-1])
    assert result["ok"], result
    assert result["failures"] == 0 and result["acknowledged"] > 10, result
    assert set(result["refused"]) <= {"INCREMENT_TOO_SMALL", "AUCTION_CLOSED"}, result
    assert result["final_close_ms"] > result["scheduled_close_ms"] and result["extensions"] > 0, result
    assert out.returncode == 0, out.stderr[-3000:]
