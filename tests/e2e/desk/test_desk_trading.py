"""Flows 1 and 2 of the desk in a real browser: two traders trade through the ladder and both
see the fill and their new balances without a reload; amend and cancel from the open-orders
table; a refused order shows its stable code next to the field it concerns."""

import time

from playwright.sync_api import expect

from gateway.demo import CF_NEAR

SYMBOL = CF_NEAR  # a forward: both demo traders can buy and sell it without receipts


def open_symbol(d, symbol: str = SYMBOL) -> None:
    d.page.locator(f"[data-testid=instruments] tr[data-symbol={symbol}]").click()
    expect(d.page.get_by_test_id("symbol")).to_have_text(symbol)


def ladder_level(d, side: str, price: str):
    return d.page.locator(f"[data-testid=ladder] tr[data-side={side}][data-price='{price}']")


def place(d, side: str, price: str, quantity: int) -> None:
    page = d.page
    page.get_by_test_id(f"side-{side}").click()
    page.get_by_test_id("price").fill(price)
    page.get_by_test_id("quantity").fill(str(quantity))
    page.get_by_test_id("submit-order").click()


def test_two_traders_cross_and_both_see_the_fill_and_balances_without_reload(desk) -> None:
    buyer, seller = desk("huafang-textile"), desk("luneng-agri", "en")
    for d in (buyer, seller):
        open_symbol(d)
        expect(d.page.get_by_test_id("available")).not_to_have_text("—")
    before = {d: (d.page.get_by_test_id("available").inner_text(), d.page.get_by_test_id("held").inner_text())
              for d in (buyer, seller)}

    place(buyer, "buy", "14990.00", 2)
    expect(buyer.page.get_by_test_id("ticket-result")).not_to_be_empty()
    expect(ladder_level(buyer, "bid", "14990.00")).to_be_visible()
    expect(ladder_level(seller, "bid", "14990.00")).to_be_visible()  # the other browser, live
    expect(buyer.page.locator("[data-testid=open-orders] tr[data-order]").first).to_be_visible()

    ladder_level(seller, "bid", "14990.00").click()  # prefills a sell at that price
    expect(seller.page.get_by_test_id("price")).to_have_value("14990.00")
    seller.page.get_by_test_id("quantity").fill("2")
    seller.page.get_by_test_id("submit-order").click()
    expect(seller.page.get_by_test_id("ticket-result")).not_to_be_empty()
    acked = time.monotonic()

    for d in (buyer, seller):  # no reload: the fill arrives on the live feed
        d.page.get_by_test_id("tab-fills").click()
        expect(d.page.locator("[data-testid=fills] td", has_text="14,990.00").first).to_be_visible(timeout=1_000)
    for d in (buyer, seller):
        available, held = before[d]
        expect(d.page.get_by_test_id("available")).not_to_have_text(available, timeout=1_000)
    assert time.monotonic() - acked < 2.5  # both checks above within a second each of the ack
    # the near month is a margined forward: each side's position and margin, live too
    expect(buyer.page.locator(f"[data-testid=positions] tr[data-position={CF_NEAR}]")).to_contain_text("+2")
    expect(seller.page.locator(f"[data-testid=positions] tr[data-position={CF_NEAR}]")).to_contain_text("-2")
    expect(ladder_level(buyer, "bid", "14990.00")).to_have_count(0)
    expect(buyer.page.get_by_test_id("tape")).to_contain_text("14,990.00")


def test_amend_and_cancel_from_the_open_orders_table(desk) -> None:
    d = desk("huafang-textile")
    open_symbol(d)
    place(d, "buy", "14900.00", 3)
    row = d.page.locator("[data-testid=open-orders] tr[data-order]", has=d.page.locator("input[value='14900.00']"))
    expect(row).to_have_count(1)
    order_id = row.get_attribute("data-order")
    row = d.page.locator(f"[data-testid=open-orders] tr[data-order='{order_id}']")
    row.locator("[data-amend=quantity]").fill("2")
    row.locator("[data-amend=price]").fill("14905.00")
    row.get_by_test_id("amend").click()
    expect(row.locator("[data-amend=price]")).to_have_value("14905.00")
    expect(row.locator("[data-amend=quantity]")).to_have_value("2")
    expect(ladder_level(d, "bid", "14905.00")).to_be_visible()
    status, order = d.server.client("huafang-textile").request("GET", f"/v1/orders/{order_id}")
    assert (order["price"], order["quantity"]) == ("14905.00", 2), order

    row.get_by_test_id("cancel").click()
    expect(row).to_have_count(0)
    expect(ladder_level(d, "bid", "14905.00")).to_have_count(0)
    assert d.server.client("huafang-textile").request("GET", f"/v1/orders/{order_id}")[1]["status"] == "CANCELED"


def test_a_refused_order_shows_its_code_next_to_the_field(desk) -> None:
    d = desk("huafang-textile")
    open_symbol(d)
    place(d, "buy", "14901.00", 1)  # the tick is 5 yuan
    expect(d.page.get_by_test_id("err-price")).to_contain_text("BAD_TICK")
    expect(d.page.get_by_test_id("err-price")).to_contain_text("价格不是最小变动价位的整数倍")
    place(d, "buy", "14900.00", 0)
    expect(d.page.get_by_test_id("err-quantity")).to_contain_text("数量不正确 [INVALID_QUANTITY]")
    expect(d.page.get_by_test_id("err-price")).to_be_empty()


def test_a_large_order_asks_for_confirmation(desk) -> None:
    d = desk("huafang-textile", "en")
    open_symbol(d)
    place(d, "buy", "14000.00", 900)  # ~63 million yuan
    expect(d.page.get_by_test_id("large-order")).to_be_visible()
    d.page.get_by_test_id("confirm-no").click()
    expect(d.page.get_by_test_id("ticket-result")).to_be_empty()
    assert not [o for o in d.server.client("huafang-textile").request("GET", "/v1/orders")[1]
                if o["price"] == "14000.00"]
