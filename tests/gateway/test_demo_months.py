"""The demo's forward months roll with the date: near cotton two months after today's month,
urea three, far cotton four; each month's last trading day is its 10th business day (Monday to
Friday), so the near month always has weeks of trading left and is still at its lowest margin."""

from exchange.calendar import Calendar, civil_from_days, day_number
from gateway import demo


def test_the_months_listed_on_three_days() -> None:
    assert demo.forward_months(20261123) == (demo.Month("CF2701", 202701, 20270114),
                                             demo.Month("UR2702", 202702, 20270212),
                                             demo.Month("CF2703", 202703, 20270312))
    assert demo.forward_months(20270116) == (demo.Month("CF2703", 202703, 20270312),
                                             demo.Month("UR2704", 202704, 20270414),
                                             demo.Month("CF2705", 202705, 20270514))
    assert demo.forward_months(20271231) == (demo.Month("CF2802", 202802, 20280214),
                                             demo.Month("UR2803", 202803, 20280314),
                                             demo.Month("CF2804", 202804, 20280414))


def test_the_last_trading_day_is_the_tenth_business_day() -> None:
    assert demo.last_trading_day(202611) == 20261113  # 1 November 2026 is a Sunday
    assert demo.last_trading_day(202702) == 20270212  # 1 February 2027 is a Monday
    assert demo.last_trading_day(210001) == 21000114  # 1 January 2100 is a Friday


def test_the_near_month_always_has_weeks_left_and_the_lowest_margin() -> None:
    calendar = Calendar()
    for day in range(day_number(20260101), day_number(20301231) + 1):
        today = civil_from_days(day)
        near, urea, far = demo.forward_months(today)
        assert day_number(near.last_trading_day) - day >= 40, today
        assert near.delivery_month < urea.delivery_month < far.delivery_month
        for month in (near, urea, far):
            assert month.last_trading_day // 100 == month.delivery_month
            assert calendar.is_business_day(month.last_trading_day)
        spec = demo.instruments(today)[3]
        assert spec.symbol == near.symbol and spec.forward.rate_bps(today) == 500, today


def test_the_instruments_keep_their_terms() -> None:
    specs = {s.symbol: s for s in demo.instruments(20270116)}
    assert list(specs) == ["CF", "UR", "SS", "CF2703", "CF2705", "UR2704"]
    for symbol, commodity, lot_kg, tick, fee in (("CF2703", "cotton", 5_000, 500, 430),
                                                  ("CF2705", "cotton", 5_000, 500, 430),
                                                  ("UR2704", "urea", 20_000, 100, 250)):
        spec = specs[symbol]
        assert (spec.kind, spec.commodity, spec.lot_size, spec.tick, spec.fees.per_lot) == \
            ("forward", commodity, lot_kg, tick, fee)
        assert spec.forward.margined and spec.forward.delivery_month == int("20" + symbol[2:])
        assert spec.delivery is None
    assert all(specs[s].kind == "spot" and specs[s].delivery for s in ("CF", "UR", "SS"))


def test_todays_names() -> None:
    assert tuple(m.symbol for m in demo.forward_months(demo.TODAY)) == (demo.CF_NEAR, demo.UR_NEAR, demo.CF_FAR)
    assert [s.symbol for s in demo.INSTRUMENTS] == [s.symbol for s in demo.instruments(demo.TODAY)]
    assert demo.orders(demo.TODAY)[-1][1] == demo.CF_NEAR
