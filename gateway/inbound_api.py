"""The registration workflow (仓单注册) over HTTP: pre-declaration, the warehouse's answer,
the inbound deposit, arrival, inspection; the inbound queue and the chain of custody from
pre-declaration to pickup. Every step is a command through the sequencer; a step retried after
it was done the same way answers with the declaration unchanged."""

from typing import Annotated

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.inbound import (
    AnswerDeclaration,
    Declaration,
    DeclareInbound,
    PayInboundDeposit,
    RecordArrival,
    RecordInspection,
)
from gateway import order_history
from gateway.errors import RECEIPT_STATUS, ApiError
from gateway.http import decode, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import iso, to_yuan
from gateway.receipts_api import member_with, visible
from gateway.wire import DECLARATIONS_STATE, Commodity, MemberName
from warehouse_receipts.quality import Quality

bp = Blueprint("inbound")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


INBOUND_STATUS = {**RECEIPT_STATUS, "DECLARATION_NOT_FOUND": 404, "NOT_OWNER": 403, "NOT_WAREHOUSE": 403,
                  "DECLARATION_EXPIRED": 409, "DECLARATION_REFUSED": 409, "DECLARATION_NOT_DECLARED": 409,
                  "DECLARATION_NOT_ACCEPTED": 409, "DECLARATION_NOT_PAID": 409, "DECLARATION_NOT_ARRIVED": 409,
                  "COMMODITY_MISMATCH": 422}


class DeclareRequest(msgspec.Struct, **_STRICT):
    warehouse: MemberName
    commodity: Commodity
    expected_kg: Annotated[int, Meta(gt=0, le=10_000_000)]
    reference: Annotated[str, Meta(min_length=1, max_length=64)]
    crop_year: Annotated[int, Meta(ge=0, le=2200)] = 0
    answer_days: Annotated[int, Meta(ge=1, le=30)] = 3


class AnswerRequest(msgspec.Struct, **_STRICT):
    reason: Annotated[str, Meta(max_length=200)] = ""


class ArrivalRequest(msgspec.Struct, **_STRICT):
    arrived_kg: Annotated[int, Meta(gt=0, le=10_000_000)]


class InspectionRequest(msgspec.Struct, **_STRICT):
    certificate_no: Annotated[str, Meta(min_length=1, max_length=64)]
    inspector: Annotated[str, Meta(min_length=1, max_length=64)]
    quality: Quality
    quantity_kg: Annotated[int, Meta(ge=0, le=10_000_000, description="required except for cotton")] = 0


class StepView(msgspec.Struct, kw_only=True):
    step: str
    actor: str
    at: str
    detail: str | None = None


class DeclarationView(msgspec.Struct, kw_only=True):
    declaration_id: int
    owner: str
    warehouse: str
    commodity: str
    expected_kg: int
    reference: str
    crop_year: int | None
    state: str
    answer_by: str
    inbound_deposit: str
    arrived_kg: int | None
    receipt_id: str | None
    steps: list[StepView]


def declaration_view(d: Declaration) -> DeclarationView:
    return DeclarationView(declaration_id=d.declaration_id, owner=d.owner, warehouse=d.warehouse,
                           commodity=d.commodity, expected_kg=d.expected_kg, reference=d.reference,
                           crop_year=d.crop_year or None, state=d.state, answer_by=iso(d.answer_by_ns),
                           inbound_deposit=to_yuan(d.deposit), arrived_kg=d.arrived_kg or None,
                           receipt_id=d.receipt_id or None,
                           steps=[StepView(step=s.step, actor=s.actor, at=iso(s.ts_ns), detail=s.detail or None)
                                  for s in d.history])


def _declarations(request: Request) -> dict[int, Declaration]:
    return request.app.ctx.exchange.state.inbound.declarations


def _sees_declaration(request: Request, d: Declaration) -> bool:
    key = request.ctx.key
    return "clearing" in key.roles or key.member in (d.owner, d.warehouse)


def _declaration(request: Request, declaration_id: int) -> Declaration:
    d = _declarations(request).get(declaration_id)
    if d is None or not _sees_declaration(request, d):
        raise ApiError(404, "DECLARATION_NOT_FOUND", f"no declaration {declaration_id}")
    return d


async def _step(request: Request, command, status: int = 200) -> HTTPResponse:
    d: Declaration = (await submit(request, command, INBOUND_STATUS)).outcome
    return respond(declaration_view(d), status)


@bp.post("/v1/warehouse/declarations")
@idempotent
async def declare(request: Request) -> HTTPResponse:
    key = request.ctx.key
    req: DeclareRequest = decode(request, DeclareRequest)
    member_with(request, req.warehouse, "warehouse")
    return await _step(request, DeclareInbound(actor=key.member, warehouse=req.warehouse, commodity=req.commodity,
                                               expected_kg=req.expected_kg, reference=req.reference,
                                               crop_year=req.crop_year, answer_days=req.answer_days), 201)


async def _answer(request: Request, declaration_id: int, accept: bool) -> HTTPResponse:
    key = require(request, "warehouse")
    _declaration(request, declaration_id)
    req: AnswerRequest = decode(request, AnswerRequest)
    return await _step(request, AnswerDeclaration(actor=key.member, declaration_id=declaration_id,
                                                  accept=accept, reason=req.reason))


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/accept")
@idempotent
async def accept(request: Request, declaration_id: int) -> HTTPResponse:
    return await _answer(request, declaration_id, True)


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/refuse")
@idempotent
async def refuse(request: Request, declaration_id: int) -> HTTPResponse:
    return await _answer(request, declaration_id, False)


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/pay")
@idempotent
async def pay(request: Request, declaration_id: int) -> HTTPResponse:
    _declaration(request, declaration_id)
    return await _step(request, PayInboundDeposit(actor=request.ctx.key.member, declaration_id=declaration_id))


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/arrival")
@idempotent
async def arrival(request: Request, declaration_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    _declaration(request, declaration_id)
    req: ArrivalRequest = decode(request, ArrivalRequest)
    return await _step(request, RecordArrival(actor=key.member, declaration_id=declaration_id,
                                              arrived_kg=req.arrived_kg))


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/inspection")
@idempotent
async def inspection(request: Request, declaration_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    _declaration(request, declaration_id)
    req: InspectionRequest = decode(request, InspectionRequest)
    return await _step(request, RecordInspection(actor=key.member, declaration_id=declaration_id,
                                                 certificate_no=req.certificate_no, inspector=req.inspector,
                                                 quality=req.quality, quantity_kg=req.quantity_kg))


@bp.get("/v1/warehouse/declarations")
async def list_declarations(request: Request) -> HTTPResponse:
    """The inbound queue: declarations you made, or made to your warehouse (all, for clearing); ?state=."""
    state = query_text(request, DECLARATIONS_STATE)
    return respond([declaration_view(d) for d in _declarations(request).values()
                    if _sees_declaration(request, d) and (state is None or d.state == state)])


@bp.get("/v1/warehouse/declarations/<declaration_id:int>")
async def get_declaration(request: Request, declaration_id: int) -> HTTPResponse:
    return respond(declaration_view(_declaration(request, declaration_id)))


@bp.get("/v1/receipts/<receipt_id>/custody")
async def custody(request: Request, receipt_id: str) -> HTTPResponse:
    """The whole chain of custody: the registration steps of its declaration, then every receipt event."""
    visible(request, receipt_id)
    state = request.app.ctx.exchange.state
    steps = [StepView(step=s.step, actor=s.actor, at=iso(s.ts_ns), detail=s.detail or None)
             for d in state.inbound.declarations.values() if d.receipt_id == receipt_id for s in d.history]
    steps += [StepView(step=e.action, actor=e.actor, at=iso(e.ts_ns), detail=e.detail or None)
              for e in await order_history.receipt_history(request.app.ctx.exchange, state.registry, receipt_id)]
    return respond(steps)
