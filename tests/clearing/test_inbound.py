"""The registration workflow: declaration → answer (or expiry by the clock) → inbound deposit
→ arrival → inspection → a registered receipt linked to its declaration; refusals change nothing."""

from clearing.inbound import AnswerDeclaration, DeclareInbound, PayInboundDeposit, RecordArrival, RecordInspection
from clearing.ledger import cash
from clearing.warehousing import SetTariff
from exchange.clock import ClockTick
from tests.support.clearing_helpers import BASE_UREA, Harness

INBOUND = 500  # fen per tonne


def code(result) -> str:
    return result.rejection.code if result.rejection is not None else "ok"


def declared(h: Harness, ref: str = "d1", kg: int = 20_013, days: int = 3):
    return h.run(DeclareInbound(actor="farm", warehouse="wh", commodity="urea", expected_kg=kg, reference=ref,
                                answer_days=days)).outcome


def test_declaration_to_registered_receipt_with_the_inbound_deposit_to_the_fen() -> None:
    h = Harness()
    h.run(SetTariff(actor="wh", commodity="urea", storage_per_tonne_day=137, inbound_per_tonne=INBOUND))
    h.deposit("farm", 50_000)
    d = declared(h)
    assert declared(h) is d  # a retry returns the first
    before = h.state.state_hash()
    assert code(h.run(DeclareInbound(actor="farm", warehouse="wh", commodity="urea", expected_kg=99_000,
                                     reference="d1"))) == "DUPLICATE_REFERENCE"  # other goods under its reference
    assert h.state.state_hash() == before
    assert code(h.run(PayInboundDeposit(actor="farm", declaration_id=1))) == "DECLARATION_NOT_ACCEPTED"
    before = h.state.state_hash()
    assert code(h.run(AnswerDeclaration(actor="other-wh", declaration_id=1, accept=True))) == "NOT_WAREHOUSE"
    assert h.state.state_hash() == before
    assert h.run(AnswerDeclaration(actor="wh", declaration_id=1, accept=True)).outcome.state == "accepted"
    h.state.clearing.ledger.drain()
    assert h.run(PayInboundDeposit(actor="farm", declaration_id=1)).outcome.deposit == 10_007  # 20.013 t × 5 yuan
    [t] = h.state.clearing.ledger.drain()[0]
    assert (t.debit, t.credit, t.amount, t.code, t.cause.declaration_id) == (cash("farm"), cash("wh"), 10_007,
                                                                             "INBOUND_DEPOSIT", 1)
    assert h.run(PayInboundDeposit(actor="farm", declaration_id=1)).outcome is d  # paid once
    assert h.available("farm") == 50_000 - 10_007
    assert code(h.run(RecordInspection(actor="wh", declaration_id=1, certificate_no="C-1", inspector="CCIC",
                                       quality=BASE_UREA, quantity_kg=20_000))) == "DECLARATION_NOT_ARRIVED"
    assert h.run(RecordArrival(actor="wh", declaration_id=1, arrived_kg=20_020)).outcome.state == "arrived"
    before = h.state.state_hash()
    inspect = RecordInspection(actor="other-wh", declaration_id=1, certificate_no="C-1", inspector="CCIC",
                               quality=BASE_UREA, quantity_kg=20_000)
    assert code(h.run(inspect)) == "NOT_WAREHOUSE"  # inspection by another warehouse changes nothing
    assert code(h.run(RecordInspection(actor="wh", declaration_id=1, certificate_no="C-1", inspector="CCIC",
                                       quality=BASE_UREA, quantity_kg=456))) == "WEIGHT_OUT_OF_TOLERANCE"  # 20 t came
    assert h.state.state_hash() == before
    done = h.run(RecordInspection(actor="wh", declaration_id=1, certificate_no="C-1", inspector="CCIC",
                                  quality=BASE_UREA, quantity_kg=20_000)).outcome
    assert done.state == "registered" and done.receipt_id == "WR00000001"
    receipt = h.state.registry.receipts[done.receipt_id]
    assert (receipt.owner, receipt.warehouse) == ("farm", "wh")
    assert h.state.registry.history[done.receipt_id][0].detail == "declaration 1"
    assert [s.step for s in done.history] == ["declared", "accepted", "paid", "arrived", "registered"]
    notices = h.state.inbound.notices  # for the private streams of both parties
    assert [n["step"] for m, n in notices if m == "farm"] == [n["step"] for m, n in notices if m == "wh"] == \
        ["declared", "accepted", "paid", "arrived", "registered"]
    h.assert_reconciled()
    h.state.check()


def test_unanswered_declarations_expire_by_the_clock_and_refused_ones_take_no_money() -> None:
    h = Harness()
    h.run(SetTariff(actor="wh", commodity="urea", storage_per_tonne_day=0, inbound_per_tonne=INBOUND))
    h.deposit("farm", 50_000)
    d = declared(h, days=1)
    h.ts = d.answer_by_ns
    h.run(ClockTick())
    assert d.state == "expired"
    before = h.state.state_hash()
    assert code(h.run(AnswerDeclaration(actor="wh", declaration_id=1, accept=True))) == "DECLARATION_EXPIRED"
    assert code(h.run(PayInboundDeposit(actor="farm", declaration_id=1))) == "DECLARATION_EXPIRED"
    assert h.state.state_hash() == before
    declared(h, ref="d2")
    h.run(AnswerDeclaration(actor="wh", declaration_id=2, accept=False, reason="full"))
    assert code(h.run(PayInboundDeposit(actor="farm", declaration_id=2))) == "DECLARATION_REFUSED"
    assert h.available("farm") == 50_000
    h.assert_reconciled()
    h.state.check()
