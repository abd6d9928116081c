"""Unit tests: each order type, STP mode, amend rule and cancel path of the engine."""

import pytest

from engine import AmendOrder, Cancelled, CancelOrder, MassCancel, NewOrder, Rejected, SetSession, Trade
from tests.engine.engine_helpers import REF, book_state, kinds, limit, p


def trades(events) -> list[tuple[int, int, int, int]]:
    """(price, quantity, buy order id, sell order id) of each trade."""
    return [(e.price, e.quantity, e.buy_order_id, e.sell_order_id) for e in events if isinstance(e, Trade)]


# ----------------------------------------------------------------- limit orders and priority

def test_limit_orders_rest_and_cross_at_the_makers_price(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 5, p(2)))
    events = e.apply(limit("b1", "buy", 3, p(4)))
    assert kinds(events) == ["accepted", "trade"]
    assert trades(events) == [(p(2), 3, 2, 1)]
    assert events[1].aggressor == "buy" and events[1].sell_leaves == 2 and events[1].buy_leaves == 0
    assert e.books["CF"].depth("sell", 5) == [(p(2), 2)]


def test_price_then_time_priority(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 2, p(3)))  # 1: worse price
    e.apply(limit("s2", "sell", 2, p(1)))  # 2: best price, first in time
    e.apply(limit("s3", "sell", 2, p(1)))  # 3: best price, second in time
    events = e.apply(limit("b1", "buy", 5, p(3)))
    assert [(t[3], t[1]) for t in trades(events)] == [(2, 2), (3, 2), (1, 1)]


def test_day_orders_expire_at_close_and_gtc_orders_stay(engine_in) -> None:
    e = engine_in()
    e.apply(limit("b1", "buy", 1, p(-1), tif="DAY"))
    e.apply(limit("b1", "buy", 1, p(-2)))
    events = e.apply(SetSession("CF", "closed"))
    assert kinds(events) == ["cancelled", "session_changed"]
    assert events[0].order_id == 1 and events[0].reason == "expired"
    assert list(e.orders) == [2]


def test_ioc_fills_what_it_can_and_cancels_the_rest(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 2, p(0)))
    events = e.apply(limit("b1", "buy", 5, p(0), tif="IOC"))
    assert kinds(events) == ["accepted", "trade", "cancelled"]
    assert events[2].quantity == 3 and events[2].reason == "unfilled"
    assert not e.orders


def test_fok_fills_entirely_or_is_rejected_without_trace(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 2, p(0)))
    e.apply(limit("s2", "sell", 2, p(1)))
    before = book_state(e)
    assert kinds(e.apply(limit("b1", "buy", 5, p(1), tif="FOK"))) == ["rejected:FOK_NOT_FILLABLE"]
    assert book_state(e) == before
    events = e.apply(limit("b1", "buy", 4, p(1), tif="FOK"))
    assert kinds(events) == ["accepted", "trade", "trade"]
    assert not e.orders


def test_fok_counts_iceberg_reserve_and_stops_at_own_orders(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 10, p(0), display_quantity=2))
    assert kinds(e.apply(limit("b1", "buy", 10, p(0), tif="FOK")))[0] == "accepted"
    e.apply(limit("s1", "sell", 3, p(0)))
    e.apply(limit("b1", "sell", 3, p(0)))  # b1's own order queued behind s1
    e.apply(limit("s2", "sell", 3, p(0)))
    # cancel-newest: the walk stops at b1's own order, so only 3 lots are reachable
    assert kinds(e.apply(limit("b1", "buy", 4, p(0), tif="FOK"))) == ["rejected:FOK_NOT_FILLABLE"]
    # cancel-oldest: b1's resting order would be cancelled, the other 6 lots are reachable
    events = e.apply(limit("b1", "buy", 6, p(0), tif="FOK", stp="cancel_oldest"))
    assert kinds(events) == ["accepted", "trade", "cancelled", "trade"]


def test_market_order_is_limited_by_its_protection_band(engine_in) -> None:
    e = engine_in()  # protection_ticks = 4
    e.apply(limit("s1", "sell", 1, p(0)))
    e.apply(limit("s2", "sell", 1, p(4)))
    e.apply(limit("s3", "sell", 1, p(5)))
    events = e.apply(NewOrder(member="b1", symbol="CF", side="buy", quantity=3, order_type="market", tif="IOC"))
    assert events[0].price == p(4)  # best ask + 4 ticks
    assert [t[0] for t in trades(events)] == [p(0), p(4)]
    assert kinds(events)[-1] == "cancelled"
    assert list(e.orders) == [3]


def test_market_order_rejections(engine_in) -> None:
    e = engine_in()
    market = dict(member="b1", symbol="CF", side="buy", order_type="market")
    assert kinds(e.apply(NewOrder(quantity=1, tif="IOC", **market))) == ["rejected:NO_LIQUIDITY"]
    e.apply(limit("s1", "sell", 1, p(0)))
    assert kinds(e.apply(NewOrder(quantity=1, tif="GTC", **market))) == ["rejected:INVALID_ORDER"]
    assert kinds(e.apply(NewOrder(quantity=201, tif="IOC", **market))) == ["rejected:MAX_SIZE"]


def test_post_only_rests_when_passive_and_is_rejected_when_it_would_take(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 1, p(0)))
    assert kinds(e.apply(limit("b1", "buy", 1, p(-1), post_only=True))) == ["accepted"]
    before = book_state(e)
    assert kinds(e.apply(limit("b1", "buy", 1, p(0), post_only=True))) == ["rejected:POST_ONLY_WOULD_TAKE"]
    assert book_state(e) == before


def test_iceberg_shows_its_display_and_refills_at_the_back_of_the_level(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 10, p(0), display_quantity=3))  # 1
    e.apply(limit("s2", "sell", 2, p(0)))  # 2, queued behind the iceberg's first slice
    assert e.books["CF"].depth("sell", 1) == [(p(0), 5)]
    events = e.apply(limit("b1", "buy", 4, p(0)))
    # the iceberg's 3 displayed lots, then s2 (the refill went behind it)
    assert [(t[3], t[1]) for t in trades(events)] == [(1, 3), (2, 1)]
    order = e.orders[1]
    assert (order.visible, order.hidden, order.filled) == (3, 4, 3)


def test_minimum_quantity_must_trade_on_entry(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 2, p(0)))
    before = book_state(e)
    assert kinds(e.apply(limit("b1", "buy", 5, p(0), min_quantity=3))) == ["rejected:MIN_QTY_NOT_MET"]
    assert book_state(e) == before
    events = e.apply(limit("b1", "buy", 5, p(0), min_quantity=2))
    assert kinds(events) == ["accepted", "trade"]
    assert e.orders[events[0].order_id].visible == 3  # the rest of a GTC order rests


# ----------------------------------------------------------------- self-trade prevention

@pytest.mark.parametrize(
    ("stp", "expected", "resting_left"),
    [
        ("cancel_newest", ["accepted", "cancelled"], [1, 2]),
        ("cancel_oldest", ["accepted", "cancelled", "trade"], []),
        ("cancel_both", ["accepted", "cancelled", "cancelled"], [2]),
    ],
)
def test_self_trade_prevention(engine_in, stp: str, expected: list[str], resting_left: list[int]) -> None:
    e = engine_in()
    e.apply(limit("m1", "sell", 2, p(0)))  # 1: own order, first in queue
    e.apply(limit("m2", "sell", 2, p(0)))  # 2: another member's
    events = e.apply(limit("m1", "buy", 2, p(0), stp=stp))
    assert kinds(events) == expected
    assert all(c.reason == "stp" for c in events if isinstance(c, Cancelled))
    assert sorted(e.orders) == resting_left


# ----------------------------------------------------------------- amend

def test_amend_quantity_down_keeps_priority(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 5, p(0)))
    e.apply(limit("s2", "sell", 5, p(0)))
    events = e.apply(AmendOrder(member="s1", order_id=1, quantity=3))
    assert events[0].kept_priority and events[0].leaves == 3
    assert trades(e.apply(limit("b1", "buy", 1, p(0))))[0][3] == 1


def test_amend_quantity_up_loses_priority(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 5, p(0)))
    e.apply(limit("s2", "sell", 5, p(0)))
    events = e.apply(AmendOrder(member="s1", order_id=1, quantity=6))
    assert not events[0].kept_priority
    assert trades(e.apply(limit("b1", "buy", 1, p(0))))[0][3] == 2


def test_amend_price_loses_priority_and_may_trade_at_once(engine_in) -> None:
    e = engine_in()
    e.apply(limit("b1", "buy", 5, p(-2)))
    e.apply(limit("s1", "sell", 5, p(1)))
    events = e.apply(AmendOrder(member="b1", order_id=1, price=p(1)))
    assert kinds(events) == ["amended", "trade"]
    assert not e.orders


def test_amend_after_partial_fill_uses_the_remaining_quantity(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 10, p(0)))
    e.apply(limit("b1", "buy", 4, p(0)))  # fills 4 of s1's 10
    events = e.apply(AmendOrder(member="s1", order_id=1, quantity=8))
    assert events[0].leaves == 4 and events[0].kept_priority
    assert e.orders[1].visible == 4 and e.orders[1].filled == 4
    events = e.apply(AmendOrder(member="s1", order_id=1, price=p(1), quantity=12))
    assert events[0].leaves == 8
    assert e.orders[1].visible == 8
    for too_low in (4, 3):
        before = book_state(e)
        assert kinds(e.apply(AmendOrder(member="s1", order_id=1, quantity=too_low))) == ["rejected:AMEND_QTY_TOO_LOW"]
        assert book_state(e) == before


def test_amend_iceberg_down_shrinks_the_reserve_first(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 10, p(0), display_quantity=3))
    e.apply(AmendOrder(member="s1", order_id=1, quantity=5))
    assert (e.orders[1].visible, e.orders[1].hidden) == (3, 2)
    e.apply(AmendOrder(member="s1", order_id=1, quantity=2))
    assert (e.orders[1].visible, e.orders[1].hidden) == (2, 0)


def test_amend_rejections_change_nothing(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 5, p(0), post_only=True))
    e.apply(limit("b1", "buy", 5, p(-3)))
    cases = [
        (AmendOrder(member="s1", order_id=1, price=p(0)), "NO_CHANGE"),
        (AmendOrder(member="s1", order_id=1, price=p(0) + 1), "BAD_TICK"),
        (AmendOrder(member="s1", order_id=1, price=REF * 2), "PRICE_OUT_OF_BAND"),
        (AmendOrder(member="s1", order_id=1, quantity=1_001), "MAX_SIZE"),
        (AmendOrder(member="s1", order_id=1, quantity=-1), "INVALID_QUANTITY"),
        (AmendOrder(member="s1", order_id=1, price=-5), "INVALID_PRICE"),
        (AmendOrder(member="s1", order_id=1, price=p(-3)), "POST_ONLY_WOULD_TAKE"),
        (AmendOrder(member="b1", order_id=1, quantity=2), "UNKNOWN_ORDER"),
        (AmendOrder(member="s1", order_id=99, quantity=2), "UNKNOWN_ORDER"),
    ]
    for command, code in cases:
        before = book_state(e)
        assert kinds(e.apply(command)) == [f"rejected:{code}"], command
        assert book_state(e) == before


# ----------------------------------------------------------------- cancel

def test_cancel_unknown_filled_foreign_or_twice_is_a_clean_rejection(engine_in) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 1, p(0)))  # 1, filled below
    e.apply(limit("b1", "buy", 1, p(0)))  # 2, fills order 1
    e.apply(limit("s2", "sell", 1, p(1)))  # 3, open
    before = book_state(e)
    for command in (CancelOrder("s1", 1), CancelOrder("s1", 42), CancelOrder("b1", 3), CancelOrder("s1", -1)):
        events = e.apply(command)
        assert kinds(events) == ["rejected:UNKNOWN_ORDER"]
        assert book_state(e) == before
    assert kinds(e.apply(CancelOrder("s2", 3))) == ["cancelled"]
    assert kinds(e.apply(CancelOrder("s2", 3))) == ["rejected:UNKNOWN_ORDER"]


def test_mass_cancel_per_member_and_per_instrument(engine_in) -> None:
    e = engine_in()
    e.apply(limit("m1", "buy", 1, p(-1)))
    e.apply(limit("m1", "sell", 1, p(1)))
    e.apply(limit("m2", "buy", 1, p(-1)))
    events = e.apply(MassCancel(member="m1", symbol="CF"))
    assert kinds(events) == ["cancelled", "cancelled", "mass_cancelled"]
    assert events[-1].count == 2 and all(c.reason == "mass" for c in events[:2])
    assert list(e.orders) == [3]
    assert kinds(e.apply(MassCancel(member="m1", symbol="NOPE"))) == ["rejected:UNKNOWN_INSTRUMENT"]
    assert e.apply(MassCancel(member="m1"))[-1].count == 0


def test_rejections_carry_the_next_sequence_number(engine_in) -> None:
    e = engine_in()
    seq = e.seq
    events = e.apply(CancelOrder("x", 5))
    assert isinstance(events[0], Rejected) and events[0].seq == seq + 1
