"""SIGKILL under concurrent order load: after restart every acknowledged order is there as
acknowledged (or further along), nothing is half-applied, the state hash equals an offline
replay of the journal, and the SQL projections have caught up with the journal and equal what
it projects."""

import asyncio
import json
import random
import signal
import threading
import time

import asyncpg

from gateway.demo import CF_NEAR
from gateway.process import ServerProcess
from gateway.projection_check import projections_disagree

MEMBERS = ["huafang-textile", "luneng-agri", "xinjiang-cotton-group", "sinofert"]
TERMINAL = {"FILLED", "CANCELED", "EXPIRED"}
SPOT = {"xinjiang-cotton-group": ("CF", 15_000, 5), "sinofert": ("UR", 2_000, 1)}


def load(server: ServerProcess, member: str, worker: int, acked: dict, stop: threading.Event) -> None:
    client = server.client(member)
    rng = random.Random(worker)
    mine: list[int] = []
    i = 0
    while not stop.is_set():
        try:
            if mine and rng.random() < 0.2:
                order_id = mine.pop(rng.randrange(len(mine)))
                status, body = client.cancel(order_id)
                if status == 200:
                    acked[body["client_order_id"]] = (member, body, "canceled")
                continue
            coid = f"crash-{worker}-{i}"
            i += 1
            if rng.random() < 0.3:  # spot: suppliers sell their receipts, traders buy them (DvP)
                symbol, ref, tick = SPOT[member] if member in SPOT else rng.choice(list(SPOT.values()))
                side = "sell" if member in SPOT else "buy"
                status, body = client.place(symbol, side, rng.randint(1, 2), str(ref + tick * rng.randint(-3, 3)),
                                            coid)
            else:
                side = rng.choice(("buy", "sell"))
                price = 15_000 + 5 * rng.randint(-6, 6)
                status, body = client.place(CF_NEAR, side, rng.randint(1, 5), str(price), coid)
        except OSError:
            return  # the server is gone
        if status == 201:
            acked[coid] = (member, body, "placed")
            if body["status"] in ("NEW", "PARTIALLY_FILLED"):
                mine.append(body["order_id"])


def test_sigkill_under_load_loses_nothing_acknowledged(database_url, tmp_path) -> None:
    server = ServerProcess(tmp_path / "var", database_url)
    server.cli("demo")
    server.start()
    acked: dict[str, tuple] = {}
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(server, MEMBERS[w % 4], w, acked, stop)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 300 and time.monotonic() < deadline:  # however loaded the machine is
        time.sleep(0.1)
    server.stop(signal.SIGKILL)  # mid-load: some requests are in flight
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) > 200, "the load did not get going"

    replay = json.loads(server.cli("replay"))
    assert replay["match"], replay
    lag = asyncio.run(projection_lag(database_url))  # what the projector had not written when killed

    server.start()
    assert asyncio.run(projection_lag(database_url)) == 0, f"recovery should catch up the {lag} entries behind"
    try:
        clients = {m: server.client(m) for m in MEMBERS}
        health = clients[MEMBERS[0]].request("GET", "/healthz")[1]
        assert health["state_hash"] == replay["state_hash"]
        for coid, (member, body, what) in acked.items():
            status, now = clients[member].request("GET", f"/v1/orders/{body['order_id']}")
            assert status == 200, (coid, now)
            assert now["client_order_id"] == body["client_order_id"]
            if what == "canceled":
                assert now["status"] == "CANCELED"
            elif body["status"] in TERMINAL:
                assert (now["status"], now["cum_qty"]) == (body["status"], body["cum_qty"])
            else:
                assert now["cum_qty"] >= body["cum_qty"]
        # clearing survived the crash: ledger, holds and receipt owners reconcile
        status, report = server.client("clearing-desk").request("GET", "/v1/clearing/reconcile")
        assert status == 200 and report["clean"], report["breaks"]
        assert "receipt_owner_matches_history" in report["checks"]
        # a retry after the restart still returns the first answer
        coid, (member, body, what) = next((k, v) for k, v in acked.items() if v[2] == "placed")
        status, again = clients[member].place(CF_NEAR, "buy", 1, "15000", coid)
        assert again["order_id"] == body["order_id"]
    finally:
        server.stop()

    async def tables_agree() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            traded = await conn.fetchval("SELECT coalesce(sum(quantity), 0) FROM trades")
            filled = await conn.fetchval("SELECT coalesce(sum(cum_qty), 0) FROM orders")
            assert filled == 2 * traded, "an order row and its trades disagree"
            gaps = await conn.fetchval("SELECT max(entry_no) - count(*) FROM journal")
            assert gaps == 0, "the journal has a gap"
            delivered = await conn.fetchval("SELECT count(*) FROM receipt_events WHERE action = 'deliver'")
            assert delivered > 0, "no spot trade happened under load"
            owners = await conn.fetchval("SELECT count(*) FROM (SELECT receipt_id FROM receipts GROUP BY receipt_id "
                                         "HAVING count(DISTINCT owner) > 1) x")
            assert owners == 0
            orphans = await conn.fetchval(
                "SELECT count(*) FROM trades t"
                " WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = t.buy_order_id)"
                " OR NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = t.sell_order_id)")
            assert orphans == 0
            assert await projections_disagree(conn) == []  # orders, trades, transfers, receipts, accounts
        finally:
            await conn.close()

    asyncio.run(tables_agree())


async def projection_lag(url: str) -> int:
    """Journal entries the projections have not reached."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT (SELECT coalesce(max(entry_no), 0) FROM journal) - entry_no "
                                   "FROM projection_watermark")
    finally:
        await conn.close()


def test_sigterm_drains_and_checkpoints(database_url, tmp_path) -> None:
    server = ServerProcess(tmp_path / "var", database_url)
    server.cli("demo")
    server.start()
    trader = server.client("huafang-textile")
    for i in range(20):
        assert trader.place("CF", "buy", 1, str(14_900 + 5 * (i % 5)), f"term-{i}")[0] == 201
    live = trader.request("GET", "/healthz")[1]["state_hash"]
    assert server.stop(signal.SIGTERM) == 0
    replay = json.loads(server.cli("replay"))
    assert replay["match"] and replay["state_hash"] == replay["checkpoint_state_hash"] == live


def test_recovery_refuses_a_journal_that_does_not_match_its_checkpoint(database_url) -> None:
    from engine import AddInstrument
    from exchange.journal import Entry
    from gateway.sequencer import Exchange, RecoveryError

    async def scenario() -> None:
        ex = await Exchange.open(database_url)
        await ex.submit(Entry(AddInstrument(symbol="CF", tick=500, lot_size=5_000, ref_price=1_500_000)))
        await ex.close()
        conn = await asyncpg.connect(database_url)
        await conn.execute("UPDATE batches SET state_hash = 'not-the-hash' WHERE state_hash IS NOT NULL")
        await conn.close()
        try:
            await Exchange.open(database_url)
        except RecoveryError:
            return
        raise AssertionError("recovery accepted a journal that disagrees with its checkpoint")

    asyncio.run(scenario())
