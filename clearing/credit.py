"""The credit register (诚信): one record per member of every default the exchange sees.

Forwards (delivery and payment defaults, forced liquidations), financing (loan defaults) and
bulk supply (auction forfeits) each record here, once per cause: recording the same
(member, kind, ref) again returns the first entry. Entries are stamped with the trading day
they happened on, read from the exchange's calendar (anything with ``day`` and
``trading_date``), so the policy hook ``clean_for`` can ask "no default in the last N trading
days" without a clock.

>>> class Day:
...     day, trading_date = 5, 20261123
>>> register = CreditRegister(Day())
>>> register.record("mill", "loan_default", "loan:3", 0, amount=1_500).day
5
>>> register.clean_for("mill", days=5), register.clean_for("mill", days=0), register.clean_for("farm", days=99)
(False, True, True)
"""

import hashlib
from typing import Literal, Protocol

import msgspec

CreditKind = Literal["delivery_default", "payment_default", "forced_liquidation", "loan_default", "auction_forfeit"]
KINDS: tuple[str, ...] = CreditKind.__args__  # type: ignore[attr-defined]


class TradingDay(Protocol):
    """The exchange's calendar as clearing reads it: today's number and date."""

    @property
    def day(self) -> int: ...

    @property
    def trading_date(self) -> int: ...


class CreditEntry(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One default: who, what kind, which cause (``ref``, e.g. ``loan:3``, ``forward:CF2605``),
    the money at stake in fen (penalty, shortfall or forfeited bond), and when."""

    entry_id: int
    member: str
    kind: CreditKind
    ref: str
    amount: int = 0
    detail: str = ""
    day: int  # the trading day's number (1 = the first trading day)
    trading_date: int  # yyyymmdd
    ts_ns: int


class CreditRegister:
    """Entries in the order recorded, with an index by member and by cause."""

    def __init__(self, calendar: TradingDay) -> None:
        self.calendar = calendar
        self.entries: list[CreditEntry] = []
        self.by_member: dict[str, list[int]] = {}  # member -> entry ids
        self.by_cause: dict[tuple[str, str, str], int] = {}  # (member, kind, ref) -> entry id
        self.notices: list[CreditEntry] = []  # new entries, drained by the private streams

    def record(self, member: str, kind: CreditKind, ref: str, now_ns: int, amount: int = 0,
               detail: str = "") -> CreditEntry:
        """Record a default once per (member, kind, ref); a repeat returns the first entry."""
        first = self.by_cause.get((member, kind, ref))
        if first is not None:
            return self.entries[first - 1]
        entry = CreditEntry(entry_id=len(self.entries) + 1, member=member, kind=kind, ref=ref, amount=amount,
                            detail=detail, day=self.calendar.day,
                            trading_date=self.calendar.trading_date, ts_ns=now_ns)
        self.entries.append(entry)
        self.by_member.setdefault(member, []).append(entry.entry_id)
        self.by_cause[(member, kind, ref)] = entry.entry_id
        self.notices.append(entry)
        return entry

    def of(self, member: str) -> list[CreditEntry]:
        """The member's entries, oldest first."""
        return [self.entries[i - 1] for i in self.by_member.get(member, ())]

    def clean_for(self, member: str, days: int, kinds: tuple[str, ...] = KINDS) -> bool:
        """Policy hook: True when ``member`` has no entry of ``kinds`` in the last ``days``
        trading days (today included); ``days`` 0 asks nothing."""
        today = self.calendar.day
        return not any(e.day > today - days and e.kind in kinds for e in self.of(member))

    def state_hash(self) -> str:
        """Hex digest of the entries (the indexes follow from them)."""
        return hashlib.blake2b(msgspec.msgpack.encode(self.entries), digest_size=16).hexdigest()

    def check(self) -> None:
        """Assert ids are 1, 2, 3, ..., each cause recorded once, the indexes agree."""
        assert [e.entry_id for e in self.entries] == list(range(1, len(self.entries) + 1)), "credit ids not 1, 2, ..."
        assert len(self.by_cause) == len(self.entries), "a cause recorded twice"
        for e in self.entries:
            assert e.kind in KINDS and e.amount >= 0, f"credit entry {e.entry_id}: bad kind or amount"
            assert self.by_cause[(e.member, e.kind, e.ref)] == e.entry_id, f"credit entry {e.entry_id}: unindexed"
            assert e.entry_id in self.by_member[e.member], f"credit entry {e.entry_id}: not in its member's list"
