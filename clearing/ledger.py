"""A double-entry ledger in the style of TigerBeetle, in memory, deterministic.

Accounts never change but for their ``debits`` and ``credits`` totals. A transfer moves an
integer amount of fen from a debit account to a credit account and is never edited; a
posting of several transfers is all-or-nothing. Member accounts (``cash:M``, ``held:M``,
``margin:M``) and the exchange's fee revenue are liabilities of the exchange: their balance
is credits − debits and may never go below zero. ``exchange:bank`` is the asset side (money
members paid in); its balance is debits − credits. So Σ liabilities = bank balance always.
"""

import msgspec

BANK = "exchange:bank"
FEES = "exchange:fees"
SUSPENSE = "exchange:suspense"
ASSETS = frozenset({BANK})


def cash(member: str) -> str:
    return f"cash:{member}"


def held(member: str) -> str:
    return f"held:{member}"


def margin(member: str) -> str:
    return f"margin:{member}"


class Account(msgspec.Struct, kw_only=True):
    account_id: str
    debits: int = 0
    credits: int = 0

    @property
    def balance(self) -> int:
        if self.account_id in ASSETS:
            return self.debits - self.credits
        return self.credits - self.debits


class Transfer(msgspec.Struct, kw_only=True, gc=False):
    """An immutable movement of ``amount`` fen; ``ref`` names its cause (trade:7, order:12, ...)."""

    transfer_id: int
    debit: str
    credit: str
    amount: int
    code: str
    ref: str
    ts_ns: int


class Overdraft(ValueError):
    """A posting would take an account below zero; nothing was posted."""


class Ledger:
    """Accounts and the transfers between them."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.next_id = 1
        self.new_transfers: list[Transfer] = []
        self.touched: set[str] = set()

    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = Account(account_id=account_id)
        return acct

    def balance(self, account_id: str) -> int:
        acct = self.accounts.get(account_id)
        return acct.balance if acct else 0

    def post(self, legs: list[tuple[str, str, int, str, str]], ts_ns: int) -> list[Transfer]:
        """Post (debit, credit, amount, code, ref) legs atomically; zero amounts are skipped.
        Raises Overdraft, posting nothing, if any liability account would end below zero."""
        legs = [leg for leg in legs if leg[2]]
        delta: dict[str, int] = {}
        for debit, credit, amount, _, _ in legs:
            if amount < 0:
                raise ValueError(f"negative transfer amount {amount}")
            delta[debit] = delta.get(debit, 0) - amount
            delta[credit] = delta.get(credit, 0) + amount
        for account_id, change in delta.items():
            if account_id not in ASSETS and change < 0 and self.balance(account_id) + change < 0:
                raise Overdraft(f"{account_id} would go to {self.balance(account_id) + change}")
        posted = []
        for debit, credit, amount, code, ref in legs:
            self.account(debit).debits += amount
            self.account(credit).credits += amount
            transfer = Transfer(transfer_id=self.next_id, debit=debit, credit=credit, amount=amount, code=code,
                                ref=ref, ts_ns=ts_ns)
            self.next_id += 1
            posted.append(transfer)
            self.touched.update((debit, credit))
        self.new_transfers.extend(posted)
        return posted

    def drain(self) -> tuple[list[Transfer], list[Account]]:
        """Transfers posted and accounts changed since the last call."""
        transfers, self.new_transfers = self.new_transfers, []
        accounts = [self.accounts[a] for a in sorted(self.touched)]
        self.touched = set()
        return transfers, accounts
