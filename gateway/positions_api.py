"""Forward positions and margin calls: a member's own, or any member's for clearing staff."""


import msgspec
from sanic import Blueprint, HTTPResponse, Request

from clearing.forwards import Forwards, MarginCall, Position
from clearing.ledger import cash, margin
from gateway.errors import ApiError
from gateway.http import query_text, require, respond
from gateway.prices import iso, to_yuan
from gateway.wire import MEMBER_FILTER

bp = Blueprint("positions")


class PositionView(msgspec.Struct, kw_only=True):
    symbol: str
    net: int  # lots: > 0 long, < 0 short
    open_buy: int  # lots of open buy orders
    open_sell: int
    average_open_price: str  # yuan a tonne
    settlement_price: str  # the last settlement price
    realised: str  # yuan, closes against the average open price
    unrealised: str  # yuan, at the last settlement price
    margin_per_lot: str
    margin_required: str  # yuan: the largest position open orders could create × margin a lot


class PositionsView(msgspec.Struct, kw_only=True):
    member: str
    cash_available: str
    margin_held: str
    margin_required: str
    positions: list[PositionView]


class MarginCallView(msgspec.Struct, kw_only=True):
    call_id: int
    member: str
    amount: str  # yuan short when called
    deadline: str
    state: str  # open, met, liquidating, closed


def _forwards(request: Request) -> Forwards:
    return request.app.ctx.exchange.state.forwards


def _member(request: Request) -> str:
    """The member asked about: one's own, or ``?member=`` for clearing staff."""
    key = request.ctx.key
    member = query_text(request, MEMBER_FILTER) or key.member
    if member != key.member:
        require(request, "clearing")
    if len(member) > 32:  # as wire.MemberName
        raise ApiError(400, "INVALID_REQUEST", "member is at most 32 characters")
    return member


def position_view(forwards: Forwards, p: Position) -> PositionView:
    per_lot, settle = forwards.per_lot(p.symbol), forwards.markets[p.symbol].settle
    lot_kg = forwards.lot_kg[p.symbol]
    unrealised = (settle - p.open_price) * p.net * lot_kg // 1_000 if p.net else 0
    return PositionView(symbol=p.symbol, net=p.net, open_buy=p.buy_leaves, open_sell=p.sell_leaves,
                        average_open_price=to_yuan(p.open_price), settlement_price=to_yuan(settle),
                        realised=to_yuan(p.realised), unrealised=to_yuan(unrealised), margin_per_lot=to_yuan(per_lot),
                        margin_required=to_yuan(p.exposure() * per_lot))


def positions_view(forwards: Forwards, ledger, member: str) -> PositionsView:
    rows = [forwards.positions[(member, s)] for s in forwards.by_member.get(member, ())]
    return PositionsView(member=member, cash_available=to_yuan(ledger.balance(cash(member))),
                         margin_held=to_yuan(ledger.balance(margin(member))),
                         margin_required=to_yuan(forwards.requirement(member)),
                         positions=[position_view(forwards, p) for p in rows if p.net or p.exposure()])


def call_view(call: MarginCall) -> MarginCallView:
    return MarginCallView(call_id=call.call_id, member=call.member, amount=to_yuan(call.amount),
                          deadline=iso(call.deadline_ns), state=call.state)


@bp.get("/v1/positions")
async def positions(request: Request) -> HTTPResponse:
    state = request.app.ctx.exchange.state
    return respond(positions_view(state.forwards, state.clearing.ledger, _member(request)))


@bp.get("/v1/margin-calls")
async def margin_calls(request: Request) -> HTTPResponse:
    """One's own margin calls; clearing staff see every member's (or ``?member=``)."""
    forwards, key = _forwards(request), request.ctx.key
    if "clearing" in key.roles and query_text(request, MEMBER_FILTER) is None:
        calls = list(forwards.calls.values())
    else:
        member = _member(request)
        calls = [c for c in forwards.calls.values() if c.member == member]
    return respond([call_view(c) for c in calls])
