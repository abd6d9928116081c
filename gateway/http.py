"""HTTP helpers shared by the route modules: JSON answers, the error shape, body decoding,
price parsing and role checks."""

from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from exchange.journal import Entry
from gateway.auth import ApiKey
from gateway.prices import PriceError, to_fen

_encode = msgspec.json.Encoder().encode


class ApiError(Exception):
    """An error answer: HTTP status, stable code, human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def respond(body: Any, status: int = 200) -> HTTPResponse:
    return HTTPResponse(_encode(body), status=status, content_type="application/json")


def error(status: int, code: str, message: str, headers: dict | None = None) -> HTTPResponse:
    body = _encode({"error": {"code": code, "message": message}})
    return HTTPResponse(body, status=status, content_type="application/json", headers=headers)


def decode(request: Request, kind: type) -> Any:
    """The request body as ``kind``, or 400."""
    try:
        return msgspec.json.decode(request.body or b"{}", type=kind)
    except msgspec.ValidationError as e:
        raise ApiError(400, "INVALID_REQUEST", str(e)) from None
    except msgspec.DecodeError as e:
        raise ApiError(400, "MALFORMED_JSON", str(e)) from None


def fen(text: str | None, field: str) -> int:
    """A yuan decimal string as integer fen, or 400."""
    if text is None:
        raise ApiError(400, "INVALID_PRICE", f"{field} is required")
    try:
        return to_fen(text)
    except PriceError as e:
        raise ApiError(400, "INVALID_PRICE", str(e)) from None


async def submit(app, command, statuses: dict[str, int] | None = None, default: int = 422):
    """Sequence ``command`` and return its result; a refusal (receipt, clearing or financing
    rule) becomes an ApiError, its status from ``statuses`` by code, else ``default``."""
    result = await app.ctx.exchange.submit(Entry(command))
    if (refused := result.rejection) is not None:
        raise ApiError((statuses or {}).get(refused.code, default), refused.code, refused.message)
    return result


def require(request: Request, *roles: str) -> ApiKey:
    """The caller's key if it carries one of ``roles``, else 403."""
    key: ApiKey = request.ctx.key
    if not key.roles.intersection(roles):
        raise ApiError(403, "FORBIDDEN", f"needs one of the roles: {', '.join(roles)}")
    return key
