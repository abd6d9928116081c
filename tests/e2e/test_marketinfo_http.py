"""The public market information routes (candles, daily statistics, the market report) over HTTP,
against a real server and PostgreSQL."""

from gateway.client import Client


def test_market_information_is_public_over_http(server) -> None:
    anon = Client(server.base)
    trader, seller = server.client("huafang-textile"), server.client("luneng-agri")
    seller.place("CF2701", "sell", 2, "15100", "mi-ask")
    _, bid = trader.place("CF2701", "buy", 2, "15100", "mi-bid")  # takes the best asks, the demo's first
    status, rows = anon.request("GET", "/v1/market/candles/CF2701?interval=1m")
    assert status == 200 and rows[-1]["close"] == bid["fills"][-1]["price"] and rows[-1]["volume"] >= 2
    status, stats = anon.request("GET", "/v1/market/stats/CF2701")
    assert status == 200 and stats["commodity"] == "forward" and stats["volume_lots"] >= 2
    assert stats["open_interest"] is not None
    status, report = anon.request("GET", "/v1/market/report")
    assert status == 200 and {r["symbol"] for r in report["instruments"]} >= {"CF", "UR", "SS", "CF2701"}
    status, text = anon.request("GET", "/v1/market/report?format=csv")
    assert status == 200 and text.startswith("symbol,commodity,day,open")
    assert anon.request("GET", "/v1/market/candles/CF2701?interval=7m")[0] == 400
    assert anon.request("GET", "/v1/market/stats/NOPE")[0] == 404
    assert anon.request("GET", "/v1/market/report?day=99")[0] == 404
