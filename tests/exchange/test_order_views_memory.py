"""Bounded order views: closed orders leave memory a horizon of journal entries after they
close, members keep their newest fills, the per-member indexes equal the scans they replace,
a retried client order id still finds its evicted order, and a replay evicts the same."""

import random

from clearing.core import Deposit, EndOfDay
from engine import CancelOrder, MassCancel, NewOrder, SetSession
from exchange.catalogue import SetInstrument
from exchange.journal import Entry, decode_entry, encode_entry
from exchange.state import ExchangeState
from exchange.views import ARCHIVED, TERMINAL
from tests.exchange.test_exchange_state import FORWARD, T0

MEMBERS = ["m1", "m2", "m3", "m4"]
HORIZON = 40


class Run:
    """A forward market driven by a seeded flow of orders that trade, rest and get cancelled."""

    def __init__(self, horizon: int = HORIZON, fills_kept: int = 30) -> None:
        self.state = ExchangeState(horizon)
        self.state.views.fills_kept = fills_kept
        self.rows: list[tuple[int, bytes]] = []
        self.run(SetInstrument(actor="ops", spec=FORWARD))
        self.run(SetSession("CF2701", "continuous"))
        for m in MEMBERS:
            self.run(Deposit(actor="desk", member=m, amount=10**13, reference=f"dep-{m}"))

    def run(self, command, coid: str = ""):
        entry = Entry(command, coid)
        self.rows.append((T0, encode_entry(entry)))
        return self.state.apply(entry, len(self.rows), T0)

    def flow(self, orders: int, seed: int = 7) -> dict[tuple[str, str], int]:
        """``orders`` new orders (a quarter of the resting ones cancelled); their ids by coid."""
        rng, ids = random.Random(seed), {}
        for n in range(orders):
            member = rng.choice(MEMBERS)
            coid = f"c{seed}-{n}"
            cmd = NewOrder(member=member, symbol="CF2701", side=rng.choice(("buy", "sell")),
                           quantity=rng.randint(1, 4), price=1_500_000 + 500 * rng.randint(-4, 4),
                           tif=rng.choice(("GTC", "GTC", "IOC")))
            view = self.run(cmd, coid).view
            if view.order_id is not None:
                ids[(member, coid)] = view.order_id
            if rng.random() < 0.25:
                opened = self.state.views.open_orders(member)
                if opened:
                    self.run(CancelOrder(member, rng.choice(opened).order_id))
            if n % 500 == 499:
                self.run(MassCancel(member=rng.choice(MEMBERS), symbol=""))
        return ids

    def replay(self) -> ExchangeState:
        state = ExchangeState(self.state.views.horizon)
        state.views.fills_kept = self.state.views.fills_kept
        for n, (at_ns, data) in enumerate(self.rows, 1):
            state.apply(decode_entry(data), n, at_ns)
        return state


def scan_open(state: ExchangeState, member: str) -> list[int]:
    """The member's open orders found the old way: a scan of every order in memory."""
    views = state.views
    return sorted(oid for oid, v in views.by_id.items() if v.member == member and v.status not in TERMINAL)


def test_closed_orders_leave_memory_and_the_indexes_equal_scans() -> None:
    r = Run()
    ids = r.flow(1_500)
    views = r.state.views
    r.state.check()  # includes: per-member indexes == scans, eviction queue == closed orders in memory
    assert views.evicted > 1_000, "most closed orders should have left memory"
    closed_in_memory = [v for v in views.by_id.values() if v.status in TERMINAL]
    assert len(closed_in_memory) <= HORIZON * 3, "closed orders beyond the horizon are still in memory"
    for member in MEMBERS:
        assert sorted(v.order_id for v in views.open_orders(member)) == scan_open(r.state, member)
        resting = sorted(oid for oid, o in r.state.engine.orders.items() if o.member == member)
        assert sorted(v.order_id for v in views.open_orders(member)) == resting
        assert len(views.fills.get(member, ())) <= 30
    assert len(ids) > 1_000


def test_memory_stays_bounded_over_many_orders() -> None:
    r = Run()
    sizes = []
    for seed in range(1, 7):
        r.flow(1_000, seed)
        views = r.state.views
        sizes.append((len(views.by_id), len(views.closed),  # owner and notional live in the records
                      sum(map(len, views.by_member.values()))))
        r.run(EndOfDay(actor="ops"))  # a new trading day: the first-answer index starts again
        r.run(SetSession("CF2701", "continuous"))
        r.state.views.drain_rows()
        r.state.check()
    open_now = sum(len(r.state.views.open_orders(m)) for m in MEMBERS)
    for size in sizes:
        assert max(size) <= open_now + 300 + 4 * HORIZON, sizes
    assert max(s[0] for s in sizes[3:]) <= 2 * max(s[0] for s in sizes[:3]) + 50, f"views grow: {sizes}"
    assert len(r.state.views.by_client) < 50  # reset at the end of each day


def test_a_retried_client_order_id_after_eviction_names_its_first_order() -> None:
    r = Run()
    ids = r.flow(600)
    views = r.state.views
    evicted = [(key, oid) for key, oid in ids.items() if oid not in views.by_id]
    assert evicted
    for (member, coid), oid in evicted[:50]:
        stub = r.state.first_answer(member, coid)
        assert stub is not None and stub.status == ARCHIVED and stub.order_id == oid
        assert stub.client_order_id == coid
        assert views.lookup(member, oid) is None
    kept = [(key, oid) for key, oid in ids.items() if oid in views.by_id]
    for (member, coid), oid in kept:
        assert r.state.first_answer(member, coid) is views.by_id[oid]
    assert r.state.first_answer("m1", "never-used") is None


def test_replay_evicts_identically() -> None:
    r = Run()
    r.flow(1_200)
    replayed = r.replay()
    assert replayed.views.state_hash() == r.state.views.state_hash()
    assert replayed.state_hash() == r.state.state_hash()
    assert replayed.views.evicted == r.state.views.evicted > 0
    replayed.check()


def test_rows_of_an_order_evicted_before_its_batch_was_written_are_kept() -> None:
    r = Run(horizon=1)  # everything closed leaves memory at the next entry
    r.state.views.drain_rows()
    r.run(NewOrder(member="m1", symbol="CF2701", side="buy", quantity=1, price=1_500_000), "a")
    r.run(NewOrder(member="m2", symbol="CF2701", side="sell", quantity=1, price=1_500_000), "b")  # both filled
    r.run(Deposit(actor="desk", member="m1", amount=1, reference="later"))
    assert not r.state.views.by_id
    orders, trades = r.state.views.drain_rows()
    assert sorted((row[1], row[11]) for row in orders) == [("m1", "FILLED"), ("m2", "FILLED")]
    assert len(trades) == 1
