"""Client helpers for ``/v1/ws``: a local order book kept from snapshot + deltas that detects
gaps, and the signed login message."""

import json
import secrets
import time
from decimal import Decimal

from gateway.auth import sign


class Gap(Exception):
    """A delta arrived out of sequence: unsubscribe and subscribe again for a fresh snapshot."""


class LocalBook:
    """One symbol's book as announced by ``book.SYMBOL``: prices are the feed's yuan strings."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.sides: dict[str, dict[str, int]] = {"buy": {}, "sell": {}}

    def on_message(self, message: dict) -> None:
        """Apply a ``snapshot`` or ``delta``; raise Gap if a delta does not follow on."""
        if message["type"] == "snapshot":
            self.seq = message["seq"]
            self.sides = {"buy": {p: q for p, q in message["bids"]}, "sell": {p: q for p, q in message["asks"]}}
        elif message["type"] == "delta":
            if self.seq is None or message["seq"] != self.seq + 1:
                raise Gap(f"expected seq {None if self.seq is None else self.seq + 1}, got {message['seq']}")
            for side, price, qty in message["changes"]:
                if qty:
                    self.sides[side][price] = qty
                else:
                    self.sides[side].pop(price, None)
            self.seq = message["seq"]

    def levels(self, depth: int = 1 << 30) -> tuple[list[list], list[list]]:
        """(bids best first, asks best first) as [[price, quantity], ...], like ``GET /v1/book``."""
        bids = sorted(self.sides["buy"].items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:depth]
        asks = sorted(self.sides["sell"].items(), key=lambda kv: Decimal(kv[0]))[:depth]
        return [list(x) for x in bids], [list(x) for x in asks]


def login_body(nonce: str, cancel_on_disconnect: bool) -> bytes:
    """What a ``login`` signs after timestamp + GET + /v1/ws, as the HTTP scheme signs a body:
    compact JSON, keys sorted, of everything the login asks for and its nonce."""
    return json.dumps({"cancel_on_disconnect": cancel_on_disconnect, "nonce": nonce},
                      separators=(",", ":"), sort_keys=True).encode()


def login_message(api_key: str, api_secret: str, cancel_on_disconnect: bool = False,
                  nonce: str | None = None) -> dict:
    """A signed ``login`` with a fresh nonce (the server accepts each nonce once)."""
    ts = str(time.time_ns() // 1_000_000)
    nonce = nonce or secrets.token_hex(16)
    return {"type": "login", "api_key": api_key, "timestamp": ts, "nonce": nonce,
            "cancel_on_disconnect": cancel_on_disconnect,
            "signature": sign(api_secret, ts, "GET", "/v1/ws", login_body(nonce, cancel_on_disconnect))}
