"""A small signing HTTP client for the exchange (stdlib only, one keep-alive connection)."""

import http.client
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from gateway.auth import sign, unique_timestamp_ms

MUTATING = frozenset({"POST", "PATCH", "DELETE"})


class Client:
    """Signs each request with the member's key; ``request`` returns (status, decoded JSON).

    Every POST, PATCH and DELETE carries a new ``Idempotency-Key``; when the connection fails
    the request is sent once more, signed anew (a signature is accepted once) with the same key,
    so the server runs it at most once and the retry gets the first answer."""

    def __init__(self, base_url: str, api_key: str = "", api_secret: str = "", timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.api_key, self.api_secret, self.timeout = api_key, api_secret, timeout
        self._conn: http.client.HTTPConnection | None = None
        self.last_headers: dict[str, str] = {}

    @classmethod
    def for_member(cls, base_url: str, creds: dict) -> "Client":
        return cls(base_url, creds["api_key"], creds["api_secret"])

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
        for attempt in (1, 2):
            hdrs = headers if headers is not None else self.headers(method, path, data,
                                                                    idempotency_key=idempotency_key)
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn = conn
            try:
                conn.request(method, path, body=data or None, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._conn = None
                if attempt == 2:
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
