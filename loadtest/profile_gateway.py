"""Where the server's time goes under bench_gateway's order load: a py-spy profile, summarised.

``python -m loadtest.profile_gateway [seconds] [--ws]`` starts a real exchange (embedded
PostgreSQL), drives it with bench_gateway's signed durable orders at full speed over 32
connections (``--ws``: its WebSocket order entry instead, pipelined), and
samples the server process with ``py-spy record`` meanwhile (``--idle`` off: only on-CPU time).
It writes the collapsed stacks (``var/profile-gateway.txt``, for a flame graph:
``py-spy``'s speedscope or any collapsed-stack viewer) and prints JSON lines: the share of
samples whose stack passes through each stage (HTTP and auth, JSON decoding, the state
machine, the journal commit, the projector, the feed), and the top functions by own time.
"""

import asyncio
import collections
import json
import shutil
import subprocess
import sys
from pathlib import Path

from gateway.process import ServerProcess
from loadtest.bench_gateway import CONNECTIONS, demo_exchange, fund_traders, order_requests, ws_order_entry
from loadtest.httpload import closed_loop

# a stage is counted for a sample when any frame of its stack matches (file or function, first match wins)
STAGES = (
    ("projector", ("gateway/projector.py",)),
    ("journal commit (asyncpg)", ("Store.commit", "store.py")),
    ("state machine (exchange/, clearing/, engine/)", ("(exchange/", "(clearing/", "(engine/",
                                                       "(warehouse_receipts/")),
    ("order route and wire (orders_api, ws_orders, order_entry, wire, http)",
     ("orders_api.py", "ws_orders.py", "order_entry.py", "gateway/wire.py", "gateway/http.py")),
    ("feed (market data, private streams)", ("gateway/feed.py", "supply_feed.py", "ws_api.py")),
    ("auth and middleware", ("gateway/auth.py", "gateway/middleware.py")),
    ("sanic and the event loop", ("sanic", "asyncio", "uvloop")),
)


def stage_of(stack: str) -> str:
    for name, marks in STAGES:
        if any(mark in stack for mark in marks):
            return name
    return "other"


def summarise(collapsed: Path, top: int = 25) -> tuple[dict, list]:
    """Per-stage share of samples and the functions with the most own (leaf) samples."""
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # py-spy now and then writes a frame name across a line break
            continue
        n = int(count)
        total += n
        stages[stage_of(stack)] += n
        leaves[stack.split(";")[-1]] += n
    shares = {name: round(100 * n / total, 1) for name, n in stages.most_common()} if total else {}
    return shares, [(frame, round(100 * n / total, 1)) for frame, n in leaves.most_common(top)]


async def load(exchange: ServerProcess, seconds: float, ws: bool) -> float:
    if ws:
        return (await ws_order_entry(exchange, seconds)).rate
    result = await closed_loop("127.0.0.1", exchange.port, order_requests(exchange.credentials()), CONNECTIONS,
                               seconds)
    return result.rate


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--ws"]
    seconds, ws = float(args[0]) if args else 15.0, "--ws" in sys.argv
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path("var/profile-gateway.txt")
    out.parent.mkdir(exist_ok=True)
    with demo_exchange("commex-profile-") as exchange:
        fund_traders(exchange)  # as bench_gateway: no margin refusals
        asyncio.run(load(exchange, 2.0, ws))  # warm up
        record = subprocess.Popen([spy, "record", "--pid", str(exchange.proc.pid), "--subprocesses",
                                   "--duration", str(int(seconds)), "--rate", "200", "--format", "raw",
                                   "--output", str(out), "--nonblocking"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rate = asyncio.run(load(exchange, seconds + 1, ws))
        record.wait(timeout=seconds + 60)
    shares, top = summarise(out)
    print(json.dumps({"profile": str(out), "load": "websocket" if ws else "rest", "orders_per_s": round(rate),
                      "stage_share_pct": shares}), flush=True)
    print(json.dumps({"top_own_time_pct": top}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
