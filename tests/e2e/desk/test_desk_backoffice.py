"""Flows 3 and 4 of the desk in a real browser: clearing staff record a deposit, run end of
day, download the report's CSV and see reconciliation clean; a lender approves a loan request
and the borrower sees the pledged receipts in its receipts view, live."""

import csv
import io

from playwright.sync_api import expect

from gateway.demo import CF_NEAR


def test_clearing_deposit_end_of_day_csv_and_reconciliation(desk, server, tmp_path) -> None:
    d = desk("clearing-desk", "en")
    page = d.page
    expect(page.get_by_test_id("recon-status")).to_have_attribute("data-clean", "true")
    before = server.client("sinofert").request("GET", "/v1/accounts/me")[1]["available"]
    page.get_by_test_id("fund-member").select_option("sinofert")
    page.get_by_test_id("fund-amount").fill("12345.67")
    page.get_by_test_id("deposit").click()
    expect(page.get_by_test_id("fund-result")).to_contain_text("12,345.67")
    after = server.client("sinofert").request("GET", "/v1/accounts/me")[1]["available"]
    assert round(float(after) - float(before), 2) == 12345.67
    expect(page.locator("[data-testid=accounts] tr[data-member=sinofert]")).to_contain_text(
        f"{float(after):,.2f}")

    page.get_by_test_id("fund-amount").fill("-5")  # refused: shown by the amount field with its code
    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("err-amount")).to_contain_text("INVALID_AMOUNT")

    expect(page.get_by_test_id("delivery-symbol").locator(f"option[value={CF_NEAR}]")).to_have_count(1)  # forwards
    expect(page.get_by_test_id("delivery-state")).to_be_visible()
    expect(page.get_by_test_id("margin-calls")).to_be_visible()

    page.get_by_test_id("run-eod").click()
    expect(page.get_by_test_id("eod-day")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_test_id("download-csv").click()
    path = tmp_path / "report.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:2] == ["section", "member"]
    assert "sinofert" in {r[1] for r in rows if r[0] == "member"}
    page.get_by_test_id("reconcile-run").click()
    expect(page.get_by_test_id("recon-status")).to_have_attribute("data-clean", "true")
    expect(page.get_by_test_id("recon-status")).to_have_text("Reconciled: clean")


def test_a_lender_approves_and_the_borrower_sees_its_receipts_pledged(desk, server) -> None:
    borrower = server.client("xinjiang-cotton-group")
    free = [r["receipt_id"] for r in borrower.request("GET", "/v1/receipts")[1]
            if r["state"] == "registered" and r["commodity"] == "cotton"][:2]
    assert len(free) == 2
    status, loan = borrower.request("POST", "/v1/loans", {"lender": "agri-bank", "receipt_ids": free,
                                                          "principal": "100000.00", "tenor_days": 30})
    assert status == 201, loan
    supplier = desk("xinjiang-cotton-group")
    rows = {rid: supplier.page.locator(f"[data-testid=receipts] tr[data-receipt={rid}]") for rid in free}
    for row in rows.values():
        expect(row.get_by_test_id("receipt-state")).to_have_text("已注册")

    lender = desk("agri-bank")
    request_row = lender.page.locator(f"[data-testid=loan-requests] tr[data-loan='{loan['loan_id']}']")
    expect(request_row).to_contain_text(free[0])
    request_row.get_by_test_id("approve").click()
    expect(request_row).to_have_count(0)
    expect(lender.page.locator(f"[data-testid=loan-book] tr[data-loan='{loan['loan_id']}']")).to_contain_text("正常")

    for row in rows.values():  # no reload: the loan notice on the private stream refreshes the view
        expect(row.get_by_test_id("receipt-state")).to_have_text("已质押")
        expect(row).to_contain_text("agri-bank")
    rows[free[0]].click()  # quality, premium, value and history
    detail = supplier.page.get_by_test_id("receipt-detail")
    expect(detail).to_contain_text("pledge")
    supplier.page.get_by_test_id("modal-close").click()
