"""Query and path parameters are checked, not trusted: bounded integers answer 400 outside
their documented range, settlement days count from 1, and an unexpected failure is logged
and answered with its request id. Against a real server and PostgreSQL."""

import asyncio
import logging
import uuid
from types import SimpleNamespace

import msgspec
import pytest

from gateway.client import Client
from gateway.errors import unexpected

TRADER, SUPPLIER, CLEARING, OPS = "huafang-textile", "xinjiang-cotton-group", "clearing-desk", "exchange-ops"
SYMBOL = "HDX"
BAD = ("0", "-1", "abc", "1.5", "1e3", "+5", "99999999999999999999999")


@pytest.fixture(scope="module")
def traded(server) -> str:
    """An instrument of our own on which the trader bought twice (two fills, two trades)."""
    ops = server.client(OPS)
    status, body = ops.request("POST", "/v1/admin/instruments", {
        "symbol": SYMBOL, "tick": "5", "lot_size": 5000, "ref_price": "15000", "band_bps": 400})
    assert status == 201, body
    assert ops.request("POST", "/v1/admin/instruments/HDX/session", {"state": "continuous"})[0] == 200
    seller, buyer = server.client(SUPPLIER), server.client(TRADER)
    for n in (1, 2):
        assert seller.place(SYMBOL, "sell", 1, "15000", f"hdx-ask-{n}")[0] == 201
        status, bid = buyer.place(SYMBOL, "buy", 1, "15000", f"hdx-bid-{n}")
        assert status == 201 and bid["status"] == "FILLED", bid
    return SYMBOL


def error_code(answer: tuple[int, object]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"] if isinstance(body, dict) and "error" in body else body


@pytest.mark.parametrize("value", BAD)
def test_fills_limit_outside_1_to_5000_is_refused(server, traded, value: str) -> None:
    assert error_code(server.client(TRADER).request("GET", f"/v1/fills?limit={value}")) == (400, "INVALID_REQUEST")


def test_fills_limit_zero_no_longer_returns_everything(server, traded) -> None:
    buyer = server.client(TRADER)
    status, all_fills = buyer.request("GET", "/v1/fills")
    assert status == 200 and len(all_fills) >= 2
    status, newest = buyer.request("GET", "/v1/fills?limit=1")
    assert status == 200 and newest == all_fills[-1:]
    assert error_code(buyer.request("GET", "/v1/fills?limit=0")) == (400, "INVALID_REQUEST")
    assert error_code(buyer.request("GET", "/v1/fills?limit=5001")) == (400, "INVALID_REQUEST")
    assert buyer.request("GET", "/v1/fills?limit=5000") == (200, all_fills)


def test_trades_limit_is_bounded(server, traded) -> None:
    anyone = server.client(TRADER)
    status, trades = anyone.request("GET", f"/v1/trades/{traded}?limit=1")
    assert status == 200 and len(trades) == 1
    for value in ("0", "-1", "abc", "5001"):
        assert error_code(anyone.request("GET", f"/v1/trades/{traded}?limit={value}")) == (400, "INVALID_REQUEST")
    # the instrument is checked before the parameter, as before
    assert error_code(anyone.request("GET", "/v1/trades/NOPE?limit=abc")) == (404, "UNKNOWN_INSTRUMENT")


def test_book_depth_is_bounded(server, traded) -> None:
    anyone = server.client(TRADER)
    assert anyone.request("GET", f"/v1/book/{traded}?depth=1")[0] == 200
    assert anyone.request("GET", f"/v1/book/{traded}?depth=500")[0] == 200
    for value in ("0", "-3", "501", "abc"):
        assert error_code(anyone.request("GET", f"/v1/book/{traded}?depth={value}")) == (400, "INVALID_REQUEST")


def test_ledger_limit_is_bounded(server) -> None:
    desk = server.client(CLEARING)
    status, lines = desk.request("GET", f"/v1/ledger?member={TRADER}&limit=1")
    assert status == 200 and len(lines) <= 1
    for value in ("0", "-1", "abc", "5001"):
        assert error_code(desk.request("GET", f"/v1/ledger?limit={value}")) == (400, "INVALID_REQUEST")


def test_candles_limit_is_bounded(server, traded) -> None:
    anon = Client(server.base)  # market information is public
    status, candles = anon.request("GET", f"/v1/market/candles/{traded}?limit=1")
    assert status == 200 and len(candles) == 1
    for value in ("0", "-1", "abc", "5001"):
        answer = anon.request("GET", f"/v1/market/candles/{traded}?limit={value}")
        assert error_code(answer) == (400, "INVALID_REQUEST")


def test_every_documented_bound_is_enforced(server, traded) -> None:
    """What a schema-driven tester does: read each integer query parameter's bounds from
    /openapi.json, then send the bounds (accepted) and one past each (refused)."""
    doc = Client(server.base).request("GET", "/openapi.json")[1]
    client = server.client(TRADER)
    checked = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if p["in"] != "query" or p["schema"].get("type") != "integer":
                    continue
                assert (p["schema"]["minimum"], p["schema"]["maximum"]) in ((1, 5000), (1, 500), (0, 10**18 - 1))
                url = path.replace("{symbol}", traded) + f"?{p['name']}="
                lo, hi = p["schema"]["minimum"], p["schema"]["maximum"]
                assert client.request(method.upper(), f"{url}{lo}")[0] == 200
                assert client.request(method.upper(), f"{url}{hi}")[0] == 200
                for value in (lo - 1, hi + 1):
                    assert error_code(client.request(method.upper(), f"{url}{value}")) == (400, "INVALID_REQUEST")
                checked.add((path, p["name"]))
    assert checked == {("/v1/fills", "limit"), ("/v1/book/{symbol}", "depth"), ("/v1/trades/{symbol}", "limit"),
                       ("/v1/ledger", "limit"), ("/v1/market/candles/{symbol}", "limit"), ("/v1/orders", "limit"),
                       ("/v1/orders", "before")}


def test_settlement_days_count_from_one(server, traded) -> None:
    desk, member = server.client(CLEARING), server.client(TRADER)
    assert error_code(desk.request("GET", "/v1/clearing/reports/0")) == (404, "NO_REPORT")  # none closed yet
    status, closed = desk.request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})
    assert status == 201, closed
    status, first = desk.request("GET", "/v1/clearing/reports/1")
    assert status == 200 and desk.request("GET", "/v1/clearing/reports/latest") == (200, first)
    for day in ("0", "-1", "-2", "2", "abc"):
        for client in (desk, member):
            assert error_code(client.request("GET", f"/v1/clearing/reports/{day}")) == (404, "NO_REPORT"), day
    schema = Client(server.base).request("GET", "/openapi.json")[1]["paths"]["/v1/clearing/reports/{day}"]
    (day_param,) = [p for p in schema["get"]["parameters"] if p["in"] == "path"]  # beside ?format=
    assert {"type": "integer", "minimum": 1} in day_param["schema"]["anyOf"]


def test_an_unexpected_exception_is_logged_and_answered_with_its_request_id(caplog) -> None:
    request = SimpleNamespace(id=uuid.uuid4(), method="GET", path="/v1/fills")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as e:
        exc = e
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        response = asyncio.run(unexpected(request, exc))
    assert response.status == 500
    body = msgspec.json.decode(response.body)
    assert body == {"error": {"code": "STATUS_UNKNOWN", "message": "status unknown: query by client_order_id",
                              "request_id": str(request.id)}}
    (record,) = caplog.records
    assert str(request.id) in record.getMessage() and record.exc_info[0] is ZeroDivisionError
