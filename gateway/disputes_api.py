"""Delivery disputes over HTTP: the buyer opens one, clearing orders a re-inspection, the
receipt's warehouse records it, clearing decides; the parties and clearing see it."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.disputes import (
    DecideDispute,
    Dispute,
    OpenDispute,
    OrderReinspection,
    RecordReinspection,
    SetDisputeWindow,
)
from gateway.errors import RECEIPT_STATUS, ApiError
from gateway.http import decode, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import to_yuan
from gateway.receipts_api import visible
from warehouse_receipts.quality import Quality

bp = Blueprint("disputes")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


DISPUTE_STATUS = {**RECEIPT_STATUS, "NOT_WAREHOUSE": 403, "COMMODITY_MISMATCH": 422, "DISPUTE_NOT_FOUND": 404,
                  "NOT_DELIVERED_TO_YOU": 404, "DISPUTE_WINDOW_CLOSED": 409, "DISPUTE_OPEN": 409,
                  "DISPUTE_NOT_OPEN": 409, "DISPUTE_NOT_REINSPECTION": 409, "DISPUTE_NOT_REINSPECTED": 409,
                  "INSUFFICIENT_FUNDS": 409, "DISPUTE_DECIDED": 409}


class DisputeRequest(msgspec.Struct, **_STRICT):
    kind: Literal["weight", "quality"]
    reference: Annotated[str, Meta(min_length=1, max_length=64)]


class ReinspectionRequest(msgspec.Struct, **_STRICT):
    quality: Quality
    quantity_kg: Annotated[int, Meta(ge=0, le=10_000_000, description="required except for cotton")] = 0


class DecisionRequest(msgspec.Struct, **_STRICT):
    uphold: bool


class DisputeView(msgspec.Struct, kw_only=True):
    dispute_id: int
    receipt_id: str
    kind: str
    buyer: str
    seller: str
    trade_id: int  # 0 for a bulk-supply deal
    deal: str  # the auction or listing the receipt was bought in ("auction:3"), or ""
    price: str
    state: str
    delivered_kg: int
    delivered_premium: str
    reinspected_kg: int | None
    reinspected_premium: str | None
    adjustment: str
    history: list[str]


def dispute_view(d: Dispute) -> DisputeView:
    return DisputeView(dispute_id=d.dispute_id, receipt_id=d.receipt_id, kind=d.kind, buyer=d.delivery.buyer,
                       seller=d.delivery.seller, trade_id=d.delivery.trade_id,
                       deal=d.delivery.ref.label() if d.delivery.ref else "", price=to_yuan(d.delivery.price),
                       state=d.state, delivered_kg=d.old_kg, delivered_premium=to_yuan(d.old_premium),
                       reinspected_kg=d.new_kg or None,
                       reinspected_premium=to_yuan(d.new_premium) if d.new_kg else None,
                       adjustment=to_yuan(d.adjustment), history=d.history)


def _sees_dispute(request: Request, d: Dispute) -> bool:
    key = request.ctx.key
    warehouse = request.app.ctx.exchange.registry.receipts[d.receipt_id].warehouse
    return "clearing" in key.roles or key.member in (d.delivery.buyer, d.delivery.seller, warehouse)


def _dispute(request: Request, dispute_id: int) -> Dispute:
    d = request.app.ctx.exchange.state.disputes.cases.get(dispute_id)
    if d is None or not _sees_dispute(request, d):
        raise ApiError(404, "DISPUTE_NOT_FOUND", f"no dispute {dispute_id}")
    return d


async def _dispute_step(request: Request, command, status: int = 200) -> HTTPResponse:
    return respond(dispute_view((await submit(request, command, DISPUTE_STATUS)).outcome), status)


@bp.post("/v1/receipts/<receipt_id>/disputes")
@idempotent
async def open_dispute(request: Request, receipt_id: str) -> HTTPResponse:
    visible(request, receipt_id)
    req: DisputeRequest = decode(request, DisputeRequest)
    return await _dispute_step(request, OpenDispute(actor=request.ctx.key.member, receipt_id=receipt_id,
                                                    kind=req.kind, reference=req.reference), 201)


@bp.post("/v1/disputes/<dispute_id:int>/reinspection-order")
@idempotent
async def order_reinspection(request: Request, dispute_id: int) -> HTTPResponse:
    key = require(request, "clearing")
    _dispute(request, dispute_id)
    return await _dispute_step(request, OrderReinspection(actor=key.member, dispute_id=dispute_id))


@bp.post("/v1/disputes/<dispute_id:int>/reinspection")
@idempotent
async def record_reinspection(request: Request, dispute_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    _dispute(request, dispute_id)
    req: ReinspectionRequest = decode(request, ReinspectionRequest)
    return await _dispute_step(request, RecordReinspection(actor=key.member, dispute_id=dispute_id,
                                                           quality=req.quality, quantity_kg=req.quantity_kg))


@bp.post("/v1/disputes/<dispute_id:int>/decision")
@idempotent
async def decide_dispute(request: Request, dispute_id: int) -> HTTPResponse:
    key = require(request, "clearing")
    _dispute(request, dispute_id)
    req: DecisionRequest = decode(request, DecisionRequest)
    return await _dispute_step(request, DecideDispute(actor=key.member, dispute_id=dispute_id, uphold=req.uphold))


@bp.get("/v1/disputes")
async def list_disputes(request: Request) -> HTTPResponse:
    cases = request.app.ctx.exchange.state.disputes.cases.values()
    return respond([dispute_view(d) for d in cases if _sees_dispute(request, d)])


class DisputeWindowRequest(msgspec.Struct, **_STRICT):
    days: Annotated[int, Meta(ge=1, le=90)]


@bp.post("/v1/admin/dispute-window")
@idempotent
async def set_dispute_window(request: Request) -> HTTPResponse:
    """How many days after delivery a buyer may dispute; idempotent."""
    key = require(request, "operator", "clearing")
    req: DisputeWindowRequest = decode(request, DisputeWindowRequest)
    await submit(request, SetDisputeWindow(actor=key.member, days=req.days), DISPUTE_STATUS)
    return respond({"days": req.days})
