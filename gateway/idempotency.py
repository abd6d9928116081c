"""Idempotency keys for the state-changing routes (every POST, PATCH and DELETE).

A request may carry ``Idempotency-Key`` (1-64 visible ASCII characters). Its first answer
below 500 is stored in PostgreSQL (``idempotency_keys``) per (member, key) with a fingerprint of
the request (method, path with query, body); a retry with the same key gets that answer back,
marked ``Idempotent-Replayed: true``, without running the command again. The same key with
another request is 409 IDEMPOTENCY_KEY_REUSED. Requests with one key are serialised in this
process (the one process that owns the books), so concurrent retries run once; the command and
the storing of its answer run to the end even if the client goes away. Kept 24 hours.

The answer is stored after the command's batch is committed, not in the same transaction: a
crash between the two forgets the answer, and a retry runs the command again (orders stay
once-only by client_order_id, deposits and withdrawals by reference, both in the core).
"""

import asyncio
import contextlib
import datetime
import functools
import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple

import asyncpg
import msgspec
from sanic import HTTPResponse, Request

from gateway.auth import AuthError
from gateway.errors import ApiError, error, error_body
from gateway.sequencer import lost_connection

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[!-~]{1,64}$"  # as documented in /openapi.json
_KEY = re.compile(r"[!-~]{1,64}")
_canonical_json = msgspec.json.Encoder(order="sorted").encode  # an idempotency fingerprint's JSON
RETENTION = datetime.timedelta(hours=24)
PRUNE_EVERY = 1_000  # stored answers between two deletions of expired ones
FAILOVER_SECONDS = 30.0  # a lost database connection is retried this long (a PostgreSQL failover)

REUSED = ("IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for another request")
REUSED_BODY = msgspec.json.encode(error_body(*REUSED))

Scope = tuple[str, str]  # (member, idempotency key)
Rewrite = Callable[[Request, bytes], bytes]  # a stored or replayed body, rewritten


class Stored(NamedTuple):
    fingerprint: bytes
    status: int
    content_type: str
    body: bytes


def fingerprint(request: Request) -> bytes:
    """SHA-256 of method, path with query and body: what a retry must repeat."""
    target = request.path + ("?" + request.query_string if request.query_string else "")
    return fingerprint_of(request.method, target, request.body or b"")


def fingerprint_of(method: str, target: str, body: bytes) -> bytes:
    """The fingerprint of a request (also of a WebSocket order message, as its REST request).
    A JSON body counts by its content, not its spelling (key order, spacing, escapes), so one
    client's retry of another's request is recognised.

    >>> fingerprint_of("PATCH", "/v1/orders/7", b'{"price": "1", "quantity": 2}') == \\
    ...     fingerprint_of("PATCH", "/v1/orders/7", b'{"quantity":2,"price":"1"}')
    True
    """
    return hashlib.sha256(b"\n".join((method.encode(), target.encode(), canonical(body)))).digest()


def canonical(body: bytes) -> bytes:
    """A JSON body re-encoded with sorted keys and no spaces; no body as ``{}``, which is how
    the routes read it; any other body as it is.

    >>> canonical(b"") == canonical(b"{ }") == b"{}"
    True
    """
    if not body:
        return b"{}"
    try:
        return _canonical_json(msgspec.json.decode(body))
    except (msgspec.DecodeError, RecursionError):
        return body


def valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def unchanged(request: Request, body: bytes) -> bytes:
    return body


async def answer(call: Callable[[], Awaitable[HTTPResponse]]) -> HTTPResponse:
    """The handler's answer, its refusal (ApiError, AuthError) as an error answer."""
    try:
        return await call()
    except (ApiError, AuthError) as e:
        return error(e.status, e.code, e.message)


class Idempotency:
    """Stored first answers per (member, idempotency key), and a lock per key in flight."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._locks: dict[Scope, asyncio.Lock] = {}
        self._users: Counter[Scope] = Counter()
        self._saved = 0

    async def prune(self) -> int:
        """Forget answers older than the retention period; return how many."""
        done = await self.pool.execute("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval",
                                       RETENTION)
        return int(done.split()[-1])

    @contextlib.asynccontextmanager
    async def exclusive(self, scope: Scope) -> AsyncIterator[None]:
        """Hold the lock of ``scope``; the lock is dropped when nobody holds or awaits it."""
        lock = self._locks.setdefault(scope, asyncio.Lock())
        self._users[scope] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[scope] -= 1
            if not self._users[scope]:
                del self._users[scope], self._locks[scope]

    async def _retried(self, method: str, *args):
        """``pool.<method>(*args)``, again while the database is failing over (connection lost)."""
        deadline = time.monotonic() + FAILOVER_SECONDS
        while True:
            try:
                return await getattr(self.pool, method)(*args)
            except Exception as e:
                if not lost_connection(e) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def load(self, scope: Scope) -> Stored | None:
        row = await self._retried("fetchrow", "SELECT fingerprint, status, content_type, body FROM idempotency_keys "
                                  "WHERE member = $1 AND key = $2", *scope)
        return None if row is None else Stored(bytes(row[0]), row[1], row[2], bytes(row[3]))

    async def save(self, scope: Scope, stored: Stored) -> None:
        await self._retried("execute", "INSERT INTO idempotency_keys (member, key, fingerprint, status, content_type, "
                            "body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", *scope, *stored)
        self._saved += 1
        if self._saved % PRUNE_EVERY == 0:
            await self.prune()

    async def run(self, request: Request, call: Callable[[], Awaitable[HTTPResponse]],
                  store: Rewrite = unchanged, replay: Rewrite = unchanged) -> HTTPResponse:
        """Answer ``request`` by ``call``, once per idempotency key (none: just ``call``).
        ``store`` rewrites a body before it is stored, ``replay`` before it is sent again."""
        key = request.headers.get(HEADER)
        if key is None:
            return await call()
        if not valid_key(key):
            raise ApiError(400, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key is 1 to 64 visible ASCII characters")
        task = asyncio.ensure_future(self._once(request, (request.ctx.key.member, key), call, store, replay))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even if nobody waits
        return await asyncio.shield(task)  # finishes, and stores its answer, even if the client goes away

    async def once(self, scope: Scope, mine: bytes, call: Callable[[], Awaitable[Stored]]) -> tuple[Stored, bool]:
        """``call``'s answer, once per ``scope``: (the answer, True if it is the stored first answer
        given again). The key with another fingerprint is 409 IDEMPOTENCY_KEY_REUSED (not stored).
        Serves HTTP routes (``run``) and WebSocket order messages (gateway/ws_orders.py)."""
        async with self.exclusive(scope):
            stored = await self.load(scope)
            if stored is not None:
                if stored.fingerprint != mine:
                    return Stored(mine, 409, "application/json", REUSED_BODY), False
                return stored, True
            fresh = await call()
            if fresh.status < 500:
                try:
                    await self.save(scope, fresh)
                except Exception as e:  # the command is done: answer it; a retry runs again (once-only in the core)
                    if not lost_connection(e):
                        raise
                    log.warning("answer to %s not stored (database unavailable): %r", scope, e)
            return fresh, False

    async def _once(self, request: Request, scope: Scope, call: Callable[[], Awaitable[HTTPResponse]],
                    store: Rewrite, replay: Rewrite) -> HTTPResponse:
        mine = fingerprint(request)
        live: list[HTTPResponse] = []

        async def first() -> Stored:
            response = await answer(call)
            live.append(response)
            return Stored(mine, response.status, response.content_type or "application/json",
                          store(request, response.body or b""))

        stored, replayed = await self.once(scope, mine, first)
        if live:
            return live[0]
        if not replayed:
            return error(409, *REUSED)
        return HTTPResponse(replay(request, stored.body), status=stored.status, content_type=stored.content_type,
                            headers={REPLAYED_HEADER: "true"})


def idempotent(handler: Callable | None = None, *, store: Rewrite = unchanged, replay: Rewrite = unchanged):
    """Decorate a state-changing route handler: it runs once per Idempotency-Key (``Idempotency.run``)."""
    def wrap(handler: Callable) -> Callable:
        @functools.wraps(handler)
        async def once(request: Request, *args, **kwargs) -> HTTPResponse:
            return await request.app.ctx.idempotency.run(request, lambda: handler(request, *args, **kwargs),
                                                          store, replay)
        once.idempotent = True
        return once
    return wrap(handler) if handler is not None else wrap
