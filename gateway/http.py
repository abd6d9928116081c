"""HTTP helpers shared by the route modules: JSON answers, body and query decoding, price
parsing, role checks and submitting a command whose refusal becomes an error answer."""

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from exchange.journal import Entry
from exchange.state import Result
from gateway.auth import ApiKey
from gateway.errors import CLEARING_STATUS, ApiError, refused
from gateway.prices import PriceError, to_fen
from gateway.wire import QueryInt, QueryText, money_code

_encode = msgspec.json.Encoder().encode
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_FIELD = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)`$")  # where a msgspec ValidationError points


def respond(body: Any, status: int = 200) -> HTTPResponse:
    """``body`` as a JSON answer."""
    return HTTPResponse(_encode(body), status=status, content_type="application/json")


def decode(request: Request, kind: type) -> Any:
    """The request body as ``kind`` (``parse``)."""
    return parse(request.body, kind)


def parse(body: bytes | None, kind: type) -> Any:
    """A JSON body (none: ``{}``) as ``kind``, or 400: MALFORMED_JSON (also for invalid UTF-8),
    INVALID_PRICE / INVALID_AMOUNT for a money field, else INVALID_REQUEST."""
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as e:
        field = _FIELD.search(str(e))
        raise ApiError(400, (field and money_code(kind, field[1])) or "INVALID_REQUEST", str(e)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, "MALFORMED_JSON", f"not JSON in UTF-8: {e}") from None


def query_int(request: Request, param: QueryInt) -> int:
    """The integer query parameter ``param`` (its default when absent), or 400 INVALID_REQUEST
    when it is not a decimal integer within its bounds."""
    text = request.args.get(param.name)
    if text is None:
        return param.default
    if _INTEGER.fullmatch(text) is None or not param.lo <= int(text) <= param.hi:
        raise ApiError(400, "INVALID_REQUEST", f"{param.name} must be an integer from {param.lo} to {param.hi}")
    return int(text)


def respond_csv(text: str) -> HTTPResponse:
    """A report rendered as CSV (``?format=csv``)."""
    return HTTPResponse(text, content_type="text/csv; charset=utf-8")


def query_text(request: Request, param: QueryText) -> str | None:
    """The string query parameter ``param`` (its default when absent), or 400 ``param.code``
    when it is not one of its choices: a misspelt filter is refused, not read as "none match"."""
    text = request.args.get(param.name, param.default)
    if text is not None and param.choices is not None and text not in param.choices:
        raise ApiError(400, param.code, f"{param.name} is one of {', '.join(param.choices)}")
    return text


def fen(text: str | None, field: str, code: str = "INVALID_PRICE") -> int:
    """A yuan decimal string in the money grammar as integer fen, or 400 ``code``."""
    if text is None:
        raise ApiError(400, code, f"{field} is required")
    try:
        return to_fen(text)
    except PriceError as e:
        raise ApiError(400, code, f"{field}: {e}") from None


async def submit(request: Request, command: Any, statuses: Mapping[str, int] = CLEARING_STATUS) -> Result:
    """Sequence ``command`` and return its result; a refusal (receipt, clearing, financing or
    pre-trade rule) becomes an ApiError, its status from the table ``statuses``."""
    return await submit_to(request.app.ctx.exchange, command, statuses)


async def submit_to(exchange: Any, command: Any, statuses: Mapping[str, int] = CLEARING_STATUS) -> Result:
    """``submit`` to the sequencer ``exchange``."""
    result = await exchange.submit(Entry(command))
    if (refusal := result.rejection) is not None:
        raise refused(refusal.code, refusal.message, statuses)
    return result


def require(request: Request, *roles: str) -> ApiKey:
    """The caller's key if it carries one of ``roles``, else 403."""
    key: ApiKey = request.ctx.key
    if not key.roles.intersection(roles):
        raise ApiError(403, "FORBIDDEN", f"needs one of the roles: {', '.join(roles)}")
    return key


async def projected(exchange) -> None:
    """Wait until the SQL projections reach every command ``exchange`` journaled so far
    (read-your-writes); 503 PROJECTION_LAG (retry shortly) when the projector is further behind
    than the wait."""
    if not await exchange.projected():
        raise ApiError(503, "PROJECTION_LAG", "the record is behind the journal for a moment; retry shortly")
