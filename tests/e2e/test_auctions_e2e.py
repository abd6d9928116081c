"""Bulk supply through a real server and PostgreSQL, on the real clock: the hand-computed sell
auction of the issue (three lots, four bidders, a tie broken by time, a close extended twice,
a capped and an ineligible bidder refused, bonds, payments, fees and proceeds to the fen, a
winner who does not pay), a buy auction and listings (fixed and basis-priced, taken and
counter-offered) settled by DvP, and a replay of the journal to the same hash and closes."""

import asyncio
import json
import threading
import time
from decimal import ROUND_HALF_UP, Decimal

import asyncpg
import pytest
import websockets

from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.feed_client import login_message
from tests.support.polling import wait_for
from tests.support.ws import until

UREA = {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4, "granules_pct": 95}
UREA_SUB = {"type": "urea", "nitrogen_pct": 45.4, "biuret_pct": 1.2, "moisture_pct": 0.8, "granules_pct": 91}
OPS, DESK, WAREHOUSE = "exchange-ops", "clearing-desk", "sh-warehouse-02"
MILLS = ("mill-a", "mill-b", "mill-c", "mill-d", "mill-e")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sleep_until(ms: int) -> None:
    time.sleep(max(0.0, (ms - now_ms()) / 1000))


def yuan(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture(scope="module")
def world(server):
    ops, desk, warehouse = server.client(OPS), server.client(DESK), server.client(WAREHOUSE)
    clients = {}
    for name, role in (("reserve", "supplier"), *((m, "trader") for m in MILLS)):
        status, creds = ops.request("POST", "/v1/admin/members", {"member": name, "roles": [role]})
        assert status == 201, creds
        clients[name] = Client.for_member(server.base, creds)
    for m in MILLS:
        assert desk.request("POST", "/v1/clearing/deposits", {"member": m, "amount": "200000",
                                                              "reference": f"fund-{m}"})[0] == 201
    assert ops.request("POST", "/v1/admin/supply/fee", {"fee_per_tonne": "5"})[0] == 200
    receipts = []
    for n, quality in enumerate([UREA, UREA, UREA, UREA_SUB, UREA, UREA]):
        status, r = warehouse.request("POST", "/v1/receipts", {
            "certificate_no": f"AUC-{n}", "inspector": "CCIC", "owner": "reserve", "quality": quality,
            "quantity_kg": 20_000})
        assert status == 201, r
        receipts.append(r["receipt_id"])
    return clients, receipts


def cash(client: Client) -> tuple[Decimal, Decimal]:
    body = client.request("GET", "/v1/accounts/me")[1]
    return yuan(body["available"]), yuan(body["escrow"])


def auction(client: Client, auction_id: int) -> dict:
    status, body = client.request("GET", f"/v1/auctions/{auction_id}")
    assert status == 200, body
    return body


def bid(client: Client, auction_id: int, lot: int, price: str, **extra) -> tuple[int, dict]:
    return client.request("POST", f"/v1/auctions/{auction_id}/lots/{lot}/bids", {"price": price, **extra})


def end_of_day(server) -> None:
    status, body = server.client(DESK).request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})
    assert status == 201, body


def code(answer: tuple[int, dict]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"] if status >= 400 else ""


def test_hand_computed_sell_auction(server, world) -> None:
    clients, receipts = world
    reserve, a, b, c, d, e = (clients[n] for n in ("reserve", *MILLS))
    # mill-d earns a credit-register entry first: it wins a lot and does not pay
    t0 = now_ms()
    status, first = reserve.request("POST", "/v1/auctions", {
        "commodity": "urea", "lots": [{"receipt_ids": [receipts[4]]}], "opens_at_ms": t0, "closes_at_ms": t0 + 1500,
        "increment": "10", "base_price": "2000", "deposit": "10000", "bond_per_tonne": "100", "payment_days": 0,
        "extend_seconds": 0})
    assert status == 201, first
    assert bid(d, first["auction_id"], 1, "2000")[0] == 201
    won = wait_for(lambda: auction(d, first["auction_id"]), lambda v: v["lots"][0]["state"] == "won")
    assert won["lots"][0]["state"] == "won", won
    end_of_day(server)
    assert auction(d, first["auction_id"])["lots"][0]["state"] == "forfeited"
    escrow_lines = [line for line in d.request("GET", "/v1/ledger")[1] if line["account"] == "bulk:mill-d"]
    assert any(line["amount"].startswith("-") and line["counter_account"] != "cash:mill-d" for line in escrow_lines), \
        escrow_lines  # the forfeited bond left the member's escrow: on its statement
    [entry] = d.request("GET", "/v1/credit/mill-d")[1]["entries"]
    assert (entry["kind"], entry["ref"], entry["amount"]) == ("auction_forfeit", f"auction:{first['auction_id']}/lot:1",
                                                              "2000.00")
    reserve_before = cash(reserve)[0]
    assert reserve_before == Decimal("1900.00")  # the bond less the exchange's 5 yuan/t

    t0 = now_ms()
    close = t0 + 7_000
    status, main = reserve.request("POST", "/v1/auctions", {
        "commodity": "urea", "opens_at_ms": t0 + 500, "closes_at_ms": close, "hard_stop_at_ms": close + 60_000,
        "lots": [{"receipt_ids": [receipts[0]]}, {"receipt_ids": receipts[1:3]}, {"receipt_ids": [receipts[3]]}],
        "increment": "10", "base_price": "2000", "extend_seconds": 3, "deposit": "10000", "bond_per_tonne": "100",
        "clean_days": 5, "max_lots": 1, "payment_days": 0}, idempotency_key="main-auction")
    assert status == 201, main
    aid = main["auction_id"]
    assert [lot["floor"] for lot in main["lots"]] == ["2000.00", "2000.00", "1980.00"]  # base + premium
    assert code(bid(a, aid, 1, "2010")) == (409, "AUCTION_NOT_OPEN")
    sleep_until(t0 + 500)
    assert code(bid(a, aid, 1, "1990")) == (422, "BELOW_FLOOR")
    assert bid(a, aid, 1, "2010")[0] == 201
    assert code(bid(b, aid, 1, "2010")) == (422, "INCREMENT_TOO_SMALL")  # the tie: the earlier bid wins
    assert code(bid(d, aid, 2, "2500")) == (403, "NOT_ELIGIBLE")  # its forfeit is in the credit register
    assert code(bid(a, aid, 3, "1980")) == (422, "BUYER_CAP")  # one lot a bidder: it leads lot 1
    assert bid(c, aid, 3, "1980")[0] == 201
    assert bid(b, aid, 2, "2000")[0] == 201
    assert cash(e)[1] == 0
    sleep_until(close - 2_000)
    status, first_extension = bid(e, aid, 2, "2020")  # in the last 3 s: the close moves 3 s later
    assert status == 201 and first_extension["close_ms"] == close + 3_000, first_extension
    sleep_until(close + 1_000)
    status, second_extension = bid(b, aid, 2, "2030")
    assert status == 201 and second_extension["close_ms"] == close + 6_000, second_extension
    assert code(bid(e, aid, 1, "2100")) == (409, "AUCTION_CLOSED")  # lot 1 closed at its time
    view = wait_for(lambda: auction(reserve, aid), lambda v: v["state"] == "ended")
    lots = view["lots"]
    assert [(lot["winner"], lot["price"], lot["value"], lot["bond"], lot["state"]) for lot in lots] == [
        ("mill-a", "2010.00", "40200.00", "2000.00", "won"), ("mill-b", "2030.00", "81200.00", "4000.00", "won"),
        ("mill-c", "1980.00", "39600.00", "2000.00", "won")]
    assert [lot["close_ms"] for lot in lots] == [close, close + 6_000, close]
    assert [lot["extensions"] for lot in lots] == [0, 2, 0]
    assert [lot["bids"] for lot in lots] == [1, 3, 1]
    public = auction(e, aid)["lots"]  # bidders are anonymous to others
    assert [lot["winner"] for lot in public] == [None, None, None]
    assert cash(e) == (Decimal("200000.00"), 0)  # its pre-deposit released when the auction ended
    assert cash(a) == (Decimal("198000.00"), Decimal("2000.00"))  # the bond came out of the pre-deposit
    assert code(a.request("POST", f"/v1/auctions/{aid}/lots/2/pay")) == (403, "NOT_WINNER")
    status, paid = a.request("POST", f"/v1/auctions/{aid}/lots/1/pay", idempotency_key="pay-1")
    assert status == 200 and paid["state"] == "paid", paid
    again = a.request("POST", f"/v1/auctions/{aid}/lots/1/pay", idempotency_key="pay-1")
    assert again == (200, paid)  # a retry moves no money
    assert b.request("POST", f"/v1/auctions/{aid}/lots/2/pay")[0] == 200
    assert cash(a) == (Decimal("200000") - Decimal("40200") - Decimal("100"), 0)
    assert cash(b) == (Decimal("200000") - Decimal("81200") - Decimal("200"), 0)
    end_of_day(server)  # mill-c did not pay by the end of the day: forfeit
    lots = auction(reserve, aid)["lots"]
    assert [lot["state"] for lot in lots] == ["paid", "paid", "forfeited"]
    assert cash(c) == (Decimal("198000.00"), 0)
    assert cash(reserve)[0] - reserve_before == Decimal("40200") - 100 + Decimal("81200") - 200 + 2000 - 100
    report = reserve.request("GET", "/v1/market/report?day=latest")[1]["bulk_supply"]
    assert report == [{"commodity": "urea", "mode": "sell_auction", "lots_offered": 3, "lots_sold": 3,
                       "tonnes_sold": "80.000", "average_premium": "-5.00", "turnover": "161000.00"}]
    [entry] = c.request("GET", "/v1/credit/mill-c")[1]["entries"]
    assert (entry["kind"], entry["ref"], entry["amount"]) == ("auction_forfeit", f"auction:{aid}/lot:3", "2000.00")
    desk = server.client(DESK)
    chains = {r: [(ev["action"], ev["counterparty"]) for ev in
                  desk.request("GET", f"/v1/receipts/{r}/history")[1]["events"]] for r in receipts[:4]}
    assert chains[receipts[0]] == [("issue", "reserve"), ("offer", None), ("award", "mill-a")]
    assert chains[receipts[1]] == chains[receipts[2]] == [("issue", "reserve"), ("offer", None), ("award", "mill-b")]
    assert chains[receipts[3]] == [("issue", "reserve"), ("offer", None), ("withdraw_offer", None)]
    status, report = desk.request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]


def test_buy_auction_and_listings_settle_by_dvp(server, world) -> None:
    clients, _ = world
    ops, desk, warehouse = server.client(OPS), server.client(DESK), server.client(WAREHOUSE)
    plant, sinofert = server.client("huafang-textile"), server.client("sinofert")
    status, creds = ops.request("POST", "/v1/admin/members", {"member": "urea-two", "roles": ["supplier"]})
    assert status == 201
    rival = Client.for_member(server.base, creds)
    mine = [warehouse.request("POST", "/v1/receipts", {
        "certificate_no": f"BUY-{n}", "inspector": "CCIC", "owner": owner, "quality": UREA,
        "quantity_kg": 20_000})[1]["receipt_id"] for n, owner in enumerate(["sinofert", "urea-two", "sinofert",
                                                                             "sinofert"])]
    assert desk.request("POST", "/v1/clearing/deposits", {"member": "urea-two", "amount": "20000",
                                                          "reference": "u2"})[0] == 201
    # buy auction: 20 t of base-grade urea, ceiling 2,100 yuan/t; the lowest offer wins
    plant_before, sino_before = cash(plant), cash(sinofert)
    t0 = now_ms()
    status, buy = plant.request("POST", "/v1/auctions", {
        "side": "buy", "commodity": "urea", "opens_at_ms": t0, "closes_at_ms": t0 + 3_000, "increment": "5",
        "extend_seconds": 1, "deposit": "5000", "demand": [{"quantity_kg": 20_000, "ceiling": "2100",
                                                             "factors": {"grade": ["base"]}}]})
    assert status == 201, buy
    bid_ = buy["auction_id"]
    assert code(bid(sinofert, bid_, 1, "2150", receipt_ids=[mine[0]])) == (422, "ABOVE_CEILING")
    assert bid(sinofert, bid_, 1, "2080", receipt_ids=[mine[0]])[0] == 201
    assert bid(rival, bid_, 1, "2060", receipt_ids=[mine[1]])[0] == 201
    assert code(bid(sinofert, bid_, 1, "2058", receipt_ids=[mine[0]])) == (422, "INCREMENT_TOO_SMALL")
    assert bid(sinofert, bid_, 1, "2055", receipt_ids=[mine[0]])[0] == 201
    view = wait_for(lambda: auction(plant, bid_), lambda v: v["state"] == "ended")
    lot = view["lots"][0]
    assert (lot["state"], lot["winner"], lot["price"], lot["value"]) == ("settled", "sinofert", "2055.00", "41100.00")
    assert cash(plant) == (plant_before[0] - Decimal("41100") - 100, plant_before[1])
    assert cash(sinofert)[0] == sino_before[0] + Decimal("41100") - 100
    assert cash(rival) == (Decimal("20000.00"), 0)
    owners = {r: plant.request("GET", f"/v1/receipts/{r}")[1] for r in mine[:2]}
    assert owners[mine[0]].get("owner") == "huafang-textile"

    # a fixed-price listing, taken whole
    status, fixed = sinofert.request("POST", "/v1/listings", {"commodity": "urea", "receipt_ids": [mine[2]],
                                                              "price": "2070"})
    assert status == 201, fixed
    before = cash(plant)[0], cash(sinofert)[0]
    status, taken = plant.request("POST", f"/v1/listings/{fixed['listing_id']}/take", {},
                                  idempotency_key="take-fixed")
    assert status == 200 and (taken["state"], taken["value"]) == ("taken", "41400.00"), taken
    assert code(clients["mill-a"].request("POST", f"/v1/listings/{fixed['listing_id']}/take", {})) == \
        (409, "LISTING_CLOSED")
    assert cash(plant)[0] == before[0] - Decimal("41400") - 100
    assert cash(sinofert)[0] == before[1] + Decimal("41400") - 100

    # first come, first served: two buyers take one listed lot at once
    status, race = sinofert.request("POST", "/v1/listings", {"commodity": "urea", "receipt_ids": [mine[3]],
                                                             "price": "2070"})
    assert status == 201, race
    takers = {name: server.client(name) for name in ("huafang-textile", "luneng-agri")}
    answers: dict[str, tuple[int, dict]] = {}
    barrier = threading.Barrier(2)

    def take(name: str) -> None:
        barrier.wait()
        answers[name] = takers[name].request("POST", f"/v1/listings/{race['listing_id']}/take", {})

    threads = [threading.Thread(target=take, args=(name,)) for name in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(code(a) for a in answers.values()) == [(200, ""), (409, "LISTING_CLOSED")], answers
    winner = next(name for name, a in answers.items() if a[0] == 200)
    assert desk.request("GET", f"/v1/receipts/{mine[3]}")[1]["owner"] == winner

    # a basis listing of cotton over the near cotton month (settlement 15,000 yuan/t), counter-offered and accepted
    cotton_owner = server.client("xinjiang-cotton-group")
    cotton = [r for r in cotton_owner.request("GET", "/v1/receipts?state=registered")[1]
              if r["commodity"] == "cotton"][0]
    status, basis = cotton_owner.request("POST", "/v1/listings", {
        "commodity": "cotton", "receipt_ids": [cotton["receipt_id"]], "forward": CF_NEAR, "basis": "200"})
    assert status == 201 and basis["price_today"] == "15200.00", basis
    status, countered = plant.request("POST", f"/v1/listings/{basis['listing_id']}/counter-offers",
                                      {"price": "15100", "respond_seconds": 60})
    assert status == 201, countered
    kg = cotton["quantity_kg"]
    value = (Decimal(15100) * kg / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    fee = (Decimal(5) * kg / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert cash(plant)[1] == plant_before[1] + value + fee  # the counter's payment, frozen
    before = cash(plant)[0], cash(cotton_owner)[0]
    status, accepted = cotton_owner.request("POST", f"/v1/listings/{basis['listing_id']}/counter-offers/1/accept")
    assert status == 200 and (accepted["state"], accepted["deal_price"]) == ("taken", "15100.00"), accepted
    assert yuan(accepted["value"]) == value
    assert cash(plant) == (before[0], plant_before[1])
    assert cash(cotton_owner)[0] == before[1] + value - fee
    chains = {r: [(ev["action"], ev["counterparty"]) for ev in
                  desk.request("GET", f"/v1/receipts/{r}/history")[1]["events"]]
              for r in (mine[0], mine[1], cotton["receipt_id"])}
    assert chains[mine[0]] == [("issue", "sinofert"), ("offer", None), ("withdraw_offer", None),  # outbid at 2,060
                               ("offer", None), ("award", "huafang-textile")]  # won at 2,055
    assert chains[mine[1]] == [("issue", "urea-two"), ("offer", None), ("withdraw_offer", None)]  # outbid
    assert chains[cotton["receipt_id"]][-2:] == [("offer", None), ("award", "huafang-textile")]
    status, report = desk.request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]


def test_feed_shows_lots_anonymously_and_each_member_its_own(server, world) -> None:
    clients, receipts = world
    reserve, a, e = clients["reserve"], clients["mill-a"], clients["mill-e"]
    t0 = now_ms()
    status, pub = reserve.request("POST", "/v1/auctions", {
        "commodity": "urea", "lots": [{"receipt_ids": [receipts[5]]}], "opens_at_ms": t0, "closes_at_ms": t0 + 3_000,
        "increment": "10", "base_price": "2000", "deposit": "10000", "extend_seconds": 0})
    assert status == 201, pub
    aid = pub["auction_id"]

    async def watch() -> tuple[list[dict], list[dict]]:
        url = f"ws://127.0.0.1:{server.port}/v1/ws"
        async with websockets.connect(url) as public, websockets.connect(url) as private:
            await public.send(json.dumps({"type": "subscribe", "channels": [f"auction.{aid}"]}))
            first = await until(public, lambda m: m.get("channel") == f"auction.{aid}")
            await private.send(json.dumps(login_message(a.api_key, a.api_secret)))
            await until(private, lambda m: m["type"] == "orders_snapshot")
            assert first["type"] == "auctions_snapshot" and first["lots"][0]["bids"] == 0
            assert 0 < first["lots"][0]["countdown_ms"] <= 3_000
            assert (await asyncio.to_thread(bid, a, aid, 1, "2000"))[0] == 201
            assert (await asyncio.to_thread(bid, e, aid, 1, "2020"))[0] == 201
            lots = [await until(public, lambda m: m["type"] == "auction_lot") for _ in range(2)]
            lots.append(await until(public, lambda m: m["type"] == "auction_lot" and m["state"] != "open"))
            mine = [await until(private, lambda m: m["type"] == "auction") for _ in range(2)]
            return lots, mine

    lots, mine = asyncio.run(asyncio.wait_for(watch(), 30))
    assert [(m["best"], m["bids"], m["state"]) for m in lots] == [("2000.00", 1, "open"), ("2020.00", 2, "open"),
                                                                  ("2020.00", 2, "won")]
    assert not any("mill" in json.dumps(m) for m in lots)  # bidders are anonymous
    assert [(m["auction"]["type"], m["auction"]["price"]) for m in mine] == [("auction_bid", "2000.00"),
                                                                             ("auction_outbid", "2020.00")]


def race(server, creds: Client, attempts: dict[str, tuple]) -> dict[str, tuple[int, dict]]:
    """Send every attempt at once, each from its own connection with the same member's key."""
    answers: dict[str, tuple[int, dict]] = {}
    barrier = threading.Barrier(len(attempts))

    def attempt(name: str) -> None:
        client = Client.for_member(server.base, {"api_key": creds.api_key, "api_secret": creds.api_secret})
        barrier.wait()
        answers[name] = client.request(*attempts[name])

    threads = [threading.Thread(target=attempt, args=(name,)) for name in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_a_receipt_in_an_auction_refuses_every_other_use_even_concurrently(server, world) -> None:
    clients, _ = world
    reserve = clients["reserve"]
    status, r = server.client(WAREHOUSE).request("POST", "/v1/receipts", {
        "certificate_no": "AUC-RACE", "inspector": "CCIC", "owner": "reserve", "quality": UREA, "quantity_kg": 20_000})
    assert status == 201
    rid = r["receipt_id"]
    t0 = now_ms()
    auction_body = {"commodity": "urea", "lots": [{"receipt_ids": [rid]}], "opens_at_ms": t0,
                    "closes_at_ms": t0 + 600_000, "increment": "10", "base_price": "2000"}
    listing_body = {"commodity": "urea", "receipt_ids": [rid], "price": "2100"}
    # three offers of one free receipt at once: exactly one takes it
    answers = race(server, reserve, {"auction-1": ("POST", "/v1/auctions", auction_body),
                                     "auction-2": ("POST", "/v1/auctions", auction_body),
                                     "listing": ("POST", "/v1/listings", listing_body)})
    assert sorted(status for status, _ in answers.values()) == [201, 409, 409], answers
    assert {code(a)[1] for a in answers.values() if a[0] == 409} == {"LOT_RECEIPT_UNAVAILABLE"}
    assert server.client(DESK).request("GET", f"/v1/receipts/{rid}")[1]["state"] == "offered"
    # offered, it refuses a sale, a pledge, a transfer, a withdrawal and another offer, all at once
    server.client(OPS).request("POST", "/v1/admin/instruments/UR/session", {"state": "continuous"})
    answers = race(server, reserve, {
        "auction": ("POST", "/v1/auctions", auction_body),
        "listing": ("POST", "/v1/listings", listing_body),
        "pledge": ("POST", f"/v1/receipts/{rid}/pledge", {"lender": "agri-bank"}),
        "transfer": ("POST", f"/v1/receipts/{rid}/transfer", {"to": "mill-a"}),
        "sell": ("POST", "/v1/orders", {"symbol": "UR", "side": "sell", "quantity": 1, "price": "2000",
                                        "client_order_id": "race-sell", "receipt_ids": [rid]}),
    })
    codes = {name: code(a)[1] or a[1].get("reject_reason") for name, a in answers.items()}
    assert codes == {"auction": "LOT_RECEIPT_UNAVAILABLE", "listing": "LOT_RECEIPT_UNAVAILABLE",
                     "pledge": "RECEIPT_OFFERED", "transfer": "RECEIPT_OFFERED", "sell": "RECEIPT_OFFERED"}, answers
    receipt = server.client(DESK).request("GET", f"/v1/receipts/{rid}")[1]
    assert (receipt["state"], receipt["owner"]) == ("offered", "reserve")


def test_the_journal_replays_to_the_same_hash_and_closes(server, world) -> None:
    from exchange.state import ExchangeState
    from gateway.sequencer import replay_journal

    live = server.client(DESK).request("GET", "/healthz")[1]["state_hash"]
    auctions = server.client(DESK).request("GET", "/v1/auctions")[1]
    closes = [[lot["close_ms"] for lot in a["lots"]] for a in auctions]
    outcomes = [[(lot["state"], lot["winner"], lot["price"]) for lot in a["lots"]] for a in auctions]
    assert server.stop() == 0
    replay = json.loads(server.cli("replay"))
    assert replay["match"] and replay["state_hash"] == live, replay

    async def replayed() -> ExchangeState:
        state = ExchangeState()
        conn = await asyncpg.connect(server.env["DATABASE_URL"])
        try:
            await replay_journal(conn, state)
        finally:
            await conn.close()
        return state

    state = asyncio.run(replayed())
    assert state.state_hash() == live
    assert [[lot.close_ns // 1_000_000 for lot in a.lots] for a in state.auctions.auctions.values()] == closes
    assert [[(lot.state, lot.winner or None, f"{lot.price / 100:.2f}" if lot.price else None) for lot in a.lots]
            for a in state.auctions.auctions.values()] == outcomes
    assert all(lot.closed_ns >= lot.close_ns for a in state.auctions.auctions.values() for lot in a.lots
               if lot.state != "open")  # each closed by the first clock tick at or after its close
    server.start()
