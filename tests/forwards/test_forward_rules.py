"""Forward rules one at a time: refusals that change nothing, reduce-only orders needing no
margin, the band and margin after a day locked at a limit, the default fund."""

from clearing.forward_terms import PositionLimit
from clearing.forwards import DEFAULT_FUND
from clearing.ledger import FEES
from tests.forwards.test_forward_story import SYMBOL, day, fw, harness, margin_of, mark


def funded(**terms):
    h = harness(**terms)
    for member in ("a", "b", "c", "d"):
        h.deposit(member, 100_000_000)
    return h


def refused(h, member: str, side: str, qty: int, yuan: int) -> str:
    before = h.state.state_hash()
    result = fw(h, member, side, qty, yuan)
    assert h.state.state_hash() == before  # nothing changed but the refused order's record
    return result.rejection.code


def test_insufficient_margin_changes_nothing() -> None:
    h = harness()
    h.deposit("a", 375_000 * 2 + 430 * 2)  # two lots' margin and commission, to the fen
    assert refused(h, "a", "buy", 3, 15_000) == "INSUFFICIENT_MARGIN"
    assert fw(h, "a", "buy", 2, 15_000).rejection is None
    assert margin_of(h, "a") == 750_000 and h.available("a") == 0


def test_position_limit_and_daily_open_limit() -> None:
    h = funded(position_limits=[PositionLimit(from_date=0, lots=10)], daily_open_limit=15)
    fw(h, "b", "sell", 10, 15_000)
    assert refused(h, "a", "buy", 11, 15_000) == "POSITION_LIMIT"
    fw(h, "a", "buy", 10, 15_000)  # at the limit
    assert refused(h, "a", "buy", 1, 14_900) == "POSITION_LIMIT"
    # closing needs no room under the limit and no margin: sells up to the long are reduce-only
    fw(h, "c", "buy", 10, 14_950)
    fw(h, "a", "sell", 10, 14_950)
    assert h.state.forwards.positions[("a", SYMBOL)].net == 0 and margin_of(h, "a") == 0
    # 10 lots opened today: 5 more is the daily limit of 15; 6 would pass it
    assert refused(h, "a", "sell", 6, 15_100) == "DAILY_OPEN_LIMIT"
    assert fw(h, "a", "sell", 5, 15_100).rejection is None
    h.state.check()


def test_reduce_only_order_needs_no_margin() -> None:
    h = funded()
    fw(h, "b", "sell", 4, 15_000)
    fw(h, "a", "buy", 4, 15_000)
    held = margin_of(h, "a")
    fw(h, "a", "sell", 4, 15_500)  # rests: closing the long needs nothing more
    assert margin_of(h, "a") == held == 4 * 375_000
    fw(h, "a", "sell", 2, 15_500)  # beyond the long: 2 lots of short could open
    assert margin_of(h, "a") == held
    fw(h, "a", "sell", 3, 15_500)  # 9 sells against 4 long: a 5-lot short needs 1 lot more
    assert margin_of(h, "a") == 5 * 375_000


def test_locked_limit_widens_the_band_and_raises_margin() -> None:
    h = funded()
    fw(h, "b", "sell", 2, 15_000)
    fw(h, "a", "buy", 2, 15_000)
    h.ts += 2 * 3_600_000_000_000
    upper = h.state.engine.instruments[SYMBOL].upper  # 15,000 + 6 % = 15,900
    fw(h, "c", "buy", 1, upper // 100)
    fw(h, "d", "sell", 1, upper // 100)  # the day closes locked at the upper limit
    h.end_of_day()
    inst = h.state.engine.instruments[SYMBOL]
    assert (inst.ref_price, inst.band_bps) == (1_590_000, 900)  # the band 6 % → 9 %
    # margin 5 % → 7.5 % of 15,900 × 5 t = 596,250 fen a lot
    assert h.state.forwards.per_lot(SYMBOL) == 596_250 and margin_of(h, "a") == 2 * 596_250
    day(h, 20261130)
    mark(h, 15_800)  # an ordinary day: the band back to 6 %, margin unraised (10 % from 1 December)
    h.end_of_day()
    assert h.state.engine.instruments[SYMBOL].band_bps == 600
    assert h.state.forwards.per_lot(SYMBOL) == 790_000
    h.state.check()
    h.assert_reconciled()


def test_loss_beyond_cash_and_margin_is_drawn_from_the_default_fund() -> None:
    h = harness(default_fund_share_bps=10_000)  # all commission to the fund, to have one to draw on
    for member in ("b", "c", "d"):
        h.deposit(member, 100_000_000)
    h.deposit("a", 10 * 375_000 + 4_300)  # exactly the margin and commission of 10 lots
    fw(h, "b", "sell", 10, 15_000)
    fw(h, "a", "buy", 10, 15_000)
    fw(h, "c", "buy", 30, 15_000)
    fw(h, "d", "sell", 30, 15_000)
    fw(h, "d", "buy", 30, 15_000)
    fw(h, "c", "sell", 30, 15_000)
    mark(h, 14_245)  # −755 × 50 t = −3,775,000 fen: a has 3,750,000 of margin and no cash
    report = h.end_of_day().outcome
    fees = (10 + 60 + 2) * 2 * 430  # 61,920 fen of commission today, all to the fund
    assert [(d.member, d.amount, d.source) for d in report.fund_draws] == [("a", 25_000, DEFAULT_FUND)]
    assert h.state.clearing.ledger.balance(DEFAULT_FUND) == fees - 25_000
    assert h.state.clearing.ledger.balance(FEES) == 0
    assert {(v.member, v.amount) for v in report.variation} == {("a", -3_775_000), ("b", 3_775_000)}
    # b's margin re-marked at 14,245: 356,125 a lot, 188,750 back to cash
    assert h.available("b") == 100_000_000 - 3_754_300 + 3_775_000 + 188_750
    [entry] = h.state.credit.of("a")
    assert (entry.kind, entry.amount) == ("payment_default", 25_000)
    [call] = report.margin_calls
    assert (call.member, call.amount) == ("a", 3_561_250)
    h.state.check()
    h.assert_reconciled()
