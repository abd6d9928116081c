"""Public market information (the co-operative platform's information service): OHLCV
candles, daily statistics per instrument and the daily market report across commodities."""

import csv
import io
from datetime import UTC, datetime

import msgspec
from sanic import HTTPResponse, Request, Sanic

from exchange.marketinfo import INTERVALS_NS, DayStats, candles
from gateway.http import ApiError, respond
from gateway.prices import to_yuan


class CandleView(msgspec.Struct, kw_only=True):
    start: str
    start_ns: int
    open: str
    high: str
    low: str
    close: str
    volume: int
    turnover: str
    trades: int


class StatsView(msgspec.Struct, kw_only=True):
    symbol: str
    commodity: str
    day: int
    open: str | None
    high: str | None
    low: str | None
    close: str | None
    settlement_price: str | None
    volume_lots: int
    volume_tonnes: str
    turnover: str
    trades: int
    open_interest: int | None


class MarketReport(msgspec.Struct, kw_only=True):
    day: int
    closed: bool
    instruments: list[StatsView]


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()


def _money(fen: int | None) -> str | None:
    return None if fen is None else to_yuan(fen)


def stats_view(s: DayStats, commodity: str) -> StatsView:
    return StatsView(symbol=s.symbol, commodity=commodity, day=s.day, open=_money(s.open), high=_money(s.high),
                     low=_money(s.low), close=_money(s.close), settlement_price=_money(s.settlement_price),
                     volume_lots=s.volume_lots, volume_tonnes=f"{s.volume_kg // 1000}.{s.volume_kg % 1000:03d}",
                     turnover=to_yuan(s.turnover), trades=s.trades, open_interest=s.open_interest)


def add_market_routes(app: Sanic) -> None:
    """Register the ``/v1/market/*`` routes on ``app``."""

    def state():
        return app.ctx.exchange.state

    def commodity(symbol: str) -> str:
        spec = state().registry.specs.get(symbol)
        return spec.commodity if spec else "forward"

    def known(symbol: str) -> None:
        if symbol not in state().engine.instruments:
            raise ApiError(404, "UNKNOWN_INSTRUMENT", f"no instrument {symbol}")

    def day_arg(request: Request) -> int | None:
        """None for the current day, else a closed day's number (``latest`` = the last closed)."""
        day = request.args.get("day", "current")
        closed = len(state().market.days)
        if day == "current":
            return None
        number = closed if day == "latest" else int(day) if day.isdigit() else 0
        if not 1 <= number <= closed:
            raise ApiError(404, "NO_SUCH_DAY", f"day {day}: {closed} trading days are closed")
        return number

    def day_stats(symbol: str, number: int | None) -> DayStats:
        found = state().market.day(number).get(symbol)
        if found is None:  # no trade and not yet settled: an empty day
            days = state().market
            found = DayStats(symbol=symbol, day=number or len(days.days) + 1)
        return found

    @app.get("/v1/market/candles/<symbol>")
    async def candle_route(request: Request, symbol: str) -> HTTPResponse:
        known(symbol)
        interval = request.args.get("interval", "1m")
        if interval not in INTERVALS_NS:
            raise ApiError(400, "INVALID_INTERVAL", f"interval is one of {', '.join(INTERVALS_NS)}")
        limit = max(1, min(int(request.args.get("limit", "500")), 5_000))
        out = candles(state().market.prints.get(symbol, []), INTERVALS_NS[interval], limit)
        return respond([CandleView(start=_iso(c.start_ns), start_ns=c.start_ns, open=to_yuan(c.open),
                                   high=to_yuan(c.high), low=to_yuan(c.low), close=to_yuan(c.close), volume=c.volume,
                                   turnover=to_yuan(c.turnover), trades=c.trades) for c in out])

    @app.get("/v1/market/stats/<symbol>")
    async def stats_route(request: Request, symbol: str) -> HTTPResponse:
        known(symbol)
        return respond(stats_view(day_stats(symbol, day_arg(request)), commodity(symbol)))

    @app.get("/v1/market/report")
    async def report_route(request: Request) -> HTTPResponse:
        number = day_arg(request)
        rows = [stats_view(day_stats(symbol, number), commodity(symbol))
                for symbol in sorted(state().engine.instruments)]
        if request.args.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(StatsView.__struct_fields__)
            writer.writerows([getattr(r, f) for f in StatsView.__struct_fields__] for r in rows)
            return HTTPResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        return respond(MarketReport(day=number or len(state().market.days) + 1, closed=number is not None,
                                    instruments=rows))
