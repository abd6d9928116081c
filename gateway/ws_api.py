"""The ``/v1/ws`` endpoint: subscribe to public channels, log in for the private ``orders``
stream (optionally cancelling the member's orders when the socket drops) and for order entry
(``order.*`` messages, gateway/ws_orders.py), heartbeats.

What a client sends is bounded per connection (``Limits``, each overridable by
``COMMEX_WS_<FIELD>``): frames are parsed a slice at a time and the socket is not read while
parsed ones wait (``Inbound``), so a client that writes without reading holds a bounded amount
of memory; every frame spends a token of the connection's bucket (a larger one once logged in,
``trading_rate``) and an empty bucket closes the connection with 1008, a message above the size
limit closes it with 1009, a text frame that is not UTF-8 with 1007. Each message decodes into
the Struct of its ``type``; a malformed one is answered with ``MALFORMED_MESSAGE`` and the
connection kept. A channel is subscribed once, up to ``max_channels``; connections not logged in
are capped per client address. A ``login`` signs its options and a nonce, accepted once
(``gateway.auth.Nonces``); a browser signed in to the desk sends ``session`` instead, with its
CSRF token (the handshake carried the session cookie), and
the connection is closed (4001) when that session ends."""

import asyncio
import contextlib
import os
from collections import Counter, deque
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from sanic import Blueprint, Request, Sanic, Websocket
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from engine import MassCancel
from exchange.journal import Entry
from gateway.auth import ApiKey, AuthError, Nonces, TokenBucket
from gateway.feed import FLUSH_SECONDS, HEARTBEAT_SECONDS, SEND_BUFFER_LIMIT, Publisher, Subscriber, text_frame
from gateway.feed_client import login_body
from gateway.sessions import COOKIE
from gateway.ws_orders import OrderMessage, Trading, on_order

bp = Blueprint("ws")
_encode = msgspec.json.Encoder().encode
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class Limits(msgspec.Struct, frozen=True):
    """What one connection may send and hold (all positive)."""

    max_message: PositiveInt = 4096  # bytes in a message; beyond: close 1009
    rate: PositiveFloat = 20.0  # frames a second (control frames included) ...
    burst: PositiveFloat = 100.0  # ... in bursts of up to this many; beyond: close 1008
    max_channels: PositiveInt = 64  # public channels per connection
    anonymous_per_address: PositiveInt = 16  # connections not logged in, per client address; beyond: close 1008
    send_buffer: PositiveInt = SEND_BUFFER_LIMIT  # bytes queued for a client before it counts as slow (4008)
    trading_rate: PositiveFloat = 10_000.0  # frames a second once logged in (order messages are limited
    trading_burst: PositiveFloat = 20_000.0  # ... by the key's own bucket first, answered 429)
    max_in_flight: PositiveInt = 1_024  # order messages not yet answered; beyond, the socket is not read

    @classmethod
    def from_env(cls) -> "Limits":
        """The defaults, overridden by ``COMMEX_WS_MAX_MESSAGE`` etc. where set."""
        given = {f: os.environ[f"COMMEX_WS_{f.upper()}"] for f in cls.__struct_fields__
                 if f"COMMEX_WS_{f.upper()}" in os.environ}
        return msgspec.convert(given, cls, strict=False)


# ------------------------------------------------------------------ messages a client sends

Channel = Annotated[str, msgspec.Meta(max_length=64)]
Nonce = Annotated[str, msgspec.Meta(pattern="^[0-9A-Za-z_-]{16,64}$")]


class Subscribe(msgspec.Struct, tag_field="type", tag="subscribe"):
    channels: list[Channel]


class Unsubscribe(msgspec.Struct, tag_field="type", tag="unsubscribe"):
    channels: list[Channel]


class Login(msgspec.Struct, tag_field="type", tag="login"):
    """Signed as timestamp + GET + /v1/ws + ``login_body(nonce, cancel_on_disconnect)``."""

    api_key: Annotated[str, msgspec.Meta(max_length=64)]
    timestamp: Annotated[str, msgspec.Meta(pattern="^[0-9]{1,16}$")]
    nonce: Nonce
    signature: Annotated[str, msgspec.Meta(max_length=128)]
    cancel_on_disconnect: bool = False


class SessionLogin(msgspec.Struct, tag_field="type", tag="session"):
    """Log in with the desk's session: the cookie came with the handshake, the CSRF token here."""

    csrf_token: Annotated[str, msgspec.Meta(max_length=128)]
    cancel_on_disconnect: bool = False


class Ping(msgspec.Struct, tag_field="type", tag="ping"):
    id: int | Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Envelope(msgspec.Struct):
    """Just the ``type`` and ``request_id``: tells an unknown type from a malformed message, and
    which order message was malformed."""

    type: str
    request_id: Any = None


_decode = msgspec.json.Decoder(Subscribe | Unsubscribe | Login | SessionLogin | Ping | OrderMessage).decode
_decode_type = msgspec.json.Decoder(Envelope).decode


# ------------------------------------------------------------------ reading, within limits

class Refused(Exception):
    """The client broke a limit: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class Inbound:
    """What one client sends, read a slice at a time.

    Sanic's reader parses every byte as it arrives and queues the frames in a task per read,
    without bound. This replaces it on the connection (``data_received`` etc.): received bytes
    wait unparsed with the transport paused, and are parsed ``SLICE`` bytes at a time as the
    handler asks for messages. Pings are answered and pongs acknowledged as Sanic would."""

    SLICE = 4096
    LINGER_BYTES = 1024 * 1024  # read at most this much more from a client being closed ...
    REFUSED_LINGER_BYTES = 64 * 1024  # ... or from one that broke a limit

    def __init__(self, ws: Websocket, limits: Limits) -> None:
        self.ws, self.proto, self.transport = ws, ws.ws_proto, ws.io_proto.transport
        self.proto.max_message_size = limits.max_message  # websockets closes 1009 beyond it
        self.bucket = TokenBucket(limits.rate, limits.burst)
        self.unparsed = bytearray()
        self.frames: deque[Frame] = deque()
        self.wake = asyncio.Event()
        self.gone = False
        self.linger_bytes = self.LINGER_BYTES
        # told once nothing more may be sent: our close frame or our end of the stream is written
        self.on_closing: Callable[[], None] = lambda: None
        self._eof_received, self._connection_lost = ws.eof_received, ws.connection_lost
        ws.data_received, ws.eof_received, ws.connection_lost = \
            self.data_received, self.eof_received, self.connection_lost

    def data_received(self, data: bytes) -> None:
        self.unparsed += data
        self.transport.pause_reading()
        self.wake.set()

    def eof_received(self) -> bool | None:
        self.gone = True
        self.wake.set()
        return self._eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection_lost(exc)
        self.gone = True
        self.wake.set()

    async def message(self) -> str | bytes | None:
        """The next message (str for text, bytes for binary), or None once the connection is
        closing or gone; raises Refused for a flood or a text message that is not UTF-8."""
        first = frame = await self._frame()
        if first is None:
            return None
        parts = [first.data]
        while not frame.fin:  # a fragmented message: websockets checks the order and the total size
            if (frame := await self._frame()) is None:
                return None
            parts.append(frame.data)
        payload = b"".join(parts)
        if first.opcode is Opcode.BINARY:
            return payload
        try:
            return payload.decode()
        except UnicodeDecodeError:
            raise Refused(1007, "text frames must be UTF-8") from None

    async def _frame(self) -> Frame | None:
        """The next data frame, parsing the next slice when none is waiting."""
        while not self.frames:
            if self.gone or self.proto.state is not State.OPEN:
                return None
            if self.unparsed:
                await self._parse_slice()
            else:
                await self._more()
        return self.frames.popleft()

    async def _more(self) -> None:
        """Read again and wait for data or the end of the connection."""
        self.wake.clear()
        if not self.transport.is_closing():
            self.transport.resume_reading()
        await self.wake.wait()

    async def _parse_slice(self, keep: bool = True) -> None:
        """Parse the next slice; queue its data frames (or drop them: ``keep=False``)."""
        chunk = bytes(self.unparsed[:self.SLICE])
        del self.unparsed[:self.SLICE]
        self.proto.receive_data(chunk)
        await self._send(self.proto.data_to_send())
        for frame in self.proto.events_received():
            if keep and self.bucket.take():
                raise Refused(1008, f"rate limit: more than {self.bucket.rate:g} frames a second")
            if frame.opcode is Opcode.PONG:
                await self.ws.process_pong(frame)
            elif keep and frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self.frames.append(frame)
        await asyncio.sleep(0)  # a slice at a time: other connections and requests go in between

    async def _send(self, out: list[bytes]) -> None:
        """Send what parsing produced: pongs, a close frame; its end of stream (``b""``, once the
        close handshake is done or failed) half-closes, and ``linger`` waits for the client's."""
        if frames := [data for data in out if data]:
            await self.ws.send_data(frames)
        if b"" in out and self.transport.can_write_eof() and not self.transport.is_closing():
            self.on_closing()
            self.transport.write_eof()

    def close(self, code: int, reason: str, linger_bytes: int = LINGER_BYTES) -> None:
        """Start the closing handshake: a close frame after what is queued (without waiting for
        the client to read it); ``message`` then returns None and ``linger`` finishes."""
        self.linger_bytes = min(self.linger_bytes, linger_bytes)
        if self.proto.state is State.OPEN and not self.transport.is_closing():
            self.proto.send_close(code, reason)
            for data in self.proto.data_to_send():
                self.transport.write(data)
        self.on_closing()  # RFC 6455 §5.5.1: no data frame after our close frame
        self.wake.set()

    async def linger(self) -> None:
        """Read and drop what the client sends (its close frame answers ours, then we half-close)
        until it closes its end, for at most the close timeout and ``linger_bytes``; then close
        the socket. Closing with input unread would reset the connection, and the client would
        lose the close frame and whatever was queued before it."""
        if self.proto.state is State.OPEN:
            self.close(1000, "")
        dropped = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.ws.close_timeout):
                while not self.gone and dropped < self.linger_bytes:
                    if self.unparsed:
                        dropped += min(len(self.unparsed), self.SLICE)
                        await self._parse_slice(keep=False)
                    else:
                        await self._more()
        if not self.gone:
            self.ws.fail_connection(1006)  # closes the socket
        self.detach()

    def detach(self) -> None:
        """Drop the buffers and hand the connection's callbacks back to Sanic: the connection's
        objects live in reference cycles until the collector finds them, and should not hold
        our buffers meanwhile."""
        for name in ("data_received", "eof_received", "connection_lost"):
            self.ws.__dict__.pop(name, None)
        self.unparsed = bytearray()
        self.frames.clear()


class Anonymous:
    """Connections not logged in, counted per client address."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        if self.count[address] >= self.limit:
            return False
        self.count[address] += 1
        return True

    def release(self, address: str) -> None:
        self.count[address] -= 1
        if self.count[address] <= 0:
            del self.count[address]


# ------------------------------------------------------------------ lifecycle

async def heartbeats(app: Sanic) -> None:
    """Heartbeats to subscribers; sessions that expired end, closing the sockets they logged in
    (one that only receives would otherwise outlive its session)."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        app.ctx.publisher.heartbeat()
        app.ctx.sessions.prune(app.ctx.sessions.clock())


async def flushes(app: Sanic) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        app.ctx.publisher.flush()


@bp.before_server_start
async def set_limits(app: Sanic) -> None:
    app.ctx.ws_limits = Limits.from_env()
    app.ctx.ws_anonymous = Anonymous(app.ctx.ws_limits.anonymous_per_address)
    app.ctx.ws_nonces = Nonces(app.ctx.auth.window_ms)
    app.ctx.sessions.on_end.append(lambda session_id: end_session(app, session_id))


def end_session(app: Sanic, session_id: str) -> None:
    """Close the connections logged in with a session that has just ended."""
    for subscribers in app.ctx.publisher.private.values():
        for subscriber in list(subscribers):
            if getattr(subscriber, "session_id", None) == session_id:
                subscriber.close(4001, "session ended")


@bp.after_server_start
async def start_publishing(app: Sanic) -> None:
    app.add_task(heartbeats(app), name="heartbeats")
    app.add_task(flushes(app), name="market-data")


@bp.signal("websocket.handler.before")
async def take_over_reading(request: Request, websocket: Websocket) -> None:
    """Runs inline right after the handshake, before any frame can reach Sanic's reader."""
    request.ctx.inbound = Inbound(websocket, request.app.ctx.ws_limits)


# ------------------------------------------------------------------ messages

def reply(subscriber: Subscriber, message: dict | msgspec.Struct) -> None:
    subscriber.offer(text_frame(_encode(message)))


class ErrorMessage(msgspec.Struct, tag_field="type", tag="error", omit_defaults=True):
    """A message the connection refused (not an order message's answer, which is ``answer``):
    ``MALFORMED_MESSAGE``, ``UNKNOWN_TYPE``, ``NOT_LOGGED_IN``, a login's ``REPLAYED_NONCE`` …;
    with the message's ``request_id`` or ``channel`` when it had one."""

    code: str
    message: str
    request_id: int | str | None = None
    channel: str | None = None


def error(subscriber: Subscriber, code: str, message: str, **extra: Any) -> None:
    reply(subscriber, ErrorMessage(code, message, **extra))


def subscribe(request: Request, subscriber: Subscriber, message: Subscribe) -> None:
    """Each new channel is answered with its snapshot (or ``subscribed``); a channel already
    subscribed is not added again: unsubscribe first for a fresh snapshot."""
    publisher: Publisher = request.app.ctx.publisher
    cap = request.app.ctx.ws_limits.max_channels
    for channel in message.channels:
        if channel in subscriber.channels:
            error(subscriber, "ALREADY_SUBSCRIBED", f"already subscribed to {channel}; unsubscribe first for a "
                  "fresh snapshot", channel=channel)
        elif len(subscriber.channels) >= cap:
            error(subscriber, "TOO_MANY_CHANNELS", f"at most {cap} channels per connection", channel=channel)
        else:
            first = publisher.subscribe(subscriber, channel)
            if first is None:
                error(subscriber, "UNKNOWN_CHANNEL", channel, channel=channel)
            else:
                reply(subscriber, first)


def unsubscribe(request: Request, subscriber: Subscriber, message: Unsubscribe) -> None:
    for channel in message.channels:
        request.app.ctx.publisher.unsubscribe(subscriber, channel)
    reply(subscriber, {"type": "unsubscribed", "channels": message.channels})


def login(request: Request, subscriber: Subscriber, message: Login) -> None:
    """A signature over timestamp + ``GET /v1/ws`` + the login's options and nonce opens the
    member's private ``orders`` stream; each nonce is accepted once."""
    ctx = request.app.ctx
    if subscriber.member is not None:
        return error(subscriber, "ALREADY_LOGGED_IN", f"logged in as {subscriber.member}")
    try:
        key = ctx.auth.verify(message.api_key, message.timestamp, message.signature, "GET", "/v1/ws",
                              login_body(message.nonce, message.cancel_on_disconnect))
        fresh = ctx.ws_nonces.use(key.api_key, message.nonce, int(message.timestamp))  # or 503 BUSY when full
    except AuthError as e:
        return error(subscriber, e.code, e.message)
    if not fresh:
        return error(subscriber, "REPLAYED_NONCE", "this login's nonce was used before: sign a new one")
    logged_in(request, subscriber, key, message.cancel_on_disconnect)


def session_login(request: Request, subscriber: Subscriber, message: SessionLogin) -> None:
    """The desk's login: the session cookie of the handshake and its CSRF token."""
    ctx = request.app.ctx
    if subscriber.member is not None:
        return error(subscriber, "ALREADY_LOGGED_IN", f"logged in as {subscriber.member}")
    try:
        session = ctx.sessions.check(request.cookies.get(COOKIE) or "", message.csrf_token)
    except AuthError as e:
        return error(subscriber, e.code, e.message)
    subscriber.session_id = session.session_id
    request.ctx.trading.session = session  # each order message keeps it alive, or finds it ended
    logged_in(request, subscriber, session.key, message.cancel_on_disconnect)


def logged_in(request: Request, subscriber: Subscriber, key: ApiKey, cancel_on_disconnect: bool) -> None:
    """Open the member's private stream on this connection and let it enter orders (its frames
    now limited by ``trading_rate``)."""
    ctx = request.app.ctx
    member = key.member
    ctx.ws_anonymous.release(request.client_ip)
    request.ctx.trading.key = key
    request.ctx.inbound.bucket = TokenBucket(ctx.ws_limits.trading_rate, ctx.ws_limits.trading_burst)
    subscriber.cancel_on_disconnect = cancel_on_disconnect
    reply(subscriber, {"type": "logged_in", "member": member, "cancel_on_disconnect": cancel_on_disconnect})
    reply(subscriber, ctx.publisher.login(subscriber, member))


def ping(request: Request, subscriber: Subscriber, message: Ping) -> None:
    reply(subscriber, {"type": "pong", "id": message.id})


def order(request: Request, subscriber: Subscriber, message: OrderMessage) -> None:
    """An order message (gateway/ws_orders.py): answered once its command is committed."""
    on_order(request.app.ctx, str(request.id), request.ctx.trading, subscriber, message)


HANDLERS: dict[type, Callable[[Request, Subscriber, Any], None]] = {
    Subscribe: subscribe, Unsubscribe: unsubscribe, Login: login, SessionLogin: session_login, Ping: ping,
    **{kind: order for kind in OrderMessage.__args__},
}
TYPES = frozenset(t.__struct_config__.tag for t in HANDLERS)


def malformed(subscriber: Subscriber, raw: str | bytes, problem: str) -> None:
    """Answer a message that did not decode: an unknown ``type``, or a malformed message."""
    try:
        envelope = _decode_type(raw)
        kind, request_id = envelope.type, envelope.request_id
    except (msgspec.DecodeError, RecursionError):
        kind = request_id = None
    # a pipelining client matches the answer by its request id
    echo = {"request_id": request_id} if isinstance(request_id, int | str) and len(str(request_id)) <= 64 else {}
    if kind is not None and kind not in TYPES:
        error(subscriber, "UNKNOWN_TYPE", f"unknown message type {kind[:64]!r}", **echo)
    else:
        error(subscriber, "MALFORMED_MESSAGE", problem[:200], **echo)


def on_message(request: Request, subscriber: Subscriber, raw: str | bytes) -> None:
    """Answer one client message; every reply goes through the subscriber's bounded queue."""
    if isinstance(raw, bytes):
        return error(subscriber, "MALFORMED_MESSAGE", "send JSON in text frames")
    try:
        message = _decode(raw)
    except msgspec.DecodeError as e:
        return malformed(subscriber, raw, str(e))
    except RecursionError:
        return error(subscriber, "MALFORMED_MESSAGE", "JSON nested too deeply")
    HANDLERS[type(message)](request, subscriber, message)


@bp.websocket("/v1/ws")
async def feed(request: Request, ws: Websocket) -> None:
    ctx = request.app.ctx
    inbound: Inbound = request.ctx.inbound
    if not ctx.ws_anonymous.admit(request.client_ip):
        inbound.close(1008, "too many connections not logged in from this address", Inbound.REFUSED_LINGER_BYTES)
        await inbound.linger()
        return
    subscriber = Subscriber(ws, ctx.ws_limits.send_buffer, inbound.close)
    inbound.on_closing = subscriber.end_of_stream
    trading = request.ctx.trading = Trading(ctx.ws_limits.max_in_flight)
    ctx.exchange.metrics.ws_clients.inc()
    try:
        while (raw := await inbound.message()) is not None:
            on_message(request, subscriber, raw)
            if trading.full:
                await trading.room()
    except Refused as refused:
        subscriber.flush()  # the answers already given go before the close frame
        inbound.close(refused.code, refused.reason, Inbound.REFUSED_LINGER_BYTES)
    finally:
        await disconnected(request, subscriber)
        await inbound.linger()
        ctx.exchange.metrics.ws_clients.dec()
        if subscriber.member is None:  # a login released its slot
            ctx.ws_anonymous.release(request.client_ip)


async def disconnected(request: Request, subscriber: Subscriber) -> None:
    """Stop publishing to the connection; once its order messages are answered, cancel the
    member's orders if its login asked for that."""
    ctx = request.app.ctx
    ctx.publisher.drop(subscriber)
    await request.ctx.trading.drain()
    if subscriber.member is not None and subscriber.cancel_on_disconnect:
        with contextlib.suppress(Exception):
            await ctx.exchange.submit(Entry(MassCancel(member=subscriber.member)))
