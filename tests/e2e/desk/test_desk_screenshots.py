"""Flow 6: a screenshot of each main view in Chinese and in English, saved as test artefacts
under var/screenshots/ and checked not to be blank (decoded by the browser: distinct colours)."""

import time

import pytest
from playwright.sync_api import expect

from gateway.demo import CF_NEAR
from tests.e2e.desk.conftest import Desk, screenshot

VIEWS = [  # (member, view, an element that shows the view has loaded its data)
    ("huafang-textile", "trade", "[data-testid=available]:not(:text('—'))"),
    ("xinjiang-cotton-group", "supply", "[data-testid=receipts] tr[data-receipt]"),
    ("huafang-textile", "bulk", "[data-testid=auctions] table"),
    ("clearing-desk", "clearing", "[data-testid=recon-status]"),
    ("agri-bank", "lending", "[data-testid=loan-book] tr[data-loan]"),
    ("exchange-ops", "operator", "[data-testid=op-sessions] tr[data-session]"),
]

NAV = {"zh-CN": {"trade": "交易", "supply": "供货", "bulk": "竞价挂牌", "clearing": "清算", "lending": "融资",
                 "operator": "运营"},
       "en": {"trade": "Trading", "supply": "Supply", "bulk": "Auctions & listings", "clearing": "Clearing",
              "lending": "Lending", "operator": "Operations"}}


@pytest.fixture(scope="module")
def traded(server) -> None:
    """A few trades, so the tape and the candles have something to show."""
    buyer, seller = server.client("huafang-textile"), server.client("luneng-agri")
    for n, price in enumerate(("15000.00", "15005.00", "14995.00", "15010.00")):
        assert buyer.place(CF_NEAR, "buy", 2, price, f"shot-b{n}")[0] == 201
        assert seller.place(CF_NEAR, "sell", 2, price, f"shot-s{n}")[0] == 201
    supplier = server.client("xinjiang-cotton-group")  # an auction with a bid and a listing, for the bulk views
    free = [r["receipt_id"] for r in supplier.request("GET", "/v1/receipts")[1]
            if r["state"] == "registered" and r["commodity"] == "cotton" and not r.get("pledgee")]
    now = int(time.time() * 1000)
    status, auction = supplier.request("POST", "/v1/auctions", {
        "commodity": "cotton", "lots": [{"receipt_ids": [free[0]], "floor": "15000.00"},
                                        {"receipt_ids": [free[1]], "floor": "15100.00"}],
        "opens_at_ms": now, "closes_at_ms": now + 1_800_000, "increment": "10.00"})
    assert status == 201, auction
    assert seller.request("POST", f"/v1/auctions/{auction['auction_id']}/lots/1/bids", {"price": "15020.00"})[0] == 201
    assert supplier.request("POST", "/v1/listings", {"commodity": "cotton", "receipt_ids": [free[2]],
                                                     "price": "15250.00"})[0] == 201


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_main_view_is_captured_in_both_languages(browser, server, traded, lang) -> None:
    d = Desk(browser, server, "huafang-textile", lang)
    try:
        expect(d.page.get_by_test_id("signin-form")).to_be_visible()
        screenshot(browser, d.page, f"signin-{lang}")
    finally:
        d.close()
    for member, view, ready in VIEWS:
        d = Desk(browser, server, member, lang).sign_in()
        try:
            if view in ("supply", "bulk"):
                d.page.get_by_test_id(f"nav-{view}").click()
            expect(d.page.locator(ready).first).to_be_visible()
            if view == "trade":
                d.page.locator(f"[data-testid=instruments] tr[data-symbol={CF_NEAR}]").click()
                expect(d.page.get_by_test_id("tape")).to_contain_text("15,010.00")
                expect(d.page.get_by_test_id("candles")).not_to_have_attribute("data-count", "0")
            if view == "bulk":
                d.page.locator("[data-testid=auctions] tr[data-auction]").first.click()
                best = d.page.locator("[data-testid=auction-room] [data-testid=lot-best]").first
                expect(best).to_have_text("15,020.00")
            if view == "supply":
                expect(d.page.locator("[data-testid=my-auctions] tr[data-lot]").first).to_be_visible()
            expect(d.page.locator("#top nav a.active")).to_have_text(NAV[lang][view])
            screenshot(browser, d.page, f"{view}-{lang}")
            assert not d.errors, d.errors
        finally:
            d.close()


def test_the_api_explorer_is_swagger_ui_over_the_servers_document(browser, server) -> None:
    page = browser.new_page()
    try:
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{server.base}/docs")
        expect(page.locator(".opblock").first).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/v1/session").first).to_be_visible()
        screenshot(browser, page, "docs-en")
        assert all(url.startswith(server.base) or url.startswith("data:") for url in requests), requests
    finally:
        page.close()
