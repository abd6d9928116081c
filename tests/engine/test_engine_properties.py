"""Hypothesis properties: after every command the continuous book is uncrossed, every
order's quantity is conserved, and every taker's fills respect price-time priority."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    Accepted,
    Amended,
    AmendOrder,
    Cancelled,
    CancelOrder,
    Engine,
    MassCancel,
    NewOrder,
    SetSession,
    Trade,
)
from tests.engine.engine_helpers import p

members = st.sampled_from(["m1", "m2", "m3"])
prices = st.integers(-6, 6).map(p)
new_orders = st.builds(
    NewOrder,
    member=members,
    symbol=st.just("CF"),
    side=st.sampled_from(["buy", "sell"]),
    quantity=st.integers(1, 12),
    price=prices,
    order_type=st.sampled_from(["limit"] * 9 + ["market"]),
    tif=st.sampled_from(["GTC", "GTC", "DAY", "IOC", "FOK"]),
    post_only=st.sampled_from([False] * 5 + [True]),
    display_quantity=st.sampled_from([0, 0, 0, 1, 2, 5]),
    min_quantity=st.sampled_from([0, 0, 0, 0, 1, 3]),
    stp=st.sampled_from(["cancel_newest", "cancel_oldest", "cancel_both"]),
).map(lambda o: o if o.order_type == "limit" else NewOrder(
    member=o.member, symbol="CF", side=o.side, quantity=o.quantity, order_type="market", tif="IOC"))
order_ids = st.integers(1, 40)
commands = st.lists(
    st.one_of(
        new_orders, new_orders, new_orders,
        st.builds(AmendOrder, member=members, order_id=order_ids, price=st.just(0) | prices,
                  quantity=st.integers(0, 14)),
        st.builds(CancelOrder, member=members, order_id=order_ids),
        st.builds(MassCancel, member=members, symbol=st.just("CF")),
        st.builds(SetSession, symbol=st.just("CF"), state=st.sampled_from(["pre_open", "continuous", "halted"])),
    ),
    max_size=80,
)


def opposite_levels(engine: Engine, side: str) -> list[tuple[int, list[tuple[int, str]]]]:
    """Levels a ``side`` taker would meet, best first: (price, [(order id, member), ...])."""
    book = engine.books["CF"]
    return [(price, [(o.order_id, o.member) for o in queue]) for price, queue in
            book.levels("sell" if side == "buy" else "buy")]


def check_priority(before, side: str, member: str, limit: int, fills: list[Trade], stamps, icebergs) -> None:
    prices = [t.price for t in fills]
    assert prices == sorted(prices, reverse=(side == "sell")), "fills must walk from the best price outwards"
    assert all((pr <= limit) if side == "buy" else (pr >= limit) for pr in prices)
    others = [(price, [o for o, m in queue if m != member]) for price, queue in before]
    others = [(price, queue) for price, queue in others if queue]
    traded_levels = list(dict.fromkeys(prices))
    assert traded_levels == [price for price, _ in others[: len(traded_levels)]], "a better level was skipped"
    for price, queue in others[: len(traded_levels)]:
        if icebergs.intersection(queue):
            continue  # iceberg refills re-queue; the differential test covers them
        first = next(t for t in fills if t.price == price)
        maker = first.sell_order_id if side == "buy" else first.buy_order_id
        assert maker == min(queue, key=stamps.__getitem__), "the oldest order at a level must fill first"


def check_queues_in_time_order(engine: Engine, stamps, icebergs) -> None:
    for side in ("buy", "sell"):
        for _, queue in engine.books["CF"].levels(side):
            ids = [o.order_id for o in queue]
            if not icebergs.intersection(ids):
                assert ids == sorted(ids, key=stamps.__getitem__), "a level is out of time order"


@settings(max_examples=300, deadline=None)
@given(commands)
def test_book_invariants_hold_after_every_command(engine_in, cmds) -> None:
    engine = engine_in("continuous")
    quantity: dict[int, int] = {}
    filled: dict[int, int] = defaultdict(int)
    cancelled: dict[int, int] = defaultdict(int)
    stamps: dict[int, int] = {}  # arrival time: set on entry and on every priority-losing amend
    icebergs: set[int] = set()
    for step, cmd in enumerate(cmds):
        taker = None
        if isinstance(cmd, NewOrder):
            taker = (cmd.side, cmd.member)
        elif isinstance(cmd, AmendOrder) and cmd.order_id in engine.orders:
            taker = (engine.orders[cmd.order_id].side, cmd.member)
        before = opposite_levels(engine, taker[0]) if taker else None
        events = engine.apply(cmd)
        engine.check()
        limit = None
        for e in events:
            if isinstance(e, Accepted):
                quantity[e.order_id] = e.quantity
                stamps[e.order_id] = step
                limit = e.price
                if cmd.display_quantity:
                    icebergs.add(e.order_id)
            elif isinstance(e, Amended):
                quantity[e.order_id] = e.quantity
                limit = e.price
                if not e.kept_priority:
                    stamps[e.order_id] = step
            elif isinstance(e, Trade):
                filled[e.buy_order_id] += e.quantity
                filled[e.sell_order_id] += e.quantity
            elif isinstance(e, Cancelled):
                cancelled[e.order_id] += e.quantity
        fills = [e for e in events if isinstance(e, Trade) and e.aggressor]
        if taker and limit is not None:
            check_priority(before, taker[0], taker[1], limit, fills, stamps, icebergs)
        check_queues_in_time_order(engine, stamps, icebergs)
        book = engine.books["CF"]
        if engine.instruments["CF"].session == "continuous":
            assert not book.crossed()
        for oid, total in quantity.items():
            order = engine.orders.get(oid)
            open_qty = order.visible + order.hidden if order else 0
            assert total == filled[oid] + open_qty + cancelled[oid], f"order {oid} lost quantity"
            if order:
                assert order.filled == filled[oid]
                assert order.quantity == total
                assert order.visible > 0 and order.hidden >= 0
