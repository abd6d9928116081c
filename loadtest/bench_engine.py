"""Engine throughput, latency and memory against a bare price-time book, in one process.

``python -m loadtest.bench_engine`` prints one JSON line per workload:

- ``exchange_core``: exchange-core's mix — 9 % GTC, 3 % IOC, 6 % cancel, 82 % amend
  (move to a new price) — over about 1,000 resting orders;
- ``b2b``: a bulk-commodity day — passive adds (a fifth of them supplier icebergs), cancels,
  aggressive limit / IOC / market orders and amends.

Each workload's command stream is generated once (by running it through an engine so that
cancels and amends aim at live orders), then timed on a fresh engine and on the bare book
written below: a ``SortedDict`` of ``deque`` levels that matches by price-time and makes no
events and checks nothing. Their ratio is the figure to watch on a noisy machine.
"""

import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Callable

from sortedcontainers import SortedDict

from engine import AddInstrument, AmendOrder, CancelOrder, Engine, NewOrder, SetSession
from engine.events import Accepted, closed_order_ids

SYMBOL = "CF"
TICK = 500
CENTER = 1_500_000
MEMBERS = [f"m{i:03d}" for i in range(200)]
SETUP = [
    AddInstrument(symbol=SYMBOL, tick=TICK, lot_size=5_000, ref_price=CENTER, band_bps=0, max_limit_qty=1_000,
                  max_market_qty=200, protection_ticks=20),
    SetSession(SYMBOL, "continuous"),
]


# ---------------------------------------------------------------- the bare book

class BareBook:
    """Minimal price-time book: SortedDict price -> deque of [id, price, visible, is_buy,
    hidden, display]; icebergs refill at the back of the level, as in the engine, so both
    books do the same matching work. No events, no validation."""

    def __init__(self) -> None:
        self.bids = SortedDict()
        self.asks = SortedDict()
        self.index: dict[int, list] = {}
        self.next_id = 1

    def add(self, is_buy: bool, price: int, qty: int, ioc: bool, display: int) -> None:
        oid = self.next_id
        self.next_id += 1
        self.place([oid, price, qty, is_buy, 0, display], ioc)

    def place(self, order: list, ioc: bool) -> None:
        is_buy, price, qty = order[3], order[1], order[2] + order[4]
        levels = self.asks if is_buy else self.bids
        index = self.index
        while qty and levels:
            best, queue = levels.peekitem(0 if is_buy else -1)
            if (best > price) if is_buy else (best < price):
                break
            while qty and queue:
                maker = queue[0]
                fill = min(qty, maker[2])
                qty -= fill
                maker[2] -= fill
                if not maker[2]:
                    queue.popleft()
                    if maker[4]:
                        maker[2] = min(maker[5], maker[4])
                        maker[4] -= maker[2]
                        queue.append(maker)
                    else:
                        del index[maker[0]]
            if not queue:
                del levels[best]
        if qty and not ioc:
            display = order[5]
            order[2], order[4] = (display, qty - display) if display and display < qty else (qty, 0)
            own = self.bids if is_buy else self.asks
            queue = own.get(price)
            if queue is None:
                own[price] = deque((order,))
            else:
                queue.append(order)
            index[order[0]] = order

    def cancel(self, oid: int) -> None:
        order = self.index.pop(oid, None)
        if order is None:
            return
        levels = self.bids if order[3] else self.asks
        queue = levels[order[1]]
        queue.remove(order)
        if not queue:
            del levels[order[1]]

    def move(self, oid: int, price: int) -> None:
        order = self.index.get(oid)
        if order is None:
            return
        self.cancel(oid)
        order[1] = price
        self.place(order, False)


def bare_ops(commands: list, accepted_prices: dict[int, int]) -> list[tuple]:
    """Translate engine commands into the bare book's calls. ``accepted_prices`` maps the
    n-th new order to the price the engine accepted it at; orders the engine refused are
    left out (so both books number orders alike), icebergs show everything and market
    orders become IOC at the protection price the engine chose."""
    ops: list[tuple] = []
    n = 0
    for c in commands:
        if isinstance(c, NewOrder):
            n += 1
            if n in accepted_prices:
                ops.append((0, c.side == "buy", accepted_prices[n], c.quantity, c.tif in ("IOC", "FOK"),
                            c.display_quantity))
        elif isinstance(c, CancelOrder):
            ops.append((1, c.order_id))
        elif isinstance(c, AmendOrder):
            ops.append((2, c.order_id, c.price))
    return ops


def run_bare(book: BareBook, ops: list[tuple]) -> float:
    """Seconds the bare book takes for ``ops``."""
    add, cancel, move = book.add, book.cancel, book.move
    start = time.perf_counter()
    for op in ops:
        kind = op[0]
        if kind == 0:
            add(op[1], op[2], op[3], op[4], op[5])
        elif kind == 1:
            cancel(op[1])
        elif op[2]:
            move(op[1], op[2])
    return time.perf_counter() - start


# ---------------------------------------------------------------- workloads

class Generator:
    """Builds a command stream by running it: it tracks open orders from the events."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.engine = Engine()
        for c in SETUP:
            self.engine.apply(c)
        self.open: dict[int, tuple[str, str]] = {}
        self.open_ids: list[int] = []
        self.prefill: list = []
        self.commands: list = []
        self.accepted_prices: dict[int, int] = {}
        self.new_orders = 0

    def end_prefill(self) -> None:
        """What was emitted so far sets the book up; it is replayed, not timed."""
        self.prefill, self.commands = self.commands, []
        self.accepted_prices.clear()
        self.new_orders = 0

    def emit(self, command) -> None:
        self.commands.append(command)
        if isinstance(command, NewOrder):
            self.new_orders += 1
        events = self.engine.apply(command)
        for e in events:
            if isinstance(e, Accepted):
                self.accepted_prices[self.new_orders] = e.price
                self.open[e.order_id] = (e.member, e.side)
                self.open_ids.append(e.order_id)
        for order_id in closed_order_ids(events):
            self.open.pop(order_id, None)

    def live(self) -> tuple[int, str, str]:
        """A random open order: (id, member, side)."""
        ids = self.open_ids
        while True:
            i = self.rng.randrange(len(ids))
            oid = ids[i]
            if oid in self.open:
                member, side = self.open[oid]
                return oid, member, side
            ids[i] = ids[-1]
            ids.pop()

    def passive_price(self, side: str, spread: int = 60) -> int:
        book = self.engine.books[SYMBOL]
        best = book.best_bid() if side == "buy" else book.best_ask()
        anchor = best if best is not None else CENTER
        offset = self.rng.randint(0, spread) * TICK
        return anchor - offset if side == "buy" else anchor + offset

    def aggressive_price(self, side: str) -> int:
        book = self.engine.books[SYMBOL]
        best = book.best_ask() if side == "buy" else book.best_bid()
        anchor = best if best is not None else CENTER
        reach = self.rng.randint(0, 3) * TICK
        return anchor + reach if side == "buy" else anchor - reach


def exchange_core_mix(n: int, seed: int = 1) -> Generator:
    g = Generator(seed)
    rng = g.rng
    for _ in range(1_000):
        side = rng.choice(("buy", "sell"))
        g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=side, quantity=rng.randint(1, 50),
                        price=g.passive_price(side, 40)))
    g.end_prefill()
    while len(g.commands) < n:
        r = rng.random()
        if r < 0.09 or len(g.open) < 900:
            side = rng.choice(("buy", "sell"))
            price = g.aggressive_price(side) if rng.random() < 0.1 else g.passive_price(side, 40)
            g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=side, quantity=rng.randint(1, 50),
                            price=price))
        elif r < 0.12:
            side = rng.choice(("buy", "sell"))
            g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=side, quantity=rng.randint(1, 20),
                            price=g.aggressive_price(side), tif="IOC"))
        elif r < 0.18:
            oid, member, _ = g.live()
            g.emit(CancelOrder(member, oid))
        else:
            oid, member, side = g.live()
            price = g.aggressive_price(side) if rng.random() < 0.03 else g.passive_price(side, 40)
            order = g.engine.orders[oid]
            if price == order.price:
                price += TICK if side == "sell" else -TICK
            g.emit(AmendOrder(member=member, order_id=oid, price=price))
    return g


def b2b_mix(n: int, seed: int = 2) -> Generator:
    g = Generator(seed)
    rng = g.rng
    suppliers = MEMBERS[:10]
    while len(g.commands) < n:
        r = rng.random()
        if r < 0.35 or len(g.open) < 500:
            side = rng.choice(("buy", "sell"))
            if side == "sell" and rng.random() < 0.2:
                qty = rng.randint(200, 1_000)
                g.emit(NewOrder(member=rng.choice(suppliers), symbol=SYMBOL, side=side, quantity=qty,
                                price=g.passive_price(side, 20), display_quantity=rng.choice((10, 20, 50))))
            else:
                g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=side, quantity=rng.randint(1, 40),
                                price=g.passive_price(side), tif=rng.choice(("GTC", "DAY"))))
        elif r < 0.60:
            oid, member, _ = g.live()
            g.emit(CancelOrder(member, oid))
        elif r < 0.75:
            side = rng.choice(("buy", "sell"))
            g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=side, quantity=rng.randint(1, 30),
                            price=g.aggressive_price(side), tif=rng.choice(("GTC", "IOC"))))
        elif r < 0.80:
            g.emit(NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side=rng.choice(("buy", "sell")),
                            quantity=rng.randint(1, 30), order_type="market", tif="IOC"))
        else:
            oid, member, side = g.live()
            order = g.engine.orders[oid]
            if rng.random() < 0.5 and order.quantity - order.filled > 1:
                g.emit(AmendOrder(member=member, order_id=oid, quantity=order.quantity - 1))
            else:
                price = g.passive_price(side)
                if price == order.price:
                    price += TICK if side == "sell" else -TICK
                g.emit(AmendOrder(member=member, order_id=oid, price=price))
    return g


# ---------------------------------------------------------------- measuring

def timed(apply: Callable, commands: list) -> float:
    """Seconds ``apply`` takes over ``commands``."""
    start = time.perf_counter()
    for c in commands:
        apply(c)
    return time.perf_counter() - start


def latencies_us(apply: Callable, commands: list) -> list[float]:
    """Per-command latency in microseconds (includes the clock reads)."""
    clock = time.perf_counter_ns
    out = []
    for c in commands:
        t0 = clock()
        apply(c)
        out.append((clock() - t0) / 1_000)
    return out


def set_up(prefill: list) -> tuple[Engine, BareBook]:
    """A fresh engine and bare book holding the same resting orders."""
    engine = Engine()
    for c in SETUP + prefill:
        engine.apply(c)
    bare = BareBook()
    for op in bare_ops(prefill, {i + 1: c.price for i, c in enumerate(prefill)}):
        bare.add(op[1], op[2], op[3], op[4], op[5])
    return engine, bare


def bytes_per_resting_order(n: int = 50_000) -> int:
    """Memory the engine holds per resting order: n passive orders over 1,000 levels."""
    rng = random.Random(3)
    engine, _ = set_up([])
    commands = [
        NewOrder(member=rng.choice(MEMBERS), symbol=SYMBOL, side="buy" if i % 2 else "sell",
                 quantity=rng.randint(1, 50), price=CENTER + (-TICK if i % 2 else TICK) * (1 + rng.randrange(500)))
        for i in range(n)
    ]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for c in commands:
        engine.apply(c)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(engine.orders) == n
    return round((after - before) / n)


def measure(name: str, g: Generator, memory: int, rounds: int = 3) -> dict:
    """Best of ``rounds`` for engine and bare book on the same stream, then a latency pass."""
    ops = bare_ops(g.commands, g.accepted_prices)
    best_engine = best_bare = float("inf")
    for _ in range(rounds):
        engine, bare = set_up(g.prefill)
        best_engine = min(best_engine, timed(engine.apply, g.commands))
        best_bare = min(best_bare, run_bare(bare, ops))
    engine, _ = set_up(g.prefill)
    q = statistics.quantiles(latencies_us(engine.apply, g.commands), n=100)
    return {
        "workload": name,
        "commands": len(g.commands),
        "commands_per_s": round(len(g.commands) / best_engine),
        "bare_book_commands_per_s": round(len(g.commands) / best_bare),
        "ratio_vs_bare": round(best_bare / best_engine, 3),
        "p50_us": round(q[49], 2),
        "p99_us": round(q[98], 2),
        "bytes_per_resting_order": memory,
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    memory = bytes_per_resting_order()
    print(json.dumps(measure("exchange_core", exchange_core_mix(n), memory)), flush=True)
    print(json.dumps(measure("b2b", b2b_mix(n), memory)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
