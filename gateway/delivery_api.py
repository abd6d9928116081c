"""A forward's delivery over HTTP: shorts tender receipts, longs state the warehouse they
prefer, clearing staff run the allocation (配对) once; everyone sees the allocation before
(tenders, intents, deadlines) and after (the lines, how each settled). The rules are in
``clearing/delivery.py``."""

from typing import Annotated

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.delivery import AllocateDelivery, Allocation, DeliveryIntent, DeliveryLine, Intent, TenderReceipts
from gateway.errors import DELIVERY_STATUS, ApiError
from gateway.http import decode, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import to_yuan, with_yuan, yuan_or_none

bp = Blueprint("delivery")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}
ReceiptId = Annotated[str, Meta(min_length=1, max_length=32)]


class TenderRequest(msgspec.Struct, **_STRICT):
    receipt_ids: Annotated[list[ReceiptId], Meta(min_length=1, max_length=1_000)]


class IntentRequest(msgspec.Struct, **_STRICT):
    warehouse: Annotated[str, Meta(max_length=64, description="the warehouse preferred (empty: none)")] = ""
    early: Annotated[bool, Meta(description="apply for rolling delivery in the delivery month")] = False


class TenderView(msgspec.Struct, kw_only=True):
    member: str
    receipt_ids: list[str]
    lots: int


class IntentView(msgspec.Struct, kw_only=True):
    member: str
    warehouse: str | None
    early: bool


class LineView(msgspec.Struct, kw_only=True):
    line_id: int
    kind: str  # receipt, delivery_default, unmatched
    state: str  # allocated, delivered, payment_default, delivery_default, closed
    short: str
    long: str
    lots: int
    receipt_id: str | None
    warehouse: str | None
    weight_kg: int
    premium: str  # yuan a tonne
    differential: str  # yuan a tonne
    value: str  # yuan the long pays the short
    fee: str  # yuan of delivery fee, each side
    penalty: str
    penalty_paid: str


class AllocationView(msgspec.Struct, kw_only=True):
    symbol: str
    state: str  # tendering, allocated, settled
    last_trading_day: int
    tender_deadline: int  # the end of this trading day
    payment_deadline: int
    final_price: str | None
    allocated_on: int | None
    tenders: list[TenderView]
    intents: list[IntentView]
    lines: list[LineView]
    preview: list[LineView]  # before allocation: the lines it would make if run now (line_id 0)
    rolled: list[LineView]  # rolling deliveries before the last trading day, each at its day's settlement price


MONEY_KEYS = frozenset({"value", "fee", "penalty", "paid", "received", "final_price"})


def notice_view(notice: dict) -> dict:
    """A delivery notice for the private stream: its money (fen in the core) as yuan strings."""
    return with_yuan(notice, MONEY_KEYS)


def _forward(request: Request, symbol: str) -> None:
    """404 unless ``symbol`` is a margined forward (checked before anything is journaled)."""
    if symbol not in request.app.ctx.exchange.state.delivery.terms:
        raise ApiError(404, "UNKNOWN_INSTRUMENT", f"{symbol} is not a margined forward")


def intent_view(i: Intent) -> IntentView:
    return IntentView(member=i.member, warehouse=i.warehouse or None, early=i.early)


def line_view(line: DeliveryLine) -> LineView:
    return LineView(line_id=line.line_id, kind=line.kind, state=line.state, short=line.short, long=line.long,
                    lots=line.lots, receipt_id=line.receipt_id or None, warehouse=line.warehouse or None,
                    weight_kg=line.weight_kg, premium=to_yuan(line.premium), differential=to_yuan(line.differential),
                    value=to_yuan(line.value), fee=to_yuan(line.fee), penalty=to_yuan(line.penalty),
                    penalty_paid=to_yuan(line.penalty_paid))


def allocation_view(request: Request, symbol: str) -> AllocationView:
    """The delivery of ``symbol`` as the caller may see it: clearing everything, a member its own
    tenders, intents and lines; before allocation, the lines it would make if run now."""
    key, state = request.ctx.key, request.app.ctx.exchange.state
    delivery, registry = state.delivery, state.registry
    sees = (lambda member: True) if "clearing" in key.roles else (lambda member: member == key.member)
    allocation: Allocation | None = delivery.allocations.get(symbol)
    tenders = [TenderView(member=m, receipt_ids=list(ids), lots=delivery.tendered_lots(registry, symbol, m))
               for m, ids in sorted(delivery.tenders.get(symbol, {}).items()) if sees(m)]
    intents = [intent_view(i) for m, i in sorted(delivery.intents.get(symbol, {}).items()) if sees(m)]
    lines = [line_view(line) for line in (allocation.lines if allocation else ()) if sees(line.short)
             or sees(line.long)]
    planned = delivery.plan(symbol, registry, state.forwards, state.engine.instruments)[1] if not allocation else []
    preview = [line_view(line) for line in planned if sees(line.short) or sees(line.long)]
    rolled = [line_view(line) for roll in delivery.rolls if roll.symbol == symbol for line in roll.lines
              if sees(line.short) or sees(line.long)]
    final = delivery.final.get(symbol)
    stage = "tendering" if allocation is None else "settled" if allocation.settled else "allocated"
    return AllocationView(symbol=symbol, state=stage, last_trading_day=delivery.terms[symbol].last_trading_day,
                          tender_deadline=delivery.tender_deadline(symbol),
                          payment_deadline=delivery.payment_deadline(symbol),
                          final_price=yuan_or_none(final),
                          allocated_on=allocation.trading_date if allocation else None, tenders=tenders,
                          intents=intents, lines=lines, preview=preview, rolled=rolled)


@bp.post("/v1/delivery/<symbol>/tenders")
@idempotent
async def tender(request: Request, symbol: str) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    _forward(request, symbol)
    req: TenderRequest = decode(request, TenderRequest)
    result = await submit(request, TenderReceipts(actor=key.member, member=key.member, symbol=symbol,
                                                  receipt_ids=req.receipt_ids), DELIVERY_STATUS)
    t = result.outcome
    return respond(TenderView(member=t.member, receipt_ids=t.receipt_ids, lots=t.lots))


@bp.post("/v1/delivery/<symbol>/intents")
@idempotent
async def intent(request: Request, symbol: str) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    _forward(request, symbol)
    req: IntentRequest = decode(request, IntentRequest)
    result = await submit(request, DeliveryIntent(actor=key.member, member=key.member, symbol=symbol,
                                                  warehouse=req.warehouse, early=req.early), DELIVERY_STATUS)
    return respond(intent_view(result.outcome))


@bp.post("/v1/clearing/delivery/<symbol>/allocate")
@idempotent
async def allocate(request: Request, symbol: str) -> HTTPResponse:
    key = require(request, "clearing")
    _forward(request, symbol)
    await submit(request, AllocateDelivery(actor=key.member, symbol=symbol), DELIVERY_STATUS)
    return respond(allocation_view(request, symbol), 201)


@bp.get("/v1/delivery/<symbol>/allocation")
async def allocation(request: Request, symbol: str) -> HTTPResponse:
    _forward(request, symbol)
    return respond(allocation_view(request, symbol))
