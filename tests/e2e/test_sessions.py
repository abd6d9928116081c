"""Browser sessions: a signed sign-in sets an HttpOnly, SameSite=Strict cookie and answers a CSRF
token; the cookie works only with that token; sign-out, revocation and expiry end it; the
REST API's signatures are unchanged and ignore the cookie."""

import asyncio
import contextlib
import json
import uuid

import pytest
import websockets

from gateway.auth import ApiKey
from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.process import ServerProcess
from gateway.sessions import COOKIE, Sessions
from tests.conftest import fresh_database
from tests.support.ws import until


def sign_in(server, member: str) -> tuple[str, str, dict]:
    """(cookie token, CSRF token, the answer) of a signed sign-in."""
    client = server.client(member)
    status, body = client.request("POST", "/v1/session")
    assert status == 201, body
    cookie = client.last_headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie, cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in str(body) and "api_secret" not in body
    return token, body["csrf_token"], body


def with_cookie(server, token: str, csrf: str | None, method: str, path: str, body=None) -> tuple[int, dict]:
    headers = {"Cookie": f"{COOKIE}={token}", "Content-Type": "application/json"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return Client(server.base).request(method, path, body, headers=headers)


def test_a_session_works_only_with_its_csrf_token(server) -> None:
    token, csrf, answer = sign_in(server, "huafang-textile")
    assert answer["session"]["member"] == "huafang-textile" and answer["session"]["roles"] == ["trader"]
    status, me = with_cookie(server, token, csrf, "GET", "/v1/accounts/me")
    assert status == 200 and me["member"] == "huafang-textile"
    status, body = with_cookie(server, token, None, "GET", "/v1/accounts/me")
    assert (status, body["error"]["code"]) == (403, "CSRF_TOKEN_MISSING")
    status, body = with_cookie(server, token, "x" * 43, "POST", "/v1/orders",
                               {"symbol": "CF", "side": "buy", "quantity": 1, "price": "14990.00",
                                "client_order_id": "csrf-forged"})
    assert (status, body["error"]["code"]) == (403, "CSRF_TOKEN_INVALID")
    status, order = with_cookie(server, token, csrf, "POST", "/v1/orders",
                                {"symbol": "CF", "side": "buy", "quantity": 1, "price": "14900.00",
                                 "client_order_id": "session-order"})
    assert status == 201 and order["status"] == "NEW", order
    assert with_cookie(server, token, csrf, "GET", "/v1/session")[1]["member"] == "huafang-textile"


def test_sign_out_ends_the_session(server) -> None:
    token, csrf, _ = sign_in(server, "luneng-agri")
    status, body = with_cookie(server, token, csrf, "DELETE", "/v1/session")
    assert status == 200 and body["revoked"] is True
    status, body = with_cookie(server, token, csrf, "GET", "/v1/accounts/me")
    assert (status, body["error"]["code"]) == (401, "SESSION_EXPIRED")


def test_the_operator_lists_and_revokes_sessions(server) -> None:
    token, csrf, answer = sign_in(server, "agri-bank")
    session_id = answer["session"]["session_id"]
    operator = server.client("exchange-ops")
    status, listed = operator.request("GET", "/v1/admin/sessions")
    assert status == 200 and session_id in {s["session_id"] for s in listed}
    assert server.client("agri-bank").request("GET", "/v1/admin/sessions")[0] == 403
    status, body = operator.request("DELETE", f"/v1/admin/sessions/{session_id}")
    assert status == 200 and body == {"session_id": session_id, "revoked": True}
    assert operator.request("DELETE", f"/v1/admin/sessions/{session_id}")[1]["revoked"] is False
    assert with_cookie(server, token, csrf, "GET", "/v1/loans")[0] == 401


def test_a_session_cannot_sign_in_again_and_signed_requests_ignore_the_cookie(server) -> None:
    token, csrf, _ = sign_in(server, "sinofert")
    status, body = with_cookie(server, token, csrf, "POST", "/v1/session")
    assert (status, body["error"]["code"]) == (401, "SIGNATURE_REQUIRED")
    other = server.client("clearing-desk")
    headers = other.headers("GET", "/v1/accounts/me", b"") | {"Cookie": f"{COOKIE}={token}"}
    status, me = other.request("GET", "/v1/accounts/me", headers=headers)
    assert status == 200 and me["member"] == "clearing-desk"


def test_sessions_expire_when_idle_and_at_their_lifetime() -> None:
    now = [1_000.0]
    store = Sessions(idle=60, lifetime=300, clock=lambda: now[0])
    ended: list[str] = []
    store.on_end.append(ended.append)
    key = ApiKey(api_key="ck_x", member="m", roles=frozenset({"trader"}))
    token, session = store.open(key)
    for _ in range(5):  # used every 50 s: the idle limit never bites ...
        now[0] += 50
        assert store.check(token, session.csrf) is session
    now[0] += 50  # ... but the lifetime does, at 300 s
    try:
        store.check(token, session.csrf)
        raise AssertionError("expired session accepted")
    except Exception as e:
        assert getattr(e, "code", None) == "SESSION_EXPIRED"
    assert ended == [session.session_id]
    token, session = store.open(key)
    now[0] += 61
    assert store.list() == [] and len(store) == 0


def test_touch_keeps_a_session_alive_until_it_is_idle_too_long() -> None:
    now = [1_000.0]
    store = Sessions(idle=60, lifetime=300, clock=lambda: now[0])
    ended: list[str] = []
    store.on_end.append(ended.append)
    _, session = store.open(ApiKey(api_key="ck_x", member="m", roles=frozenset({"trader"})))
    now[0] += 50
    assert store.touch(session)  # a WebSocket order message: the session is used
    now[0] += 50
    assert store.touch(session) and ended == []
    now[0] += 61
    assert not store.touch(session) and ended == []  # expired: the caller answers, then ends it
    store.end(session)
    assert ended == [session.session_id] and len(store) == 0 and not store.touch(session)


@pytest.fixture(scope="module")
def short_sessions(pg_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A server whose desk sessions end after 2 s without use."""
    databases = fresh_database(pg_url)
    proc = ServerProcess(tmp_path_factory.mktemp("sessions"), next(databases), env={"COMMEX_SESSION_IDLE_S": "2"})
    proc.cli("demo")
    proc.start()
    yield proc
    proc.stop()
    next(databases, None)


def test_a_desk_session_idle_too_long_enters_no_order_over_the_websocket(short_sessions) -> None:
    """Found by a review: order messages neither kept the session alive nor saw it expire."""
    server = short_sessions
    token, csrf, _ = sign_in(server, "huafang-textile")

    late_id = f"s-late-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[list[int], dict | None, int | None]:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/ws",
                                      additional_headers={"Cookie": f"{COOKIE}={token}"}) as ws:
            await ws.send(json.dumps({"type": "session", "csrf_token": csrf}))
            await until(ws, lambda m: m.get("type") == "logged_in")

            async def order(n: int, client_order_id: str) -> dict:
                body = {"symbol": CF_NEAR, "side": "buy", "quantity": 1, "price": "14600",
                        "client_order_id": client_order_id}
                await ws.send(json.dumps({"type": "order.new", "request_id": n, "body": body}))
                return await until(ws, lambda m: m.get("request_id") == n)

            kept = []
            for n in range(3):  # every 1.2 s: each order message keeps the session alive past its 2 s
                kept.append((await order(n, f"s-{uuid.uuid4().hex[:12]}"))["status"])
                await asyncio.sleep(1.2)
            await asyncio.sleep(1.5)
            late = None
            with contextlib.suppress(websockets.ConnectionClosed):  # the heartbeat may have ended it first
                late = await order(9, late_id)
                await until(ws, lambda m: False, timeout=5)
            return kept, late, ws.close_code

    kept, late, close_code = asyncio.run(scenario())
    assert kept == [201, 201, 201]
    if late is not None:  # refused: the session expired
        assert (late["status"], late["body"]["error"]["code"]) == (401, "SESSION_EXPIRED")
    assert close_code == 4001  # the session's end closes the socket it logged in
    status, _ = with_cookie(server, token, csrf, "GET", "/v1/orders")
    assert status == 401
    placed = server.client("huafang-textile").request("GET", "/v1/orders?status=all")[1]
    assert late_id not in {o["client_order_id"] for o in placed}


def test_a_desk_socket_that_only_receives_is_closed_when_its_session_expires(short_sessions) -> None:
    """Found by a review: expiry was only seen when something checked the session, so a socket
    following its private stream outlived it. The heartbeat task ends expired sessions."""
    server = short_sessions
    token, csrf, _ = sign_in(server, "huafang-textile")

    async def scenario() -> int | None:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/ws",
                                      additional_headers={"Cookie": f"{COOKIE}={token}"}) as ws:
            await ws.send(json.dumps({"type": "session", "csrf_token": csrf}))
            await until(ws, lambda m: m.get("type") == "logged_in")
            with contextlib.suppress(websockets.ConnectionClosed):  # idle 2 s; heartbeats every 5 s
                await until(ws, lambda m: False, timeout=15)
            return ws.close_code

    assert asyncio.run(scenario()) == 4001
