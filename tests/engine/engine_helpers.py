"""Small builders for engine tests: a cotton instrument, order shorthands, state without seq,
and ``ReferenceEngine``: the naive reference book behind the attributes the unit tests read."""

from collections.abc import Callable
from itertools import groupby

import msgspec

from engine import AddInstrument, Engine, Event, NewOrder, SetSession
from engine.snapshot import Snapshot, decode_snapshot
from engine.state import Instrument, Order
from tests.engine.reference_book import ReferenceBook

TICK = 500  # 5 yuan/t in fen
REF = 1_500_000  # 15,000 yuan/t in fen
COTTON = AddInstrument(symbol="CF", tick=TICK, lot_size=5_000, ref_price=REF, band_bps=400, max_limit_qty=1_000,
                       max_market_qty=200, protection_ticks=4)


def p(ticks_from_ref: int) -> int:
    """A price ``ticks_from_ref`` ticks away from the reference price."""
    return REF + ticks_from_ref * TICK


class ReferenceBookView:
    """One instrument's book as the reference sees it, with the query methods of ``engine.book.Book``
    that the tests use. Built from a snapshot, so it is a picture of one moment."""

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders  # bids best first, then asks best first, each level in queue order

    def levels(self, side: str) -> list[tuple[int, list[Order]]]:
        """Levels of ``side`` from best to worst, as (price, queue)."""
        mine = [o for o in self.orders if o.side == side]
        return [(price, list(queue)) for price, queue in groupby(mine, key=lambda o: o.price)]

    def depth(self, side: str, limit: int) -> list[tuple[int, int]]:
        return [(price, sum(o.visible for o in queue)) for price, queue in self.levels(side)[:limit]]

    def crossed(self) -> bool:
        bids, asks = self.levels("buy"), self.levels("sell")
        return bool(bids and asks) and bids[0][0] >= asks[0][0]


class ReferenceEngine:
    """``ReferenceBook`` with the engine's read-only surface: ``seq``, ``instruments``, ``orders``
    (open orders by id), ``books`` (per symbol), ``snapshot()`` and ``state_hash()``. Everything
    is read from the reference's own state, converted into the engine's snapshot records."""

    def __init__(self) -> None:
        self.ref = ReferenceBook()

    def apply(self, command) -> list[Event]:
        return self.ref.apply(command)

    def check(self) -> None:
        """The reference keeps no indexes beside its flat order list, so it has no internal
        invariants to check; the tests' own assertions check its book."""

    @property
    def seq(self) -> int:
        return self.ref.seq

    def _state(self) -> Snapshot:
        return self.ref.snapshot_struct()

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {i.symbol: i for i in self._state().instruments}

    @property
    def orders(self) -> dict[int, Order]:
        return {o.order_id: o for o in sorted(self._state().orders, key=lambda o: o.order_id)}

    @property
    def books(self) -> dict[str, ReferenceBookView]:
        state = self._state()
        return {i.symbol: ReferenceBookView([o for o in state.orders if o.symbol == i.symbol])
                for i in state.instruments}

    def snapshot(self) -> bytes:
        return self.ref.snapshot()

    def state_hash(self) -> str:
        return self.ref.state_hash()


IMPLEMENTATIONS: dict[str, Callable[[], Engine | ReferenceEngine]] = {"engine": Engine, "reference": ReferenceEngine}


def engine_in(session: str = "continuous",
              new_engine: Callable[[], Engine | ReferenceEngine] = Engine) -> Engine | ReferenceEngine:
    """An engine (``Engine`` unless ``new_engine`` says otherwise) with cotton listed and its
    session set."""
    engine = new_engine()
    engine.apply(COTTON)
    if session != "closed":
        engine.apply(SetSession("CF", session))
    return engine


def limit(member: str, side: str, qty: int, price: int, **kw) -> NewOrder:
    return NewOrder(member=member, symbol="CF", side=side, quantity=qty, price=price, **kw)


def book_state(engine: Engine | ReferenceEngine) -> bytes:
    """The snapshot with the event sequence zeroed: what a rejected command must not change."""
    snap = decode_snapshot(engine.snapshot())
    snap.seq = 0
    return msgspec.msgpack.encode(snap)


def kinds(events: list[Event]) -> list[str]:
    """Event tags in order, rejections with their code: ['accepted', 'trade', 'rejected:BAD_TICK']."""
    out = []
    for e in events:
        tag = type(e).__struct_config__.tag
        out.append(f"{tag}:{e.code}" if tag == "rejected" else tag)
    return out
