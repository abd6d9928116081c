"""The forward lifecycle over HTTP against a real server, with the drills' simulated clock
(``COMMEX_SIMULATED_CLOCK=1``) so the trading days and the margin call's deadline pass
without waiting: two members open 10 lots at 15,000; settlements 15,200 → 14,700 → 14,100;
variation each day, margin stepping up, a margin call, its deadline unmet, a forced
liquidation through the book, every balance to the fen (as yuan strings)."""

import time

import pytest

from exchange.calendar import BEIJING_OFFSET_NS, DAY_NS, Calendar, day_number
from gateway.client import Client
from gateway.process import ServerProcess

OPS, DESK = "exchange-ops", "clearing-desk"
SYMBOL = "CFT1"
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tmp_path_factory.mktemp("var"), module_database_url, env={"COMMEX_SIMULATED_CLOCK": "1"})
    proc.cli("demo")
    proc.start()
    yield proc
    proc.stop()


def beijing_ms(date: int, hour: float) -> int:
    return (day_number(date) * DAY_NS - BEIJING_OFFSET_NS) // 1_000_000 + int(hour * HOUR_MS)


class Story:
    def __init__(self, server) -> None:
        self.ops, self.desk = server.client(OPS), server.client(DESK)
        self.people: dict[str, Client] = {}
        for name in ("fa", "fb", "fc", "fd"):
            status, creds = self.ops.request("POST", "/v1/admin/members", {"member": name, "roles": ["trader"]})
            assert status == 201, creds
            self.people[name] = Client.for_member(server.base, creds)

    def ok(self, client: Client, method: str, path: str, body=None, status: int = 200):
        got, answer = client.request(method, path, body)
        assert got == status, (path, answer)
        return answer

    def clock_to(self, ms: int) -> None:
        now = self.ok(self.ops, "POST", "/v1/admin/clock", {"advance_ms": 1})["now_ms"]
        if ms > now:
            self.ok(self.ops, "POST", "/v1/admin/clock", {"advance_ms": ms - now})

    def open(self) -> None:
        self.ok(self.ops, "POST", f"/v1/admin/instruments/{SYMBOL}/session", {"state": "continuous"})

    def order(self, member: str, side: str, qty: int, price: str, status: int = 201) -> dict:
        got, answer = self.people[member].place(SYMBOL, side, qty, price, f"{member}-{time.time_ns()}")
        assert got == status, answer
        return answer

    def mark(self, price: str) -> None:
        for member, side in (("fc", "buy"), ("fd", "sell"), ("fd", "buy"), ("fc", "sell")):
            self.order(member, side, 1, price)

    def end_of_day(self) -> dict:
        return self.ok(self.desk, "POST", "/v1/clearing/end-of-day", {}, 201)

    def account(self, member: str) -> dict:
        return self.ok(self.people[member], "GET", "/v1/positions")


def test_three_days_over_http(server) -> None:
    s = Story(server)
    cal = Calendar()
    cal.open(time.time_ns() + DAY_NS)  # tomorrow or later: a day the clock has not reached
    d1 = cal.trading_date
    d2 = cal.next_business_day(d1)
    d3 = cal.next_business_day(d2)
    s.ok(s.ops, "POST", "/v1/admin/instruments", {"symbol": SYMBOL, "tick": "5", "lot_size": 5_000,
                                                  "ref_price": "15000", "band_bps": 600}, 201)
    s.ok(s.ops, "POST", f"/v1/admin/instruments/{SYMBOL}/fees", {"per_lot": "4.30"})
    s.ok(s.ops, "POST", f"/v1/admin/instruments/{SYMBOL}/forward", {
        "delivery_month": 202912, "last_trading_day": 20291215,
        "margin": [{"from_date": 0, "rate_bps": 500}, {"from_date": d3, "rate_bps": 1000}]})
    for member, amount in (("fa", "60000"), ("fb", "200000"), ("fc", "20000"), ("fd", "200000")):
        s.ok(s.desk, "POST", "/v1/clearing/deposits", {"member": member, "amount": amount, "reference": member}, 201)
    s.clock_to(beijing_ms(d1, 9.5))
    s.end_of_day()  # closes the day the demo opened: the calendar is on d1
    s.open()
    # day 1: 10 lots at 15,000: margin 5 % × 15,000 × 5 t = 3,750 yuan a lot
    s.order("fb", "sell", 10, "15000")
    s.order("fa", "buy", 10, "15000")
    a = s.account("fa")
    assert (a["margin_held"], a["cash_available"]) == ("37500.00", "22457.00")
    assert a["positions"][0]["net"] == 10 and a["positions"][0]["margin_per_lot"] == "3750.00"
    # refused, and nothing changes: 6 more lots need 22,500 yuan of margin and 25.80 of commission
    refused = s.people["fa"].place(SYMBOL, "buy", 6, "15000", "too-much")
    assert refused[0] == 422 and refused[1]["error"]["code"] == "INSUFFICIENT_MARGIN"
    assert s.account("fa") == a
    s.clock_to(beijing_ms(d1, 11.5))
    s.mark("15200")
    report = s.end_of_day()
    assert {(v["member"], v["amount"]) for v in report["variation"]} == {("fa", "10000.00"), ("fb", "-10000.00")}
    a = s.account("fa")
    assert (a["margin_held"], a["cash_available"]) == ("38000.00", "31957.00")
    # day 2: settles at 14,700: fa pays 25,000; d3 needs 10 %: 7,350 a lot, 73,500 in all
    s.clock_to(beijing_ms(d2, 9.5))
    s.open()
    s.clock_to(beijing_ms(d2, 11.5))
    s.mark("14700")
    report = s.end_of_day()
    assert {(v["member"], v["amount"]) for v in report["variation"]} == {("fa", "-25000.00"), ("fb", "25000.00")}
    [call] = [c for c in report["margin_calls"] if c["member"] == "fa"]
    assert call["amount"] == "28543.00"
    a = s.account("fa")
    assert (a["margin_held"], a["cash_available"], a["margin_required"]) == ("44957.00", "0.00", "73500.00")
    [mine] = s.ok(s.people["fa"], "GET", "/v1/margin-calls")
    assert (mine["state"], mine["amount"]) == ("open", "28543.00")
    # day 3: fd bids 4 lots at 14,150; fa does not pay; at 10:00 clearing liquidates
    s.clock_to(beijing_ms(d3, 9.5))
    s.open()
    s.order("fd", "buy", 4, "14150")
    s.clock_to(beijing_ms(d3, 10) + 1_000)
    for _ in range(100):  # the tick is journaled by the sequencer on its own
        if s.ok(s.people["fa"], "GET", "/v1/margin-calls")[0]["state"] != "open":
            break
        time.sleep(0.05)
    [mine] = s.ok(s.people["fa"], "GET", "/v1/margin-calls")
    assert mine["state"] == "closed"
    a = s.account("fa")
    assert a["positions"][0]["net"] == 6 and (a["margin_held"], a["cash_available"]) == ("44100.00", "839.80")
    fills = s.ok(s.people["fa"], "GET", "/v1/fills")
    assert [(f["side"], f["quantity"], f["price"]) for f in fills if f["symbol"] == SYMBOL][-1] == \
        ("sell", 4, "14150.00")
    [entry] = s.ok(s.desk, "GET", "/v1/credit/fa")["entries"]
    assert (entry["kind"], entry["amount"]) == ("forced_liquidation", "28543.00")
    s.clock_to(beijing_ms(d3, 11.5))
    s.mark("14100")
    report = s.end_of_day()
    assert {(v["member"], v["amount"]) for v in report["variation"]} == {
        ("fa", "-29000.00"), ("fb", "30000.00"), ("fd", "-1000.00")}
    a = s.account("fa")
    assert (a["margin_held"], a["cash_available"]) == ("15939.80", "0.00")
    assert s.ok(s.desk, "GET", "/v1/clearing/reconcile")["clean"] is True
