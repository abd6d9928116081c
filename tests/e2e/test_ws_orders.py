"""Order entry over ``/v1/ws`` against a real server and PostgreSQL: new, cancel, amend and
cancel-all round trips answered as REST answers them; a repeated client_order_id or
idempotency key returns the first answer; validation errors with their codes; refusal before a
login; the key's rate limit (shared with REST) answered 429; pipelined answers matched by
request_id; an order acknowledged over the WebSocket survives a SIGKILL."""

import asyncio
import json
import signal
import uuid

import pytest
import websockets

from gateway.client import WsTrader
from gateway.demo import CF_FAR, CF_NEAR
from gateway.feed_client import login_message
from gateway.process import ServerProcess
from tests.conftest import fresh_database
from tests.support.locust import locust_stats
from tests.support.polling import wait_for
from tests.support.ws import until

TRADER = "huafang-textile"


def ws_url(server: ServerProcess) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/ws"


def trader(server: ServerProcess, member: str = TRADER) -> WsTrader:
    return WsTrader.for_member(server.base, server.credentials()[member])


def coid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def same_order(ws_body: dict, rest_body: dict) -> None:
    """The two answers differ only in the order's identity and engine sequence."""
    assert ws_body.keys() == rest_body.keys()
    different = {"order_id", "client_order_id", "seq"}
    assert {k: v for k, v in ws_body.items() if k not in different} == \
        {k: v for k, v in rest_body.items() if k not in different}


def test_new_cancel_amend_and_cancel_all_answer_as_rest_does(server) -> None:
    rest = server.client(TRADER)

    async def scenario() -> dict:
        async with trader(server) as t:
            new = await t.new_order(CF_NEAR, "buy", 2, "14800", coid("ws-new"))
            amended = await t.amend(new[1]["order_id"], price="14795", quantity=1)
            canceled = await t.cancel(new[1]["order_id"])
            again = await t.cancel(new[1]["order_id"])
            await t.new_order(CF_NEAR, "buy", 1, "14790", coid("ws-all"))
            await t.new_order(CF_FAR, "buy", 1, "14790", coid("ws-all"))
            one_symbol = await t.cancel_all(CF_FAR)
            everything = await t.cancel_all()
            return {"new": new, "amended": amended, "canceled": canceled, "again": again,
                    "one_symbol": one_symbol, "everything": everything}

    got = asyncio.run(scenario())
    status, body = got["new"]
    assert status == 201 and body["status"] == "NEW" and body["leaves_qty"] == 2
    rest_new = rest.place(CF_NEAR, "buy", 2, "14800", coid("rest-new"))
    assert rest_new[0] == 201
    same_order(body, rest_new[1])
    assert rest.request("GET", f"/v1/orders/{body['order_id']}")[1]["status"] == "CANCELED"

    assert got["amended"][0] == 200 and got["amended"][1]["price"] == "14795.00" and got["amended"][1]["quantity"] == 1
    rest_amended = rest.amend(rest_new[1]["order_id"], price="14795", quantity=1)
    same_order(got["amended"][1], rest_amended[1])

    assert got["canceled"][0] == 200 and got["canceled"][1]["status"] == "CANCELED"
    rest_canceled = rest.cancel(rest_new[1]["order_id"])
    same_order(got["canceled"][1], rest_canceled[1])
    assert got["again"] == \
        (409, {"error": {"code": "ORDER_NOT_OPEN", "message": f"order {body['order_id']} is CANCELED"}})
    assert rest.cancel(rest_new[1]["order_id"]) == \
        (409, {"error": {"code": "ORDER_NOT_OPEN", "message": f"order {rest_new[1]['order_id']} is CANCELED"}})

    assert got["one_symbol"][0] == 200 and got["one_symbol"][1]["canceled"] == 1
    assert got["everything"][0] == 200 and got["everything"][1]["canceled"] >= 1
    assert set(got["everything"][1]) == {"canceled", "seq"}


def test_a_repeated_client_order_id_or_idempotency_key_gets_the_first_answer(server) -> None:
    order_id = coid("ws-dup")
    key = uuid.uuid4().hex

    async def scenario():
        async with trader(server) as t:
            first = await t.new_order(CF_NEAR, "sell", 1, "15400", order_id)
            twice = await asyncio.gather(t.new_order(CF_NEAR, "sell", 1, "15400", order_id),
                                         t.new_order(CF_NEAR, "sell", 1, "15400", order_id))
            cancel = await t.cancel(first[1]["order_id"], idempotency_key=key)
        async with trader(server) as t:  # a retry on a new connection, as after a drop
            retried = await t.cancel(first[1]["order_id"], idempotency_key=key)
            other = await t.amend(first[1]["order_id"], price="15405", idempotency_key=key)
        return first, twice, cancel, retried, other

    first, twice, cancel, retried, other = asyncio.run(scenario())
    assert first[0] == 201
    assert all(a == (201, first[1]) for a in twice)
    assert cancel[0] == 200 and cancel[1]["status"] == "CANCELED"
    assert retried == cancel  # the first answer, not 409 ORDER_NOT_OPEN
    assert other[0] == 409 and other[1]["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    orders = server.client(TRADER).request("GET", "/v1/orders?status=all")[1]
    assert [o["order_id"] for o in orders if o["client_order_id"] == order_id] == [first[1]["order_id"]]


def test_invalid_orders_are_answered_with_the_rest_codes_and_change_nothing(server) -> None:
    rest = server.client(TRADER)
    before = rest.request("GET", "/v1/accounts/me")[1]
    cases = [
        ({"symbol": CF_NEAR, "side": "buy", "quantity": 1, "client_order_id": "x", "price": "1e5"}, "INVALID_PRICE"),
        ({"symbol": CF_NEAR, "side": "up", "quantity": 1, "client_order_id": "x", "price": "1"}, "INVALID_REQUEST"),
        ({"symbol": CF_NEAR, "side": "buy", "quantity": 1, "client_order_id": "x", "price": "1", "extra": 1},
         "INVALID_REQUEST"),
        ({"symbol": "NOPE", "side": "buy", "quantity": 1, "client_order_id": coid("x"), "price": "15000"},
         "UNKNOWN_INSTRUMENT"),
    ]

    async def scenario():
        async with trader(server) as t:
            answers = [await t.send("order.new", body=body) for body, _ in cases]
            amend_nothing = await t.amend(1)
            unknown = await t.cancel(10**15)
            below = [await t.cancel(order_id) for order_id in (0, -1)]  # 404 as REST's path, not a malformed message
            return answers, amend_nothing, unknown, below

    answers, amend_nothing, unknown, below = asyncio.run(scenario())
    for (body, code), (status, answer) in zip(cases, answers, strict=True):
        assert answer["error"]["code"] == code
        rest_status, rest_answer = rest.request("POST", "/v1/orders", body)
        assert (status, answer["error"]["code"]) == (rest_status, rest_answer["error"]["code"])
    assert amend_nothing[0] == 400 and amend_nothing[1]["error"]["code"] == "INVALID_REQUEST"
    assert unknown == (404, {"error": {"code": "ORDER_NOT_FOUND", "message": f"no order {10**15}"}})
    for order_id, answer in zip((0, -1), below, strict=True):
        assert answer == rest.request("DELETE", f"/v1/orders/{order_id}") == \
            (404, {"error": {"code": "ORDER_NOT_FOUND", "message": f"no order {order_id}"}})
    assert rest.request("GET", "/v1/accounts/me")[1] == before


def test_a_key_without_a_trading_role_is_refused_as_over_rest(server) -> None:
    async def scenario():
        async with trader(server, "agri-bank") as t:
            return await t.new_order(CF_NEAR, "buy", 1, "15000", coid("lender")), await t.cancel_all()

    new, cancel_all = asyncio.run(scenario())
    rest = server.client("agri-bank").place(CF_NEAR, "buy", 1, "15000", coid("lender"))
    assert new == cancel_all == rest == (403, {"error": {"code": "FORBIDDEN", "message": rest[1]["error"]["message"]}})


def test_hostile_messages_are_answered_with_codes_and_the_connection_kept(server) -> None:
    async def scenario() -> list[dict]:
        async with websockets.connect(ws_url(server)) as ws:
            async def answer(text: str) -> dict:
                await ws.send(text)
                return await until(ws, lambda m: m["type"] in ("answer", "error", "pong"))

            got = [await answer(json.dumps({"type": "order.new", "request_id": "r0",
                                            "body": {"symbol": CF_NEAR, "side": "buy", "quantity": 1,
                                                     "client_order_id": "early", "price": "15000"}})),
                   await answer(json.dumps({"type": "order.cancel", "request_id": 5, "order_id": 1}))]
            await ws.send(json.dumps(login_message(**{k: server.credentials()[TRADER][k]
                                                     for k in ("api_key", "api_secret")})))
            await until(ws, lambda m: m["type"] == "logged_in")
            got += [await answer('{"type": "order.new", "request_id": "r1", "body": {'),
                    await answer(json.dumps({"type": "order.cancel", "request_id": "r2", "order_id": "one"})),
                    await answer(json.dumps({"type": "order.amend", "request_id": "r3", "order_id": 1})),
                    await answer(json.dumps({"type": "order.nuke", "request_id": "r4"})),
                    await answer(json.dumps({"type": "order.cancel", "request_id": "r5", "order_id": 1,
                                             "idempotency_key": "has space"})),
                    await answer(json.dumps({"type": "ping", "id": 7}))]
            return got

    early_new, early_cancel, broken, wrong_type, no_body, unknown, bad_key, pong = asyncio.run(scenario())
    assert early_new == {"type": "answer", "request_id": "r0", "status": 401, "body": {"error": {
        "code": "NOT_LOGGED_IN", "message": early_new["body"]["error"]["message"]}}}
    assert early_cancel["request_id"] == 5 and early_cancel["status"] == 401
    assert broken["type"] == "error" and broken["code"] == "MALFORMED_MESSAGE" and "request_id" not in broken
    assert (wrong_type["code"], wrong_type["request_id"]) == ("MALFORMED_MESSAGE", "r2")
    assert (no_body["code"], no_body["request_id"]) == ("MALFORMED_MESSAGE", "r3")
    assert (unknown["code"], unknown["request_id"]) == ("UNKNOWN_TYPE", "r4")  # matched by its request id
    assert (bad_key["code"], bad_key["request_id"]) == ("MALFORMED_MESSAGE", "r5")
    assert pong == {"type": "pong", "id": 7}
    orders = server.client(TRADER).request("GET", "/v1/orders?status=all")[1]
    assert "early" not in {o["client_order_id"] for o in orders}


def test_an_oversized_order_message_closes_the_connection_with_1009_and_places_nothing(server) -> None:
    client_order_id = coid("big")

    async def scenario() -> int | None:
        async with websockets.connect(ws_url(server), max_size=None) as ws:
            await ws.send(json.dumps(login_message(**{k: server.credentials()[TRADER][k]
                                                     for k in ("api_key", "api_secret")})))
            await until(ws, lambda m: m["type"] == "logged_in")
            await ws.send(json.dumps({"type": "order.new", "request_id": 1, "body": {
                "symbol": "CF", "side": "sell", "quantity": 1, "price": "15000", "client_order_id": client_order_id,
                "receipt_ids": [f"WR{i:08d}" for i in range(1_000)]}}))
            try:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    assert asyncio.run(scenario()) == 1009
    orders = server.client(TRADER).request("GET", "/v1/orders?status=all")[1]
    assert client_order_id not in {o["client_order_id"] for o in orders}


def test_pipelined_answers_arrive_out_of_order_and_match_by_request_id(server) -> None:
    """A window of orders on one connection; cancels of resting orders are sent in the same
    window as new orders, and every answer finds its request by request_id."""
    async def scenario():
        async with websockets.connect(ws_url(server), max_queue=None) as ws:
            await ws.send(json.dumps(login_message(**{k: server.credentials()["luneng-agri"][k]
                                                     for k in ("api_key", "api_secret")})))
            await until(ws, lambda m: m["type"] == "logged_in")
            ids = [coid(f"pipe{i}") for i in range(60)]
            for i, client_order_id in enumerate(ids):  # one write: all 60 in flight at once
                await ws.send(json.dumps({"type": "order.new", "request_id": f"n{i}", "body": {
                    "symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": "14700",
                    "client_order_id": client_order_id}}))
            for i in range(60):  # cancels of orders that do not exist yet or just did: 404 or 200
                await ws.send(json.dumps({"type": "order.cancel", "request_id": f"c{i}", "order_id": i}))
            answers = {}
            async with asyncio.timeout(30):
                while len(answers) < 120:
                    m = json.loads(await ws.recv())
                    if m["type"] == "answer":
                        answers[m["request_id"]] = m
            return ids, answers

    ids, answers = asyncio.run(scenario())
    for i, client_order_id in enumerate(ids):
        assert answers[f"n{i}"]["status"] == 201 and answers[f"n{i}"]["body"]["client_order_id"] == client_order_id
    order = list(answers)
    assert order != sorted(order, key=lambda r: (r[0] != "n", int(r[1:])))  # not strictly in sending order
    assert all(answers[f"c{i}"]["status"] in (200, 404, 409) for i in range(60))


def test_a_client_that_closes_with_orders_in_flight_gets_them_placed_and_the_server_logs_no_error(server) -> None:
    """Found by a review: answers committed after the close handshake were written after our
    end of the stream (``Cannot call write() after write_eof()``, logged as an error)."""
    logged = server.log.stat().st_size
    ids = [[coid(f"gone{round_}-{i}") for i in range(30)] for round_ in range(3)]

    async def scenario() -> None:
        for batch in ids:
            async with websockets.connect(ws_url(server)) as ws:
                await ws.send(json.dumps(login_message(**{k: server.credentials()[TRADER][k]
                                                         for k in ("api_key", "api_secret")})))
                await until(ws, lambda m: m["type"] == "logged_in")
                for i, client_order_id in enumerate(batch):
                    await ws.send(json.dumps({"type": "order.new", "request_id": i, "body": {
                        "symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": "14600",
                        "client_order_id": client_order_id}}))
            # closed at once: the orders are still being committed

    asyncio.run(scenario())
    client = server.client(TRADER)
    sent = {c for batch in ids for c in batch}
    placed = wait_for(lambda: {o["client_order_id"] for o in client.request("GET", "/v1/orders?status=all")[1]},
                      lambda seen: sent <= seen, timeout=10, every=0.05)  # the last round's may still be queued
    assert client.request("POST", "/v1/orders/cancel-all", {})[0] == 200
    assert sent <= placed, (len(sent & placed), len(placed))  # each placed: its message was read before the close
    with open(server.log, "rb") as log:
        log.seek(logged)
        tail = log.read().decode(errors="replace")
    assert "write_eof" not in tail and "Traceback" not in tail, tail[-3000:]


def test_the_locust_websocket_order_trader_runs_without_failures(server, tmp_path) -> None:
    rows = locust_stats(server, tmp_path, "WsOrderTrader", users=4, seconds=8)
    assert int(rows["order.new"]["Request Count"]) > 40
    assert int(rows["order.cancel"]["Request Count"]) + int(rows["order.amend"]["Request Count"]) > 0


# ------------------------------------------------------------------ a server with a small rate limit

@pytest.fixture(scope="module")
def slow_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A server whose keys may send 5 requests a second, in bursts of 10."""
    databases = fresh_database(pg_url)
    proc = ServerProcess(tmp_path_factory.mktemp("slow"), next(databases), rate=5, burst=10)
    proc.cli("demo")
    proc.start()
    yield proc
    if proc.proc is not None:
        proc.stop()
    next(databases, None)


def test_orders_beyond_the_keys_rate_are_answered_429_and_the_connection_kept(slow_server) -> None:
    async def scenario():
        async with trader(slow_server) as t:
            answers = await asyncio.gather(*(t.new_order(CF_NEAR, "buy", 1, "14600", coid("rl")) for _ in range(30)))
            await asyncio.sleep(1.5)
            later = await t.new_order(CF_NEAR, "buy", 1, "14600", coid("rl"))
            return answers, later

    answers, later = asyncio.run(scenario())
    statuses = [s for s, _ in answers]
    assert 8 <= statuses.count(201) <= 12 and statuses.count(429) == 30 - statuses.count(201)
    limited = next(b for s, b in answers if s == 429)
    assert limited == {"error": {"code": "RATE_LIMITED", "message": "too many requests"}}
    assert later[0] == 201  # the bucket refilled; the connection was kept
    placed = slow_server.client(TRADER).request("GET", "/v1/orders?status=all")[1]
    assert sum(o["client_order_id"].startswith("rl-") for o in placed) == statuses.count(201) + 1


def test_an_order_acknowledged_over_the_websocket_survives_sigkill(slow_server) -> None:
    async def scenario() -> list[dict]:
        async with trader(slow_server) as t:
            answers = await asyncio.gather(*(t.new_order(CF_NEAR, "sell", 1, "15500", coid("kill")) for _ in range(5)))
        return [body for status, body in answers if status == 201]

    acked = asyncio.run(scenario())
    assert acked
    slow_server.stop(signal.SIGKILL)
    slow_server.start()
    rest = slow_server.client(TRADER)
    for order in acked:
        assert rest.request("GET", f"/v1/orders/{order['order_id']}")[1]["client_order_id"] == order["client_order_id"]
