"""End to end through a real ``commex serve`` process and a real PostgreSQL."""

import time

import pytest

from gateway.client import Client

TRADER, OTHER, SUPPLIER, OPS = "huafang-textile", "luneng-agri", "xinjiang-cotton-group", "exchange-ops"


def entry_no(server) -> int:
    return server.client(OPS).request("GET", "/healthz")[1]["entry_no"]


@pytest.fixture(scope="module")
def ops(server) -> Client:
    return server.client(OPS)


@pytest.fixture(scope="module")
def market(server, ops):
    """A fresh instrument per module: tick 5 yuan, ref 15,000, ±4 %, continuous."""
    status, body = ops.request("POST", "/v1/admin/instruments", {
        "symbol": "CFT", "tick": "5", "lot_size": 5000, "ref_price": "15000", "band_bps": 400,
        "max_limit_qty": 100, "max_market_qty": 20, "protection_ticks": 4})
    assert status == 201, body
    assert ops.request("POST", "/v1/admin/instruments/CFT/session", {"state": "continuous"})[0] == 200
    return "CFT"


def test_order_in_ack_match_fills_visible_to_both(server, market) -> None:
    seller, buyer = server.client(SUPPLIER), server.client(TRADER)
    status, ask = seller.place(market, "sell", 10, "15010", "e2e-ask-1", display_quantity=4)
    assert status == 201 and ask["status"] == "NEW" and ask["leaves_qty"] == 10
    status, bid = buyer.place(market, "buy", 6, "15015", "e2e-bid-1")
    assert status == 201, bid
    assert (bid["status"], bid["cum_qty"], bid["leaves_qty"], bid["avg_price"]) == ("FILLED", 6, 0, "15010.00")
    assert [f["quantity"] for f in bid["fills"]] == [4, 2]  # the iceberg's 4 shown lots, then its refill
    status, seen = seller.request("GET", f"/v1/orders/{ask['order_id']}")
    assert (seen["status"], seen["cum_qty"], seen["leaves_qty"]) == ("PARTIALLY_FILLED", 6, 4)
    seller_fills = {f["trade_id"] for f in seller.request("GET", "/v1/fills")[1] if f["order_id"] == ask["order_id"]}
    buyer_fills = {f["trade_id"] for f in buyer.request("GET", "/v1/fills")[1] if f["order_id"] == bid["order_id"]}
    assert seller_fills == buyer_fills and len(seller_fills) == 2
    trades = buyer.request("GET", f"/v1/trades/{market}")[1]
    assert {t["trade_id"] for t in trades} >= buyer_fills
    status, book = buyer.book(market)
    assert book["asks"] == [["15010.00", 2]] and book["seq"] > 0  # 2 left of the refilled slice, 2 hidden
    # clean up for the other tests
    assert seller.cancel(ask["order_id"])[0] == 200


def test_retry_with_same_client_order_id_returns_the_first_answer(server, market) -> None:
    buyer = server.client(TRADER)
    first = buyer.place(market, "buy", 2, "14900", "e2e-retry-1")
    before = entry_no(server)
    again = buyer.place(market, "buy", 7, "14800", "e2e-retry-1")  # even with other content
    assert again == first
    assert entry_no(server) == before
    open_ids = [o["order_id"] for o in buyer.request("GET", "/v1/orders?status=open")[1]
                if o["client_order_id"] == "e2e-retry-1"]
    assert open_ids == [first[1]["order_id"]]
    # a rejected order's retry repeats the rejection
    rejected = buyer.place(market, "buy", 2, "14900.01", "e2e-retry-2")
    assert rejected[0] == 422 and buyer.place(market, "buy", 2, "14900", "e2e-retry-2") == rejected
    buyer.cancel(first[1]["order_id"])


def test_cancel_amend_and_cancel_all(server, market) -> None:
    c = server.client(OTHER)
    _, o = c.place(market, "buy", 10, "14950", "e2e-amend-1")
    status, amended = c.amend(o["order_id"], quantity=8)
    assert status == 200 and amended["quantity"] == 8 and amended["leaves_qty"] == 8
    status, amended = c.amend(o["order_id"], price="14955")
    assert status == 200 and amended["price"] == "14955.00"
    for change, code in (({"quantity": 0}, "INVALID_QUANTITY"), ({"price": "0"}, "INVALID_PRICE")):
        status, body = c.amend(o["order_id"], **change)  # as a new order's: well-formed, against the rules
        assert (status, body["error"]["code"]) == (422, code)
    c.place(market, "buy", 1, "14940", "e2e-amend-2")
    status, body = c.request("POST", "/v1/orders/cancel-all", {"symbol": market})
    assert status == 200 and body["canceled"] == 2
    assert c.request("GET", f"/v1/orders/{o['order_id']}")[1]["status"] == "CANCELED"
    assert c.cancel(o["order_id"])[0] == 409


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"symbol": "NOPE", "price": "15000"}, 404, "UNKNOWN_INSTRUMENT"),
        ({"quantity": 0}, 422, "INVALID_QUANTITY"),
        ({"display_quantity": 9}, 422, "INVALID_QUANTITY"),
        ({"price": "0"}, 422, "INVALID_PRICE"),
        ({"price": "abc"}, 400, "INVALID_PRICE"),
        ({"price": "15000.001"}, 400, "INVALID_PRICE"),
        ({"price": None}, 400, "INVALID_PRICE"),
        ({"price": "15001"}, 422, "BAD_TICK"),
        ({"price": "16000"}, 422, "PRICE_OUT_OF_BAND"),
        ({"quantity": 101}, 422, "MAX_SIZE"),
        ({"time_in_force": "IOC", "display_quantity": 1}, 422, "INVALID_ORDER"),
        ({"side": "sell", "price": "14000", "post_only": True}, 422, "PRICE_OUT_OF_BAND"),
        ({"side": "sell", "price": "14900", "post_only": True}, 422, "POST_ONLY_WOULD_TAKE"),
        ({"side": "sell", "price": "14900", "time_in_force": "FOK", "quantity": 50}, 422, "FOK_NOT_FILLABLE"),
        ({"side": "sell", "price": "14900", "min_quantity": 40, "quantity": 50}, 422, "MIN_QTY_NOT_MET"),
        ({"side": "buy", "type": "market", "time_in_force": "IOC", "price": None}, 422, "NO_LIQUIDITY"),
        ({"bogus": 1}, 400, "INVALID_REQUEST"),
        ({"side": "hold"}, 400, "INVALID_REQUEST"),
    ],
)
def test_every_order_rejection_is_reachable_and_changes_nothing(server, market, body, status, code) -> None:
    buyer, seller = server.client(TRADER), server.client(OTHER)
    # one resting bid for the sell-side checks, placed once (idempotent by client id)
    buyer.place(market, "buy", 3, "14990", "e2e-resting-bid")
    order = {"symbol": market, "side": "buy", "quantity": 5, "price": "14990",
             "client_order_id": f"rej-{code}-{time.time_ns()}"}
    order.update(body)
    order = {k: v for k, v in order.items() if v is not None}
    before = entry_no(server), seller.request("GET", "/v1/orders?status=all")[1]
    got = seller.request("POST", "/v1/orders", order)
    assert got[0] == status and got[1]["error"]["code"] == code, got
    after_orders = seller.request("GET", "/v1/orders?status=all")[1]
    assert after_orders == before[1]
    assert entry_no(server) - before[0] <= 1  # at most the rejected command's own journal entry


def test_session_rejections(server, ops) -> None:
    ops.request("POST", "/v1/admin/instruments", {"symbol": "SES", "tick": "1", "lot_size": 20000,
                                                   "ref_price": "2000", "band_bps": 400})
    t = server.client(TRADER)
    assert t.place("SES", "buy", 1, "2000", "ses-1")[1]["error"]["code"] == "SESSION_CLOSED"
    assert ops.request("POST", "/v1/admin/instruments/SES/session", {"state": "halted"})[1]["error"]["code"] == \
        "INVALID_SESSION_TRANSITION"
    ops.request("POST", "/v1/admin/instruments/SES/session", {"state": "pre_open"})
    assert t.place("SES", "buy", 1, "2000", "ses-2", time_in_force="IOC")[1]["error"]["code"] == \
        "NOT_ALLOWED_IN_AUCTION"
    ops.request("POST", "/v1/admin/instruments/SES/session", {"state": "halted"})
    assert t.place("SES", "buy", 1, "2000", "ses-3")[1]["error"]["code"] == "SESSION_HALTED"
    status, body = ops.request("POST", "/v1/admin/instruments", {"symbol": "SES", "tick": "1", "lot_size": 20000,
                                                                 "ref_price": "2000"})
    assert (status, body["error"]["code"]) == (409, "DUPLICATE_INSTRUMENT")
    status, body = ops.request("POST", "/v1/admin/instruments", {"symbol": "BAD", "tick": "3", "lot_size": 1,
                                                                 "ref_price": "2000"})
    assert (status, body["error"]["code"]) == (422, "INVALID_INSTRUMENT")


def test_amend_rejections(server, market) -> None:
    c = server.client(TRADER)
    c.request("POST", "/v1/orders/cancel-all", {"symbol": market})  # no better bid in the way
    _, o = c.place(market, "buy", 4, "14960", "e2e-amend-rej")
    assert c.amend(o["order_id"], price="14960")[1]["error"]["code"] == "NO_CHANGE"
    seller = server.client(SUPPLIER)
    seller.place(market, "sell", 2, "14960", "e2e-amend-rej-fill")  # fills 2 of the 4
    assert c.amend(o["order_id"], quantity=2)[1]["error"]["code"] == "AMEND_QTY_TOO_LOW"
    assert c.amend(o["order_id"], quantity=3)[0] == 200  # leaves 1
    c.cancel(o["order_id"])


def test_auth_failures_change_nothing(server, market) -> None:
    creds = server.credentials()[TRADER]
    body = {"symbol": market, "side": "buy", "quantity": 1, "price": "14900", "client_order_id": "auth-x"}
    good = Client.for_member(server.base, creds)
    before = entry_no(server)

    bad_sig = Client(server.base, creds["api_key"], "0" * 64)
    assert bad_sig.request("POST", "/v1/orders", body)[1]["error"]["code"] == "BAD_SIGNATURE"
    stale = good.headers("POST", "/v1/orders", b"{}", timestamp_ms=time.time_ns() // 1_000_000 - 60_000)
    status, answer = good.request("POST", "/v1/orders", headers=stale, raw=b"{}")
    assert (status, answer["error"]["code"]) == (401, "STALE_TIMESTAMP")
    assert Client(server.base).request("GET", "/v1/fills")[0] == 401
    unknown = Client(server.base, "ck_nobody", "x")
    assert unknown.request("GET", "/v1/fills")[1]["error"]["code"] == "UNKNOWN_API_KEY"
    # signature covers the body: a tampered body fails
    signed = good.headers("POST", "/v1/orders", b'{"a":1}')
    assert good.request("POST", "/v1/orders", headers=signed, raw=b'{"a":2}')[0] == 401
    # wrong role
    lender = server.client("agri-bank")
    status, answer = lender.request("POST", "/v1/orders", body)
    assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")
    assert good.request("POST", "/v1/admin/members", {"member": "x", "roles": ["trader"]})[0] == 403
    assert entry_no(server) == before
    # another member's order looks absent
    _, mine = good.place(market, "buy", 1, "14900", "auth-mine")
    other = server.client(OTHER)
    assert other.request("GET", f"/v1/orders/{mine['order_id']}")[0] == 404
    after = entry_no(server)
    assert other.cancel(mine["order_id"])[0] == 404
    assert other.amend(mine["order_id"], quantity=3)[0] == 404
    assert entry_no(server) == after
    assert good.request("GET", f"/v1/orders/{mine['order_id']}")[1]["status"] == "NEW"
    good.cancel(mine["order_id"])


def test_rate_limit_answers_429_with_retry_after(database_url, tmp_path) -> None:
    from gateway.process import ServerProcess

    small = ServerProcess(tmp_path / "var", database_url, rate=5, burst=10)
    small.cli("demo")
    small.start()
    try:
        bot = small.client(TRADER)
        statuses = [bot.request("GET", "/v1/instruments")[0] for _ in range(15)]
        assert statuses[:10] == [200] * 10 and 429 in statuses[10:]
        assert int(bot.last_headers["retry-after"]) >= 1
        status, body = bot.request("GET", "/v1/instruments")
        assert (status, body["error"]["code"]) == (429, "RATE_LIMITED")
        time.sleep(1.0)
        assert bot.request("GET", "/v1/instruments")[0] == 200  # refilled
    finally:
        small.stop()


def test_health_metrics_and_openapi_are_public(server) -> None:
    anon = Client(server.base)
    assert anon.request("GET", "/healthz")[0] == 200
    status, text = anon.request("GET", "/metrics")
    assert status == 200
    for name in ("exchange_orders_total", "exchange_trades_total", "exchange_match_latency_seconds",
                 "exchange_journal_commit_seconds", "exchange_sequencer_queue_length", "exchange_book_depth"):
        assert name in text
    status, doc = anon.request("GET", "/openapi.json")
    assert status == 200 and "/v1/orders" in doc["paths"] and "OrderRequest" in doc["components"]["schemas"]
    assert anon.request("GET", "/docs")[0] == 200


def test_every_route_is_in_the_openapi_document() -> None:
    import re
    from pathlib import Path

    from gateway.app import create_app
    from gateway.openapi import NOT_OPERATIONS, openapi_document

    app = create_app(Path("/nonexistent"), name="routes_probe")
    documented = {(m.upper(), p) for p, ops in openapi_document()["paths"].items() for m in ops}
    served = {(m, re.sub(r"<([a-z_]+)(:[a-z]+)?>", r"{\1}", "/" + r.path.lstrip("/")))
              for r in app.router.routes for m in r.methods if m not in ("HEAD", "OPTIONS")}
    missing = {(m, p) for m, p in served - documented if p not in NOT_OPERATIONS}
    assert not missing, sorted(missing)
