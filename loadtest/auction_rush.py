"""Locust scenario "auction rush": many bidders bid in the last seconds of one lot against a
running exchange (``commex demo`` + ``commex serve``).

    locust -f loadtest/auction_rush.py --headless -u 200 -r 200 -t 60s --host http://127.0.0.1:8080

At the start the scenario sets itself up with the demo's operator, clearing and urea supplier
keys (``$COMMEX_CREDENTIALS`` or ``var/demo-credentials.json``): one member per user
(``$RUSH_BIDDERS``, default 200) funded with 1,000,000 yuan, and a sell auction of one 20 t
urea lot closing ``$RUSH_LEAD_S`` (12) seconds later, extended by ``$RUSH_EXTEND_S`` (3)
seconds per late bid up to ``$RUSH_HARD_STOP_S`` (20) seconds after the close. Each user
waits for the last ``$RUSH_WINDOW_S`` (10) seconds, then reads the lot and bids one to three
increments above its best, until the lot closes. Every bid must be acknowledged (201) or
refused with a code (INCREMENT_TOO_SMALL: someone was faster; AUCTION_CLOSED): anything else
is a failure. At the end it prints one JSON line and fails the run (exit code 1) unless the
final price equals the highest acknowledged bid, every acknowledged bid is in the auction's
bid log, and replaying the countdown rule over that log gives the lot's final close.
"""

import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path

import gevent
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

from gateway.auth import sign, unique_timestamp_ms
from gateway.client import Client

CREDENTIALS = Path(os.environ.get("COMMEX_CREDENTIALS", "var/demo-credentials.json"))
BIDDERS = int(os.environ.get("RUSH_BIDDERS", "200"))
LEAD_S = float(os.environ.get("RUSH_LEAD_S", "12"))
WINDOW_S = float(os.environ.get("RUSH_WINDOW_S", "10"))
EXTEND_S = int(os.environ.get("RUSH_EXTEND_S", "3"))
HARD_STOP_S = int(os.environ.get("RUSH_HARD_STOP_S", "20"))
INCREMENT_FEN = 1_000  # 10 yuan a tonne
RUSH: dict = {}  # the auction, the bidders' keys, the acknowledged bids
_lock = threading.Lock()


def _demo(role: str, name: str | None = None) -> dict:
    members = json.loads(CREDENTIALS.read_text())["members"]
    return next(m for m in members if role in m["roles"] and (name is None or m["member"] == name))


@events.test_start.add_listener
def set_up(environment, **_) -> None:
    """Bidders, their money and the auction, through the public API."""
    host = environment.host
    ops, desk = Client.for_member(host, _demo("operator")), Client.for_member(host, _demo("clearing"))
    supplier = Client.for_member(host, _demo("supplier", "sinofert"))
    run = f"{os.getpid()}-{time.time_ns() % 10**9}"
    keys = []
    for n in range(BIDDERS):
        status, creds = ops.request("POST", "/v1/admin/members", {"member": f"rush-{run}-{n}", "roles": ["trader"]})
        assert status == 201, creds
        status, body = desk.request("POST", "/v1/clearing/deposits", {"member": creds["member"], "amount": "1000000",
                                                                      "reference": f"rush-{run}-{n}"})
        assert status == 201, body
        keys.append(creds)
    receipts = [r["receipt_id"] for r in supplier.request("GET", "/v1/receipts?state=registered")[1]
                if r["commodity"] == "urea"]
    close = time.time_ns() // 1_000_000 + int(LEAD_S * 1000)
    status, auction = supplier.request("POST", "/v1/auctions", {
        "commodity": "urea", "lots": [{"receipt_ids": receipts[:1]}], "opens_at_ms": close - 60_000,
        "closes_at_ms": close, "hard_stop_at_ms": close + HARD_STOP_S * 1000, "increment": "10",
        "base_price": "2000", "extend_seconds": EXTEND_S, "deposit": "10000"})
    assert status == 201, auction
    RUSH.update(auction_id=auction["auction_id"], close_ms=close, keys=keys, acked=[], refused={}, next_key=0,
                supplier=supplier)


@events.test_stop.add_listener
def check(environment, **_) -> None:
    """Wait for the lot to close, then check the price and the close against the bid log."""
    if "auction_id" not in RUSH:
        return
    supplier, aid = RUSH["supplier"], RUSH["auction_id"]
    deadline = time.monotonic() + HARD_STOP_S + LEAD_S + 10
    while True:
        lot = supplier.request("GET", f"/v1/auctions/{aid}")[1]["lots"][0]
        if lot["state"] != "open" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    log = supplier.request("GET", f"/v1/auctions/{aid}/bids")[1]
    close = RUSH["close_ms"] * 1_000_000  # the countdown rule over the log, in the sequencer's order
    hard = close + HARD_STOP_S * 10**9
    for b in log:
        if close - b["at_ns"] < EXTEND_S * 10**9 and close < hard:
            close = min(close + EXTEND_S * 10**9, hard)
    acked = RUSH["acked"]
    highest = max((Decimal(price) for price, _ in acked), default=None)
    logged = {b["bid_no"] for b in log}
    result = {"scenario": "auction_rush", "bidders": BIDDERS, "acknowledged": len(acked),
              "refused": dict(RUSH["refused"]),
              "failures": environment.stats.total.num_failures, "state": lot["state"], "final_price": lot["price"],
              "highest_acknowledged": str(highest), "extensions": lot["extensions"],
              "scheduled_close_ms": RUSH["close_ms"], "final_close_ms": lot["close_ms"],
              "rule_close_ms": close // 1_000_000, "bids_in_log": len(log),
              "acked_in_log": all(bid_no in logged for _, bid_no in acked)}
    ok = (lot["state"] == "won" and highest is not None and Decimal(lot["price"]) == highest
          and result["rule_close_ms"] == lot["close_ms"] and result["acked_in_log"] and len(log) == len(acked)
          and result["failures"] == 0)
    result["ok"] = ok
    print(json.dumps(result), flush=True)
    if not ok:
        environment.process_exit_code = 1


class RushBidder(FastHttpUser):
    """One bidder: waits for the last seconds, then outbids the lot's best until it closes."""

    wait_time = between(0.3, 1.2)

    def on_start(self) -> None:
        with _lock:
            self.creds = RUSH["keys"][RUSH["next_key"] % len(RUSH["keys"])]
            RUSH["next_key"] += 1
        self.aid = RUSH["auction_id"]
        start = RUSH["close_ms"] - WINDOW_S * 1000
        gevent.sleep(max(0.0, (start - time.time_ns() // 1_000_000) / 1000))
        self.closed = False

    def call(self, method: str, path: str, body: dict | None, name: str, allow: tuple[str, ...] = ()):
        data = json.dumps(body).encode() if body is not None else b""
        ts = str(unique_timestamp_ms(self.creds["api_key"], method, path, data))
        headers = {"X-API-Key": self.creds["api_key"], "X-Timestamp": ts, "Content-Type": "application/json",
                   "X-Signature": sign(self.creds["api_secret"], ts, method, path, data)}
        with self.client.request(method, path, data=data or None, headers=headers, name=name,
                                 catch_response=True) as resp:
            answer = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None
            code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
            if resp.status_code in (200, 201) or code in allow:
                resp.success()
                return resp.status_code, answer
            resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            return resp.status_code, None

    @task
    def bid(self) -> None:
        if self.closed:
            gevent.sleep(1)
            return
        _, auction = self.call("GET", f"/v1/auctions/{self.aid}", None, "auction")
        if not auction:
            return
        lot = auction["lots"][0]
        if lot["state"] != "open":
            self.closed = True
            return
        best = int(round(float(lot["best"] or lot["floor"]) * 100))
        price = best + INCREMENT_FEN * (1 + int(time.time_ns() // 1000) % 3) if lot["best"] else best
        status, answer = self.call("POST", f"/v1/auctions/{self.aid}/lots/1/bids", {"price": f"{price / 100:.2f}"},
                                   "bid", allow=("INCREMENT_TOO_SMALL", "AUCTION_CLOSED"))
        if status == 201 and answer:
            RUSH["acked"].append((answer["price"], answer["bid_no"]))
        elif answer and (code := answer.get("error", {}).get("code")):
            RUSH["refused"][code] = RUSH["refused"].get(code, 0) + 1
            self.closed = code == "AUCTION_CLOSED"
