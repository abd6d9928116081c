"""Listing routes (挂牌 / 摘牌): list a lot at a price or a basis over a forward, or list demand;
take a lot whole or fill demand; counter-offer, accept or decline; renew or withdraw. Prices
yuan a tonne (a basis may be negative: ``basis_sign``), times ms since the Unix epoch."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.listings import (
    AnswerCounter,
    Counter,
    CounterOffer,
    Listing,
    PublishListing,
    RenewListing,
    TakeListing,
    WithdrawListing,
)
from gateway.auctions_api import viewer_of
from gateway.errors import SUPPLY_STATUS, ApiError
from gateway.http import decode, fen, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import to_yuan, yuan_if_set
from gateway.wire import LISTINGS_SIDE, LISTINGS_STATE, Commodity, Price, ReceiptId, Symbol

bp = Blueprint("listings")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


class ListingRequest(msgspec.Struct, **_STRICT):
    side: Literal["sell", "buy"] = "sell"
    commodity: Commodity
    receipt_ids: Annotated[list[ReceiptId], Meta(max_length=50)] = []  # a lot (sell)
    quantity_kg: Annotated[int, Meta(ge=0, le=10**9)] = 0  # demand (buy)
    tolerance_bps: Annotated[int, Meta(ge=0, le=10_000)] = 1_000
    price: Price | None = None  # fixed, yuan a tonne
    forward: Symbol | None = None  # or a basis over this forward's settlement price of the day
    basis: Price = "0"
    basis_sign: Literal["+", "-"] = "+"


class TakeRequest(msgspec.Struct, **_STRICT):
    receipt_ids: Annotated[list[ReceiptId], Meta(max_length=50)] = []  # to fill demand


class CounterRequest(msgspec.Struct, **_STRICT):
    price: Price
    respond_seconds: Annotated[int, Meta(gt=0, le=86_400)] = 600


class CounterView(msgspec.Struct, kw_only=True):
    counter_no: int
    buyer: str | None  # to the listing's owner, the buyer and clearing
    price: str
    deadline_ms: int
    state: str


class ListingView(msgspec.Struct, kw_only=True):
    listing_id: int
    side: str
    owner: str
    commodity: str
    receipt_ids: list[str]
    kg: int
    tolerance_bps: int
    price: str | None  # fixed
    forward: str | None
    basis: str | None
    price_today: str | None  # fixed, or basis + the forward's settlement price of the day
    state: str
    counters: list[CounterView]
    taker: str | None
    deal_price: str | None
    value: str | None
    buyer_fee: str | None
    seller_fee: str | None


def _counter_view(listing: Listing, c: Counter, viewer: set[str] | None) -> CounterView:
    named = viewer is None or listing.owner in viewer or c.buyer in viewer
    return CounterView(counter_no=c.counter_no, buyer=c.buyer if named else None, price=to_yuan(c.price),
                       deadline_ms=c.deadline_ns // 1_000_000, state=c.state)


def listing_view(request: Request, listing: Listing, viewer: set[str] | None) -> ListingView:
    state = request.app.ctx.exchange.state
    today = state.listings.price_of(listing, state.engine)
    named = viewer is None or listing.owner in viewer or listing.taker in viewer
    return ListingView(listing_id=listing.listing_id, side=listing.side, owner=listing.owner,
                       commodity=listing.commodity, receipt_ids=listing.receipt_ids, kg=listing.kg,
                       tolerance_bps=listing.tolerance_bps, price=yuan_if_set(listing.price),
                       forward=listing.forward or None, basis=to_yuan(listing.basis) if listing.forward else None,
                       price_today=yuan_if_set(today), state=listing.state,
                       counters=[_counter_view(listing, c, viewer) for c in listing.counters],
                       taker=(listing.taker or None) if named else None, deal_price=yuan_if_set(listing.deal_price),
                       value=yuan_if_set(listing.value), buyer_fee=yuan_if_set(listing.buyer_fee),
                       seller_fee=yuan_if_set(listing.seller_fee))


def _listing(request: Request, listing_id: int) -> Listing:
    listing = request.app.ctx.exchange.state.listings.listings.get(listing_id)
    if listing is None:
        raise ApiError(404, "LISTING_NOT_FOUND", f"no listing {listing_id}")
    return listing


async def _run(request: Request, command, status: int = 200) -> HTTPResponse:
    listing = (await submit(request, command, SUPPLY_STATUS)).outcome
    return respond(listing_view(request, listing, viewer_of(request)), status)


@bp.post("/v1/listings")
@idempotent
async def publish(request: Request) -> HTTPResponse:
    key = require(request, "supplier", "trader")
    req: ListingRequest = decode(request, ListingRequest)
    if ("supplier" if req.side == "sell" else "trader") not in key.roles:
        raise ApiError(403, "FORBIDDEN", "suppliers list lots, traders list demand")
    if (req.price is None) == (req.forward is None):
        raise ApiError(400, "INVALID_PRICE", "give a price, or a forward and a basis")
    basis = fen(req.basis, "basis") * (-1 if req.basis_sign == "-" else 1)
    return await _run(request, PublishListing(
        actor=key.member, side=req.side, commodity=req.commodity, receipt_ids=req.receipt_ids,
        quantity_kg=req.quantity_kg, tolerance_bps=req.tolerance_bps,
        price=fen(req.price, "price") if req.price is not None else 0, forward=req.forward or "",
        basis=basis if req.forward else 0), 201)


@bp.get("/v1/listings")
async def list_listings(request: Request) -> HTTPResponse:
    state, side = query_text(request, LISTINGS_STATE), query_text(request, LISTINGS_SIDE)
    viewer = viewer_of(request)
    return respond([listing_view(request, listing, viewer)
                    for listing in request.app.ctx.exchange.state.listings.listings.values()
                    if (state == "all" or listing.state == state) and side in (None, listing.side)])


@bp.get("/v1/listings/<listing_id:int>")
async def get_listing(request: Request, listing_id: int) -> HTTPResponse:
    return respond(listing_view(request, _listing(request, listing_id), viewer_of(request)))


@bp.post("/v1/listings/<listing_id:int>/take")
@idempotent
async def take(request: Request, listing_id: int) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    req: TakeRequest = decode(request, TakeRequest)
    _listing(request, listing_id)
    return await _run(request, TakeListing(actor=key.member, listing_id=listing_id, receipt_ids=req.receipt_ids))


@bp.post("/v1/listings/<listing_id:int>/counter-offers")
@idempotent
async def counter(request: Request, listing_id: int) -> HTTPResponse:
    key = require(request, "trader")
    req: CounterRequest = decode(request, CounterRequest)
    _listing(request, listing_id)
    return await _run(request, CounterOffer(actor=key.member, listing_id=listing_id, price=fen(req.price, "price"),
                                            respond_ns=req.respond_seconds * 10**9), 201)


async def _answer(request: Request, listing_id: int, counter_no: int, accept: bool) -> HTTPResponse:
    key = require(request, "supplier")
    _listing(request, listing_id)
    return await _run(request, AnswerCounter(actor=key.member, listing_id=listing_id, counter_no=counter_no,
                                             accept=accept))


@bp.post("/v1/listings/<listing_id:int>/counter-offers/<counter_no:int>/accept")
@idempotent
async def accept(request: Request, listing_id: int, counter_no: int) -> HTTPResponse:
    return await _answer(request, listing_id, counter_no, True)


@bp.post("/v1/listings/<listing_id:int>/counter-offers/<counter_no:int>/decline")
@idempotent
async def decline(request: Request, listing_id: int, counter_no: int) -> HTTPResponse:
    return await _answer(request, listing_id, counter_no, False)


@bp.post("/v1/listings/<listing_id:int>/renew")
@idempotent
async def renew(request: Request, listing_id: int) -> HTTPResponse:
    key = require(request, "supplier", "trader")
    _listing(request, listing_id)
    return await _run(request, RenewListing(actor=key.member, listing_id=listing_id))


@bp.delete("/v1/listings/<listing_id:int>")
@idempotent
async def withdraw(request: Request, listing_id: int) -> HTTPResponse:
    key = require(request, "supplier", "trader")
    _listing(request, listing_id)
    return await _run(request, WithdrawListing(actor=key.member, listing_id=listing_id))
