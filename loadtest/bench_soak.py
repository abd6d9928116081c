"""A soak: many orders through the real server over REST, to show memory and latency stay flat.

``python -m loadtest.bench_soak [ORDERS] [--day N] [--connections C]`` starts a real exchange
(its own embedded PostgreSQL unless ``DATABASE_URL`` is set; rate limits off), lists a
commission-only forward, funds four traders, then drives ORDERS new orders (default
1,000,000) over keep-alive connections: prices around the reference so about half trade,
GTC and IOC, and each connection cancels its oldest resting order once it has more than
``RESTING`` open, so the book stays bounded. Every ``--day`` orders (default 100,000) the
clearing desk closes the trading day and the session reopens, as on a real exchange (the
client-order-id index is per trading day).

Prints JSON lines: progress (orders, server RSS), then the summary: RSS after warm-up (the
first window and the first trading day) and at the end, their growth (goal ≤ 10 %); also from the end of the
second trading day, once the order views' horizon has turned over; p99 of the first and the last
window of orders (a window is 100,000 orders, or a tenth of a smaller run; goal: last within
1.5× of first). Run it small on a shared machine (e.g. 50,000)."""

import argparse
import asyncio
import itertools
import json
import os
import random
import time
from collections import deque
from pathlib import Path

import msgspec

from gateway.auth import sign
from gateway.process import ServerProcess
from loadtest.bench_gateway import (
    PLAIN,
    TRADERS,
    buckets,
    demo_exchange,
    fund_traders,
    list_plain_forward,
    metric_lines,
    value,
)
from loadtest.httpload import quantile_ms

RESTING = 20  # open orders a connection keeps before it cancels its oldest
WINDOW = 100_000


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def resident_parts_mb(pid: int) -> dict[str, float]:
    """Where process ``pid``'s resident memory is (Linux smaps), in MB: the C heap (glibc's
    ``brk`` area: small and medium blocks of C code and of objects over 512 bytes), anonymous
    mappings (Python's 1 MiB object arenas, large blocks), and the rest (code, libraries)."""
    parts = {"heap_mb": 0, "anon_mb": 0, "other_mb": 0}
    part = "other_mb"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header: range perms offset dev inode [path]
            path = fields[5] if len(fields) > 5 else ""
            part = "heap_mb" if path == "[heap]" else "anon_mb" if not path else "other_mb"
        elif fields[0] == "Rss:":
            parts[part] += int(fields[1])
    return {k: round(v / 1024, 1) for k, v in parts.items()}


class Signer:
    """Signed raw HTTP/1.1 requests for one member."""

    def __init__(self, creds: dict) -> None:
        self.key, self.secret = creds["api_key"], creds["api_secret"]

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        ts = str(time.time_ns() // 1_000_000)
        sig = sign(self.secret, ts, method, path, body)
        head = (f"{method} {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-API-Key: {self.key}\r\nX-Timestamp: {ts}\r\n"
                f"X-Signature: {sig}\r\n\r\n")
        return head.encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    return int(head[9:12]), await reader.readexactly(length) if length else b""


class Soak:
    """The shared counters of one run: orders sent, their latencies by order number, statuses."""

    def __init__(self, total: int, seed: int = 1) -> None:
        self.total, self.sent = total, 0
        self.latency = [0.0] * total
        self.statuses: dict[int, int] = {}
        self.cancels = 0
        self.rng = random.Random(seed)
        self.run = f"{os.getpid()}-{time.time_ns()}"

    def next_order(self, limit: int) -> int | None:
        if self.sent >= limit:
            return None
        self.sent += 1
        return self.sent - 1

    def body(self, n: int) -> bytes:
        rng = self.rng
        return msgspec.json.encode({
            "symbol": PLAIN, "side": "buy" if rng.random() < 0.5 else "sell", "quantity": rng.randint(1, 5),
            "price": str(15_000 + 5 * rng.randint(-8, 8)), "client_order_id": f"s-{self.run}-{n}",
            "time_in_force": "GTC" if rng.random() < 0.7 else "IOC"})


async def connection(port: int, signer: Signer, soak: Soak, limit: int, resting: deque) -> None:
    """Send orders until ``limit`` have been sent in all; cancel the oldest resting beyond RESTING."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            if len(resting) > RESTING:
                writer.write(signer.request("DELETE", f"/v1/orders/{resting.popleft()}"))
                await read_answer(reader)  # 200, or 409 if it filled meanwhile
                soak.cancels += 1
                continue
            n = soak.next_order(limit)
            if n is None:
                return
            t0 = time.perf_counter()
            writer.write(signer.request("POST", "/v1/orders", soak.body(n)))
            status, body = await read_answer(reader)
            soak.latency[n] = time.perf_counter() - t0
            soak.statuses[status] = soak.statuses.get(status, 0) + 1
            if status == 201:
                order = msgspec.json.decode(body)
                if order["status"] in ("NEW", "PARTIALLY_FILLED"):
                    resting.append(order["order_id"])
    finally:
        writer.close()


def gc_figures(exchange: ServerProcess) -> dict:
    """The server's full (generation 2) collections: how many, their mean, and the bucket bound
    under which all of them finished (``process_gc_pause_seconds``)."""
    lines = metric_lines(exchange.base)
    count = value(lines, "process_gc_pause_seconds_count", generation="2")
    total = value(lines, "process_gc_pause_seconds_sum", generation="2")
    found = buckets(lines, "process_gc_pause_seconds", generation="2")
    worst = next((bound for bound, n in found if count and n >= count), 0.0)
    return {"full_gcs": int(count), "full_gc_mean_ms": round(1e3 * total / count, 1) if count else 0.0,
            "full_gc_max_ms_at_most": round(worst * 1e3, 1)}


def close_day(exchange: ServerProcess) -> None:
    """End of day by the clearing desk, then the forward's session opens again."""
    status, answer = exchange.client("clearing-desk").request("POST", "/v1/clearing/end-of-day", {})
    assert status == 201, answer
    status, answer = exchange.client("exchange-ops").request(
        "POST", f"/v1/admin/instruments/{PLAIN}/session", {"state": "continuous"})
    assert status in (200, 201), answer


async def drive(exchange: ServerProcess, total: int, day: int, connections: int) -> dict:
    creds = exchange.credentials()
    signers = [Signer(creds[m]) for m in TRADERS]
    soak = Soak(total)
    window = min(WINDOW, max(1, total // 10))
    pid = exchange.proc.pid
    rss_warm, warm_up = None, max(window, min(day, total))  # warm: the first window and trading day done
    rss_second, second_day = None, 2 * day  # also shown: from the second day's end (see PERFORMANCE.md)
    books = [deque() for _ in range(connections)]  # each connection's resting orders, across days
    started = time.perf_counter()
    for limit in itertools.chain(range(day, total, day), [total]):
        step = max(window, 1)
        while soak.sent < limit:
            target = min(limit, (soak.sent // step + 1) * step)
            await asyncio.gather(*(connection(exchange.port, signers[i % len(signers)], soak, target, books[i])
                                   for i in range(connections)))
            rss = rss_mb(pid)
            if rss_warm is None and soak.sent >= warm_up:
                rss_warm = rss
            if rss_second is None and soak.sent >= second_day:
                rss_second = rss
            print(json.dumps({"orders": soak.sent, "rss_mb": rss, **resident_parts_mb(pid),
                              "seconds": round(time.perf_counter() - started, 1)}), flush=True)
        if limit < total:
            await asyncio.to_thread(close_day, exchange)  # GTC orders rest on and are cancelled as before
    rss_end = rss_mb(pid)
    p99_first, p99_last = (round(quantile_ms(part, 0.99), 2) for part in (soak.latency[:window],
                                                                          soak.latency[-window:]))
    return {
        "orders": total, "seconds": round(time.perf_counter() - started, 1),
        "orders_per_s": round(total / (time.perf_counter() - started)),
        "window": window, "rss_after_warmup_mb": rss_warm, "rss_end_mb": rss_end,
        "rss_growth": round(rss_end / rss_warm - 1, 3) if rss_warm else None,
        "rss_after_second_day_mb": rss_second,
        "rss_growth_after_second_day": round(rss_end / rss_second - 1, 3) if rss_second else None,
        "p99_first_ms": p99_first, "p99_last_ms": p99_last, "max_ms": round(max(soak.latency) * 1e3, 1),
        "p99_last_vs_first": round(p99_last / p99_first, 2) if p99_first else None,
        "cancels": soak.cancels, "statuses": soak.statuses, "trading_days": -(-total // day),
        **await asyncio.to_thread(gc_figures, exchange),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--day", type=int, default=100_000, help="orders per trading day")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-gc-freeze", action="store_true", help="run the server with COMMEX_GC_FREEZE=0")
    parser.add_argument("--horizon", type=int, help="COMMEX_ORDER_HORIZON for the server (entries; a small run "
                        "needs a small one to reach its steady state)")
    args = parser.parse_args()
    env = {"COMMEX_GC_FREEZE": "0" if args.no_gc_freeze else "1",
           **({"COMMEX_ORDER_HORIZON": str(args.horizon)} if args.horizon else {})}
    with demo_exchange("commex-soak-", env=env) as exchange:
        list_plain_forward(exchange)
        fund_traders(exchange, "1000000000")
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        figures = asyncio.run(drive(exchange, args.orders, args.day, args.connections))
    print(json.dumps({**figures, "gc_freeze": not args.no_gc_freeze, "horizon": args.horizon or "default"}),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
