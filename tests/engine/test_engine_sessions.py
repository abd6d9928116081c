"""Unit tests: sessions, the call auction, price bands and every rejection code of new orders."""

import pytest

from engine import AddInstrument, AmendOrder, CancelOrder, NewOrder, SetReferencePrice, SetSession, Trade
from engine.auction import uncross_price
from tests.engine.engine_helpers import COTTON, REF, TICK, book_state, kinds, limit, p


def test_call_auction_uncrosses_at_max_volume_then_least_imbalance(engine_in) -> None:
    e = engine_in("pre_open")
    for cmd in (
        limit("b1", "buy", 5, p(2)),  # 1
        limit("b2", "buy", 3, p(1)),  # 2
        limit("b3", "buy", 4, p(0)),  # 3
        limit("s1", "sell", 4, p(-1)),  # 4
        limit("s2", "sell", 3, p(0)),  # 5
        limit("s3", "sell", 6, p(2)),  # 6
    ):
        assert kinds(e.apply(cmd)) == ["accepted"]  # nothing matches before the open
    assert e.books["CF"].crossed()
    # volume 7 at p(0) (imbalance 5) and at p(1) (imbalance 1): p(1) wins
    events = e.apply(SetSession("CF", "continuous"))
    fills = [(t.price, t.quantity, t.buy_order_id, t.sell_order_id, t.aggressor)
             for t in events if isinstance(t, Trade)]
    assert fills == [(p(1), 4, 1, 4, ""), (p(1), 1, 1, 5, ""), (p(1), 2, 2, 5, "")]
    assert kinds(events)[-1] == "session_changed"
    assert not e.books["CF"].crossed()
    assert e.books["CF"].depth("buy", 5) == [(p(1), 1), (p(0), 4)]
    assert e.books["CF"].depth("sell", 5) == [(p(2), 6)]


def test_call_auction_tie_breaks_nearest_reference_then_lower_price() -> None:
    assert uncross_price([(p(3), 5)], [(p(1), 5)], REF) == (p(1), 5)  # p(1) is nearer p(0)
    assert uncross_price([(p(1), 5)], [(p(-1), 5)], REF) == (p(-1), 5)  # equidistant: the lower
    assert uncross_price([(p(-1), 5)], [(p(1), 5)], REF) == (0, 0)  # not crossed: no trade


def test_call_auction_includes_iceberg_reserve(engine_in) -> None:
    e = engine_in("pre_open")
    e.apply(limit("s1", "sell", 10, p(0), display_quantity=2))
    e.apply(limit("b1", "buy", 7, p(0)))
    events = e.apply(SetSession("CF", "continuous"))
    assert sum(t.quantity for t in events if isinstance(t, Trade)) == 7
    assert e.orders[1].visible + e.orders[1].hidden == 3


@pytest.mark.parametrize(
    "order",
    [
        limit("b1", "buy", 1, p(0), tif="IOC"),
        limit("b1", "buy", 1, p(0), tif="FOK"),
        limit("b1", "buy", 2, p(0), min_quantity=1),
        NewOrder(member="b1", symbol="CF", side="buy", quantity=1, order_type="market", tif="IOC"),
    ],
)
def test_pre_open_refuses_immediate_orders(engine_in, order: NewOrder) -> None:
    e = engine_in("pre_open")
    assert kinds(e.apply(order)) == ["rejected:NOT_ALLOWED_IN_AUCTION"]


def test_closed_and_halted_sessions(engine_in) -> None:
    e = engine_in("closed")
    assert kinds(e.apply(limit("b1", "buy", 1, p(0)))) == ["rejected:SESSION_CLOSED"]
    e.apply(SetSession("CF", "continuous"))
    e.apply(limit("b1", "buy", 1, p(0)))
    e.apply(SetSession("CF", "halted"))
    before = book_state(e)
    assert kinds(e.apply(limit("b1", "buy", 1, p(0)))) == ["rejected:SESSION_HALTED"]
    assert kinds(e.apply(AmendOrder(member="b1", order_id=1, quantity=3))) == ["rejected:SESSION_HALTED"]
    assert book_state(e) == before
    assert kinds(e.apply(CancelOrder("b1", 1))) == ["cancelled"]  # cancelling is always allowed


def test_illegal_session_transitions_are_rejected(engine_in) -> None:
    e = engine_in("closed")
    assert kinds(e.apply(SetSession("CF", "halted"))) == ["rejected:INVALID_SESSION_TRANSITION"]
    assert kinds(e.apply(SetSession("CF", "closed"))) == ["rejected:INVALID_SESSION_TRANSITION"]
    assert kinds(e.apply(SetSession("XX", "continuous"))) == ["rejected:UNKNOWN_INSTRUMENT"]
    assert kinds(e.apply(SetSession("CF", "pre_open"))) == ["session_changed"]


def test_price_band_edges_follow_the_reference_price(engine_in) -> None:
    e = engine_in()  # ±4 % of 15,000 yuan/t = 14,400 .. 15,600
    assert kinds(e.apply(limit("b1", "buy", 1, p(120))))[0] == "accepted"
    assert kinds(e.apply(limit("s1", "sell", 1, p(-120))))[0] == "accepted"
    assert kinds(e.apply(limit("b1", "buy", 1, p(121)))) == ["rejected:PRICE_OUT_OF_BAND"]
    assert kinds(e.apply(limit("s1", "sell", 1, p(-121)))) == ["rejected:PRICE_OUT_OF_BAND"]
    events = e.apply(SetReferencePrice("CF", p(100)))  # 15,500 ± 620 yuan/t
    assert (events[0].lower, events[0].upper) == (1_488_000, 1_612_000)
    assert kinds(e.apply(limit("b1", "buy", 1, p(121))))[0] == "accepted"
    assert kinds(e.apply(SetReferencePrice("CF", REF + 1))) == ["rejected:BAD_TICK"]
    # 15,005 ± 600.2 yuan/t: the limits snap inward onto the 5-yuan grid
    events = e.apply(SetReferencePrice("CF", REF + TICK))
    assert (events[0].lower, events[0].upper) == (1_440_500, 1_560_500)


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (NewOrder(member="b1", symbol="XX", side="buy", quantity=1, price=REF), "UNKNOWN_INSTRUMENT"),
        (limit("b1", "buy", 0, p(0)), "INVALID_QUANTITY"),
        (limit("b1", "buy", -2, p(0)), "INVALID_QUANTITY"),
        (limit("b1", "buy", 2, p(0), display_quantity=3), "INVALID_QUANTITY"),
        (limit("b1", "buy", 2, p(0), min_quantity=3), "INVALID_QUANTITY"),
        (limit("b1", "buy", 1, 0), "INVALID_PRICE"),
        (limit("b1", "buy", 1, REF + 1), "BAD_TICK"),
        (limit("b1", "buy", 1, p(500)), "PRICE_OUT_OF_BAND"),
        (limit("b1", "buy", 1_001, p(0)), "MAX_SIZE"),
        (limit("b1", "buy", 5, p(0), tif="IOC", display_quantity=1), "INVALID_ORDER"),
        (limit("b1", "buy", 5, p(0), tif="FOK", post_only=True), "INVALID_ORDER"),
        (limit("b1", "hold", 5, p(0)), "INVALID_ORDER"),
        (limit("b1", "buy", 5, p(0), tif="GTD"), "INVALID_ORDER"),
        (limit("b1", "buy", 5, p(0), order_type="stop"), "INVALID_ORDER"),
    ],
)
def test_new_order_rejections_change_nothing(engine_in, order: NewOrder, code: str) -> None:
    e = engine_in()
    e.apply(limit("s1", "sell", 3, p(1)))
    e.apply(limit("b2", "buy", 3, p(-1)))
    before = book_state(e)
    assert kinds(e.apply(order)) == [f"rejected:{code}"]
    assert book_state(e) == before


def test_instrument_listing_rejections(new_engine) -> None:
    e = new_engine()
    e.apply(COTTON)
    assert kinds(e.apply(COTTON)) == ["rejected:DUPLICATE_INSTRUMENT"]
    bad = AddInstrument(symbol="UR", tick=100, lot_size=20_000, ref_price=200_050)  # reference off the tick
    assert kinds(e.apply(bad)) == ["rejected:INVALID_INSTRUMENT"]
    assert list(e.instruments) == ["CF"]


def test_unknown_command_type_is_a_programming_error(new_engine) -> None:
    with pytest.raises(TypeError):
        new_engine().apply("not a command")  # type: ignore[arg-type]
