"""Financing routes: lenders publish terms and approve or decline loans; members request,
repay, top up and add collateral; clearing staff see every loan and credit record. Amounts
are yuan strings; ratios are basis points of loan (principal + interest) over collateral value."""

from typing import Annotated

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.financing import AddCollateral, DecideLoan, Financing, Loan, RepayLoan, RequestLoan, SetTerms
from gateway.errors import FINANCING_STATUS, ApiError
from gateway.http import decode, fen, query_text, require, respond, submit
from gateway.idempotency import idempotent
from gateway.prices import iso, to_yuan
from gateway.wire import LOANS_STATE, Commodity, MemberName, Money, ReceiptId

bp = Blueprint("financing")
_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


class TermsRequest(msgspec.Struct, **_STRICT):
    commodity: Commodity
    ltv_bps: Annotated[int, Meta(gt=0, le=10_000)]
    daily_rate_ppm: Annotated[int, Meta(ge=0, le=10_000)]
    warning_bps: Annotated[int, Meta(gt=0, le=10_000)]
    liquidation_bps: Annotated[int, Meta(gt=0, le=10_000)]
    max_tenor_days: Annotated[int, Meta(gt=0, le=3_650)]
    cure_days: Annotated[int, Meta(ge=0, le=30)] = 2


class LoanRequest(msgspec.Struct, **_STRICT):
    lender: MemberName
    receipt_ids: Annotated[list[ReceiptId], Meta(min_length=1, max_length=100)]
    principal: Money
    tenor_days: Annotated[int, Meta(gt=0, le=3_650)]


class RepayRequest(msgspec.Struct, **_STRICT):
    amount: Money | None = None  # yuan of principal; omitted: the whole loan with its interest


class CollateralRequest(msgspec.Struct, **_STRICT):
    receipt_ids: Annotated[list[ReceiptId], Meta(min_length=1, max_length=100)]


class LoanView(msgspec.Struct, kw_only=True):
    """A loan as its borrower, its lender and clearing staff see it (amounts in yuan)."""

    loan_id: int
    borrower: str
    lender: str
    commodity: str
    receipt_ids: list[str]
    state: str
    principal: Money
    interest: str
    owed: str
    value: str
    ratio_bps: int
    tenor_days: int
    start_day: int
    maturity_day: int
    call_deadline_day: int
    daily_rate_ppm: int
    warning_bps: int
    liquidation_bps: int
    liquidation_orders: list[int]
    recovered: str
    shortfall: str
    history: list[str]
    expiring: dict[str, str] = {}  # collateral near or past expiry: receipt -> "expires <ISO>" or "expired"


class CreditRecord(msgspec.Struct):
    member: str
    defaulted_loans: list[int]


def expiry_flags(registry, receipt_ids: list[str]) -> dict[str, str]:
    """Collateral whose owner was warned of expiry, or that has expired (the lender's flag)."""
    flags = {}
    for rid in receipt_ids:
        r = registry.receipts.get(rid) if registry is not None else None
        if r is None or not r.expires_ns:
            continue
        if r.state == "expired" or rid in registry.overdue:
            flags[rid] = "expired"
        elif rid in registry.warned:
            flags[rid] = "expires " + iso(r.expires_ns)
    return flags


def loan_view(loan: Loan, registry=None) -> LoanView:
    return LoanView(loan_id=loan.loan_id, borrower=loan.borrower, lender=loan.lender, commodity=loan.commodity,
                    receipt_ids=loan.receipt_ids, state=loan.state, principal=to_yuan(loan.principal),
                    interest=to_yuan(loan.interest), owed=to_yuan(loan.principal + loan.interest),
                    value=to_yuan(loan.value), ratio_bps=loan.ratio_bps, tenor_days=loan.tenor_days,
                    start_day=loan.start_day, maturity_day=loan.maturity_day,
                    call_deadline_day=loan.call_deadline_day, daily_rate_ppm=loan.daily_rate_ppm,
                    warning_bps=loan.warning_bps, liquidation_bps=loan.liquidation_bps,
                    liquidation_orders=loan.liquidation_orders, recovered=to_yuan(loan.recovered),
                    shortfall=to_yuan(loan.shortfall), history=loan.history,
                    expiring=expiry_flags(registry, loan.receipt_ids))


def financing(request: Request) -> Financing:
    return request.app.ctx.exchange.state.financing


async def run(request: Request, command) -> object:
    """Sequence a financing command; its outcome, or the refusal as an error answer."""
    return (await submit(request, command, FINANCING_STATUS)).outcome


def visible_loan(request: Request, loan_id: int) -> Loan:
    """The loan if the caller is its borrower, its lender or clearing staff, else 404."""
    loan = financing(request).loans.get(loan_id)
    key = request.ctx.key
    if loan is None or not ("clearing" in key.roles or key.member in (loan.borrower, loan.lender)):
        raise ApiError(404, "LOAN_NOT_FOUND", f"no loan {loan_id}")
    return loan


@bp.post("/v1/financing/terms")
@idempotent
async def set_terms(request: Request) -> HTTPResponse:
    key = require(request, "lender")
    req: TermsRequest = decode(request, TermsRequest)
    terms = await run(request, SetTerms(actor=key.member, **msgspec.structs.asdict(req)))
    return respond(terms, 201)


@bp.get("/v1/financing/terms")
async def list_terms(request: Request) -> HTTPResponse:
    return respond(list(financing(request).terms.values()))


@bp.post("/v1/loans")
@idempotent
async def request_loan(request: Request) -> HTTPResponse:
    key = require(request, "trader", "supplier")
    req: LoanRequest = decode(request, LoanRequest)
    principal = fen(req.principal, "principal", "INVALID_AMOUNT")
    loan = await run(request, RequestLoan(actor=key.member, lender=req.lender, receipt_ids=req.receipt_ids,
                                          principal=principal, tenor_days=req.tenor_days))
    return respond(loan_view(loan, request.app.ctx.exchange.registry), 201)


@bp.get("/v1/loans")
async def list_loans(request: Request) -> HTTPResponse:
    key = request.ctx.key
    loans = financing(request).loans.values()
    if "clearing" not in key.roles:
        loans = [loan for loan in loans if key.member in (loan.borrower, loan.lender)]
    state = query_text(request, LOANS_STATE)
    registry = request.app.ctx.exchange.registry
    return respond([loan_view(loan, registry) for loan in loans if state is None or loan.state == state])


@bp.get("/v1/loans/<loan_id:int>")
async def get_loan(request: Request, loan_id: int) -> HTTPResponse:
    return respond(loan_view(visible_loan(request, loan_id), request.app.ctx.exchange.registry))


async def decide(request: Request, loan_id: int, approve: bool) -> HTTPResponse:
    """The lender approves or declines a requested loan."""
    key = require(request, "lender")
    visible_loan(request, loan_id)
    loan = await run(request, DecideLoan(actor=key.member, loan_id=loan_id, approve=approve))
    return respond(loan_view(loan, request.app.ctx.exchange.registry))


@bp.post("/v1/loans/<loan_id:int>/approve")
@idempotent
async def approve(request: Request, loan_id: int) -> HTTPResponse:
    return await decide(request, loan_id, True)


@bp.post("/v1/loans/<loan_id:int>/decline")
@idempotent
async def decline(request: Request, loan_id: int) -> HTTPResponse:
    return await decide(request, loan_id, False)


@bp.post("/v1/loans/<loan_id:int>/repay")
@idempotent
async def repay(request: Request, loan_id: int) -> HTTPResponse:
    visible_loan(request, loan_id)
    req: RepayRequest = decode(request, RepayRequest)
    amount = fen(req.amount, "amount", "INVALID_AMOUNT") if req.amount is not None else 0
    if req.amount is not None and amount <= 0:
        raise ApiError(400, "INVALID_AMOUNT", "the amount must be positive")
    loan = await run(request, RepayLoan(actor=request.ctx.key.member, loan_id=loan_id,
                                        amount=amount))
    return respond(loan_view(loan, request.app.ctx.exchange.registry))


@bp.post("/v1/loans/<loan_id:int>/collateral")
@idempotent
async def add_collateral(request: Request, loan_id: int) -> HTTPResponse:
    visible_loan(request, loan_id)
    req: CollateralRequest = decode(request, CollateralRequest)
    loan = await run(request, AddCollateral(actor=request.ctx.key.member, loan_id=loan_id,
                                            receipt_ids=req.receipt_ids))
    return respond(loan_view(loan, request.app.ctx.exchange.registry))


@bp.get("/v1/financing/credit/<member>")
async def credit(request: Request, member: str) -> HTTPResponse:
    key = request.ctx.key
    if key.member != member:
        require(request, "clearing", "lender")
    record = CreditRecord(member=member, defaulted_loans=financing(request).defaults.get(member, []))
    return respond(record)
