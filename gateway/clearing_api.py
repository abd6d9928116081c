"""Clearing routes: clearing staff record deposits and withdrawals, run end of day, read
reports and reconcile; members read their balances and ledger statement. Amounts on the wire
are yuan decimal strings, as prices are."""

import csv
import io
from typing import Annotated

import msgspec
from msgspec import Meta
from sanic import Blueprint, HTTPResponse, Request

from clearing.core import Deposit, EndOfDay, SettlementReport, Withdraw
from clearing.escrow import bulk
from clearing.ledger import Ledger, cash, held, margin
from gateway.errors import ApiError
from gateway.http import decode, fen, projected, query_int, query_text, require, respond, respond_csv, submit
from gateway.idempotency import idempotent
from gateway.prices import iso, to_yuan
from gateway.reconcile import reconcile
from gateway.wire import LEDGER_LIMIT, MEMBER_FILTER, REPORT_FORMAT, MemberName, Money

bp = Blueprint("clearing")

_STRICT = {"forbid_unknown_fields": True, "kw_only": True}


class FundingRequest(msgspec.Struct, **_STRICT):
    member: MemberName
    amount: Money
    reference: Annotated[str, Meta(min_length=1, max_length=64)]


class EndOfDayRequest(msgspec.Struct, **_STRICT):
    window_minutes: Annotated[int, Meta(ge=1, le=1_440)] = 60


class Balances(msgspec.Struct, kw_only=True):
    member: str
    available: str
    held: str
    margin: str
    escrow: str = "0.00"  # frozen by auctions and listings: pre-deposits, bonds, payments (``bulk:M``)


class FundingAnswer(msgspec.Struct, kw_only=True):
    """A deposit or withdrawal as booked, with the member's balances now. A retry with the same
    (member, reference) answers with the same ``transfer_id``: the money moved once."""

    member: str
    kind: str
    amount: str
    reference: str
    transfer_id: int
    available: str
    held: str
    margin: str


class StatementLine(msgspec.Struct, kw_only=True):
    transfer_id: int
    at: str
    account: str
    amount: str
    code: str
    ref: str
    counter_account: str


def balances(ledger, member: str) -> Balances:
    return Balances(member=member, available=to_yuan(ledger.balance(cash(member))),
                    held=to_yuan(ledger.balance(held(member))), margin=to_yuan(ledger.balance(margin(member))),
                    escrow=to_yuan(ledger.balance(bulk(member))))


MONEY_FIELDS = ("bought_value", "sold_value", "fees", "deposits", "withdrawals", "net_cash", "cash_available",
                "cash_held", "warehouse_cash", "opening_balance", "closing_balance")


def report_view(report: SettlementReport, member: str | None = None) -> dict:
    """The report with amounts in yuan; only ``member``'s row if given."""
    data = msgspec.to_builtins(report)
    data["at"] = iso(report.ts_ns)
    data["fee_revenue"], data["turnover"] = to_yuan(report.fee_revenue), to_yuan(report.turnover)
    for row in data["instruments"]:
        row["settlement_price"], row["turnover"] = to_yuan(row["settlement_price"]), to_yuan(row["turnover"])
    for row in data["members"]:
        for name in MONEY_FIELDS:
            row[name] = to_yuan(row[name])
        row["flows"] = {code: to_yuan(fen) for code, fen in row["flows"].items()}
    _forward_rows(data)
    if member is not None:
        for part in ("members", "positions", "variation", "margin_calls", "fund_draws"):
            data[part] = [row for row in data[part] if row["member"] == member]
        data["deliveries"] = [row for row in data["deliveries"] if member in (row["short"], row["long"])]
        del data["fee_revenue"]
    return data


def _forward_rows(data: dict) -> None:
    """The forwards' part of a report in yuan: positions (without settlement's workings),
    variation, margin calls and default-fund draws."""
    data["positions"] = [{"member": p["member"], "symbol": p["symbol"], "net": p["net"],
                          "average_open_price": to_yuan(p["open_price"]), "realised": to_yuan(p["realised"])}
                         for p in data["positions"]]
    for part in ("variation", "margin_calls", "fund_draws"):
        for row in data[part]:
            row["amount"] = to_yuan(row["amount"])
    for row in data["deliveries"]:
        for name in ("premium", "differential", "value", "fee", "penalty", "penalty_paid"):
            row[name] = to_yuan(row[name])


def report_csv(view: dict) -> str:
    """One row per member, its money's flows by code, one row per instrument, the forwards' sections
    (positions, variation, margin calls, fund draws, deliveries) when there are any, then the
    exchange's totals. Each section starts with a header row whose first cell is ``section``."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["member", "bought_lots", "sold_lots", "receipts_in", "receipts_out", *MONEY_FIELDS]
    writer.writerow(["section", *columns])
    for row in view["members"]:
        writer.writerow(["member", *(row[c] for c in columns)])
    writer.writerow(["section", "member", "code", "amount"])
    for row in view["members"]:
        for code, amount in row["flows"].items():
            writer.writerow(["flow", row["member"], code, amount])
    writer.writerow(["section", "symbol", "settlement_price", "trades", "volume_lots", "turnover"])
    for row in view["instruments"]:
        writer.writerow(["instrument", row["symbol"], row["settlement_price"], row["trades"], row["volume_lots"],
                         row["turnover"]])
    for part, name in (("positions", "position"), ("variation", "variation"), ("margin_calls", "margin_call"),
                       ("fund_draws", "fund_draw"), ("deliveries", "delivery")):
        _csv_section(writer, name, view[part])
    if "fee_revenue" in view:
        writer.writerow(["exchange", "day", view["day"], "fee_revenue", view["fee_revenue"], "turnover",
                         view["turnover"]])
    return out.getvalue()


def _csv_section(writer, name: str, rows: list[dict]) -> None:
    """A section of flat rows (nested values as JSON), headed by the first row's fields."""
    if not rows:
        return
    columns = list(rows[0])
    writer.writerow(["section", *columns])
    for row in rows:
        writer.writerow([name, *(msgspec.json.encode(v).decode() if isinstance(v, (list, dict, bool)) else v
                                 for v in (row.get(c) for c in columns))])


def ledger(request: Request) -> Ledger:
    return request.app.ctx.exchange.state.clearing.ledger


async def run(request: Request, command):
    """Sequence a clearing command; its outcome, or the refusal as a 422 answer."""
    return (await submit(request, command)).outcome


async def funding(request: Request, kind: type) -> HTTPResponse:
    """Record a deposit or withdrawal (``kind``) for a member, once per (member, reference)."""
    key = require(request, "clearing")
    req: FundingRequest = decode(request, FundingRequest)
    if req.member not in request.app.ctx.members:
        raise ApiError(422, "UNKNOWN_MEMBER", f"no member {req.member}")
    amount = fen(req.amount, "amount", "INVALID_AMOUNT")
    if amount <= 0:
        raise ApiError(400, "INVALID_AMOUNT", "the amount must be positive")
    record = await run(request, kind(actor=key.member, member=req.member, amount=amount, reference=req.reference))
    now = balances(ledger(request), req.member)
    return respond(FundingAnswer(member=record.member, kind=record.kind, amount=to_yuan(record.amount),
                                 reference=record.reference, transfer_id=record.transfer_id,
                                 available=now.available, held=now.held, margin=now.margin), 201)


@bp.post("/v1/clearing/deposits")
@idempotent
async def cash_deposit(request: Request) -> HTTPResponse:
    return await funding(request, Deposit)


@bp.post("/v1/clearing/withdrawals")
@idempotent
async def cash_withdrawal(request: Request) -> HTTPResponse:
    return await funding(request, Withdraw)


@bp.get("/v1/accounts/me")
async def my_accounts(request: Request) -> HTTPResponse:
    return respond(balances(ledger(request), request.ctx.key.member))


@bp.get("/v1/accounts")
async def all_accounts(request: Request) -> HTTPResponse:
    require(request, "clearing")
    one = query_text(request, MEMBER_FILTER)
    members = [one] if one else sorted(request.app.ctx.members)
    return respond([balances(ledger(request), m) for m in members])


def statement_line(row, accounts: list[str]) -> StatementLine:
    """A transfer as seen from the member owning ``accounts``: negative when they paid."""
    ours_debited = row["debit"] in accounts
    return StatementLine(
        transfer_id=row["transfer_id"], at=iso(row["ts_ns"]),
        account=row["debit"] if ours_debited else row["credit"],
        amount=to_yuan(-row["amount"] if ours_debited else row["amount"]), code=row["code"], ref=row["ref"],
        counter_account=row["credit"] if ours_debited else row["debit"])


@bp.get("/v1/ledger")
async def statement(request: Request) -> HTTPResponse:
    key = request.ctx.key
    member = query_text(request, MEMBER_FILTER) or key.member
    if member != key.member:
        require(request, "clearing")
    limit = query_int(request, LEDGER_LIMIT)
    accounts = [cash(member), held(member), margin(member), bulk(member)]  # as /v1/accounts/me shows them
    await projected(request.app.ctx.exchange)
    rows = await request.app.ctx.pool.fetch(
        "SELECT transfer_id, debit, credit, amount, code, ref, ts_ns FROM transfers "
        "WHERE debit = ANY($1) OR credit = ANY($1) ORDER BY transfer_id DESC LIMIT $2", accounts, limit)
    return respond([statement_line(r, accounts) for r in rows])


@bp.post("/v1/clearing/end-of-day")
@idempotent
async def end_of_day(request: Request) -> HTTPResponse:
    key = require(request, "clearing")
    req: EndOfDayRequest = decode(request, EndOfDayRequest)
    report = await run(request, EndOfDay(actor=key.member, window_ns=req.window_minutes * 60_000_000_000))
    return respond(report_view(report), 201)


def find_report(reports: list[SettlementReport], day: str) -> SettlementReport:
    """Day ``day``'s report (days count from 1) or the last one for ``latest``, else 404."""
    if not reports:
        raise ApiError(404, "NO_REPORT", "no trading day has been closed yet")
    if day == "latest":
        return reports[-1]
    try:
        number = int(day)
    except ValueError:
        number = 0
    if not 1 <= number <= len(reports):
        raise ApiError(404, "NO_REPORT", f"no report for day {day}")
    return reports[number - 1]


@bp.get("/v1/clearing/reports/<day>")
async def report(request: Request, day: str) -> HTTPResponse:
    as_csv = query_text(request, REPORT_FORMAT) == "csv"
    found = find_report(request.app.ctx.exchange.state.clearing.reports, day)
    key = request.ctx.key
    view = report_view(found, None if "clearing" in key.roles else key.member)
    if as_csv:
        return respond_csv(report_csv(view))
    return respond(view)


@bp.get("/v1/clearing/reconcile")
async def reconcile_route(request: Request) -> HTTPResponse:
    require(request, "clearing")
    async with request.app.ctx.pool.acquire() as conn:
        return respond((await reconcile(conn, request.app.ctx.exchange)).view())
