"""The hot standby (gateway/standby.py): it follows the journal, serves reads, refuses writes
with 503 STANDBY, takes over when the primary is SIGKILLed under load (the failover drill of
loadtest/failover.py, fewer runs here), and refuses to take over when its journal disagrees
with a checkpoint."""

import asyncio
import os
import signal
import time

import asyncpg
import pytest

from gateway.client import Client, WsTrader
from gateway.demo import CF_NEAR
from gateway.process import ServerProcess
from loadtest.failover import TAKEOVER_LIMIT, drill, wait_role


async def ws_order(node: ServerProcess, client_order_id: str) -> tuple[int, dict]:
    """An order over ``/v1/ws``: (status, body) as REST would answer."""
    async with WsTrader.for_member(node.base, node.credentials()["huafang-textile"]) as trader:
        status, body = await trader.new_order(CF_NEAR, "buy", 1, "14950", client_order_id)
    assert status != 503 or body["error"]["code"] == "STANDBY"
    return status, body


def test_standby_serves_reads_refuses_writes_and_follows(database_url, tmp_path) -> None:
    primary = ServerProcess(tmp_path / "var", database_url, name="primary")
    standby = ServerProcess(tmp_path / "var", database_url, standby=True, name="standby")
    primary.cli("demo")
    primary.start()
    standby.start()
    try:
        health = wait_role(standby, "standby")
        assert health["detail"] is None
        trader = primary.client("huafang-textile")
        status, order = trader.place(CF_NEAR, "buy", 2, "14950", "sb-1")
        assert status == 201
        status, body = standby.client("huafang-textile").place(CF_NEAR, "buy", 1, "14950", "sb-2")
        assert (status, body["error"]["code"]) == (503, "STANDBY")
        assert asyncio.run(ws_order(standby, "sb-ws"))[0] == 503  # over the WebSocket too
        target = Client(primary.base).request("GET", "/healthz")[1]["entry_no"]
        deadline = time.monotonic() + 5
        while Client(standby.base).request("GET", "/healthz")[1]["entry_no"] < target and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        live, warm = (Client(n.base).request("GET", "/healthz")[1] for n in (primary, standby))
        assert (warm["entry_no"], warm["state_hash"]) == (live["entry_no"], live["state_hash"])
        status, seen = standby.client("huafang-textile").request("GET", f"/v1/orders/{order['order_id']}")
        assert status == 200 and seen["client_order_id"] == "sb-1"
        assert Client(standby.base).request("GET", f"/v1/book/{CF_NEAR}")[0] in (200, 401)
        metrics = {n: Client(n.base).request("GET", "/metrics")[1] for n in (primary, standby)}
        assert "exchange_primary 1.0" in metrics[primary] and "exchange_primary 0.0" in metrics[standby]
        # a client given both endpoints places through the primary even if it starts at the standby
        both = Client.for_member([standby.base, primary.base], primary.credentials()["huafang-textile"])
        assert both.place(CF_NEAR, "buy", 1, "14950", "sb-3")[0] == 201
        # a clean stop of the primary hands over too
        primary.stop(signal.SIGTERM)
        wait_role(standby, "ok", limit=10)
        assert both.place(CF_NEAR, "buy", 1, "14950", "sb-4")[0] == 201
        assert both.place(CF_NEAR, "buy", 1, "14950", "sb-1")[1]["order_id"] == order["order_id"]
    finally:
        for node in (primary, standby):
            if node.proc is not None:
                node.stop()


def test_failover_drill_under_load(database_url, tmp_path) -> None:
    """Must-show 1 (3 runs here; `python -m loadtest.failover --runs 10` or the slow drill for 10)."""
    takeovers = drill(tmp_path / "var", database_url, runs=3)
    assert max(takeovers) < TAKEOVER_LIMIT, takeovers


DRILLS = pytest.mark.skipif(os.environ.get("COMMEX_DRILLS") != "1", reason="long drill: set COMMEX_DRILLS=1")


@pytest.mark.slow
@pytest.mark.drill
@DRILLS
def test_failover_drill_ten_runs(database_url, tmp_path) -> None:
    takeovers = drill(tmp_path / "var", database_url, runs=10)
    assert max(takeovers) < TAKEOVER_LIMIT, takeovers


def test_standby_refuses_to_take_over_a_journal_that_disagrees_with_its_checkpoint(database_url, tmp_path) -> None:
    """Must-show 5: the checkpoint it passes disagrees with its replay: it says why and stays out."""
    primary = ServerProcess(tmp_path / "var", database_url, name="primary")
    standby = ServerProcess(tmp_path / "var", database_url, standby=True, name="standby")
    primary.cli("demo")
    primary.start()
    try:
        trader = primary.client("huafang-textile")
        assert trader.place(CF_NEAR, "buy", 1, "14950", "bad-1")[0] == 201

        async def corrupt() -> None:
            conn = await asyncpg.connect(database_url)
            await conn.execute("UPDATE batches SET state_hash = 'not-the-hash' WHERE state_hash IS NOT NULL")
            await conn.close()

        asyncio.run(corrupt())
        standby.start()
        probe = Client(standby.base, failover=0.0)
        status, health = probe.request("GET", "/healthz")
        assert (status, health["status"]) == (503, "refused"), health
        assert "not-the-hash" in health["detail"] and "refuses to take over" in health["detail"]
        primary.stop(signal.SIGKILL)
        time.sleep(1.0)
        status, health = probe.request("GET", "/healthz")
        assert (status, health["status"]) == (503, "refused")
        status, body = standby.client("huafang-textile").place(CF_NEAR, "buy", 1, "14950", "bad-2")
        assert (status, body["error"]["code"]) == (503, "STANDBY")
        assert "refuses to take over" in body["error"]["message"]
        assert "refuses to take over" in standby.log.read_text()
    finally:
        for node in (primary, standby):
            if node.proc is not None:
                node.stop()


def test_market_data_from_the_standby_continues_through_the_takeover(database_url, tmp_path) -> None:
    """The standby's feed is warm: a book kept from its /v1/ws equals the primary's REST book,
    and the same connection carries on without a gap after the standby takes over."""
    import json
    import random

    import websockets

    from gateway.feed_client import LocalBook
    from tests.support.ws import until

    primary = ServerProcess(tmp_path / "var", database_url, name="primary")
    standby = ServerProcess(tmp_path / "var", database_url, standby=True, name="standby")
    primary.cli("demo")
    primary.start()
    standby.start()
    members = ["huafang-textile", "luneng-agri"]
    clients = [Client.for_member([primary.base, standby.base], primary.credentials()[m]) for m in members]
    rng = random.Random(17)

    def burst(n: int, tag: str) -> None:
        for i in range(n):
            clients[i % 2].place(CF_NEAR, rng.choice(("buy", "sell")), rng.randint(1, 4),
                                 str(15_000 + 5 * rng.randint(-6, 6)), f"{tag}-{i}")

    def rest_book(node: ServerProcess) -> dict:
        creds = primary.credentials()["huafang-textile"]
        reader = Client(node.base, creds["api_key"], creds["api_secret"], failover=0.0)
        return reader.request("GET", f"/v1/book/{CF_NEAR}?depth=500")[1]

    async def caught_up(ws, local: LocalBook) -> dict:
        """The local book at the seq the standby's REST book shows (the feed's seq is per node)."""
        rest = rest_book(standby)
        async with asyncio.timeout(20):
            while local.seq < rest["seq"]:
                local.on_message(json.loads(await ws.recv()))  # Gap on a missing or repeated delta
        assert local.seq == rest["seq"]
        assert list(local.levels()) == [rest["bids"], rest["asks"]]
        return rest

    async def scenario() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{standby.port}/v1/ws") as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": [f"book.{CF_NEAR}"]}))
            local = LocalBook()
            local.on_message(await until(ws, lambda m: m["type"] == "snapshot"))
            await asyncio.to_thread(burst, 60, "ws-a")
            await asyncio.sleep(1.0)  # the standby follows within its poll, the feed flushes
            rest = await caught_up(ws, local)
            live = rest_book(primary)
            assert (rest["bids"], rest["asks"]) == (live["bids"], live["asks"])  # the standby's book is the primary's
            on_primary = await websockets.connect(f"ws://127.0.0.1:{primary.port}/v1/ws")
            await on_primary.send(json.dumps({"type": "subscribe", "channels": [f"book.{CF_NEAR}"]}))
            await until(on_primary, lambda m: m["type"] == "snapshot")
            primary.stop(signal.SIGKILL)
            with pytest.raises(websockets.ConnectionClosed):  # a client of the dead primary sees it go
                async with asyncio.timeout(10):
                    while True:
                        await on_primary.recv()
            await asyncio.to_thread(wait_role, standby, "ok", 10)
            await asyncio.to_thread(burst, 60, "ws-b")
            await asyncio.sleep(0.5)
            await caught_up(ws, local)  # the same connection, no gap across the takeover
            # the dead primary's client reconnects to the other endpoint and re-snapshots
            async with websockets.connect(f"ws://127.0.0.1:{standby.port}/v1/ws") as again:
                await again.send(json.dumps({"type": "subscribe", "channels": [f"book.{CF_NEAR}"]}))
                fresh = LocalBook()
                fresh.on_message(await until(again, lambda m: m["type"] == "snapshot"))
                rest = rest_book(standby)
                assert fresh.seq == rest["seq"] and list(fresh.levels()) == [rest["bids"], rest["asks"]]

    try:
        asyncio.run(scenario())
    finally:
        for node in (primary, standby):
            if node.proc is not None:
                node.stop()
