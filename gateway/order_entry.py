"""Order entry, one definition for both doors: the REST routes (gateway/orders_api.py) and the
``order.*`` messages of ``/v1/ws`` (gateway/ws_orders.py).

Each operation takes the sequencer, the caller's key and the request body as sent (bytes),
checks the role, decodes the body into the REST Struct, submits the command and returns an
``Answer`` (HTTP status and body Struct). A refusal raises ApiError with the same status, code
and message through either door. An answer is given once the command's batch is committed
(``exchange.submit``): acknowledged means durable."""

from typing import Any, NamedTuple

from engine import AmendOrder, CancelOrder, MassCancel, NewOrder
from exchange.journal import Entry
from exchange.result import Result
from exchange.views import TERMINAL, OrderRecord
from gateway import order_history
from gateway.auth import ApiKey
from gateway.errors import ENGINE_STATUS, ApiError, rejected, status_of
from gateway.http import fen, parse, submit_to
from gateway.wire import AmendRequest, CancelAllRequest, CancelAllResponse, OrderRequest, order_view

TRADING_ROLES = ("trader", "supplier")


class Answer(NamedTuple):
    """What the route answers: an HTTP status and a body to encode as JSON."""

    status: int
    body: Any


def require_trading(key: ApiKey) -> None:
    """403 unless the key may trade."""
    if not key.roles.intersection(TRADING_ROLES):
        raise ApiError(403, "FORBIDDEN", f"needs one of the roles: {', '.join(TRADING_ROLES)}")


async def own_order(exchange, member: str, order_id: int) -> OrderRecord:
    """The member's order ``order_id`` (from memory, or from SQL once it left memory), or 404."""
    view = exchange.views.lookup(member, order_id)
    if view is None:
        view = await order_history.order(exchange, member, order_id)
    if view is None:
        raise ApiError(404, "ORDER_NOT_FOUND", f"no order {order_id}")
    return view


async def open_order(exchange, member: str, order_id: int) -> OrderRecord:
    """The member's order ``order_id`` if it is still open, else 404 or 409."""
    view = await own_order(exchange, member, order_id)
    if view.status in TERMINAL:
        raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
    return view


def admit_new(exchange, key: ApiKey, body: bytes) -> tuple[OrderRequest, OrderRecord | None]:
    """The checks before a new order is queued (the key may trade, the body decodes; ApiError
    if not), and the first answer already given to its client order id, if any."""
    require_trading(key)
    req: OrderRequest = parse(body, OrderRequest)
    return req, exchange.state.first_answer(key.member, req.client_order_id)


def new_entry(member: str, req: OrderRequest) -> Entry:
    """The journal entry of a new order."""
    price = fen(req.price, "price") if req.type == "limit" else 0
    cmd = NewOrder(member=member, symbol=req.symbol, side=req.side, quantity=req.quantity, price=price,
                   order_type=req.type, tif=req.time_in_force, post_only=req.post_only,
                   display_quantity=req.display_quantity, min_quantity=req.min_quantity, stp=req.stp)
    return Entry(cmd, req.client_order_id, req.receipt_ids)


def counted(exchange, result: Result) -> OrderRecord:
    """A new order's view once committed, counted (a retried client order id is not counted again)."""
    if not result.duplicate:
        exchange.metrics.orders.labels("rejected" if result.view.status == "REJECTED" else "accepted").inc()
    return result.view


def placed(view: OrderRecord) -> Answer:
    """The answer to a new order: 201 and the order, or its rejection (ApiError)."""
    if view.status == "REJECTED":
        code = view.reject_code or "REJECTED"
        raise ApiError(status_of(code, ENGINE_STATUS), code, f"order rejected: {code}")
    return Answer(201, order_view(view))


async def new_order(exchange, key: ApiKey, body: bytes) -> Answer:
    """Place an order, once per ``client_order_id``: a retry gets the order as it stands (201)."""
    req, view = admit_new(exchange, key, body)
    if view is None:
        view = counted(exchange, await exchange.submit(new_entry(key.member, req)))
    return placed(await order_history.answer(exchange, key.member, view))  # if it left memory


async def cancel_order(exchange, key: ApiKey, order_id: int) -> Answer:
    """Cancel an open order; the answer is the order after the cancel."""
    require_trading(key)
    view = await open_order(exchange, key.member, order_id)
    result = await submit_to(exchange, CancelOrder(key.member, order_id), ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        if err.code == "UNKNOWN_ORDER":  # it finished while the cancel waited in the queue
            raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
        raise err
    return Answer(200, order_view(view))


async def amend_order(exchange, key: ApiKey, order_id: int, body: bytes) -> Answer:
    """Change an open order's price and/or quantity; the answer is the order after the amend."""
    require_trading(key)
    req: AmendRequest = parse(body, AmendRequest)
    if req.price is None and req.quantity is None:
        raise ApiError(400, "INVALID_REQUEST", "give price and/or quantity")
    if req.quantity == 0:  # well-formed but against the rules: 422, as a new order's is
        raise ApiError(422, "INVALID_QUANTITY", "quantity must be positive")
    view = await open_order(exchange, key.member, order_id)
    price = fen(req.price, "price") if req.price is not None else 0
    if req.price is not None and price <= 0:
        raise ApiError(422, "INVALID_PRICE", "price must be positive")
    cmd = AmendOrder(member=key.member, order_id=order_id, price=price, quantity=req.quantity or 0)
    result = await submit_to(exchange, cmd, ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err
    return Answer(200, order_view(view))


async def cancel_all(exchange, key: ApiKey, body: bytes) -> Answer:
    """Cancel the member's open orders (on one symbol, if given): how many, and the engine seq."""
    require_trading(key)
    req: CancelAllRequest = parse(body, CancelAllRequest)
    result = await submit_to(exchange, MassCancel(member=key.member, symbol=req.symbol or ""), ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err
    summary = result.events[-1]
    return Answer(200, CancelAllResponse(canceled=summary.count, seq=summary.seq))
