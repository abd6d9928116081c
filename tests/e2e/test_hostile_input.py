"""Hostile input at the HTTP edge: no request may stop the exchange, and every malformed value
is a 4xx with the error shape. Money is one strict decimal grammar (digits, at most two
decimals, bounded length); integers have declared ranges; oversized requests are 413/414/431.
Against a real server and PostgreSQL; each test checks the server process survived."""

import socket

import pytest

from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.openapi import QUERY
from gateway.wire import QueryText

TRADER, SUPPLIER, CLEARING, OPS, BANK = ("huafang-textile", "xinjiang-cotton-group", "clearing-desk",
                                         "exchange-ops", "agri-bank")
DEMO_LOAN = 1  # the demo's loan: xinjiang-cotton-group borrowed from agri-bank


def code_of(answer: tuple[int, object]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"] if isinstance(body, dict) and "error" in body else str(body)[:80]


@pytest.fixture
def alive(server):
    """Assert that the server process is the same one, and healthy, after the test."""
    pid = server.proc.pid
    yield server
    assert server.proc.poll() is None, "the server process exited"
    assert server.proc.pid == pid
    assert Client(server.base).request("GET", "/healthz")[0] == 200


def open_order(server) -> int:
    status, order = server.client(TRADER).place(CF_NEAR, "buy", 1, "14800", "hostile-resting")
    assert status == 201, order
    return order["order_id"]


def overflow_vectors(server) -> list[tuple[str, str, str, dict, str]]:
    """(who, method, path, body, expected code): each overflowed 64 bits in the sequencer."""
    order_id = open_order(server)
    order = {"symbol": CF_NEAR, "side": "buy", "quantity": 1, "client_order_id": "hostile-big"}
    return [
        (TRADER, "POST", "/v1/orders", {**order, "price": "99999999999999999999"}, "INVALID_PRICE"),
        (TRADER, "POST", "/v1/orders", {**order, "price": "-99999999999999999999"}, "INVALID_PRICE"),
        (TRADER, "PATCH", f"/v1/orders/{order_id}", {"price": "1E+18"}, "INVALID_PRICE"),
        (SUPPLIER, "POST", "/v1/loans", {"lender": BANK, "receipt_ids": ["WR00000022"], "principal": "1E+18",
                                         "tenor_days": 5}, "INVALID_AMOUNT"),
        (SUPPLIER, "POST", f"/v1/loans/{DEMO_LOAN}/repay", {"amount": "1E+18"}, "INVALID_AMOUNT"),
        (CLEARING, "POST", "/v1/clearing/deposits", {"member": TRADER, "amount": "1E+17", "reference": "big"},
         "INVALID_AMOUNT"),
        (CLEARING, "POST", "/v1/clearing/withdrawals", {"member": TRADER, "amount": "1E+17", "reference": "big"},
         "INVALID_AMOUNT"),
        (OPS, "POST", f"/v1/admin/instruments/{CF_NEAR}/fees", {"per_lot": "1E+18"}, "INVALID_PRICE"),
        (OPS, "POST", "/v1/admin/instruments", {"symbol": "BIG", "tick": "1E+18", "lot_size": 1,
                                                "ref_price": "1"}, "INVALID_PRICE"),
    ]


def test_money_that_would_overflow_64_bits_is_refused_and_the_exchange_keeps_running(alive) -> None:
    server = alive
    for who, method, path, body, code in overflow_vectors(server):
        answer = server.client(who).request(method, path, body)
        assert code_of(answer) == (400, code), (path, body, answer)
        assert server.proc.poll() is None, (path, body)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/orders", {"symbol": CF_NEAR, "side": "buy", "quantity": 2**63, "price": "14800",
                    "client_order_id": "hostile-qty"}),
    ("/v1/orders", {"symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": "14800", "display_quantity": -1,
                    "client_order_id": "hostile-qty"}),
    ("/v1/admin/instruments", {"symbol": "HUGE", "tick": "1", "lot_size": 2**62, "ref_price": "1"}),
    ("/v1/admin/instruments", {"symbol": "HUGE", "tick": "1", "lot_size": 1, "ref_price": "1",
                               "max_limit_qty": 2**62}),
    ("/v1/admin/instruments", {"symbol": "HUGE", "tick": "1", "lot_size": 1, "ref_price": "1",
                               "protection_ticks": 2**62}),
    ("/v1/clearing/end-of-day", {"window_minutes": 2**64}),
    ("/v1/loans", {"lender": BANK, "receipt_ids": ["WR00000022"], "principal": "1", "tenor_days": 2**63}),
])
def test_integers_outside_their_declared_range_are_refused(alive, path: str, body: dict) -> None:
    who = {"/v1/orders": TRADER, "/v1/admin/instruments": OPS, "/v1/clearing/end-of-day": CLEARING,
           "/v1/loans": SUPPLIER}[path]
    assert code_of(alive.client(who).request("POST", path, body)) == (400, "INVALID_REQUEST")


def test_every_integer_field_of_every_request_body_has_a_declared_range() -> None:
    from gateway.openapi import openapi_document

    schemas = openapi_document()["components"]["schemas"]
    bodies = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
              for ops in openapi_document()["paths"].values() for op in ops.values() if "requestBody" in op}
    unbounded = []
    for name in bodies:
        for field, prop in schemas[name].get("properties", {}).items():
            kinds = [prop, *prop.get("anyOf", [])]
            for kind in kinds:
                if kind.get("type") == "integer" and not (
                        ("minimum" in kind or "exclusiveMinimum" in kind)
                        and ("maximum" in kind or "exclusiveMaximum" in kind)):
                    unbounded.append(f"{name}.{field}")
    assert not unbounded, unbounded


LENIENT_PRICES = [" 14800", "14800 ", "14_800", "\u0661\u0664\u0668\u0660\u0660", "1.48E+4", "+14800", "14800.",
                  ".5", "14800\n", "0x39D0", "NaN", "Infinity", "14800.000", "1" * 14]


@pytest.mark.parametrize("price", LENIENT_PRICES)
def test_a_price_outside_the_strict_decimal_grammar_is_refused(alive, price: str) -> None:
    trader = alive.client(TRADER)
    client_order_id = f"hostile-lenient-{LENIENT_PRICES.index(price)}"
    body = {"symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": price, "client_order_id": client_order_id}
    assert code_of(trader.request("POST", "/v1/orders", body)) == (400, "INVALID_PRICE")
    assert all(o["client_order_id"] != client_order_id for o in trader.request("GET", "/v1/orders?status=all")[1])


@pytest.mark.parametrize("amount", ["1e2", " 100", "1_000", "\u0661\u0660\u0660", "-5", "100.001"])
def test_an_amount_outside_the_strict_decimal_grammar_is_refused(alive, amount: str) -> None:
    desk = alive.client(CLEARING)
    body = {"member": TRADER, "amount": amount, "reference": f"hostile-{amount!r}"}
    assert code_of(desk.request("POST", "/v1/clearing/deposits", body)) == (400, "INVALID_AMOUNT")


def test_the_grammar_is_in_the_openapi_document() -> None:
    from gateway.openapi import openapi_document
    from gateway.prices import MONEY_PATTERN

    schemas = openapi_document()["components"]["schemas"]
    for name, field in (("OrderRequest", "price"), ("AmendRequest", "price"), ("FundingRequest", "amount"),
                        ("LoanRequest", "principal"), ("RepayRequest", "amount"), ("FeesRequest", "per_lot"),
                        ("InstrumentRequest", "tick"), ("InstrumentRequest", "ref_price")):
        prop = schemas[name]["properties"][field]
        kinds = [prop, *prop.get("anyOf", [])]
        assert any(k.get("pattern") == MONEY_PATTERN and k.get("maxLength") for k in kinds), (name, field, prop)


@pytest.mark.parametrize(("who", "method", "path", "body", "code"), [
    (TRADER, "POST", "/v1/orders", {"symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": "1e999999999",
                                    "client_order_id": "hostile-exp"}, "INVALID_PRICE"),
    (CLEARING, "POST", "/v1/clearing/deposits", {"member": TRADER, "amount": "1e999999999", "reference": "exp"},
     "INVALID_AMOUNT"),
    (SUPPLIER, "POST", f"/v1/loans/{DEMO_LOAN}/repay", {"amount": "1e999999999"}, "INVALID_AMOUNT"),
    (OPS, "POST", f"/v1/admin/instruments/{CF_NEAR}/fees", {"per_lot": "1e999999999"}, "INVALID_PRICE"),
])
def test_a_huge_exponent_is_400_not_status_unknown(alive, who, method, path, body, code) -> None:
    assert code_of(alive.client(who).request(method, path, body)) == (400, code)


def test_invalid_utf8_in_a_json_string_is_400(alive) -> None:
    ops = alive.client(OPS)
    for raw in (b'{"member": "bad-\xff\xfe", "roles": ["trader"]}',
                (f'{{"symbol": "{CF_NEAR}", "side": "buy", "quantity": 1, "price": "14800", '
                 '"client_order_id": "x').encode() + b'\xc3"}'):
        path = "/v1/admin/members" if b"roles" in raw else "/v1/orders"
        client = ops if b"roles" in raw else alive.client(TRADER)
        status, body = client.request("POST", path, raw=raw, headers=client.headers("POST", path, raw))
        assert status == 400 and body["error"]["code"] == "MALFORMED_JSON", (status, body)


def raw_exchange(server, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` on a new connection; the status and the body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest


def test_an_oversized_body_is_413(alive) -> None:
    body = b'{"x": "' + b"a" * (300 * 1024) + b'"}'
    status, answer = raw_exchange(alive, b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert status == 413 and b'"error"' in answer, answer[:200]


def test_oversized_headers_are_431(alive) -> None:
    status, answer = raw_exchange(alive, b"GET /v1/fills HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 20_000
                                  + b"\r\n\r\n")
    assert status == 431 and b'"error"' in answer, answer[:200]


def test_an_oversized_url_is_414(alive) -> None:
    status, answer = raw_exchange(alive, b"GET /v1/fills?x=" + b"a" * 6_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and b'"error"' in answer, answer[:200]
    anon = Client(alive.base)
    status, answer = anon.request("GET", "/v1/book/CF?depth=1&pad=" + "a" * 5_000)
    assert (status, answer["error"]["code"]) == (414, "URI_TOO_LONG")


def test_a_request_that_fails_before_its_handler_gets_its_own_error_not_401(alive) -> None:
    anon = Client(alive.base)
    assert code_of(anon.request("GET", "/v1/no-such-route")) == (404, "NOT_FOUND")
    assert code_of(anon.request("PUT", "/v1/orders")) == (405, "METHOD_NOT_ALLOWED")
    assert code_of(anon.request("GET", "/v1/fills")) == (401, "UNAUTHENTICATED")


def test_a_misspelt_filter_is_refused_not_read_as_none_match(alive) -> None:
    staff = alive.client(CLEARING)
    for (_, path), params in QUERY.items():
        for param in params:
            if isinstance(param, QueryText) and param.choices:
                url = path.format(symbol=CF_NEAR, day="latest") + f"?{param.name}=bogus"
                assert code_of(staff.request("GET", url)) == (400, param.code), url
    assert staff.request("GET", "/v1/receipts?state=pledged")[0] == 200
