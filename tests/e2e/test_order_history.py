"""Bounded memory through the real server: with a short horizon (COMMEX_ORDER_HORIZON) closed
orders leave the sequencer's memory, and GET by id, the order list, a retried client order id
and the member's fills answer from SQL with the same bodies as before; a receipt's history
longer than memory keeps (COMMEX_RECEIPT_HISTORY) is answered whole."""

import pytest

from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.process import ServerProcess

BUYER, SELLER = "huafang-textile", "luneng-agri"
HORIZON = 4


@pytest.fixture(scope="module")
def short_memory(module_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tmp_path_factory.mktemp("var"), module_database_url,
                         env={"COMMEX_ORDER_HORIZON": str(HORIZON), "COMMEX_FILLS_KEPT": "2",
                              "COMMEX_RECEIPT_HISTORY": "2"})
    proc.cli("demo")
    proc.start()
    yield proc
    if proc.proc is not None:
        proc.stop()


def entry_no(server) -> int:
    return Client(server.base).request("GET", "/healthz")[1]["entry_no"]


def churn(server, n: int = 2 * HORIZON) -> None:
    """Journal ``n`` orders that rest and are cancelled: the horizon passes."""
    trader = server.client(SELLER)
    for i in range(n):
        status, order = trader.place(CF_NEAR, "sell", 1, "15500", f"churn-{entry_no(server)}-{i}")
        assert status == 201, order
        assert trader.cancel(order["order_id"])[0] == 200


def test_closed_orders_answer_from_sql_as_they_did_from_memory(short_memory) -> None:
    buyer, seller = short_memory.client(BUYER), short_memory.client(SELLER)
    status, resting = buyer.place(CF_NEAR, "buy", 2, "14900", "hist-cancel")
    assert status == 201
    assert buyer.cancel(resting["order_id"])[0] == 200
    status, sold = seller.place(CF_NEAR, "sell", 3, "15010", "hist-sell")
    assert status == 201
    status, bought = buyer.place(CF_NEAR, "buy", 3, "15010", "hist-buy")  # fills against the sell
    assert status == 201 and bought["status"] == "FILLED" and bought["fills"], bought
    ids = [resting["order_id"], sold["order_id"], bought["order_id"]]
    owners = [buyer, seller, buyer]
    in_memory = [c.request("GET", f"/v1/orders/{oid}") for c, oid in zip(owners, ids, strict=True)]
    assert all(s == 200 for s, _ in in_memory)
    listed = {o["order_id"]: o for o in buyer.request("GET", "/v1/orders?status=all")[1]}
    fills = buyer.request("GET", "/v1/fills?limit=2")
    churn(short_memory)
    assert [c.request("GET", f"/v1/orders/{oid}") for c, oid in zip(owners, ids, strict=True)] == in_memory
    after = {o["order_id"]: o for o in buyer.request("GET", "/v1/orders?status=all")[1]}
    assert {k: after[k] for k in listed} == listed
    assert buyer.request("GET", "/v1/fills?limit=2") == fills
    assert seller.request("GET", f"/v1/orders/{bought['order_id']}")[0] == 404  # another member's order
    for absent in (10**30, 0, 10**9):  # beyond a bigint, none, not placed: 404, not a SQL error
        assert buyer.request("GET", f"/v1/orders/{absent}")[0] == 404
    assert buyer.request("DELETE", f"/v1/orders/{resting['order_id']}")[1]["error"]["code"] == "ORDER_NOT_OPEN"


def test_the_order_list_comes_a_page_at_a_time_from_memory_and_sql_alike(short_memory) -> None:
    """Found by a review: status=all read every order the member ever placed (with their fills)
    for each request. It answers the newest ``limit`` now, and ``before`` pages back."""
    churn(short_memory)  # the seller's older orders leave memory; its newest are still in it
    seller = short_memory.client(SELLER)
    whole = seller.request("GET", "/v1/orders?status=all&limit=5000")[1]
    ids = [o["order_id"] for o in whole]
    assert ids == sorted(ids) and len(ids) > 2 * HORIZON
    pages, before = [], 0
    while True:
        status, page = seller.request("GET", f"/v1/orders?status=all&limit=3&before={before}")
        assert status == 200 and len(page) <= 3
        if not page:
            break
        pages = page + pages
        before = page[0]["order_id"]
    assert pages == whole  # the pages, newest first, make up the whole list, each order as memory has it
    assert seller.request("GET", "/v1/orders?status=all&limit=2")[1] == whole[-2:]
    for bad in ("limit=0", "limit=5001", "before=-1", "limit=x"):
        status, body = seller.request("GET", f"/v1/orders?status=all&{bad}")
        assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST"), bad


def test_a_retried_client_order_id_after_eviction_gets_its_first_answer(short_memory) -> None:
    buyer = short_memory.client(BUYER)
    status, first = buyer.place(CF_NEAR, "buy", 1, "14850", "hist-retry")
    assert status == 201
    assert buyer.cancel(first["order_id"])[0] == 200
    current = buyer.request("GET", f"/v1/orders/{first['order_id']}")[1]
    churn(short_memory)
    before = entry_no(short_memory)
    again = buyer.place(CF_NEAR, "buy", 1, "14850", "hist-retry")
    assert again == (201, current)
    assert entry_no(short_memory) == before  # answered, not journaled again


def test_fills_beyond_what_memory_keeps_come_from_sql(short_memory) -> None:
    buyer, seller = short_memory.client(BUYER), short_memory.client(SELLER)
    for i in range(3):
        assert seller.place(CF_NEAR, "sell", 1, "15020", f"fills-s-{i}")[0] == 201
        assert buyer.place(CF_NEAR, "buy", 1, "15020", f"fills-b-{i}")[1]["status"] == "FILLED"
    orders = buyer.request("GET", "/v1/orders?status=all")[1]
    every = sorted((f for o in orders for f in o["fills"]), key=lambda f: f["trade_id"])
    assert len(every) > 3
    status, fills = buyer.request("GET", "/v1/fills?limit=100")
    assert status == 200 and fills == every  # older ones from SQL, as memory held them
    assert [f["trade_id"] for f in fills] == sorted(f["trade_id"] for f in fills)
    assert buyer.request("GET", "/v1/fills?limit=2")[1] == fills[-2:]  # the two kept in memory


def test_a_receipt_history_longer_than_memory_keeps_is_answered_whole(short_memory) -> None:
    body = {"certificate_no": "HIST-1", "inspector": "CCIC", "owner": BUYER, "quantity_kg": 20_000,
            "quality": {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4,
                        "granules_pct": 94.5}}
    status, receipt = short_memory.client("xj-warehouse-01").request("POST", "/v1/receipts", body)
    assert status == 201, receipt
    owner, rid = short_memory.client(BUYER), receipt["receipt_id"]
    for _ in range(4):
        for action in ("lock", "unlock"):
            assert owner.request("POST", f"/v1/receipts/{rid}/{action}", {})[0] == 200
    status, history = owner.request("GET", f"/v1/receipts/{rid}/history")
    assert status == 200
    events = history["events"]
    assert [e["action"] for e in events] == ["issue", *["lock", "unlock"] * 4]
    assert [e["version"] for e in events] == list(range(1, 10))
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    custody = owner.request("GET", f"/v1/receipts/{rid}/custody")[1]
    assert [s["step"] for s in custody][-9:] == [e["action"] for e in events]
