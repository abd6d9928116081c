"""The registration workflow (仓单注册), from pre-declaration to a registered receipt.

    declared ─(warehouse accepts)→ accepted ─(owner pays the inbound deposit)→ paid
      │   └─(warehouse refuses)→ refused                                        │
      └─(unanswered by the deadline: a clock timer)→ expired     arrival recorded ↓
                                                                             arrived
                                       inspection passed: the receipt is issued ↓
                                                                            registered

The owner declares commodity, expected weight and warehouse; the warehouse answers within
``answer_days`` (default 3) or the declaration expires; the owner pays the warehouse's inbound
deposit (its tariff, fen per tonne of the expected weight) by a ledger transfer
``cash:owner → cash:warehouse`` (code ``INBOUND_DEPOSIT``, the declaration as typed cause); the
warehouse records the arrival and then the inspection (the quality schemas of
``warehouse_receipts.quality``), which issues the receipt to the owner, linked to the
declaration. Every step is a ``Step`` in the declaration's history. It lives in clearing/
because one step moves money. Total: a refused step changes nothing; a step retried after it
was done the same way returns the declaration unchanged.
"""

import msgspec

from clearing.core import ClearingRejected
from clearing.ledger import MAX_AMOUNT, Ledger, Overdraft, Ref, cash
from clearing.warehousing import COMMODITIES, Warehousing, per_tonne
from warehouse_receipts.dates import DAY_NS
from warehouse_receipts.quality import Quality, commodity_of
from warehouse_receipts.registry import (
    WEIGHT_TOLERANCE_BPS,
    IssueReceipt,
    ReceiptRejected,
    Registry,
    issued_weight_kg,
    weighs_as,
)

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
MAX_KG = 10**9
DECLARATION_STATES = ("declared", "accepted", "refused", "expired", "paid", "arrived", "registered")
DECLARED, ACCEPTED, REFUSED, EXPIRED, PAID, ARRIVED, REGISTERED = DECLARATION_STATES


class DeclareInbound(msgspec.Struct, tag="declare_inbound", **_OPTS):
    """The owner pre-declares goods for ``warehouse``; a retry with ``reference`` returns the first
    (other goods under a used reference: ``DUPLICATE_REFERENCE``)."""

    actor: str
    warehouse: str
    commodity: str
    expected_kg: int
    reference: str
    crop_year: int = 0  # cotton: the season the goods were grown (0: from the issue date)
    answer_days: int = 3


class AnswerDeclaration(msgspec.Struct, tag="answer_declaration", **_OPTS):
    actor: str
    declaration_id: int
    accept: bool
    reason: str = ""


class PayInboundDeposit(msgspec.Struct, tag="pay_inbound_deposit", **_OPTS):
    actor: str
    declaration_id: int


class RecordArrival(msgspec.Struct, tag="record_arrival", **_OPTS):
    actor: str
    declaration_id: int
    arrived_kg: int


class RecordInspection(msgspec.Struct, tag="record_inspection", **_OPTS):
    """The inspection result; passing it issues the receipt (weight as for ``IssueReceipt``)."""

    actor: str
    declaration_id: int
    certificate_no: str
    inspector: str
    quality: Quality
    quantity_kg: int = 0


InboundCommand = DeclareInbound | AnswerDeclaration | PayInboundDeposit | RecordArrival | RecordInspection


class DeclarationDue(msgspec.Struct, tag="declaration_due", kw_only=True, gc=False, frozen=True):
    """A timer action: the warehouse's time to answer declaration ``declaration_id`` is up."""

    declaration_id: int


class Step(msgspec.Struct, kw_only=True):
    step: str
    actor: str
    ts_ns: int
    detail: str = ""


class Declaration(msgspec.Struct, kw_only=True):
    declaration_id: int
    owner: str
    warehouse: str
    commodity: str
    expected_kg: int
    reference: str
    crop_year: int
    answer_by_ns: int
    state: str = DECLARED
    deposit: int = 0  # fen paid
    arrived_kg: int = 0
    receipt_id: str = ""
    history: list[Step] = []


def _no(code: str, message: str) -> ClearingRejected:
    return ClearingRejected(code, message)


class Inbound:
    """Declarations by id and by (owner, reference)."""

    def __init__(self) -> None:
        self.declarations: dict[int, Declaration] = {}
        self.by_reference: dict[tuple[str, str], int] = {}
        self.next_id = 1
        self.notices: list[tuple[str, dict]] = []  # (member, message) for the private streams (output)

    def apply(self, cmd: InboundCommand, registry: Registry, ledger: Ledger, fees: Warehousing,
              now_ns: int) -> Declaration | ClearingRejected | ReceiptRejected:
        if isinstance(cmd, DeclareInbound):
            return self._declare(cmd, now_ns)
        d = self.declarations.get(cmd.declaration_id)
        if d is None:
            return _no("DECLARATION_NOT_FOUND", f"no declaration {cmd.declaration_id}")
        if isinstance(cmd, PayInboundDeposit):
            if cmd.actor != d.owner:
                return _no("NOT_OWNER", "only the declaring owner pays the inbound deposit")
        elif cmd.actor != d.warehouse:
            return _no("NOT_WAREHOUSE", "only the declared warehouse answers, records arrival and inspects")
        if isinstance(cmd, AnswerDeclaration):
            return self._answer(d, cmd, now_ns)
        if isinstance(cmd, PayInboundDeposit):
            return self._pay(d, cmd, ledger, fees, now_ns)
        if isinstance(cmd, RecordArrival):
            if d.state == ARRIVED and d.arrived_kg == cmd.arrived_kg:
                return d
            if (refusal := self._needs(d, PAID)) is not None:
                return refusal
            if not 0 < cmd.arrived_kg <= MAX_KG:
                return _no("INVALID_QUANTITY", "arrived_kg must be positive")
            d.arrived_kg = cmd.arrived_kg
            return self._step(d, ARRIVED, cmd.actor, now_ns, f"{cmd.arrived_kg} kg arrived")
        return self._inspect(d, cmd, registry, now_ns)

    def _declare(self, cmd: DeclareInbound, now_ns: int) -> Declaration | ClearingRejected:
        first = self.by_reference.get((cmd.actor, cmd.reference))
        if first is not None:  # a retry gets the first declaration; other goods under its reference are refused
            d = self.declarations[first]
            if (d.warehouse, d.commodity, d.expected_kg) != (cmd.warehouse, cmd.commodity, cmd.expected_kg):
                return _no("DUPLICATE_REFERENCE", f"reference {cmd.reference!r} declared {d.expected_kg} kg of "
                                                  f"{d.commodity} (declaration {d.declaration_id})")
            return d
        if not cmd.reference:
            return _no("REFERENCE_REQUIRED", "name a reference so a retry returns the first declaration")
        if cmd.commodity not in COMMODITIES:
            return _no("UNKNOWN_COMMODITY", f"no commodity {cmd.commodity!r}")
        if not 0 < cmd.expected_kg <= MAX_KG:
            return _no("INVALID_QUANTITY", "expected_kg must be positive")
        if not 1 <= cmd.answer_days <= 30 or not (cmd.crop_year == 0 or 1900 <= cmd.crop_year <= 2200):
            return _no("INVALID_REQUEST", "answer_days is 1 to 30; crop_year a year or 0")
        if not cmd.warehouse or cmd.warehouse == cmd.actor:
            return _no("INVALID_COUNTERPARTY", "name the warehouse")
        d = Declaration(declaration_id=self.next_id, owner=cmd.actor, warehouse=cmd.warehouse,
                        commodity=cmd.commodity, expected_kg=cmd.expected_kg, reference=cmd.reference,
                        crop_year=cmd.crop_year, answer_by_ns=now_ns + cmd.answer_days * DAY_NS, history=[])
        self.next_id += 1
        self.declarations[d.declaration_id] = d
        self.by_reference[(cmd.actor, cmd.reference)] = d.declaration_id
        return self._step(d, DECLARED, cmd.actor, now_ns, f"{cmd.expected_kg} kg of {cmd.commodity}")

    def _answer(self, d: Declaration, cmd: AnswerDeclaration, now_ns: int) -> Declaration | ClearingRejected:
        if d.state == (ACCEPTED if cmd.accept else REFUSED):
            return d
        if d.state == DECLARED and now_ns > d.answer_by_ns:
            return _no("DECLARATION_EXPIRED", "the time to answer has passed")
        if (refusal := self._needs(d, DECLARED)) is not None:
            return refusal
        return self._step(d, ACCEPTED if cmd.accept else REFUSED, cmd.actor, now_ns, cmd.reason[:200])

    def _pay(self, d: Declaration, cmd: PayInboundDeposit, ledger: Ledger, fees: Warehousing,
             now_ns: int) -> Declaration | ClearingRejected:
        if d.state in (PAID, ARRIVED, REGISTERED):
            return d
        if (refusal := self._needs(d, ACCEPTED)) is not None:
            return refusal
        tariff = fees.tariff(d.warehouse, d.commodity)
        amount = per_tonne(tariff.inbound_per_tonne, d.expected_kg) if tariff else 0
        if amount > MAX_AMOUNT:
            return _no("LIMIT_EXCEEDED", "the deposit is past the ledger's limit")
        try:
            ledger.post([(cash(d.owner), cash(d.warehouse), amount, "INBOUND_DEPOSIT",
                          Ref(declaration_id=d.declaration_id))], now_ns)
        except Overdraft:
            return _no("INSUFFICIENT_FUNDS", f"the inbound deposit is {amount} fen, "
                                             f"{ledger.balance(cash(d.owner))} fen available")
        d.deposit = amount
        fees.note(d.owner, d.warehouse, amount)
        return self._step(d, PAID, cmd.actor, now_ns, f"inbound deposit {amount} fen")

    def _inspect(self, d: Declaration, cmd: RecordInspection, registry: Registry,
                 now_ns: int) -> Declaration | ClearingRejected | ReceiptRejected:
        if d.state == REGISTERED and registry.receipts[d.receipt_id].certificate_no == cmd.certificate_no:
            return d
        if (refusal := self._needs(d, ARRIVED)) is not None:
            return refusal
        if commodity_of(cmd.quality) != d.commodity:
            return _no("COMMODITY_MISMATCH", f"declared {d.commodity}, inspected {commodity_of(cmd.quality)}")
        kg = issued_weight_kg(cmd.quality, cmd.quantity_kg)
        if kg and not weighs_as(kg, d.arrived_kg):  # (no weight at all is the registry's INVALID_QUANTITY)
            return _no("WEIGHT_OUT_OF_TOLERANCE", f"{kg} kg inspected of {d.arrived_kg} kg arrived: more "
                                                  f"than {WEIGHT_TOLERANCE_BPS // 100} % apart")
        issued = registry.issue(IssueReceipt(actor=cmd.actor, certificate_no=cmd.certificate_no,
                                             inspector=cmd.inspector, owner=d.owner, quality=cmd.quality,
                                             quantity_kg=cmd.quantity_kg), now_ns,
                                detail=f"declaration {d.declaration_id}", crop_year=d.crop_year)
        if isinstance(issued, ReceiptRejected):
            return issued
        d.receipt_id = issued[0].receipt_id
        return self._step(d, REGISTERED, cmd.actor, now_ns, f"receipt {d.receipt_id}, certificate "
                                                             f"{cmd.certificate_no} by {cmd.inspector}")

    def expire(self, due: DeclarationDue, now_ns: int) -> None:
        """The answer deadline passed (a timer): an unanswered declaration expires."""
        d = self.declarations.get(due.declaration_id)
        if d is not None and d.state == DECLARED:
            self._step(d, EXPIRED, "exchange", now_ns, "not answered in time")

    @staticmethod
    def _needs(d: Declaration, state: str) -> ClearingRejected | None:
        if d.state in (EXPIRED, REFUSED):
            return _no("DECLARATION_" + d.state.upper(), f"declaration {d.declaration_id} is {d.state}")
        if d.state != state:
            return _no("DECLARATION_NOT_" + state.upper(), f"declaration {d.declaration_id} is {d.state}")
        return None

    def _step(self, d: Declaration, state: str, actor: str, now_ns: int, detail: str) -> Declaration:
        d.state = state
        d.history.append(Step(step=state, actor=actor, ts_ns=now_ns, detail=detail))
        for member in (d.owner, d.warehouse):  # each step reaches both parties' private streams
            self.notices.append((member, {"type": "declaration", "declaration_id": d.declaration_id, "step": state,
                                          "actor": actor, "detail": detail, "receipt_id": d.receipt_id or None}))
        return d

    def check(self, registry: Registry) -> None:
        for d in self.declarations.values():
            assert d.history and d.history[-1].step == d.state, f"declaration {d.declaration_id}: history != state"
            assert (d.state == REGISTERED) == bool(d.receipt_id), f"declaration {d.declaration_id}: receipt link"
            if d.receipt_id:
                r = registry.receipts[d.receipt_id]
                assert (r.owner, r.warehouse) == (d.owner, d.warehouse) or r.version > 1, \
                    f"declaration {d.declaration_id}: receipt issued to another party"

    def state_hash(self) -> bytes:
        return msgspec.msgpack.encode([self.next_id, [self.declarations[k] for k in sorted(self.declarations)]])
