"""When the half-rate tail of bench_gateway happens, and what the server did then.

``python -m loadtest.tail_timeline [seconds]`` runs bench_gateway's REST phases against a real
exchange (embedded PostgreSQL): a warm-up, full speed (for the rate), then a constant half of
that rate. It prints a JSON line per 100 ms window of the half-rate phase in which a request
took over ``SLOW_MS`` (from its due time), then one line with the p99 and what the server's
``/metrics`` counted meanwhile: batch commits over 25 ms and collections by generation. Stalls
that recur at a steady interval and coincide with slow commits point at the database (this is
how the zero-filled WAL segments were found, docs/PERFORMANCE.md "WAL segments").
"""

import asyncio
import collections
import json
import sys
import tempfile
from pathlib import Path

from gateway.client import Client
from gateway.pg import database_url
from gateway.process import ServerProcess
from loadtest.bench_gateway import CONNECTIONS, fund_traders, order_requests
from loadtest.httpload import Result, closed_loop, open_loop

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
    counted: collections.Counter = collections.Counter()
    for line in Client(base).request("GET", "/metrics")[1].splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("exchange_journal_commit_seconds_"):
            if name.endswith("_count"):
                counted["slow_commits_over_25ms"] += float(value)
            elif 'le="0.025"' in name:
                counted["slow_commits_over_25ms"] -= float(value)
        elif name.startswith("process_gc_pause_seconds_count"):
            generation = name.split('"')[1]
            counted[f"collections_gen{generation}"] += float(value)
    return counted


async def measure(exchange: ServerProcess, seconds: float) -> tuple[Result, collections.Counter]:
    make = order_requests(exchange.credentials())
    fund_traders(exchange)
    await closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, 1.0)
    full = await closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, seconds)
    before = counters(exchange.base)
    half = await open_loop("127.0.0.1", exchange.port, make, 2 * CONNECTIONS, full.rate / 2, seconds)
    after = counters(exchange.base)
    after.subtract(before)
    return half, after


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    with tempfile.TemporaryDirectory(prefix="commex-tail-") as tmp:
        exchange = ServerProcess(Path(tmp) / "var", database_url(Path(tmp), keep=False), rate=1e9, burst=1e9)
        exchange.cli("demo")
        exchange.start()
        try:
            half, counted = asyncio.run(measure(exchange, seconds))
        finally:
            exchange.stop()
    for window in windows(half):
        print(json.dumps(window))
    print(json.dumps({"half_rate_per_s": round(half.rate), "p50_ms": round(half.quantile_ms(0.5), 2),
                      "p99_ms": round(half.quantile_ms(0.99), 2),
                      **{k: int(v) for k, v in sorted(counted.items())}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
