"""Request middleware: every request is signed (HMAC, each signature accepted once) or made
with a browser session (cookie + CSRF header, ``gateway.sessions``) and rate-limited per key,
except the public paths (the desk's static files among them); an overlong URL is 414 before
anything else."""

from sanic import HTTPResponse, Request

from gateway import errors
from gateway.auth import TokenBucket
from gateway.sessions import COOKIE, CSRF_HEADER

MAX_URL_BYTES = 4_096  # path and query; longer is 414 (a whole request head is at most 8 KiB: 431)
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json", "/docs", "/v1/ws", "/", "/favicon.ico"})
PUBLIC_PREFIXES = ("/v1/market/", "/desk/")  # /desk/: the desk's static files (gateway/desk/)
RATE_LIMITED_MESSAGE = "too many requests"
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def failed(request: Request, exception: Exception) -> None:
    """Mark a request whose answer is an error (signal ``http.lifecycle.exception``)."""
    request.ctx.failed = True


async def refuse_on_standby(request: Request) -> HTTPResponse | None:
    """A standby changes nothing: every POST, PATCH and DELETE is 503 STANDBY (reads are served)."""
    exchange = getattr(request.app.ctx, "exchange", None)
    if exchange is None or exchange.role == "primary" or request.method not in MUTATING:
        return None
    return errors.error(503, "STANDBY", errors.standby_message(exchange.refusal))


async def authenticate(request: Request) -> HTTPResponse | None:
    """Refuse an overlong URL (414); verify the signature of a non-public request, accepting
    each signature once; spend a token of its key's bucket.

    Sanic runs request middleware also before answering a request that failed before its
    handler (oversized body or head, unknown route, unparsable request, or a refusal here):
    such a request is answered with its own error, not 401.
    """
    if getattr(request.ctx, "failed", False):
        return None
    if len(request.raw_url) > MAX_URL_BYTES:
        return errors.error(414, "URI_TOO_LONG", f"the URL exceeds {MAX_URL_BYTES} bytes")
    if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return None
    ctx = request.app.ctx
    path = request.path + ("?" + request.query_string if request.query_string else "")
    h = request.headers
    token = request.cookies.get(COOKIE) if "x-api-key" not in h else None
    if token:  # a browser's session: its CSRF header too (a signed request ignores the cookie)
        request.ctx.session = ctx.sessions.check(token, h.get(CSRF_HEADER))
        key = request.ctx.session.key
    else:
        key = ctx.auth.verify_once(h.get("x-api-key"), h.get("x-timestamp"), h.get("x-signature"), request.method,
                                   path, request.body or b"")
    if wait := spend_token(ctx, key.api_key):
        return errors.error(429, "RATE_LIMITED", RATE_LIMITED_MESSAGE, {"Retry-After": str(retry_after(wait))})
    request.ctx.key = key
    return None


def spend_token(ctx, api_key: str) -> float:
    """Spend a token of the key's bucket (shared by its HTTP requests and WebSocket order
    messages); return 0, or the seconds to wait when it is empty."""
    bucket = ctx.buckets.get(api_key)
    if bucket is None:
        bucket = ctx.buckets[api_key] = TokenBucket(*ctx.rate_limit)
    return bucket.take()


def retry_after(wait: float) -> int:
    """Whole seconds for ``Retry-After``: at least 1."""
    return max(1, round(wait + 0.5))
