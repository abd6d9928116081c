"""Locust scenarios against a running exchange (``commex demo`` + ``commex serve``).

    locust -f loadtest/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8080

Credentials come from ``$COMMEX_CREDENTIALS`` or ``var/demo-credentials.json``. A business
rejection the exchange is right to give (an order already filled when cancelled) counts as
a success; anything else unexpected is a failure.
"""

import itertools
import json
import os
import random
import time
from pathlib import Path

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from gateway.auth import sign

CREDENTIALS = Path(os.environ.get("COMMEX_CREDENTIALS", "var/demo-credentials.json"))
_ids = itertools.count()
_run = f"{os.getpid()}-{time.time_ns() % 10**9}"


def members_with(role: str) -> list[dict]:
    data = json.loads(CREDENTIALS.read_text())
    return [m for m in data["members"] if role in m["roles"]]


class SignedUser(FastHttpUser):
    """A user that signs every request with one member's key."""

    abstract = True
    role = "trader"
    wait_time = between(0.2, 0.6)

    def on_start(self) -> None:
        self.creds = random.choice(members_with(self.role))

    def call(self, method: str, path: str, body: dict | None = None, name: str | None = None,
             ok: tuple[int, ...] = (200, 201)):
        data = json.dumps(body).encode() if body is not None else b""
        ts = str(time.time_ns() // 1_000_000)
        headers = {"X-API-Key": self.creds["api_key"], "X-Timestamp": ts, "Content-Type": "application/json",
                   "X-Signature": sign(self.creds["api_secret"], ts, method, path, data)}
        with self.client.request(method, path, data=data or None, headers=headers, name=name or path,
                                 catch_response=True) as resp:
            if resp.status_code in ok:
                resp.success()
                return resp.json() if resp.content else None
            resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            return None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{_run}-{next(_ids)}"


class Trader(SignedUser):
    """Places, amends and cancels cotton and urea orders near the reference; reads the book."""

    role = "trader"
    weight = 5

    def on_start(self) -> None:
        super().on_start()
        self.open: dict[int, int] = {}  # open order id -> its total quantity

    @task(5)
    def place(self) -> None:
        symbol, ref, tick = random.choice((("CF", 15_000, 5), ("UR", 2_000, 1)))
        side = random.choice(("buy", "sell"))
        price = ref + tick * random.randint(-10, 10)
        order = self.call("POST", "/v1/orders", {
            "symbol": symbol, "side": side, "quantity": random.randint(1, 5), "price": str(price),
            "client_order_id": self.new_id("lt"), "time_in_force": random.choice(("GTC", "GTC", "DAY", "IOC")),
        }, name="/v1/orders [new]")
        if order and order["status"] in ("NEW", "PARTIALLY_FILLED"):
            self.open[order["order_id"]] = order["quantity"]

    @task(2)
    def amend(self) -> None:
        if self.open:
            order_id = random.choice(list(self.open))
            quantity = self.open[order_id] + random.randint(1, 3)  # up, so never below what has filled
            # the order may have filled meanwhile: 409 ORDER_NOT_OPEN is a right answer
            answer = self.call("PATCH", f"/v1/orders/{order_id}", {"quantity": quantity},
                               name="/v1/orders/{id} [amend]", ok=(200, 409))
            if answer and answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
                self.open[order_id] = answer["quantity"]
            else:
                self.open.pop(order_id, None)

    @task(2)
    def cancel(self) -> None:
        if self.open:
            order_id = random.choice(list(self.open))
            del self.open[order_id]
            self.call("DELETE", f"/v1/orders/{order_id}", name="/v1/orders/{id} [cancel]", ok=(200, 409))

    @task(2)
    def read_book(self) -> None:
        self.call("GET", f"/v1/book/{random.choice(('CF', 'UR', 'SS'))}?depth=10", name="/v1/book/{symbol}")

    @task(1)
    def read_orders(self) -> None:
        self.call("GET", "/v1/orders?status=open", name="/v1/orders [open]")


class Supplier(SignedUser):
    """Posts large iceberg asks of cotton and urea backed by supply, and withdraws some."""

    role = "supplier"
    weight = 2

    @task(3)
    def post_iceberg(self) -> None:
        symbol, ref, tick = random.choice((("CF", 15_000, 5), ("UR", 2_000, 1)))
        self.call("POST", "/v1/orders", {
            "symbol": symbol, "side": "sell", "quantity": random.randint(100, 400),
            "display_quantity": random.choice((10, 20)), "price": str(ref + tick * random.randint(0, 15)),
            "client_order_id": self.new_id("ice"),
        }, name="/v1/orders [iceberg]")

    @task(1)
    def withdraw_all(self) -> None:
        self.call("POST", "/v1/orders/cancel-all", {"symbol": random.choice(("CF", "UR"))},
                  name="/v1/orders/cancel-all")


class ClearingStaff(SignedUser):
    """Reads members, trades and instruments (settlement reports arrive with clearing)."""

    role = "clearing"
    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def review(self) -> None:
        self.call("GET", "/v1/admin/members")
        self.call("GET", f"/v1/trades/{random.choice(('CF', 'UR', 'SS'))}", name="/v1/trades/{symbol}")


class MarketWatcher(SignedUser):
    """Watches books, trades and instruments."""

    role = "lender"
    weight = 2

    @task(3)
    def book(self) -> None:
        self.call("GET", f"/v1/book/{random.choice(('CF', 'UR', 'SS'))}?depth=20", name="/v1/book/{symbol}")

    @task(1)
    def trades(self) -> None:
        self.call("GET", f"/v1/trades/{random.choice(('CF', 'UR', 'SS'))}", name="/v1/trades/{symbol}")

    @task(1)
    def instruments(self) -> None:
        self.call("GET", "/v1/instruments")
