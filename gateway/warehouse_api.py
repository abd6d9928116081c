"""Warehouse operations over HTTP: outbound release orders (出库单) and pickups, tariffs and
storage fees, stock, and receipt-expiry configuration (registration is ``inbound_api``,
disputes ``disputes_api``).

The owner asks for a release: the gateway makes a one-time pickup code with ``secrets``,
journals only its SHA-256 digest, and returns the code once (a retry with the same reference
returns the order without it). The issuing warehouse records the pickup with the code it is
shown; the gateway hashes it before the command is journaled, so no code is ever stored.
"""

import secrets
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.warehousing import SetTariff, Tariff
from gateway.errors import CLEARING_STATUS, RECEIPT_STATUS, ApiError
from gateway.http import decode, fen, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import iso, to_yuan
from gateway.receipts_api import visible
from gateway.wire import MEMBER_FILTER, RELEASES_STATE, WAREHOUSE_FILTER, Commodity, Price
from warehouse_receipts.expiry import SetExpiryRule
from warehouse_receipts.registry import CANCELLED
from warehouse_receipts.warehouse import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    CancelRelease,
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

    commodity: Commodity
    storage_per_tonne_day: Price
    inbound_per_tonne: Price = "0"


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




def release_view(o: ReleaseOrder, pickup_code: str | None = None) -> ReleaseView:
    return ReleaseView(release_id=o.release_id, receipt_id=o.receipt_id, owner=o.owner, warehouse=o.warehouse,
                       reference=o.reference, state=o.state, requested_at=iso(o.requested_ns),
                       pickup_by=iso(o.deadline_ns), closed_at=iso(o.closed_ns) if o.closed_ns else None,
                       weight_out_kg=o.weight_out_kg or None, pickup_code=pickup_code)


def new_pickup_code() -> str:
    """Twelve characters from a 32-letter alphabet (60 bits), grouped in fours."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def _sees(request: Request, o: ReleaseOrder) -> bool:
    key = request.ctx.key
    return "clearing" in key.roles or key.member in (o.owner, o.warehouse)


def _release(request: Request, release_id: int) -> ReleaseOrder:
    """The release order, or 404 when there is none the caller may see."""
    order = request.app.ctx.exchange.state.warehouse.releases.get(release_id)
    if order is None or not _sees(request, order):
        raise ApiError(404, "RELEASE_NOT_FOUND", f"no release order {release_id}")
    return order


def without_pickup_code(request: Request, body: bytes) -> bytes:
    """A release order as stored for a retry by Idempotency-Key: without its pickup code, which
    is never stored (the retry gets the order without it, as a retry by reference does)."""
    data = msgspec.json.decode(body)
    if isinstance(data, dict) and "pickup_code" in data:
        data["pickup_code"] = None
    return msgspec.json.encode(data)


@bp.post("/v1/receipts/<receipt_id>/release-request")
@idempotent(store=without_pickup_code)
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
@idempotent
async def record_pickup(request: Request, release_id: int) -> HTTPResponse:
    key = require(request, "warehouse")
    order = _release(request, release_id)
    req: PickupRequest = decode(request, PickupRequest)
    order = (await submit(request, RecordPickup(actor=key.member, release_id=release_id,
                                                code_hash=code_digest(req.pickup_code), weight_kg=req.weight_kg),
                          RECEIPT_STATUS)).outcome
    return respond(release_view(order))


@bp.post("/v1/warehouse/releases/<release_id:int>/cancel")
@idempotent
async def cancel_release(request: Request, release_id: int) -> HTTPResponse:
    """The owner cancels an open release order before pickup; the receipt is registered again."""
    key = request.ctx.key
    order = _release(request, release_id)
    order = (await submit(request, CancelRelease(actor=key.member, release_id=release_id), RECEIPT_STATUS)).outcome
    return respond(release_view(order))


@bp.get("/v1/warehouse/releases")
async def list_releases(request: Request) -> HTTPResponse:
    """The outbound queue: release orders you own or hold the goods of (all, for clearing);
    ``?state=open|picked_up|lapsed|cancelled``."""
    state = query_text(request, RELEASES_STATE)
    releases = request.app.ctx.exchange.state.warehouse.releases.values()
    return respond([release_view(o) for o in releases if _sees(request, o) and (state is None or o.state == state)])


@bp.get("/v1/warehouse/releases/<release_id:int>")
async def get_release(request: Request, release_id: int) -> HTTPResponse:
    return respond(release_view(_release(request, release_id)))


def tariff_view(t: Tariff) -> TariffView:
    return TariffView(warehouse=t.warehouse, commodity=t.commodity,
                      storage_per_tonne_day=to_yuan(t.storage_per_tonne_day),
                      inbound_per_tonne=to_yuan(t.inbound_per_tonne))


@bp.post("/v1/warehouse/tariffs")
@idempotent
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
    member = (query_text(request, MEMBER_FILTER) or key.member) if "clearing" in key.roles else key.member
    state = request.app.ctx.exchange.state
    w = state.warehousing
    paid = {rid: to_yuan(v) for rid, v in sorted(w.paid.items())
            if (r := state.registry.receipts.get(rid)) is not None and member in (r.warehouse, r.owner)}
    return respond(FeesView(member=member, earned=to_yuan(w.earned.get(member, 0)), paid_by_receipt=paid,
                            arrears={wh: to_yuan(v) for (m, wh), v in sorted(w.arrears.items()) if m == member}))


class StockLine(msgspec.Struct, kw_only=True):
    warehouse: str
    commodity: str
    receipts: int
    quantity_kg: int
    by_state: dict[str, int]


@bp.get("/v1/warehouse/stock")
async def stock(request: Request) -> HTTPResponse:
    """What your warehouse holds (receipts not yet picked up), by commodity; clearing sees every
    warehouse's (?warehouse= for one)."""
    key = require(request, "warehouse", "clearing")
    warehouse = query_text(request, WAREHOUSE_FILTER) if "clearing" in key.roles else key.member
    lines: dict[tuple[str, str], StockLine] = {}
    for r in request.app.ctx.exchange.state.registry.receipts.values():
        if warehouse not in (None, r.warehouse) or r.state == CANCELLED:
            continue
        line = lines.setdefault((r.warehouse, r.commodity), StockLine(warehouse=r.warehouse, commodity=r.commodity,
                                                                      receipts=0, quantity_kg=0, by_state={}))
        line.receipts += 1
        line.quantity_kg += r.quantity_kg
        line.by_state[r.state] = line.by_state.get(r.state, 0) + 1
    return respond([lines[c] for c in sorted(lines)])


# ------------------------------------------------------------------ receipt expiry (configuration)

class ExpiryRuleRequest(msgspec.Struct, **_STRICT):
    """How a commodity's receipts expire: by crop year (cotton: ``month``/``day`` of crop year +
    ``years_after``) or ``days`` after production (urea); old-crop discount in yuan per tonne."""

    commodity: Commodity
    by: Literal["crop_year", "production"]
    month: Annotated[int, Meta(ge=1, le=12)] = 11
    day: Annotated[int, Meta(ge=1, le=31)] = 30
    years_after: Annotated[int, Meta(ge=0, le=5)] = 1
    season_month: Annotated[int, Meta(ge=1, le=12)] = 9
    days: Annotated[int, Meta(ge=1, le=3_650)] = 150
    old_crop_discount: Price = "0"
    warn_days: Annotated[int, Meta(ge=0, le=90)] = 10


@bp.post("/v1/admin/expiry-rules")
@idempotent
async def set_expiry_rule(request: Request) -> HTTPResponse:
    """Configure receipt expiry for a commodity (receipts issued from now on); idempotent."""
    key = require(request, "operator", "clearing")
    req: ExpiryRuleRequest = decode(request, ExpiryRuleRequest)
    await submit(request, SetExpiryRule(
        actor=key.member, commodity=req.commodity, by=req.by, month=req.month, day=req.day,
        years_after=req.years_after, season_month=req.season_month, days=req.days,
        old_crop_discount=fen(req.old_crop_discount, "old_crop_discount"), warn_days=req.warn_days), RECEIPT_STATUS)
    return respond(msgspec.to_builtins(req))
