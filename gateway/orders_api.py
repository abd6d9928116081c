"""Order routes: place (idempotent by client_order_id), get, list, cancel, amend and cancel
all; the member's fills. An answer is sent once the command's batch is committed."""

from sanic import Blueprint, HTTPResponse, Request

from engine import AmendOrder, CancelOrder, MassCancel, NewOrder
from exchange.journal import Entry
from exchange.views import TERMINAL, OrderRecord, OrderViews
from gateway import order_history
from gateway.errors import ENGINE_STATUS, ApiError, error, rejected, status_of
from gateway.http import decode, fen, query_int, require, respond, submit
from gateway.idempotency import idempotent
from gateway.wire import (
    FILLS_LIMIT,
    AmendRequest,
    CancelAllRequest,
    CancelAllResponse,
    OrderRequest,
    fill_view,
    order_view,
)

bp = Blueprint("orders")
TRADING_ROLES = ("trader", "supplier")


def views(request: Request) -> OrderViews:
    return request.app.ctx.exchange.views


async def own_order(request: Request, order_id: int) -> OrderRecord:
    """The caller's order ``order_id`` (from memory, or from SQL once it left memory), or 404."""
    member = request.ctx.key.member
    view = views(request).lookup(member, order_id)
    if view is None:
        view = await order_history.order(order_history.pool(request), member, order_id)
    if view is None:
        raise ApiError(404, "ORDER_NOT_FOUND", f"no order {order_id}")
    return view


async def open_order(request: Request, order_id: int) -> OrderRecord:
    """The caller's order ``order_id`` if it is still open, else 404 or 409."""
    view = await own_order(request, order_id)
    if view.status in TERMINAL:
        raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
    return view


async def place(request: Request, member: str, req: OrderRequest) -> OrderRecord:
    """Sequence a new order and count it (a retried client order id is not counted again)."""
    exchange = request.app.ctx.exchange
    price = fen(req.price, "price") if req.type == "limit" else 0
    cmd = NewOrder(member=member, symbol=req.symbol, side=req.side, quantity=req.quantity, price=price,
                   order_type=req.type, tif=req.time_in_force, post_only=req.post_only,
                   display_quantity=req.display_quantity, min_quantity=req.min_quantity, stp=req.stp)
    result = await exchange.submit(Entry(cmd, req.client_order_id, req.receipt_ids))
    if not result.duplicate:
        exchange.metrics.orders.labels("rejected" if result.view.status == "REJECTED" else "accepted").inc()
    return result.view


@bp.post("/v1/orders")
@idempotent
async def new_order(request: Request) -> HTTPResponse:
    key = require(request, *TRADING_ROLES)
    req: OrderRequest = decode(request, OrderRequest)
    view = request.app.ctx.exchange.state.first_answer(key.member, req.client_order_id)
    if view is None:
        view = await place(request, key.member, req)
    view = await order_history.answer(order_history.pool(request), key.member, view)  # it left memory
    if view.status == "REJECTED":
        code = view.reject_code or "REJECTED"
        return error(status_of(code, ENGINE_STATUS), code, f"order rejected: {code}")
    return respond(order_view(view), 201)


@bp.get("/v1/orders/<order_id:int>")
async def get_order(request: Request, order_id: int) -> HTTPResponse:
    return respond(order_view(await own_order(request, order_id)))


@bp.get("/v1/orders")
async def list_orders(request: Request) -> HTTPResponse:
    member = request.ctx.key.member
    status = request.args.get("status", "open")
    if status == "open":
        return respond([order_view(o) for o in views(request).open_orders(member)])
    if status == "all":
        return respond([order_view(o) for o in await all_orders(request, member)])
    raise ApiError(400, "INVALID_REQUEST", "status must be open or all")


@bp.delete("/v1/orders/<order_id:int>")
@idempotent
async def cancel_order(request: Request, order_id: int) -> HTTPResponse:
    key = require(request, *TRADING_ROLES)
    view = await open_order(request, order_id)
    result = await submit(request, CancelOrder(key.member, order_id), ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        if err.code == "UNKNOWN_ORDER":  # it finished while the cancel waited in the queue
            raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
        raise err
    return respond(order_view(view))


@bp.patch("/v1/orders/<order_id:int>")
@idempotent
async def amend_order(request: Request, order_id: int) -> HTTPResponse:
    key = require(request, *TRADING_ROLES)
    req: AmendRequest = decode(request, AmendRequest)
    if req.price is None and req.quantity is None:
        raise ApiError(400, "INVALID_REQUEST", "give price and/or quantity")
    if req.quantity == 0:
        raise ApiError(400, "INVALID_QUANTITY", "quantity must be positive")
    view = await open_order(request, order_id)
    price = fen(req.price, "price") if req.price is not None else 0
    if req.price is not None and price <= 0:
        raise ApiError(400, "INVALID_PRICE", "price must be positive")
    cmd = AmendOrder(member=key.member, order_id=order_id, price=price, quantity=req.quantity or 0)
    result = await submit(request, cmd, ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err
    return respond(order_view(view))


@bp.post("/v1/orders/cancel-all")
@idempotent
async def cancel_all(request: Request) -> HTTPResponse:
    key = require(request, *TRADING_ROLES)
    req: CancelAllRequest = decode(request, CancelAllRequest)
    result = await submit(request, MassCancel(member=key.member, symbol=req.symbol or ""), ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err
    summary = result.events[-1]
    return respond(CancelAllResponse(canceled=summary.count, seq=summary.seq))


@bp.get("/v1/fills")
async def fills(request: Request) -> HTTPResponse:
    limit, member = query_int(request, FILLS_LIMIT), request.ctx.key.member
    kept = views(request).member_fills(member, limit)
    if kept is None:  # older fills left memory
        kept = await order_history.fills(order_history.pool(request), member, limit)
    return respond([fill_view(f) for f in kept])


async def all_orders(request: Request, member: str) -> list[OrderRecord]:
    """Every order of the member: those in memory, the rest from SQL, by order id."""
    in_memory = {o.order_id: o for o in views(request).member_orders(member)}
    stored = await order_history.orders(order_history.pool(request), member)
    merged = {o.order_id: o for o in stored} | in_memory
    return [merged[k] for k in sorted(merged)]
