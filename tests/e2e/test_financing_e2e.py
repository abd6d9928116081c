"""Trade financing through a real server and PostgreSQL: the forced sale after an unmet margin
call, the guarantees of a pledged receipt under concurrent attempts, and the demo's loan."""

import asyncio
import json
import threading

import pytest
import websockets

from gateway.client import Client
from gateway.feed_client import login_message

UREA = {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4, "granules_pct": 95}
OPS, DESK, BANK, WAREHOUSE = "exchange-ops", "clearing-desk", "agri-bank", "sh-warehouse-02"


@pytest.fixture(scope="module")
def world(server):
    ops, desk = server.client(OPS), server.client(DESK)
    people = {}
    for name, role in (("coop-farm", "supplier"), ("ur-dealer", "supplier"), ("mill-x", "trader"),
                       ("rival-lender", "lender")):
        people[name] = ops.request("POST", "/v1/admin/members", {"member": name, "roles": [role]})[1]
    desk.request("POST", "/v1/clearing/deposits", {"member": "mill-x", "amount": "2000000", "reference": "mx"})
    desk.request("POST", "/v1/clearing/deposits", {"member": "coop-farm", "amount": "100", "reference": "cf"})
    warehouse = server.client(WAREHOUSE)
    receipts = {"coop-farm": [], "ur-dealer": []}
    for owner, count in (("coop-farm", 3), ("ur-dealer", 4)):
        for n in range(count):
            status, r = warehouse.request("POST", "/v1/receipts", {
                "certificate_no": f"FIN-{owner}-{n}", "inspector": "CCIC", "owner": owner, "quality": UREA,
                "quantity_kg": 20_000})
            assert status == 201, r
            receipts[owner].append(r["receipt_id"])
    # the demo's urea orders would move the settlement price: withdraw them
    for member in ("sinofert", "luneng-agri"):
        server.client(member).request("POST", "/v1/orders/cancel-all", {"symbol": "UR"})
    bank = server.client(BANK)
    status, terms = bank.request("POST", "/v1/financing/terms", {
        "commodity": "urea", "ltv_bps": 6500, "daily_rate_ppm": 200, "warning_bps": 6600, "liquidation_bps": 7500,
        "max_tenor_days": 30, "cure_days": 1})
    assert status == 201, terms
    clients = {name: Client.for_member(server.base, creds) for name, creds in people.items()}
    status, _ = clients["rival-lender"].request("POST", "/v1/financing/terms", {
        "commodity": "urea", "ltv_bps": 8000, "daily_rate_ppm": 100, "warning_bps": 8500, "liquidation_bps": 9500,
        "max_tenor_days": 60})
    assert status == 201
    return clients, people, receipts


def open_ur(server) -> None:
    """Open UR's session (after an end of day it is closed)."""
    status, body = server.client(OPS).request("POST", "/v1/admin/instruments/UR/session", {"state": "continuous"})
    assert status == 200 or body["error"]["code"] == "INVALID_SESSION_TRANSITION", body  # already open


def trade_day(server, clients, price: str, extra_bid: str | None = None) -> dict:
    open_ur(server)
    assert clients["ur-dealer"].place("UR", "sell", 1, price, f"dealer-{price}")[0] == 201
    _, bid = clients["mill-x"].place("UR", "buy", 1, price, f"mill-{price}", time_in_force="IOC")
    assert bid["status"] == "FILLED", bid
    if extra_bid:
        assert clients["mill-x"].place("UR", "buy", 2, extra_bid, f"mill-rest-{price}")[1]["status"] == "NEW"
    status, report = server.client(DESK).request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})
    assert status == 201
    return report


def test_margin_call_unmet_then_forced_sale_repays_the_lender_first(server, world) -> None:
    clients, people, receipts = world
    farm, bank = clients["coop-farm"], server.client(BANK)
    collateral = receipts["coop-farm"][:2]
    status, loan = farm.request("POST", "/v1/loans", {"lender": BANK, "receipt_ids": collateral,
                                                       "principal": "50000.00", "tenor_days": 20})
    assert status == 201 and loan["state"] == "requested" and loan["value"] == "80000.00"
    loan_id = loan["loan_id"]
    bank_before = server.client(BANK).request("GET", "/v1/accounts/me")[1]["available"]
    status, loan = bank.request("POST", f"/v1/loans/{loan_id}/approve")
    assert status == 200 and loan["state"] == "active"
    assert farm.request("GET", "/v1/accounts/me")[1]["available"] == "50100.00"  # 100 deposited + the loan
    assert {farm.request("GET", f"/v1/receipts/{r}")[1]["state"] for r in collateral} == {"pledged"}

    async def watch_for_call() -> dict:
        creds = people["coop-farm"]
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/ws") as ws:
            await ws.send(json.dumps(login_message(creds["api_key"], creds["api_secret"])))
            async with asyncio.timeout(30):
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "loan" and message["loan"]["state"] == "margin_call":
                        return message

    def day_with_watch(price: str) -> dict:
        return asyncio.run(asyncio.wait_for(_watch_and_trade(price), 60))

    async def _watch_and_trade(price: str) -> dict:
        watcher = asyncio.create_task(watch_for_call())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(trade_day, server, clients, price)
        return await watcher

    trade_day(server, clients, "1920")  # 5,001,000 / 7,680,000 = 65.1 %
    assert farm.request("GET", f"/v1/loans/{loan_id}")[1]["state"] == "active"
    notice = day_with_watch("1844")  # 67.8 %: a margin call, on the private stream too
    assert notice["loan"]["loan_id"] == loan_id and notice["loan"]["ratio_bps"] == 6781
    assert farm.request("GET", f"/v1/loans/{loan_id}")[1]["state"] == "margin_call"
    trade_day(server, clients, "1771")  # no top-up
    trade_day(server, clients, "1701", extra_bid="1701")  # past the deadline: liquidation
    loan = server.client(DESK).request("GET", f"/v1/loans/{loan_id}")[1]
    assert loan["state"] == "liquidating" and loan["interest"] == "40.00"
    open_ur(server)  # the liquidation orders go in and meet the resting bids
    loan = server.client(DESK).request("GET", f"/v1/loans/{loan_id}")[1]
    assert loan["state"] == "repaid" and len(loan["liquidation_orders"]) == 2

    value = 170_100 * 20
    net = value - (value * 200 * 2 + 1_000_000) // 2_000_000
    bank_after = server.client(BANK).request("GET", "/v1/accounts/me")[1]["available"]
    # principal back first, then four days' interest (4 × 10.00 yuan), to the fen
    assert int(bank_after.replace(".", "")) - int(bank_before.replace(".", "")) == 4_000
    farm_cash = int(farm.request("GET", "/v1/accounts/me")[1]["available"].replace(".", ""))
    assert farm_cash == 100 * 100 + 5_000_000 + 2 * net - 5_000_000 - 4_000
    owners = {clients["mill-x"].request("GET", f"/v1/receipts/{r}")[1]["owner"] for r in collateral}
    assert owners == {"mill-x"}
    history = clients["mill-x"].request("GET", f"/v1/receipts/{collateral[0]}/history")[1]["events"]
    assert [e["action"] for e in history] == ["issue", "pledge", "release", "transfer", "lock", "deliver"]
    status, report = server.client(DESK).request("GET", "/v1/clearing/reconcile")
    assert report["clean"], report["breaks"]


def test_a_pledged_receipt_refuses_every_use_even_concurrently(server, world) -> None:
    clients, people, receipts = world
    farm = clients["coop-farm"]
    receipt = receipts["coop-farm"][2]
    status, loan = farm.request("POST", "/v1/loans", {"lender": BANK, "receipt_ids": [receipt],
                                                       "principal": "10000", "tenor_days": 5})
    assert status == 201
    assert server.client(BANK).request("POST", f"/v1/loans/{loan['loan_id']}/approve")[0] == 200
    open_ur(server)
    attempts = {
        "sell": lambda c: c.place("UR", "sell", 1, "1800", f"pledged-sell-{threading.get_ident()}",
                                  receipt_ids=[receipt]),
        "transfer": lambda c: c.request("POST", f"/v1/receipts/{receipt}/transfer", {"to": "mill-x"}),
        "second_pledge": lambda c: c.request("POST", "/v1/loans", {"lender": "rival-lender", "receipt_ids": [receipt],
                                                                   "principal": "1", "tenor_days": 5}),
        "lock": lambda c: c.request("POST", f"/v1/receipts/{receipt}/lock"),
    }
    outcomes = []
    barrier = threading.Barrier(12)

    def attempt(kind: str) -> None:
        client = Client.for_member(server.base, people["coop-farm"])
        barrier.wait()
        outcomes.append((kind, *attempts[kind](client)))

    threads = [threading.Thread(target=attempt, args=(list(attempts)[i % 4],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    codes = {(kind, status, body["error"]["code"]) for kind, status, body in outcomes}
    assert codes == {("sell", 422, "RECEIPT_PLEDGED"), ("transfer", 409, "RECEIPT_PLEDGED"),
                     ("second_pledge", 409, "RECEIPT_PLEDGED"), ("lock", 409, "RECEIPT_PLEDGED")}
    withdraw = farm.request("POST", f"/v1/receipts/{receipt}/release-request", {"reference": "out-pledged"})
    assert (withdraw[0], withdraw[1]["error"]["code"]) == (409, "RECEIPT_PLEDGED")
    # invisible as collateral to another lender
    assert Client.for_member(server.base, people["rival-lender"]).request("GET", f"/v1/receipts/{receipt}")[0] == 404
    history = farm.request("GET", f"/v1/receipts/{receipt}/history")[1]["events"]
    assert [e["action"] for e in history] == ["issue", "pledge"]
    assert farm.request("POST", f"/v1/loans/{loan['loan_id']}/repay")[0] == 200  # repaying releases it
    assert farm.request("GET", f"/v1/receipts/{receipt}")[1]["state"] == "registered"


def test_demo_has_a_lender_with_terms_and_an_outstanding_loan(server) -> None:
    bank = server.client(BANK)
    terms = bank.request("GET", "/v1/financing/terms")[1]
    assert any(t["lender"] == BANK and t["commodity"] == "cotton" for t in terms)
    book = bank.request("GET", "/v1/loans?state=active")[1]
    demo = [loan for loan in book if loan["borrower"] == "xinjiang-cotton-group"]
    assert demo and demo[0]["principal"] == "800000.00"
    assert server.client("xinjiang-cotton-group").request("GET", f"/v1/loans/{demo[0]['loan_id']}")[0] == 200
    assert server.client("huafang-textile").request("GET", f"/v1/loans/{demo[0]['loan_id']}")[0] == 404
