"""Request and response bodies of the HTTP API. Each is a ``msgspec.Struct``: the same
definition validates requests (unknown fields rejected), encodes answers and feeds
``/openapi.json``."""

import functools
import typing
from typing import Annotated, Literal, NamedTuple

import msgspec
from msgspec import Meta

from clearing.auctions import AUCTION_STATES
from clearing.financing import LOAN_STATES
from clearing.inbound import DECLARATION_STATES
from clearing.listings import LISTING_STATES
from engine import Instrument
from exchange.catalogue import MAX_LOT_KG, MAX_LOTS
from exchange.marketinfo import INTERVALS_NS
from exchange.views import FillRecord, OrderRecord
from gateway.prices import MONEY_MAX_LENGTH, MONEY_PATTERN, to_yuan, yuan_or_none
from warehouse_receipts.registry import STATES as RECEIPT_STATES
from warehouse_receipts.warehouse import RELEASE_STATES

ClientOrderId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                    examples=["order-1"])]
_GRAMMAR = "ASCII digits (at most 13), optionally a point and one or two decimals; no sign, exponent or spaces"
# The one money grammar (gateway.prices): a field that breaks it is 400 INVALID_PRICE or INVALID_AMOUNT.
Price = Annotated[str, Meta(pattern=MONEY_PATTERN, max_length=MONEY_MAX_LENGTH, examples=["15005.00"],
                            description=f"decimal yuan per quote unit: {_GRAMMAR}")]
Money = Annotated[str, Meta(pattern=MONEY_PATTERN, max_length=MONEY_MAX_LENGTH, examples=["1000.00"],
                            description=f"decimal yuan: {_GRAMMAR}")]
MONEY_CODES = {Price: "INVALID_PRICE", Money: "INVALID_AMOUNT"}
Lots = Annotated[int, Meta(ge=0, le=MAX_LOTS, examples=[1])]
# the example is a spot instrument, listed for good (the demo's forward months roll with the date)
SYMBOL_DESCRIPTION = ("an instrument: spot (the demo's CF, UR, SS) or a forward, named commodity + delivery month "
                      "as yymm (cotton for January 2027: CF2701)")
Symbol = Annotated[str, Meta(min_length=1, max_length=16, examples=["CF"], description=SYMBOL_DESCRIPTION)]
MemberName = Annotated[str, Meta(min_length=1, max_length=32, examples=["huafang-textile"])]
ReceiptId = Annotated[str, Meta(min_length=1, max_length=32, examples=["WR00000001"])]
Commodity = Annotated[str, Meta(min_length=1, max_length=32, examples=["cotton"])]
Warehouse = Annotated[str, Meta(min_length=1, max_length=64, examples=["xj-warehouse-01"])]
Differential = Annotated[str, Meta(pattern=r"^-?[0-9]{1,7}(\.[0-9]{1,2})?$", max_length=11, examples=["-50.00"],
                                   description="signed decimal yuan a tonne, added to the delivery price")]
Role = Literal["trader", "supplier", "warehouse", "clearing", "lender", "operator"]

_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


class OrderRequest(msgspec.Struct, **_STRICT):
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: Lots
    client_order_id: ClientOrderId
    type: Literal["limit", "market"] = "limit"
    price: Price | None = None
    time_in_force: Literal["GTC", "DAY", "IOC", "FOK"] = "GTC"
    post_only: bool = False
    display_quantity: Lots = 0
    min_quantity: Lots = 0
    stp: Literal["cancel_newest", "cancel_oldest", "cancel_both"] = "cancel_newest"
    receipt_ids: Annotated[list[ReceiptId], Meta(max_length=1_000, description="sell on a receipt-backed "
                                           "instrument: the receipts offered, one a lot (default: chosen)")] = []


class Fill(msgspec.Struct, kw_only=True):
    """One execution of one order."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: str
    quantity: int
    seq: int


class OrderView(msgspec.Struct, kw_only=True):
    """An order as its member sees it (FIX / Binance field names)."""

    order_id: int | None
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: str | None
    quantity: int
    cum_qty: int = 0
    leaves_qty: int = 0
    avg_price: str | None = None
    status: str
    reject_code: str | None = None
    fills: list[Fill] = msgspec.field(default_factory=list)
    seq: int = 0


def fill_view(f: FillRecord) -> Fill:
    """A fill with its price in yuan."""
    return Fill(trade_id=f.trade_id, order_id=f.order_id, symbol=f.symbol, side=f.side, price=to_yuan(f.price),
                quantity=f.quantity, seq=f.seq)


def order_view(o: OrderRecord) -> OrderView:
    """An order with its prices in yuan."""
    return OrderView(order_id=o.order_id, client_order_id=o.client_order_id, symbol=o.symbol, side=o.side,
                     type=o.type, time_in_force=o.time_in_force, price=yuan_or_none(o.price),
                     quantity=o.quantity, cum_qty=o.cum_qty, leaves_qty=o.leaves_qty,
                     avg_price=yuan_or_none(o.avg_price), status=o.status,
                     reject_code=o.reject_code, fills=[fill_view(f) for f in o.fills], seq=o.seq)


class AmendRequest(msgspec.Struct, **_STRICT):
    price: Price | None = None
    quantity: Lots | None = None


class CancelAllRequest(msgspec.Struct, **_STRICT):
    symbol: Symbol | None = None


class TradeView(msgspec.Struct, kw_only=True):
    """A public trade print."""

    trade_id: int
    symbol: str
    price: str
    quantity: int
    aggressor: str
    seq: int


class CancelAllResponse(msgspec.Struct):
    canceled: int
    seq: int


class InstrumentRequest(msgspec.Struct, **_STRICT):
    symbol: Symbol
    tick: Price
    lot_size: Annotated[int, Meta(gt=0, le=MAX_LOT_KG, description="kilograms per lot")]
    ref_price: Price
    band_bps: Annotated[int, Meta(ge=0, le=10_000)] = 0
    max_limit_qty: Annotated[int, Meta(gt=0, le=MAX_LOTS)] = 1_000
    max_market_qty: Annotated[int, Meta(gt=0, le=MAX_LOTS)] = 200
    protection_ticks: Annotated[int, Meta(ge=0, le=10_000)] = 10


class MarginStepRequest(msgspec.Struct, **_STRICT):
    from_date: Annotated[int, Meta(ge=0, le=21_991_231, description="trading date yyyymmdd (0: from listing)")]
    rate_bps: Annotated[int, Meta(gt=0, le=10_000)]


class PositionLimitRequest(msgspec.Struct, **_STRICT):
    from_date: Annotated[int, Meta(ge=0, le=21_991_231)]
    lots: Annotated[int, Meta(gt=0, le=MAX_LOTS)]


class ForwardTermsRequest(msgspec.Struct, **_STRICT):
    """A forward's lifecycle terms; empty schedules take ZCE's defaults (5/10/20 % margin;
    20,000/4,000/800 lots)."""

    delivery_month: Annotated[int, Meta(ge=190_001, le=219_912, description="yyyymm")]
    last_trading_day: Annotated[int, Meta(ge=19_000_101, le=21_991_231, description="yyyymmdd")]
    margin: Annotated[list[MarginStepRequest], Meta(max_length=50)] = []
    position_limits: Annotated[list[PositionLimitRequest], Meta(max_length=50)] = []
    daily_open_limit: Annotated[int, Meta(ge=0, le=MAX_LOTS)] = 0
    limit_band_widen_bps: Annotated[int, Meta(ge=0, le=10_000)] = 5_000
    limit_margin_raise_bps: Annotated[int, Meta(ge=0, le=10_000)] = 5_000
    call_grace_minutes: Annotated[int, Meta(ge=0, le=1_440)] = 60
    default_fund_share_bps: Annotated[int, Meta(ge=0, le=10_000)] = 1_000
    penalty_bps: Annotated[int, Meta(ge=0, le=10_000)] = 2_000
    # delivery (clearing/delivery.py)
    delivery_fee_per_tonne: Price = "0"
    delivery_warehouses: Annotated[list[Warehouse], Meta(max_length=1_000, description="empty: any")] = []
    location_differentials: Annotated[dict[Warehouse, Differential], Meta(max_length=1_000)] = {}
    tender_days: Annotated[int, Meta(ge=0, le=30, description="business days after the last trading day")] = 0
    payment_days: Annotated[int, Meta(ge=0, le=30, description="business days after the last trading day")] = 1


class ClockRequest(msgspec.Struct, **_STRICT):
    advance_ms: Annotated[int, Meta(gt=0, le=366 * 86_400_000, description="move the simulated clock forward")]


class ClockView(msgspec.Struct, kw_only=True):
    now_ms: int
    offset_ms: int


class SessionRequest(msgspec.Struct, **_STRICT):
    state: Literal["closed", "pre_open", "continuous", "halted"]


class ScheduleRequest(msgspec.Struct, **_STRICT):
    state: Literal["closed", "pre_open", "continuous", "halted"]
    at_ms: Annotated[int, Meta(ge=0, le=4_102_444_800_000, description="when, in ms since the Unix epoch (UTC)")]


class FeesRequest(msgspec.Struct, **_STRICT):
    per_lot: Price = "0"
    rate_ppm: Annotated[int, Meta(ge=0, le=100_000)] = 0


class InstrumentView(msgspec.Struct, kw_only=True):
    symbol: str
    tick: str
    lot_size: int
    ref_price: str
    band_bps: int
    lower_limit: str
    upper_limit: str
    max_limit_qty: int
    max_market_qty: int
    protection_ticks: int
    session: str


def instrument_view(inst: Instrument) -> InstrumentView:
    """An instrument with its prices in yuan (an unbounded upper limit shown as 10^13 yuan)."""
    return InstrumentView(symbol=inst.symbol, tick=to_yuan(inst.tick), lot_size=inst.lot_size,
                          ref_price=to_yuan(inst.ref_price), band_bps=inst.band_bps, lower_limit=to_yuan(inst.lower),
                          upper_limit=to_yuan(inst.upper), max_limit_qty=inst.max_limit_qty,
                          max_market_qty=inst.max_market_qty, protection_ticks=inst.protection_ticks,
                          session=inst.session)


class BookView(msgspec.Struct):
    symbol: str
    seq: int
    bids: list[tuple[str, int]]
    asks: list[tuple[str, int]]


class MemberRequest(msgspec.Struct, **_STRICT):
    member: Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    roles: Annotated[list[Role], Meta(min_length=1)]


class Credentials(msgspec.Struct):
    """Shown once when a key is created; the secret is never stored."""

    member: str
    roles: list[str]
    api_key: str
    api_secret: str


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    request_id: str | None = None  # on a 500: the id the server logged the failure under


class ErrorResponse(msgspec.Struct):
    error: ErrorBody


@functools.cache
def money_code(kind: type, field: str) -> str | None:
    """INVALID_PRICE or INVALID_AMOUNT if ``field`` of the Struct ``kind`` is money, else None."""
    hint = typing.get_type_hints(kind, include_extras=True).get(field)
    return next((code for t, code in MONEY_CODES.items() if t == hint or t in typing.get_args(hint)), None)


class QueryInt(NamedTuple):
    """A bounded integer query parameter (bounds inclusive): read by ``gateway.http.query_int``,
    documented in ``/openapi.json``."""

    name: str
    default: int
    lo: int
    hi: int
    description: str


FILLS_LIMIT = QueryInt("limit", 500, 1, 5_000, "how many of your newest fills")
TRADES_LIMIT = QueryInt("limit", 1_000, 1, 5_000, "how many of the newest trades")
LEDGER_LIMIT = QueryInt("limit", 200, 1, 5_000, "how many of the newest ledger lines")
ORDERS_LIMIT = QueryInt("limit", 1_000, 1, 5_000, "how many of your newest orders (a page); without it, "
                        "status=open answers every open order")
ORDERS_BEFORE = QueryInt("before", 0, 0, 10**18 - 1, "only orders with a smaller order id (the first id of "
                         "the page before, for the next older page); 0: the newest")
CANDLES_LIMIT = QueryInt("limit", 500, 1, 5_000, "how many of the newest candles")
BOOK_DEPTH = QueryInt("depth", 20, 1, 500, "price levels per side")


class QueryText(NamedTuple):
    """A string query parameter: read by ``gateway.http.query_text``, documented in
    ``/openapi.json`` (``choices``: the values it takes, another is 400 ``code``; None: any string)."""

    name: str
    default: str | None
    choices: tuple[str, ...] | None
    description: str
    code: str = "INVALID_REQUEST"


ORDERS_STATUS = QueryText("status", "open", ("open", "all"), "open orders, or all (those that left memory "
                          "read from SQL)")
AUCTIONS_STATE = QueryText("state", None, AUCTION_STATES, "only auctions in this state")
LOANS_STATE = QueryText("state", None, tuple(sorted(LOAN_STATES)), "only loans in this state")
DECLARATIONS_STATE = QueryText("state", None, DECLARATION_STATES, "only declarations in this state")
LISTINGS_STATE = QueryText("state", "open", (*LISTING_STATES, "all"),
                           "only listings in this state (all: every listing)")
LISTINGS_SIDE = QueryText("side", None, ("sell", "buy"), "only listings of this side")
MARKET_DAY = QueryText("day", "current", None, "current, latest (the last closed trading day) or a closed "
                       "day's number counting from 1; another day is 404 NO_SUCH_DAY")
CANDLE_INTERVAL = QueryText("interval", "1m", tuple(INTERVALS_NS), "the candles' interval", "INVALID_INTERVAL")
MEMBER_FILTER = QueryText("member", None, None, "one member's (clearing staff; others see their own)")
WAREHOUSE_FILTER = QueryText("warehouse", None, None, "one warehouse's (clearing staff, who see every warehouse's "
                             "without it; a warehouse sees its own)")
RECEIPTS_STATE = QueryText("state", None, tuple(sorted(RECEIPT_STATES)), "only receipts in this state")
RELEASES_STATE = QueryText("state", None, RELEASE_STATES, "only release orders in this state")
REPORT_FORMAT = QueryText("format", "json", ("json", "csv"), "csv: the report as CSV (text/csv)")


class Health(msgspec.Struct):
    status: str  # "ok" (the primary), "standby" (following the journal) or "refused" (see detail)
    entry_no: int
    engine_seq: int
    state_hash: str
    detail: str | None = None  # why a standby refuses to take over


__all__ = [
    "AmendRequest", "BookView", "CancelAllRequest", "CancelAllResponse", "Credentials", "ErrorBody", "ErrorResponse",
    "Fill", "Health", "InstrumentRequest", "InstrumentView", "MemberRequest", "Money", "OrderRequest", "OrderView",
    "Price", "QueryInt", "QueryText", "SessionRequest", "TradeView", "money_code",
]


# ------------------------------------------------------------------ receipts

from warehouse_receipts.quality import Quality  # noqa: E402  (kept next to the receipt bodies)


class IssueReceiptRequest(msgspec.Struct, **_STRICT):
    certificate_no: Annotated[str, Meta(min_length=1, max_length=64)]
    inspector: Annotated[str, Meta(min_length=1, max_length=64)]
    owner: MemberName
    quality: Quality
    quantity_kg: Annotated[int, Meta(ge=0, le=10_000_000, description="required except for cotton")] = 0


class TransferRequest(msgspec.Struct, **_STRICT):
    to: MemberName


class PledgeRequest(msgspec.Struct, **_STRICT):
    lender: MemberName


class DeliverySpecRequest(msgspec.Struct, **_STRICT):
    commodity: Commodity
    table: Annotated[str, Meta(min_length=1, max_length=64, examples=["ZCE-2016/17"])]
    warehouses: Annotated[list[MemberName], Meta(max_length=100)] = []


class ReceiptView(msgspec.Struct, kw_only=True):
    receipt_id: str
    commodity: str
    warehouse: str
    owner: str
    state: str
    pledgee: str | None
    order_id: int | None
    quantity_kg: int
    certificate_no: str
    inspector: str
    factors: dict[str, str]
    premium_per_tonne: str | None
    valued_on: str | None
    value: str | None
    version: int
    quality: Quality
    crop_year: int | None = None
    expires_at: str | None = None  # ISO UTC; None: never
    old_crop_discount: str | None = None  # yuan per tonne, included in the premium


class ReceiptEventView(msgspec.Struct, kw_only=True):
    seq: int
    version: int
    action: str
    actor: str
    at: str
    counterparty: str | None
    order_id: int | None
    detail: str | None


class ReceiptHistory(msgspec.Struct):
    receipt_id: str
    events: list[ReceiptEventView]
