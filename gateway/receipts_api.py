"""Warehouse-receipt routes: warehouses issue (withdrawal is a release order and a pickup:
``gateway/warehouse_api.py``), owners list, value, transfer, lock
and pledge, lenders see and release their pledges, clearing staff see all and freeze for
delivery. Every change goes through the sequencer as a registry command.

Who sees a receipt: its owner, its issuing warehouse, the lender it is pledged to, and
clearing staff; to anyone else it does not exist (404).
"""


from sanic import Blueprint, HTTPResponse, Request

from gateway import order_history
from gateway.auth import ApiKey
from gateway.errors import RECEIPT_STATUS, ApiError
from gateway.http import decode, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import iso, to_yuan, yuan_if_set
from gateway.wire import (
    RECEIPTS_STATE,
    IssueReceiptRequest,
    PledgeRequest,
    ReceiptEventView,
    ReceiptHistory,
    ReceiptView,
    TransferRequest,
)
from warehouse_receipts.registry import (
    FreezeReceipt,
    IssueReceipt,
    LockReceipt,
    PledgeReceipt,
    Receipt,
    Registry,
    ReleaseReceipt,
    TransferReceipt,
    UnfreezeReceipt,
    UnlockReceipt,
)

bp = Blueprint("receipts")


def can_see(key: ApiKey, receipt: Receipt) -> bool:
    return ("clearing" in key.roles or receipt.owner == key.member or receipt.warehouse == key.member
            or receipt.pledgee == key.member)


def receipt_view(registry: Registry, engine, r: Receipt) -> ReceiptView:
    mark = registry.mark(r, engine.instruments)
    symbol, premium, value = (mark[0], to_yuan(mark[1]), to_yuan(mark[2])) if mark else (None, None, None)
    return ReceiptView(receipt_id=r.receipt_id, commodity=r.commodity, warehouse=r.warehouse, owner=r.owner,
                       state=r.state, pledgee=r.pledgee or None, order_id=r.order_id or None,
                       quantity_kg=r.quantity_kg, certificate_no=r.certificate_no, inspector=r.inspector,
                       factors=r.factors, premium_per_tonne=premium, valued_on=symbol, value=value,
                       version=r.version, quality=r.quality, crop_year=r.crop_year or None,
                       expires_at=iso(r.expires_ns) if r.expires_ns else None,
                       old_crop_discount=yuan_if_set(registry.old_crop_discount(r)))


def registry(request: Request) -> Registry:
    return request.app.ctx.exchange.registry


def visible(request: Request, receipt_id: str) -> Receipt:
    """The receipt if the caller may see it, else 404."""
    receipt = registry(request).receipts.get(receipt_id)
    if receipt is None or not can_see(request.ctx.key, receipt):
        raise ApiError(404, "RECEIPT_NOT_FOUND", f"no receipt {receipt_id}")
    return receipt


def member_with(request: Request, name: str, role: str | None = None) -> None:
    """422 unless ``name`` is a member (with ``role``, if given)."""
    roles = request.app.ctx.members.get(name)
    if roles is None:
        raise ApiError(422, "UNKNOWN_MEMBER", f"no member {name}")
    if role and role not in roles:
        raise ApiError(422, f"NOT_A_{role.upper()}", f"{name} is not a {role}")


async def run(request: Request, command) -> list:
    """Sequence a registry command; its events, or the refusal as an error answer."""
    return (await submit(request, command, RECEIPT_STATUS)).outcome


def current(request: Request, receipt: Receipt) -> ReceiptView:
    return receipt_view(registry(request), request.app.ctx.exchange.engine, receipt)


async def change(request: Request, receipt_id: str, command) -> HTTPResponse:
    """Run ``command`` on the receipt and answer with the receipt as it is now."""
    await run(request, command)
    return respond(current(request, registry(request).receipts[receipt_id]))


@bp.post("/v1/receipts")
@idempotent
async def issue(request: Request) -> HTTPResponse:
    key = require(request, "warehouse")
    req: IssueReceiptRequest = decode(request, IssueReceiptRequest)
    member_with(request, req.owner)
    events = await run(request, IssueReceipt(actor=key.member, certificate_no=req.certificate_no,
                                             inspector=req.inspector, owner=req.owner, quality=req.quality,
                                             quantity_kg=req.quantity_kg))
    return respond(current(request, registry(request).receipts[events[0].receipt_id]), 201)


@bp.get("/v1/receipts")
async def list_receipts(request: Request) -> HTTPResponse:
    key = request.ctx.key
    state = query_text(request, RECEIPTS_STATE)
    return respond([current(request, r) for r in registry(request).receipts.values()
                    if can_see(key, r) and (state is None or r.state == state)])


@bp.get("/v1/receipts/<receipt_id>")
async def get_receipt(request: Request, receipt_id: str) -> HTTPResponse:
    return respond(current(request, visible(request, receipt_id)))


@bp.get("/v1/receipts/<receipt_id>/history")
async def history(request: Request, receipt_id: str) -> HTTPResponse:
    visible(request, receipt_id)
    events = [ReceiptEventView(seq=e.seq, version=e.version, action=e.action, actor=e.actor,
                               at=iso(e.ts_ns),
                               counterparty=e.counterparty or None, order_id=e.order_id or None,
                               detail=e.detail or None)
              for e in await order_history.receipt_history(request.app.ctx.exchange, registry(request), receipt_id)]
    return respond(ReceiptHistory(receipt_id=receipt_id, events=events))


@bp.post("/v1/receipts/<receipt_id>/transfer")
@idempotent
async def transfer(request: Request, receipt_id: str) -> HTTPResponse:
    key = request.ctx.key
    visible(request, receipt_id)
    req: TransferRequest = decode(request, TransferRequest)
    member_with(request, req.to)
    return await change(request, receipt_id, TransferReceipt(actor=key.member,
                                                             receipt_id=receipt_id, to=req.to))


@bp.post("/v1/receipts/<receipt_id>/pledge")
@idempotent
async def pledge(request: Request, receipt_id: str) -> HTTPResponse:
    visible(request, receipt_id)
    req: PledgeRequest = decode(request, PledgeRequest)
    member_with(request, req.lender, "lender")
    return await change(request, receipt_id, PledgeReceipt(actor=request.ctx.key.member,
                                                           receipt_id=receipt_id, lender=req.lender))


def simple_action(command: type, roles: tuple[str, ...]):
    """A handler for an action without a body: ``roles`` may ask (empty: whoever can see the
    receipt; the registry then checks ownership)."""
    async def handler(request: Request, receipt_id: str) -> HTTPResponse:
        key = require(request, *roles) if roles else request.ctx.key
        visible(request, receipt_id)
        return await change(request, receipt_id, command(actor=key.member,
                                                         receipt_id=receipt_id))
    return handler


for _action, _command, _roles in (("lock", LockReceipt, ()), ("unlock", UnlockReceipt, ()),
                                  ("release", ReleaseReceipt, ("lender",)), ("freeze", FreezeReceipt, ("clearing",)),
                                  ("unfreeze", UnfreezeReceipt, ("clearing",))):
    bp.add_route(idempotent(simple_action(_command, _roles)), f"/v1/receipts/<receipt_id>/{_action}", methods=["POST"],
                 name=f"receipt_{_action}")
