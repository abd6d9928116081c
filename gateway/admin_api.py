"""Operator routes: the instrument catalogue (list an instrument, its delivery terms and fees:
each change one ``SetInstrument`` of the whole spec, based on the version it changes), sessions
(now or scheduled), members and their API keys."""

import msgspec
from msgspec.structs import replace
from sanic import Blueprint, HTTPResponse, Request

from clearing.core import Fees
from clearing.forward_terms import ForwardTerms, MarginStep, PositionLimit
from engine import SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.clock import ScheduleSession
from gateway.auth import derive_secret
from gateway.errors import CLEARING_STATUS, ENGINE_STATUS, ApiError, rejected
from gateway.http import decode, fen, require, respond, submit
from gateway.idempotency import idempotent
from gateway.members import MemberExists, UnknownMember, create_key, create_member
from gateway.prices import signed_fen, to_yuan
from gateway.wire import (
    ClockRequest,
    ClockView,
    DeliverySpecRequest,
    FeesRequest,
    ForwardTermsRequest,
    InstrumentRequest,
    MemberRequest,
    ScheduleRequest,
    SessionRequest,
    instrument_view,
)
from warehouse_receipts.registry import DeliverySpec

bp = Blueprint("admin")


async def run(request: Request, command) -> None:
    """Sequence an engine command; its rejection becomes an error answer."""
    result = await submit(request, command, ENGINE_STATUS)
    if (err := rejected(result.events)) is not None:
        raise err


async def set_spec(request: Request, spec: InstrumentSpec, base_version: int) -> InstrumentSpec:
    """Journal ``SetInstrument``; the new spec, or the refusal as an error answer."""
    key = require(request, "operator")
    return (await submit(request, SetInstrument(actor=key.member, spec=spec, base_version=base_version),
                         CLEARING_STATUS)).outcome


def current_spec(request: Request, symbol: str) -> InstrumentSpec:
    spec = request.app.ctx.exchange.state.catalogue.specs.get(symbol)
    if spec is None:
        raise ApiError(404, "UNKNOWN_INSTRUMENT", f"no instrument {symbol}")
    return spec


@bp.post("/v1/admin/instruments")
@idempotent
async def add_instrument(request: Request) -> HTTPResponse:
    require(request, "operator")
    req: InstrumentRequest = decode(request, InstrumentRequest)
    spec = InstrumentSpec(symbol=req.symbol, kind="forward", lot_size=req.lot_size, tick=fen(req.tick, "tick"),
                          ref_price=fen(req.ref_price, "ref_price"), band_bps=req.band_bps,
                          max_limit_qty=req.max_limit_qty, max_market_qty=req.max_market_qty,
                          protection_ticks=req.protection_ticks)
    await set_spec(request, spec, 0)
    return respond(instrument_view(request.app.ctx.exchange.engine.instruments[req.symbol]), 201)


@bp.post("/v1/admin/instruments/<symbol>/delivery")
@idempotent
async def delivery_terms(request: Request, symbol: str) -> HTTPResponse:
    """Make an instrument receipt-backed (spot): its sells lock deliverable receipts, one a lot."""
    require(request, "operator")
    req: DeliverySpecRequest = decode(request, DeliverySpecRequest)
    spec = current_spec(request, symbol)
    delivery = DeliverySpec(symbol=symbol, commodity=req.commodity, table=req.table, warehouses=req.warehouses)
    await set_spec(request, replace(spec, kind="spot", commodity=req.commodity, delivery=delivery), spec.version)
    return respond({"symbol": symbol, "commodity": req.commodity, "table": req.table, "warehouses": req.warehouses})


@bp.post("/v1/admin/instruments/<symbol>/fees")
@idempotent
async def set_fees(request: Request, symbol: str) -> HTTPResponse:
    require(request, "operator")
    req: FeesRequest = decode(request, FeesRequest)
    spec = current_spec(request, symbol)
    fees = Fees(per_lot=fen(req.per_lot, "per_lot"), rate_ppm=req.rate_ppm)
    await set_spec(request, replace(spec, fees=fees), spec.version)
    return respond({"symbol": symbol, "per_lot": to_yuan(fees.per_lot), "rate_ppm": req.rate_ppm})


@bp.post("/v1/admin/instruments/<symbol>/forward")
@idempotent
async def forward_terms(request: Request, symbol: str) -> HTTPResponse:
    """Make an instrument a margined forward: margin, limits, daily settlement, delivery."""
    require(request, "operator")
    req: ForwardTermsRequest = decode(request, ForwardTermsRequest)
    spec = current_spec(request, symbol)
    fields = msgspec.structs.asdict(req)
    fields["margin"] = [MarginStep(from_date=m.from_date, rate_bps=m.rate_bps) for m in req.margin]
    fields["position_limits"] = [PositionLimit(from_date=p.from_date, lots=p.lots) for p in req.position_limits]
    fields["delivery_fee_per_tonne"] = fen(req.delivery_fee_per_tonne, "delivery_fee_per_tonne")
    fields["location_differentials"] = {w: signed_fen(d) for w, d in req.location_differentials.items()}
    terms = ForwardTerms(**fields, margined=True)
    await set_spec(request, replace(spec, kind="forward", forward=terms), spec.version)
    return respond(req)


@bp.post("/v1/admin/clock")
@idempotent
async def advance_clock(request: Request) -> HTTPResponse:
    """Drills and tests only (``COMMEX_SIMULATED_CLOCK=1``): move the sequencer's clock forward,
    so deadlines fall due without waiting; refused (404) on a real exchange."""
    require(request, "operator")
    exchange = request.app.ctx.exchange
    if not exchange.simulated_clock:
        raise ApiError(404, "CLOCK_NOT_SIMULATED", "the clock is real: start with COMMEX_SIMULATED_CLOCK=1")
    req: ClockRequest = decode(request, ClockRequest)
    exchange.clock_offset_ns += req.advance_ms * 1_000_000
    exchange.wake()
    return respond(ClockView(now_ms=exchange.now_ns() // 1_000_000, offset_ms=exchange.clock_offset_ns // 1_000_000))


@bp.post("/v1/admin/instruments/<symbol>/schedule")
@idempotent
async def schedule_session(request: Request, symbol: str) -> HTTPResponse:
    """Move the session at a given time: the sequencer journals a clock tick when it is due."""
    key = require(request, "operator")
    req: ScheduleRequest = decode(request, ScheduleRequest)
    current_spec(request, symbol)
    timer = (await submit(request, ScheduleSession(actor=key.member, symbol=symbol, state=req.state,
                                                   at_ns=req.at_ms * 1_000_000), CLEARING_STATUS)).outcome
    return respond({"symbol": symbol, "state": req.state, "at_ms": timer.due_ns // 1_000_000}, 201)


@bp.post("/v1/admin/instruments/<symbol>/session")
@idempotent
async def set_session(request: Request, symbol: str) -> HTTPResponse:
    require(request, "operator")
    req: SessionRequest = decode(request, SessionRequest)
    await run(request, SetSession(symbol, req.state))
    return respond(instrument_view(request.app.ctx.exchange.engine.instruments[symbol]))


def without_secret(request: Request, body: bytes) -> bytes:
    """Credentials as stored for a retry: without the secret, which is never stored."""
    data = msgspec.json.decode(body)
    if isinstance(data, dict):
        data.pop("api_secret", None)
    return msgspec.json.encode(data)


def with_secret(request: Request, body: bytes) -> bytes:
    """Stored credentials as answered again: the secret derived anew from the api key."""
    data = msgspec.json.decode(body)
    if isinstance(data, dict) and "api_key" in data:
        data["api_secret"] = derive_secret(request.app.ctx.auth.master, data["api_key"])
    return msgspec.json.encode(data)


@bp.post("/v1/admin/members")
@idempotent(store=without_secret, replay=with_secret)
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
@idempotent(store=without_secret, replay=with_secret)
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
