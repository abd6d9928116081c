"""The WebSocket feed against a real server: the book rebuilt from snapshot + deltas equals
GET /v1/book at sampled seqs, no gap, no duplicate trade; cancel-on-disconnect; slow
consumers are cut; the private stream rebuilds the member's orders."""

import asyncio
import json
import random

import websockets

from gateway.demo import CF_NEAR
from gateway.feed_client import LocalBook, login_message
from gateway.process import ServerProcess
from tests.support.locust import locust_stats
from tests.support.ws import until

MEMBERS = ["huafang-textile", "luneng-agri", "xinjiang-cotton-group", "sinofert"]


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/ws"


def test_book_from_feed_equals_rest_book(server) -> None:
    clients = [server.client(m) for m in MEMBERS]
    rng = random.Random(6)

    def burst(n: int, start: int) -> None:
        for i in range(start, start + n):
            c = clients[i % len(clients)]
            if rng.random() < 0.15:
                orders = c.request("GET", "/v1/orders?status=open")[1]
                if orders:
                    c.cancel(rng.choice(orders)["order_id"])
                    continue
            c.place(CF_NEAR, rng.choice(("buy", "sell")), rng.randint(1, 6), str(15_000 + 5 * rng.randint(-8, 8)),
                    f"feed-{i}", time_in_force=rng.choice(("GTC", "GTC", "IOC")),
                    display_quantity=rng.choice((0, 0, 2)))

    async def scenario() -> tuple[int, int]:
        async with websockets.connect(ws_url(server)) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": [f"book.{CF_NEAR}", f"trades.{CF_NEAR}"]}))
            local = LocalBook()
            local.on_message(await until(ws, lambda m: m["type"] == "snapshot"))
            trade_ids: list[int] = []
            samples = 0
            for round_no in range(10):
                await asyncio.to_thread(burst, 200, round_no * 200)
                rest = clients[0].request("GET", f"/v1/book/{CF_NEAR}?depth=500")[1]
                while local.seq < rest["seq"]:  # catch up to the sampled seq
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["type"] == "trades":
                        trade_ids += [t["trade_id"] for t in message["trades"]]
                    local.on_message(message)  # raises Gap on a missing or repeated delta
                assert local.seq == rest["seq"]
                bids, asks = local.levels()
                assert (bids, asks) == (rest["bids"], rest["asks"]), f"diverged at seq {rest['seq']}"
                samples += 1
            # drain what is left, then check each trade came once
            try:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    if message["type"] == "trades":
                        trade_ids += [t["trade_id"] for t in message["trades"]]
                    local.on_message(message)
            except TimeoutError:
                pass
            assert len(trade_ids) == len(set(trade_ids)) > 100
            return samples, len(trade_ids)

    samples, trades = asyncio.run(scenario())
    assert samples == 10 and trades > 100


def test_private_stream_rebuilds_the_members_orders(server) -> None:
    creds = server.credentials()["luneng-agri"]
    c = server.client("luneng-agri")
    other = server.client("huafang-textile")

    async def scenario() -> None:
        async with websockets.connect(ws_url(server)) as ws:
            await ws.send(json.dumps(login_message(creds["api_key"], creds["api_secret"])))
            snapshot = await until(ws, lambda m: m["type"] == "orders_snapshot")
            orders = {o["order_id"]: o for o in snapshot["orders"]}
            seq = snapshot["seq"]

            def activity() -> None:
                ids = [c.place(CF_NEAR, "buy", 3, str(14_950 + 5 * i), f"priv-{i}")[1]["order_id"] for i in range(6)]
                c.amend(ids[0], quantity=5)
                c.cancel(ids[1])
                other.place(CF_NEAR, "sell", 4, "14950", "priv-hit")  # fills against our best bids
                c.place(CF_NEAR, "buy", 1, "14950.01", "priv-bad")  # rejected: off the tick

            await asyncio.to_thread(activity)
            rest = {o["order_id"]: o for o in c.request("GET", "/v1/orders?status=all")[1]}
            fills = 0
            async with asyncio.timeout(10):
                while {k: orders.get(k) for k in rest} != rest:
                    message = json.loads(await ws.recv())
                    if message.get("channel") != "orders":
                        continue
                    assert message["seq"] == seq + 1, "private stream gap"
                    seq = message["seq"]
                    if message["type"] == "order" and message["order"]["order_id"] is not None:
                        orders[message["order"]["order_id"]] = message["order"]
                    fills += message["type"] == "fill"
            assert fills >= 1

    asyncio.run(scenario())


def test_cancel_on_disconnect(server) -> None:
    ops = server.client("exchange-ops")
    creds = ops.request("POST", "/v1/admin/members", {"member": "cod-trader", "roles": ["trader"]})[1]
    server.client("clearing-desk").request("POST", "/v1/clearing/deposits",
                                           {"member": "cod-trader", "amount": "100000", "reference": "cod"})
    from gateway.client import Client
    c = Client.for_member(server.base, creds)

    async def scenario() -> None:
        async with websockets.connect(ws_url(server)) as ws:
            await ws.send(json.dumps(login_message(creds["api_key"], creds["api_secret"], cancel_on_disconnect=True)))
            await until(ws, lambda m: m["type"] == "logged_in")
            for i in range(3):
                assert (await asyncio.to_thread(c.place, CF_NEAR, "buy", 1, "14900", f"cod-{i}"))[0] == 201
        for _ in range(50):  # the socket is gone: the exchange cancels
            if not c.request("GET", "/v1/orders?status=open")[1]:
                break
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert c.request("GET", "/v1/orders?status=open")[1] == []
    assert {o["status"] for o in c.request("GET", "/v1/orders?status=all")[1]} == {"CANCELED"}


def test_the_locust_feed_watcher_runs_without_failures(server, tmp_path) -> None:
    """The load testers' feed user (loadtest/locustfile.py ``FeedWatcher``): subscribed, answered."""
    rows = locust_stats(server, tmp_path, "FeedWatcher", users=3, seconds=4)
    assert int(rows["snapshot"]["Request Count"]) >= 3


def test_slow_consumer_is_cut_and_the_exchange_carries_on(database_url, tmp_path) -> None:
    # requests beyond the default rate limit would close the connection with 1008 first
    server = ServerProcess(tmp_path / "var", database_url,
                           env={"COMMEX_WS_SEND_BUFFER": "65536", "COMMEX_WS_RATE": "1e6", "COMMEX_WS_BURST": "1e6"})
    server.cli("demo")
    server.start()
    try:
        trader, seller = server.client("huafang-textile"), server.client("luneng-agri")
        for i in range(125):  # a deep book makes big snapshots; below the demo's ask at 15,030: no trades
            trader.place(CF_NEAR, "buy", 1, str(14_400 + 5 * i), f"deep-{i}")

        async def scenario() -> tuple[int | None, str]:
            async with websockets.connect(ws_url(server), max_queue=1) as healthy, \
                    websockets.connect(ws_url(server), max_queue=1) as slow:
                await healthy.send(json.dumps({"type": "subscribe", "channels": [f"trades.{CF_NEAR}"]}))
                await until(healthy, lambda m: m["type"] == "subscribed")
                for _ in range(3_000):  # ask for snapshots (one per subscription) and never read them
                    await slow.send(json.dumps({"type": "subscribe", "channels": [f"book.{CF_NEAR}"]}))
                    await slow.send(json.dumps({"type": "unsubscribe", "channels": [f"book.{CF_NEAR}"]}))
                await asyncio.sleep(3)  # and read nothing meanwhile: a slow consumer
                status, _ = await asyncio.to_thread(seller.place, CF_NEAR, "sell", 1, "14400", "after-flood")
                assert status == 201  # order entry is not held up by the slow reader
                trades = await until(healthy, lambda m: m["type"] == "trades", timeout=30)
                assert trades["trades"][0]["price"] == "15020.00"  # our sell met the best bid
                try:
                    async with asyncio.timeout(60):  # generous: the machine may be busy with other tests
                        while True:
                            await slow.recv()
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""
                return None, "still open"

        code, reason = asyncio.run(scenario())
        assert code == 4008 and "slow consumer" in reason
    finally:
        server.stop()
