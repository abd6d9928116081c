"""Operator routes: list instruments and move their sessions, create members and their API
keys, list members. (An instrument's delivery terms and fees are set by the receipt and
clearing routes.)"""

from sanic import Blueprint, HTTPResponse, Request

from engine import AddInstrument, SetSession
from gateway.errors import ENGINE_STATUS, ApiError, rejected
from gateway.http import decode, fen, require, respond, submit
from gateway.members import MemberExists, UnknownMember, create_key, create_member
from gateway.wire import InstrumentRequest, MemberRequest, SessionRequest, instrument_view

bp = Blueprint("admin")


async def run(request: Request, command) -> None:
    """Sequence an engine command; its rejection becomes an error answer."""
    result = await submit(request, command, ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err


@bp.post("/v1/admin/instruments")
async def add_instrument(request: Request) -> HTTPResponse:
    require(request, "operator")
    req: InstrumentRequest = decode(request, InstrumentRequest)
    await run(request, AddInstrument(symbol=req.symbol, tick=fen(req.tick, "tick"), lot_size=req.lot_size,
                                     ref_price=fen(req.ref_price, "ref_price"), band_bps=req.band_bps,
                                     max_limit_qty=req.max_limit_qty, max_market_qty=req.max_market_qty,
                                     protection_ticks=req.protection_ticks))
    return respond(instrument_view(request.app.ctx.exchange.engine.instruments[req.symbol]), 201)


@bp.post("/v1/admin/instruments/<symbol>/session")
async def set_session(request: Request, symbol: str) -> HTTPResponse:
    require(request, "operator")
    req: SessionRequest = decode(request, SessionRequest)
    await run(request, SetSession(symbol, req.state))
    return respond(instrument_view(request.app.ctx.exchange.engine.instruments[symbol]))


@bp.post("/v1/admin/members")
async def add_member(request: Request) -> HTTPResponse:
    require(request, "operator")
    req: MemberRequest = decode(request, MemberRequest)
    ctx = request.app.ctx
    try:
        creds = await create_member(ctx.pool, ctx.auth, req.member, sorted(set(req.roles)))
    except MemberExists:
        raise ApiError(409, "MEMBER_EXISTS", f"member {req.member} exists") from None
    ctx.members[req.member] = frozenset(creds.roles)
    return respond(creds, 201)


@bp.post("/v1/admin/members/<member>/keys")
async def add_key(request: Request, member: str) -> HTTPResponse:
    require(request, "operator")
    try:
        return respond(await create_key(request.app.ctx.pool, request.app.ctx.auth, member), 201)
    except UnknownMember:
        raise ApiError(404, "UNKNOWN_MEMBER", f"no member {member}") from None


@bp.get("/v1/admin/members")
async def list_members(request: Request) -> HTTPResponse:
    require(request, "operator", "clearing")
    rows = await request.app.ctx.pool.fetch("SELECT member, roles FROM members ORDER BY member")
    return respond([{"member": r["member"], "roles": list(r["roles"])} for r in rows])
