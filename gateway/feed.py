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

import msgspec

from engine import Accepted, Amended, Cancelled, Trade
from gateway.prices import to_yuan
from gateway.wire import order_view

_encode = msgspec.json.Encoder().encode
SEND_BUFFER_LIMIT = 4 * 1024 * 1024  # bytes queued for one client before it counts as slow
HEARTBEAT_SECONDS = 5.0
FLUSH_SECONDS = 0.01


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
    to every subscriber's transport. The transport's write buffer is the send queue; once it
    holds more than ``limit`` bytes the consumer is too slow and is disconnected."""

    def __init__(self, ws, limit: int = SEND_BUFFER_LIMIT) -> None:
        self.ws = ws
        self.transport = ws.io_proto.transport
        self.limit = limit
        self.channels: set[str] = set()
        self.member: str | None = None
        self.cancel_on_disconnect = False
        self.dropped: str | None = None

    def offer(self, frame: bytes) -> None:
        """Send a framed message, or cut a consumer that has fallen too far behind."""
        if self.dropped or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() > self.limit:
            self.dropped = "slow consumer: send buffer full"
            asyncio.get_running_loop().create_task(self.ws.close(code=4008, reason=self.dropped))
            return
        self.transport.write(frame)


class Publisher:
    """Turns committed batches into feed messages and fans them out."""

    def __init__(self, exchange) -> None:
        self.exchange = exchange
        self.books: dict[str, dict[str, dict[int, int]]] = {}
        self.seq: dict[str, int] = defaultdict(int)
        self.levels_of: dict[int, tuple[str, str, int]] = {}  # order id -> (symbol, side, price)
        self.channels: dict[str, set[Subscriber]] = defaultdict(set)
        self.private: dict[str, set[Subscriber]] = defaultdict(set)
        self.private_seq: dict[str, int] = defaultdict(int)
        self.tickers: dict[str, tuple] = {}
        self.pending_levels: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        self.pending_trades: dict[str, list[dict]] = defaultdict(list)
        self.pending_since: float | None = None
        self.last_trade: dict[str, tuple[int, int]] = {}  # symbol -> (last price, day volume), as committed
        engine = exchange.engine
        for symbol, book in engine.books.items():
            self.books[symbol] = {side: dict(book.depth(side, 1 << 30)) for side in ("buy", "sell")}
        for order in engine.orders.values():
            self.levels_of[order.order_id] = (order.symbol, order.side, order.price)

    # -------------------------------------------------------------- fan-out

    def _send(self, subscribers, message: dict) -> None:
        if not subscribers:
            return
        frame = text_frame(_encode(message))
        for subscriber in list(subscribers):
            subscriber.offer(frame)

    def _publish_private(self, member: str, kind: str, payload) -> None:
        self.private_seq[member] += 1
        self._send(self.private.get(member), {"type": kind, "channel": "orders", "seq": self.private_seq[member],
                                              kind: payload, "ts": time.time()})

    # -------------------------------------------------------------- after a commit

    def on_commit(self, entries, results) -> None:
        engine = self.exchange.engine
        views = self.exchange.views
        touched: dict[str, set[tuple[str, int]]] = defaultdict(set)
        trades: list[Trade] = []
        changed_orders: dict[int, None] = {}
        now = time.time()
        for entry, result in zip(entries, results, strict=True):
            if result.view is not None and result.view.order_id is None and not result.duplicate:
                # refused before the book
                self._publish_private(entry.command.member, "order", order_view(result.view))
            for e in result.events:
                kind = type(e)
                if kind is Accepted:
                    self.levels_of[e.order_id] = (e.symbol, e.side, e.price)
                    touched[e.symbol].add((e.side, e.price))
                    changed_orders[e.order_id] = None
                elif kind is Trade:
                    trades.append(e)
                    for oid, leaves in ((e.buy_order_id, e.buy_leaves), (e.sell_order_id, e.sell_leaves)):
                        level = self.levels_of.get(oid)
                        if level is not None:
                            touched[level[0]].add(level[1:])
                            if not leaves:
                                del self.levels_of[oid]
                        changed_orders[oid] = None
                elif kind is Cancelled:
                    level = self.levels_of.pop(e.order_id, None)
                    if level is not None:
                        touched[level[0]].add(level[1:])
                    changed_orders[e.order_id] = None
                elif kind is Amended:
                    old = self.levels_of.get(e.order_id)
                    if old is not None:
                        touched[e.symbol].add(old[1:])
                        self.levels_of[e.order_id] = (e.symbol, old[1], e.price)
                        touched[e.symbol].add((old[1], e.price))
                    changed_orders[e.order_id] = None
        if touched or trades:
            self.pending_since = self.pending_since or now
        for symbol, levels in touched.items():
            book = engine.books[symbol]
            pending = self.pending_levels[symbol]
            for side, price in levels:
                pending[(side, price)] = book.level_quantity(side, price)  # as committed
        market = self.exchange.state.market
        for symbol in {t.symbol for t in trades}:
            stats = market.today.get(symbol)
            if stats is not None:
                self.last_trade[symbol] = (stats.close, stats.volume_lots)
        for t in trades:
            self.pending_trades[t.symbol].append({"trade_id": t.trade_id, "price": to_yuan(t.price),
                                                  "quantity": t.quantity, "aggressor": t.aggressor})
            for member, side, oid in ((t.buyer, "buy", t.buy_order_id), (t.seller, "sell", t.sell_order_id)):
                if self.private.get(member):
                    self._publish_private(member, "fill", {"trade_id": t.trade_id, "order_id": oid, "side": side,
                                                           "symbol": t.symbol, "price": to_yuan(t.price),
                                                           "quantity": t.quantity})
        for oid in changed_orders:
            view = views.by_id.get(oid)
            member = views.owner.get(oid)
            if view is not None and self.private.get(member):
                self._publish_private(member, "order", order_view(view))
        notices, self.exchange.state.financing.notices = self.exchange.state.financing.notices, []
        for member, notice in notices:  # loan events: margin calls, liquidations, repayments
            if self.private.get(member):
                self._publish_private(member, "loan", notice)

    def flush(self) -> None:
        """Publish the changes committed since the last flush."""
        if self.pending_since is None:
            return
        since = self.pending_since
        levels, trades = self.pending_levels, self.pending_trades
        self.pending_levels, self.pending_trades, self.pending_since = defaultdict(dict), defaultdict(list), None
        for symbol in sorted(levels):
            published = self.books.setdefault(symbol, {"buy": {}, "sell": {}})
            changes = []
            for (side, price), qty in sorted(levels[symbol].items()):
                if published[side].get(price, 0) != qty:
                    if qty:
                        published[side][price] = qty
                    else:
                        published[side].pop(price, None)
                    changes.append((side, to_yuan(price), qty))
            if changes:
                self.seq[symbol] += 1
                self._send(self.channels.get(f"book.{symbol}"),
                           {"type": "delta", "channel": f"book.{symbol}", "seq": self.seq[symbol],
                            "changes": changes, "ts": since})
        for symbol, prints in trades.items():
            self._send(self.channels.get(f"trades.{symbol}"),
                       {"type": "trades", "channel": f"trades.{symbol}", "trades": prints, "ts": since})
        for symbol in set(levels) | set(trades):
            self._ticker(symbol, since)

    def _ticker(self, symbol: str, now: float) -> None:
        last, volume = self.last_trade.get(symbol, (None, 0))
        book = self.books.get(symbol, {"buy": {}, "sell": {}})
        ticker = (max(book["buy"], default=None), min(book["sell"], default=None), last, volume)
        if self.tickers.get(symbol) == ticker:
            return
        self.tickers[symbol] = ticker
        bid, ask, last, volume = ticker
        self._send(self.channels.get(f"ticker.{symbol}"),
                   {"type": "ticker", "channel": f"ticker.{symbol}", "best_bid": to_yuan(bid) if bid else None,
                    "best_ask": to_yuan(ask) if ask else None, "last": to_yuan(last) if last else None,
                    "volume": volume, "ts": now})

    # -------------------------------------------------------------- queries

    def book_view(self, symbol: str, depth: int) -> tuple[int, list, list]:
        """(seq, bids best first, asks best first) of the published book."""
        book = self.books.get(symbol, {"buy": {}, "sell": {}})
        bids = sorted(book["buy"].items(), reverse=True)[:depth]
        asks = sorted(book["sell"].items())[:depth]
        return self.seq[symbol], [(to_yuan(p), q) for p, q in bids], [(to_yuan(p), q) for p, q in asks]

    def subscribe(self, subscriber: Subscriber, channel: str) -> dict | None:
        """Add a channel; the snapshot message to send first, or None for an unknown channel."""
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
        views = self.exchange.views
        orders = [order_view(v) for oid, v in views.by_id.items() if views.owner[oid] == member]
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
