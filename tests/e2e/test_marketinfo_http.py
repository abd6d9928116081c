"""The public market information routes (candles, daily statistics, the market report) over HTTP,
against a real server and PostgreSQL seeded with the demo today: it lists today's forward months
and trades the near one."""

from gateway.client import Client
from gateway.demo import CF_FAR, CF_NEAR, TODAY, UR_NEAR, forward_months


def test_the_demo_lists_todays_forward_months(server) -> None:
    trader = server.client("huafang-textile")
    for month in forward_months(TODAY):
        status, allocation = trader.request("GET", f"/v1/delivery/{month.symbol}/allocation")
        assert status == 200 and allocation["last_trading_day"] == month.last_trading_day > TODAY, allocation


def test_market_information_is_public_over_http(server) -> None:
    anon = Client(server.base)
    trader, seller = server.client("huafang-textile"), server.client("luneng-agri")
    seller.place(CF_NEAR, "sell", 2, "15100", "mi-ask")
    _, bid = trader.place(CF_NEAR, "buy", 2, "15100", "mi-bid")  # takes the best asks, the demo's first
    assert bid["status"] == "FILLED", bid
    status, rows = anon.request("GET", f"/v1/market/candles/{CF_NEAR}?interval=1m")
    assert status == 200 and rows[-1]["close"] == bid["fills"][-1]["price"] and rows[-1]["volume"] >= 2
    status, stats = anon.request("GET", f"/v1/market/stats/{CF_NEAR}")
    assert status == 200 and stats["commodity"] == "forward" and stats["volume_lots"] >= 2
    assert stats["open_interest"] is not None
    status, report = anon.request("GET", "/v1/market/report")
    assert status == 200 and {r["symbol"] for r in report["instruments"]} >= {"CF", "UR", "SS", CF_NEAR, CF_FAR,
                                                                               UR_NEAR}
    status, text = anon.request("GET", "/v1/market/report?format=csv")
    assert status == 200 and text.startswith("symbol,commodity,day,open")
    assert anon.request("GET", f"/v1/market/candles/{CF_NEAR}?interval=7m")[0] == 400
    assert anon.request("GET", "/v1/market/stats/NOPE")[0] == 404
    assert anon.request("GET", "/v1/market/report?day=99")[0] == 404
