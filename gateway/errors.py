"""Errors on the wire: ``ApiError``, the HTTP status of each stable reject code, and the Sanic
exception handlers.

Every error answer is ``{"error": {"code", "message"}}``. An unexpected exception is logged
with the request id and answered 500 ``STATUS_UNKNOWN`` (the command may or may not have been
done: query by client_order_id); that answer also carries the request id.
"""

import logging
from collections.abc import Iterable, Mapping

import msgspec
from sanic import HTTPResponse, Request
from sanic.exceptions import PayloadTooLarge, SanicException

from engine import Rejected
from gateway.auth import AuthError
from gateway.sequencer import ShuttingDown, Standby, StatusUnknown

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

# A reject code's HTTP status depends on what was refused, so there is one table per kind of
# command; a code missing from its table is 422. The same code can differ: RECEIPT_PLEDGED is
# 409 on a receipt action (the receipt's state conflicts) but 422 on a sell order or a loan
# request naming that receipt (the request cannot be processed as sent).
DEFAULT_STATUS = 422
ENGINE_STATUS: Mapping[str, int] = {  # orders (with their pre-trade refusals), instruments, sessions
    "UNKNOWN_ORDER": 409, "SESSION_CLOSED": 409, "SESSION_HALTED": 409, "UNKNOWN_INSTRUMENT": 404,
    "DUPLICATE_INSTRUMENT": 409, "INVALID_SESSION_TRANSITION": 409,
}
RECEIPT_STATUS: Mapping[str, int] = {  # warehouse-receipt registry commands
    "RECEIPT_NOT_FOUND": 404, "NOT_OWNER": 403, "NOT_PLEDGEE": 403, "NOT_WAREHOUSE": 403,
    "RECEIPT_LOCKED": 409, "RECEIPT_PLEDGED": 409, "RECEIPT_FROZEN": 409, "RECEIPT_CANCELLED": 409,
    "RECEIPT_NOT_LOCKED": 409, "RECEIPT_NOT_PLEDGED": 409, "RECEIPT_NOT_FROZEN": 409,
    "RECEIPT_BOUND_TO_ORDER": 409, "DUPLICATE_CERTIFICATE": 409, "PICKUP_CODE_REQUIRED": 400, "RECEIPT_ON_LOAN": 409,
    # warehouse operations
    "RECEIPT_RELEASED_FOR_PICKUP": 409, "RECEIPT_NOT_RELEASED": 409, "RELEASE_NOT_FOUND": 404,
    "RECEIPT_EXPIRED": 409, "RECEIPT_TENDERED": 409, "RECEIPT_NOT_TENDERED": 409,
    "WRONG_PICKUP_CODE": 403, "PICKUP_WINDOW_CLOSED": 409, "RELEASE_PICKED_UP": 409, "DUPLICATE_REFERENCE": 409,
    "RELEASE_CLOSED": 409,
}
FINANCING_STATUS: Mapping[str, int] = {  # financing commands
    "LOAN_NOT_FOUND": 404, "NOT_LENDER": 403, "NOT_BORROWER": 403, "LOAN_NOT_PENDING": 409,
    "LOAN_NOT_ACTIVE": 409, "RECEIPT_PLEDGED": 409, "RECEIPT_NOT_AVAILABLE": 409, "RECEIPT_EXPIRED": 409,
}
CLEARING_STATUS: Mapping[str, int] = {  # deposits, withdrawals, end of day, fees, the catalogue
    "DUPLICATE_REFERENCE": 409, "CATALOGUE_CHANGED": 409, "OPEN_ORDERS": 409, "TERMS_FIXED": 409,
    "DUPLICATE_INSTRUMENT": 409,
    "UNKNOWN_INSTRUMENT": 404,
}
DELIVERY_STATUS: Mapping[str, int] = {  # a forward's delivery: tenders, intents, allocation
    **RECEIPT_STATUS, "UNKNOWN_INSTRUMENT": 404, "INVALID_REQUEST": 400, "NOT_DELIVERABLE": 422,
    "NOT_SHORT": 409, "NOT_LONG": 409, "TENDER_NOT_OPEN": 409, "TENDER_CLOSED": 409, "TENDER_EXCEEDS_POSITION": 409,
    "TENDER_OPEN": 409, "ALLOCATION_DONE": 409,
}
SUPPLY_STATUS: Mapping[str, int] = {  # auctions and listings (bulk supply); the rest are 422
    "AUCTION_NOT_FOUND": 404, "LOT_NOT_FOUND": 404, "LISTING_NOT_FOUND": 404, "COUNTER_NOT_FOUND": 404,
    "UNKNOWN_INSTRUMENT": 404, "AUCTION_NOT_OPEN": 409, "AUCTION_CLOSED": 409, "LISTING_CLOSED": 409,
    "COUNTER_CLOSED": 409, "LOT_NOT_PAYABLE": 409, "LOT_RECEIPT_UNAVAILABLE": 409, "NO_SETTLEMENT_PRICE": 409,
    "NOT_ELIGIBLE": 403, "NOT_WINNER": 403, "NOT_LISTING_OWNER": 403,
    # 422: BELOW_FLOOR, ABOVE_CEILING, INCREMENT_TOO_SMALL, BUYER_CAP, INSUFFICIENT_DEPOSIT, INSUFFICIENT_FUNDS,
    # BUYER_FUNDS_SHORT, LOT_QUANTITY_MISMATCH, SELF_TRADE, INVALID_AUCTION, INVALID_LOT, INVALID_LISTING,
    # INVALID_PRICE, INVALID_FEE, INVALID_CATEGORY
}

STATUS_UNKNOWN_MESSAGE = "status unknown: query by client_order_id"
SHUTTING_DOWN_MESSAGE = "the exchange is closing; nothing was done"


class ApiError(Exception):
    """An error answer: HTTP status, stable code, human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def status_of(code: str, statuses: Mapping[str, int]) -> int:
    """The HTTP status of reject ``code`` in the table ``statuses``."""
    return statuses.get(code, DEFAULT_STATUS)


def refused(code: str, message: str, statuses: Mapping[str, int]) -> ApiError:
    """The answer to a command refused with ``code``."""
    return ApiError(status_of(code, statuses), code, message)


def rejected(events: Iterable, statuses: Mapping[str, int] = ENGINE_STATUS) -> ApiError | None:
    """The answer to the engine's rejection among ``events``, if there is one."""
    for e in events:
        if isinstance(e, Rejected):
            return refused(e.code, f"rejected by the exchange: {e.code}", statuses)
    return None


def error_body(code: str, message: str, request_id: str | None = None) -> dict:
    """``{"error": {"code", "message"}}`` (plus ``request_id`` when given)."""
    body = {"code": code, "message": message}
    if request_id is not None:
        body["request_id"] = request_id
    return {"error": body}


def error(status: int, code: str, message: str, headers: dict | None = None,
          request_id: str | None = None) -> HTTPResponse:
    """An error answer ``{"error": {"code", "message"}}`` (plus ``request_id`` when given)."""
    return HTTPResponse(_encode(error_body(code, message, request_id)), status=status,
                        content_type="application/json", headers=headers)


def refusal_of(exc: Exception) -> tuple[int, str, str] | None:
    """(status, code, message) of a refusal the handlers below answer without logging, else None."""
    if isinstance(exc, (ApiError, AuthError)):
        return exc.status, exc.code, exc.message
    if isinstance(exc, ShuttingDown):
        return 503, "SHUTTING_DOWN", SHUTTING_DOWN_MESSAGE
    if isinstance(exc, Standby):
        return 503, "STANDBY", standby_message(exc.args[0] if exc.args else None)
    return None


def sanic_code(exc: SanicException) -> str:
    """A stable code from Sanic's exception class: NotFound -> NOT_FOUND."""
    name = type(exc).__name__.replace("Error", "")
    return "".join("_" + c if c.isupper() else c for c in name).strip("_").upper() or "ERROR"


async def api_error(request: Request, exc: ApiError | AuthError) -> HTTPResponse:
    return error(exc.status, exc.code, exc.message)


async def shutting_down(request: Request, exc: ShuttingDown) -> HTTPResponse:
    return error(503, "SHUTTING_DOWN", SHUTTING_DOWN_MESSAGE)


async def standby(request: Request, exc: Standby) -> HTTPResponse:
    return error(503, "STANDBY", standby_message(exc.args[0] if exc.args else None))


def standby_message(refusal: str | None) -> str:
    return refusal or "this node is the hot standby: send commands to the primary; nothing was done"


async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
    if isinstance(exc, PayloadTooLarge) and "header" in str(exc):  # Sanic says 413 for an oversized head too
        return error(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", str(exc))
    return error(exc.status_code, sanic_code(exc), str(exc))


async def unexpected(request: Request, exc: Exception) -> HTTPResponse:
    """Log the exception with the request id; answer 500 STATUS_UNKNOWN carrying that id."""
    request_id = str(request.id)
    log.exception("request %s: %s %s failed", request_id, request.method, request.path, exc_info=exc)
    return error(500, "STATUS_UNKNOWN", STATUS_UNKNOWN_MESSAGE, request_id=request_id)


# (exception classes, handler), for ``app.exception``; Sanic picks the nearest class in the MRO
HANDLERS = (
    ((ApiError, AuthError), api_error),
    ((ShuttingDown,), shutting_down),
    ((Standby,), standby),
    ((SanicException,), sanic_error),
    ((StatusUnknown, Exception), unexpected),
)
