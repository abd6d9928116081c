"""Market information for the industry: OHLCV candles, daily statistics per instrument and the
daily market report. Folded from trades with their journal timestamps, so a replay rebuilds
the same figures; a trading day ends with the clearing end of day, which supplies the
settlement prices.

Turnover is nominal: price × lots × lot size (fen); open interest (forwards) is the sum of
members' net long positions in lots.
"""

import hashlib
from collections import deque

import msgspec

from engine import Trade
from exchange.calendar import BEIJING_OFFSET_NS

INTERVALS_NS = {"1m": 60_000_000_000, "1h": 3_600_000_000_000, "1d": 86_400_000_000_000}
PRINTS_KEPT = 5_000  # the newest prints per instrument kept (the most GET /v1/trades returns)
CANDLES_KEPT = 5_000  # the newest candles per instrument and interval kept (the most a query returns)


class Print(msgspec.Struct, array_like=True, gc=False):
    """One trade as the market saw it: the public trade list and the statistics come from these."""

    ts_ns: int
    price: int
    quantity: int
    turnover: int
    trade_id: int
    aggressor: str
    seq: int


class Candle(msgspec.Struct, kw_only=True):
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    turnover: int
    trades: int


class DayStats(msgspec.Struct, kw_only=True):
    symbol: str
    day: int  # the trading day's number (1 = the first), from the exchange's calendar
    trading_date: int = 0  # yyyymmdd
    open: int | None = None
    high: int | None = None
    low: int | None = None
    close: int | None = None
    settlement_price: int | None = None
    volume_lots: int = 0
    volume_kg: int = 0
    turnover: int = 0
    trades: int = 0
    open_interest: int | None = None


def candles(prints: list[Print], interval_ns: int, limit: int = 500) -> list[Candle]:
    """OHLCV per ``interval_ns`` bucket, oldest first, the last ``limit``. Buckets are aligned
    to Beijing time (UTC+8), so a daily candle is a Beijing calendar day, not a UTC one."""
    out: list[Candle] = []
    for p in prints:
        add_print(out, p, interval_ns)
    return out[-limit:]


def add_print(out: list[Candle] | deque[Candle], p: Print, interval_ns: int) -> None:
    """Fold one print into candles ``out`` (oldest first): the last one, or a new one."""
    start = p.ts_ns - (p.ts_ns + BEIJING_OFFSET_NS) % interval_ns
    if out and out[-1].start_ns == start:
        c, price = out[-1], p.price
        if price > c.high:
            c.high = price
        elif price < c.low:
            c.low = price
        c.close = price
        c.volume += p.quantity
        c.turnover += p.turnover
        c.trades += 1
    else:
        out.append(Candle(start_ns=start, open=p.price, high=p.price, low=p.price, close=p.price,
                          volume=p.quantity, turnover=p.turnover, trades=1))


class MarketInfo:
    """Prints, candles, today's statistics and positions per instrument; past days' statistics.
    Memory keeps the newest ``PRINTS_KEPT`` prints and ``CANDLES_KEPT`` candles of each interval
    (built as trades come, not from every print ever): the trades table in SQL has them all."""

    def __init__(self, calendar=None) -> None:
        self.calendar = calendar  # the exchange's Calendar: which trading day it is
        self.prints: dict[str, deque[Print]] = {}
        self.candles: dict[tuple[str, str], deque[Candle]] = {}  # (symbol, interval) -> newest candles
        self._series: dict[str, list[tuple[int, deque[Candle]]]] = {}  # symbol -> the same deques, by interval
        self.today: dict[str, DayStats] = {}
        self.days: list[dict[str, DayStats]] = []
        self.positions: dict[str, dict[str, int]] = {}  # forward symbol -> member -> net lots
        self.open_interest: dict[str, int] = {}

    def _stats(self, symbol: str) -> DayStats:
        stats = self.today.get(symbol)
        if stats is None:
            day, date = (self.calendar.day, self.calendar.trading_date) if self.calendar else \
                (len(self.days) + 1, 0)
            stats = self.today[symbol] = DayStats(symbol=symbol, day=day, trading_date=date)
        return stats

    def record(self, trade: Trade, lot_kg: int, ts_ns: int, forward: bool) -> None:
        """One trade print."""
        symbol, price, quantity, buyer, seller = trade.symbol, trade.price, trade.quantity, trade.buyer, trade.seller
        turnover = price * quantity * lot_kg // 1_000
        prints = self.prints.get(symbol)
        if prints is None:
            prints = self.prints[symbol] = deque(maxlen=PRINTS_KEPT)
        prints.append(p := Print(ts_ns, price, quantity, turnover, trade.trade_id, trade.aggressor, trade.seq))
        series = self._series.get(symbol) or self._new_series(symbol)
        for interval_ns, kept in series:
            add_print(kept, p, interval_ns)
        s = self._stats(symbol)
        if s.open is None:
            s.open = s.high = s.low = price
        elif price > s.high:
            s.high = price
        elif price < s.low:
            s.low = price
        s.close = price
        s.volume_lots += quantity
        s.volume_kg += quantity * lot_kg
        s.turnover += turnover
        s.trades += 1
        if forward:  # open interest = Σ net long positions, kept up to date per trade
            book = self.positions.setdefault(symbol, {})
            interest = self.open_interest.get(symbol, 0)
            for member, change in ((buyer, quantity), (seller, -quantity)):
                before = book.get(member, 0)
                book[member] = before + change
                interest += max(before + change, 0) - max(before, 0)
            self.open_interest[symbol] = s.open_interest = interest

    def _new_series(self, symbol: str) -> list[tuple[int, deque[Candle]]]:
        """The symbol's candles of every interval, created empty: (interval in ns, newest candles)."""
        series = self._series[symbol] = []
        for interval, interval_ns in INTERVALS_NS.items():
            kept = self.candles[(symbol, interval)] = deque(maxlen=CANDLES_KEPT)
            series.append((interval_ns, kept))
        return series

    def close_day(self, settlement_prices: dict[str, int], forwards: set[str]) -> None:
        """File today's statistics with the settlement prices and start a new day."""
        for symbol, price in settlement_prices.items():
            s = self._stats(symbol)
            s.settlement_price = price
            if symbol in forwards:
                s.open_interest = self.open_interest.get(symbol, 0)
        self.days.append(self.today)
        self.today = {}

    def state_hash(self) -> str:
        """Digest of today's statistics, the closed days' and open interest (the prints are the
        trades, which the engine's and the ledger's hashes already cover)."""
        state = msgspec.msgpack.encode([sorted(self.today.items()), [sorted(d.items()) for d in self.days],
                                        sorted((s, sorted(p.items())) for s, p in self.positions.items())])
        return hashlib.blake2b(state, digest_size=8).hexdigest()

    def day(self, number: int | None = None) -> dict[str, DayStats]:
        """Statistics of a closed day (1-based), or of the current day if ``number`` is None."""
        return self.today if number is None else self.days[number - 1]
