"""Market routes: instruments, the book, public trades, and the market information service
(OHLCV candles, daily statistics per instrument and the daily market report across
commodities). Everything but instruments, book and trades is public."""

import csv
import io

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from exchange.bulk import supply_day
from exchange.marketinfo import DayStats
from exchange.state import ExchangeState
from gateway.errors import ApiError
from gateway.http import query_int, query_text, respond, respond_csv
from gateway.prices import iso, to_yuan, yuan_or_none
from gateway.wire import (
    BOOK_DEPTH,
    CANDLE_INTERVAL,
    CANDLES_LIMIT,
    MARKET_DAY,
    REPORT_FORMAT,
    TRADES_LIMIT,
    BookView,
    TradeView,
    instrument_view,
)

bp = Blueprint("market")


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


class SupplyDayView(msgspec.Struct, kw_only=True):
    """Bulk supply of one commodity by one mode (sell_auction, buy_auction, listing) that day."""

    commodity: str
    mode: str
    lots_offered: int
    lots_sold: int
    tonnes_sold: str
    average_premium: str  # yuan a tonne, tonne-weighted over the lots sold
    turnover: str


class MarketReport(msgspec.Struct, kw_only=True):
    day: int
    closed: bool
    instruments: list[StatsView]
    bulk_supply: list[SupplyDayView] = []  # auctions and listings closed that day


def stats_view(s: DayStats, commodity: str) -> StatsView:
    return StatsView(symbol=s.symbol, commodity=commodity, day=s.day, open=yuan_or_none(s.open),
                     high=yuan_or_none(s.high), low=yuan_or_none(s.low), close=yuan_or_none(s.close),
                     settlement_price=yuan_or_none(s.settlement_price),
                     volume_lots=s.volume_lots, volume_tonnes=f"{s.volume_kg // 1000}.{s.volume_kg % 1000:03d}",
                     turnover=to_yuan(s.turnover), trades=s.trades, open_interest=s.open_interest)


def state(request: Request) -> ExchangeState:
    return request.app.ctx.exchange.state


def commodity(request: Request, symbol: str) -> str:
    """The commodity a receipt-backed instrument delivers; "forward" for the others."""
    spec = state(request).registry.specs.get(symbol)
    return spec.commodity if spec else "forward"


def known(request: Request, symbol: str) -> None:
    """404 unless ``symbol`` is listed."""
    if symbol not in state(request).engine.instruments:
        raise ApiError(404, "UNKNOWN_INSTRUMENT", f"no instrument {symbol}")


def day_arg(request: Request) -> int | None:
    """None for the current day, else a closed day's number (``latest`` = the last closed)."""
    day = query_text(request, MARKET_DAY)
    closed = len(state(request).market.days)
    if day == "current":
        return None
    number = closed if day == "latest" else int(day) if day.isdigit() else 0
    if not 1 <= number <= closed:
        raise ApiError(404, "NO_SUCH_DAY", f"day {day}: {closed} trading days are closed")
    return number


def day_stats(request: Request, symbol: str, number: int | None) -> DayStats:
    """``symbol``'s statistics of day ``number`` (None: the current day)."""
    market = state(request).market
    found = market.day(number).get(symbol)
    if found is None:  # no trade and not yet settled: an empty day
        found = DayStats(symbol=symbol, day=number or len(market.days) + 1)
    return found


@bp.get("/v1/instruments")
async def instruments(request: Request) -> HTTPResponse:
    return respond([instrument_view(i) for i in state(request).engine.instruments.values()])


@bp.get("/v1/book/<symbol>")
async def book(request: Request, symbol: str) -> HTTPResponse:
    """The published book: exactly what the WebSocket feed announced up to ``seq``, after
    publishing whatever was committed since the last flush (so an acked order shows)."""
    known(request, symbol)
    depth = query_int(request, BOOK_DEPTH)
    publisher = request.app.ctx.publisher
    publisher.flush()  # include everything committed (and announce it to the feed too)
    seq, bids, asks = publisher.book_view(symbol, depth)
    return respond(BookView(symbol=symbol, seq=seq, bids=bids, asks=asks))


@bp.get("/v1/trades/<symbol>")
async def trades(request: Request, symbol: str) -> HTTPResponse:
    known(request, symbol)
    limit = query_int(request, TRADES_LIMIT)
    prints = list(state(request).market.prints.get(symbol, ()))[-limit:]
    return respond([TradeView(trade_id=p.trade_id, symbol=symbol, price=to_yuan(p.price), quantity=p.quantity,
                              aggressor=p.aggressor, seq=p.seq) for p in prints])


@bp.get("/v1/market/candles/<symbol>")
async def candle_route(request: Request, symbol: str) -> HTTPResponse:
    known(request, symbol)
    interval = query_text(request, CANDLE_INTERVAL)
    limit = query_int(request, CANDLES_LIMIT)
    out = list(state(request).market.candles.get((symbol, interval), ()))[-limit:]
    return respond([CandleView(start=iso(c.start_ns), start_ns=c.start_ns, open=to_yuan(c.open),
                               high=to_yuan(c.high), low=to_yuan(c.low), close=to_yuan(c.close), volume=c.volume,
                               turnover=to_yuan(c.turnover), trades=c.trades) for c in out])


@bp.get("/v1/market/stats/<symbol>")
async def stats_route(request: Request, symbol: str) -> HTTPResponse:
    known(request, symbol)
    return respond(stats_view(day_stats(request, symbol, day_arg(request)), commodity(request, symbol)))


def report_csv(rows: list[StatsView]) -> str:
    """The market report as CSV: a header, then one row per instrument."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(StatsView.__struct_fields__)
    writer.writerows([getattr(r, f) for f in StatsView.__struct_fields__] for r in rows)
    return out.getvalue()


@bp.get("/v1/market/report")
async def report_route(request: Request) -> HTTPResponse:
    as_csv = query_text(request, REPORT_FORMAT) == "csv"
    number = day_arg(request)
    rows = [stats_view(day_stats(request, symbol, number), commodity(request, symbol))
            for symbol in sorted(state(request).engine.instruments)]
    if as_csv:
        return respond_csv(report_csv(rows))
    day = number or len(state(request).market.days) + 1
    supply = [SupplyDayView(commodity=r.commodity, mode=r.mode, lots_offered=r.lots_offered, lots_sold=r.lots_sold,
                            tonnes_sold=f"{r.kg_sold / 1000:.3f}", average_premium=to_yuan(r.average_premium),
                            turnover=to_yuan(r.turnover)) for r in supply_day(state(request), day)]
    return respond(MarketReport(day=day, closed=number is not None, instruments=rows, bulk_supply=supply))
