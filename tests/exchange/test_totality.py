"""The state machine is total: any command, however extreme its numbers or unknown its ids,
is applied or refused with a code, never raised; a refused command changes nothing; every
component's invariants hold after each command; the journal entry encodes and the batch's
rows fit their PostgreSQL columns (64-bit integers).

The example count comes from the hypothesis profile: ``ci`` (the default, 2,000 examples)
or ``nightly`` (20,000), chosen with ``HYPOTHESIS_PROFILE``.
"""

import os

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.auctions import DemandLot, LotSpec, PayLot, PlaceBid, PublishAuction
from clearing.core import Deposit, EndOfDay, Fees, SetFees, Withdraw
from clearing.disputes import DecideDispute, OpenDispute, OrderReinspection, RecordReinspection, SetDisputeWindow
from clearing.escrow import SetBuyerCategory, SetSupplyFee
from clearing.financing import AddCollateral, DecideLoan, RepayLoan, RequestLoan, SetTerms
from clearing.inbound import AnswerDeclaration, DeclareInbound, PayInboundDeposit, RecordArrival, RecordInspection
from clearing.listings import (
    AnswerCounter,
    CounterOffer,
    PublishListing,
    RenewListing,
    TakeListing,
    WithdrawListing,
)
from clearing.warehousing import SetTariff
from engine import AddInstrument, AmendOrder, CancelOrder, MassCancel, NewOrder, Rejected, SetReferencePrice, SetSession
from engine.snapshot import decode_snapshot
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.clock import ClockTick, ScheduleSession
from exchange.journal import Entry, encode_entry
from exchange.state import ExchangeState
from gateway.sequencer import touched_receipts
from gateway.store import RECEIPT_EVENTS, RECEIPTS, TRANSFERS
from tests.support.clearing_helpers import BASE_UREA, Harness
from warehouse_receipts.expiry import SetExpiryRule
from warehouse_receipts.registry import (
    CancelReceipt,
    DeliverySpec,
    FreezeReceipt,
    IssueReceipt,
    LockReceipt,
    PledgeReceipt,
    ReleaseReceipt,
    SetDeliverySpec,
    TransferReceipt,
    UnfreezeReceipt,
    UnlockReceipt,
)
from warehouse_receipts.warehouse import RecordPickup, RequestRelease, code_digest

settings.register_profile("ci", max_examples=2_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("nightly", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
INT64 = 2**63 - 1

ints = st.one_of(
    st.integers(-3, 30),
    st.sampled_from([0, 1, 100, 200_000, 1_500_000, 20_000, 10**9, 10**12, 10**15, 2**31, 2**53, INT64, -INT64]),
    st.integers(-(2**80), 2**80),
)
members = st.sampled_from(["buyer", "seller", "bank", "farm", "wh", "ops", "ghost", ""])
symbols = st.sampled_from(["UR", "FW", "XX", ""])
receipt_ids = st.sampled_from(["WR00000001", "WR00000002", "WR00000003", "WR00000004", "WR99999999", ""])
texts = st.text(max_size=8)
sides = st.sampled_from(["buy", "sell", "hold"])


def _order(member, symbol, side, qty, price, kind, tif, display, min_qty):
    return NewOrder(member=member, symbol=symbol, side=side, quantity=qty, price=price, order_type=kind, tif=tif,
                    display_quantity=display, min_quantity=min_qty)


def _listing(s, t, lot, ref, band, per_lot, ppm, kind, dsym, tol) -> SetInstrument:
    delivery = DeliverySpec(symbol=dsym or s, commodity="urea", table="GB/T2440-2017", tolerance_bps=tol) \
        if kind == "spot" else None
    return SetInstrument(actor="ops", spec=InstrumentSpec(
        symbol=s, kind=kind, commodity="urea", lot_size=lot, tick=t, ref_price=ref, band_bps=band,
        fees=Fees(per_lot=per_lot, rate_ppm=ppm), delivery=delivery))


plausible_orders = st.builds(
    lambda m, sym, side, qty, price, tif, display: NewOrder(member=m, symbol=sym, side=side, quantity=qty, price=price,
                                                           tif=tif, display_quantity=display),
    st.sampled_from(["buyer", "seller", "farm"]), st.sampled_from(["UR", "FW"]), st.sampled_from(["buy", "sell"]),
    st.integers(1, 5), st.sampled_from([199_000, 200_000, 201_000, 1_495_000, 1_500_000, 1_505_000]),
    st.sampled_from(["GTC", "DAY", "IOC", "FOK"]), st.sampled_from([0, 0, 1]))
commands = st.one_of(
    plausible_orders, plausible_orders,
    st.builds(_order, members, symbols, sides, ints, ints, st.sampled_from(["limit", "market", "stop"]),
              st.sampled_from(["GTC", "DAY", "IOC", "FOK", "GTD"]), ints, ints),
    st.builds(lambda m, o, p, q: AmendOrder(member=m, order_id=o, price=p, quantity=q), members, ints, ints, ints),
    st.builds(CancelOrder, members, ints),
    st.builds(lambda m, s: MassCancel(member=m, symbol=s), members, symbols),
    st.builds(SetSession, symbols, st.sampled_from(["closed", "pre_open", "continuous", "halted", "lunch"])),
    st.builds(SetReferencePrice, symbols, ints),
    st.builds(lambda s, t, lot, ref, band, q1, q2, p: AddInstrument(
        symbol=s, tick=t, lot_size=lot, ref_price=ref, band_bps=band, max_limit_qty=q1, max_market_qty=q2,
        protection_ticks=p), st.sampled_from(["NEW", "UR", ""]), ints, ints, ints, ints, ints, ints, ints),
    st.builds(_listing, st.sampled_from(["NEW2", "UR", "FW"]), st.sampled_from([100, 500]),
              st.sampled_from([20_000, 5_000]), st.sampled_from([200_000, 1_500_000]), ints, ints, ints,
              st.sampled_from(["spot", "forward"]), st.sampled_from(["", "", "ZZ"]), ints),
    st.builds(lambda s, a, b: SetFees(actor="ops", symbol=s, per_lot=a, rate_ppm=b), symbols, ints, ints),
    st.builds(lambda s, lot, tol: SetDeliverySpec(actor="ops", symbol=s, commodity="urea", table="GB/T2440-2017",
                                                  lot_kg=lot, tolerance_bps=tol), symbols, ints, ints),
    st.builds(lambda m, a, r: Deposit(actor="desk", member=m, amount=a, reference=r), members, ints, texts),
    st.builds(lambda m, a, r: Withdraw(actor="desk", member=m, amount=a, reference=r), members, ints, texts),
    st.builds(lambda w: EndOfDay(actor="desk", window_ns=w), ints),
    st.builds(lambda a, c, kg: IssueReceipt(actor=a, certificate_no=c, inspector="i", owner="seller",
                                            quality=BASE_UREA, quantity_kg=kg), members, texts, ints),
    st.builds(lambda a, r, t: TransferReceipt(actor=a, receipt_id=r, to=t), members, receipt_ids, members),
    st.builds(lambda a, r: LockReceipt(actor=a, receipt_id=r), members, receipt_ids),
    st.builds(lambda a, r: UnlockReceipt(actor=a, receipt_id=r), members, receipt_ids),
    st.builds(lambda a, r, lender: PledgeReceipt(actor=a, receipt_id=r, lender=lender), members, receipt_ids,
              members),
    st.builds(lambda a, r: ReleaseReceipt(actor=a, receipt_id=r), members, receipt_ids),
    st.builds(lambda a, r: FreezeReceipt(actor=a, receipt_id=r), members, receipt_ids),
    st.builds(lambda a, r: UnfreezeReceipt(actor=a, receipt_id=r), members, receipt_ids),
    st.builds(lambda a, r, c: CancelReceipt(actor=a, receipt_id=r, pickup_code=c), members, receipt_ids, texts),
    st.builds(lambda a, ltv, rate, warn, liq, tenor, cure: SetTerms(
        actor=a, commodity="urea", ltv_bps=ltv, daily_rate_ppm=rate, warning_bps=warn, liquidation_bps=liq,
        max_tenor_days=tenor, cure_days=cure), members, ints, ints, ints, ints, ints, ints),
    st.builds(lambda a, lender, rs, p, t: RequestLoan(actor=a, lender=lender, receipt_ids=rs, principal=p,
                                                     tenor_days=t),
              members, members, st.lists(receipt_ids, max_size=3), ints, ints),
    st.builds(lambda a, i, ok: DecideLoan(actor=a, loan_id=i, approve=ok), members, ints, st.booleans()),
    st.builds(lambda a, i, amount: RepayLoan(actor=a, loan_id=i, amount=amount), members, ints, ints),
    st.builds(lambda a, i, rs: AddCollateral(actor=a, loan_id=i, receipt_ids=rs), members, ints,
              st.lists(receipt_ids, max_size=3)),
    st.builds(lambda s, at: ScheduleSession(actor="ops", symbol=s, state="continuous", at_ns=at), symbols, ints),
    st.just(ClockTick()),
    st.builds(lambda a, r, ref, c, d: RequestRelease(actor=a, receipt_id=r, reference=ref, code_hash=code_digest(c),
                                                     window_days=d), members, receipt_ids, texts, texts, ints),
    st.builds(lambda a, c, r, i: SetTariff(actor=a, commodity=c, storage_per_tonne_day=r, inbound_per_tonne=i),
              st.sampled_from(["wh", "buyer"]), st.sampled_from(["urea", "gold"]), ints, ints),
    st.builds(lambda a, w, kg, r, y, d: DeclareInbound(actor=a, warehouse=w, commodity="urea", expected_kg=kg,
                                                       reference=r, crop_year=y, answer_days=d),
              members, st.sampled_from(["wh", "farm"]), ints, texts, ints, ints),
    st.builds(lambda a, i, ok: AnswerDeclaration(actor=a, declaration_id=i, accept=ok), st.sampled_from(["wh", "farm"]),
              ints, st.booleans()),
    st.builds(lambda a, i: PayInboundDeposit(actor=a, declaration_id=i), members, ints),
    st.builds(lambda a, i, kg: RecordArrival(actor=a, declaration_id=i, arrived_kg=kg), st.sampled_from(["wh", "farm"]),
              ints, ints),
    st.builds(lambda a, i, c, kg: RecordInspection(actor=a, declaration_id=i, certificate_no=c, inspector="i",
                                                   quality=BASE_UREA, quantity_kg=kg),
              st.sampled_from(["wh", "farm"]), ints, texts, ints),
    st.builds(lambda c, by, m, d, y, days, disc, w: SetExpiryRule(
        actor="ops", commodity=c, by=by, month=m, day=d, years_after=y, days=days, old_crop_discount=disc,
        warn_days=w), st.sampled_from(["urea", "gold"]), st.sampled_from(["crop_year", "production"]), ints, ints,
        ints, ints, ints, ints),
    st.builds(lambda a, r, k, ref: OpenDispute(actor=a, receipt_id=r, kind=k, reference=ref), members, receipt_ids,
              st.sampled_from(["weight", "quality"]), texts),
    st.builds(lambda i: OrderReinspection(actor="desk", dispute_id=i), ints),
    st.builds(lambda a, i, kg: RecordReinspection(actor=a, dispute_id=i, quality=BASE_UREA, quantity_kg=kg),
              st.sampled_from(["wh", "buyer"]), ints, ints),
    st.builds(lambda i, ok: DecideDispute(actor="desk", dispute_id=i, uphold=ok), ints, st.booleans()),
    st.builds(lambda d: SetDisputeWindow(actor="desk", days=d), ints),
    st.builds(lambda a, i, c, kg: RecordPickup(actor=a, release_id=i, code_hash=code_digest(c), weight_kg=kg),
              st.sampled_from(["wh", "buyer"]), ints, texts, ints),
)
# bulk supply: auctions, listings, escrow rules
_times = st.one_of(ints, st.sampled_from([2 * 10**9, 5 * 10**9, 60 * 10**9]))
_lots = st.lists(st.builds(lambda rs, f: LotSpec(receipt_ids=rs, floor=f), st.lists(receipt_ids, max_size=3), ints),
                 max_size=3)
_demand = st.lists(st.builds(lambda q, c, t: DemandLot(quantity_kg=q, ceiling=c, tolerance_bps=t), ints, ints, ints),
                   max_size=2)
supply_commands = st.one_of(
    st.builds(lambda a, side, lots, demand, o, c, inc, base, ext, dep, bond, caps: PublishAuction(
        actor=a, side=side, commodity="urea", lots=lots, demand=demand, opens_ns=o, closes_ns=c, increment=inc,
        base_price=base, extend_ns=ext, deposit=dep, bond_per_t=bond, max_lots=caps, max_kg_per_day=caps,
        payment_days=caps % 3 if caps >= 0 else caps),
        members, st.sampled_from(["sell", "buy"]), _lots, _demand, _times, _times, ints, ints, _times, ints, ints,
        ints),
    st.builds(lambda a, i, n, p, rs: PlaceBid(actor=a, auction_id=i, lot_no=n, price=p, receipt_ids=rs),
              members, ints, ints, ints, st.lists(receipt_ids, max_size=2)),
    st.builds(lambda a, i, n: PayLot(actor=a, auction_id=i, lot_no=n), members, ints, ints),
    st.builds(lambda a, side, rs, q, t, p, fw, b: PublishListing(actor=a, side=side, commodity="urea", receipt_ids=rs,
                                                                quantity_kg=q, tolerance_bps=t, price=p, forward=fw,
                                                                basis=b),
              members, st.sampled_from(["sell", "buy"]), st.lists(receipt_ids, max_size=2), ints, ints, ints,
              st.sampled_from(["", "FW", "XX"]), ints),
    st.builds(lambda a, i, rs: TakeListing(actor=a, listing_id=i, receipt_ids=rs), members, ints,
              st.lists(receipt_ids, max_size=2)),
    st.builds(lambda a, i, p, r: CounterOffer(actor=a, listing_id=i, price=p, respond_ns=r), members, ints, ints, ints),
    st.builds(lambda a, i, n, ok: AnswerCounter(actor=a, listing_id=i, counter_no=n, accept=ok), members, ints, ints,
              st.booleans()),
    st.builds(lambda a, i: RenewListing(actor=a, listing_id=i), members, ints),
    st.builds(lambda a, i: WithdrawListing(actor=a, listing_id=i), members, ints),
    st.builds(lambda f: SetSupplyFee(actor="ops", fee_per_t=f), ints),
    st.builds(lambda m, c: SetBuyerCategory(actor="ops", member=m, category=c), members, texts),
)
commands = st.one_of(commands, supply_commands)
entries = st.builds(lambda c, coid, rs: Entry(c, coid, rs), commands, st.sampled_from(["", "c1", "c2"]),
                    st.lists(receipt_ids, max_size=2))


def started() -> Harness:
    """Instruments, funded members, receipts and a loan: something for every command to touch."""
    h = Harness()
    for member in ("buyer", "seller", "bank", "farm"):
        h.deposit(member, 1_000_000_000)
    for owner in ("seller", "seller", "farm", "farm"):
        h.issue(owner)
    h.run(SetTerms(actor="bank", commodity="urea", ltv_bps=6_500, daily_rate_ppm=200, warning_bps=7_000,
                   liquidation_bps=8_000, max_tenor_days=30))
    loan = h.run(RequestLoan(actor="farm", lender="bank", receipt_ids=["WR00000003"], principal=1_000_000,
                             tenor_days=10)).outcome
    h.run(DecideLoan(actor="bank", loan_id=loan.loan_id, approve=True))
    h.order("buyer", "buy", 1, 199_000)
    h.order("seller", "sell", 1, 201_000)
    h.state.clearing.ledger.drain()
    return h


def quiet_hash(state: ExchangeState) -> tuple:
    """The state hash with the engine's event counter zeroed: engine rejections are events and
    take a sequence number, but change nothing else."""
    snap = decode_snapshot(state.engine.snapshot())
    snap.seq = 0
    return msgspec.msgpack.encode(snap), state.state_hash()[len("h2:") + 32:]


def fits_int64(rows) -> bool:
    return all(-INT64 - 1 <= v <= INT64 for row in rows for v in row if type(v) is int)


@settings(settings.get_profile(PROFILE))
@given(st.lists(entries, min_size=1, max_size=12))
def test_no_command_raises_refusals_change_nothing_and_invariants_hold(batch: list[Entry]) -> None:
    h = started()
    state = h.state
    for entry in batch:
        try:
            encode_entry(entry)
        except (OverflowError, msgspec.EncodeError):
            continue  # the sequencer refuses what the journal cannot hold, before applying it
        before = quiet_hash(state)
        h.entry_no += 1
        h.ts += 1_000_000
        result = state.apply(entry, h.entry_no, h.ts)
        refused = result.rejection is not None or (
            type(entry.command) is not ClockTick and result.events and all(type(e) is Rejected for e in result.events))
        if refused:
            assert quiet_hash(state) == before, f"{entry.command} was refused but changed the state"
        state.check()
        orders, trades = state.views.drain_rows()
        transfers, accounts = state.clearing.ledger.drain()
        events = state.registry.drain_events()
        for rows in (orders, trades, TRANSFERS.rows(transfers), [(a.debits, a.credits) for a in accounts],
                     RECEIPT_EVENTS.rows(events), RECEIPTS.rows(touched_receipts(state.registry, events))):
            assert fits_int64(rows), f"{entry.command} leaves a row PostgreSQL cannot hold"
