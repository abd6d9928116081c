"""A small signing HTTP client for the exchange (stdlib only, one keep-alive connection), and
``WsTrader``: pipelined order entry over the WebSocket (needs ``websockets``)."""

import asyncio
import http.client
import itertools
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from gateway.auth import sign, unique_timestamp_ms

MUTATING = frozenset({"POST", "PATCH", "DELETE"})
ELSEWHERE = frozenset({"STANDBY", "SHUTTING_DOWN"})  # 503 codes that mean: another endpoint may accept
FAILOVER_SECONDS = 15.0  # how long a request looks for an endpoint that accepts it


def endpoints(base_urls: str | Sequence[str]) -> list[tuple[str, int]]:
    """(host, port) of each URL; ``base_urls`` is one URL, a comma-separated list, or a list."""
    urls = base_urls.split(",") if isinstance(base_urls, str) else list(base_urls)
    found = []
    for url in urls:
        parts = urlsplit(url.strip())
        found.append((parts.hostname or "127.0.0.1", parts.port or 80))
    return found


class Client:
    """Signs each request with the member's key; ``request`` returns (status, decoded JSON).

    Every POST, PATCH and DELETE carries a new ``Idempotency-Key``; when the connection fails
    the request is sent once more, signed anew (a signature is accepted once) with the same key,
    so the server runs it at most once and the retry gets the first answer.

    Given several endpoints (a primary and its hot standby), a request that cannot connect, or
    is answered 503 STANDBY / SHUTTING_DOWN, moves to the next endpoint and is sent again (signed
    anew, same key) for up to ``failover`` seconds; the client stays with the endpoint that accepted."""

    def __init__(self, base_url: str | Sequence[str], api_key: str = "", api_secret: str = "", timeout: float = 10.0,
                 failover: float = FAILOVER_SECONDS) -> None:
        self.endpoints = endpoints(base_url)
        self.current = 0
        self.failover = failover
        self.api_key, self.api_secret, self.timeout = api_key, api_secret, timeout
        self._conn: http.client.HTTPConnection | None = None
        self.last_headers: dict[str, str] = {}

    @classmethod
    def for_member(cls, base_url: str | Sequence[str], creds: dict) -> "Client":
        return cls(base_url, creds["api_key"], creds["api_secret"])

    @property
    def host(self) -> str:
        return self.endpoints[self.current][0]

    @property
    def port(self) -> int:
        return self.endpoints[self.current][1]

    def _move(self) -> None:
        """To the next endpoint (a new connection)."""
        self.close()
        self.current = (self.current + 1) % len(self.endpoints)

    def headers(self, method: str, path: str, body: bytes, timestamp_ms: int | None = None,
                idempotency_key: str | None = None) -> dict[str, str]:
        """Signed headers: X-Timestamp is now, unless this process signed this very request in
        this millisecond already (then the next one), so no signature repeats."""
        stamp = timestamp_ms if timestamp_ms is not None else unique_timestamp_ms(self.api_key, method, path, body)
        ts = str(stamp)
        signed = {"X-API-Key": self.api_key, "X-Timestamp": ts,
                  "X-Signature": sign(self.api_secret, ts, method, path, body), "Content-Type": "application/json"}
        return signed | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                raw: bytes | None = None, idempotency_key: str | None = None) -> tuple[int, Any]:
        """Send a request (signed, unless ``headers`` are given) and its one retry."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if idempotency_key is None and method.upper() in MUTATING:
            idempotency_key = uuid.uuid4().hex
        deadline = time.monotonic() + self.failover
        attempts = 2 if len(self.endpoints) == 1 else 1_000_000
        for attempt in range(1, attempts + 1):
            hdrs = headers if headers is not None else self.headers(method, path, data,
                                                                    idempotency_key=idempotency_key)
            try:
                status, payload = self._send(method, path, data, hdrs)
            except (ConnectionError, http.client.HTTPException):
                if attempt == attempts or time.monotonic() > deadline:
                    raise
                self._next(attempt)
                continue
            if status == 503 and len(self.endpoints) > 1 and time.monotonic() < deadline \
                    and _code(payload) in ELSEWHERE:
                self._next(attempt)
                continue
            return status, payload
        raise AssertionError("unreachable")

    def _next(self, attempt: int) -> None:
        """Move on; after trying every endpoint, wait a little before the next round."""
        if len(self.endpoints) == 1:
            self.close()
            return
        self._move()
        if attempt % len(self.endpoints) == 0:
            time.sleep(0.05)

    def _send(self, method: str, path: str, data: bytes, hdrs: dict) -> tuple[int, Any]:
        conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._conn = conn
        try:
            conn.request(method, path, body=data or None, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            self._conn = None
            raise
        self.last_headers = {k.lower(): v for k, v in resp.getheaders()}
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(payload) if payload and "json" in ctype else payload.decode())

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # conveniences used by tests, demos and load tests
    def place(self, symbol: str, side: str, quantity: int, price: str | None, client_order_id: str,
              **extra: Any) -> tuple[int, Any]:
        body = {"symbol": symbol, "side": side, "quantity": quantity, "client_order_id": client_order_id, **extra}
        if price is not None:
            body["price"] = price
        return self.request("POST", "/v1/orders", body)

    def cancel(self, order_id: int) -> tuple[int, Any]:
        return self.request("DELETE", f"/v1/orders/{order_id}")

    def amend(self, order_id: int, price: str | None = None, quantity: int | None = None) -> tuple[int, Any]:
        body = {k: v for k, v in (("price", price), ("quantity", quantity)) if v is not None}
        return self.request("PATCH", f"/v1/orders/{order_id}", body)

    def book(self, symbol: str, depth: int = 10) -> tuple[int, Any]:
        return self.request("GET", f"/v1/book/{symbol}?depth={depth}")


def _code(payload: Any) -> str | None:
    """The error code of an answer, if it is an error answer."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"].get("code")
    return None


class WsTrader:
    """Order entry over ``/v1/ws`` (asyncio), pipelined: ``new_order``, ``cancel``, ``amend`` and
    ``cancel_all`` send a message at once and return a future of its answer, ``(status, body)``
    exactly as the REST route answers; many may be in flight on one connection, and each answer is
    matched to its request by ``request_id`` whatever order they come in.

    Use as ``async with WsTrader(url, key, secret) as t: status, order = await t.new_order(...)``.
    A new order is once-only by its ``client_order_id``; a cancel, amend or cancel-all carries a
    new ``idempotency_key`` unless one is given, so sending it again with the same key (on a new
    connection after a drop) runs it at most once. Messages other than answers (the private
    ``orders`` stream, heartbeats) go to ``on_event`` if given."""

    def __init__(self, url: str, api_key: str, api_secret: str, cancel_on_disconnect: bool = False,
                 on_event: Any = None) -> None:
        self.url = ws_url(url)
        self.api_key, self.api_secret, self.cancel_on_disconnect = api_key, api_secret, cancel_on_disconnect
        self.on_event = on_event
        self.ws: Any = None
        self.member: str | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    @classmethod
    def for_member(cls, url: str, creds: dict, **kwargs: Any) -> "WsTrader":
        return cls(url, creds["api_key"], creds["api_secret"], **kwargs)

    async def __aenter__(self) -> "WsTrader":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection and log in (raises ConnectionError if the login is refused)."""
        import websockets

        from gateway.feed_client import login_message

        self.ws = await websockets.connect(self.url, max_queue=None)
        await self.ws.send(json.dumps(login_message(self.api_key, self.api_secret, self.cancel_on_disconnect)))
        while True:
            message = json.loads(await self.ws.recv())
            if message["type"] == "logged_in":
                self.member = message["member"]
                break
            if message["type"] == "error":
                await self.ws.close()
                raise ConnectionError(f"login refused: {message['code']}: {message['message']}")
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        """Hand each answer to its future; on a lost connection fail the rest with ConnectionError."""
        try:
            async for text in self.ws:
                message = json.loads(text)
                future = self._waiting.pop(message.get("request_id"), None) \
                    if message.get("type") in ("answer", "error") else None
                if future is None:
                    if self.on_event is not None:
                        self.on_event(message)
                elif future.done():
                    continue
                elif message["type"] == "answer":
                    future.set_result((message["status"], message["body"]))
                else:  # the server could not read the message: no REST status, answer as a 400 would
                    future.set_result((400, {"error": {"code": message["code"], "message": message["message"]}}))
        except Exception:  # noqa: BLE001 - the connection is gone however it ended
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection lost: status unknown, send again"))
            self._waiting.clear()

    def send(self, kind: str, **fields: Any) -> asyncio.Future:
        """Send one ``order.*`` message; a future of its (status, body)."""
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        if self._reader is None or self._reader.done():
            future.set_exception(ConnectionError("not connected"))
            return future
        self._waiting[request_id] = future
        message = {"type": kind, "request_id": request_id, **{k: v for k, v in fields.items() if v is not None}}
        sent = asyncio.ensure_future(self.ws.send(json.dumps(message, separators=(",", ":"))))
        sent.add_done_callback(lambda s: s.cancelled() or s.exception() is None or self._lost(request_id, s))
        return future

    def _lost(self, request_id: int, sent: asyncio.Future) -> None:
        future = self._waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.set_exception(ConnectionError(f"not sent: {sent.exception()!r}"))

    def new_order(self, symbol: str, side: str, quantity: int, price: str | None, client_order_id: str,
                  **extra: Any) -> asyncio.Future:
        body = {"symbol": symbol, "side": side, "quantity": quantity, "client_order_id": client_order_id, **extra}
        if price is not None:
            body["price"] = price
        return self.send("order.new", body=body)

    def cancel(self, order_id: int, idempotency_key: str | None = None) -> asyncio.Future:
        return self.send("order.cancel", order_id=order_id, idempotency_key=idempotency_key or uuid.uuid4().hex)

    def amend(self, order_id: int, price: str | None = None, quantity: int | None = None,
              idempotency_key: str | None = None) -> asyncio.Future:
        body = {k: v for k, v in (("price", price), ("quantity", quantity)) if v is not None}
        return self.send("order.amend", order_id=order_id, body=body,
                         idempotency_key=idempotency_key or uuid.uuid4().hex)

    def cancel_all(self, symbol: str | None = None, idempotency_key: str | None = None) -> asyncio.Future:
        return self.send("order.cancel_all", body={"symbol": symbol} if symbol else {},
                         idempotency_key=idempotency_key or uuid.uuid4().hex)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader


def ws_url(base_url: str) -> str:
    """``ws://host:port/v1/ws`` for an ``http://host:port`` base URL (a ws:// URL as it is)."""
    if base_url.startswith(("ws://", "wss://")):
        return base_url
    host, port = endpoints(base_url)[0]
    return f"ws://{host}:{port}/v1/ws"
