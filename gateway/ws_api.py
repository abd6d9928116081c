"""The ``/v1/ws`` endpoint: subscribe to public channels, log in for the private ``orders``
stream (optionally cancelling the member's orders when the socket drops), heartbeats."""

import asyncio
import contextlib
import os
from collections.abc import Callable

import msgspec
from sanic import Blueprint, Request, Sanic

from engine import MassCancel
from exchange.journal import Entry
from gateway.auth import AuthError
from gateway.feed import FLUSH_SECONDS, HEARTBEAT_SECONDS, SEND_BUFFER_LIMIT, Publisher, Subscriber, text_frame

bp = Blueprint("ws")
_encode = msgspec.json.Encoder().encode


async def heartbeats(app: Sanic) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        app.ctx.publisher.heartbeat()


async def flushes(app: Sanic) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        app.ctx.publisher.flush()


@bp.after_server_start
async def start_publishing(app: Sanic) -> None:
    app.add_task(heartbeats(app), name="heartbeats")
    app.add_task(flushes(app), name="market-data")


def reply(subscriber: Subscriber, message: dict) -> None:
    subscriber.offer(text_frame(_encode(message)))


def subscribe(request: Request, subscriber: Subscriber, message: dict) -> None:
    publisher: Publisher = request.app.ctx.publisher
    for channel in message.get("channels", []):
        first = publisher.subscribe(subscriber, str(channel))
        reply(subscriber, first or {"type": "error", "code": "UNKNOWN_CHANNEL", "message": str(channel)})


def unsubscribe(request: Request, subscriber: Subscriber, message: dict) -> None:
    for channel in message.get("channels", []):
        request.app.ctx.publisher.unsubscribe(subscriber, str(channel))
    reply(subscriber, {"type": "unsubscribed", "channels": message.get("channels", [])})


def login(request: Request, subscriber: Subscriber, message: dict) -> None:
    """A signature over ``GET /v1/ws`` opens the member's private ``orders`` stream."""
    try:
        key = request.app.ctx.auth.verify(message.get("api_key"), str(message.get("timestamp", "")),
                                          message.get("signature"), "GET", "/v1/ws", b"")
    except AuthError as e:
        reply(subscriber, {"type": "error", "code": e.code, "message": e.message})
        return
    subscriber.cancel_on_disconnect = bool(message.get("cancel_on_disconnect"))
    reply(subscriber, {"type": "logged_in", "member": key.member,
                       "cancel_on_disconnect": subscriber.cancel_on_disconnect})
    reply(subscriber, request.app.ctx.publisher.login(subscriber, key.member))


def ping(request: Request, subscriber: Subscriber, message: dict) -> None:
    reply(subscriber, {"type": "pong", "id": message.get("id")})


MESSAGES: dict[str, Callable[[Request, Subscriber, dict], None]] = {
    "subscribe": subscribe, "unsubscribe": unsubscribe, "login": login, "ping": ping,
}


def on_message(request: Request, subscriber: Subscriber, raw: str | bytes) -> None:
    """Answer one client message; every reply goes through the subscriber's bounded queue."""
    try:
        message = msgspec.json.decode(raw)
        kind = message.get("type")
    except (msgspec.DecodeError, AttributeError):
        reply(subscriber, {"type": "error", "code": "MALFORMED_MESSAGE", "message": "send JSON objects"})
        return
    handler = MESSAGES.get(kind) if isinstance(kind, str) else None
    if handler is None:
        reply(subscriber, {"type": "error", "code": "UNKNOWN_TYPE", "message": f"unknown message type {kind!r}"})
    else:
        handler(request, subscriber, message)


@bp.websocket("/v1/ws")
async def feed(request: Request, ws) -> None:
    exchange = request.app.ctx.exchange
    subscriber = Subscriber(ws, int(os.environ.get("COMMEX_WS_SEND_BUFFER", SEND_BUFFER_LIMIT)))
    exchange.metrics.ws_clients.inc()
    try:
        while (raw := await ws.recv()) is not None:
            on_message(request, subscriber, raw)
    finally:
        request.app.ctx.publisher.drop(subscriber)
        exchange.metrics.ws_clients.dec()
        if subscriber.cancel_on_disconnect and subscriber.member:
            with contextlib.suppress(Exception):
                await exchange.submit(Entry(MassCancel(member=subscriber.member)))
