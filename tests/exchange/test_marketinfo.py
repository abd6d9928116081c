"""Candles and daily statistics against a trade sequence computed by hand."""

from datetime import UTC, datetime

from exchange.marketinfo import candles
from tests.support.clearing_helpers import Harness

T0 = int(datetime(2026, 11, 23, 1, 0, 10, tzinfo=UTC).timestamp()) * 1_000_000_000
MINUTE = 60_000_000_000


def trade(h: Harness, at_ns: int, buyer: str, seller: str, lots: int, price: int) -> None:
    h.ts = at_ns
    h.order(buyer, "buy", lots, price, symbol="FW")
    h.ts = at_ns
    h.order(seller, "sell", lots, price, symbol="FW")


def test_candles_and_daily_statistics_by_hand() -> None:
    h = Harness()
    for member in "ABC":
        h.deposit(member, 1_000_000)
    trade(h, T0, "A", "B", 2, 1_500_000)  # 01:00:10  15,000 × 2
    trade(h, T0 + 20_000_000_000, "A", "C", 3, 1_501_000)  # 01:00:30  15,010 × 3
    trade(h, T0 + 70_000_000_000, "B", "A", 1, 1_499_500)  # 01:01:20  14,995 × 1
    market = h.state.market
    prints = market.prints["FW"]
    minute = T0 - T0 % MINUTE
    one_minute = candles(prints, MINUTE)
    assert [(c.start_ns, c.open, c.high, c.low, c.close, c.volume, c.turnover, c.trades) for c in one_minute] == [
        (minute, 1_500_000, 1_501_000, 1_500_000, 1_501_000, 5, 15_000_000 + 22_515_000, 2),
        (minute + MINUTE, 1_499_500, 1_499_500, 1_499_500, 1_499_500, 1, 7_497_500, 1),
    ]
    hour = candles(prints, 60 * MINUTE)
    assert [(c.open, c.high, c.low, c.close, c.volume, c.turnover) for c in hour] == [
        (1_500_000, 1_501_000, 1_499_500, 1_499_500, 6, 45_012_500)]
    assert list(market.candles[("FW", "1m")]) == one_minute  # built as the trades came
    assert list(market.candles[("FW", "1h")]) == hour

    today = market.today["FW"]
    assert (today.open, today.high, today.low, today.close) == (1_500_000, 1_501_000, 1_499_500, 1_499_500)
    assert (today.volume_lots, today.volume_kg, today.turnover, today.trades) == (6, 30_000, 45_012_500, 3)
    assert today.open_interest == 4  # A is long 2 + 3 − 1; B short 1, C short 3

    h.ts = T0 + 100_000_000_000
    report = h.end_of_day().outcome
    # VWAP = (15,000×2 + 15,010×3 + 14,995×1) / 6 = 15,004.1667 → nearest 5-yuan tick: 15,005
    assert next(i for i in report.instruments if i.symbol == "FW").settlement_price == 1_500_500
    closed = market.day(1)["FW"]
    assert (closed.settlement_price, closed.open_interest, closed.day) == (1_500_500, 4, 1)
    assert market.today == {}


def test_a_daily_candle_is_a_beijing_calendar_day() -> None:
    """15:30 and 23:30 UTC on the 23rd are 23:30 on the 23rd and 07:30 on the 24th in Beijing:
    two daily candles, though one UTC day."""
    from exchange.marketinfo import INTERVALS_NS, Print
    evening = int(datetime(2026, 11, 23, 15, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
    morning = int(datetime(2026, 11, 23, 23, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
    prints = [Print(evening, 1_500_000, 1, 0, 1, "buy", 1), Print(morning, 1_505_000, 2, 0, 2, "buy", 2)]
    days = candles(prints, INTERVALS_NS["1d"])
    beijing_midnight = int(datetime(2026, 11, 23, 16, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
    assert [(c.start_ns, c.close, c.volume) for c in days] == [
        (beijing_midnight - INTERVALS_NS["1d"], 1_500_000, 1), (beijing_midnight, 1_505_000, 2)]


def test_memory_keeps_the_newest_prints_and_candles() -> None:
    """Bounded memory: the newest prints and candles only, equal to those folded from every print."""
    from exchange import marketinfo

    h = Harness()
    for member in "AB":
        h.deposit(member, 10_000_000)
    market = h.state.market
    market.prints["FW"] = marketinfo.deque(maxlen=7)
    every = []
    for i in range(20):
        trade(h, T0 + i * 40_000_000_000, "A", "B", 1, 1_500_000 + 500 * (i % 3))
        every.append(market.prints["FW"][-1])
    assert list(market.prints["FW"]) == every[-7:]
    assert list(market.candles[("FW", "1m")]) == candles(every, MINUTE)
