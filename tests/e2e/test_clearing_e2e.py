"""Delivery versus payment end to end, through a real server and PostgreSQL: deposits, a
supplier's iceberg ask of graded cotton receipts, partial fills by two mills, then every fen
checked by hand, reconciliation clean and the end-of-day report."""

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal

import pytest

from gateway.client import Client

WAREHOUSE, CLEARING, OPS = "xj-warehouse-01", "clearing-desk", "exchange-ops"
PRICE = 15_100  # yuan/t
# colour 21 +300, length 30 +600, micronaire A +200, S2 +250, U2 +150, P1 +200 (ZCE 2016/17)
PREMIUM = 300 + 600 + 200 + 250 + 150 + 200


def bales(lot: int, count: int) -> list[dict]:
    return [{"barcode": f"6599{lot:04d}{b:05d}", "net_kg": "227.0", "colour_grade": "21", "length_mm": "30.2",
             "micronaire": "4.0", "strength_cn_tex": "29.5", "uniformity_pct": "84.0", "trash_pct": "1.8",
             "moisture_regain_pct": "8.5"} for b in range(count)]


def yuan(text: str) -> Decimal:
    return Decimal(text)


def half_up(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def parties(server):
    ops, desk = server.client(OPS), server.client(CLEARING)
    # the demo's cheaper cotton asks would fill first: withdraw them
    server.client("xinjiang-cotton-group").request("POST", "/v1/orders/cancel-all", {"symbol": "CF"})
    members = {}
    for name, role in (("mill-a", "trader"), ("mill-b", "trader"), ("gin-co", "supplier")):
        members[name] = Client.for_member(server.base, ops.request("POST", "/v1/admin/members",
                                                                   {"member": name, "roles": [role]})[1])
    for mill in ("mill-a", "mill-b"):
        status, body = desk.request("POST", "/v1/clearing/deposits",
                                    {"member": mill, "amount": "5000000.00", "reference": f"bank-{mill}"})
        assert status == 201 and body["available"] == "5000000.00"
    warehouse = server.client(WAREHOUSE)
    for lot, count in enumerate((176, 178, 180, 182, 184, 186)):  # 39.95 t .. 42.22 t
        status, body = warehouse.request("POST", "/v1/receipts", {
            "certificate_no": f"GJ-E2E-{lot}", "inspector": "CFIC", "owner": "gin-co",
            "quality": {"type": "cotton", "ginning": "P1", "bales": bales(lot, count)}})
        assert status == 201, body
        assert body["premium_per_tonne"] == f"{PREMIUM}.00"
    return members, desk


def test_delivery_versus_payment_end_to_end(server, parties) -> None:
    members, desk = parties
    gin, mill_a, mill_b = members["gin-co"], members["mill-a"], members["mill-b"]
    weights = {r["receipt_id"]: r["quantity_kg"] for r in gin.request("GET", "/v1/receipts")[1]}
    assert len(weights) == 6

    status, ask = gin.place("CF", "sell", 6, str(PRICE), "gin-ask-1", display_quantity=2)
    assert status == 201, ask
    for coid, mill, lots in (("a-1", mill_a, 2), ("b-1", mill_b, 3), ("a-2", mill_a, 1)):
        status, bid = mill.place("CF", "buy", lots, str(PRICE), coid)
        assert status == 201 and bid["status"] == "FILLED", bid

    # receipts now belong to the buyers, first locked first delivered
    owned = {m: {r["receipt_id"] for r in c.request("GET", "/v1/receipts")[1]} for m, c in
             (("mill-a", mill_a), ("mill-b", mill_b), ("gin-co", gin))}
    assert (len(owned["mill-a"]), len(owned["mill-b"]), len(owned["gin-co"])) == (3, 3, 0)

    # recompute every payment and commission from the receipts' histories
    by_trade: dict[str, list[str]] = defaultdict(list)
    buyer_of: dict[str, str] = {}
    for member in ("mill-a", "mill-b"):
        for rid in owned[member]:
            history = members[member].request("GET", f"/v1/receipts/{rid}/history")[1]["events"]
            deliver = history[-1]
            assert deliver["action"] == "deliver" and deliver["counterparty"] == member
            by_trade[deliver["detail"]].append(rid)
            buyer_of[deliver["detail"]] = member
    paid = defaultdict(Decimal)
    fees = defaultdict(Decimal)
    for trade, rids in by_trade.items():
        value = sum(half_up(Decimal(PRICE + PREMIUM) * weights[r] / 1000) for r in rids)
        fee = half_up(value * Decimal("0.0002"))  # 200 ppm each side
        paid[buyer_of[trade]] += value
        fees[buyer_of[trade]] += fee
        paid["gin-co"] -= value
        fees["gin-co"] += fee
    assert len(by_trade) == 4  # 2 | 2+1 | 1: the iceberg's slices split mill-b's fill
    for member, client in (("mill-a", mill_a), ("mill-b", mill_b), ("gin-co", gin)):
        balances = client.request("GET", "/v1/accounts/me")[1]
        start = Decimal("5000000.00") if member != "gin-co" else Decimal(0)
        assert yuan(balances["available"]) == start - paid[member] - fees[member], member
        assert balances["held"] == "0.00"
    statement = mill_a.request("GET", "/v1/ledger")[1]
    assert {line["code"] for line in statement} >= {"DEPOSIT", "HOLD", "DVP", "FEE"}
    assert sum(-yuan(line["amount"]) for line in statement if line["code"] == "DVP") == paid["mill-a"]

    status, report = desk.request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]
    assert report["bank_balance"] == report["liabilities"] == str(yuan(report["deposited"]) - yuan(report["withdrawn"]))
    assert yuan(report["deposited"]) > 0 and "." in report["deposited"]  # yuan, as every amount on the wire

    status, day = desk.request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})
    assert status == 201
    cf = next(i for i in day["instruments"] if i["symbol"] == "CF")
    assert cf["settlement_price"] == f"{PRICE}.00" and cf["volume_lots"] >= 6
    rows = {r["member"]: r for r in day["members"]}
    assert rows["gin-co"]["receipts_out"] == 6 and rows["mill-b"]["receipts_in"] == 3
    assert yuan(rows["gin-co"]["fees"]) == fees["gin-co"]
    for row in rows.values():  # the day's flows by code take the opening balance to the closing, in yuan
        assert yuan(row["opening_balance"]) + sum(map(yuan, row["flows"].values())) == yuan(row["closing_balance"])
    assert yuan(rows["gin-co"]["flows"]["DVP"]) > 0 > yuan(rows["mill-b"]["flows"]["DVP"])
    status, csv_text = desk.request("GET", "/v1/clearing/reports/latest?format=csv")
    assert status == 200 and csv_text.splitlines()[0].startswith("section,member")
    assert any(line.startswith("member,gin-co,") for line in csv_text.splitlines())
    assert f"flow,gin-co,DVP,{rows['gin-co']['flows']['DVP']}" in csv_text.splitlines()
    status, mine = mill_a.request("GET", "/v1/clearing/reports/latest")
    assert [r["member"] for r in mine["members"]] == ["mill-a"] and "fee_revenue" not in mine
    status, report = desk.request("GET", "/v1/clearing/reconcile")
    assert report["clean"], report["breaks"]


def test_funding_rules(server, parties) -> None:
    members, desk = parties
    status, body = desk.request("POST", "/v1/clearing/withdrawals",
                                {"member": "mill-a", "amount": "999999999.00", "reference": "too-much"})
    assert (status, body["error"]["code"]) == (422, "INSUFFICIENT_FUNDS")
    assert members["mill-a"].request("POST", "/v1/clearing/deposits",
                                     {"member": "mill-a", "amount": "1.00", "reference": "self"})[0] == 403
    status, body = desk.request("POST", "/v1/clearing/deposits", {"member": "ghost", "amount": "1.00",
                                                                 "reference": "x"})
    assert (status, body["error"]["code"]) == (422, "UNKNOWN_MEMBER")
    assert desk.request("POST", "/v1/clearing/deposits", {"member": "mill-a", "amount": "-5",
                                                         "reference": "x"})[0] == 400
    before = members["mill-b"].request("GET", "/v1/accounts/me")[1]
    status, body = desk.request("POST", "/v1/clearing/withdrawals",
                                {"member": "mill-b", "amount": "100.00", "reference": "wd-1"})
    assert status == 201 and yuan(body["available"]) == yuan(before["available"]) - 100
    assert members["mill-b"].request("GET", "/v1/ledger?member=mill-a")[0] == 403
    assert len(desk.request("GET", "/v1/accounts")[1]) >= 3


def test_a_retried_deposit_moves_money_once_even_concurrently(server, parties) -> None:
    """Ten concurrent retries of one deposit (a client retrying after timeouts): one booking,
    every answer the first one; the same reference for another amount is refused."""
    members, desk = parties
    before = yuan(members["mill-a"].request("GET", "/v1/accounts/me")[1]["available"])
    body = {"member": "mill-a", "amount": "250.00", "reference": "bank-transfer-7731"}
    desks = [server.client(CLEARING) for _ in range(10)]  # one connection each
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda d: d.request("POST", "/v1/clearing/deposits", body), desks))
    assert {status for status, _ in answers} == {201}
    assert len({a["transfer_id"] for _, a in answers}) == 1
    assert yuan(members["mill-a"].request("GET", "/v1/accounts/me")[1]["available"]) == before + 250
    status, refused = desk.request("POST", "/v1/clearing/deposits", {**body, "amount": "251.00"})
    assert (status, refused["error"]["code"]) == (409, "DUPLICATE_REFERENCE")
    lines = desk.request("GET", "/v1/ledger?member=mill-a")[1]
    assert [line["code"] for line in lines if line["ref"] == "deposit:bank-transfer-7731"] == ["DEPOSIT"]
