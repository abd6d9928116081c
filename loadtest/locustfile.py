"""Locust scenarios against a running exchange (``commex demo`` + ``commex serve``).

    locust -f loadtest/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8080

Credentials come from ``$COMMEX_CREDENTIALS`` or ``var/demo-credentials.json``. The forwards traded
are the months the demo lists today (``gateway.demo.CF_NEAR``, ``CF_FAR``): seed the server with
``commex demo`` in the same month. With a primary and a hot standby,
``COMMEX_ENDPOINTS=http://a:8080,http://b:8080`` lists both: a request that cannot connect or is
answered 503 STANDBY / SHUTTING_DOWN moves to the next endpoint and is sent again (signed anew),
and the user stays with the endpoint that accepted. A business rejection the exchange is right to
give (an order already filled when cancelled) counts as a success; anything else unexpected is a
failure. ``WsOrderTrader`` enters orders over the WebSocket (``order.*`` messages, pipelined); its
figures are named after the message types.
"""

import itertools
import json
import os
import random
import time
from pathlib import Path

import gevent
import gevent.event
import websocket
from locust import User, between, task
from locust.contrib.fasthttp import FastHttpUser

from gateway.auth import sign, unique_timestamp_ms
from gateway.demo import CF_FAR, CF_NEAR

MARGIN_REFUSALS = ("INSUFFICIENT_MARGIN", "POSITION_LIMIT", "DAILY_OPEN_LIMIT")  # right answers on a forward
CREDENTIALS = Path(os.environ.get("COMMEX_CREDENTIALS", "var/demo-credentials.json"))
ENDPOINTS = [e.strip().rstrip("/") for e in os.environ.get("COMMEX_ENDPOINTS", "").split(",") if e.strip()]
ELSEWHERE = ("STANDBY", "SHUTTING_DOWN")
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
        self.endpoints = ENDPOINTS or [self.host.rstrip("/")]
        self.endpoint = 0

    def call(self, method: str, path: str, body: dict | None = None, name: str | None = None,
             ok: tuple[int, ...] = (200, 201), allow: tuple[str, ...] = ()):
        """``send`` to the current endpoint; on no connection or a 503 STANDBY / SHUTTING_DOWN, to
        the next one (each endpoint once per call; the failed attempts are counted as failures)."""
        for _ in range(len(self.endpoints)):
            answer, moved = self.send(method, path, body, name, ok, allow)
            if not moved:
                return answer
            self.endpoint = (self.endpoint + 1) % len(self.endpoints)
        return None

    def send(self, method: str, path: str, body: dict | None, name: str | None, ok: tuple[int, ...],
             allow: tuple[str, ...]):
        """Send a signed request; return (answer, whether another endpoint should be tried).
        Statuses in ``ok`` and error codes in ``allow`` are successes. Users share keys: the same
        request signed twice in one millisecond by this process gets the next millisecond
        (a signature is accepted once)."""
        data = json.dumps(body).encode() if body is not None else b""
        ts = str(unique_timestamp_ms(self.creds["api_key"], method, path, data))
        headers = {"X-API-Key": self.creds["api_key"], "X-Timestamp": ts, "Content-Type": "application/json",
                   "X-Signature": sign(self.creds["api_secret"], ts, method, path, data)}
        url = self.endpoints[self.endpoint] + path
        with self.client.request(method, url, data=data or None, headers=headers, name=name or path,
                                 catch_response=True) as resp:
            answer = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None
            code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
            if resp.status_code in ok or (code is not None and code in allow):
                resp.success()
                return answer, False
            resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            return None, resp.status_code == 0 or (resp.status_code == 503 and code in ELSEWHERE)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{_run}-{next(_ids)}"


class Trader(SignedUser):
    """Trades the cotton forward both ways (place, amend, cancel), buys spot cotton and urea
    (spot sells need receipts), reads the book. Running out of cash (INSUFFICIENT_FUNDS) is a
    right answer, not a failure."""

    role = "trader"
    weight = 5

    def on_start(self) -> None:
        super().on_start()
        self.open: dict[int, int] = {}  # open order id -> its total quantity

    @task(5)
    def place(self) -> None:
        symbol, ref, tick = random.choice(((CF_NEAR, 15_000, 5), (CF_NEAR, 15_000, 5), ("CF", 15_000, 5),
                                           ("UR", 2_000, 1)))
        forward = symbol == CF_NEAR
        side = random.choice(("buy", "sell")) if forward else "buy"
        price = ref + tick * random.randint(-10, 10)
        # spot buys take what suppliers offer (IOC): a resting spot bid holds its worst-case cost
        tif = random.choice(("GTC", "GTC", "DAY", "IOC")) if forward else "IOC"
        order = self.call("POST", "/v1/orders", {
            "symbol": symbol, "side": side, "quantity": random.randint(1, 5 if forward else 2), "price": str(price),
            "client_order_id": self.new_id("lt"), "time_in_force": tif,
        }, name="/v1/orders [new]", allow=("INSUFFICIENT_FUNDS", *MARGIN_REFUSALS))
        if order and order["status"] in ("NEW", "PARTIALLY_FILLED"):
            self.open[order["order_id"]] = order["quantity"]

    @task(2)
    def amend(self) -> None:
        if self.open:
            order_id = random.choice(list(self.open))
            quantity = self.open[order_id] + random.randint(1, 3)  # up, so never below what has filled
            # the order may have filled meanwhile: 409 ORDER_NOT_OPEN is a right answer
            answer = self.call("PATCH", f"/v1/orders/{order_id}", {"quantity": quantity},
                               name="/v1/orders/{id} [amend]",
                               allow=("ORDER_NOT_OPEN", "INSUFFICIENT_FUNDS", *MARGIN_REFUSALS))
            if answer and answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
                self.open[order_id] = answer["quantity"]
            else:
                self.open.pop(order_id, None)

    @task(2)
    def cancel(self) -> None:
        if self.open:
            order_id = random.choice(list(self.open))
            del self.open[order_id]
            self.call("DELETE", f"/v1/orders/{order_id}", name="/v1/orders/{id} [cancel]", allow=("ORDER_NOT_OPEN",))

    @task(2)
    def read_book(self) -> None:
        self.call("GET", f"/v1/book/{random.choice(('CF', 'UR', 'SS', CF_NEAR))}?depth=10", name="/v1/book/{symbol}")

    @task(1)
    def read_orders(self) -> None:
        self.call("GET", "/v1/orders?status=open", name="/v1/orders [open]")


class ForwardTrader(SignedUser):
    """Trades the demo's far cotton month (``CF_FAR``), a margined forward: opens positions,
    closes them with IOC orders at marketable prices, and meets its margin calls by closing. A
    refusal by the risk rules (INSUFFICIENT_MARGIN, POSITION_LIMIT, DAILY_OPEN_LIMIT) is a right
    answer."""

    role = "trader"
    weight = 3
    SYMBOL, REF, TICK = CF_FAR, 15_000, 5

    def order(self, side: str, quantity: int, price: int, tif: str, name: str) -> dict | None:
        return self.call("POST", "/v1/orders", {
            "symbol": self.SYMBOL, "side": side, "quantity": quantity, "price": str(price),
            "client_order_id": self.new_id("fwd"), "time_in_force": tif,
        }, name=name, allow=MARGIN_REFUSALS)

    def close(self, fraction: float, name: str) -> None:
        """Close ``fraction`` of the position with an IOC order at the far side of the book."""
        account = self.call("GET", "/v1/positions", name="/v1/positions")
        position = next((p for p in (account or {}).get("positions", []) if p["symbol"] == self.SYMBOL), None)
        if position and position["net"]:
            side = "sell" if position["net"] > 0 else "buy"
            quantity = max(1, int(abs(position["net"]) * fraction))
            price = self.REF + self.TICK * (-30 if side == "sell" else 30)
            self.order(side, quantity, price, "IOC", name)

    @task(5)
    def open_position(self) -> None:
        side = random.choice(("buy", "sell"))
        self.order(side, random.randint(1, 10), self.REF + self.TICK * random.randint(-6, 6),
                   random.choice(("GTC", "GTC", "IOC")), "/v1/orders [forward open]")

    @task(2)
    def close_position(self) -> None:
        self.close(0.5, "/v1/orders [forward close]")

    @task(1)
    def meet_margin_calls(self) -> None:
        calls = self.call("GET", "/v1/margin-calls", name="/v1/margin-calls") or []
        if any(c["state"] == "open" for c in calls):
            self.close(1.0, "/v1/orders [forward meet call]")

    @task(1)
    def tidy(self) -> None:
        self.call("POST", "/v1/orders/cancel-all", {"symbol": self.SYMBOL}, name="/v1/orders/cancel-all")


class Supplier(SignedUser):
    """Posts iceberg asks of spot goods backed by its warehouse receipts (one lot, one receipt),
    and withdraws them. Once its receipts are sold or locked, INSUFFICIENT_RECEIPTS is the right
    answer, not a failure."""

    role = "supplier"
    weight = 2
    SPOT = {"xinjiang-cotton-group": ("CF", 15_000, 5), "sinofert": ("UR", 2_000, 1),
            "zhongzai-recycling": ("SS", 2_800, 1)}

    @task(3)
    def post_iceberg(self) -> None:
        symbol, ref, tick = self.SPOT[self.creds["member"]]
        self.call("POST", "/v1/orders", {
            "symbol": symbol, "side": "sell", "quantity": random.randint(2, 6), "display_quantity": 1,
            "price": str(ref + tick * random.randint(0, 15)), "client_order_id": self.new_id("ice"),
        }, name="/v1/orders [iceberg]", allow=("INSUFFICIENT_RECEIPTS",))

    @task(1)
    def withdraw_all(self) -> None:
        self.call("POST", "/v1/orders/cancel-all", {"symbol": self.SPOT[self.creds["member"]][0]},
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


class WsUser(User):
    """A user on ``/v1/ws``: ``connect`` opens the socket, a reader greenlet hands each message
    to ``received`` (a lost connection is reported to locust as a failed request), ``on_stop``
    closes it."""

    abstract = True

    def connect(self) -> None:
        url = self.host.replace("http://", "ws://").replace("https://", "wss://") + "/v1/ws"
        self.ws = websocket.create_connection(url, timeout=10)

    def listen(self) -> None:
        self.reader = gevent.spawn(self.receive)

    def receive(self) -> None:
        fire = self.environment.events.request.fire
        while True:
            try:
                raw = self.ws.recv()
            except (websocket.WebSocketException, OSError) as e:
                fire(request_type="WS", name="connection", response_time=0, response_length=0, exception=e)
                return
            self.received(raw, json.loads(raw), fire)

    def received(self, raw: str, message: dict, fire) -> None:
        raise NotImplementedError

    def on_stop(self) -> None:
        self.reader.kill()
        self.ws.close()


class FeedWatcher(WsUser):
    """Follows the forward's book, trades and ticker over /v1/ws; every message is reported to
    locust as a request named by its type, its response time being the delivery latency."""

    weight = 1
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.connect()
        channels = [f"{kind}.{CF_NEAR}" for kind in ("book", "trades", "ticker")]
        self.ws.send(json.dumps({"type": "subscribe", "channels": channels}))
        self.listen()

    def received(self, raw: str, message: dict, fire) -> None:
        latency_ms = (time.time() - message["ts"]) * 1_000 if "ts" in message else 0
        exception = RuntimeError(message) if message.get("type") == "error" else None
        fire(request_type="WS", name=message.get("type", "?"), response_time=latency_ms,
             response_length=len(raw), exception=exception)

    @task
    def ping(self) -> None:
        self.ws.send(json.dumps({"type": "ping"}))


class WsOrderTrader(WsUser):
    """Order entry over ``/v1/ws``: logs in as a trader, then pipelines bursts of orders on the
    cotton forward (several in flight at once), amends and cancels its open ones, each answer
    matched to its message by ``request_id`` and timed from sending. The same right refusals as
    ``Trader`` (funds, margin, an order already done) count as successes."""

    weight = 2
    wait_time = between(0.2, 0.6)
    BURST = 8  # order messages written at once
    ALLOW = ("INSUFFICIENT_FUNDS", "ORDER_NOT_OPEN", *MARGIN_REFUSALS)

    def on_start(self) -> None:
        from gateway.feed_client import login_message

        self.creds = random.choice(members_with("trader"))
        self.connect()
        self.ws.send(json.dumps(login_message(self.creds["api_key"], self.creds["api_secret"])))
        while (message := json.loads(self.ws.recv()))["type"] != "logged_in":
            if message["type"] == "error":
                raise RuntimeError(f"login refused: {message}")
        self.sent: dict[int, tuple[str, float]] = {}  # request id -> (name, when sent)
        self.open: dict[int, int] = {}  # open order id -> its total quantity
        self.answered = gevent.event.Event()
        self.listen()

    def send(self, name: str, message: dict) -> None:
        request_id = next(_ids)
        self.sent[request_id] = (name, time.perf_counter())
        self.ws.send(json.dumps({**message, "request_id": request_id}))

    def received(self, raw: str, message: dict, fire) -> None:
        name, sent = self.sent.pop(message.get("request_id"), (None, 0.0))
        if name is None or message["type"] not in ("answer", "error"):
            return
        body = message.get("body")
        code = body.get("error", {}).get("code") if isinstance(body, dict) else message.get("code")
        ok = message["type"] == "answer" and (message["status"] < 300 or code in self.ALLOW)
        self.track(name, message, body)
        fire(request_type="WS", name=name, response_time=(time.perf_counter() - sent) * 1_000,
             response_length=len(raw), exception=None if ok else RuntimeError(raw[:200]))
        self.answered.set()

    def track(self, name: str, message: dict, body) -> None:
        """Keep the open orders as the answers tell."""
        if message["type"] != "answer" or not isinstance(body, dict) or "order_id" not in body:
            return
        if body.get("status") in ("NEW", "PARTIALLY_FILLED"):
            self.open[body["order_id"]] = body["quantity"]
        else:
            self.open.pop(body["order_id"], None)

    @task(5)
    def place_burst(self) -> None:
        for _ in range(self.BURST):
            self.send("order.new", {"type": "order.new", "body": {
                "symbol": CF_NEAR, "side": random.choice(("buy", "sell")), "quantity": random.randint(1, 5),
                "price": str(15_000 + 5 * random.randint(-10, 10)), "client_order_id": f"ws-{_run}-{next(_ids)}",
                "time_in_force": random.choice(("GTC", "GTC", "DAY", "IOC"))}})
        self.settle()

    @task(2)
    def amend(self) -> None:
        if self.open:
            order_id = random.choice(list(self.open))
            self.send("order.amend", {"type": "order.amend", "order_id": order_id,
                                      "body": {"quantity": self.open[order_id] + random.randint(1, 3)}})
            self.settle()

    @task(2)
    def cancel(self) -> None:
        if self.open:
            self.send("order.cancel", {"type": "order.cancel", "order_id": self.open.popitem()[0]})
            self.settle()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every message sent is answered (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.sent and time.monotonic() < deadline:
            self.answered.clear()
            self.answered.wait(max(0.0, deadline - time.monotonic()))
