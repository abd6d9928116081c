"""When the half-rate tail of bench_gateway happens, and what the server did then.

``python -m loadtest.tail_timeline [seconds]`` runs bench_gateway's REST phases against a real
exchange (embedded PostgreSQL): a warm-up, full speed (for the rate), then a constant half of
that rate. It prints a JSON line per 100 ms window of the half-rate phase in which a request
took over ``SLOW_MS`` (from its due time), then one line with the p99 and what the server's
``/metrics`` counted during the two phases: batch commits over 25 ms and collections by
generation. Stalls that recur at a steady interval and coincide with slow commits point at the
database (this is how the zero-filled WAL segments were found, docs/PERFORMANCE.md "WAL segments").
"""

import asyncio
import collections
import json
import sys

from gateway.process import ServerProcess
from loadtest.bench_gateway import count_over, demo_exchange, full_then_half, metric_lines, series
from loadtest.httpload import Result

SLOW_MS = 10.0
WINDOW_S = 0.1


def windows(half: Result) -> list[dict]:
    """The windows holding a request slower than ``SLOW_MS``: start, requests, slow ones, worst."""
    found: dict[int, list] = collections.defaultdict(lambda: [0, 0, 0.0])
    for due, latency in zip(half.due, half.latencies, strict=True):
        w = found[int(due / WINDOW_S)]
        w[0] += 1
        w[1] += latency * 1e3 > SLOW_MS
        w[2] = max(w[2], latency * 1e3)
    return [{"t_s": round(k * WINDOW_S, 1), "requests": n, "slow": slow, "max_ms": round(worst, 1)}
            for k, (n, slow, worst) in sorted(found.items()) if slow]


def counters(base: str) -> collections.Counter:
    """Batch commits over 25 ms, and collections by generation, so far."""
    lines = metric_lines(base)
    counted = collections.Counter({"slow_commits_over_25ms": count_over(lines, "exchange_journal_commit_seconds",
                                                                        0.025)})
    for labels, collections_so_far in series(lines, "process_gc_pause_seconds_count"):
        counted[f"collections_gen{labels['generation']}"] += int(collections_so_far)
    return counted


async def measure(exchange: ServerProcess, seconds: float) -> tuple[Result, collections.Counter]:
    before = counters(exchange.base)
    _, half = await full_then_half(exchange, seconds)
    after = counters(exchange.base)
    after.subtract(before)
    return half, after


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    with demo_exchange("commex-tail-") as exchange:
        half, counted = asyncio.run(measure(exchange, seconds))
    for window in windows(half):
        print(json.dumps(window))
    print(json.dumps({"half_rate_per_s": round(half.rate), "p50_ms": round(half.quantile_ms(0.5), 2),
                      "p99_ms": round(half.quantile_ms(0.99), 2), **dict(sorted(counted.items()))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
