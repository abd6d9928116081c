"""Order routes: place (idempotent by client_order_id), get, list, cancel, amend and cancel
all; the member's fills. The rules of order entry live in gateway/order_entry.py (shared with
the WebSocket's ``order.*`` messages); an answer is sent once the command's batch is committed."""

from sanic import Blueprint, HTTPResponse, Request

from exchange.views import OrderRecord, OrderViews
from gateway import order_entry, order_history
from gateway.http import query_int, query_text, respond
from gateway.idempotency import idempotent
from gateway.order_entry import Answer
from gateway.wire import FILLS_LIMIT, ORDERS_BEFORE, ORDERS_LIMIT, ORDERS_STATUS, fill_view, order_view

bp = Blueprint("orders")


def views(request: Request) -> OrderViews:
    return request.app.ctx.exchange.views


def answer(a: Answer) -> HTTPResponse:
    return respond(a.body, a.status)


@bp.post("/v1/orders")
@idempotent
async def new_order(request: Request) -> HTTPResponse:
    return answer(await order_entry.new_order(request.app.ctx.exchange, request.ctx.key, request.body))


@bp.get("/v1/orders/<order_id:int>")
async def get_order(request: Request, order_id: int) -> HTTPResponse:
    exchange = request.app.ctx.exchange
    return respond(order_view(await order_entry.own_order(exchange, request.ctx.key.member, order_id)))


@bp.get("/v1/orders")
async def list_orders(request: Request) -> HTTPResponse:
    member = request.ctx.key.member
    limit, before = query_int(request, ORDERS_LIMIT), query_int(request, ORDERS_BEFORE)
    if query_text(request, ORDERS_STATUS) == "open":  # all of them (from memory) unless a page is asked for
        found = [o for o in views(request).open_orders(member) if not before or o.order_id < before]
        return respond([order_view(o) for o in (found[-limit:] if ORDERS_LIMIT.name in request.args else found)])
    return respond([order_view(o) for o in await all_orders(request, member, limit, before)])


@bp.delete("/v1/orders/<order_id:int>")
@idempotent
async def cancel_order(request: Request, order_id: int) -> HTTPResponse:
    return answer(await order_entry.cancel_order(request.app.ctx.exchange, request.ctx.key, order_id))


@bp.patch("/v1/orders/<order_id:int>")
@idempotent
async def amend_order(request: Request, order_id: int) -> HTTPResponse:
    return answer(await order_entry.amend_order(request.app.ctx.exchange, request.ctx.key, order_id, request.body))


@bp.post("/v1/orders/cancel-all")
@idempotent
async def cancel_all(request: Request) -> HTTPResponse:
    return answer(await order_entry.cancel_all(request.app.ctx.exchange, request.ctx.key, request.body))


@bp.get("/v1/fills")
async def fills(request: Request) -> HTTPResponse:
    limit, member = query_int(request, FILLS_LIMIT), request.ctx.key.member
    kept = views(request).member_fills(member, limit)
    if kept is None:  # older fills left memory
        kept = await order_history.fills(request.app.ctx.exchange, member, limit)
    return respond([fill_view(f) for f in kept])


async def all_orders(request: Request, member: str, limit: int, before: int) -> list[OrderRecord]:
    """The member's newest ``limit`` orders with ids below ``before`` (0: any), by order id:
    those in memory as memory has them, the rest from SQL."""
    in_memory = {o.order_id: o for o in views(request).member_orders(member) if not before or o.order_id < before}
    stored = await order_history.orders(request.app.ctx.exchange, member, limit=limit, before=before)
    merged = {o.order_id: o for o in stored} | in_memory
    return [merged[k] for k in sorted(merged)[-limit:]]
