"""Order entry over ``/v1/ws``: after a login, ``order.new``, ``order.cancel``, ``order.amend``
and ``order.cancel_all``, the rules of gateway/order_entry.py as over REST.

Each message carries a client ``request_id`` and, where the REST route has one, ``body``: the
REST request body, decoded by the same Struct. It is answered once, when its command's batch is
committed, by ``{"type": "answer", "request_id", "status", "body"}``: the REST route's HTTP status
and body (an error is ``{"error": {"code", "message"}}``). Answers to one connection come in the
order their commands complete, not the order they were sent: ``request_id`` tells them apart.
Before a login an order message is answered 401 NOT_LOGGED_IN; on a standby 503 STANDBY; past
the key's rate limit (its bucket is shared with its HTTP requests) 429 RATE_LIMITED with
``retry_after`` seconds; nothing is done then. With ``idempotency_key`` a message runs once per
(member, key) as a REST request with ``Idempotency-Key`` does, fingerprinted as its REST request:
a retry gets the first answer with ``"replayed": true``. A connection holds at most
``max_in_flight`` commands not yet answered; beyond, it is not read until one is answered."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from exchange.views import ARCHIVED
from gateway import order_entry
from gateway.auth import ApiKey
from gateway.errors import STATUS_UNKNOWN_MESSAGE, error_body, refusal_of, standby_message
from gateway.feed import Subscriber, text_frame
from gateway.idempotency import KEY_PATTERN, Stored, fingerprint_of
from gateway.middleware import RATE_LIMITED_MESSAGE, retry_after, spend_token
from gateway.order_entry import Answer
from gateway.sessions import Session

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

RequestId = int | Annotated[str, Meta(min_length=1, max_length=64)]
IdempotencyKey = Annotated[str, Meta(pattern=KEY_PATTERN)]
OrderId = Annotated[int, Meta(description="an order id; one that does not exist, whatever its value, is "
                                          "answered 404, as over REST")]
_STRICT = {"tag_field": "type", "forbid_unknown_fields": True}


class NewOrderMessage(msgspec.Struct, tag="order.new", **_STRICT):
    """As ``POST /v1/orders``."""

    request_id: RequestId
    body: Annotated[msgspec.Raw, Meta(description="an OrderRequest, as the body of POST /v1/orders")]
    idempotency_key: IdempotencyKey | None = None

    def rest(self) -> tuple[str, str, bytes]:
        return "POST", "/v1/orders", bytes(self.body)


class CancelMessage(msgspec.Struct, tag="order.cancel", **_STRICT):
    """As ``DELETE /v1/orders/{order_id}``."""

    request_id: RequestId
    order_id: OrderId
    idempotency_key: IdempotencyKey | None = None

    def rest(self) -> tuple[str, str, bytes]:
        return "DELETE", f"/v1/orders/{self.order_id}", b""


class AmendMessage(msgspec.Struct, tag="order.amend", **_STRICT):
    """As ``PATCH /v1/orders/{order_id}``."""

    request_id: RequestId
    order_id: OrderId
    body: Annotated[msgspec.Raw, Meta(description="an AmendRequest, as the body of PATCH /v1/orders/{order_id}")]
    idempotency_key: IdempotencyKey | None = None

    def rest(self) -> tuple[str, str, bytes]:
        return "PATCH", f"/v1/orders/{self.order_id}", bytes(self.body)


class CancelAllMessage(msgspec.Struct, tag="order.cancel_all", **_STRICT):
    """As ``POST /v1/orders/cancel-all``."""

    request_id: RequestId
    body: Annotated[msgspec.Raw, Meta(description="a CancelAllRequest (none: every symbol)")] = \
        msgspec.field(default_factory=msgspec.Raw)
    idempotency_key: IdempotencyKey | None = None

    def rest(self) -> tuple[str, str, bytes]:
        return "POST", "/v1/orders/cancel-all", bytes(self.body)


OrderMessage = NewOrderMessage | CancelMessage | AmendMessage | CancelAllMessage


class OrderAnswer(msgspec.Struct, tag_field="type", tag="answer", omit_defaults=True):
    """The answer to an order message: the REST route's HTTP status and JSON body (an OrderView,
    a CancelAllResponse or an ErrorResponse)."""

    request_id: RequestId
    status: Annotated[int, Meta(description="the REST route's HTTP status")]
    body: Annotated[Any, Meta(description="the REST route's body: OrderView, CancelAllResponse or ErrorResponse")]
    retry_after: int | None = None  # 429: seconds until the key's bucket has a token again
    replayed: bool = False  # the first answer to this idempotency_key, sent again


def operation(exchange, key: ApiKey, message: OrderMessage) -> Awaitable[Answer]:
    """The order-entry call a message stands for."""
    if isinstance(message, NewOrderMessage):
        return order_entry.new_order(exchange, key, bytes(message.body))
    if isinstance(message, CancelMessage):
        return order_entry.cancel_order(exchange, key, message.order_id)
    if isinstance(message, AmendMessage):
        return order_entry.amend_order(exchange, key, message.order_id, bytes(message.body))
    return order_entry.cancel_all(exchange, key, message.rest()[2])


class Trading:
    """One connection's order entry: the key it logged in with and the commands in flight."""

    def __init__(self, max_in_flight: int) -> None:
        self.key: ApiKey | None = None
        self.session: Session | None = None  # the desk's session it logged in with, if any
        self.max_in_flight = max_in_flight
        self.in_flight: set[asyncio.Future] = set()

    def track(self, task: asyncio.Future) -> None:
        """Count a command in flight until ``task`` (its answer's task, or its commit) is done."""
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    @property
    def full(self) -> bool:
        return len(self.in_flight) >= self.max_in_flight

    async def room(self) -> None:
        """Until fewer than ``max_in_flight`` commands are in flight."""
        while self.full:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def drain(self) -> None:
        """Until every command in flight is answered (they finish even if the client has gone)."""
        if self.in_flight:
            await asyncio.wait(set(self.in_flight))


def send_answer(subscriber: Subscriber, request_id: RequestId, status: int, body: Any, **extra: Any) -> None:
    subscriber.offer(text_frame(_encode(OrderAnswer(request_id, status, body, **extra))))


def refusal(ctx, trading: Trading) -> tuple[int, dict, dict] | None:
    """Why an order message is refused before it is read: (status, body, extra), or None."""
    if ctx.exchange.role != "primary":
        return 503, error_body("STANDBY", standby_message(ctx.exchange.refusal)), {}
    if trading.key is None:
        return 401, error_body("NOT_LOGGED_IN", "log in (a signed login message) before entering orders"), {}
    if trading.session is not None and not ctx.sessions.touch(trading.session):
        return 401, error_body("SESSION_EXPIRED", "the session has ended or expired: sign in again"), {}
    if wait := spend_token(ctx, trading.key.api_key):
        return 429, error_body("RATE_LIMITED", RATE_LIMITED_MESSAGE), {"retry_after": retry_after(wait)}
    return None


def on_order(ctx, connection_id: str, trading: Trading, subscriber: Subscriber, message: OrderMessage) -> None:
    """Refuse the message at once, or start its command; its answer is sent when committed."""
    if (refused := refusal(ctx, trading)) is not None:
        status, body, extra = refused
        send_answer(subscriber, message.request_id, status, body, **extra)
        if status == 401 and trading.session is not None:
            ctx.sessions.end(trading.session)  # closes the socket (4001), after the answer
        return None
    if type(message) is NewOrderMessage and message.idempotency_key is None \
            and place_at_once(ctx, connection_id, trading, subscriber, message):
        return None
    trading.track(asyncio.ensure_future(answer(ctx, connection_id, trading.key, subscriber, message)))


def place_at_once(ctx, connection_id: str, trading: Trading, subscriber: Subscriber,
                  message: NewOrderMessage) -> bool:
    """The common message, a new order without an idempotency key, without a task of its own:
    checked and queued now, answered from its commit's callback, by order_entry's rules as
    ``new_order``. False (nothing done) for a client order id already answered: the general
    path reads its first answer, from SQL if it left memory."""
    request_id = message.request_id
    try:
        req, first = order_entry.admit_new(ctx.exchange, trading.key, bytes(message.body))
        if first is not None:
            return False
        committed = ctx.exchange.enqueue(order_entry.new_entry(trading.key.member, req))
    except Exception as e:
        send_answer(subscriber, request_id, *failure(e, connection_id, request_id))
        return True
    committed.add_done_callback(partial(_placed, ctx, connection_id, trading, subscriber, message))
    trading.track(committed)
    return True


def _placed(ctx, connection_id: str, trading: Trading, subscriber: Subscriber, message: NewOrderMessage,
            committed: asyncio.Future) -> None:
    """Answer a new order placed at once, as ``order_entry.new_order`` would. A retry queued
    beside its first order gets an ``ARCHIVED`` stub if that order has left memory since: the
    general path answers it (its first answer is found now, and read from SQL)."""
    try:
        view = order_entry.counted(ctx.exchange, committed.result())
        if view.status == ARCHIVED:
            on_general_path = answer(ctx, connection_id, trading.key, subscriber, message)
            return trading.track(asyncio.ensure_future(on_general_path))
        status, body = order_entry.placed(view)
    except Exception as e:
        status, body = failure(e, connection_id, message.request_id)
    send_answer(subscriber, message.request_id, status, body)


async def answer(ctx, connection_id: str, key: ApiKey, subscriber: Subscriber, message: OrderMessage) -> None:
    """Run the message's command (once per idempotency key, if it has one) and send its answer."""
    def call() -> Awaitable[tuple[int, Any]]:
        return answered(lambda: operation(ctx.exchange, key, message), connection_id, message.request_id)

    if message.idempotency_key is None:
        status, body = await call()
        return send_answer(subscriber, message.request_id, status, body)

    async def first() -> Stored:
        status, body = await call()
        return Stored(mine, status, "application/json", _encode(body))

    mine = fingerprint_of(*message.rest())
    stored, replayed = await ctx.idempotency.once((key.member, message.idempotency_key), mine, first)
    send_answer(subscriber, message.request_id, stored.status, msgspec.Raw(stored.body),
                **({"replayed": True} if replayed else {}))


async def answered(call: Callable[[], Awaitable[Answer]], connection_id: str, request_id: RequestId
                   ) -> tuple[int, Any]:
    """(status, body) of ``call``, a refusal as its error body, as the HTTP error handlers answer."""
    try:
        status, body = await call()
        return status, body
    except Exception as e:
        return failure(e, connection_id, request_id)


def failure(e: Exception, connection_id: str, request_id: RequestId) -> tuple[int, Any]:
    """(status, body) of a failed order message, as the HTTP error handlers answer."""
    if (known := refusal_of(e)) is not None:
        status, code, text = known
        return status, error_body(code, text)
    log.exception("WebSocket %s, request %r failed", connection_id, request_id, exc_info=e)
    return 500, error_body("STATUS_UNKNOWN", STATUS_UNKNOWN_MESSAGE, request_id=f"{connection_id}/{request_id}")
