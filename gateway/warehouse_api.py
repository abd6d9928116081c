"""Warehouse operations over HTTP: outbound release orders (出库单) and pickups.

The owner asks for a release: the gateway makes a one-time pickup code with ``secrets``,
journals only its SHA-256 digest, and returns the code once (a retry with the same reference
returns the order without it). The issuing warehouse records the pickup with the code it is
shown; the gateway hashes it before the command is journaled, so no code is ever stored.
"""

import secrets
from datetime import UTC, datetime
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
from clearing.inbound import (
    AnswerDeclaration,
    Declaration,
    DeclareInbound,
    PayInboundDeposit,
    RecordArrival,
    RecordInspection,
)
from clearing.warehousing import SetTariff, Tariff
from gateway.errors import CLEARING_STATUS, RECEIPT_STATUS, ApiError
from gateway.http import decode, fen, require, respond, submit
from gateway.prices import to_yuan
from gateway.receipts_api import member_with, visible
from gateway.wire import MemberName
from warehouse_receipts.expiry import SetExpiryRule
from warehouse_receipts.quality import Quality
from warehouse_receipts.registry import CANCELLED
from warehouse_receipts.warehouse import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    RecordPickup,
    ReleaseOrder,
    RequestRelease,
    code_digest,
)

bp = Blueprint("warehouse")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at the gate


class ReleaseRequest(msgspec.Struct, **_STRICT):
    reference: Annotated[str, Meta(min_length=1, max_length=64)]
    window_days: Annotated[int, Meta(ge=1, le=MAX_WINDOW_DAYS)] = DEFAULT_WINDOW_DAYS


class PickupRequest(msgspec.Struct, **_STRICT):
    pickup_code: Annotated[str, Meta(min_length=4, max_length=32)]
    weight_kg: Annotated[int, Meta(gt=0, le=10**9)]


class TariffRequest(msgspec.Struct, **_STRICT):
    """Yuan per tonne: storage a trading day, inbound deposit once."""

    commodity: Annotated[str, Meta(min_length=1, max_length=32)]
    storage_per_tonne_day: Annotated[str, Meta(max_length=24)]
    inbound_per_tonne: Annotated[str, Meta(max_length=24)] = "0"


class TariffView(msgspec.Struct, kw_only=True):
    warehouse: str
    commodity: str
    storage_per_tonne_day: str
    inbound_per_tonne: str


class FeesView(msgspec.Struct, kw_only=True):
    """Storage fees: what a warehouse earned (and on which receipts), what a member owes."""

    member: str
    earned: str
    paid_by_receipt: dict[str, str]
    arrears: dict[str, str]


class ReleaseView(msgspec.Struct, kw_only=True):
    """A release order; ``pickup_code`` only in the first answer to the owner."""

    release_id: int
    receipt_id: str
    owner: str
    warehouse: str
    reference: str
    state: str
    requested_at: str
    pickup_by: str
    closed_at: str | None = None
    weight_out_kg: int | None = None
    pickup_code: str | None = None


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()


def release_view(o: ReleaseOrder, pickup_code: str | None = None) -> ReleaseView:
    return ReleaseView(release_id=o.release_id, receipt_id=o.receipt_id, owner=o.owner, warehouse=o.warehouse,
                       reference=o.reference, state=o.state, requested_at=_iso(o.requested_ns),
                       pickup_by=_iso(o.deadline_ns), closed_at=_iso(o.closed_ns) if o.closed_ns else None,
                       weight_out_kg=o.weight_out_kg or None, pickup_code=pickup_code)


def new_pickup_code() -> str:
    """Twelve characters from a 32-letter alphabet (60 bits), grouped in fours."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def _sees(request: Request, o: ReleaseOrder) -> bool:
    key = request.ctx.key
    return "clearing" in key.roles or key.member in (o.owner, o.warehouse)


@bp.post("/v1/receipts/<receipt_id>/release-request")
async def request_release(request: Request, receipt_id: str) -> HTTPResponse:
    key = request.ctx.key
    visible(request, receipt_id)
    req: ReleaseRequest = decode(request, ReleaseRequest)
    pickup_code = new_pickup_code()
    digest = code_digest(pickup_code)
    order: ReleaseOrder = (await submit(request, RequestRelease(
        actor=key.member, receipt_id=receipt_id, reference=req.reference, code_hash=digest,
        window_days=req.window_days), RECEIPT_STATUS)).outcome
    first = order.code_hash == digest
    return respond(release_view(order, pickup_code if first else None), 201 if first else 200)


@bp.post("/v1/warehouse/releases/<release_id:int>/pickup")
async def record_pickup(request: Request, release_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    order = request.app.ctx.exchange.state.warehouse.releases.get(release_id)
    if order is None or not _sees(request, order):
        raise ApiError(404, "RELEASE_NOT_FOUND", f"no release order {release_id}")
    req: PickupRequest = decode(request, PickupRequest)
    order = (await submit(request, RecordPickup(actor=key.member, release_id=release_id,
                                                code_hash=code_digest(req.pickup_code), weight_kg=req.weight_kg),
                          RECEIPT_STATUS)).outcome
    return respond(release_view(order))


@bp.get("/v1/warehouse/releases")
async def list_releases(request: Request) -> HTTPResponse:
    """The outbound queue: release orders you own or hold the goods of (all, for clearing);
    ``?state=open|picked_up|lapsed``."""
    state = request.args.get("state")
    releases = request.app.ctx.exchange.state.warehouse.releases.values()
    return respond([release_view(o) for o in releases if _sees(request, o) and (state is None or o.state == state)])


@bp.get("/v1/warehouse/releases/<release_id:int>")
async def get_release(request: Request, release_id: int) -> HTTPResponse:
    order = request.app.ctx.exchange.state.warehouse.releases.get(release_id)
    if order is None or not _sees(request, order):
        raise ApiError(404, "RELEASE_NOT_FOUND", f"no release order {release_id}")
    return respond(release_view(order))


def tariff_view(t: Tariff) -> TariffView:
    return TariffView(warehouse=t.warehouse, commodity=t.commodity,
                      storage_per_tonne_day=to_yuan(t.storage_per_tonne_day),
                      inbound_per_tonne=to_yuan(t.inbound_per_tonne))


@bp.post("/v1/warehouse/tariffs")
async def set_tariff(request: Request) -> HTTPResponse:
    """Publish (or replace) your rates for a commodity: idempotent, the same body sets the same rates."""
    key = require(request, "warehouse")
    req: TariffRequest = decode(request, TariffRequest)
    tariff = (await submit(request, SetTariff(
        actor=key.member, commodity=req.commodity, storage_per_tonne_day=fen(req.storage_per_tonne_day, "storage"),
        inbound_per_tonne=fen(req.inbound_per_tonne, "inbound")), CLEARING_STATUS)).outcome
    return respond(tariff_view(tariff))


@bp.get("/v1/warehouse/tariffs")
async def list_tariffs(request: Request) -> HTTPResponse:
    tariffs = request.app.ctx.exchange.state.warehousing.tariffs
    return respond([tariff_view(tariffs[k]) for k in sorted(tariffs)])


@bp.get("/v1/warehouse/fees")
async def fees(request: Request) -> HTTPResponse:
    """Fees earned on your warehouse's receipts, and storage arrears you owe (?member= for clearing)."""
    key = request.ctx.key
    member = request.args.get("member", key.member) if "clearing" in key.roles else key.member
    state = request.app.ctx.exchange.state
    w = state.warehousing
    paid = {rid: to_yuan(v) for rid, v in sorted(w.paid.items())
            if (r := state.registry.receipts.get(rid)) is not None and member in (r.warehouse, r.owner)}
    return respond(FeesView(member=member, earned=to_yuan(w.earned.get(member, 0)), paid_by_receipt=paid,
                            arrears={wh: to_yuan(v) for (m, wh), v in sorted(w.arrears.items()) if m == member}))


# ------------------------------------------------------------------ registration (仓单注册)

INBOUND_STATUS = {**RECEIPT_STATUS, "DECLARATION_NOT_FOUND": 404, "NOT_OWNER": 403, "NOT_WAREHOUSE": 403,
                  "DECLARATION_EXPIRED": 409, "DECLARATION_REFUSED": 409, "DECLARATION_NOT_DECLARED": 409,
                  "DECLARATION_NOT_ACCEPTED": 409, "DECLARATION_NOT_PAID": 409, "DECLARATION_NOT_ARRIVED": 409,
                  "COMMODITY_MISMATCH": 422}


class DeclareRequest(msgspec.Struct, **_STRICT):
    warehouse: MemberName
    commodity: Annotated[str, Meta(min_length=1, max_length=32)]
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


class StockLine(msgspec.Struct, kw_only=True):
    commodity: str
    receipts: int
    quantity_kg: int
    by_state: dict[str, int]


def declaration_view(d: Declaration) -> DeclarationView:
    return DeclarationView(declaration_id=d.declaration_id, owner=d.owner, warehouse=d.warehouse,
                           commodity=d.commodity, expected_kg=d.expected_kg, reference=d.reference,
                           crop_year=d.crop_year or None, state=d.state, answer_by=_iso(d.answer_by_ns),
                           inbound_deposit=to_yuan(d.deposit), arrived_kg=d.arrived_kg or None,
                           receipt_id=d.receipt_id or None,
                           steps=[StepView(step=s.step, actor=s.actor, at=_iso(s.ts_ns), detail=s.detail or None)
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
async def accept(request: Request, declaration_id: int) -> HTTPResponse:
    return await _answer(request, declaration_id, True)


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/refuse")
async def refuse(request: Request, declaration_id: int) -> HTTPResponse:
    return await _answer(request, declaration_id, False)


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/pay")
async def pay(request: Request, declaration_id: int) -> HTTPResponse:
    _declaration(request, declaration_id)
    return await _step(request, PayInboundDeposit(actor=request.ctx.key.member, declaration_id=declaration_id))


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/arrival")
async def arrival(request: Request, declaration_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    _declaration(request, declaration_id)
    req: ArrivalRequest = decode(request, ArrivalRequest)
    return await _step(request, RecordArrival(actor=key.member, declaration_id=declaration_id,
                                              arrived_kg=req.arrived_kg))


@bp.post("/v1/warehouse/declarations/<declaration_id:int>/inspection")
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
    state = request.args.get("state")
    return respond([declaration_view(d) for d in _declarations(request).values()
                    if _sees_declaration(request, d) and (state is None or d.state == state)])


@bp.get("/v1/warehouse/declarations/<declaration_id:int>")
async def get_declaration(request: Request, declaration_id: int) -> HTTPResponse:
    return respond(declaration_view(_declaration(request, declaration_id)))


@bp.get("/v1/warehouse/stock")
async def stock(request: Request) -> HTTPResponse:
    """What your warehouse holds (receipts not yet picked up), by commodity (?warehouse= for clearing)."""
    key = require(request, "warehouse", "clearing")
    warehouse = request.args.get("warehouse", key.member) if "clearing" in key.roles else key.member
    lines: dict[str, StockLine] = {}
    for r in request.app.ctx.exchange.state.registry.receipts.values():
        if r.warehouse != warehouse or r.state == CANCELLED:
            continue
        line = lines.setdefault(r.commodity, StockLine(commodity=r.commodity, receipts=0, quantity_kg=0, by_state={}))
        line.receipts += 1
        line.quantity_kg += r.quantity_kg
        line.by_state[r.state] = line.by_state.get(r.state, 0) + 1
    return respond([lines[c] for c in sorted(lines)])


@bp.get("/v1/receipts/<receipt_id>/custody")
async def custody(request: Request, receipt_id: str) -> HTTPResponse:
    """The whole chain of custody: the registration steps of its declaration, then every receipt event."""
    visible(request, receipt_id)
    state = request.app.ctx.exchange.state
    steps = [StepView(step=s.step, actor=s.actor, at=_iso(s.ts_ns), detail=s.detail or None)
             for d in state.inbound.declarations.values() if d.receipt_id == receipt_id for s in d.history]
    steps += [StepView(step=e.action, actor=e.actor, at=_iso(e.ts_ns), detail=e.detail or None)
              for e in state.registry.history[receipt_id]]
    return respond(steps)


# ------------------------------------------------------------------ receipt expiry (configuration)

class ExpiryRuleRequest(msgspec.Struct, **_STRICT):
    """How a commodity's receipts expire: by crop year (cotton: ``month``/``day`` of crop year +
    ``years_after``) or ``days`` after production (urea); old-crop discount in yuan per tonne."""

    commodity: Annotated[str, Meta(min_length=1, max_length=32)]
    by: Literal["crop_year", "production"]
    month: Annotated[int, Meta(ge=1, le=12)] = 11
    day: Annotated[int, Meta(ge=1, le=31)] = 30
    years_after: Annotated[int, Meta(ge=0, le=5)] = 1
    season_month: Annotated[int, Meta(ge=1, le=12)] = 9
    days: Annotated[int, Meta(ge=1, le=3_650)] = 150
    old_crop_discount: Annotated[str, Meta(max_length=24)] = "0"
    warn_days: Annotated[int, Meta(ge=0, le=90)] = 10


@bp.post("/v1/admin/expiry-rules")
async def set_expiry_rule(request: Request) -> HTTPResponse:
    """Configure receipt expiry for a commodity (receipts issued from now on); idempotent."""
    key = require(request, "operator", "clearing")
    req: ExpiryRuleRequest = decode(request, ExpiryRuleRequest)
    await submit(request, SetExpiryRule(
        actor=key.member, commodity=req.commodity, by=req.by, month=req.month, day=req.day,
        years_after=req.years_after, season_month=req.season_month, days=req.days,
        old_crop_discount=fen(req.old_crop_discount, "old_crop_discount"), warn_days=req.warn_days), RECEIPT_STATUS)
    return respond(msgspec.to_builtins(req))


# ------------------------------------------------------------------ delivery disputes

DISPUTE_STATUS = {**INBOUND_STATUS, "DISPUTE_NOT_FOUND": 404, "NOT_DELIVERED_TO_YOU": 404,
                  "DISPUTE_WINDOW_CLOSED": 409, "DISPUTE_OPEN": 409, "DISPUTE_NOT_OPEN": 409,
                  "DISPUTE_NOT_REINSPECTION": 409, "DISPUTE_NOT_REINSPECTED": 409, "INSUFFICIENT_FUNDS": 409}


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
    trade_id: int
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
                       seller=d.delivery.seller, trade_id=d.delivery.trade_id, price=to_yuan(d.delivery.price),
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
async def open_dispute(request: Request, receipt_id: str) -> HTTPResponse:
    visible(request, receipt_id)
    req: DisputeRequest = decode(request, DisputeRequest)
    return await _dispute_step(request, OpenDispute(actor=request.ctx.key.member, receipt_id=receipt_id,
                                                    kind=req.kind, reference=req.reference), 201)


@bp.post("/v1/disputes/<dispute_id:int>/reinspection-order")
async def order_reinspection(request: Request, dispute_id: int) -> HTTPResponse:
    key = require(request, "clearing")
    _dispute(request, dispute_id)
    return await _dispute_step(request, OrderReinspection(actor=key.member, dispute_id=dispute_id))


@bp.post("/v1/disputes/<dispute_id:int>/reinspection")
async def record_reinspection(request: Request, dispute_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    _dispute(request, dispute_id)
    req: ReinspectionRequest = decode(request, ReinspectionRequest)
    return await _dispute_step(request, RecordReinspection(actor=key.member, dispute_id=dispute_id,
                                                           quality=req.quality, quantity_kg=req.quantity_kg))


@bp.post("/v1/disputes/<dispute_id:int>/decision")
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
async def set_dispute_window(request: Request) -> HTTPResponse:
    """How many days after delivery a buyer may dispute; idempotent."""
    key = require(request, "operator", "clearing")
    req: DisputeWindowRequest = decode(request, DisputeWindowRequest)
    await submit(request, SetDisputeWindow(actor=key.member, days=req.days), DISPUTE_STATUS)
    return respond({"days": req.days})
