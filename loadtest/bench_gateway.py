"""Durable order entry over HTTP against a bare Sanic + msgspec endpoint, in one run.

``python -m loadtest.bench_gateway`` starts a bare Sanic app and a real exchange (its own
embedded PostgreSQL unless ``DATABASE_URL`` is set), then with one load generator measures:
the bare endpoint's request rate; signed, durable order entry at full speed; and order-entry
latency at a constant half of that speed; then full-speed order entry on a forward without
margin (commission only, as every forward was before margining), next to the margined near cotton
month's rate in the same run; then order entry over the WebSocket (``order.new`` messages, several
logged-in connections each keeping a window of orders in flight), against the same bare HTTP
rate (``ws_vs_bare_http``). It prints one JSON line.

With the rates it prints what each costs in CPU (``loadtest/cpu.py``): microseconds a request
for the server under test, PostgreSQL and the load generator, in the bare, REST and WebSocket
phases, beside what the goals leave a request of the machine's cores (REST at half the bare
rate, WebSocket at the bare rate), and how late the generator itself sent its half-rate
requests (part of their latency). docs/PERFORMANCE.md "The CPU budget" reads them.
"""

import asyncio
import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator

import msgspec

from gateway.auth import sign
from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.pg import scratch_database
from gateway.process import ServerProcess, free_port
from loadtest import wsload
from loadtest.cpu import CpuMeter, named, per_request_us
from loadtest.httpload import Result, closed_loop, open_loop, quantile_ms

CONNECTIONS = 32
WS_CONNECTIONS = 8  # WebSocket order entry: logged-in connections (members in turn) ...
WS_WINDOW = 32  # ... each with this many orders in flight
TRADERS = ["huafang-textile", "luneng-agri", "xinjiang-cotton-group", "sinofert"]
PLAIN = "CFPLAIN"  # a forward without margin, listed by the benchmark


def order_bodies(seed: int = 1, symbol: str = CF_NEAR, prefix: str = "b"):
    """A factory of order bodies (the n-th of them): prices around the reference so that about
    half the orders trade and the rest rest."""
    rng = random.Random(seed)
    run = f"{prefix}-{os.getpid()}-{time.time_ns()}"

    def body(n: int) -> dict:
        return {"symbol": symbol, "side": "buy" if rng.random() < 0.5 else "sell", "quantity": rng.randint(1, 5),
                "price": str(15_000 + 5 * rng.randint(-8, 8)), "client_order_id": f"{run}-{n}",
                "time_in_force": "GTC" if rng.random() < 0.7 else "IOC"}

    return body


def order_requests(credentials: dict[str, dict], seed: int = 1, symbol: str = CF_NEAR):
    """A factory of signed POST /v1/orders requests (``order_bodies``): alternating members."""
    bodies = order_bodies(seed, symbol)
    counter = itertools.count()
    keys = [credentials[m] for m in TRADERS]

    def make() -> bytes:
        n = next(counter)
        creds = keys[n % len(keys)]
        body = msgspec.json.encode(bodies(n))
        ts = str(time.time_ns() // 1_000_000)
        sig = sign(creds["api_secret"], ts, "POST", "/v1/orders", body)
        return (f"POST /v1/orders HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-API-Key: {creds['api_key']}\r\nX-Timestamp: {ts}\r\n"
                f"X-Signature: {sig}\r\n\r\n").encode() + body

    return make


def bare_requests():
    body = msgspec.json.encode({"symbol": "CF", "side": "buy", "quantity": 1, "client_order_id": "x",
                                "price": "15000"})
    request = (f"POST /v1/orders HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return lambda: request


def wait_healthy(base: str, proc: subprocess.Popen) -> None:
    client = Client(base)
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError("bare server exited")
        try:
            if client.request("GET", "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("bare server did not start")


def metric_lines(base: str) -> list[str]:
    """The server's ``/metrics``, a line each."""
    return Client(base).request("GET", "/metrics")[1].splitlines()


def series(lines: list[str], name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """The samples of metric ``name`` (exactly) whose labels include ``labels``: (labels, value).

    >>> series(['# HELP x', 'x_count{generation="2"} 3.0', 'x_count{generation="0"} 9.0'], "x_count", generation="2")
    [({'generation': '2'}, 3.0)]
    """
    found = []
    for line in lines:
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric != name:
            continue
        held = dict(pair.split("=", 1) for pair in rest.rstrip("}").split(",") if pair)
        held = {key: text.strip('"') for key, text in held.items()}
        if labels.items() <= held.items():
            found.append((held, float(value)))
    return found


def value(lines: list[str], name: str, **labels: str) -> float:
    """The sum of ``series(lines, name, **labels)``'s values (0 if there are none)."""
    return sum(v for _, v in series(lines, name, **labels))


def buckets(lines: list[str], name: str, **labels: str) -> list[tuple[float, float]]:
    """``name``'s histogram buckets: (upper bound in seconds, observations at most that)."""
    return [(float(held["le"]), v) for held, v in series(lines, f"{name}_bucket", **labels)]


def bucket_p99_ms(lines: list[str], name: str) -> float:
    """The bound of the first histogram bucket holding 99 % of ``name``'s observations (ms)."""
    found = buckets(lines, name)
    total = found[-1][1] if found else 0
    bound = next((b for b, n in found if total and n >= 0.99 * total), float("inf"))
    return round(bound * 1_000, 2) if total else 0.0


def count_over(lines: list[str], name: str, seconds: float) -> int:
    """How many of ``name``'s observations exceeded ``seconds`` (a bucket bound)."""
    found = dict(buckets(lines, name))
    return int(found.get(float("inf"), 0) - found.get(seconds, 0))


def server_figures(base: str) -> dict:
    """From the server's /metrics: mean commands per committed batch, mean batch commit time,
    and the bucket bounds under which 99 % of batch commits, of settlements, and of the
    projector's writes (from the oldest batch's commit) finished."""
    lines = metric_lines(base)
    count = value(lines, "exchange_journal_batch_commands_count")
    commits = value(lines, "exchange_journal_commit_seconds_count") or 1
    return {"journal_batch_mean": round(value(lines, "exchange_journal_batch_commands_sum") / count, 1)
            if count else 0.0,
            "commit_mean_ms": round(1e3 * value(lines, "exchange_journal_commit_seconds_sum") / commits, 2),
            "commit_p99_ms_at_most": bucket_p99_ms(lines, "exchange_journal_commit_seconds"),
            "settlement_lag_p99_ms_at_most": bucket_p99_ms(lines, "exchange_settlement_lag_seconds"),
            "projection_delay_p99_ms_at_most": bucket_p99_ms(lines, "exchange_projection_delay_seconds")}


@contextlib.contextmanager
def demo_exchange(prefix: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A started ``commex serve`` with demo data and rate limits off, over a scratch database;
    stopped, with its database, on the way out."""
    with scratch_database(prefix) as (work, url):
        exchange = ServerProcess(work / "var", url, rate=1e9, burst=1e9, env=env)
        exchange.cli("demo")
        exchange.start()
        try:
            yield exchange
        finally:
            exchange.stop()


async def full_then_half(exchange: ServerProcess, seconds: float,
                         meter: CpuMeter | None = None) -> tuple[Result, Result]:
    """Signed durable order entry at full speed (the traders funded, after a second's warm-up),
    then at a constant half of that rate, timed from each request's due time; ``meter`` times
    the CPU of the full-speed phase."""
    make = order_requests(exchange.credentials())
    fund_traders(exchange)  # margin held on resting orders must not run out: refusals would flatter a rate
    await closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, 1.0)  # warm up
    with meter or contextlib.nullcontext():
        full = await closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, seconds)
    half = await open_loop("127.0.0.1", exchange.port, make, 2 * CONNECTIONS, full.rate / 2, seconds)
    return full, half


def cpu_parts(pid: int) -> dict:
    """The parts whose CPU a phase counts: the server under test (``pid``), PostgreSQL, and
    this process, the load generator."""
    return {"server": lambda: {pid}, "postgres": lambda: named("postgres"), "load_generator": lambda: {os.getpid()}}


def cpu_figures(bare: Result, full: Result, ws: Result, meters: dict[str, CpuMeter]) -> dict:
    """CPU microseconds a request by part and phase, and what the goals leave a request of all
    this machine's cores: REST at half the bare rate, WebSocket at the bare rate."""
    cores = os.cpu_count() or 1
    return {"cpu_us_per_bare_request": per_request_us(meters["bare"].spent, bare.count),
            "cpu_us_per_rest_order": per_request_us(meters["rest"].spent, full.count),
            "cpu_us_per_ws_order": per_request_us(meters["ws"].spent, ws.count),
            "cores": cores,
            "rest_goal_cpu_us_per_order": round(cores * 1e6 / (0.5 * bare.rate), 1),
            "ws_goal_cpu_us_per_order": round(cores * 1e6 / bare.rate, 1)}


async def measure(bare_port: int, bare_pid: int, exchange: ServerProcess, seconds: float) -> dict:
    meters = {"bare": CpuMeter(cpu_parts(bare_pid)), "rest": CpuMeter(cpu_parts(exchange.proc.pid)),
              "ws": CpuMeter(cpu_parts(exchange.proc.pid))}
    with meters["bare"]:
        bare = await closed_loop("127.0.0.1", bare_port, bare_requests(), CONNECTIONS, seconds)
    full, half = await full_then_half(exchange, seconds, meters["rest"])
    plain = await closed_loop("127.0.0.1", exchange.port, order_requests(exchange.credentials(), 2, PLAIN),
                              CONNECTIONS, seconds)
    fund_traders(exchange)  # again: the REST phases left margin held on thousands of resting orders
    ws = await ws_order_entry(exchange, seconds, meters["ws"])
    errors = {s: n for s, n in (full.statuses + half.statuses + plain.statuses).items() if s >= 400 and s != 422}
    return {
        "orders_per_s": round(full.rate),
        "unmargined_forward_orders_per_s": round(plain.rate),
        "margined_vs_unmargined": round(full.rate / plain.rate, 3),
        "bare_requests_per_s": round(bare.rate),
        "ratio_vs_bare": round(full.rate / bare.rate, 3),
        "half_rate_per_s": round(half.rate),
        "p50_ms": round(half.quantile_ms(0.50), 2),
        "p99_ms": round(half.quantile_ms(0.99), 2),
        "half_rate_sent_late_p99_ms": round(quantile_ms(half.late, 0.99), 2),
        "full_speed_p99_ms": round(full.quantile_ms(0.99), 2),
        **server_figures(exchange.base),
        "rejected_by_rules": (full.statuses + half.statuses)[422],
        "errors": errors,
        "ws_orders_per_s": round(ws.rate),
        "ws_vs_bare_http": round(ws.rate / bare.rate, 3),
        "ws_connections": WS_CONNECTIONS, "ws_window": WS_WINDOW,
        "ws_durable_acks": ws.statuses[201],
        "ws_p50_ms": round(ws.quantile_ms(0.50), 2),
        "ws_p99_ms": round(ws.quantile_ms(0.99), 2),
        "ws_rejected_by_rules": ws.statuses[422],
        "ws_errors": {s: n for s, n in ws.statuses.items() if s != 201 and s != 422},
        **cpu_figures(bare, full, ws, meters),
    }


async def ws_order_entry(exchange: ServerProcess, seconds: float, meter: CpuMeter | None = None):
    """Order entry over /v1/ws (pipelined, ``WS_WINDOW`` in flight a connection) at full speed,
    after a second's warm-up; the rate counts answers (201 a durable ack, 422 a rule's refusal)."""
    credentials = exchange.credentials()
    logins = [credentials[TRADERS[i % len(TRADERS)]] for i in range(WS_CONNECTIONS)]
    await wsload.closed_loop("127.0.0.1", exchange.port, logins, order_bodies(3, prefix="w0"), WS_WINDOW, 1.0)
    with meter or contextlib.nullcontext():
        return await wsload.closed_loop("127.0.0.1", exchange.port, logins, order_bodies(4, prefix="w"),
                                        WS_WINDOW, seconds)


def fund_traders(exchange: ServerProcess, yuan: str = "100000000000") -> None:
    """The clearing desk deposits ``yuan`` for each trader (so margin does not run out)."""
    desk = exchange.client("clearing-desk")
    for member in TRADERS:
        status, answer = desk.request("POST", "/v1/clearing/deposits", {
            "member": member, "amount": yuan, "reference": f"bench-{member}-{time.time_ns()}"})
        assert status == 201, answer


def list_plain_forward(exchange: ServerProcess) -> None:
    """A forward like the demo's near cotton month without the margin lifecycle: commission only."""
    ops = exchange.client("exchange-ops")
    for path, body in (("/v1/admin/instruments", {"symbol": PLAIN, "tick": "5", "lot_size": 5_000,
                                                  "ref_price": "15000", "band_bps": 400}),
                       (f"/v1/admin/instruments/{PLAIN}/fees", {"per_lot": "4.30"}),
                       (f"/v1/admin/instruments/{PLAIN}/session", {"state": "continuous"})):
        status, answer = ops.request("POST", path, body)
        assert status in (200, 201), answer


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    with demo_exchange("commex-bench-") as exchange:
        list_plain_forward(exchange)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "loadtest.bare_sanic", str(bare_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{bare_port}", bare)
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
            figures = asyncio.run(measure(bare_port, bare.pid, exchange, seconds))
        finally:
            bare.terminate()
            bare.wait()
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
