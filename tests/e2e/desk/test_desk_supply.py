"""Bulk supply on the desk in a real browser: a supplier publishes a sell auction from its desk;
a buyer in another browser context bids in the auction room and sees the best price, the bid
count and the countdown move without a reload (its own bid, then another member's through the
API, extending the close); a bid under best + increment shows INCREMENT_TOO_SMALL next to its
field; a listing posted from the supplier's desk is taken (摘牌) from the buyer's; a basis listing's
forward field suggests the forward months listed today."""

import re

from playwright.sync_api import expect

from gateway.demo import CF_FAR, CF_NEAR, UR_NEAR

SUPPLIER, BUYER, RIVAL = "xinjiang-cotton-group", "huafang-textile", "luneng-agri"


def free_receipts(server, member: str, commodity: str = "cotton") -> list[str]:
    status, rows = server.client(member).request("GET", "/v1/receipts")
    assert status == 200, rows
    return [r["receipt_id"] for r in rows if r["state"] == "registered" and r["commodity"] == commodity
            and not r.get("pledgee")]


def minutes_left(text: str) -> int:
    m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d\d)", text.strip())
    assert m, text
    return int(m[1] or 0) * 60 + int(m[2])


def test_supplier_publishes_buyer_bids_live_and_a_small_bid_is_refused_by_code(desk, server) -> None:
    receipts = free_receipts(server, SUPPLIER)
    assert len(receipts) >= 2, receipts
    supplier = desk(SUPPLIER)
    supplier.page.get_by_test_id("nav-supply").click()
    page = supplier.page
    page.get_by_test_id("auction-lots").fill(f"{receipts[0]}\n{receipts[1]}")
    page.get_by_test_id("auction-floor").fill("15000.00")
    page.get_by_test_id("auction-increment").fill("10.00")
    page.get_by_test_id("auction-minutes").fill("5")
    page.get_by_test_id("auction-extend").fill("600")  # any bid now moves the close 10 minutes later
    page.get_by_test_id("auction-submit").click()
    expect(page.get_by_test_id("auction-result")).not_to_be_empty()
    auction_id = int(re.search(r"\d+", page.get_by_test_id("auction-result").inner_text())[0])
    mine = page.locator(f"[data-testid=my-auctions] [data-auction='{auction_id}']")
    expect(mine.locator("tr[data-lot]")).to_have_count(2)

    buyer = desk(BUYER, "en")
    buyer.page.get_by_test_id("nav-bulk").click()
    buyer.page.locator(f"[data-testid=auctions] tr[data-auction='{auction_id}']").click()
    lot = buyer.page.locator("[data-testid=auction-room] tr[data-lot='1']")
    expect(lot.get_by_test_id("lot-min")).to_have_text("≥ 15,000.00")
    countdown = lot.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"^[45]:\d\d$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3_000)  # ticks in the browser

    lot.get_by_test_id("bid-price").fill("15000.00")
    lot.get_by_test_id("bid-submit").click()
    expect(lot.get_by_test_id("lot-best")).to_have_text("15,000.00")
    expect(lot.get_by_test_id("lot-bids")).to_have_text("1")
    expect(countdown).to_have_text(re.compile(r"^1[45]:\d\d$"))  # extended by 10 minutes
    expect(buyer.page.locator("[data-testid=my-notices] [data-notice=auction_bid]")).to_contain_text("15,000.00")
    # the supplier's desk follows live too
    expect(mine.locator("tr[data-lot='1'] [data-testid=lot-best]")).to_have_text("15,000.00")

    status, body = server.client(RIVAL).request("POST", f"/v1/auctions/{auction_id}/lots/1/bids",
                                                {"price": "15100.00"})
    assert status == 201, body
    expect(lot.get_by_test_id("lot-best")).to_have_text("15,100.00")  # no reload: the auction channel
    expect(lot.get_by_test_id("lot-bids")).to_have_text("2")
    expect(lot.get_by_test_id("lot-min")).to_have_text("≥ 15,110.00")
    expect(buyer.page.locator("[data-testid=my-notices] [data-notice=auction_outbid]")).to_contain_text("15,100.00")
    assert minutes_left(countdown.inner_text()) >= 14

    lot.get_by_test_id("bid-price").fill("15105.00")
    lot.get_by_test_id("bid-submit").click()
    expect(lot.get_by_test_id("bid-error")).to_contain_text("INCREMENT_TOO_SMALL")
    expect(lot.get_by_test_id("lot-bids")).to_have_text("2")


def test_a_listing_posted_on_the_desk_is_taken_from_another(desk, server) -> None:
    receipt = free_receipts(server, SUPPLIER)[0]
    supplier = desk(SUPPLIER, "en")
    supplier.page.get_by_test_id("nav-supply").click()
    page = supplier.page
    page.get_by_test_id("listing-receipts").fill(receipt)
    page.get_by_test_id("listing-price").fill("15200.00")
    page.get_by_test_id("listing-submit").click()
    expect(page.get_by_test_id("listing-result")).not_to_be_empty()
    listing_id = re.search(r"\d+", page.get_by_test_id("listing-result").inner_text())[0]
    expect(page.locator(f"[data-testid=my-listings] tr[data-listing='{listing_id}'] [data-testid=listing-state]")
           ).to_have_text("Open")

    buyer = desk(BUYER)
    buyer.page.get_by_test_id("nav-bulk").click()
    row = buyer.page.locator(f"[data-testid=listings] tr[data-listing='{listing_id}']")
    expect(row).to_contain_text("15,200.00")
    row.get_by_test_id("take").click()
    buyer.page.get_by_test_id("confirm-yes").click()
    expect(row).to_have_count(0)
    expect(buyer.page.locator("[data-testid=my-notices] [data-notice=listing_taken]")).to_contain_text("15,200.00")
    expect(page.locator(f"[data-testid=my-listings] tr[data-listing='{listing_id}'] [data-testid=listing-state]")
           ).to_have_text("Taken")  # the supplier's desk, live
    status, body = server.client(BUYER).request("GET", "/v1/receipts")
    assert receipt in [r["receipt_id"] for r in body], body


def test_a_basis_listing_over_an_unknown_forward_shows_the_code_next_to_the_forward(desk, server) -> None:
    supplier = desk(SUPPLIER, "en")
    supplier.page.get_by_test_id("nav-supply").click()
    page = supplier.page
    page.get_by_test_id("listing-receipts").fill(free_receipts(server, SUPPLIER)[0])
    page.get_by_test_id("listing-mode").select_option("basis")
    forward = page.get_by_test_id("listing-forward")  # today's forward months suggested, the near one shown
    expect(forward).to_have_attribute("placeholder", CF_NEAR)
    assert page.locator("#listing-forwards option").evaluate_all("os => os.map((o) => o.value)") == sorted(
        (CF_NEAR, CF_FAR, UR_NEAR))
    forward.fill("CF9999")
    page.get_by_test_id("listing-basis").fill("-150.00")
    page.get_by_test_id("listing-submit").click()
    expect(page.locator("[data-testid=listing-form] [data-error-for=forward]")).to_contain_text("UNKNOWN_INSTRUMENT")
