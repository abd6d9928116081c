"""The credit register (诚信) over HTTP: a member's defaults of every kind, for the member,
lenders and clearing staff (auction eligibility reads the same register)."""

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from clearing.credit import CreditEntry
from gateway.http import require, respond
from gateway.prices import iso, to_yuan

bp = Blueprint("credit")


class CreditEntryView(msgspec.Struct, kw_only=True):
    entry_id: int
    kind: str  # delivery_default, payment_default, forced_liquidation, loan_default, auction_forfeit
    ref: str  # the cause: loan:3, forward:CF2605, auction:2/lot:1, ...
    amount: str  # yuan at stake (penalty, shortfall or forfeited bond)
    detail: str
    trading_date: int
    time: str


class CreditView(msgspec.Struct, kw_only=True):
    member: str
    entries: list[CreditEntryView]


def entry_view(e: CreditEntry) -> CreditEntryView:
    return CreditEntryView(entry_id=e.entry_id, kind=e.kind, ref=e.ref, amount=to_yuan(e.amount), detail=e.detail,
                           trading_date=e.trading_date, time=iso(e.ts_ns))


@bp.get("/v1/credit/<member>")
async def credit(request: Request, member: str) -> HTTPResponse:
    if request.ctx.key.member != member:
        require(request, "clearing", "lender")
    entries = request.app.ctx.exchange.state.credit.of(member)
    return respond(CreditView(member=member, entries=[entry_view(e) for e in entries]))
