"""Auction routes (bulk supply): publish a sell or buy auction, bid or offer on a lot, pay for a
lot won, see auctions and their results; the operator sets the per-tonne fee and buyer
categories. Prices are yuan a tonne, amounts yuan, times ms since the Unix epoch (UTC).
Bidders are anonymous to everyone but clearing: a lot shows its best price and bid count;
the winner is named to the publisher, the winner itself and clearing staff."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.auctions import Auction, DemandLot, Lot, LotSpec, PayLot, PlaceBid, PublishAuction
from clearing.escrow import SetBuyerCategory, SetSupplyFee
from gateway.errors import SUPPLY_STATUS, ApiError
from gateway.http import decode, fen, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import to_yuan, yuan_if_set
from gateway.wire import AUCTIONS_STATE, Commodity, MemberName, Money, Price, ReceiptId

bp = Blueprint("auctions")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}
Ms = Annotated[int, Meta(ge=0, le=4_102_444_800_000, description="ms since the Unix epoch (UTC)")]
Receipts = Annotated[list[ReceiptId], Meta(min_length=1, max_length=50)]


class LotRequest(msgspec.Struct, **_STRICT):
    receipt_ids: Receipts
    floor: Price | None = None  # yuan a tonne; omitted: the base price + the lot's premium (one of them is required)


class DemandRequest(msgspec.Struct, **_STRICT):
    quantity_kg: Annotated[int, Meta(gt=0, le=10**9)]
    ceiling: Price
    tolerance_bps: Annotated[int, Meta(ge=0, le=10_000)] = 1_000
    factors: Annotated[dict[str, Annotated[list[str], Meta(max_length=20)]], Meta(max_length=20)] = {}
    warehouses: Annotated[list[MemberName], Meta(max_length=100)] = []


class AuctionRequest(msgspec.Struct, **_STRICT):
    side: Literal["sell", "buy"] = "sell"
    commodity: Commodity
    lots: Annotated[list[LotRequest], Meta(max_length=100)] = []
    demand: Annotated[list[DemandRequest], Meta(max_length=100)] = []
    opens_at_ms: Ms
    closes_at_ms: Ms
    hard_stop_at_ms: Ms | None = None  # omitted: the close + 30 minutes
    increment: Price
    base_price: Price = "0"
    extend_seconds: Annotated[int, Meta(ge=0, le=86_400)] = 60
    deposit: Money = "300000"
    bond_per_tonne: Money = "1000"
    clean_days: Annotated[int, Meta(ge=0, le=3_650)] = 0
    categories: Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=20)] = []
    max_lots: Annotated[int, Meta(ge=0, le=100)] = 0
    max_tonnes_per_day: Annotated[int, Meta(ge=0, le=10**9)] = 0
    payment_days: Annotated[int, Meta(ge=0, le=30)] = 5


class BidRequest(msgspec.Struct, **_STRICT):
    price: Price
    receipt_ids: Annotated[list[ReceiptId], Meta(max_length=50)] = []  # a buy auction's offer


class FeeRequest(msgspec.Struct, **_STRICT):
    fee_per_tonne: Price


class CategoryRequest(msgspec.Struct, **_STRICT):
    member: MemberName
    category: Annotated[str, Meta(max_length=64)]  # "" clears it


class LotView(msgspec.Struct, kw_only=True):
    lot_no: int
    kg: int
    receipt_ids: list[str]
    floor: str | None
    ceiling: str | None
    premium: str
    best: str | None
    bids: int
    close_ms: int
    extensions: int
    state: str
    winner: str | None  # to the publisher, the winner and clearing
    price: str | None
    value: str | None
    bond: str | None
    pay_by_day: int | None
    buyer_fee: str | None
    seller_fee: str | None


class AuctionView(msgspec.Struct, kw_only=True):
    auction_id: int
    side: str
    publisher: str
    commodity: str
    opens_ms: int
    hard_stop_ms: int
    increment: str
    extend_seconds: int
    deposit: str
    bond_per_tonne: str
    clean_days: int
    categories: list[str]
    max_lots: int
    max_tonnes_per_day: int
    payment_days: int
    state: str
    bidders: int
    lots: list[LotView]


class BidLogEntry(msgspec.Struct, kw_only=True):
    """One accepted bid, in the order the sequencer took them; the bidder is named to clearing,
    the operator and the bidder itself only."""

    bid_no: int
    lot_no: int
    price: str
    at_ms: int
    at_ns: int
    bidder: str | None


class BidView(msgspec.Struct, kw_only=True):
    auction_id: int
    lot_no: int
    bid_no: int
    price: str
    leading: bool
    close_ms: int


def lot_view(a: Auction, lot: Lot, viewer: set[str] | None) -> LotView:
    """``viewer``: the members allowed to see who won (None: everyone, clearing)."""
    named = viewer is None or a.publisher in viewer or lot.winner in viewer
    return LotView(lot_no=lot.lot_no, kg=lot.kg, receipt_ids=lot.receipt_ids, floor=yuan_if_set(lot.floor),
                   ceiling=yuan_if_set(lot.demand.ceiling) if lot.demand else None, premium=to_yuan(lot.premium),
                   best=yuan_if_set(lot.best), bids=lot.bids, close_ms=lot.close_ns // 1_000_000,
                   extensions=lot.extensions, state=lot.state, winner=(lot.winner or None) if named else None,
                   price=yuan_if_set(lot.price), value=yuan_if_set(lot.value),
                   bond=yuan_if_set(lot.bond) if named else None, pay_by_day=lot.pay_by_day or None,
                   buyer_fee=yuan_if_set(lot.buyer_fee), seller_fee=yuan_if_set(lot.seller_fee))


def auction_view(a: Auction, viewer: set[str] | None) -> AuctionView:
    return AuctionView(auction_id=a.auction_id, side=a.side, publisher=a.publisher, commodity=a.commodity,
                       opens_ms=a.opens_ns // 1_000_000, hard_stop_ms=a.hard_stop_ns // 1_000_000,
                       increment=to_yuan(a.increment), extend_seconds=a.extend_ns // 10**9,
                       deposit=to_yuan(a.deposit), bond_per_tonne=to_yuan(a.bond_per_t), clean_days=a.clean_days,
                       categories=a.categories, max_lots=a.max_lots, max_tonnes_per_day=a.max_kg_per_day // 1_000,
                       payment_days=a.payment_days, state=a.state, bidders=len(a.bidders),
                       lots=[lot_view(a, lot, viewer) for lot in a.lots])


def viewer_of(request: Request) -> set[str] | None:
    """Whose names an answer may show: None (all) for clearing and operators, else the caller's."""
    key = request.ctx.key
    return None if key.roles.intersection({"clearing", "operator"}) else {key.member}


def _auction(request: Request, auction_id: int) -> Auction:
    auction = request.app.ctx.exchange.state.auctions.auctions.get(auction_id)
    if auction is None:
        raise ApiError(404, "AUCTION_NOT_FOUND", f"no auction {auction_id}")
    return auction


def _lot(request: Request, auction_id: int, lot_no: int) -> Lot:
    auction = _auction(request, auction_id)
    if not 1 <= lot_no <= len(auction.lots):
        raise ApiError(404, "LOT_NOT_FOUND", f"auction {auction_id} has no lot {lot_no}")
    return auction.lots[lot_no - 1]


async def run(request: Request, command) -> object:
    return (await submit(request, command, SUPPLY_STATUS)).outcome


@bp.post("/v1/auctions")
@idempotent
async def publish(request: Request) -> HTTPResponse:
    key = require(request, "supplier", "trader", "operator")
    req: AuctionRequest = decode(request, AuctionRequest)
    if "operator" not in key.roles and ("supplier" if req.side == "sell" else "trader") not in key.roles:
        raise ApiError(403, "FORBIDDEN", "suppliers publish sell auctions, traders buy auctions")
    lots = [LotSpec(receipt_ids=lot.receipt_ids, floor=fen(lot.floor, "floor") if lot.floor else 0)
            for lot in req.lots]
    demand = [DemandLot(quantity_kg=d.quantity_kg, ceiling=fen(d.ceiling, "ceiling"), tolerance_bps=d.tolerance_bps,
                        factors=d.factors, warehouses=d.warehouses) for d in req.demand]
    cmd = PublishAuction(actor=key.member, side=req.side, commodity=req.commodity, lots=lots, demand=demand,
                         opens_ns=req.opens_at_ms * 1_000_000, closes_ns=req.closes_at_ms * 1_000_000,
                         hard_stop_ns=(req.hard_stop_at_ms or 0) * 1_000_000, increment=fen(req.increment, "increment"),
                         base_price=fen(req.base_price, "base_price"), extend_ns=req.extend_seconds * 10**9,
                         deposit=fen(req.deposit, "deposit", "INVALID_AMOUNT"),
                         bond_per_t=fen(req.bond_per_tonne, "bond_per_tonne", "INVALID_AMOUNT"),
                         clean_days=req.clean_days, categories=req.categories, max_lots=req.max_lots,
                         max_kg_per_day=req.max_tonnes_per_day * 1_000, payment_days=req.payment_days)
    auction = await run(request, cmd)
    return respond(auction_view(auction, {key.member}), 201)


@bp.get("/v1/auctions")
async def list_auctions(request: Request) -> HTTPResponse:
    state = query_text(request, AUCTIONS_STATE)
    auctions = request.app.ctx.exchange.state.auctions.auctions.values()
    viewer = viewer_of(request)
    return respond([auction_view(a, viewer) for a in auctions if state is None or a.state == state])


@bp.get("/v1/auctions/<auction_id:int>")
async def get_auction(request: Request, auction_id: int) -> HTTPResponse:
    return respond(auction_view(_auction(request, auction_id), viewer_of(request)))


@bp.post("/v1/auctions/<auction_id:int>/lots/<lot_no:int>/bids")
@idempotent
async def place_bid(request: Request, auction_id: int, lot_no: int) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    req: BidRequest = decode(request, BidRequest)
    _lot(request, auction_id, lot_no)
    record = await run(request, PlaceBid(actor=key.member, auction_id=auction_id, lot_no=lot_no,
                                         price=fen(req.price, "price"), receipt_ids=req.receipt_ids))
    lot = _auction(request, auction_id).lots[lot_no - 1]
    return respond(BidView(auction_id=auction_id, lot_no=lot_no, bid_no=record.seq, price=to_yuan(record.price),
                           leading=lot.best_seq == record.seq, close_ms=lot.close_ns // 1_000_000), 201)


@bp.get("/v1/auctions/<auction_id:int>/bids")
async def bid_log(request: Request, auction_id: int) -> HTTPResponse:
    """Every accepted bid of an auction, oldest first: enough to check each close by the rules."""
    auction, viewer = _auction(request, auction_id), viewer_of(request)
    return respond([BidLogEntry(bid_no=b.seq, lot_no=b.lot_no, price=to_yuan(b.price), at_ms=b.ts_ns // 1_000_000,
                                at_ns=b.ts_ns, bidder=b.member if viewer is None or b.member in viewer else None)
                    for b in auction.bid_log])


@bp.post("/v1/auctions/<auction_id:int>/lots/<lot_no:int>/pay")
@idempotent
async def pay(request: Request, auction_id: int, lot_no: int) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    _lot(request, auction_id, lot_no)
    await run(request, PayLot(actor=key.member, auction_id=auction_id, lot_no=lot_no))
    auction = _auction(request, auction_id)
    return respond(lot_view(auction, auction.lots[lot_no - 1], {key.member}))


@bp.post("/v1/admin/supply/fee")
@idempotent
async def set_fee(request: Request) -> HTTPResponse:
    key = require(request, "operator")
    req: FeeRequest = decode(request, FeeRequest)
    await run(request, SetSupplyFee(actor=key.member, fee_per_t=fen(req.fee_per_tonne, "fee_per_tonne")))
    return respond({"fee_per_tonne": req.fee_per_tonne})


@bp.post("/v1/admin/supply/categories")
@idempotent
async def set_category(request: Request) -> HTTPResponse:
    key = require(request, "operator")
    req: CategoryRequest = decode(request, CategoryRequest)
    await run(request, SetBuyerCategory(actor=key.member, member=req.member, category=req.category))
    return respond({"member": req.member, "category": req.category})
