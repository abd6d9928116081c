"""Idempotency keys and one-time signatures: a retried state-changing request runs once and
gets the first answer (also concurrently, and after a restart); the same key for another
request is 409; a replayed signature is 401 REPLAYED. Against a real server and PostgreSQL."""

import asyncio
import http.client
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from gateway.client import Client
from gateway.demo import CF_NEAR

TRADER, SUPPLIER, CLEARING, OPS = "huafang-textile", "xinjiang-cotton-group", "clearing-desk", "exchange-ops"
DEMO_LOAN = 1  # xinjiang-cotton-group's loan from agri-bank


def entry_no(server) -> int:
    return Client(server.base).request("GET", "/healthz")[1]["entry_no"]


def new_key() -> str:
    return uuid.uuid4().hex


def resting_order(server, client_order_id: str, quantity: int = 3) -> dict:
    status, order = server.client(TRADER).place(CF_NEAR, "buy", quantity, "14800", client_order_id)
    assert status == 201, order
    return order



def stored_bodies(url: str, key: str) -> list[bytes]:
    """The answers stored in PostgreSQL under Idempotency-Key ``key``."""

    async def fetch() -> list[bytes]:
        conn = await asyncpg.connect(url)
        try:
            return [bytes(r["body"]) for r in await conn.fetch("SELECT body FROM idempotency_keys WHERE key = $1", key)]
        finally:
            await conn.close()

    return asyncio.run(fetch())

def test_a_retried_amend_and_cancel_get_the_first_answer_and_run_once(server) -> None:
    trader = server.client(TRADER)
    order = resting_order(server, "idem-amend")
    path, key = f"/v1/orders/{order['order_id']}", new_key()
    first = trader.request("PATCH", path, {"quantity": 5}, idempotency_key=key)
    assert first[0] == 200 and first[1]["quantity"] == 5
    before = entry_no(server)
    again = trader.request("PATCH", path, {"quantity": 5}, idempotency_key=key)  # without the key: NO_CHANGE
    assert again == first and trader.last_headers.get("idempotent-replayed") == "true"
    assert entry_no(server) == before
    cancel_key = new_key()
    canceled = trader.request("DELETE", path, idempotency_key=cancel_key)
    assert canceled[0] == 200
    assert trader.request("DELETE", path, idempotency_key=cancel_key) == canceled  # not 409 ORDER_NOT_OPEN
    assert trader.request("DELETE", path)[0] == 409  # a new key: a new request


def test_the_same_key_for_another_request_is_409(server) -> None:
    trader, key = server.client(TRADER), new_key()
    order = resting_order(server, "idem-reuse")
    path = f"/v1/orders/{order['order_id']}"
    assert trader.request("PATCH", path, {"quantity": 4}, idempotency_key=key)[0] == 200
    before = entry_no(server)
    for method, target, body in (("PATCH", path, {"quantity": 6}), ("DELETE", path, None),
                                 ("POST", "/v1/orders/cancel-all", {"symbol": CF_NEAR})):
        status, answer = trader.request(method, target, body, idempotency_key=key)
        assert (status, answer["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert entry_no(server) == before
    assert trader.request("GET", path)[1]["quantity"] == 4
    # the key belongs to its member: another member's identical key is another request
    other = server.client("luneng-agri")
    assert other.request("POST", "/v1/orders/cancel-all", {"symbol": CF_NEAR}, idempotency_key=key)[0] == 200
    trader.cancel(order["order_id"])


def test_a_retry_spelling_the_same_json_otherwise_gets_the_first_answer(server) -> None:
    """The fingerprint counts a JSON body by its content: another client's spacing, key order or
    escapes is the same request (the project's REST and WebSocket clients space JSON apart)."""
    trader, key = server.client(TRADER), new_key()
    order = resting_order(server, "idem-spelling")
    path = f"/v1/orders/{order['order_id']}"
    first = trader.request("PATCH", path, raw=b'{"quantity": 5, "price": "14805"}', idempotency_key=key)
    assert first[0] == 200, first
    before = entry_no(server)
    again = trader.request("PATCH", path, raw=b'{"price":"\\u0031\\u0034805","quantity":5}', idempotency_key=key)
    assert again == first and trader.last_headers.get("idempotent-replayed") == "true"
    assert entry_no(server) == before
    other = trader.request("PATCH", path, raw=b'{"price":"14805","quantity":6}', idempotency_key=key)
    assert (other[0], other[1]["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    trader.cancel(order["order_id"])


def test_no_body_and_an_empty_object_are_the_same_request(server) -> None:
    """Found by a review: a retry without a body of a request sent with ``{}`` (the routes read
    both alike) was 409 IDEMPOTENCY_KEY_REUSED."""
    trader, key = server.client(TRADER), new_key()
    first = trader.request("POST", "/v1/orders/cancel-all", {}, idempotency_key=key)
    again = trader.request("POST", "/v1/orders/cancel-all", idempotency_key=key)
    assert first[0] == again[0] == 200 and again[1] == first[1]
    assert trader.last_headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize("key", ["", "a" * 65, "has space", "caf\u00e9"])
def test_a_malformed_key_is_400(server, key: str) -> None:
    trader = server.client(TRADER)
    body = f'{{"symbol": "{CF_NEAR}"}}'.encode()
    headers = trader.headers("POST", "/v1/orders/cancel-all", body) | {"Idempotency-Key": key}
    if not key.isascii():  # http.client sends headers as Latin-1
        headers["Idempotency-Key"] = key.encode().decode("latin-1")
    status, answer = trader.request("POST", "/v1/orders/cancel-all", headers=headers, raw=body)
    assert (status, answer["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")


def test_concurrent_retries_of_a_partial_repayment_move_money_once(server) -> None:
    borrower = server.client(SUPPLIER)
    before = borrower.request("GET", f"/v1/loans/{DEMO_LOAN}")[1]
    cash = borrower.request("GET", "/v1/accounts/me")[1]["available"]
    key, path = new_key(), f"/v1/loans/{DEMO_LOAN}/repay"
    clients = [server.client(SUPPLIER) for _ in range(10)]  # one connection each
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda c: c.request("POST", path, {"amount": "100.00"}, idempotency_key=key),
                                clients))
    assert {status for status, _ in answers} == {200}, answers
    assert len({repr(body) for _, body in answers}) == 1
    after = borrower.request("GET", f"/v1/loans/{DEMO_LOAN}")[1]
    assert Decimal(before["principal"]) - Decimal(after["principal"]) == 100
    assert Decimal(cash) - Decimal(borrower.request("GET", "/v1/accounts/me")[1]["available"]) == 100


def test_concurrent_retries_of_a_key_creation_make_one_key_whose_secret_is_not_stored(
        server, module_database_url) -> None:
    key, path = new_key(), f"/v1/admin/members/{TRADER}/keys"
    clients = [server.client(OPS) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda c: c.request("POST", path, idempotency_key=key), clients))
    assert {status for status, _ in answers} == {201}
    assert len({(a["api_key"], a["api_secret"]) for _, a in answers}) == 1
    created = answers[0][1]
    assert Client.for_member(server.base, created).request("GET", "/v1/accounts/me")[0] == 200  # the secret works

    (body,) = stored_bodies(module_database_url, key)
    assert created["api_key"].encode() in body and created["api_secret"].encode() not in body
    assert b"api_secret" not in body


def test_a_retried_release_request_gets_its_order_once_and_its_pickup_code_is_not_stored(
        server, module_database_url) -> None:
    owner = server.client(SUPPLIER)
    rid = next(r["receipt_id"] for r in owner.request("GET", "/v1/receipts?state=registered")[1]
               if r["owner"] == SUPPLIER and r["order_id"] is None and r["pledgee"] is None)
    key, path = new_key(), f"/v1/receipts/{rid}/release-request"
    first = owner.request("POST", path, {"reference": "idem-out"}, idempotency_key=key)
    assert first[0] == 201 and first[1]["pickup_code"], first
    before = entry_no(server)
    again = owner.request("POST", path, {"reference": "idem-out"}, idempotency_key=key)
    assert owner.last_headers.get("idempotent-replayed") == "true"
    assert again == (201, {**first[1], "pickup_code": None}) and entry_no(server) == before  # shown once

    (body,) = stored_bodies(module_database_url, key)
    assert first[1]["pickup_code"].encode() not in body and b'"pickup_code":null' in body


def test_the_client_retries_a_dropped_connection_with_the_same_key_and_a_new_signature(server, monkeypatch) -> None:
    trader = server.client(TRADER)
    order = resting_order(server, "idem-dropped")
    sent: list[dict] = []
    real_request, real_getresponse = http.client.HTTPConnection.request, http.client.HTTPConnection.getresponse
    dropped = []

    def record(self, method, url, body=None, headers=None, **kw):
        sent.append(dict(headers or {}))
        return real_request(self, method, url, body=body, headers=headers, **kw)

    def drop_first(self):
        response = real_getresponse(self)
        if not dropped:  # the server did it; the answer is lost on the way back
            dropped.append(response.read())
            raise ConnectionResetError("simulated")
        return response

    monkeypatch.setattr(http.client.HTTPConnection, "request", record)
    monkeypatch.setattr(http.client.HTTPConnection, "getresponse", drop_first)
    status, answer = trader.request("PATCH", f"/v1/orders/{order['order_id']}", {"quantity": 7})
    monkeypatch.undo()
    assert (status, answer["quantity"]) == (200, 7), answer
    assert trader.last_headers.get("idempotent-replayed") == "true"
    assert len(sent) == 2 and sent[0]["Idempotency-Key"] == sent[1]["Idempotency-Key"]
    assert sent[0]["X-Signature"] != sent[1]["X-Signature"]
    trader.cancel(order["order_id"])


def test_a_replayed_signature_is_401_and_runs_nothing(server) -> None:
    trader = server.client(TRADER)
    order = resting_order(server, "idem-replayed")
    path, body = f"/v1/orders/{order['order_id']}", b'{"quantity": 9}'
    signed = trader.headers("PATCH", path, body)
    assert trader.request("PATCH", path, headers=signed, raw=body)[0] == 200
    before = entry_no(server)
    for client in (trader, Client(server.base)):  # on the same connection and on another
        status, answer = client.request("PATCH", path, headers=signed, raw=body)
        assert (status, answer["error"]["code"]) == (401, "REPLAYED")
    assert entry_no(server) == before
    get = trader.headers("GET", "/v1/fills", b"")
    assert trader.request("GET", "/v1/fills", headers=get)[0] == 200
    assert trader.request("GET", "/v1/fills", headers=get)[1]["error"]["code"] == "REPLAYED"
    trader.cancel(order["order_id"])


def test_identical_requests_in_one_millisecond_are_signed_apart(server) -> None:
    """The client stamps a repeat of the very same request with the next millisecond, so
    tight loops and threads sharing a key never trip over the one-time signature."""
    clients = [server.client(TRADER) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda c: [c.request("GET", "/v1/accounts/me")[0] for _ in range(25)], clients))
    assert {s for each in statuses for s in each} == {200}
    stamps = [int(clients[0].headers("GET", "/v1/fills", b"")["X-Timestamp"]) for _ in range(5)]
    assert stamps == sorted(set(stamps)) and stamps[-1] - time.time_ns() // 1_000_000 < 1_000


def test_every_state_changing_route_takes_an_idempotency_key() -> None:
    from gateway.app import create_app

    app = create_app(Path("/nonexistent"), name="idempotency_probe")
    routes = [(m, r.path) for r in app.router.routes for m in r.methods if m in ("POST", "PATCH", "DELETE")]
    assert len(routes) >= 29
    from gateway.openapi import NOT_IDEMPOTENT_BY_KEY, openapi_document

    missing = [(m, r.path) for r in app.router.routes for m in r.methods
               if m in ("POST", "PATCH", "DELETE") and not getattr(r.handler, "idempotent", False)
               and (m.lower(), "/" + r.path.lstrip("/")) not in NOT_IDEMPOTENT_BY_KEY]
    assert not missing, missing
    assert {("post", "/v1/session")} == NOT_IDEMPOTENT_BY_KEY  # sign-in only: see gateway/session_api.py
    for path, ops in openapi_document()["paths"].items():
        for method, op in ops.items():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            changes = method in ("post", "patch", "delete") and (method, path) not in NOT_IDEMPOTENT_BY_KEY
            assert ("Idempotency-Key" in names) == changes, (method, path)


def test_the_first_answer_outlives_a_restart(server) -> None:
    trader, key = server.client(TRADER), new_key()
    order = resting_order(server, "idem-restart")
    first = trader.request("DELETE", f"/v1/orders/{order['order_id']}", idempotency_key=key)
    assert first[0] == 200
    server.stop()
    server.start()
    again = server.client(TRADER).request("DELETE", f"/v1/orders/{order['order_id']}", idempotency_key=key)
    assert again == first
