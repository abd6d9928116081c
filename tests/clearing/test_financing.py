"""Trade financing, fen by fen, through the exchange state the sequencer runs."""

import pytest

from clearing.financing import LIQUIDATOR, AddCollateral, DecideLoan, RepayLoan, RequestLoan, SetTerms
from engine import NewOrder, SetSession
from tests.support.clearing_helpers import Harness

PRINCIPAL = 5_000_000  # 50,000 yuan against two 20 t urea receipts worth 80,000 yuan at 2,000 yuan/t


def setup(h: Harness, warning: int = 6_600, liquidation: int = 7_500, tenor: int = 20) -> list[str]:
    h.deposit("bank", 100_000_000)
    h.deposit("mill", 50_000_000)
    assert h.run(SetTerms(actor="bank", commodity="urea", ltv_bps=6_500, daily_rate_ppm=200,
                          warning_bps=warning, liquidation_bps=liquidation, max_tenor_days=30,
                          cure_days=1)).rejection is None
    receipts = [h.issue("farm"), h.issue("farm")]
    for _ in range(4):
        h.issue("dealer")  # sells one lot a day so that the market has a settlement price
    return receipts


def borrow(h: Harness, receipts: list[str], tenor: int = 20) -> int:
    loan = h.run(RequestLoan(actor="farm", lender="bank", receipt_ids=receipts, principal=PRINCIPAL,
                             tenor_days=tenor)).outcome
    assert loan.state == "requested" and loan.value == 8_000_000
    assert h.run(DecideLoan(actor="bank", loan_id=loan.loan_id, approve=True)).outcome.state == "active"
    return loan.loan_id


def trading_day(h: Harness, price: int) -> None:
    """Open UR, trade one lot at ``price`` (the day's settlement price), close the day."""
    h.run(SetSession("UR", "continuous"))
    h.order("dealer", "sell", 1, price)
    h.order("mill", "buy", 1, price)
    h.end_of_day()


def test_falling_price_margin_call_no_top_up_forced_sale() -> None:
    h = Harness()
    receipts = setup(h)
    loan_id = borrow(h, receipts)
    loan = h.state.financing.loans[loan_id]
    assert h.available("farm") == PRINCIPAL and h.available("bank") == 100_000_000 - PRINCIPAL
    assert {h.state.registry.receipts[r].state for r in receipts} == {"pledged"}

    trading_day(h, 192_000)  # −4 %: 5,001,000 / 7,680,000 = 65.1 %
    assert (loan.state, loan.interest, loan.ratio_bps) == ("active", 1_000, 6_511)
    trading_day(h, 184_400)  # 5,002,000 / 7,376,000 = 67.8 %: margin call, cure by day 3
    assert (loan.state, loan.call_deadline_day) == ("margin_call", 3)
    trading_day(h, 177_100)  # still called, no top-up
    assert loan.state == "margin_call"
    h.run(SetSession("UR", "continuous"))
    h.order("dealer", "sell", 1, 170_100)
    h.order("mill", "buy", 1, 170_100)
    assert h.order("mill", "buy", 2, 170_100).view.status == "NEW"  # resting bids that will meet the forced sale
    h.end_of_day()  # day 4, past the deadline: liquidation
    assert loan.state == "liquidating" and loan.interest == 4_000
    assert {h.state.registry.receipts[r].owner for r in receipts} == {LIQUIDATOR}

    h.run(SetSession("UR", "continuous"))  # the liquidation orders go in and meet the bids at 1,701 yuan/t
    value = 170_100 * 20
    net = value - (value * 200 * 2 + 1_000_000) // 2_000_000  # after the seller's commission
    assert loan.state == "repaid" and loan.recovered == 2 * net
    assert h.available("bank") == 100_000_000 + 4_000  # principal back first, then four days' interest
    assert h.available("farm") == PRINCIPAL + 2 * net - PRINCIPAL - 4_000
    assert h.available(LIQUIDATOR) == 0
    assert {h.state.registry.receipts[r].owner for r in receipts} == {"mill"}
    assert [e.action for e in h.state.registry.history[receipts[0]]] == \
        ["issue", "pledge", "release", "transfer", "lock", "deliver"]
    h.assert_reconciled()


def test_repayment_before_maturity_releases_the_pledge() -> None:
    h = Harness()
    receipts = setup(h)
    loan_id = borrow(h, receipts)
    trading_day(h, 200_000)
    trading_day(h, 200_000)
    loan = h.state.financing.loans[loan_id]
    assert loan.interest == 2_000
    h.deposit("farm", 10_000)  # the interest comes on top of the principal
    before = h.available("farm")
    assert h.run(RepayLoan(actor="farm", loan_id=loan_id)).outcome.state == "repaid"
    assert h.available("farm") == before - PRINCIPAL - 2_000
    assert h.available("bank") == 100_000_000 + 2_000
    assert {h.state.registry.receipts[r].state for r in receipts} == {"registered"}
    release = h.state.registry.history[receipts[0]][-1]
    assert (release.action, release.actor) == ("release", "bank")  # the lender's consent, recorded
    h.assert_reconciled()


def test_a_partial_top_up_cures_a_margin_call() -> None:
    h = Harness()
    receipts = setup(h)
    loan_id = borrow(h, receipts)
    loan = h.state.financing.loans[loan_id]
    trading_day(h, 192_000)
    trading_day(h, 184_400)
    assert loan.state == "margin_call"
    # bring (principal + interest) / value under 66 %: 4,800,000 + 2,000 over 7,376,000 = 65.1 %
    result = h.run(RepayLoan(actor="farm", loan_id=loan_id, amount=200_000))
    assert result.rejection is None and loan.state == "active" and loan.principal == 4_800_000
    trading_day(h, 184_400)
    assert loan.state == "active"  # the deadline passed without liquidation: the call was cured
    h.assert_reconciled()


def test_more_collateral_also_cures() -> None:
    h = Harness()
    receipts = setup(h)
    extra = h.issue("farm")
    loan_id = borrow(h, receipts)
    trading_day(h, 192_000)
    trading_day(h, 184_400)
    loan = h.state.financing.loans[loan_id]
    assert h.run(AddCollateral(actor="farm", loan_id=loan_id, receipt_ids=[extra])).rejection is None
    assert loan.state == "active" and h.state.registry.receipts[extra].pledgee == "bank"


def test_default_at_maturity_is_sold_and_recorded() -> None:
    h = Harness()
    receipts = setup(h)
    loan_id = borrow(h, receipts, tenor=2)
    trading_day(h, 200_000)
    h.run(SetSession("UR", "continuous"))
    h.order("mill", "buy", 2, 199_000)  # bids waiting for the forced sale
    h.end_of_day()  # day 2 = maturity, not repaid
    loan = h.state.financing.loans[loan_id]
    assert loan.state == "liquidating" and h.state.financing.defaults["farm"] == [loan_id]
    h.run(SetSession("UR", "continuous"))
    assert loan.state == "repaid" and h.available("bank") == 100_000_000 + 2_000
    assert h.state.financing.defaults["farm"] == [loan_id]  # recorded once
    [entry] = h.state.credit.of("farm")  # and once in the credit register, on the day it fell due
    assert (entry.kind, entry.ref, entry.day, entry.detail) == ("loan_default", f"loan:{loan_id}", 2,
                                                               "not repaid at maturity")
    assert h.state.credit.clean_for("farm", days=1) and not h.state.credit.clean_for("farm", days=2)
    assert h.state.credit.clean_for("mill", days=30)
    h.assert_reconciled()


@pytest.mark.parametrize(("command", "code"), [
    (lambda r: RequestLoan(actor="farm", lender="bank", receipt_ids=r, principal=5_300_000,
                           tenor_days=10), "OVER_LOAN_TO_VALUE"),
    (lambda r: RequestLoan(actor="farm", lender="other-bank", receipt_ids=r, principal=1, tenor_days=10),
     "NO_TERMS"),
    (lambda r: RequestLoan(actor="farm", lender="bank", receipt_ids=r[:1] * 2, principal=1, tenor_days=10),
     "INVALID_COLLATERAL"),
    (lambda r: RequestLoan(actor="farm", lender="bank", receipt_ids=r, principal=1, tenor_days=31),
     "INVALID_TENOR"),
    (lambda r: RequestLoan(actor="mill", lender="bank", receipt_ids=r, principal=1, tenor_days=10),
     "RECEIPT_NOT_FOUND"),
])
def test_loan_requests_that_are_refused(command, code: str) -> None:
    h = Harness()
    receipts = setup(h)
    assert h.run(command(receipts)).rejection.code == code


def test_pledged_collateral_cannot_back_a_second_loan_or_be_sold() -> None:
    h = Harness()
    receipts = setup(h)
    borrow(h, receipts)
    second = h.run(RequestLoan(actor="farm", lender="bank", receipt_ids=receipts[:1], principal=1,
                               tenor_days=5))
    assert second.rejection.code == "RECEIPT_PLEDGED"
    h.run(SetSession("UR", "continuous"))
    assert h.order("farm", "sell", 1, 200_000).view.reject_code == "INSUFFICIENT_RECEIPTS"
    named = h.run(NewOrder(member="farm", symbol="UR", side="sell", quantity=1, price=200_000), "x", receipts[:1])
    assert named.view.reject_code == "RECEIPT_PLEDGED"


def test_a_lender_cannot_release_collateral_behind_its_own_open_loan() -> None:
    """Collateral leaves the pledge through the loan (repayment or liquidation), never by a
    direct release that would leave the loan unsecured."""
    from warehouse_receipts.registry import ReleaseReceipt
    h = Harness()
    receipts = setup(h)
    loan_id = borrow(h, receipts)
    before = h.state.state_hash()
    refused = h.run(ReleaseReceipt(actor="bank", receipt_id=receipts[0]))
    assert refused.rejection.code == "RECEIPT_ON_LOAN"
    assert h.state.state_hash() == before and h.state.registry.receipts[receipts[0]].state == "pledged"
    h.state.financing.check(h.state.registry)
    assert h.state.financing.loans[loan_id].state == "active"
