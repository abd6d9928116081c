"""Browser sessions over HTTP: sign in with a signed request, sign out, and the operator's list
and revocation (``gateway.sessions``). Sign-out and revocation take an Idempotency-Key like every
state-changing route; sign-in does not (``openapi.NOT_IDEMPOTENT_BY_KEY``): its answer carries a
CSRF token and sets a cookie, neither of which may be stored to be replayed, and a retried
sign-in simply opens another session (the unused one expires)."""

import re

from sanic import Blueprint, HTTPResponse, Request

from gateway.errors import ApiError
from gateway.http import require, respond
from gateway.idempotency import idempotent
from gateway.sessions import COOKIE, Revoked, Sessions, SignedIn

bp = Blueprint("sessions")
SESSION_ID = re.compile(r"s_[0-9a-f]{16}")


def sessions(request: Request) -> Sessions:
    return request.app.ctx.sessions


@bp.post("/v1/session")
async def sign_in(request: Request) -> HTTPResponse:
    """A signed request (never one made with a session cookie) opens a session: the cookie is
    set ``HttpOnly; SameSite=Strict; Path=/``, the CSRF token is in the answer."""
    if getattr(request.ctx, "session", None) is not None:
        raise ApiError(401, "SIGNATURE_REQUIRED", "sign in with a request signed by your API key")
    if request.body and request.body.strip() not in (b"{}", b""):
        raise ApiError(400, "INVALID_REQUEST", "sign-in takes no body (or {})")
    store = sessions(request)
    token, session = store.open(request.ctx.key, request.client_ip or "", request.headers.get("user-agent", ""))
    response = respond(SignedIn(session=store.view(session), csrf_token=session.csrf), 201)
    response.add_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict", secure=request.scheme == "https",
                        max_age=int(store.lifetime))
    return response


@bp.get("/v1/session")
async def current(request: Request) -> HTTPResponse:
    """The session this request was made with (404 NO_SESSION for a signed request)."""
    session = getattr(request.ctx, "session", None)
    if session is None:
        raise ApiError(404, "NO_SESSION", "this request was signed, not made with a session")
    return respond(sessions(request).view(session))


@bp.delete("/v1/session")
@idempotent
async def sign_out(request: Request) -> HTTPResponse:
    """End the session this request was made with, and clear its cookie."""
    session = getattr(request.ctx, "session", None)
    ended = session is not None and sessions(request).revoke(session.session_id)
    response = respond(Revoked(session_id=session.session_id if session else "", revoked=ended))
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.get("/v1/admin/sessions")
async def list_sessions(request: Request) -> HTTPResponse:
    require(request, "operator")
    return respond(sessions(request).list())


@bp.delete("/v1/admin/sessions/<session_id>")
@idempotent
async def revoke(request: Request, session_id: str) -> HTTPResponse:
    require(request, "operator")
    if SESSION_ID.fullmatch(session_id) is None:
        raise ApiError(400, "INVALID_REQUEST", "a session id is s_ and 16 hex digits")
    return respond(Revoked(session_id=session_id, revoked=sessions(request).revoke(session_id)))
