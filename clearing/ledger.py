"""A double-entry ledger in the style of TigerBeetle, in memory, deterministic.

Accounts never change but for their ``debits`` and ``credits`` totals. A transfer moves an
integer amount of fen from a debit account to a credit account and is never edited; a
posting of several transfers is all-or-nothing; mistakes are corrected by new transfers.
Member accounts (``cash:M``, ``held:M``, ``margin:M``) and the exchange's fee revenue are
liabilities of the exchange: their balance is credits − debits and may never go below zero.
``exchange:bank`` is the asset side (money members paid in); its balance is debits − credits.
So Σ liabilities = bank balance always.

**Pending transfers.** A hold is a pending transfer, as in TigerBeetle: ``reserve`` opens (or
grows) pending transfer ``pending_id`` from ``cash:M``, moving the amount to ``held:M``, the
account that plays TigerBeetle's pending column; a posting with ``spend`` posts part of it to
its real destinations (a fill's payment and fees); ``void`` returns what is left to ``cash:M``.
So ``held:M`` always equals the sum of the member's open pending transfers.

**References are structured**: every transfer names its cause in typed fields (``order_id``,
``trade_id``, ``loan_id``, ``receipt_id``, or a funding ``reference``) rather than in a string to parse.
"""

import hashlib

import msgspec

BANK = "exchange:bank"
FEES = "exchange:fees"
ASSETS = frozenset({BANK})
MEMBER_ACCOUNTS = ("cash", "held", "margin", "bulk")  # a member's accounts: available, order holds, margin, escrow
MAX_AMOUNT = 10**15  # fen in one deposit, withdrawal or loan: ten million million yuan
MAX_TOTAL = 2**62  # an account's debits or credits never exceed this (PostgreSQL bigint with room)


def ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded up (fen: what a hold or margin must at least cover)."""
    return -(-a // b)


def cash(member: str) -> str:
    return f"cash:{member}"


def held(member: str) -> str:
    return f"held:{member}"


def margin(member: str) -> str:
    return f"margin:{member}"


class Ref(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What caused a transfer: at most one of the ids, or a funding ``reference``."""

    order_id: int = 0
    trade_id: int = 0
    loan_id: int = 0
    reference: str = ""
    receipt_id: str = ""  # storage fees
    declaration_id: int = 0  # inbound deposits
    auction_id: int = 0  # bulk supply: auction deposits, bonds, payments, forfeits
    listing_id: int = 0  # bulk supply: listing payments and counter-offer holds

    def label(self, code: str = "") -> str:
        """A human label: ``trade:7``, ``order:12``, ``loan:3``, ``deposit:<reference>``."""
        if self.trade_id:
            return f"trade:{self.trade_id}"
        if self.order_id:
            return f"order:{self.order_id}"
        if self.loan_id:
            return f"loan:{self.loan_id}"
        if self.receipt_id:
            return f"receipt:{self.receipt_id}"
        if self.declaration_id:
            return f"declaration:{self.declaration_id}"
        if self.auction_id:
            return f"auction:{self.auction_id}"
        if self.listing_id:
            return f"listing:{self.listing_id}"
        return f"{code.lower()}:{self.reference}" if self.reference else ""


NO_REF = Ref()


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
    """An immutable movement of ``amount`` fen, with its cause in ``cause``; ``pending_id`` names
    the pending transfer it opened, grew, posted from or voided (0: none)."""

    transfer_id: int
    debit: str
    credit: str
    amount: int
    code: str
    cause: Ref
    ts_ns: int
    pending_id: int = 0

    @property
    def ref(self) -> str:
        """The cause as a label for people (``trade:7``); programs read the typed fields."""
        return self.cause.label(self.code)

    @property
    def order_id(self) -> int:
        return self.cause.order_id

    @property
    def trade_id(self) -> int:
        return self.cause.trade_id

    @property
    def loan_id(self) -> int:
        return self.cause.loan_id

    @property
    def reference(self) -> str:
        return self.cause.reference

    @property
    def receipt_id(self) -> str:
        return self.cause.receipt_id

    @property
    def declaration_id(self) -> int:
        return self.cause.declaration_id

    @property
    def auction_id(self) -> int:
        return self.cause.auction_id

    @property
    def listing_id(self) -> int:
        return self.cause.listing_id


class Pending(msgspec.Struct, kw_only=True, gc=False):
    """An open pending transfer: ``amount`` fen of ``member``'s cash reserved (in ``held:M``)."""

    pending_id: int
    member: str
    amount: int


class Overdraft(ValueError):
    """A posting would take an account below zero; nothing was posted."""


class LedgerLimit(Overdraft):
    """A posting would take an account's totals past ``MAX_TOTAL``; nothing was posted."""


Leg = tuple[str, str, int, str, Ref]  # debit, credit, amount, code, cause


class Ledger:
    """Accounts, the transfers between them and the open pending transfers."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.pending: dict[int, Pending] = {}
        self.next_id = 1
        self.new_transfers: list[Transfer] = []
        self.touched: set[str] = set()
        # (account, code) -> net fen into (+) or out of (−) the account since the day opened: the
        # settlement report's cash flows, so a member's cash change is explained to the fen
        self.day_flows: dict[tuple[str, str], int] = {}

    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = Account(account_id=account_id)
        return acct

    def balance(self, account_id: str) -> int:
        acct = self.accounts.get(account_id)
        return acct.balance if acct else 0

    def post(self, legs: list[Leg], ts_ns: int, pending_id: int = 0,
             spend: dict[int, int] | None = None) -> list[Transfer]:
        """Post (debit, credit, amount, code, ref) legs atomically; zero amounts are skipped.
        ``spend`` posts pending transfers in part: pending id -> fen of it these legs use (the
        legs debit that member's ``held`` account). Raises Overdraft, posting nothing, if any
        liability account would end below zero or a pending transfer would be overspent."""
        legs = [leg for leg in legs if leg[2]]
        spend = {pid: amount for pid, amount in spend.items() if amount} if spend else {}
        if not legs and not spend:  # nothing moves (a fill without fees on an instrument without holds)
            return []
        if len(legs) == 1 and not spend and legs[0][2] > 0 and legs[0][0] != legs[0][1]:
            return [self.post_one(*legs[0], ts_ns, pending_id)]  # holds, releases, margin: the common case
        for pid, amount in spend.items():
            if amount > self.reserved(pid):
                raise Overdraft(f"pending transfer {pid} reserves {self.reserved(pid)}, {amount} posted")
        debits: dict[str, int] = {}
        credits: dict[str, int] = {}
        for debit, credit, amount, _, _ in legs:
            if amount < 0:
                raise ValueError(f"negative transfer amount {amount}")
            debits[debit] = debits.get(debit, 0) + amount
            credits[credit] = credits.get(credit, 0) + amount
        touched = [(a, self.accounts.get(a) or Account(account_id=a), debits.get(a, 0), credits.get(a, 0))
                   for a in dict.fromkeys(a for leg in legs for a in leg[:2])]  # in leg order; none created yet
        for account_id, acct, out, into in touched:
            if account_id not in ASSETS and into < out and acct.balance + into - out < 0:
                raise Overdraft(f"{account_id} would go to {acct.balance + into - out}")
        for account_id, acct, out, into in touched:
            if acct.debits + out > MAX_TOTAL or acct.credits + into > MAX_TOTAL:
                raise LedgerLimit(f"{account_id} would pass the ledger's limit")
        posted = []
        spent_from = {held(self.pending[pid].member): pid for pid in spend}
        flows = self.day_flows
        for debit, credit, amount, code, ref in legs:
            self.account(debit).debits += amount
            self.account(credit).credits += amount
            flows[debit, code] = flows.get((debit, code), 0) - amount
            flows[credit, code] = flows.get((credit, code), 0) + amount
            posted.append(Transfer(transfer_id=self.next_id, debit=debit, credit=credit, amount=amount, code=code,
                                   cause=ref, ts_ns=ts_ns, pending_id=pending_id or spent_from.get(debit, 0)))
            self.next_id += 1
            self.touched.update((debit, credit))
        self.new_transfers.extend(posted)
        for pid, amount in spend.items():
            self.pending[pid].amount -= amount
        return posted

    def post_one(self, debit: str, credit: str, amount: int, code: str, ref: Ref, ts_ns: int,
                 pending_id: int = 0, tally: bool = True) -> Transfer:
        """``post`` of one leg of a positive ``amount`` between two different accounts: the
        same checks, in the same order, and the same records, without the work for many legs."""
        accounts = self.accounts
        source = accounts.get(debit) or Account(account_id=debit)
        target = accounts.get(credit) or Account(account_id=credit)
        if debit not in ASSETS and source.balance - amount < 0:
            raise Overdraft(f"{debit} would go to {source.balance - amount}")
        if source.debits + amount > MAX_TOTAL:
            raise LedgerLimit(f"{debit} would pass the ledger's limit")
        if target.credits + amount > MAX_TOTAL:
            raise LedgerLimit(f"{credit} would pass the ledger's limit")
        accounts.setdefault(debit, source).debits += amount
        accounts.setdefault(credit, target).credits += amount
        if tally:  # a hold, release or void moves money between a member's own accounts: no flow
            flows = self.day_flows
            flows[debit, code] = flows.get((debit, code), 0) - amount
            flows[credit, code] = flows.get((credit, code), 0) + amount
        transfer = Transfer(transfer_id=self.next_id, debit=debit, credit=credit, amount=amount, code=code,
                            cause=ref, ts_ns=ts_ns, pending_id=pending_id)
        self.next_id += 1
        self.touched.add(debit)
        self.touched.add(credit)
        self.new_transfers.append(transfer)
        return transfer

    # -------------------------------------------------------------- pending transfers

    def reserved(self, pending_id: int) -> int:
        """What pending transfer ``pending_id`` still reserves (0 if none is open)."""
        pending = self.pending.get(pending_id)
        return pending.amount if pending else 0

    def reserve(self, pending_id: int, member: str, target: int, ts_ns: int) -> None:
        """Make pending transfer ``pending_id`` reserve exactly ``target`` fen of ``member``'s
        cash: open or grow it (``HOLD``), shrink it (``RELEASE``), or void it at 0 (``VOID``).
        Raises Overdraft (nothing changes) if the cash is not there."""
        pending = self.pending.get(pending_id)
        current = pending.amount if pending else 0
        if target > current:
            self.post_one(cash(member), held(member), target - current, "HOLD", Ref(order_id=pending_id), ts_ns,
                          pending_id, tally=False)
        elif target < current:
            code = "VOID" if target == 0 else "RELEASE"
            self.post_one(held(member), cash(member), current - target, code, Ref(order_id=pending_id), ts_ns,
                          pending_id, tally=False)
        if not target:
            self.pending.pop(pending_id, None)
        elif pending is None:
            self.pending[pending_id] = Pending(pending_id=pending_id, member=member, amount=target)
        else:
            pending.amount = target

    def void(self, pending_id: int, ts_ns: int) -> None:
        """Return what pending transfer ``pending_id`` still reserves to its member's cash."""
        pending = self.pending.get(pending_id)
        if pending is not None:
            self.reserve(pending_id, pending.member, 0, ts_ns)

    # -------------------------------------------------------------- record

    def drain(self) -> tuple[list[Transfer], list[Account]]:
        """Transfers posted and accounts changed since the last call."""
        transfers, self.new_transfers = self.new_transfers, []
        accounts = [self.accounts[a] for a in sorted(self.touched)]
        self.touched = set()
        return transfers, accounts

    def member_flows(self) -> dict[str, dict[str, int]]:
        """Today's money into (+) and out of (−) each member's accounts (cash, held, margin,
        bulk escrow) from and to other parties, net by transfer code, zeros left out: member ->
        code -> fen. A move between a member's own accounts (a hold, a margin posting) nets to
        nothing. With the balance before them, they explain the balance to the fen.

        >>> ledger = Ledger()
        >>> _ = ledger.post([(BANK, cash("A"), 500, "DEPOSIT", Ref())], 0)
        >>> _ = ledger.post([(cash("A"), held("A"), 200, "HOLD", Ref(order_id=1))], 0)
        >>> _ = ledger.post([(held("A"), FEES, 30, "FEE", Ref(order_id=1))], 0)
        >>> ledger.member_flows()
        {'A': {'DEPOSIT': 500, 'FEE': -30}}
        >>> ledger.new_day(); ledger.member_flows()
        {}
        """
        net: dict[tuple[str, str], int] = {}
        for (account_id, code), fen in self.day_flows.items():
            kind, _, member = account_id.partition(":")
            if kind in MEMBER_ACCOUNTS:
                net[member, code] = net.get((member, code), 0) + fen
        flows: dict[str, dict[str, int]] = {}
        for (member, code), fen in sorted(net.items()):
            if fen:
                flows.setdefault(member, {})[code] = fen
        return flows

    def member_balance(self, member: str) -> int:
        """The member's money at the exchange: its cash, held, margin and bulk-escrow balances."""
        return sum(self.balance(f"{kind}:{member}") for kind in MEMBER_ACCOUNTS)

    def new_day(self) -> None:
        """Start the day's tally of flows again (the settlement report has read it)."""
        self.day_flows = {}

    def unbalanced(self) -> str | None:
        """Why total debits differ from total credits, or None."""
        debits = sum(a.debits for a in self.accounts.values())
        credits = sum(a.credits for a in self.accounts.values())
        return None if debits == credits else f"debits {debits} <> credits {credits}"

    def below_zero(self) -> list[str]:
        """The liability accounts below zero, as ``account balance N``."""
        return [f"{a.account_id} balance {a.balance}" for a in self.accounts.values()
                if a.account_id not in ASSETS and a.balance < 0]

    def check(self) -> None:
        """Assert the ledger's invariants: debits = credits in total, no liability below zero,
        every member's ``held`` balance equal to its open pending transfers."""
        assert (why := self.unbalanced()) is None, why
        assert not (below := self.below_zero()), below
        reserved: dict[str, int] = {}
        for p in self.pending.values():
            assert p.amount >= 0, f"pending transfer {p.pending_id} reserves {p.amount}"
            reserved[p.member] = reserved.get(p.member, 0) + p.amount
        for account_id, acct in self.accounts.items():
            if account_id.startswith("held:"):
                member = account_id[5:]
                assert acct.balance == reserved.get(member, 0), \
                    f"{account_id} is {acct.balance}, its pending transfers reserve {reserved.get(member, 0)}"

    def state_hash(self) -> str:
        """Digest of balances, open pending transfers and the transfer counter."""
        state = msgspec.msgpack.encode([self.next_id, [self.accounts[k] for k in sorted(self.accounts)],
                                        [self.pending[k] for k in sorted(self.pending)]])
        return hashlib.blake2b(state, digest_size=8).hexdigest()
