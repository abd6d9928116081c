"""The pure part of market data: which book levels and orders a batch's events touched, the
published book per symbol with its gap-free ``seq``, and conflation (many batches, one delta).

``MarketData.note(events, books)`` runs after a commit: it records, for every level the events
touched, its absolute displayed quantity read from the engine's books at that moment (so
nothing uncommitted leaks), and the trades. ``MarketData.drain()`` turns what accumulated
into one ``BookDelta`` per symbol whose published book changed (``seq`` + 1 each), the trades
per symbol and the tickers that changed. Prices are integer fen; the gateway renders them,
frames the messages and fans them out.
"""

from collections import defaultdict
from collections.abc import Mapping

import msgspec

from engine import Accepted, Amended, Cancelled, Event, Trade

Level = tuple[str, int]  # (side, price)


class BookDelta(msgspec.Struct, gc=False):
    """Levels of ``symbol`` whose displayed quantity changed: (side, price, quantity), 0 deletes."""

    symbol: str
    seq: int
    changes: list[tuple[str, int, int]]


class Ticker(msgspec.Struct, gc=False):
    symbol: str
    best_bid: int | None
    best_ask: int | None
    last: int | None
    volume: int


class Drained(msgspec.Struct, gc=False):
    """What one flush publishes."""

    deltas: list[BookDelta]
    trades: dict[str, list[Trade]]
    tickers: list[Ticker]


class MarketData:
    """Published books, the order → level index and what is pending publication."""

    def __init__(self, books=None, orders=()) -> None:
        self.books: dict[str, dict[str, dict[int, int]]] = {}
        self.seq: dict[str, int] = defaultdict(int)
        self.levels_of: dict[int, tuple[str, str, int]] = {}  # order id -> (symbol, side, price)
        self.pending_levels: dict[str, dict[Level, int]] = defaultdict(dict)
        self.pending_trades: dict[str, list[Trade]] = defaultdict(list)
        self.last_trade: dict[str, tuple[int, int]] = {}  # symbol -> (last price, day volume)
        self.tickers: dict[str, Ticker] = {}
        for symbol, book in (books or {}).items():
            self.books[symbol] = {side: dict(book.depth(side, 1 << 30)) for side in ("buy", "sell")}
        for order in orders:
            self.levels_of[order.order_id] = (order.symbol, order.side, order.price)

    def note(self, events: list[Event], books, today: Mapping) -> tuple[dict[int, None], list[Trade]]:
        """Record what committed ``events`` changed (levels as the engine's ``books`` hold them
        now, last prices from the day's statistics ``today``); return the ids of the orders
        they touched and their trades."""
        touched: dict[str, set[Level]] = defaultdict(set)
        changed: dict[int, None] = {}
        trades: list[Trade] = []
        for e in events:
            kind = type(e)
            if kind is Accepted:
                self.levels_of[e.order_id] = (e.symbol, e.side, e.price)
                touched[e.symbol].add((e.side, e.price))
                changed[e.order_id] = None
            elif kind is Trade:
                self.pending_trades[e.symbol].append(e)
                trades.append(e)
                for oid, leaves in ((e.buy_order_id, e.buy_leaves), (e.sell_order_id, e.sell_leaves)):
                    self._touch(touched, oid, remove=not leaves)
                    changed[oid] = None
            elif kind is Cancelled:
                self._touch(touched, e.order_id, remove=True)
                changed[e.order_id] = None
            elif kind is Amended:
                old = self.levels_of.get(e.order_id)
                if old is not None:
                    touched[e.symbol].add(old[1:])
                    self.levels_of[e.order_id] = (e.symbol, old[1], e.price)
                    touched[e.symbol].add((old[1], e.price))
                changed[e.order_id] = None
        for symbol, levels in touched.items():
            book, pending = books[symbol], self.pending_levels[symbol]
            for side, price in levels:
                pending[(side, price)] = book.level_quantity(side, price)  # as committed
        for symbol in {t.symbol for t in trades}:
            if symbol in today:
                self.last_trade[symbol] = (today[symbol].close, today[symbol].volume_lots)
        return changed, trades

    def _touch(self, touched: dict[str, set[Level]], order_id: int, remove: bool) -> None:
        level = self.levels_of.pop(order_id, None) if remove else self.levels_of.get(order_id)
        if level is not None:
            touched[level[0]].add(level[1:])

    @property
    def pending(self) -> bool:
        return bool(self.pending_levels or self.pending_trades)

    def drain(self) -> Drained:
        """Publish what is pending: book deltas, trades and changed tickers (conflated)."""
        levels, trades = self.pending_levels, self.pending_trades
        self.pending_levels, self.pending_trades = defaultdict(dict), defaultdict(list)
        deltas = []
        for symbol in sorted(levels):
            changes = self._publish(symbol, levels[symbol])
            if changes:
                self.seq[symbol] += 1
                deltas.append(BookDelta(symbol, self.seq[symbol], changes))
        tickers = [t for t in (self._ticker(s) for s in sorted(set(levels) | set(trades))) if t is not None]
        return Drained(deltas, dict(trades), tickers)

    def _publish(self, symbol: str, levels: dict[Level, int]) -> list[tuple[str, int, int]]:
        published = self.books.setdefault(symbol, {"buy": {}, "sell": {}})
        changes = []
        for (side, price), qty in sorted(levels.items()):
            if published[side].get(price, 0) != qty:
                if qty:
                    published[side][price] = qty
                else:
                    published[side].pop(price, None)
                changes.append((side, price, qty))
        return changes

    def _ticker(self, symbol: str) -> Ticker | None:
        last, volume = self.last_trade.get(symbol, (None, 0))
        book = self.books.get(symbol, {"buy": {}, "sell": {}})
        ticker = Ticker(symbol, max(book["buy"], default=None), min(book["sell"], default=None), last, volume)
        if self.tickers.get(symbol) == ticker:
            return None
        self.tickers[symbol] = ticker
        return ticker

    def book_view(self, symbol: str, depth: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(seq, bids best first, asks best first) of the published book, in fen."""
        book = self.books.get(symbol, {"buy": {}, "sell": {}})
        bids = sorted(book["buy"].items(), reverse=True)[:depth]
        asks = sorted(book["sell"].items())[:depth]
        return self.seq[symbol], bids, asks
