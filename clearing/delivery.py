"""Delivery at a forward's expiry (交割): tenders, allocation (配对), delivery versus payment at
the final settlement price, and the defaults of either side. Pure and deterministic like the
rest of clearing; every money movement is a ledger transfer, every receipt move a registry event.

**Timeline.** Deadlines are end-of-day deadlines on the trading calendar, so they fire from the
journaled ``EndOfDay`` (like daily settlement), not from timers:

- *Tender window*: from the first trading day of the delivery month until the end of the
  *tender deadline* day, ``tender_days`` business days after the last trading day (0: the last
  trading day itself). A short tenders receipts (``TenderReceipts``): they must be its own,
  registered (not pledged, locked, tendered, releasing or expired), of the forward's commodity,
  deliverable (no foreign fibre, valid beyond the payment deadline) and in a deliverable
  warehouse (``delivery_warehouses``, empty: any); together they may not deliver more lots
  than the short holds. Tendered receipts are ``tendered`` in the registry: they cannot be
  sold, pledged or withdrawn. A long may state the warehouse it prefers, and apply for rolling
  delivery (``DeliveryIntent``), until allocation.
- *Rolling delivery*: each end of day in the delivery month before the last trading day pairs
  the receipts tendered so far with the longs that applied, longest held first, and settles
  them at once at that day's settlement price (``Delivery.roll``).
- *Final settlement price*: the settlement price of the end of day that closes the last trading
  day (trading is refused after it and that end of day cancels the orders left, so it does not
  move again).
- *Allocation*: after the tender deadline, clearing staff run ``AllocateDelivery`` once (a second
  run is refused ``ALLOCATION_DONE``); the end of day of the payment deadline runs it if they did
  not. See ``Delivery.allocate``.
- *Payment deadline*: the end of day ``payment_days`` business days after the last trading day.
  Each allocated receipt is settled by delivery versus payment, or the long is in default.

**Lots and receipts.** A lot is ``lot_size`` kg; a receipt delivers ``round(weight / lot_size)``
lots (at least one, its weight within ``TOLERANCE_BPS`` of those lots) and is paid at its actual
conditioned weight. A short's position of N lots is covered by receipts delivering N lots in all.

**Money.** A receipt is paid (final settlement price + its grade premium − any old-crop
discount + the warehouse's location differential) × weight (kg / 1,000), rounded half up to the
fen (``clearing.core.receipt_value``), ``cash:long → cash:short``; the delivery fee
(``delivery_fee_per_tonne`` × weight) is charged to each side, ``→ exchange:fees``. The
delivering lots of both positions are closed at the final settlement price and their margin is
released first, so a long pays from its cash and its released margin.

**Defaults.** A short's lots not covered by tenders at the tender deadline are a delivery
default; a long whose cash (with its released margin) cannot pay a receipt at the payment
deadline is in payment default for it (the receipt goes back to the short). The defaulting side's
lots and its counterparty's are closed at the final settlement price, their margin released;
the defaulter pays the counterparty ``penalty_bps`` of the contract value (lots × lot size × final
price) from its cash, what it cannot pay is recorded; the default goes in the credit register
(``delivery_default`` / ``payment_default``, one entry per member and contract, ref
``delivery:SYMBOL``).
"""

import hashlib
from collections.abc import Mapping
from typing import Protocol

import msgspec

from clearing.core import ClearingRejected, paid
from clearing.credit import CreditRegister, TradingDay
from clearing.forward_terms import ForwardTerms
from clearing.forwards import Forwards, Position
from clearing.ledger import FEES, Ledger, Ref, cash
from warehouse_receipts.dates import local_date
from warehouse_receipts.grading import PremiumTable, deliverable, value_fen
from warehouse_receipts.registry import TENDERED, Receipt, Registry

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
TOLERANCE_BPS = 1_000  # a receipt's weight within 10 % of the lots it delivers
MAX_RECEIPTS = 1_000  # receipts in one tender


# ------------------------------------------------------------------ commands

class TenderReceipts(msgspec.Struct, tag="tender_receipts", **_OPTS):
    """A short (``member``) tenders its receipts against its position in ``symbol``."""

    actor: str
    member: str
    symbol: str
    receipt_ids: list[str]


class DeliveryIntent(msgspec.Struct, tag="delivery_intent", **_OPTS):
    """A long (``member``) states the warehouse it prefers to take delivery from, and/or
    applies to take delivery early (rolling delivery in the delivery month)."""

    actor: str
    member: str
    symbol: str
    warehouse: str = ""
    early: bool = False


class AllocateDelivery(msgspec.Struct, tag="allocate_delivery", **_OPTS):
    """Clearing staff pair the tendered receipts of ``symbol`` with its longs (配对)."""

    actor: str
    symbol: str


DeliveryCommand = TenderReceipts | DeliveryIntent | AllocateDelivery


class DeliveryRejected(ClearingRejected):
    """A refused delivery command; nothing changed."""


# ------------------------------------------------------------------ state

class Tender(msgspec.Struct, kw_only=True, gc=False):
    """What one member has tendered on one forward (the answer to ``TenderReceipts``)."""

    symbol: str
    member: str
    receipt_ids: list[str]
    lots: int


class Intent(msgspec.Struct, kw_only=True, gc=False):
    symbol: str
    member: str
    warehouse: str  # "": no preference
    early: bool = False  # applied for rolling delivery


class DeliveryLine(msgspec.Struct, kw_only=True, gc=False):
    """One pairing of a short's lots with a long's: a receipt (``kind`` ``receipt``), lots the
    short failed to cover (``delivery_default``), or lots a tendered receipt's size could not be
    fitted to (``unmatched``: closed at the final price, no penalty)."""

    line_id: int
    short: str
    long: str
    lots: int
    kind: str
    receipt_id: str = ""
    warehouse: str = ""
    weight_kg: int = 0
    premium: int = 0  # fen a tonne: grade premium − old-crop discount
    differential: int = 0  # fen a tonne: the warehouse's location differential
    value: int = 0  # fen the long pays the short
    fee: int = 0  # fen of delivery fee, each side
    penalty: int = 0  # fen the defaulter owes its counterparty
    penalty_paid: int = 0
    state: str = "allocated"  # allocated, delivered, payment_default, delivery_default, closed


class Allocation(msgspec.Struct, kw_only=True, gc=False):
    symbol: str
    day: int  # the trading day's number it ran on
    trading_date: int
    final_price: int  # fen a tonne
    pay_by: int  # yyyymmdd: the payment deadline (its end of day)
    lines: list[DeliveryLine]
    settled: bool = False
    rolling: bool = False  # an early delivery in the delivery month, at that day's settlement price

    @property
    def ref(self) -> str:
        """The cause its defaults are recorded under in the credit register."""
        return f"delivery:{self.symbol}:{self.trading_date}" if self.rolling else f"delivery:{self.symbol}"


class BusinessDays(TradingDay, Protocol):

    def next_business_day(self, date: int, inclusive: bool = False) -> int: ...


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


class Delivery:
    """Tenders, intents, final prices and allocations of the margined forwards."""

    def __init__(self, terms: Mapping[str, ForwardTerms], specs: Mapping, calendar: BusinessDays,
                 credit: CreditRegister) -> None:
        self.terms = terms  # the catalogue's view: margined forwards
        self.specs = specs  # the catalogue's specs (commodity, lot size)
        self.calendar = calendar
        self.credit = credit
        self.tenders: dict[str, dict[str, list[str]]] = {}  # symbol -> member -> receipts, in tender order
        self.intents: dict[str, dict[str, Intent]] = {}  # symbol -> long -> its intent
        self.final: dict[str, int] = {}  # symbol -> final settlement price
        self.allocations: dict[str, Allocation] = {}
        self.rolls: list[Allocation] = []  # rolling deliveries, in the order they settled
        self.next_line = 1
        self.notices: list[tuple[str, dict]] = []  # (member, message) for the private streams

    # -------------------------------------------------------------- dates

    def after_last_day(self, symbol: str, days: int) -> int:
        """The business day ``days`` after the last trading day (0: that day)."""
        date = self.terms[symbol].last_trading_day
        for _ in range(days):
            date = self.calendar.next_business_day(date)
        return date

    def expiring(self, trading_date: int, traded: Mapping) -> set[str]:
        """The forwards in ``traded`` whose trading ends with ``trading_date`` (or ended before
        without an end of day since: no final price yet)."""
        return {s for s in traded if s in self.terms and s not in self.final
                and trading_date >= self.terms[s].last_trading_day}

    def tender_deadline(self, symbol: str) -> int:
        return self.after_last_day(symbol, self.terms[symbol].tender_days)

    def payment_deadline(self, symbol: str) -> int:
        return self.after_last_day(symbol, self.terms[symbol].payment_days)

    # -------------------------------------------------------------- receipts

    def lots_of(self, symbol: str, weight_kg: int) -> int:
        """Lots a receipt of ``weight_kg`` delivers (0: a weight no whole number of lots fits)."""
        lot_kg = self.specs[symbol].lot_size
        lots = _half_up(weight_kg, lot_kg)
        return lots if lots and abs(weight_kg - lots * lot_kg) * 10_000 <= lots * lot_kg * TOLERANCE_BPS else 0

    def why_not(self, symbol: str, receipt: Receipt) -> str | None:
        """Why ``receipt`` cannot be tendered against ``symbol``, or None."""
        terms, spec = self.terms[symbol], self.specs[symbol]
        why = deliverable(receipt.commodity, receipt.warehouse, receipt.factors, spec.commodity,
                          terms.delivery_warehouses)
        if why is None and not self.lots_of(symbol, receipt.quantity_kg):
            why = f"{receipt.quantity_kg} kg is no whole number of {spec.lot_size} kg lots within tolerance"
        if why is None and receipt.expires_ns and local_date(receipt.expires_ns) <= self.payment_deadline(symbol):
            why = f"it expires on {local_date(receipt.expires_ns)}, by the payment deadline"
        return why

    def table(self, registry: Registry, instruments: Mapping, symbol: str) -> PremiumTable | None:
        """The premium table a forward's receipts are valued by: its commodity's."""
        return registry.commodity_table(self.specs[symbol].commodity, instruments)

    # -------------------------------------------------------------- commands

    def apply(self, cmd: DeliveryCommand, registry: Registry, forwards: Forwards, ledger: Ledger,
              instruments: Mapping, now_ns: int) -> object:
        """Apply one delivery command: its outcome, or a refusal that changed nothing."""
        if cmd.symbol not in self.terms or cmd.symbol not in self.specs:
            return DeliveryRejected("UNKNOWN_INSTRUMENT", f"{cmd.symbol} is not a margined forward")
        if isinstance(cmd, TenderReceipts):
            return self.tender(cmd, registry, forwards, now_ns)
        if isinstance(cmd, DeliveryIntent):
            return self.intend(cmd, forwards)
        if cmd.symbol in self.allocations:
            return DeliveryRejected("ALLOCATION_DONE", f"{cmd.symbol} was allocated on trading day "
                                    f"{self.allocations[cmd.symbol].trading_date}")
        if self.calendar.trading_date <= self.tender_deadline(cmd.symbol):
            return DeliveryRejected("TENDER_OPEN", f"{cmd.symbol}'s tenders are open until the end of "
                                    f"{self.tender_deadline(cmd.symbol)}")
        return self.allocate(cmd.symbol, registry, forwards, ledger, instruments, now_ns)

    def tender(self, cmd: TenderReceipts, registry: Registry, forwards: Forwards,
               now_ns: int) -> Tender | DeliveryRejected:
        symbol, member = cmd.symbol, cmd.member
        if (refused := self._window(symbol)) is not None:
            return refused
        if not 0 < len(cmd.receipt_ids) <= MAX_RECEIPTS or len(set(cmd.receipt_ids)) != len(cmd.receipt_ids):
            return DeliveryRejected("INVALID_REQUEST", f"name 1 to {MAX_RECEIPTS} distinct receipts")
        p = forwards.positions.get((member, symbol))
        if p is None or p.net >= 0:
            return DeliveryRejected("NOT_SHORT", f"{member} holds no short position in {symbol}")
        lots = 0
        for receipt_id in cmd.receipt_ids:
            receipt = registry.receipts.get(receipt_id)
            if receipt is None or receipt.owner != member:
                return DeliveryRejected("RECEIPT_NOT_FOUND", f"you hold no receipt {receipt_id}")
            if (refused := registry.refusal(receipt, "tender", member, owner_only=True)) is not None:
                return DeliveryRejected(refused.code, refused.message)
            if (why := self.why_not(symbol, receipt)) is not None:
                return DeliveryRejected("NOT_DELIVERABLE", f"{receipt_id}: {why}")
            lots += self.lots_of(symbol, receipt.quantity_kg)
        held = self.tendered_lots(registry, symbol, member)
        if held + lots > -p.net:
            return DeliveryRejected("TENDER_EXCEEDS_POSITION", f"{held} lots tendered and {lots} more would pass "
                                    f"the short position of {-p.net} lots")
        tendered = self.tenders.setdefault(symbol, {}).setdefault(member, [])
        for receipt_id in cmd.receipt_ids:
            registry.move(receipt_id, "tender", cmd.actor, now_ns, detail=f"tendered for delivery on {symbol}")
            tendered.append(receipt_id)
        return Tender(symbol=symbol, member=member, receipt_ids=list(tendered), lots=held + lots)

    def _window(self, symbol: str) -> DeliveryRejected | None:
        """Why tenders on ``symbol`` are not taken today, or None."""
        date, terms = self.calendar.trading_date, self.terms[symbol]
        if symbol in self.allocations or date > self.tender_deadline(symbol):
            return DeliveryRejected("TENDER_CLOSED", f"{symbol}'s tender deadline was the end of "
                                    f"{self.tender_deadline(symbol)}")
        if date < terms.delivery_month * 100 + 1:
            return DeliveryRejected("TENDER_NOT_OPEN", f"{symbol}'s tenders open in {terms.delivery_month}")
        return None

    def tendered_lots(self, registry: Registry, symbol: str, member: str) -> int:
        return sum(self.lots_of(symbol, registry.receipts[r].quantity_kg)
                   for r in self.tenders.get(symbol, {}).get(member, ()))

    def intend(self, cmd: DeliveryIntent, forwards: Forwards) -> Intent | DeliveryRejected:
        symbol = cmd.symbol
        if symbol in self.allocations:
            return DeliveryRejected("ALLOCATION_DONE", f"{symbol} is allocated already")
        p = forwards.positions.get((cmd.member, symbol))
        if p is None or p.net <= 0:
            return DeliveryRejected("NOT_LONG", f"{cmd.member} holds no long position in {symbol}")
        if not cmd.warehouse and not cmd.early:
            return DeliveryRejected("INVALID_REQUEST", "name a warehouse, apply for early delivery, or both")
        warehouses = self.terms[symbol].delivery_warehouses
        if len(cmd.warehouse) > 64 or (cmd.warehouse and warehouses and cmd.warehouse not in warehouses):
            return DeliveryRejected("NOT_DELIVERABLE", f"{cmd.warehouse!r} is not a deliverable warehouse")
        intent = Intent(symbol=symbol, member=cmd.member, warehouse=cmd.warehouse, early=cmd.early)
        self.intents.setdefault(symbol, {})[cmd.member] = intent
        return intent

    # -------------------------------------------------------------- allocation

    def plan(self, symbol: str, registry: Registry, forwards: Forwards,
             instruments: Mapping) -> tuple[int, list[DeliveryLine], list[tuple[str, str]]]:
        """The allocation as it would run now, changing nothing: the final price, the lines (not
        yet numbered) and the receipts that would go back to their shorts, with why.

        Longs, oldest position first (``since_day``, then member), take tendered receipts in
        tender order, their preferred warehouse first, whole receipts only, while they fit.
        Receipts beyond a short's position go back to it. Then the shorts' uncovered lots
        (delivery defaults) and the lots of receipts no long's remaining position could take
        are paired with the longs left, in the same order."""
        final = self.final.get(symbol) or (forwards.markets[symbol].settle if symbol in forwards.markets
                                           else instruments[symbol].ref_price)
        positions = [forwards.positions[k] for k in sorted(forwards.positions) if k[1] == symbol]
        order = sorted((p for p in positions if p.net), key=lambda p: (p.since_day, p.member))
        shorts, longs = [p for p in order if p.net < 0], [p for p in order if p.net > 0]
        tenders = self.tenders.get(symbol, {})
        pool, owed, returns = self._pool(symbol, shorts, tenders, registry)
        short = {p.member for p in shorts}
        for member in sorted(set(tenders) - short):
            returns += [(r, f"{member} holds no short position in {symbol}") for r in tenders[member]]
        lines, remaining = self._match(symbol, pool, longs, final, registry, instruments)
        for member, receipt, lots in pool:  # no long's remaining position fits them
            returns.append((receipt.receipt_id, f"no long position in {symbol} fits it"))
            owed.append([member, "unmatched", lots])
        return final, lines + self._pair(owed, remaining), returns

    def _pool(self, symbol: str, shorts: list[Position], tenders: Mapping,
              registry: Registry) -> tuple[list[tuple], list[list], list[tuple[str, str]]]:
        """Each short's tendered receipts, in tender order, while they fit its position:
        the pool (short, receipt, lots), what each short leaves uncovered [short,
        "delivery_default", lots], and the receipts beyond its position (receipt id, why)."""
        pool, owed, beyond = [], [], []
        for p in shorts:
            need = -p.net
            for receipt_id in tenders.get(p.member, ()):
                lots = self.lots_of(symbol, registry.receipts[receipt_id].quantity_kg)
                if lots <= need:
                    pool.append((p.member, registry.receipts[receipt_id], lots))
                    need -= lots
                else:
                    beyond.append((receipt_id, f"more than {p.member}'s position in {symbol}"))
            if need:
                owed.append([p.member, "delivery_default", need])
        return pool, owed, beyond

    def allocate(self, symbol: str, registry: Registry, forwards: Forwards, ledger: Ledger, instruments: Mapping,
                 now_ns: int) -> Allocation:
        """Run the allocation (``plan``): receipts not delivered go back, every line is noticed to
        both sides; defaults settle now, the receipts at the payment deadline."""
        final, lines, returns = self.plan(symbol, registry, forwards, instruments)
        self.final.setdefault(symbol, final)
        self.tenders.pop(symbol, None)
        for receipt_id, why in returns:
            self._return(registry, receipt_id, now_ns, why)
        self._number(lines)
        allocation = Allocation(symbol=symbol, day=self.calendar.day,
                                trading_date=self.calendar.trading_date, final_price=final,
                                pay_by=self.payment_deadline(symbol), lines=lines)
        self.allocations[symbol] = allocation
        for line in lines:
            self._notify(allocation, line)
        self._settle_defaults(allocation, forwards, ledger, now_ns)
        return allocation

    def _match(self, symbol: str, pool: list[tuple], longs: list, price: int, registry: Registry,
               instruments: Mapping) -> tuple[list[DeliveryLine], list[list]]:
        """Receipt lines for ``longs`` in order, each taking whole receipts from ``pool`` (taken
        out of it), its preferred warehouse first, while they fit its position; and each long's
        lots left over."""
        table = self.table(registry, instruments, symbol)
        lines, remaining = [], []
        for p in longs:
            intent = self.intents.get(symbol, {}).get(p.member)
            need, preferred = p.net, intent.warehouse if intent else ""
            for item in sorted(pool, key=lambda i: i[1].warehouse != preferred):
                if item[2] <= need:
                    pool.remove(item)
                    lines.append(self._receipt_line(symbol, item, p.member, price, registry, table))
                    need -= item[2]
            remaining.append([p.member, need])
        return lines, remaining

    def roll(self, symbol: str, registry: Registry, forwards: Forwards, ledger: Ledger, instruments: Mapping,
             now_ns: int) -> Allocation | None:
        """Rolling delivery (an end of day in the delivery month before the last trading day):
        receipts tendered early go to the longs that applied (``early``), longest held first,
        at the day's settlement price, and settle at once; the rest wait."""
        tenders, applied = self.tenders.get(symbol, {}), self.intents.get(symbol, {})
        positions = sorted((forwards.positions[(m, symbol)] for m in set(tenders) | set(applied)
                            if (m, symbol) in forwards.positions), key=lambda p: (p.since_day, p.member))
        pool, _, _ = self._pool(symbol, [p for p in positions if p.net < 0], tenders, registry)
        longs = [p for p in positions if p.net > 0 and applied.get(p.member) and applied[p.member].early]
        price = forwards.markets[symbol].settle
        lines, _ = self._match(symbol, pool, longs, price, registry, instruments)
        if not lines:
            return None
        self._number(lines)
        for line in lines:
            tenders[line.short].remove(line.receipt_id)
            if not tenders[line.short]:
                del tenders[line.short]
        roll = Allocation(symbol=symbol, day=self.calendar.day, trading_date=self.calendar.trading_date,
                          final_price=price, pay_by=self.calendar.trading_date, lines=lines, rolling=True)
        self.rolls.append(roll)
        for line in lines:
            self._notify(roll, line)
        self.settle_payments(roll, registry, forwards, ledger, now_ns)
        return roll

    def _receipt_line(self, symbol: str, item: tuple, long: str, final: int, registry: Registry,
                      table: PremiumTable | None) -> DeliveryLine:
        short, receipt, lots = item
        differential = self.terms[symbol].location_differentials.get(receipt.warehouse, 0)
        premium = registry.premium(receipt, table)
        value = paid(final + differential, premium, receipt.quantity_kg)  # as core.receipt_value
        fee = value_fen(self.terms[symbol].delivery_fee_per_tonne, 0, receipt.quantity_kg)
        return DeliveryLine(line_id=0, short=short, long=long, lots=lots, kind="receipt",
                            receipt_id=receipt.receipt_id, warehouse=receipt.warehouse, weight_kg=receipt.quantity_kg,
                            premium=premium, differential=differential, value=value, fee=fee)

    def _number(self, lines: list[DeliveryLine]) -> None:
        for line in lines:
            line.line_id, self.next_line = self.next_line, self.next_line + 1

    def _pair(self, owed: list[list], remaining: list[list]) -> list[DeliveryLine]:
        """Pair the shorts' lots still owed with the longs' lots still open, in order."""
        lines = []
        remaining = [r for r in remaining if r[1]]
        while owed and remaining:
            lots = min(owed[0][2], remaining[0][1])
            lines.append(DeliveryLine(line_id=0, short=owed[0][0], long=remaining[0][0], lots=lots, kind=owed[0][1]))
            for rest, i in ((owed, 2), (remaining, 1)):
                rest[0][i] -= lots
                if not rest[0][i]:
                    rest.pop(0)
        return lines

    def _notify(self, allocation: Allocation, line: DeliveryLine) -> None:
        notice = {"type": "delivery_notice", "symbol": allocation.symbol, "line_id": line.line_id,
                  "kind": line.kind, "lots": line.lots, "receipt_id": line.receipt_id or None,
                  "warehouse": line.warehouse or None, "value": line.value, "fee": line.fee,
                  "final_price": allocation.final_price, "pay_by": allocation.pay_by}
        self.notices.append((line.short, {**notice, "side": "short", "counterparty": line.long}))
        self.notices.append((line.long, {**notice, "side": "long", "counterparty": line.short}))

    def _return(self, registry: Registry, receipt_id: str, now_ns: int, why: str) -> None:
        registry.move(receipt_id, "tender_return", "exchange", now_ns, detail=f"tender returned: {why}")

    # -------------------------------------------------------------- settlement

    def _close(self, forwards: Forwards, ledger: Ledger, line: DeliveryLine, symbol: str, now_ns: int) -> None:
        """Close the line's lots of both positions at the final settlement price and release
        their margin."""
        for member in (line.long, line.short):
            close_at_settlement(forwards, member, symbol, line.lots)
        ref = Ref(reference=f"delivery:{symbol}:{line.line_id}")
        for member in (line.long, line.short):
            forwards.sync(ledger, member, ref, now_ns)

    def _penalise(self, allocation: Allocation, line: DeliveryLine, payer: str, payee: str, ledger: Ledger,
                  now_ns: int) -> None:
        """The defaulter pays its counterparty ``penalty_bps`` of the lots' contract value from
        its cash (margin released by the close included); the rest stays owed."""
        symbol = allocation.symbol
        contract = line.lots * self.specs[symbol].lot_size * allocation.final_price
        line.penalty = _half_up(contract * self.terms[symbol].penalty_bps, 1_000 * 10_000)
        line.penalty_paid = min(line.penalty, ledger.balance(cash(payer)))
        ledger.post([(cash(payer), cash(payee), line.penalty_paid, "DELIVERY_PENALTY",
                      Ref(reference=f"delivery:{symbol}:{line.line_id}"))], now_ns)
        self.notices.append((payer, {"type": "delivery_default", "symbol": symbol, "line_id": line.line_id,
                                     "kind": line.state, "penalty": line.penalty, "paid": line.penalty_paid}))
        self.notices.append((payee, {"type": "delivery_default", "symbol": symbol, "line_id": line.line_id,
                                     "kind": line.state, "penalty": line.penalty, "received": line.penalty_paid}))

    def _record(self, allocation: Allocation, kind: str, now_ns: int) -> None:
        """One credit entry per defaulter of ``kind`` in this allocation, with its penalties."""
        side = "short" if kind == "delivery_default" else "long"
        owed: dict[str, list[int]] = {}
        for line in allocation.lines:
            if line.state == kind:
                totals = owed.setdefault(getattr(line, side), [0, 0, 0])
                totals[0] += line.lots
                totals[1] += line.penalty
                totals[2] += line.penalty - line.penalty_paid
        what = "no receipts tendered by the tender deadline" if side == "short" else "no funds by the payment deadline"
        for member, (lots, penalty, unpaid) in sorted(owed.items()):
            self.credit.record(member, kind, allocation.ref, now_ns, penalty,
                               f"{lots} lots: {what}; penalty {penalty} fen, {unpaid} fen unpaid")

    def _settle_defaults(self, allocation: Allocation, forwards: Forwards, ledger: Ledger, now_ns: int) -> None:
        """At allocation: the shorts' delivery defaults and the unmatched lots settle."""
        for line in allocation.lines:
            if line.kind == "receipt":
                continue
            self._close(forwards, ledger, line, allocation.symbol, now_ns)
            line.state = "closed" if line.kind == "unmatched" else "delivery_default"
            if line.state == "delivery_default":
                self._penalise(allocation, line, line.short, line.long, ledger, now_ns)
        self._record(allocation, "delivery_default", now_ns)

    def settle_payments(self, allocation: Allocation, registry: Registry, forwards: Forwards, ledger: Ledger,
                        now_ns: int) -> None:
        """At the payment deadline: each allocated receipt by delivery versus payment, or its
        long's payment default (the receipt goes back to the short)."""
        symbol = allocation.symbol
        due = [line for line in allocation.lines if line.state == "allocated"]
        for line in due:  # every delivering lot closed and its margin released before anyone pays
            self._close(forwards, ledger, line, symbol, now_ns)
        for line in due:
            ref = Ref(reference=f"delivery:{symbol}:{line.line_id}")
            why = f"delivery {symbol} line {line.line_id}"
            if ledger.balance(cash(line.long)) >= line.value + line.fee:
                short_fee = min(line.fee, ledger.balance(cash(line.short)) + line.value)
                ledger.post([(cash(line.long), cash(line.short), line.value, "DELIVERY_DVP", ref),
                             (cash(line.long), FEES, line.fee, "DELIVERY_FEE", ref),
                             (cash(line.short), FEES, short_fee, "DELIVERY_FEE", ref)], now_ns)
                registry.hand_over(line.receipt_id, "tender_deliver", line.long, "exchange", now_ns, detail=why)
                line.state = "delivered"
                for member in (line.short, line.long):
                    self.notices.append((member, {"type": "delivery_settled", "symbol": symbol,
                                                  "line_id": line.line_id, "receipt_id": line.receipt_id,
                                                  "value": line.value, "fee": line.fee}))
            else:
                self._return(registry, line.receipt_id, now_ns, f"{line.long} did not pay ({why})")
                line.state = "payment_default"
                self._penalise(allocation, line, line.long, line.short, ledger, now_ns)
        self._record(allocation, "payment_default", now_ns)
        allocation.settled = True

    # -------------------------------------------------------------- end of day

    def close_day(self, registry: Registry, forwards: Forwards, ledger: Ledger, instruments: Mapping,
                  now_ns: int) -> list[Allocation]:
        """At end of day, after daily settlement: the final settlement price on the last
        trading day; rolling deliveries; at the payment deadline, allocation if staff did not
        run it, then payment. Returns the allocations settled."""
        date = self.calendar.trading_date
        settled = []
        for symbol in sorted(self.terms):
            if symbol not in forwards.markets or symbol not in self.specs:
                continue
            if date >= self.terms[symbol].last_trading_day and symbol not in self.final:
                self.final[symbol] = forwards.markets[symbol].settle
            rolling = self.terms[symbol].delivery_month * 100 < date < self.terms[symbol].last_trading_day
            roll = self.roll(symbol, registry, forwards, ledger, instruments, now_ns) \
                if rolling and symbol in self.tenders else None
            if roll is not None:
                settled.append(roll)
            allocation = self.allocations.get(symbol)
            if date < self.payment_deadline(symbol) or (allocation is not None and allocation.settled):
                continue
            if allocation is None:
                allocation = self.allocate(symbol, registry, forwards, ledger, instruments, now_ns)
            self.settle_payments(allocation, registry, forwards, ledger, now_ns)
            settled.append(allocation)
        return settled

    # -------------------------------------------------------------- state

    def state_hash(self) -> str:
        data = msgspec.msgpack.encode([
            sorted((s, sorted(m.items())) for s, m in self.tenders.items()),
            sorted((s, sorted(m.items())) for s, m in self.intents.items()),
            sorted(self.final.items()), [self.allocations[k] for k in sorted(self.allocations)], self.next_line,
            self.rolls,
        ])
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def check(self, registry: Registry) -> None:
        """Assert: every receipt the registry holds tendered is a pending tender by its owner or
        an allocated, unsettled line's receipt of its short, and the reverse; line ids unique;
        rolling deliveries settled; no penalty overpaid."""
        expected: dict[str, str] = {}
        for by_member in self.tenders.values():
            for member, ids in by_member.items():
                expected.update(dict.fromkeys(ids, member))
        allocations = [*self.allocations.values(), *self.rolls]
        lines = [line for a in allocations for line in a.lines]
        for line in lines:
            assert line.kind == "receipt" or not line.receipt_id, f"line {line.line_id}: a receipt on a default"
            assert line.penalty_paid <= line.penalty, f"line {line.line_id}: overpaid penalty"
            if line.state == "allocated":
                expected[line.receipt_id] = line.short
        tendered = {r.receipt_id: r.owner for r in registry.receipts.values() if r.state == TENDERED}
        assert tendered == expected, f"tendered receipts {tendered} differ from delivery's {expected}"
        ids = [line.line_id for line in lines]
        assert len(ids) == len(set(ids)) and all(0 < i < self.next_line for i in ids), "delivery line ids"
        assert all(roll.settled for roll in self.rolls), "a rolling delivery left unsettled"


def close_at_settlement(forwards: Forwards, member: str, symbol: str, lots: int) -> None:
    """Close ``lots`` of a position at its market's settlement price, outside the book, as a
    fill at that price would (so the next daily settlement pays no variation on them)."""
    p = forwards.positions[(member, symbol)]
    direction = 1 if p.net > 0 else -1
    price = forwards.markets[symbol].settle
    p.flow += direction * lots * price
    p.realised += (price - p.open_price) * lots * direction * forwards.lot_kg[symbol] // 1_000
    p.net -= direction * lots
    if p.net == 0:
        p.open_price = 0


__all__ = ["AllocateDelivery", "Delivery", "DeliveryCommand", "DeliveryIntent", "DeliveryRejected",
           "TenderReceipts"]
