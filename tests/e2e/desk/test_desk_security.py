"""Flow 5 of the desk in a real browser: a wrong secret does not sign in; the session cookie is
HttpOnly and SameSite=Strict, useless without the CSRF header and not sent by a page of another
origin; the secret is never stored; sign-out and the operator's revocation end the session."""

import http.server
import json
import threading

import pytest
from playwright.sync_api import expect

from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.process import free_port
from gateway.sessions import COOKIE


def test_a_wrong_secret_does_not_sign_in(browser, server) -> None:
    from tests.e2e.desk.conftest import Desk

    d = Desk(browser, server, "huafang-textile", "en")
    try:
        d.sign_in(secret="0" * 64)
        expect(d.page.get_by_test_id("api-secret-error")).to_contain_text("BAD_SIGNATURE")
        expect(d.page.get_by_test_id("signin-form")).to_be_visible()
        assert not [c for c in d.context.cookies() if c["name"] == COOKIE]
    finally:
        d.close()


def session_cookie(d) -> dict:
    (cookie,) = [c for c in d.context.cookies() if c["name"] == COOKIE]
    return cookie


def test_the_cookie_needs_its_csrf_header_and_the_secret_is_never_stored(desk, server) -> None:
    d = desk("huafang-textile")
    expect(d.page.get_by_test_id("available")).not_to_have_text("—")
    cookie = session_cookie(d)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert d.page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    secret = server.credentials()["huafang-textile"]["api_secret"]
    stored = d.page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
    assert secret not in stored and "csrf" in stored

    answer = d.page.request.get(f"{server.base}/v1/accounts/me")  # the cookie, no CSRF header
    assert answer.status == 403 and answer.json()["error"]["code"] == "CSRF_TOKEN_MISSING"
    answer = d.page.request.post(f"{server.base}/v1/orders", headers={"X-CSRF-Token": "forged"},
                                 data=json.dumps({"symbol": CF_NEAR, "side": "buy", "quantity": 1,
                                                  "price": "14000.00", "client_order_id": "csrf-forged"}))
    assert answer.status == 403 and answer.json()["error"]["code"] == "CSRF_TOKEN_INVALID"


@pytest.fixture
def other_origin():
    """A page on another origin (localhost, not 127.0.0.1) that tries to use the desk's session."""
    port = free_port()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>elsewhere</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}/"
    httpd.shutdown()


def test_a_page_of_another_origin_cannot_use_the_session(desk, server, other_origin) -> None:
    d = desk("huafang-textile")
    expect(d.page.get_by_test_id("available")).not_to_have_text("—")
    evil = d.context.new_page()
    evil.goto(other_origin)
    evil.evaluate("""async ([url, symbol]) => {
        await fetch(url + "/v1/orders", {method: "POST", mode: "no-cors", credentials: "include",
            headers: {"Content-Type": "text/plain"},
            body: JSON.stringify({symbol, side: "buy", quantity: 1, price: "14000.00",
                                  client_order_id: "cross-origin"})});
    }""", [server.base, CF_NEAR])
    orders = server.client("huafang-textile").request("GET", "/v1/orders?status=all")[1]
    assert "cross-origin" not in {o["client_order_id"] for o in orders}
    evil.close()


def test_sign_out_ends_the_session(desk, server) -> None:
    d = desk("luneng-agri", "en")
    expect(d.page.get_by_test_id("available")).not_to_have_text("—")
    cookie, csrf = session_cookie(d), d.page.evaluate("JSON.parse(sessionStorage['commex.session']).csrf")
    d.page.get_by_test_id("sign-out").click()
    expect(d.page.get_by_test_id("signin-form")).to_be_visible()
    assert not [c for c in d.context.cookies() if c["name"] == COOKIE]
    status, body = Client(server.base).request("GET", "/v1/accounts/me", headers={
        "Cookie": f"{COOKIE}={cookie['value']}", "X-CSRF-Token": csrf})
    assert (status, body["error"]["code"]) == (401, "SESSION_EXPIRED")


def test_the_operator_revokes_a_session_and_the_desk_learns_at_once(desk, server) -> None:
    trader = desk("luneng-agri", "en")
    expect(trader.page.get_by_test_id("available")).not_to_have_text("—")
    expect(trader.page.locator("body[data-live=open]")).to_have_count(1)
    operator = desk("exchange-ops", "en")
    row = operator.page.locator("[data-testid=op-sessions] tr[data-member=luneng-agri]").last
    row.get_by_test_id("revoke").click()
    expect(trader.page.get_by_test_id("conn-banner")).to_have_text("The session has ended: sign in again.")
    trader.page.get_by_test_id("tab-fills").click()
    trader.page.reload()
    expect(trader.page.get_by_test_id("signin-form")).to_be_visible()
