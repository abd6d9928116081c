"""Pre-trade risk and holds, fen by fen: every rejection, every release path, and that a
rejected order moves nothing."""

import pytest

from clearing.core import SetFees, Withdraw
from engine import AmendOrder, CancelOrder, MassCancel, SetSession
from tests.support.clearing_helpers import SUBSTITUTE_UREA, UR_NEED_AT_REF, UR_REF, Harness


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_spot_buy_holds_its_worst_case_cost_and_one_more_is_refused(h: Harness) -> None:
    h.deposit("buyer", 10_000_000)
    result = h.order("buyer", "buy", 2, UR_REF)
    assert result.view.status == "NEW"
    assert h.held("buyer") == 2 * UR_NEED_AT_REF == 8_801_760
    assert h.available("buyer") == 10_000_000 - 8_801_760
    before = h.ledger_snapshot()
    refused = h.order("buyer", "buy", 1, UR_REF)
    assert (refused.view.status, refused.view.reject_code) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert h.ledger_snapshot() == before and len(h.state.engine.orders) == 1
    h.assert_reconciled()


def test_a_fill_pays_the_seller_charges_both_commissions_and_shrinks_the_hold(h: Harness) -> None:
    h.deposit("buyer", 10_000_000)
    receipt = h.issue("seller")
    bid = h.order("buyer", "buy", 2, UR_REF).view
    h.order("seller", "sell", 1, UR_REF)
    # 20 t at 2,000 yuan/t = 40,000.00 yuan; commission 0.2 ‰ = 8.00 yuan each side
    assert h.available("seller") == 4_000_000 - 800
    assert h.fees() == 1_600
    assert h.held("buyer") == UR_NEED_AT_REF  # one lot still open
    assert h.available("buyer") == 10_000_000 - 4_000_800 - UR_NEED_AT_REF
    assert h.state.registry.receipts[receipt].owner == "buyer"
    assert h.state.views.by_id[bid.order_id].cum_qty == 1
    h.assert_reconciled()


def test_the_buyer_pays_the_delivered_receipts_premium_and_actual_weight(h: Harness) -> None:
    h.deposit("buyer", 10_000_000)
    h.issue("seller", SUBSTITUTE_UREA, kg=20_500)  # −20 yuan/t, 20.5 t
    h.order("seller", "sell", 1, UR_REF)
    h.order("buyer", "buy", 1, UR_REF)
    value = (200_000 - 2_000) * 20_500 // 1_000  # 40,590.00 yuan
    fee = (value * 200 * 2 + 1_000_000) // 2_000_000
    assert h.available("seller") == value - fee
    assert h.available("buyer") == 10_000_000 - value - fee
    assert h.held("buyer") == 0 and h.fees() == 2 * fee
    h.assert_reconciled()


def test_a_trade_below_the_bid_releases_the_difference(h: Harness) -> None:
    h.deposit("buyer", 10_000_000)
    h.issue("seller")
    h.order("seller", "sell", 1, UR_REF - 1_000)  # offered 10 yuan/t below the bid
    h.order("buyer", "buy", 1, UR_REF)
    value = (UR_REF - 1_000) * 20_000 // 1_000
    fee = (value * 200 * 2 + 1_000_000) // 2_000_000
    assert h.available("buyer") == 10_000_000 - value - fee and h.held("buyer") == 0
    h.assert_reconciled()


@pytest.mark.parametrize("how", ["cancel", "mass_cancel", "amend_down", "ioc_remainder", "day_expiry",
                                 "session_close", "market_remainder"])
def test_every_release_path_returns_the_hold(h: Harness, how: str) -> None:
    h.deposit("buyer", 20_000_000)
    h.issue("seller")
    h.order("seller", "sell", 1, UR_REF)  # one lot to trade against
    if how == "ioc_remainder":
        h.order("buyer", "buy", 3, UR_REF, tif="IOC")
    elif how == "market_remainder":
        h.order("buyer", "buy", 3, 0, order_type="market", tif="IOC")
    else:
        oid = h.order("buyer", "buy", 3, UR_REF - 500, tif="DAY").view.order_id
        assert h.held("buyer") == 3 * h.state.clearing.per_lot_need(h.state.engine, h.state.registry, "UR", "buy",
                                                                     UR_REF - 500)
        if how == "cancel":
            h.run(CancelOrder("buyer", oid))
        elif how == "mass_cancel":
            h.run(MassCancel(member="buyer"))
        elif how == "amend_down":
            h.run(AmendOrder(member="buyer", order_id=oid, quantity=1))
            assert h.held("buyer") == h.state.clearing.per_lot_need(h.state.engine, h.state.registry, "UR", "buy",
                                                                     UR_REF - 500)
            h.run(CancelOrder("buyer", oid))
        elif how == "day_expiry":
            report = h.end_of_day().outcome
            assert report.day == 1
        else:
            h.run(SetSession("UR", "closed"))
    assert h.held("buyer") == 0
    assert h.available("buyer") + h.state.clearing.ledger.balance("cash:seller") + h.fees() == 20_000_000
    h.assert_reconciled()


def test_amendments_that_need_more_cash_are_refused_and_change_nothing(h: Harness) -> None:
    h.deposit("buyer", UR_NEED_AT_REF + 1_000)
    oid = h.order("buyer", "buy", 1, UR_REF).view.order_id
    before = h.ledger_snapshot(), h.state.engine.state_hash()
    for amend in (AmendOrder(member="buyer", order_id=oid, quantity=2),
                  AmendOrder(member="buyer", order_id=oid, price=UR_REF + 5_000)):
        assert h.run(amend).rejection.code == "INSUFFICIENT_FUNDS"
        assert (h.ledger_snapshot(), h.state.engine.state_hash()) == before
    # a cheaper price frees cash at once
    h.run(AmendOrder(member="buyer", order_id=oid, price=UR_REF - 5_000))
    assert h.held("buyer") < UR_NEED_AT_REF
    h.assert_reconciled()


def test_a_market_buy_is_held_at_its_protection_price(h: Harness) -> None:
    h.issue("seller")
    h.order("seller", "sell", 1, UR_REF)
    protection = UR_REF + 5 * 100  # best ask + 5 ticks
    need = h.state.clearing.per_lot_need(h.state.engine, h.state.registry, "UR", "buy", protection)
    h.deposit("buyer", need - 1)
    refused = h.order("buyer", "buy", 1, 0, order_type="market", tif="IOC")
    assert refused.view.reject_code == "INSUFFICIENT_FUNDS"
    h.deposit("buyer", 1)
    assert h.order("buyer", "buy", 1, 0, order_type="market", tif="IOC").view.status == "FILLED"
    h.assert_reconciled()


def test_spot_sells_need_receipts_not_cash(h: Harness) -> None:
    assert h.order("seller", "sell", 1, UR_REF).view.reject_code == "INSUFFICIENT_RECEIPTS"
    h.issue("seller")
    assert h.order("seller", "sell", 1, UR_REF).view.status == "NEW"
    assert h.held("seller") == 0


def test_forward_orders_hold_their_commission_on_both_sides(h: Harness) -> None:
    assert h.order("long", "buy", 10, 1_500_000, symbol="FW").view.reject_code == "INSUFFICIENT_FUNDS"
    h.deposit("long", 10_000)
    h.deposit("short", 10_000)
    h.order("long", "buy", 10, 1_500_000, symbol="FW")
    assert h.held("long") == 10 * 430
    h.order("short", "sell", 4, 1_500_000, symbol="FW")
    assert h.fees() == 2 * 4 * 430
    assert (h.held("long"), h.held("short")) == (6 * 430, 0)
    assert h.available("short") == 10_000 - 4 * 430
    h.assert_reconciled()


def test_withdrawals_never_exceed_available_cash(h: Harness) -> None:
    h.deposit("buyer", 5_000_000)
    h.order("buyer", "buy", 1, UR_REF)
    available = h.available("buyer")
    before = h.ledger_snapshot()
    too_much = h.run(Withdraw(actor="desk", member="buyer", amount=available + 1, reference="w1"))
    assert too_much.rejection.code == "INSUFFICIENT_FUNDS" and h.ledger_snapshot() == before
    assert h.run(Withdraw(actor="desk", member="buyer", amount=available, reference="w2")).rejection is None
    assert h.available("buyer") == 0
    h.assert_reconciled()


def test_terms_cannot_change_under_open_orders(h: Harness) -> None:
    h.deposit("buyer", 10_000_000)
    h.order("buyer", "buy", 1, UR_REF)
    assert h.run(SetFees(actor="ops", symbol="UR", rate_ppm=900)).rejection.code == "OPEN_ORDERS"


def test_commission_on_value_only_where_delivery_pays_it(h: Harness) -> None:
    # a forward sell may trade above its limit: its hold could not cover a commission on value
    assert h.run(SetFees(actor="ops", symbol="FW", rate_ppm=50)).rejection.code == "INVALID_FEES"
    assert h.run(SetFees(actor="ops", symbol="FW", per_lot=500)).rejection is None


def test_end_of_day_settles_prices_and_reports(h: Harness) -> None:
    h.deposit("buyer", 20_000_000)
    for _ in range(2):
        h.issue("seller")
    h.order("seller", "sell", 1, UR_REF + 1_000)
    h.order("buyer", "buy", 1, UR_REF + 1_000)
    h.order("seller", "sell", 1, UR_REF + 2_000)
    h.order("buyer", "buy", 1, UR_REF + 2_000)
    h.order("buyer", "buy", 1, UR_REF - 3_000, tif="DAY")
    report = h.end_of_day().outcome
    ur = next(i for i in report.instruments if i.symbol == "UR")
    assert ur.settlement_price == UR_REF + 1_500 and ur.volume_lots == 2 and ur.trades == 2  # VWAP of 2,010 and 2,020
    assert h.state.engine.instruments["UR"].ref_price == UR_REF + 1_500
    assert h.state.engine.instruments["UR"].session == "closed" and not h.state.engine.orders  # DAY order expired
    rows = {m.member: m for m in report.members}
    assert rows["buyer"].bought_lots == 2 and rows["seller"].receipts_out == 2 and rows["buyer"].receipts_in == 2
    assert rows["buyer"].fees + rows["seller"].fees == report.fee_revenue == h.fees()
    assert rows["buyer"].net_cash == 20_000_000 - rows["buyer"].bought_value - rows["buyer"].fees
    assert rows["buyer"].cash_held == 0
    fw = next(i for i in report.instruments if i.symbol == "FW")
    assert fw.settlement_price == 1_500_000 and fw.trades == 0  # no trades: the reference stands
    h.assert_reconciled()
