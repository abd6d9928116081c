"""Seeded random command streams covering every order type, session and rejection path."""

import random
from collections.abc import Iterator

from engine.commands import (
    AddInstrument,
    AmendOrder,
    CancelOrder,
    Command,
    MassCancel,
    NewOrder,
    SetReferencePrice,
    SetSession,
)
from engine.events import Accepted, Event, closed_order_ids

MEMBERS = ("m1", "m2", "m3", "m4", "m5")
INSTRUMENTS = (
    AddInstrument(symbol="CF", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400, max_limit_qty=50,
                  max_market_qty=20, protection_ticks=8),
    AddInstrument(symbol="UR", tick=100, lot_size=20_000, ref_price=200_000, band_bps=0, max_limit_qty=40,
                  max_market_qty=40, protection_ticks=0),
)


class CommandStream:
    """Yields random commands; feed it the events so it can aim at live order ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.open: dict[int, tuple[str, str, str]] = {}  # order id -> (member, symbol, side)
        self.last_id = 0

    def observe(self, events: list[Event]) -> None:
        """Track which orders are open, so most cancels and amends aim at live ones."""
        for e in events:
            if isinstance(e, Accepted):
                self.open[e.order_id] = (e.member, e.symbol, e.side)
                self.last_id = e.order_id
        for order_id in closed_order_ids(events):
            self.open.pop(order_id, None)

    def setup(self) -> list[Command]:
        return [*INSTRUMENTS, SetSession("CF", "continuous"), SetSession("UR", "pre_open")]

    def commands(self, n: int) -> Iterator[Command]:
        rng = self.rng
        for _ in range(n):
            r = rng.random()
            if r < 0.50:
                yield self.new_order()
            elif r < 0.82:
                member, order_id, symbol, side = self.target()
                yield AmendOrder(member=member, order_id=order_id,
                                 price=rng.choice((0, self.price(symbol, side), self.price(symbol, side))),
                                 quantity=rng.choice((0, 0, rng.randint(1, 16), rng.randint(-1, 60))))
            elif r < 0.993:
                member, order_id, _, _ = self.target()
                yield CancelOrder(member, order_id)
            elif r < 0.995:
                yield MassCancel(member=rng.choice(MEMBERS), symbol=rng.choice(("", "CF", "UR", "XX")))
            elif r < 0.998:
                # mostly back to continuous trading; sometimes a pre-open call auction or a halt
                state = rng.choice(("continuous", "continuous", "continuous", "pre_open", "halted", "closed"))
                yield SetSession(rng.choice(("CF", "UR")), state)
            else:
                symbol = rng.choice(("CF", "UR", "XX"))
                yield SetReferencePrice(symbol, self.price(symbol) + rng.choice((0, 0, 0, 7)))

    def target(self) -> tuple[str, int, str, str]:
        """(member, order id, symbol, side): usually an open order and its owner; sometimes a
        dead or unknown id, or another member's order."""
        rng = self.rng
        if self.open and rng.random() < 0.9:
            order_id = rng.choice(list(self.open)[-300:])
            member, symbol, side = self.open[order_id]
            if rng.random() < 0.03:
                member = rng.choice(MEMBERS)
            return member, order_id, symbol, side
        return rng.choice(MEMBERS), rng.randint(-1, self.last_id + 5), "CF", rng.choice(("buy", "sell"))

    def price(self, symbol: str, side: str = "") -> int:
        """A price near the reference, leaning passive for ``side`` so a book builds up."""
        lo, hi = (-14, 3) if side == "buy" else (-3, 14) if side == "sell" else (-12, 12)
        if symbol == "CF":
            return 1_500_000 + 500 * self.rng.randint(lo, hi)
        return 200_000 + 100 * self.rng.randint(lo, hi)

    def new_order(self) -> NewOrder:
        rng = self.rng
        symbol = rng.choice(("CF", "CF", "UR", "UR", "XX")) if rng.random() < 0.02 else rng.choice(("CF", "UR"))
        qty = rng.choice((1, 2, 3, 5, 8, 10, 15)) if rng.random() > 0.02 else rng.choice((0, -3, 45, 60))
        kind = rng.random()
        order_type, tif, post_only, display, min_qty = "limit", "GTC", False, 0, 0
        if kind < 0.08:
            order_type, tif = "market", rng.choice(("IOC", "IOC", "FOK", "GTC"))
        elif kind < 0.18:
            tif = "IOC"
        elif kind < 0.25:
            tif = "FOK"
        elif kind < 0.40:
            tif = "DAY"
        if rng.random() < 0.08:
            post_only = True
        if rng.random() < 0.12:
            display = rng.randint(1, max(1, qty))
        if rng.random() < 0.06:
            min_qty = rng.randint(1, max(1, qty))
        side = rng.choice(("buy", "sell"))
        price = self.price(symbol if symbol != "XX" else "CF", side)
        if rng.random() < 0.01:
            price += 1  # off the tick grid
        if rng.random() < 0.01:
            price = 3_000_000  # outside the band
        return NewOrder(member=rng.choice(MEMBERS), symbol=symbol, side=side, quantity=qty,
                        price=price, order_type=order_type, tif=tif, post_only=post_only, display_quantity=display,
                        min_quantity=min_qty, stp=rng.choice(("cancel_newest", "cancel_oldest", "cancel_both")))
