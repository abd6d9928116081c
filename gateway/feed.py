"""Market data and private streams over WebSocket (``/v1/ws``).

After every committed batch the ``Publisher`` notes what changed: the absolute displayed
quantity of every touched level (read at commit time, so nothing uncommitted leaks) and the
trades. Every ``FLUSH_SECONDS`` it publishes what accumulated (conflation: many batches, one
message per channel), which keeps the message rate bounded however fast orders arrive:

- ``book.SYMBOL``: a snapshot (all levels, with the symbol's ``seq``) on subscribe, then one
  ``delta`` per flush that changed the book, with the absolute displayed quantity of every
  level that changed (0 deletes the level); ``seq`` rises by exactly 1 per delta.
- ``trades.SYMBOL``: a ``trades`` message per flush listing its trades; each trade once.
- ``ticker.SYMBOL``: best bid and ask, last price and the day's volume, when they change.
- ``orders`` (after a signed ``login``): a snapshot of the member's orders, then every state
  change of its orders and every fill, numbered by a per-member ``seq``, sent at once.

Every public message's ``ts`` is the commit time of the oldest change it carries, so a client
measures delivery latency including the conflation wait.

The publisher keeps the book it has published; snapshots and ``GET /v1/book`` read that, so
they show exactly what was committed and announced. Each message is encoded and framed once
and the same bytes are written to every subscriber; a subscriber whose send buffer is full is
disconnected with a reason rather than slowing the exchange. Messages a client does not know
are to be ignored.
"""

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

import msgspec

from exchange.marketdata import MarketData
from gateway import supply_feed
from gateway.credit_api import entry_view
from gateway.delivery_api import notice_view
from gateway.positions_api import position_view
from gateway.prices import to_yuan, yuan_if_set
from gateway.wire import order_view

_encode = msgspec.json.Encoder().encode
SEND_BUFFER_LIMIT = 4 * 1024 * 1024  # bytes queued for one client before it counts as slow
HEARTBEAT_SECONDS = 5.0
FLUSH_SECONDS = 0.01


# private notices drained after each commit: (state part, message type, rendering)
_NOTICES = (("financing", "loan", lambda n: n), ("registry", "receipt", lambda n: n),
            ("inbound", "declaration", lambda n: n), ("delivery", "delivery", notice_view),
            ("forwards", "margin", lambda n: n))


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 §5.2): what a server sends."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65_536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class Subscriber:
    """One WebSocket connection: its channels and login, and a bounded send buffer.

    A server's frames are unmasked, so a message is framed once and the same bytes are written
    to every subscriber's transport. The frames offered in one turn of the event loop are written
    together at its end (one send instead of one per message: answers to pipelined orders and
    private messages come many to a batch). The transport's write buffer is the send queue; once
    it holds more than ``limit`` bytes the consumer is too slow and is disconnected."""

    def __init__(self, ws, limit: int = SEND_BUFFER_LIMIT, close: Callable[[int, str], None] | None = None) -> None:
        self.ws = ws
        self.transport = ws.io_proto.transport
        self.limit = limit
        self._close = close or ws.fail_connection  # close(code, reason): starts closing the connection
        self.channels: set[str] = set()
        self.member: str | None = None
        self.cancel_on_disconnect = False
        self.dropped: str | None = None
        self.ended = False  # our close frame or end of the stream is written: see end_of_stream
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def offer(self, frame: bytes) -> None:
        """Send a framed message (at the end of this turn of the loop), or cut a consumer that
        has fallen too far behind."""
        if self.dropped or self.ended or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() + self.pending_bytes > self.limit:
            self.dropped = "slow consumer: send buffer full"
            self.close(4008, self.dropped)  # the close frame goes after what is queued
            return
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(frame)
        self.pending_bytes += len(frame)

    def flush(self) -> None:
        """Write the frames offered so far."""
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        if not self.ended and not self.transport.is_closing():
            self.transport.write(data)

    def end_of_stream(self) -> None:
        """Our close frame or end of the stream is written: nothing more may be sent, such as the
        answers to orders still being committed when the connection closed."""
        self.ended = True
        self.pending, self.pending_bytes = [], 0

    def close(self, code: int, reason: str) -> None:
        """Start closing the connection, after the frames offered so far."""
        self.flush()
        self._close(code, reason)


class Publisher:
    """Turns committed batches into feed messages (``exchange.marketdata`` decides what changed)
    and fans them out."""

    def __init__(self, exchange) -> None:
        self.exchange = exchange
        engine = exchange.engine
        self.data = MarketData(engine.books, engine.orders.values())
        self.channels: dict[str, set[Subscriber]] = defaultdict(set)
        self.private: dict[str, set[Subscriber]] = defaultdict(set)
        self.private_seq: dict[str, int] = defaultdict(int)
        self.pending_since: float | None = None

    # -------------------------------------------------------------- fan-out

    def _send(self, subscribers, message: dict) -> None:
        if not subscribers:
            return
        frame = text_frame(_encode(message))
        for subscriber in list(subscribers):
            subscriber.offer(frame)

    def _publish_private(self, member: str, kind: str, payload) -> None:
        """Send ``payload`` on the member's private stream, if it is logged in."""
        if not self.private.get(member):
            return
        self.private_seq[member] += 1
        self._send(self.private.get(member), {"type": kind, "channel": "orders", "seq": self.private_seq[member],
                                              kind: payload, "ts": time.time()})

    # -------------------------------------------------------------- after a commit

    def on_commit(self, entries, results) -> None:
        state = self.exchange.state
        events = []
        for entry, result in zip(entries, results, strict=True):
            if result.view is not None and result.view.order_id is None and not result.duplicate:
                # refused before the book
                self._publish_private(entry.command.member, "order", order_view(result.view))
            events += result.events
        changed, trades = self.data.note(events, state.engine.books, state.market.today)
        if self.data.pending:
            self.pending_since = self.pending_since or time.time()
        for t in trades:
            for member, side, oid in ((t.buyer, "buy", t.buy_order_id), (t.seller, "sell", t.sell_order_id)):
                if self.private.get(member):
                    self._publish_private(member, "fill", {"trade_id": t.trade_id, "order_id": oid, "side": side,
                                                           "symbol": t.symbol, "price": to_yuan(t.price),
                                                           "quantity": t.quantity})
        views = state.views
        for oid in changed:
            view = views.by_id.get(oid)
            if view is not None and self.private.get(view.member):
                self._publish_private(view.member, "order", order_view(view))
        for source, kind, render in _NOTICES:  # loans, receipt expiry, registration steps, delivery, margin calls
            component = getattr(state, source)
            notices, component.notices = component.notices, []
            for member, notice in notices:
                self._publish_private(member, kind, render(notice))
        self._positions(state.forwards, trades)
        entries, state.credit.notices = state.credit.notices, []
        for entry in entries:
            self._publish_private(entry.member, "credit", msgspec.to_builtins(entry_view(entry)))
        supply_feed.on_commit(self, state)  # auctions and listings: public lots, members' own bids and deals

    def _positions(self, forwards, trades) -> None:
        """Each member's position after its fills on margined forwards."""
        for member, symbol in sorted({(m, t.symbol) for t in trades if t.symbol in forwards.terms
                                      for m in (t.buyer, t.seller)}):
            if self.private.get(member):
                self._publish_private(member, "position", msgspec.to_builtins(
                    position_view(forwards, forwards.positions[(member, symbol)])))

    def flush(self) -> None:
        """Publish the changes committed since the last flush."""
        if self.pending_since is None:
            return
        since, self.pending_since = self.pending_since, None
        drained = self.data.drain()
        for d in drained.deltas:
            channel = f"book.{d.symbol}"
            self._send(self.channels.get(channel),
                       {"type": "delta", "channel": channel, "seq": d.seq,
                        "changes": [(side, to_yuan(price), qty) for side, price, qty in d.changes], "ts": since})
        for symbol, trades in drained.trades.items():
            prints = [{"trade_id": t.trade_id, "price": to_yuan(t.price), "quantity": t.quantity,
                       "aggressor": t.aggressor} for t in trades]
            self._send(self.channels.get(f"trades.{symbol}"),
                       {"type": "trades", "channel": f"trades.{symbol}", "trades": prints, "ts": since})
        for t in drained.tickers:
            self._send(self.channels.get(f"ticker.{t.symbol}"),
                       {"type": "ticker", "channel": f"ticker.{t.symbol}", "best_bid": yuan_if_set(t.best_bid),
                        "best_ask": yuan_if_set(t.best_ask), "last": yuan_if_set(t.last), "volume": t.volume,
                        "ts": since})

    # -------------------------------------------------------------- queries

    def book_view(self, symbol: str, depth: int) -> tuple[int, list, list]:
        """(seq, bids best first, asks best first) of the published book, prices in yuan."""
        seq, bids, asks = self.data.book_view(symbol, depth)
        return seq, [(to_yuan(p), q) for p, q in bids], [(to_yuan(p), q) for p, q in asks]

    def subscribe(self, subscriber: Subscriber, channel: str) -> dict | None:
        """Add a channel; the snapshot message to send first, or None for an unknown channel."""
        if supply_feed.is_supply_channel(channel):
            first = supply_feed.snapshot(self.exchange.state, channel, self.exchange.now_ns())
            if first is not None:
                subscriber.channels.add(channel)
                self.channels[channel].add(subscriber)
            return first
        kind, _, symbol = channel.partition(".")
        if kind not in ("book", "trades", "ticker") or symbol not in self.exchange.engine.instruments:
            return None
        subscriber.channels.add(channel)
        self.channels[channel].add(subscriber)
        if kind == "book":
            seq, bids, asks = self.book_view(symbol, 1 << 30)
            return {"type": "snapshot", "channel": channel, "seq": seq, "bids": bids, "asks": asks}
        return {"type": "subscribed", "channel": channel}

    def unsubscribe(self, subscriber: Subscriber, channel: str) -> None:
        subscriber.channels.discard(channel)
        self.channels.get(channel, set()).discard(subscriber)

    def login(self, subscriber: Subscriber, member: str) -> dict:
        subscriber.member = member
        self.private[member].add(subscriber)
        orders = [order_view(v) for v in self.exchange.views.member_orders(member)]  # open and recently closed
        return {"type": "orders_snapshot", "channel": "orders", "seq": self.private_seq[member], "orders": orders}

    def drop(self, subscriber: Subscriber) -> None:
        for channel in list(subscriber.channels):
            self.unsubscribe(subscriber, channel)
        if subscriber.member:
            self.private[subscriber.member].discard(subscriber)

    def heartbeat(self) -> None:
        subscribers = {s for subs in self.channels.values() for s in subs} | \
            {s for subs in self.private.values() for s in subs}
        self._send(subscribers, {"type": "heartbeat", "ts": time.time()})
