"""Warehouse operations through a real server and PostgreSQL: tariffs, storage fees at the
end of day, release orders and pickups, the warehouse's views."""

import pytest

from gateway.client import Client

OPS, CLEARING = "exchange-ops", "clearing-desk"
UREA = {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4, "granules_pct": 94.5}


def join(server, member: str, role: str) -> Client:
    creds = server.client(OPS).request("POST", "/v1/admin/members", {"member": member, "roles": [role]})[1]
    return Client.for_member(server.base, creds)


def deposit(server, member: str, yuan: str, reference: str) -> None:
    status, body = server.client(CLEARING).request("POST", "/v1/clearing/deposits",
                                                   {"member": member, "amount": yuan, "reference": reference})
    assert status == 201, body


def reconciled(server) -> None:
    status, report = server.client(CLEARING).request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]


@pytest.fixture(scope="module")
def parties(server):
    return {"wh": join(server, "tj-warehouse-09", "warehouse"), "owner": join(server, "hebei-agri", "trader")}


def test_storage_fees_to_the_fen_at_the_end_of_day(server, parties) -> None:
    wh, owner = parties["wh"], parties["owner"]
    status, tariff = wh.request("POST", "/v1/warehouse/tariffs", {"commodity": "urea",
                                                                  "storage_per_tonne_day": "1.37"})
    assert (status, tariff["storage_per_tonne_day"]) == (200, "1.37"), tariff
    assert owner.request("POST", "/v1/warehouse/tariffs", {"commodity": "urea", "storage_per_tonne_day": "1"})[0] \
        == 403
    assert wh.request("POST", "/v1/warehouse/tariffs", {"commodity": "gold", "storage_per_tonne_day": "1"})[1][
        "error"]["code"] == "UNKNOWN_COMMODITY"
    deposit(server, "hebei-agri", "1000", "hebei-1")
    status, receipt = wh.request("POST", "/v1/receipts", {"certificate_no": "TJ-1", "inspector": "CCIC",
                                                          "owner": "hebei-agri", "quality": UREA,
                                                          "quantity_kg": 20_013})
    assert status == 201, receipt
    assert server.client(CLEARING).request("POST", "/v1/clearing/end-of-day", {})[0] == 201
    # 20.013 t × 1.37 yuan = 27.41781 → 27.42
    fees = wh.request("GET", "/v1/warehouse/fees")[1]
    assert fees["earned"] == "27.42" and fees["paid_by_receipt"] == {receipt["receipt_id"]: "27.42"}
    assert owner.request("GET", "/v1/accounts/me")[1]["available"] == "972.58"
    line = owner.request("GET", "/v1/ledger")[1][0]
    assert line["code"] == "STORAGE_FEE" and line["ref"] == f"receipt:{receipt['receipt_id']}", line
    reconciled(server)


def cotton_bales(count: int) -> list[dict]:
    """Base-grade 3128B bales (premium 0): 227 kg at 8.5 % regain."""
    return [{"barcode": f"6528{b:08d}", "net_kg": "227.0", "colour_grade": "31", "length_mm": "28.0",
             "micronaire": "4.5", "strength_cn_tex": "27.0", "uniformity_pct": "81.0", "trash_pct": "2.0",
             "moisture_regain_pct": "8.5"} for b in range(count)]


def test_a_cotton_lot_from_declaration_to_registration_sale_and_pickup(server) -> None:
    wh, gin, mill = join(server, "kash-wh-07", "warehouse"), join(server, "aksu-gin", "supplier"), \
        join(server, "wuxi-mill", "trader")
    ops, desk = server.client(OPS), server.client(CLEARING)
    deposit(server, "aksu-gin", "1000.00", "aksu-1")
    deposit(server, "wuxi-mill", "1000000.00", "wuxi-1")
    assert wh.request("POST", "/v1/warehouse/tariffs", {"commodity": "cotton", "storage_per_tonne_day": "0.85",
                                                        "inbound_per_tonne": "3.50"})[0] == 200
    # pre-declaration → acceptance → inbound deposit → arrival → inspection → registered
    status, d = gin.request("POST", "/v1/warehouse/declarations", {
        "warehouse": "kash-wh-07", "commodity": "cotton", "expected_kg": 40_125, "reference": "aksu-lot-1",
        "crop_year": 2025})
    assert (status, d["state"]) == (201, "declared"), d
    did = d["declaration_id"]
    assert gin.request("POST", "/v1/warehouse/declarations", {
        "warehouse": "kash-wh-07", "commodity": "cotton", "expected_kg": 40_125, "reference": "aksu-lot-1"})[1][
        "declaration_id"] == did  # a retry
    assert did in {x["declaration_id"] for x in wh.request("GET", "/v1/warehouse/declarations?state=declared")[1]}
    assert server.client("xj-warehouse-01").request("POST", f"/v1/warehouse/declarations/{did}/accept", {})[0] == 404
    assert gin.request("POST", f"/v1/warehouse/declarations/{did}/pay")[1]["error"]["code"] == \
        "DECLARATION_NOT_ACCEPTED"
    assert wh.request("POST", f"/v1/warehouse/declarations/{did}/accept", {})[1]["state"] == "accepted"
    status, d = gin.request("POST", f"/v1/warehouse/declarations/{did}/pay")
    assert (status, d["state"], d["inbound_deposit"]) == (200, "paid", "140.44")  # 40.125 t × 3.50 = 140.4375
    assert wh.request("POST", f"/v1/warehouse/declarations/{did}/arrival", {"arrived_kg": 40_900})[1]["state"] == \
        "arrived"
    inspection = {"certificate_no": "GJ-AKSU-1", "inspector": "CFIC",
                  "quality": {"type": "cotton", "ginning": "P2", "bales": cotton_bales(180)}}
    status, body = server.client("xj-warehouse-01").request(
        "POST", f"/v1/warehouse/declarations/{did}/inspection", inspection)
    assert status == 404  # another warehouse cannot inspect (it does not even see the declaration)
    status, d = wh.request("POST", f"/v1/warehouse/declarations/{did}/inspection", inspection)
    assert (status, d["state"]) == (200, "registered"), d
    rid = d["receipt_id"]
    receipt = gin.request("GET", f"/v1/receipts/{rid}")[1]
    assert (receipt["owner"], receipt["warehouse"], receipt["quantity_kg"]) == ("aksu-gin", "kash-wh-07", 40_860)
    assert desk.request("GET", f"/v1/warehouse/declarations/{did}")[1]["receipt_id"] == rid  # clearing sees it
    assert wh.request("GET", "/v1/warehouse/stock")[1] == [
        {"warehouse": "kash-wh-07", "commodity": "cotton", "receipts": 1, "quantity_kg": 40_860,
         "by_state": {"registered": 1}}]
    everywhere = desk.request("GET", "/v1/warehouse/stock")[1]  # clearing: every warehouse's lines
    assert {line["warehouse"] for line in everywhere} >= {"kash-wh-07", "xj-warehouse-01"}
    assert desk.request("GET", "/v1/warehouse/stock?warehouse=kash-wh-07")[1] == wh.request(
        "GET", "/v1/warehouse/stock")[1]
    # sale: the demo's cheaper cotton asks are withdrawn first
    server.client("xinjiang-cotton-group").request("POST", "/v1/orders/cancel-all", {"symbol": "CF"})
    ops.request("POST", "/v1/admin/instruments/CF/session", {"state": "continuous"})
    assert gin.place("CF", "sell", 1, "15100", "aksu-ask-1")[0] == 201
    status, bid = mill.place("CF", "buy", 1, "15100", "wuxi-bid-1")
    assert bid["status"] == "FILLED", bid
    status, report = desk.request("POST", "/v1/clearing/end-of-day", {})  # the mill owns it at the close
    assert status == 201
    rows = {r["member"]: r["warehouse_cash"] for r in report["members"]}
    assert (rows["kash-wh-07"], rows["aksu-gin"], rows["wuxi-mill"]) == ("175.17", "-140.44", "-34.73")
    # pickup by the new owner, with the right code only
    status, release = mill.request("POST", f"/v1/receipts/{rid}/release-request", {"reference": "wuxi-out-1"})
    assert status == 201, release
    pickup = f"/v1/warehouse/releases/{release['release_id']}/pickup"
    wrong = wh.request("POST", pickup, {"pickup_code": "ZZZZ-ZZZZ-ZZZZ", "weight_kg": 40_860})
    assert (wrong[0], wrong[1]["error"]["code"]) == (403, "WRONG_PICKUP_CODE")
    assert mill.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "released_for_pickup"
    assert wh.request("GET", "/v1/warehouse/releases?state=open")[1][0]["receipt_id"] == rid  # outbound queue
    status, done = wh.request("POST", pickup, {"pickup_code": release["pickup_code"], "weight_kg": 40_860})
    assert (status, done["state"], done["weight_out_kg"]) == (200, "picked_up", 40_860)
    assert wh.request("GET", "/v1/warehouse/stock")[1] == []
    # every step in the chain of custody
    steps = mill.request("GET", f"/v1/receipts/{rid}/custody")[1]
    assert [s["step"] for s in steps] == ["declared", "accepted", "paid", "arrived", "registered", "issue", "lock",
                                          "deliver", "outbound", "pickup"]
    assert [s["actor"] for s in steps] == ["aksu-gin", "kash-wh-07", "aksu-gin", "kash-wh-07", "kash-wh-07",
                                           "kash-wh-07", "aksu-gin", "exchange", "wuxi-mill", "kash-wh-07"]
    # every fen: value 15,100 × 40.860 t = 616,986.00; commission 0.2 ‰ = 123.3972 → 123.40 a side;
    # inbound deposit 140.44 (the gin); one day's storage 40.860 t × 0.85 = 34.731 → 34.73 (the mill, owner at
    # the close; the gin, who sold before it, pays none)
    balance = {m: c.request("GET", "/v1/accounts/me")[1]["available"] for m, c in
               (("gin", gin), ("mill", mill), ("wh", wh))}
    assert balance == {"gin": f"{1000 - 140.44 + 616_986 - 123.40:.2f}",
                       "mill": f"{1_000_000 - 616_986 - 123.40 - 34.73:.2f}", "wh": f"{140.44 + 34.73:.2f}"}
    fees = wh.request("GET", "/v1/warehouse/fees")[1]
    assert (fees["earned"], fees["paid_by_receipt"]) == ("34.73", {rid: "34.73"})
    reconciled(server)


def test_an_expiry_rule_dates_new_receipts(server) -> None:
    ops = server.client(OPS)
    assert ops.request("POST", "/v1/admin/expiry-rules", {"commodity": "urea", "by": "production", "days": 150})[0] \
        == 200
    assert server.client("luneng-agri").request("POST", "/v1/admin/expiry-rules",
                                                {"commodity": "urea", "by": "production"})[0] == 403
    status, body = ops.request("POST", "/v1/admin/expiry-rules", {"commodity": "cotton", "by": "crop_year",
                                                                  "month": 2, "day": 30})
    assert (status, body["error"]["code"]) == (422, "INVALID_RULE")
    wh = server.client("sh-warehouse-02")
    status, receipt = wh.request("POST", "/v1/receipts", {"certificate_no": "EXP-1", "inspector": "CCIC",
                                                          "owner": "luneng-agri", "quality": UREA,
                                                          "quantity_kg": 20_000})
    assert status == 201, receipt
    from datetime import datetime
    issued = datetime.fromisoformat(wh.request("GET", f"/v1/receipts/{receipt['receipt_id']}/history")[1][
        "events"][0]["at"])
    assert (datetime.fromisoformat(receipt["expires_at"]) - issued).days == 150
    assert receipt["crop_year"] is None and receipt["old_crop_discount"] is None


def test_a_quality_dispute_upheld_over_http_refunds_the_buyer(server) -> None:
    ops, desk = server.client(OPS), server.client(CLEARING)
    assert ops.request("POST", "/v1/admin/instruments", {"symbol": "URD", "tick": "1", "lot_size": 20000,
                                                          "ref_price": "2000", "band_bps": 400})[0] == 201
    ops.request("POST", "/v1/admin/instruments/URD/session", {"state": "continuous"})
    assert ops.request("POST", "/v1/admin/instruments/URD/delivery",
                       {"commodity": "urea", "table": "GB/T2440-2017"})[0] == 200
    seller, buyer = join(server, "hunan-fert", "supplier"), join(server, "jiangsu-farm", "trader")
    deposit(server, "hunan-fert", "100.00", "hunan-1")
    deposit(server, "jiangsu-farm", "50000.00", "jiangsu-1")
    status, receipt = server.client("sh-warehouse-02").request(
        "POST", "/v1/receipts", {"certificate_no": "DSP-1", "inspector": "CCIC", "owner": "hunan-fert",
                                 "quality": UREA, "quantity_kg": 20_000})
    assert status == 201, receipt
    rid = receipt["receipt_id"]
    assert seller.place("URD", "sell", 1, "2005", "dsp-ask")[0] == 201
    assert buyer.place("URD", "buy", 1, "2005", "dsp-bid")[1]["status"] == "FILLED"
    before = {m: c.request("GET", "/v1/accounts/me")[1]["available"] for m, c in (("s", seller), ("b", buyer))}
    assert buyer.request("GET", "/v1/ledger")[0] == 200  # it reads SQL: the receipt's row is written before the dispute
    assert seller.request("POST", f"/v1/receipts/{rid}/disputes", {"kind": "quality", "reference": "x"})[0] == 404
    status, d = buyer.request("POST", f"/v1/receipts/{rid}/disputes", {"kind": "quality", "reference": "dsp-1"})
    assert (status, d["state"], d["deal"]) == (201, "open", ""), d  # bought in the book: its trade is the cause
    did = d["dispute_id"]
    assert buyer.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "frozen_for_delivery"
    assert desk.request("POST", f"/v1/disputes/{did}/reinspection-order")[1]["state"] == "reinspection"
    status, d = server.client("sh-warehouse-02").request("POST", f"/v1/disputes/{did}/reinspection", {
        "quality": {**UREA, "nitrogen_pct": 45.5}, "quantity_kg": 19_950})
    assert (status, d["reinspected_premium"]) == (200, "-20.00"), d
    status, d = desk.request("POST", f"/v1/disputes/{did}/decision", {"uphold": True})
    # 2,005 × 20 t = 40,100.00 delivered; 1,985 × 19.95 t = 39,600.75 re-inspected: 499.25 back to the buyer
    assert (status, d["state"], d["adjustment"]) == (200, "upheld", "499.25"), d
    after = {m: c.request("GET", "/v1/accounts/me")[1]["available"] for m, c in (("s", seller), ("b", buyer))}
    from decimal import Decimal
    assert Decimal(after["s"]) == Decimal(before["s"]) - Decimal("499.25")
    assert Decimal(after["b"]) == Decimal(before["b"]) + Decimal("499.25")
    assert buyer.request("GET", f"/v1/receipts/{rid}")[1]["quantity_kg"] == 19_950
    reconciled(server)


def test_registration_steps_reach_the_owners_private_stream(server) -> None:
    import asyncio
    import json

    import websockets

    from gateway.feed_client import login_message

    ops = server.client(OPS)
    creds = ops.request("POST", "/v1/admin/members", {"member": "gansu-gin", "roles": ["supplier"]})[1]
    owner, wh = Client.for_member(server.base, creds), server.client("xj-warehouse-01")

    async def watch() -> list[dict]:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/ws") as ws:
            await ws.send(json.dumps(login_message(creds["api_key"], creds["api_secret"])))
            await asyncio.sleep(0.3)
            status, d = await asyncio.to_thread(owner.request, "POST", "/v1/warehouse/declarations", {
                "warehouse": "xj-warehouse-01", "commodity": "cotton", "expected_kg": 40_000, "reference": "g-1"})
            assert status == 201, d
            await asyncio.to_thread(wh.request, "POST", f"/v1/warehouse/declarations/{d['declaration_id']}/accept",
                                    {})
            seen: list[dict] = []
            async with asyncio.timeout(20):
                while len(seen) < 2:
                    message = json.loads(await ws.recv())
                    if message["type"] == "declaration":
                        seen.append(message["declaration"])
            return seen

    steps = asyncio.run(watch())
    assert [(s["step"], s["actor"]) for s in steps] == [("declared", "gansu-gin"), ("accepted", "xj-warehouse-01")]


def test_the_owner_cancels_a_release_order_before_pickup(server, parties) -> None:
    wh, owner = parties["wh"], parties["owner"]
    status, receipt = wh.request("POST", "/v1/receipts", {"certificate_no": "CXL-1", "inspector": "CCIC",
                                                          "owner": "hebei-agri", "quality": UREA,
                                                          "quantity_kg": 20_000})
    assert status == 201, receipt
    rid = receipt["receipt_id"]
    status, release = owner.request("POST", f"/v1/receipts/{rid}/release-request", {"reference": "cxl-out-1"})
    assert status == 201, release
    cancel = f"/v1/warehouse/releases/{release['release_id']}/cancel"
    stranger = join(server, "cxl-stranger", "trader")
    assert stranger.request("POST", cancel)[0] == 404  # not its order: not even shown
    refused = wh.request("POST", cancel)
    assert (refused[0], refused[1]["error"]["code"]) == (403, "NOT_OWNER")
    status, done = owner.request("POST", cancel)
    assert (status, done["state"], done["pickup_code"]) == (200, "cancelled", None), done
    assert owner.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "registered"
    assert owner.request("POST", cancel)[1]["state"] == "cancelled"  # a retry
    late = wh.request("POST", f"/v1/warehouse/releases/{release['release_id']}/pickup",
                      {"pickup_code": release["pickup_code"], "weight_kg": 20_000})
    assert (late[0], late[1]["error"]["code"]) == (409, "RELEASE_CLOSED")
    assert [o["release_id"] for o in wh.request("GET", "/v1/warehouse/releases?state=cancelled")[1]] == \
        [release["release_id"]]
    reconciled(server)
