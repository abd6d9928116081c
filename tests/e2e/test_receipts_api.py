"""Warehouse receipts through the HTTP API, against a real server and PostgreSQL."""

import threading

import pytest

from gateway.client import Client

WAREHOUSE, OTHER_WAREHOUSE = "xj-warehouse-01", "sh-warehouse-02"
TRADER, OTHER_TRADER, LENDER, CLEARING, OPS = "luneng-agri", "huafang-textile", "agri-bank", "clearing-desk", \
    "exchange-ops"
UREA = {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4, "granules_pct": 94.5}
_serial = iter(range(1, 10_000))


def issue(server, owner: str, quality: dict | None = None, warehouse: str = WAREHOUSE,
          kg: int = 20_000) -> tuple[int, dict]:
    body = {"certificate_no": f"T-{next(_serial)}", "inspector": "CCIC", "owner": owner,
            "quality": quality or UREA, "quantity_kg": kg}
    return server.client(warehouse).request("POST", "/v1/receipts", body)


def act(client: Client, receipt_id: str, action: str, body: dict | None = None) -> tuple[int, str]:
    status, answer = client.request("POST", f"/v1/receipts/{receipt_id}/{action}", body or {})
    return status, answer["error"]["code"] if status >= 400 else answer["state"]


@pytest.fixture(scope="module")
def spot(server):
    """A receipt-backed urea instrument of our own, and a supplier with three receipts."""
    ops = server.client(OPS)
    assert ops.request("POST", "/v1/admin/instruments", {"symbol": "URT", "tick": "1", "lot_size": 20000,
                                                          "ref_price": "2000", "band_bps": 400})[0] == 201
    ops.request("POST", "/v1/admin/instruments/URT/session", {"state": "continuous"})
    status, body = ops.request("POST", "/v1/admin/instruments/URT/delivery",
                               {"commodity": "urea", "table": "GB/T2440-2017"})
    assert status == 200, body
    supplier = ops.request("POST", "/v1/admin/members", {"member": "hubei-fert", "roles": ["supplier"]})[1]
    server.app_members = {"hubei-fert": supplier}
    receipts = [issue(server, "hubei-fert")[1]["receipt_id"] for _ in range(3)]
    return Client.for_member(server.base, supplier), receipts


def test_issue_value_and_visibility(server) -> None:
    status, r = issue(server, TRADER)
    assert status == 201, r
    assert (r["state"], r["owner"], r["warehouse"], r["factors"]) == ("registered", TRADER, WAREHOUSE,
                                                                      {"grade": "base"})
    assert r["valued_on"] == "UR" and r["premium_per_tonne"] == "0.00"
    assert r["value"] == "40000.00"  # 20 t at the 2,000 yuan/t reference
    rid = r["receipt_id"]
    assert server.client(TRADER).request("GET", f"/v1/receipts/{rid}")[0] == 200
    assert server.client(CLEARING).request("GET", f"/v1/receipts/{rid}")[0] == 200
    assert server.client(WAREHOUSE).request("GET", f"/v1/receipts/{rid}")[0] == 200
    for outsider in (OTHER_TRADER, LENDER, OTHER_WAREHOUSE):
        assert server.client(outsider).request("GET", f"/v1/receipts/{rid}")[0] == 404
    mine = {x["receipt_id"] for x in server.client(TRADER).request("GET", "/v1/receipts")[1]}
    assert rid in mine and rid not in {x["receipt_id"] for x in server.client(OTHER_TRADER)
                                       .request("GET", "/v1/receipts")[1]}


def test_issue_rejections(server) -> None:
    substitute = {**UREA, "nitrogen_pct": 45.5}
    assert issue(server, TRADER, substitute)[1]["premium_per_tonne"] == "-20.00"
    status, body = issue(server, TRADER, {**UREA, "nitrogen_pct": 44.0})
    assert (status, body["error"]["code"]) == (422, "QUALITY_REFUSED")
    status, body = issue(server, TRADER, {**UREA, "nitrogen_pct": 146.0})
    assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST")
    status, body = issue(server, "nobody")
    assert (status, body["error"]["code"]) == (422, "UNKNOWN_MEMBER")
    body = {"certificate_no": "DUP-1", "inspector": "CCIC", "owner": TRADER, "quality": UREA, "quantity_kg": 20_000}
    assert server.client(WAREHOUSE).request("POST", "/v1/receipts", body)[0] == 201
    status, answer = server.client(WAREHOUSE).request("POST", "/v1/receipts", body)
    assert (status, answer["error"]["code"]) == (409, "DUPLICATE_CERTIFICATE")
    status, answer = server.client(TRADER).request("POST", "/v1/receipts", body)
    assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")


def test_every_lifecycle_transition_legal_and_illegal(server) -> None:
    owner, bank, clearing = server.client(TRADER), server.client(LENDER), server.client(CLEARING)
    rid = issue(server, TRADER)[1]["receipt_id"]
    # lock for sale, and what a locked receipt refuses
    assert act(owner, rid, "lock") == (200, "locked_for_sale")
    assert act(owner, rid, "lock") == (409, "RECEIPT_LOCKED")
    assert act(owner, rid, "transfer", {"to": OTHER_TRADER}) == (409, "RECEIPT_LOCKED")
    assert act(owner, rid, "pledge", {"lender": LENDER}) == (409, "RECEIPT_LOCKED")
    assert act(owner, rid, "unlock") == (200, "registered")
    assert act(owner, rid, "unlock") == (409, "RECEIPT_NOT_LOCKED")
    # pledge, and what a pledged receipt refuses
    assert act(owner, rid, "pledge", {"lender": OTHER_TRADER}) == (422, "NOT_A_LENDER")
    assert act(owner, rid, "pledge", {"lender": LENDER}) == (200, "pledged")
    assert rid in {x["receipt_id"] for x in bank.request("GET", "/v1/receipts")[1]}
    assert act(owner, rid, "pledge", {"lender": LENDER}) == (409, "RECEIPT_PLEDGED")
    assert act(owner, rid, "transfer", {"to": OTHER_TRADER}) == (409, "RECEIPT_PLEDGED")
    assert act(owner, rid, "lock") == (409, "RECEIPT_PLEDGED")
    assert act(owner, rid, "release-request", {"reference": "out-pledged"}) == (409, "RECEIPT_PLEDGED")
    assert act(clearing, rid, "freeze") == (409, "RECEIPT_PLEDGED")
    assert act(owner, rid, "release") == (403, "FORBIDDEN")
    creds = server.client(OPS).request("POST", "/v1/admin/members", {"member": "rival-bank", "roles": ["lender"]})[1]
    rival = Client.for_member(server.base, creds)
    assert act(rival, rid, "release") == (404, "RECEIPT_NOT_FOUND")  # invisible to another lender
    assert act(bank, rid, "release") == (200, "registered")
    assert act(bank, rid, "release") == (404, "RECEIPT_NOT_FOUND")  # no longer the bank's to see
    # freeze for delivery
    assert act(owner, rid, "freeze") == (403, "FORBIDDEN")
    assert act(clearing, rid, "freeze") == (200, "frozen_for_delivery")
    assert act(owner, rid, "transfer", {"to": OTHER_TRADER}) == (409, "RECEIPT_FROZEN")
    assert act(clearing, rid, "freeze") == (409, "RECEIPT_FROZEN")
    assert act(clearing, rid, "unfreeze") == (200, "registered")
    assert act(clearing, rid, "unfreeze") == (409, "RECEIPT_NOT_FROZEN")
    # transfer
    assert act(owner, rid, "transfer", {"to": "nobody"}) == (422, "UNKNOWN_MEMBER")
    assert act(owner, rid, "transfer", {"to": TRADER}) == (422, "INVALID_COUNTERPARTY")
    assert act(owner, rid, "transfer", {"to": OTHER_TRADER}) == (200, "registered")
    assert owner.request("GET", f"/v1/receipts/{rid}")[0] == 404
    new_owner = server.client(OTHER_TRADER)
    assert act(owner, rid, "lock") == (404, "RECEIPT_NOT_FOUND")
    # withdrawal: the owner asks for a release order, the issuing warehouse records the pickup against its code
    assert act(server.client(WAREHOUSE), rid, "withdraw", {"pickup_code": "PK-7781"})[0] >= 400  # the old route
    assert new_owner.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "registered"  # is gone
    assert act(owner, rid, "release-request", {"reference": "out-1"}) == (404, "RECEIPT_NOT_FOUND")  # not its own
    status, release = new_owner.request("POST", f"/v1/receipts/{rid}/release-request", {"reference": "out-1"})
    assert status == 201 and release["state"] == "open" and len(release["pickup_code"]) == 14, release
    code, rel = release["pickup_code"], release["release_id"]
    status, again = new_owner.request("POST", f"/v1/receipts/{rid}/release-request", {"reference": "out-1"})
    assert (status, again["release_id"], again["pickup_code"]) == (200, rel, None)  # the code is shown once
    assert act(new_owner, rid, "transfer", {"to": TRADER}) == (409, "RECEIPT_RELEASED_FOR_PICKUP")
    assert act(new_owner, rid, "pledge", {"lender": LENDER}) == (409, "RECEIPT_RELEASED_FOR_PICKUP")
    assert act(new_owner, rid, "lock") == (409, "RECEIPT_RELEASED_FOR_PICKUP")

    def pick(client: Client, pickup_code: str) -> tuple[int, str]:
        status, body = client.request("POST", f"/v1/warehouse/releases/{rel}/pickup",
                                      {"pickup_code": pickup_code, "weight_kg": 20_000})
        return status, body["error"]["code"] if status >= 400 else body["state"]

    assert pick(server.client(OTHER_WAREHOUSE), code) == (404, "RELEASE_NOT_FOUND")  # not its goods: invisible
    assert pick(new_owner, code) == (403, "FORBIDDEN")
    wrong = "2222-2222-2222" if code != "2222-2222-2222" else "3333-3333-3333"
    assert pick(server.client(WAREHOUSE), wrong) == (403, "WRONG_PICKUP_CODE")
    assert pick(server.client(WAREHOUSE), "PK-7781") == (403, "WRONG_PICKUP_CODE")  # any code no longer works
    assert new_owner.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "released_for_pickup"
    assert pick(server.client(WAREHOUSE), code) == (200, "picked_up")
    assert new_owner.request("GET", f"/v1/receipts/{rid}")[1]["state"] == "cancelled"
    for action, body in (("lock", {}), ("transfer", {"to": TRADER}), ("pledge", {"lender": LENDER})):
        assert act(new_owner, rid, action, body) == (409, "RECEIPT_CANCELLED")
    # the chain of custody, from inspection to withdrawal
    status, history = new_owner.request("GET", f"/v1/receipts/{rid}/history")
    assert status == 200
    events = history["events"]
    assert [e["action"] for e in events] == ["issue", "lock", "unlock", "pledge", "release", "freeze", "unfreeze",
                                             "transfer", "outbound", "pickup"]
    assert [e["version"] for e in events] == list(range(1, 11))
    assert [e["actor"] for e in events] == [WAREHOUSE, TRADER, TRADER, TRADER, LENDER, CLEARING, CLEARING, TRADER,
                                            OTHER_TRADER, WAREHOUSE]
    assert events[3]["counterparty"] == LENDER and events[7]["counterparty"] == OTHER_TRADER
    assert events[-1]["detail"] == f"release {rel}: 20000 kg out" and code not in str(events)


def test_sell_orders_lock_receipts_fills_deliver_and_cancels_release(server, spot) -> None:
    supplier, receipts = spot
    buyer = server.client(TRADER)
    status, ask = supplier.place("URT", "sell", 2, "2005", "urt-ask-1")
    assert status == 201, ask
    held = [r for r in supplier.request("GET", "/v1/receipts")[1] if r["order_id"] == ask["order_id"]]
    assert sorted(r["receipt_id"] for r in held) == receipts[:2] and {r["state"] for r in held} == {"locked_for_sale"}
    status, body = supplier.place("URT", "sell", 2, "2005", "urt-ask-2")
    assert (status, body["error"]["code"]) == (422, "INSUFFICIENT_RECEIPTS")
    assert supplier.place("URT", "sell", 1, "2005", "urt-ask-3", receipt_ids=["WR99999999"])[1]["error"]["code"] == \
        "RECEIPT_NOT_FOUND"
    assert supplier.amend(ask["order_id"], quantity=4)[1]["error"]["code"] == "INSUFFICIENT_RECEIPTS"
    status, bid = buyer.place("URT", "buy", 1, "2005", "urt-bid-1")
    assert bid["status"] == "FILLED"
    delivered = buyer.request("GET", f"/v1/receipts/{receipts[0]}")[1]
    assert (delivered["owner"], delivered["state"]) == (TRADER, "registered")
    history = buyer.request("GET", f"/v1/receipts/{receipts[0]}/history")[1]["events"]
    assert [e["action"] for e in history][-2:] == ["lock", "deliver"] and history[-1]["counterparty"] == TRADER
    assert supplier.request("GET", f"/v1/receipts/{receipts[0]}")[0] == 404  # sold
    assert supplier.cancel(ask["order_id"])[0] == 200
    assert supplier.request("GET", f"/v1/receipts/{receipts[1]}")[1]["state"] == "registered"
    # name the receipts to offer; an amendment down releases the surplus
    status, ask = supplier.place("URT", "sell", 2, "2010", "urt-ask-4", receipt_ids=receipts[1:3])
    assert status == 201, ask
    assert supplier.amend(ask["order_id"], quantity=1)[0] == 200
    states = {r["receipt_id"]: r["state"] for r in supplier.request("GET", "/v1/receipts")[1]}
    assert states == {receipts[1]: "locked_for_sale", receipts[2]: "registered"}
    supplier.cancel(ask["order_id"])


def test_concurrent_sell_pledge_transfer_of_one_receipt_exactly_one_wins(server, spot) -> None:
    ops = server.client(OPS)
    creds = ops.request("POST", "/v1/admin/members", {"member": "race-supplier", "roles": ["supplier"]})[1]
    rid = issue(server, "race-supplier")[1]["receipt_id"]
    outcomes: list[tuple[str, int, str]] = []
    barrier = threading.Barrier(12)

    def attempt(kind: str, n: int) -> None:
        client = Client.for_member(server.base, creds)
        barrier.wait()
        if kind == "sell":
            status, body = client.place("URT", "sell", 1, "2050", f"race-{n}", receipt_ids=[rid])
        elif kind == "pledge":
            status, body = client.request("POST", f"/v1/receipts/{rid}/pledge", {"lender": LENDER})
        else:
            status, body = client.request("POST", f"/v1/receipts/{rid}/transfer", {"to": OTHER_TRADER})
        outcomes.append((kind, status, body["error"]["code"] if status >= 400 else "won"))

    threads = [threading.Thread(target=attempt, args=(("sell", "pledge", "transfer")[i % 3], i)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [o for o in outcomes if o[2] == "won"]
    assert len(outcomes) == 12 and len(winners) == 1, outcomes
    losers = {code for _, status, code in outcomes if code != "won"}
    # the losers were told why: busy, or (after a transfer) no longer theirs
    assert losers <= {"RECEIPT_LOCKED", "RECEIPT_PLEDGED", "NOT_OWNER", "RECEIPT_NOT_FOUND"}, outcomes
    history = server.client(CLEARING).request("GET", f"/v1/receipts/{rid}/history")[1]["events"]
    assert [e["version"] for e in history] == [1, 2]
    assert history[1]["action"] == {"sell": "lock", "pledge": "pledge", "transfer": "transfer"}[winners[0][0]]


def test_demo_suppliers_hold_receipts_they_can_sell_at_once(server) -> None:
    cotton = server.client("xinjiang-cotton-group").request("GET", "/v1/receipts")[1]
    assert len(cotton) == 30 and {r["commodity"] for r in cotton} == {"cotton"}
    sample = cotton[0]
    assert len(sample["quality"]["bales"]) == 185 and 40_000 < sample["quantity_kg"] < 44_000
    assert sample["valued_on"] == "CF" and sample["value"] is not None
    assert sum(r["state"] == "locked_for_sale" for r in cotton) == 7  # the demo's two cotton asks
    assert len(server.client("sinofert").request("GET", "/v1/receipts")[1]) == 40
    assert {r["commodity"] for r in server.client("zhongzai-recycling").request("GET", "/v1/receipts")[1]} == \
        {"scrap_steel"}
    status, ask = server.client("zhongzai-recycling").place("SS", "sell", 3, "2810", "demo-sell-now")
    assert status == 201 and ask["status"] == "NEW"
