"""Market-data delivery to many subscribers while orders flow.

``python -m loadtest.bench_feed`` starts a real exchange, measures signed order entry with no
subscribers, then again while 200 WebSocket clients (in a separate process) follow
``book``, ``trades`` and ``ticker`` of the traded instrument. Delivery latency is the client's
receive time minus the message's ``ts`` (the commit time of the oldest change it carries),
so it includes the publisher's conflation wait. Prints one JSON line.
"""

import asyncio
import json
import subprocess
import sys
import time

import msgspec

from gateway.demo import CF_NEAR
from loadtest.bench_gateway import CONNECTIONS, demo_exchange, order_requests
from loadtest.httpload import closed_loop, quantile_ms
from loadtest.wsreader import open_feed

SUBSCRIBERS = 200
CHANNELS = [f"book.{CF_NEAR}", f"trades.{CF_NEAR}", f"ticker.{CF_NEAR}"]


class Stamp(msgspec.Struct):
    type: str = ""
    ts: float = 0.0


async def subscribe_and_listen(port: int, clients: int, seconds: float) -> dict:
    """Run ``clients`` subscribers for ``seconds``; return message count and latency figures."""
    latencies: list[float] = []
    decode = msgspec.json.Decoder(Stamp).decode
    request = json.dumps({"type": "subscribe", "channels": CHANNELS}).encode()

    def on_text(payload: bytes) -> None:
        now = time.time()
        stamp = decode(payload)
        if stamp.type in ("delta", "trades", "ticker"):
            latencies.append(now - stamp.ts)

    readers = [await open_feed("127.0.0.1", port, "/v1/ws", on_text) for _ in range(clients)]
    for reader in readers:
        reader.send_text(request)
    await asyncio.sleep(0.5)
    latencies.clear()  # count from here: snapshots and warm-up are not delivery
    print("READY", flush=True)
    await asyncio.sleep(seconds)
    for reader in readers:
        reader.transport.close()
    return {"messages": len(latencies), "p50_delivery_ms": round(quantile_ms(latencies, 0.5), 2),
            "p99_delivery_ms": round(quantile_ms(latencies, 0.99), 2)}


def child(argv: list[str]) -> int:
    port, clients, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(subscribe_and_listen(port, clients, seconds))), flush=True)
    return 0


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    # all subscribers connect from 127.0.0.1
    with demo_exchange("commex-feed-", env={"COMMEX_WS_ANONYMOUS_PER_ADDRESS": str(SUBSCRIBERS)}) as exchange:
        make = order_requests(exchange.credentials(), seed=3)
        asyncio.run(closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, 1.0))  # warm up
        alone = asyncio.run(closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, seconds))
        listeners = subprocess.Popen(
            [sys.executable, "-m", "loadtest.bench_feed", "--child", str(exchange.port), str(SUBSCRIBERS),
             str(seconds)], stdout=subprocess.PIPE, text=True)
        assert listeners.stdout.readline().strip() == "READY"
        watched = asyncio.run(closed_loop("127.0.0.1", exchange.port, make, CONNECTIONS, seconds))
        feed = json.loads(listeners.communicate(timeout=120)[0].strip().splitlines()[-1])
    print(json.dumps({
        "clients": SUBSCRIBERS,
        "messages_per_s": round(feed["messages"] / seconds),
        "p50_delivery_ms": feed["p50_delivery_ms"],
        "p99_delivery_ms": feed["p99_delivery_ms"],
        "orders_per_s_without_subscribers": round(alone.rate),
        "orders_per_s_with_subscribers": round(watched.rate),
        "order_entry_ratio": round(watched.rate / alone.rate, 3),
    }), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
