"""API keys, request signatures and rate limits.

A key's secret is never stored: it is HMAC(master key, api key), derived again whenever
needed, so the database holds only key ids and roles, and the master key lives in
``COMMEX_MASTER_KEY`` (hex) or ``<data dir>/master.key`` (created 0600 on first start).
A request is signed as hex HMAC-SHA256(secret, timestamp + METHOD + path-with-query + body)
and must arrive within the receive window of its ``X-Timestamp`` (milliseconds). Each
signature is accepted once (``AcceptedOnce``): a replay within the window is 401 REPLAYED,
and after it the timestamp is stale. A client that sends the same request twice in one
millisecond stamps the second with the next millisecond (``unique_timestamp_ms``).
"""

import hashlib
import heapq
import hmac
import os
import secrets
import threading
import time
from collections.abc import Hashable
from pathlib import Path

import msgspec

ROLES = ("trader", "supplier", "warehouse", "clearing", "lender", "operator")
RECEIVE_WINDOW_MS = 5_000
SEEN_CAPACITY = 1_000_000  # signatures remembered at once: 100,000 requests a second over 2 windows


class AuthError(Exception):
    """A request failed authentication or authorisation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ApiKey(msgspec.Struct, frozen=True):
    api_key: str
    member: str
    roles: frozenset[str]


def load_master_key(data_dir: Path) -> bytes:
    """The server's master key: from the environment, else from (or newly into) a 0600 file."""
    env = os.environ.get("COMMEX_MASTER_KEY")
    if env:
        return bytes.fromhex(env)
    path = data_dir / "master.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def new_api_key() -> str:
    return "ck_" + secrets.token_hex(12)


def derive_secret(master: bytes, api_key: str) -> str:
    """The secret that belongs to ``api_key`` under ``master``."""
    return hmac.new(master, b"commex-api-secret:" + api_key.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over timestamp + METHOD + path-with-query + body."""
    message = timestamp.encode() + method.upper().encode() + path.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class AcceptedOnce:
    """Values (request signatures, login nonces) accepted within the receive window, each
    once. A value is forgotten when its timestamp leaves the window: a replay is refused as
    stale from then on. Record a value only after its signature verified."""

    def __init__(self, window_ms: int = RECEIVE_WINDOW_MS, capacity: int = SEEN_CAPACITY) -> None:
        self.window_ms, self.capacity = window_ms, capacity
        self._seen: set[Hashable] = set()
        self._expiry: list[tuple[int, Hashable]] = []  # heap of (last ms the timestamp is fresh, value)

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, value: Hashable, timestamp_ms: int, now_ms: int) -> bool:
        """True the first time ``value`` comes, False for a replay; AuthError 503 BUSY when
        ``capacity`` values are remembered already."""
        seen, expiry = self._seen, self._expiry
        while expiry and expiry[0][0] < now_ms:
            seen.discard(heapq.heappop(expiry)[1])
        if value in seen:
            return False
        if len(seen) >= self.capacity:
            raise AuthError(503, "BUSY", "too many signed requests in the receive window; nothing was done")
        seen.add(value)
        heapq.heappush(expiry, (timestamp_ms + self.window_ms, value))
        return True


class Authenticator:
    """Checks signed requests against known keys; secrets are derived once and cached in memory."""

    def __init__(self, master: bytes, window_ms: int = RECEIVE_WINDOW_MS) -> None:
        self.master = master
        self.window_ms = window_ms
        self.keys: dict[str, ApiKey] = {}
        self._secrets: dict[str, bytes] = {}
        self.seen = AcceptedOnce(window_ms)

    def add(self, key: ApiKey) -> str:
        """Know ``key``; return its secret (shown once to whoever created it)."""
        self.keys[key.api_key] = key
        secret = derive_secret(self.master, key.api_key)
        self._secrets[key.api_key] = secret.encode()
        return secret

    def verify(self, api_key: str | None, timestamp: str | None, signature: str | None, method: str, path: str,
               body: bytes, now_ms: int | None = None) -> ApiKey:
        """The key that signed this request, or AuthError(401)."""
        if not api_key or not timestamp or not signature:
            raise AuthError(401, "UNAUTHENTICATED", "X-API-Key, X-Timestamp and X-Signature are required")
        key = self.keys.get(api_key)
        if key is None:
            raise AuthError(401, "UNKNOWN_API_KEY", "unknown API key")
        try:
            ts = int(timestamp)
        except ValueError:
            raise AuthError(401, "BAD_TIMESTAMP", "X-Timestamp must be milliseconds since the epoch") from None
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if abs(now - ts) > self.window_ms:
            raise AuthError(401, "STALE_TIMESTAMP", f"X-Timestamp is outside the {self.window_ms} ms receive window")
        message = timestamp.encode() + method.upper().encode() + path.encode() + body
        expected = hmac.new(self._secrets[api_key], message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise AuthError(401, "BAD_SIGNATURE", "signature does not match")
        return key

    def verify_once(self, api_key: str | None, timestamp: str | None, signature: str | None, method: str,
                    path: str, body: bytes, now_ms: int | None = None) -> ApiKey:
        """``verify``, and refuse a signature already accepted (401 REPLAYED)."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        key = self.verify(api_key, timestamp, signature, method, path, body, now)
        if not self.seen.first(signature, int(timestamp), now):
            raise AuthError(401, "REPLAYED", "this signature was used already: sign each request anew")
        return key


_stamps_lock = threading.Lock()
_stamps: dict[bytes, int] = {}  # digest of (key, method, path, body) -> the last timestamp it was signed with


def unique_timestamp_ms(api_key: str, method: str, path: str, body: bytes) -> int:
    """Now in ms, or, if this process already signed this very request at that ms or later, the
    next millisecond after that: no two requests this process signs share a signature."""
    digest = hashlib.blake2b(b"\0".join((api_key.encode(), method.upper().encode(), path.encode(), body)),
                             digest_size=16).digest()
    now = time.time_ns() // 1_000_000
    with _stamps_lock:
        stamp = max(now, _stamps.get(digest, -1) + 1)
        _stamps[digest] = stamp
        if len(_stamps) > 100_000:  # forget requests signed before the receive window
            for old in [d for d, ms in _stamps.items() if ms < now - RECEIVE_WINDOW_MS]:
                del _stamps[old]
    return stamp


class TokenBucket:
    """Per-key token bucket: ``rate`` requests a second, bursts up to ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> float:
        """Spend one token; return 0, or the seconds to wait when the bucket is empty."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Nonces(AcceptedOnce):
    """The nonces of signed WebSocket logins: each (key, nonce) accepted once."""

    def use(self, api_key: str, nonce: str, timestamp_ms: int, now_ms: int | None = None) -> bool:
        """True the first time ``nonce`` comes with ``api_key``; False for a replay."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        return self.first((api_key, nonce), timestamp_ms, now)
