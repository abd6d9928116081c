"""The ``/v1/ws`` endpoint: subscribe to public channels, log in for the private ``orders``
stream (optionally cancelling the member's orders when the socket drops), heartbeats."""

import asyncio
import contextlib
import os

import msgspec
from sanic import Request, Sanic

from engine import MassCancel
from exchange.journal import Entry
from gateway.auth import AuthError
from gateway.feed import FLUSH_SECONDS, HEARTBEAT_SECONDS, SEND_BUFFER_LIMIT, Publisher, Subscriber, text_frame

_encode = msgspec.json.Encoder().encode


def add_ws_routes(app: Sanic) -> None:
    """Register ``/v1/ws`` and the heartbeat task on ``app``."""

    async def heartbeats(app: Sanic) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            app.ctx.publisher.heartbeat()

    async def flushes(app: Sanic) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            app.ctx.publisher.flush()

    @app.after_server_start
    async def start_publishing(app: Sanic) -> None:
        app.add_task(heartbeats(app), name="heartbeats")
        app.add_task(flushes(app), name="market-data")

    @app.websocket("/v1/ws")
    async def feed(request: Request, ws) -> None:
        publisher: Publisher = app.ctx.publisher
        subscriber = Subscriber(ws, int(os.environ.get("COMMEX_WS_SEND_BUFFER", SEND_BUFFER_LIMIT)))
        metrics = app.ctx.exchange.metrics
        metrics.ws_clients.inc()

        def reply(message: dict) -> None:
            subscriber.offer(text_frame(_encode(message)))

        try:
            while True:
                raw = await ws.recv()
                if raw is None:
                    break
                try:
                    message = msgspec.json.decode(raw)
                    kind = message.get("type")
                except (msgspec.DecodeError, AttributeError):
                    reply({"type": "error", "code": "MALFORMED_MESSAGE", "message": "send JSON objects"})
                    continue
                if kind == "subscribe":
                    for channel in message.get("channels", []):
                        first = publisher.subscribe(subscriber, str(channel))
                        reply(first or {"type": "error", "code": "UNKNOWN_CHANNEL", "message": str(channel)})
                elif kind == "unsubscribe":
                    for channel in message.get("channels", []):
                        publisher.unsubscribe(subscriber, str(channel))
                    reply({"type": "unsubscribed", "channels": message.get("channels", [])})
                elif kind == "login":
                    try:
                        key = app.ctx.auth.verify(message.get("api_key"), str(message.get("timestamp", "")),
                                                  message.get("signature"), "GET", "/v1/ws", b"")
                    except AuthError as e:
                        reply({"type": "error", "code": e.code, "message": e.message})
                        continue
                    subscriber.cancel_on_disconnect = bool(message.get("cancel_on_disconnect"))
                    reply({"type": "logged_in", "member": key.member,
                           "cancel_on_disconnect": subscriber.cancel_on_disconnect})
                    reply(publisher.login(subscriber, key.member))
                elif kind == "ping":
                    reply({"type": "pong", "id": message.get("id")})
                else:
                    reply({"type": "error", "code": "UNKNOWN_TYPE", "message": f"unknown message type {kind!r}"})
        finally:
            publisher.drop(subscriber)
            metrics.ws_clients.dec()
            if subscriber.cancel_on_disconnect and subscriber.member:
                with contextlib.suppress(Exception):
                    await app.ctx.exchange.submit(Entry(MassCancel(member=subscriber.member)))
