"""The settlement report explains every member's money to the fen: the day's flows to and from
other parties by transfer code (bulk-supply deals, loans, fees …) take its opening balance (cash,
held, margin, escrow) to its closing one, and the next day opens where this one closed."""

from clearing.financing import DecideLoan, RepayLoan, RequestLoan, SetTerms
from clearing.listings import PublishListing, TakeListing
from engine import SetSession
from tests.support.clearing_helpers import Harness


def rows(h: Harness, day: int = -1) -> dict:
    return {r.member: r for r in h.state.clearing.reports[day].members}


def test_a_days_flows_take_each_member_from_its_opening_to_its_closing_balance() -> None:
    h = Harness()
    h.record()
    for member, fen in (("sup", 100_000), ("mill", 10_000_000), ("bank", 20_000_000)):
        h.deposit(member, fen)
    assert h.run(SetTerms(actor="bank", commodity="urea", ltv_bps=6_500, daily_rate_ppm=200, warning_bps=6_600,
                          liquidation_bps=7_500, max_tenor_days=30, cure_days=1)).rejection is None
    listing = h.run(PublishListing(actor="sup", commodity="urea", receipt_ids=[h.issue("sup")], price=205_000))
    assert h.run(TakeListing(actor="mill", listing_id=listing.outcome.listing_id)).outcome.state == "taken"
    loan = h.run(RequestLoan(actor="farm", lender="bank", receipt_ids=[h.issue("farm"), h.issue("farm")],
                             principal=1_000_000, tenor_days=10)).outcome
    assert h.run(DecideLoan(actor="bank", loan_id=loan.loan_id, approve=True)).outcome.state == "active"
    h.order("mill", "buy", 1, 200_000)  # rests: its cash is held overnight
    h.end_of_day()

    day1 = rows(h)
    deal = 4_100_000  # 20 t at 2,050 yuan/t
    assert day1["sup"].flows == {"DEPOSIT": 100_000, "DVP": deal}
    assert day1["farm"].flows == {"LOAN": 1_000_000}
    assert day1["bank"].flows == {"DEPOSIT": 20_000_000, "LOAN": -1_000_000}
    mill = day1["mill"]  # its order's hold moved money between its own accounts: no flow
    assert mill.flows == {"DEPOSIT": 10_000_000, "DVP": -deal} and mill.cash_held > 0
    assert mill.closing_balance == mill.cash_available + mill.cash_held
    for r in day1.values():
        assert r.opening_balance == 0, r.member
        assert r.opening_balance + sum(r.flows.values()) == r.closing_balance, r.member

    h.run(SetSession("UR", "continuous"))
    h.deposit("farm", 50_000)
    assert h.run(RepayLoan(actor="farm", loan_id=loan.loan_id)).outcome.state == "repaid"
    h.end_of_day()
    day2 = rows(h)
    assert day2["farm"].opening_balance == day1["farm"].closing_balance
    assert day2["farm"].flows["REPAY"] == -day2["bank"].flows["REPAY"] < -1_000_000  # with interest
    for r in day2.values():
        assert r.opening_balance + sum(r.flows.values()) == r.closing_balance, r.member
        if r.member in day1:
            assert r.opening_balance == day1[r.member].closing_balance, r.member
    assert "sup" not in day2  # nothing moved its money today

    replayed = h.replayed()  # the flows are state: a replay files the same reports
    assert replayed.clearing.reports == h.state.clearing.reports
    h.state.check()
