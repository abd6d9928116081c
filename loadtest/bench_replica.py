"""The cost of the second copy: durable order entry with and without the synchronous replica,
in one run (must-show 4).

``python -m loadtest.bench_replica [seconds]`` starts the loopback Patroni cluster (gateway/cluster.py:
etcd, three PostgreSQL nodes, synchronous_mode) and one sequencer over it, then measures order
entry (as ``bench_gateway``: full speed with 32 connections, then latency at half that rate) with
the sequencer's session at each ``synchronous_commit``: ``local`` (the commit waits for the
primary's disk only: no replica in the ack), ``on`` (also for the synchronous replica's disk) and
``remote_apply`` (until the replica has applied it). One JSON line, ratios against ``local``.
"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from gateway.cluster import Cluster, available
from gateway.process import ServerProcess
from loadtest.bench_gateway import CONNECTIONS, order_requests, server_figures
from loadtest.httpload import closed_loop, open_loop

MODES = ("local", "on", "remote_apply")


async def measure(server: ServerProcess, seconds: float) -> dict:
    make = order_requests(server.credentials(), seed=len(server.base))
    await closed_loop("127.0.0.1", server.port, make, CONNECTIONS, 1.0)  # warm up
    full = await closed_loop("127.0.0.1", server.port, make, CONNECTIONS, seconds)
    half = await open_loop("127.0.0.1", server.port, make, 2 * CONNECTIONS, full.rate / 2, seconds)
    return {"orders_per_s": round(full.rate), "p50_ms": round(half.quantile_ms(0.50), 2),
            "p99_ms": round(half.quantile_ms(0.99), 2), "full_speed_p99_ms": round(full.quantile_ms(0.99), 2),
            **commit_figures(server.base),
            "errors": {s: n for s, n in (full.statuses + half.statuses).items() if s >= 400 and s != 422}}


def commit_figures(base: str) -> dict:
    """Mean batch commit time and commands per batch (the group commit absorbs a slower commit
    into larger batches, so both matter), and the p99 bucket bound, from one read of /metrics."""
    figures = server_figures(base)
    return {name: figures[name] for name in ("commit_mean_ms", "journal_batch_mean", "commit_p99_ms_at_most")}


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    why = available()
    if why is not None:
        print(json.dumps({"bench": "replica", "skipped": why}))
        return 0
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="commex-replica-") as tmp:
        cluster = Cluster(Path(tmp) / "cluster")
        try:
            cluster.start(timeout=180)
            seeded = False
            for mode in MODES:
                server = ServerProcess(Path(tmp) / "var", f"{cluster.url()}&synchronous_commit={mode}",
                                       rate=1e9, burst=1e9, name=f"serve-{mode}")
                if not seeded:
                    server.cli("demo")
                    seeded = True
                server.start()
                try:
                    figures[mode] = asyncio.run(measure(server, seconds))
                finally:
                    server.stop()
        finally:
            cluster.stop()
    local = figures["local"]["orders_per_s"] or 1
    print(json.dumps({"bench": "replica", "seconds": seconds, **figures,
                      "ratio_sync_on_vs_local": round(figures["on"]["orders_per_s"] / local, 3),
                      "ratio_remote_apply_vs_local": round(figures["remote_apply"]["orders_per_s"] / local, 3)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
