"""The pure exchange state machine: the catalogue, the trading calendar, the journaled clock,
pending-transfer holds and idempotent funding, each replayed to the same state hash."""

import msgspec

from clearing.core import Deposit, Fees, Withdraw
from engine import NewOrder, SetSession
from exchange.calendar import Calendar, SetHolidays, local_date
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.clock import ClockTick, ScheduleSession
from exchange.journal import Entry, decode_entry, encode_entry
from exchange.state import ExchangeState
from warehouse_receipts.registry import DeliverySpec

T0 = 1_795_395_600_000_000_000  # 2026-11-23 09:00 Beijing (a Monday)
SECOND = 1_000_000_000
FORWARD = InstrumentSpec(symbol="CF2701", kind="forward", commodity="cotton", lot_size=5_000, tick=500,
                         ref_price=1_500_000, band_bps=400, fees=Fees(per_lot=430))
SPOT = InstrumentSpec(symbol="UR", kind="spot", commodity="urea", lot_size=20_000, tick=100, ref_price=200_000,
                      delivery=DeliverySpec(symbol="UR", commodity="urea", table="GB/T2440-2017", lot_kg=20_000))


class Journal:
    """Entries applied as the sequencer would, kept (encoded) for a replay."""

    def __init__(self) -> None:
        self.state = ExchangeState()
        self.rows: list[tuple[int, bytes]] = []

    def run(self, command, at_ns: int, coid: str = ""):
        entry = Entry(command, coid)
        self.rows.append((at_ns, encode_entry(entry)))
        return self.state.apply(entry, len(self.rows), at_ns)

    def replay(self) -> ExchangeState:
        state = ExchangeState()
        for n, (at_ns, data) in enumerate(self.rows, 1):
            state.apply(decode_entry(data), n, at_ns)
        return state


def listed(*specs: InstrumentSpec) -> Journal:
    j = Journal()
    for spec in specs:
        assert j.run(SetInstrument(actor="ops", spec=spec), T0).rejection is None
    return j


def test_catalogue_lists_and_versions_specs() -> None:
    j = listed(FORWARD, SPOT)
    cat = j.state.catalogue
    assert cat.specs["CF2701"].version == 1 and cat.kind("UR") == "spot" and cat.kind("CF2701") == "forward"
    assert "UR" in j.state.registry.specs and "CF2701" not in j.state.registry.specs
    assert j.state.clearing.fees["CF2701"] == (430, 0) and "UR" not in j.state.clearing.fees
    assert j.state.engine.instruments["UR"].tick == 100  # the engine's compact copy
    cheaper = msgspec.structs.replace(FORWARD, fees=Fees(per_lot=300))
    assert j.run(SetInstrument(actor="ops", spec=cheaper, base_version=1), T0).outcome.version == 2
    assert j.state.clearing.fees["CF2701"] == (300, 0)


def test_catalogue_refusals_change_nothing() -> None:
    j = listed(FORWARD)
    before = j.state.state_hash()
    cases = [
        (SetInstrument(actor="ops", spec=FORWARD), "DUPLICATE_INSTRUMENT"),  # a new listing of a listed symbol
        (SetInstrument(actor="ops", spec=FORWARD, base_version=2), "CATALOGUE_CHANGED"),  # it is at version 1
        (SetInstrument(actor="ops", spec=msgspec.structs.replace(FORWARD, tick=100), base_version=1), "TERMS_FIXED"),
        (SetInstrument(actor="ops", spec=msgspec.structs.replace(FORWARD, fees=Fees(rate_ppm=10)), base_version=1),
         "INVALID_FEES"),
        (SetInstrument(actor="ops", spec=msgspec.structs.replace(SPOT, delivery=None)), "INVALID_INSTRUMENT"),
        (SetInstrument(actor="ops", spec=msgspec.structs.replace(SPOT, ref_price=10**15)), "INVALID_INSTRUMENT"),
        (SetInstrument(actor="ops", spec=msgspec.structs.replace(SPOT, symbol="UR; DROP")), "INVALID_INSTRUMENT"),
    ]
    for command, code in cases:
        assert j.run(command, T0).rejection.code == code
    assert j.state.state_hash() == before
    j.run(SetSession("CF2701", "continuous"), T0)
    j.run(Deposit(actor="desk", member="m", amount=100_000, reference="m1"), T0)
    assert j.run(NewOrder(member="m", symbol="CF2701", side="buy", quantity=1, price=1_500_000), T0, "o1").view.order_id
    fees = SetInstrument(actor="ops", spec=msgspec.structs.replace(FORWARD, fees=Fees(per_lot=1)), base_version=1)
    assert j.run(fees, T0).rejection.code == "OPEN_ORDERS"


def test_calendar_rolls_over_weekends_and_holidays() -> None:
    assert local_date(T0) == 20261123
    cal = Calendar(holidays=[20261125])
    cal.open(T0)
    assert cal.trading_date == 20261123
    assert [cal.roll(T0) for _ in range(4)] == [20261123, 20261124, 20261126, 20261127]
    assert cal.trading_date == 20261130  # Wednesday a holiday, then the weekend
    saturday = Calendar()
    saturday.open(T0 + 5 * 86_400 * SECOND)
    assert saturday.trading_date == 20261130
    late = Calendar()
    late.open(T0)
    late.roll(T0 + 16 * 3_600 * SECOND)  # Monday's end of day run at 01:00 on Tuesday
    assert late.trading_date == 20261124  # Tuesday is not skipped


def test_the_operator_publishes_holidays_the_calendar_skips() -> None:
    j = listed(FORWARD)
    assert j.run(SetHolidays(actor="ops", holidays=[20261124, 20261125]), T0).rejection is None
    before = j.state.state_hash()
    assert j.run(SetHolidays(actor="ops", holidays=[20261131]), T0).rejection.code == "INVALID_DATE"
    assert j.state.state_hash() == before
    from clearing.core import EndOfDay
    j.run(EndOfDay(actor="desk"), T0 + 6 * 3_600 * SECOND)
    assert j.state.calendar.trading_date == 20261126
    assert j.replay().state_hash() == j.state.state_hash()


def test_client_order_ids_are_unique_per_member_per_trading_day() -> None:
    j = listed(msgspec.structs.replace(FORWARD, fees=Fees()))
    j.run(SetSession("CF2701", "continuous"), T0)
    first = j.run(NewOrder(member="m", symbol="CF2701", side="buy", quantity=1, price=1_500_000), T0, "same")
    assert j.state.first_answer("m", "same") is first.view
    from clearing.core import EndOfDay
    j.run(EndOfDay(actor="desk"), T0 + 8 * 3_600 * SECOND)
    assert j.state.first_answer("m", "same") is None  # a new trading day: the id may be used again
    assert j.state.calendar.trading_date == 20261124


def test_a_scheduled_session_fires_from_the_journaled_clock_and_replays_identically() -> None:
    j = listed(FORWARD)
    j.run(ScheduleSession(actor="ops", symbol="CF2701", state="pre_open", at_ns=T0 + 5 * SECOND), T0)
    j.run(ScheduleSession(actor="ops", symbol="CF2701", state="continuous", at_ns=T0 + 10 * SECOND), T0)
    assert j.state.next_deadline() == T0 + 5 * SECOND
    assert j.run(ClockTick(), T0 + 3 * SECOND).events == []  # nothing due yet
    opened = j.run(ClockTick(), T0 + 12 * SECOND).events  # both due: fired in order
    assert [(e.previous, e.state) for e in opened] == [("closed", "pre_open"), ("pre_open", "continuous")]
    assert j.state.next_deadline() is None and j.state.engine.instruments["CF2701"].session == "continuous"
    again = j.replay()
    assert again.state_hash() == j.state.state_hash()
    assert again.engine.seq == j.state.engine.seq


def test_holds_are_pending_transfers_posted_in_part_and_voided() -> None:
    j = listed(FORWARD)
    j.run(SetSession("CF2701", "continuous"), T0)
    j.run(Deposit(actor="desk", member="b", amount=100_000, reference="b1"), T0)
    j.run(Deposit(actor="desk", member="s", amount=100_000, reference="s1"), T0)
    buy = j.run(NewOrder(member="b", symbol="CF2701", side="buy", quantity=3, price=1_500_000), T0, "b")
    ledger = j.state.clearing.ledger
    assert ledger.reserved(buy.view.order_id) == 3 * 430
    j.run(NewOrder(member="s", symbol="CF2701", side="sell", quantity=1, price=1_500_000), T0, "s")
    assert ledger.reserved(buy.view.order_id) == 2 * 430  # one lot's fee posted, two still reserved
    from engine import CancelOrder
    j.run(CancelOrder("b", buy.view.order_id), T0)
    assert ledger.reserved(buy.view.order_id) == 0 and ledger.balance("held:b") == 0
    assert [t.code for t in ledger.new_transfers if t.pending_id == buy.view.order_id] == ["HOLD", "FEE", "VOID"]
    ledger.check()


def test_funding_is_idempotent_by_member_and_reference() -> None:
    j = listed(FORWARD)
    first = j.run(Deposit(actor="desk", member="m", amount=5_000, reference="bank-1"), T0).outcome
    retry = j.run(Deposit(actor="desk", member="m", amount=5_000, reference="bank-1"), T0).outcome
    assert retry is first and j.state.clearing.available("m") == 5_000
    other = j.run(Withdraw(actor="desk", member="m", amount=5_000, reference="bank-1"), T0)
    assert other.rejection.code == "DUPLICATE_REFERENCE" and j.state.clearing.available("m") == 5_000
    assert j.replay().state_hash() == j.state.state_hash()
