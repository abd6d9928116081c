"""Trade financing (贸易融资): loans against pledged warehouse receipts.

A lender publishes terms per commodity. A member asks for a loan against registered receipts;
the lender approves (the receipts are pledged to it in the registry and the principal moves
``cash:lender → cash:borrower`` in one posting) or declines. Interest accrues once a trading
day, at end of day, on the outstanding principal: principal × daily rate, rounded half up to
the fen. Repaying principal + interest releases the pledges (the release is recorded with the
lender as its actor: consent given by the loan contract).

At every end of day each loan is marked: its receipts are valued at their spot instrument's
settlement price plus their premium, times their weight. Loan (principal + interest) over value
at or past the warning line opens a margin call with a deadline; cash repaid or receipts added
can cure it. At or past the liquidation line, after the call's deadline, or at maturity, the
loan is liquidated: the pledges are released and the receipts go to clearing's liquidation
account (``exchange-liquidation``), which sells them through the book at the lower band
limit as soon as the session is open. Each fill's proceeds repay the principal first, then the
interest; the remainder goes to the borrower. A shortfall once everything is sold is a default,
recorded on the borrower's credit history.
"""

import hashlib

import msgspec

from clearing.credit import CreditRegister
from clearing.ledger import Ledger, Overdraft, Ref, cash
from warehouse_receipts.registry import PLEDGED, REGISTERED, Registry

LIQUIDATOR = "exchange-liquidation"
LOAN_STATES = frozenset({"requested", "declined", "active", "margin_call", "liquidating", "repaid", "defaulted"})
OPEN = frozenset({"active", "margin_call"})  # the receipts are pledged to the lender
_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}


class SetTerms(msgspec.Struct, tag="set_terms", **_OPTS):
    actor: str  # the lender
    commodity: str
    ltv_bps: int  # the largest loan, as a share of the collateral's value
    daily_rate_ppm: int  # interest a day, millionths of the principal
    warning_bps: int  # loan ÷ value at which a margin call opens
    liquidation_bps: int  # loan ÷ value at which the collateral is sold
    max_tenor_days: int
    cure_days: int = 2  # trading days a margin call may stay open


class RequestLoan(msgspec.Struct, tag="request_loan", **_OPTS):
    actor: str  # the borrower
    lender: str
    receipt_ids: list[str]
    principal: int
    tenor_days: int


class DecideLoan(msgspec.Struct, tag="decide_loan", **_OPTS):
    actor: str  # the lender
    loan_id: int
    approve: bool


class RepayLoan(msgspec.Struct, tag="repay_loan", **_OPTS):
    """Repay ``amount`` fen of principal (0: the whole loan, principal and interest)."""

    actor: str
    loan_id: int
    amount: int = 0


class AddCollateral(msgspec.Struct, tag="add_collateral", **_OPTS):
    actor: str
    loan_id: int
    receipt_ids: list[str]


FinancingCommand = SetTerms | RequestLoan | DecideLoan | RepayLoan | AddCollateral


class FinancingRejected(msgspec.Struct):
    code: str
    message: str


class Terms(msgspec.Struct, kw_only=True):
    lender: str
    commodity: str
    ltv_bps: int
    daily_rate_ppm: int
    warning_bps: int
    liquidation_bps: int
    max_tenor_days: int
    cure_days: int


class Loan(msgspec.Struct, kw_only=True):
    loan_id: int
    borrower: str
    lender: str
    commodity: str
    receipt_ids: list[str]
    principal: int
    interest: int = 0  # accrued, unpaid
    tenor_days: int
    state: str = "requested"  # requested, declined, active, margin_call, liquidating, repaid, defaulted
    start_day: int = 0
    maturity_day: int = 0
    call_deadline_day: int = 0
    value: int = 0  # at the last marking
    ratio_bps: int = 0
    daily_rate_ppm: int = 0
    warning_bps: int = 0
    liquidation_bps: int = 0
    cure_days: int = 0
    to_sell: list[str] = []  # receipts awaiting their liquidation order
    liquidation_orders: list[int] = []
    recovered: int = 0  # liquidation proceeds applied
    shortfall: int = 0
    history: list[str] = []


class _NoCalendar:
    """Day 1 for a Financing used on its own (tests); the exchange passes its calendar."""

    day, trading_date = 1, 0


class Financing:
    """Terms, loans and members' credit records."""

    def __init__(self, credit: CreditRegister | None = None) -> None:
        self.credit = credit if credit is not None else CreditRegister(_NoCalendar())
        self.terms: dict[tuple[str, str], Terms] = {}
        self.loans: dict[int, Loan] = {}
        self.day = 0  # trading days closed: the exchange's calendar sets it at each end of day
        self.order_loan: dict[int, int] = {}  # liquidation order id -> loan id
        self.notices: list[tuple[str, dict]] = []  # (member, message) for the private streams

    def loan_of(self, receipt_id: str) -> Loan | None:
        """The open loan whose collateral ``receipt_id`` is (its pledge is released only
        through that loan: repayment or liquidation), or None."""
        return next((loan for loan in self.loans.values()
                     if loan.state in OPEN and receipt_id in loan.receipt_ids), None)

    # -------------------------------------------------------------- valuation

    def value(self, registry: Registry, engine, receipt_ids: list[str]) -> int:
        """Collateral value at the settlement (reference) price of the commodity's spot instrument."""
        marks = [registry.mark(registry.receipts[r], engine.instruments) for r in receipt_ids]
        return 0 if None in marks else sum(value for _, _, value in marks)

    @staticmethod
    def ratio(loan: Loan) -> int:
        return (loan.principal + loan.interest) * 10_000 // loan.value if loan.value else 10**9

    def _note(self, loan: Loan, event: str, ts_ns: int) -> None:
        loan.history.append(f"day {self.day}: {event}")
        self.notices.append((loan.borrower, {"type": "loan", "loan_id": loan.loan_id, "state": loan.state,
                                             "event": event, "ratio_bps": loan.ratio_bps, "ts_ns": ts_ns}))

    # -------------------------------------------------------------- commands

    def apply(self, cmd: FinancingCommand, registry: Registry, engine, ledger: Ledger,
              now_ns: int = 0) -> Loan | Terms | FinancingRejected:
        """Apply one financing command at ``now_ns`` (the journal entry's time)."""
        if isinstance(cmd, SetTerms):
            if not (0 < cmd.ltv_bps <= cmd.warning_bps < cmd.liquidation_bps <= 10_000) or cmd.daily_rate_ppm < 0 \
                    or cmd.max_tenor_days <= 0 or cmd.cure_days < 0:
                return FinancingRejected("INVALID_TERMS", "need 0 < LTV ≤ warning < liquidation ≤ 100 %")
            terms = Terms(lender=cmd.actor, commodity=cmd.commodity, ltv_bps=cmd.ltv_bps,
                          daily_rate_ppm=cmd.daily_rate_ppm, warning_bps=cmd.warning_bps,
                          liquidation_bps=cmd.liquidation_bps, max_tenor_days=cmd.max_tenor_days,
                          cure_days=cmd.cure_days)
            self.terms[(cmd.actor, cmd.commodity)] = terms
            return terms
        if isinstance(cmd, RequestLoan):
            return self._request(cmd, registry, engine, now_ns)
        loan = self.loans.get(cmd.loan_id)
        if loan is None or cmd.actor not in (loan.borrower, loan.lender):
            return FinancingRejected("LOAN_NOT_FOUND", f"no loan {cmd.loan_id}")
        if isinstance(cmd, DecideLoan):
            return self._decide(cmd, loan, registry, engine, ledger, now_ns)
        if isinstance(cmd, RepayLoan):
            return self._repay(cmd, loan, registry, engine, ledger, now_ns)
        return self._add_collateral(cmd, loan, registry, engine, now_ns)

    def _collateral_problem(self, borrower: str, commodity: str, receipt_ids: list[str],
                            registry: Registry) -> FinancingRejected | None:
        if not receipt_ids or len(set(receipt_ids)) != len(receipt_ids):
            return FinancingRejected("INVALID_COLLATERAL", "name one or more distinct receipts")
        for receipt_id in receipt_ids:
            r = registry.receipts.get(receipt_id)
            if r is None or r.owner != borrower:
                return FinancingRejected("RECEIPT_NOT_FOUND", f"you hold no receipt {receipt_id}")
            if r.state != REGISTERED or receipt_id in registry.overdue:
                code = "RECEIPT_EXPIRED" if receipt_id in registry.overdue else \
                    {PLEDGED: "RECEIPT_PLEDGED", "expired": "RECEIPT_EXPIRED"}.get(r.state, "RECEIPT_NOT_AVAILABLE")
                return FinancingRejected(code, f"receipt {receipt_id} is {r.state}")
            if r.commodity != commodity:
                return FinancingRejected("INVALID_COLLATERAL", f"receipt {receipt_id} is not {commodity}")
        return None

    def _request(self, cmd: RequestLoan, registry: Registry, engine, now_ns: int) -> Loan | FinancingRejected:
        first = registry.receipts.get(cmd.receipt_ids[0]) if cmd.receipt_ids else None
        commodity = first.commodity if first else ""
        if (problem := self._collateral_problem(cmd.actor, commodity, cmd.receipt_ids, registry)) is not None:
            return problem  # first: a pledged receipt is refused as such, whoever the lender
        terms = self.terms.get((cmd.lender, commodity))
        if terms is None:
            return FinancingRejected("NO_TERMS", f"{cmd.lender} offers no terms for {commodity}")
        value = self.value(registry, engine, cmd.receipt_ids)
        if cmd.principal <= 0 or cmd.principal * 10_000 > value * terms.ltv_bps:
            return FinancingRejected("OVER_LOAN_TO_VALUE",
                                     f"at most {value * terms.ltv_bps // 10_000} fen against {value} fen of collateral")
        if not 0 < cmd.tenor_days <= terms.max_tenor_days:
            return FinancingRejected("INVALID_TENOR", f"tenor is 1 to {terms.max_tenor_days} days")
        loan = Loan(loan_id=len(self.loans) + 1, borrower=cmd.actor, lender=cmd.lender, commodity=commodity,
                    receipt_ids=list(cmd.receipt_ids), principal=cmd.principal, tenor_days=cmd.tenor_days,
                    value=value, daily_rate_ppm=terms.daily_rate_ppm, warning_bps=terms.warning_bps,
                    liquidation_bps=terms.liquidation_bps, cure_days=terms.cure_days)
        loan.ratio_bps = self.ratio(loan)
        self.loans[loan.loan_id] = loan
        self._note(loan, "requested", now_ns)
        return loan

    def _decide(self, cmd: DecideLoan, loan: Loan, registry: Registry, engine, ledger: Ledger,
                now_ns: int) -> Loan | FinancingRejected:
        if cmd.actor != loan.lender:
            return FinancingRejected("NOT_LENDER", "only the lender decides")
        if loan.state != "requested":
            return FinancingRejected("LOAN_NOT_PENDING", f"loan {loan.loan_id} is {loan.state}")
        if not cmd.approve:
            loan.state = "declined"
            self._note(loan, "declined", now_ns)
            return loan
        if (problem := self._collateral_problem(loan.borrower, loan.commodity, loan.receipt_ids, registry)):
            return problem
        try:
            ledger.post([(cash(loan.lender), cash(loan.borrower), loan.principal, "LOAN", Ref(loan_id=loan.loan_id))],
                        now_ns)
        except Overdraft:
            return FinancingRejected("INSUFFICIENT_FUNDS", "the lender's available cash does not cover the principal")
        self._pledge(loan, loan.receipt_ids, registry, now_ns)
        loan.state = "active"
        loan.start_day = self.day
        loan.maturity_day = self.day + loan.tenor_days
        self._note(loan, "approved: principal paid, receipts pledged", now_ns)
        return loan

    @staticmethod
    def _borrower_on_open_loan(actor: str, loan: Loan) -> FinancingRejected | None:
        if actor != loan.borrower:
            return FinancingRejected("NOT_BORROWER", "only the borrower can do that")
        if loan.state not in OPEN:
            return FinancingRejected("LOAN_NOT_ACTIVE", f"loan {loan.loan_id} is {loan.state}")
        return None

    def _repay(self, cmd: RepayLoan, loan: Loan, registry: Registry, engine, ledger: Ledger,
               now_ns: int) -> Loan | FinancingRejected:
        if (refused := self._borrower_on_open_loan(cmd.actor, loan)) is not None:
            return refused
        whole = cmd.amount == 0 or cmd.amount >= loan.principal
        amount = loan.principal + loan.interest if whole else cmd.amount
        if amount <= 0:
            return FinancingRejected("INVALID_AMOUNT", "the amount must be positive")
        try:
            ledger.post([(cash(loan.borrower), cash(loan.lender), amount, "REPAY", Ref(loan_id=loan.loan_id))],
                        now_ns)
        except Overdraft:
            return FinancingRejected("INSUFFICIENT_FUNDS", f"{amount} fen due")
        if whole:
            loan.principal = loan.interest = 0
            loan.state = "repaid"
            self._release(loan, registry, now_ns, "loan repaid")
            self._note(loan, "repaid: pledges released", now_ns)
            return loan
        loan.principal -= amount
        self._remark(loan, registry, engine, now_ns, f"repaid {amount} fen of principal")
        return loan

    def _add_collateral(self, cmd: AddCollateral, loan: Loan, registry: Registry, engine,
                        now_ns: int) -> Loan | FinancingRejected:
        if (refused := self._borrower_on_open_loan(cmd.actor, loan)) is not None:
            return refused
        if (problem := self._collateral_problem(loan.borrower, loan.commodity, cmd.receipt_ids, registry)):
            return problem
        self._pledge(loan, cmd.receipt_ids, registry, now_ns)
        loan.receipt_ids += cmd.receipt_ids
        self._remark(loan, registry, engine, now_ns, f"added {len(cmd.receipt_ids)} receipts")
        return loan

    def _remark(self, loan: Loan, registry: Registry, engine, ts_ns: int, event: str) -> None:
        """Revalue after a top-up or more collateral; a call below the warning line is cured."""
        loan.value = self.value(registry, engine, loan.receipt_ids)
        loan.ratio_bps = self.ratio(loan)
        if loan.state == "margin_call" and loan.ratio_bps < loan.warning_bps:
            loan.state = "active"
            loan.call_deadline_day = 0
            event += "; margin call cured"
        self._note(loan, event, ts_ns)

    @staticmethod
    def _pledge(loan: Loan, receipt_ids: list[str], registry: Registry, ts_ns: int) -> None:
        """Pledge (already checked) receipts to the loan's lender."""
        for receipt_id in receipt_ids:
            registry.pledge(receipt_id, loan.lender, loan.borrower, ts_ns, f"loan {loan.loan_id}")

    def _release(self, loan: Loan, registry: Registry, ts_ns: int, why: str) -> None:
        for receipt_id in loan.receipt_ids:
            receipt = registry.receipts[receipt_id]
            if receipt.state == PLEDGED and receipt.pledgee == loan.lender:
                registry.release(receipt_id, loan.lender, ts_ns, f"loan {loan.loan_id}: {why}")

    # -------------------------------------------------------------- end of day

    def end_of_day(self, registry: Registry, engine, ts_ns: int, closed_days: int) -> None:
        """Accrue a day's interest and mark every loan; open calls, liquidate where due."""
        self.day = closed_days
        for loan in self.loans.values():
            if loan.state not in OPEN:
                continue
            loan.interest += (loan.principal * loan.daily_rate_ppm * 2 + 1_000_000) // 2_000_000
            loan.value = self.value(registry, engine, loan.receipt_ids)
            loan.ratio_bps = self.ratio(loan)
            if loan.ratio_bps >= loan.liquidation_bps:
                self._liquidate(loan, registry, ts_ns, "past the liquidation line")
            elif self.day >= loan.maturity_day:
                self._liquidate(loan, registry, ts_ns, "not repaid at maturity")
            elif loan.state == "margin_call" and self.day > loan.call_deadline_day:
                self._liquidate(loan, registry, ts_ns, "margin call not met by its deadline")
            elif loan.state == "active" and loan.ratio_bps >= loan.warning_bps:
                loan.state = "margin_call"
                loan.call_deadline_day = self.day + loan.cure_days
                self._note(loan, f"margin call: top up or add collateral by day {loan.call_deadline_day}", ts_ns)
            else:
                self._note(loan, "marked", ts_ns)

    def _liquidate(self, loan: Loan, registry: Registry, ts_ns: int, why: str) -> None:
        self._release(loan, registry, ts_ns, f"liquidation: {why}")
        for receipt_id in loan.receipt_ids:
            registry.seize(receipt_id, LIQUIDATOR, "exchange", ts_ns, f"loan {loan.loan_id} liquidation")
        loan.state = "liquidating"
        loan.to_sell = list(loan.receipt_ids)
        self._note(loan, f"liquidation: {why}", ts_ns)
        if why == "not repaid at maturity":
            self._record_default(loan, ts_ns, loan.principal + loan.interest, why)

    def _record_default(self, loan: Loan, ts_ns: int, owed: int, why: str) -> None:
        """Record the loan's default in the credit register (once: a second record is a no-op)."""
        self.credit.record(loan.borrower, "loan_default", f"loan:{loan.loan_id}", ts_ns, owed, why)

    @property
    def defaults(self) -> dict[str, list[int]]:
        """Member -> the loans it defaulted on, in order: the credit register's loan defaults."""
        found: dict[str, list[int]] = {}
        for e in self.credit.entries:
            if e.kind == "loan_default":
                found.setdefault(e.member, []).append(int(e.ref.removeprefix("loan:")))
        return found

    # -------------------------------------------------------------- forced sale

    def on_liquidation_fill(self, order_id: int, proceeds: int, ledger: Ledger, ts_ns: int) -> None:
        """Apply one liquidation fill's net proceeds: principal, then interest, then the borrower."""
        loan = self.loans[self.order_loan[order_id]]
        legs = []
        to_principal = min(proceeds, loan.principal)
        to_interest = min(proceeds - to_principal, loan.interest)
        remainder = proceeds - to_principal - to_interest
        ref = Ref(loan_id=loan.loan_id)
        legs.append((cash(LIQUIDATOR), cash(loan.lender), to_principal + to_interest, "LIQUIDATION_REPAY", ref))
        legs.append((cash(LIQUIDATOR), cash(loan.borrower), remainder, "LIQUIDATION_SURPLUS", ref))
        ledger.post(legs, ts_ns)
        loan.principal -= to_principal
        loan.interest -= to_interest
        loan.recovered += proceeds

    def on_liquidation_closed(self, order_id: int, ts_ns: int) -> None:
        """A liquidation order finished; when the loan has none left, settle its outcome."""
        loan_id = self.order_loan.pop(order_id)
        loan = self.loans[loan_id]
        if loan.to_sell or any(o in self.order_loan for o in loan.liquidation_orders):
            return
        if loan.principal or loan.interest:
            loan.shortfall = loan.principal + loan.interest
            loan.state = "defaulted"
            self._record_default(loan, ts_ns, loan.shortfall, "collateral sold short of the debt")
            self._note(loan, f"defaulted: {loan.shortfall} fen unrecovered", ts_ns)
        else:
            loan.state = "repaid"
            self._note(loan, "repaid by liquidation", ts_ns)

    # -------------------------------------------------------------- invariants (tests and tools)

    def check(self, registry: Registry) -> None:
        """Assert financing's invariants, against the registry its loans pledge receipts in
        (AssertionError naming the first one broken)."""
        assert list(self.loans) == list(range(1, len(self.loans) + 1)), "loan ids are not 1, 2, 3, ..."
        assert all(key == (t.lender, t.commodity) for key, t in self.terms.items()), "terms filed under another key"
        for loan in self.loans.values():
            self._check_loan(loan, registry)
        pledged = [r for loan in self.loans.values() if loan.state in OPEN for r in loan.receipt_ids]
        assert len(pledged) == len(set(pledged)), "a receipt secures two open loans"
        for order_id, loan_id in self.order_loan.items():
            loan = self.loans.get(loan_id)
            assert loan is not None and loan.state == "liquidating" and order_id in loan.liquidation_orders, \
                f"liquidation order {order_id} belongs to no liquidating loan {loan_id}"
        self._check_defaults()

    def _check_loan(self, loan: Loan, registry: Registry) -> None:
        name = f"loan {loan.loan_id}"
        assert loan.state in LOAN_STATES, f"{name}: unknown state {loan.state!r}"
        assert min(loan.principal, loan.interest, loan.recovered, loan.shortfall, loan.value) >= 0, \
            f"{name}: a negative amount"
        assert loan.receipt_ids and len(set(loan.receipt_ids)) == len(loan.receipt_ids), \
            f"{name}: collateral is not one or more distinct receipts"
        assert set(loan.to_sell) <= set(loan.receipt_ids), f"{name}: sells a receipt it does not hold"
        if loan.state in OPEN:
            self._check_open_loan(loan, registry)
        elif loan.state in ("requested", "declined"):
            assert not (loan.to_sell or loan.liquidation_orders or loan.recovered), f"{name}: sold before approval"
        elif loan.state == "liquidating":
            assert loan.to_sell or any(o in self.order_loan for o in loan.liquidation_orders), \
                f"{name}: liquidating with nothing left to sell"
        else:  # repaid or defaulted: settled
            assert not loan.to_sell and not any(o in self.order_loan for o in loan.liquidation_orders), \
                f"{name}: {loan.state} with collateral still for sale"
            owed = loan.principal + loan.interest
            assert loan.shortfall == owed and (owed > 0) == (loan.state == "defaulted"), \
                f"{name}: {loan.state} but {owed} fen owed and a shortfall of {loan.shortfall}"
        for receipt_id in loan.to_sell:
            r = registry.receipts.get(receipt_id)
            assert r is not None and (r.owner, r.state) == (LIQUIDATOR, REGISTERED), \
                f"{name}: {receipt_id} awaits its liquidation order but is not the liquidator's, registered"

    def _check_open_loan(self, loan: Loan, registry: Registry) -> None:
        name = f"loan {loan.loan_id}"
        assert loan.principal > 0, f"{name}: open with no principal"
        assert loan.maturity_day == loan.start_day + loan.tenor_days, f"{name}: maturity is not start + tenor"
        assert not (loan.to_sell or loan.liquidation_orders), f"{name}: open but being sold"
        if loan.state == "margin_call":
            assert self.day <= loan.call_deadline_day, f"{name}: margin call past its deadline"
        else:
            assert not loan.call_deadline_day, f"{name}: active with a call deadline"
        for receipt_id in loan.receipt_ids:
            r = registry.receipts.get(receipt_id)
            assert r is not None and (r.state, r.pledgee, r.owner) == (PLEDGED, loan.lender, loan.borrower), \
                f"{name}: {receipt_id} is not pledged by the borrower to the lender"

    def _check_defaults(self) -> None:
        for member, loan_ids in self.defaults.items():
            assert len(set(loan_ids)) == len(loan_ids), f"{member}'s credit history repeats a loan"
            assert all(self.loans[i].borrower == member for i in loan_ids), f"{member} is charged another's default"
        for loan in self.loans.values():
            if loan.state == "defaulted":
                assert loan.loan_id in self.defaults.get(loan.borrower, ()), f"loan {loan.loan_id}: default unrecorded"

    def state_hash(self) -> str:
        """Hex digest of financing's state: terms, loans, the day, credit records and the
        open liquidation orders (not the notices: they are output, drained by the feed)."""
        data = msgspec.msgpack.encode([
            sorted(self.terms.items()), [self.loans[k] for k in sorted(self.loans)], self.day,
            sorted(self.defaults.items()), sorted(self.order_loan.items()),
        ])
        return hashlib.blake2b(data, digest_size=16).hexdigest()
