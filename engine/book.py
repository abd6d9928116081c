"""One instrument's order book: price levels in ``SortedDict``s, a FIFO ``Level`` per price.

Bids and asks are both keyed by ascending price; the best bid is the last key, the best ask
the first. The book holds orders only; matching lives in ``engine.core`` where events are made.
Each level keeps the sum of its orders' displayed quantities (``Level.shown``): whoever changes
an order's ``visible`` while it rests adjusts its level's total (``check`` verifies it), so
market data reads a level's size without summing its queue.
"""

from collections import deque
from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict

from engine.codes import BUY, CANCEL_OLDEST, SELL
from engine.state import Order


class Level(deque):
    """The orders resting at one price, in time priority, and ``shown``: the sum of their
    ``visible`` quantities.

    >>> from engine.state import Order
    >>> level = Level([Order(1, "m", "CF", "buy", 500, 3, 0, 3, 0, 0, "GTC", "cancel_newest", False)])
    >>> level.shown
    3
    """

    def __init__(self, orders: Iterable[Order] = (), maxlen: int | None = None) -> None:  # pickle passes maxlen
        super().__init__(orders)
        self.shown = sum(o.visible for o in self)


class Book:
    """Bid and ask price levels of one instrument."""

    __slots__ = ("symbol", "bids", "asks")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def rest(self, order: Order) -> None:
        """Append ``order`` at the back of its price level."""
        levels = self.bids if order.side == BUY else self.asks
        queue = levels.get(order.price)
        if queue is None:
            levels[order.price] = Level((order,))
        else:
            queue.append(order)
            queue.shown += order.visible

    def remove(self, order: Order) -> None:
        """Take ``order`` out of its level, dropping the level if it empties."""
        levels = self.bids if order.side == BUY else self.asks
        queue = levels[order.price]
        queue.remove(order)
        queue.shown -= order.visible
        if not queue:
            del levels[order.price]

    def best_bid(self) -> int | None:
        """Highest bid price, or None."""
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        """Lowest ask price, or None."""
        return self.asks.peekitem(0)[0] if self.asks else None

    def crossed(self) -> bool:
        """True if the best bid is at or above the best ask."""
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask

    def levels(self, side: str) -> Iterator[tuple[int, deque]]:
        """Levels of ``side`` from best to worst, as (price, queue)."""
        if side == BUY:
            return reversed(self.bids.items())
        return iter(self.asks.items())

    def depth(self, side: str, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` best levels of ``side`` as (price, displayed quantity)."""
        out: list[tuple[int, int]] = []
        for price, queue in self.levels(side):
            if len(out) >= limit:
                break
            out.append((price, queue.shown))
        return out

    def level_quantity(self, side: str, price: int) -> int:
        """Displayed quantity at one price (0 if the level is empty)."""
        queue = (self.bids if side == BUY else self.asks).get(price)
        return queue.shown if queue else 0

    def fillable(self, side: str, limit: int, member: str, stp: str, needed: int) -> int:
        """How much an incoming ``side`` order limited at ``limit`` would fill now, up to
        ``needed``. Self-trade prevention shapes the walk: under cancel-oldest the member's
        own orders are skipped (they would be cancelled); otherwise the first own order
        ends the walk, and only displayed quantity queued ahead of it counts at that level
        (iceberg refills go behind it)."""
        total = 0
        buy = side == BUY
        for price, queue in self.levels(SELL if buy else BUY):
            if (price > limit) if buy else (price < limit):
                break
            if stp == CANCEL_OLDEST:
                total += sum(o.visible + o.hidden for o in queue if o.member != member)
            else:
                ahead = 0
                for o in queue:
                    if o.member == member:
                        return min(needed, total + ahead)
                    ahead += o.visible
                total += sum(o.visible + o.hidden for o in queue)
            if total >= needed:
                return needed
        return total

    def check(self, tick: int) -> list[Order]:
        """Assert the book's own invariants: every level a non-empty FIFO queue at a price on
        the ``tick`` grid, holding orders of this book at that side and price. Returns the
        resting orders (``Engine.check`` relates them to the engine's)."""
        resting: list[Order] = []
        for side, levels in ((BUY, self.bids), (SELL, self.asks)):
            for price, queue in levels.items():
                where = f"{self.symbol} {side} {price}"
                assert isinstance(queue, Level) and queue, f"{where}: not a non-empty FIFO queue"
                assert queue.shown == sum(o.visible for o in queue), f"{where}: shows {queue.shown}, not the sum"
                assert price > 0 and price % tick == 0, f"{where}: off the tick grid of {tick}"
                for order in queue:
                    assert (order.symbol, order.side, order.price) == (self.symbol, side, price), \
                        f"{where}: order {order.order_id} is {order.symbol} {order.side} {order.price}"
                resting.extend(queue)
        return resting
