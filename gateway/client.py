"""A small signing HTTP client for the exchange (stdlib only, one keep-alive connection)."""

import http.client
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
