"""A seeded random run of the forward lifecycle: 22 trading days, 24 members, three forwards;
orders (opening, closing, crossing), deposits and withdrawals, daily settlements with their
margin calls, deadlines that pass and liquidate, and the December cotton contract's expiry:
shorts tender receipts (some not enough), allocation, delivery versus payment, defaults.
Every day: each instrument's variation sums
to zero, positions net to zero, the ledger reconciles (cash + margin + held + fees + default
fund = deposits − withdrawals), every invariant holds; at the end a replay of the journal
reaches the same state hash."""

import random
from collections import defaultdict

from clearing.core import Fees, Withdraw
from clearing.delivery import TenderReceipts
from clearing.forward_terms import ForwardTerms
from clearing.ledger import BANK
from engine import SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.clock import ClockTick
from tests.forwards.test_delivery import cotton, issue
from tests.forwards.test_forward_story import HOUR_NS, beijing
from tests.support.clearing_helpers import Harness

SYMBOLS = {"CF2703": (1_500_000, 5_000, 500), "UR2702": (200_000, 20_000, 100),  # ref, lot kg, tick
           "CF2612": (1_500_000, 5_000, 500)}
EXPIRING, LAST_DAY = "CF2612", 20261215
MEMBERS = [f"m{i:02d}" for i in range(24)]
REFUSED: dict[str, int] = defaultdict(int)
TENDER_SHORT: set[str] = set()


def listed(h: Harness) -> None:
    for symbol, (ref, lot_kg, tick) in SYMBOLS.items():
        month = int("20" + symbol[2:])
        h.run(SetInstrument(actor="ops", spec=InstrumentSpec(
            symbol=symbol, kind="forward", commodity="cotton" if symbol.startswith("CF") else "urea",
            lot_size=lot_kg, tick=tick, ref_price=ref, band_bps=400, fees=Fees(per_lot=300),
            forward=ForwardTerms(delivery_month=month, last_trading_day=month * 100 + 15, margined=True,
                                 daily_open_limit=400, delivery_warehouses=["wh-a"], delivery_fee_per_tonne=400))))


def trading_day(h: Harness, rng: random.Random, date: int, funding: dict) -> None:
    h.ts = beijing(date, 9)
    for symbol in SYMBOLS:
        h.run(SetSession(symbol, "continuous"))
    drift = {symbol: rng.randint(-30, 30) for symbol in SYMBOLS}  # tenths of a percent: the day's move
    for i in range(160):
        if i == 40:  # the margin calls' deadline (10:00): liquidations follow
            h.ts = max(h.ts, beijing(date, 10) + 1)
            h.run(ClockTick())
        member, symbol = rng.choice(MEMBERS), rng.choice([s for s in SYMBOLS if date <= LAST_DAY or s != EXPIRING])
        _, _, tick = SYMBOLS[symbol]
        inst = h.state.engine.instruments[symbol]
        mid = inst.ref_price + inst.ref_price * drift[symbol] // 1_000 // tick * tick
        roll = rng.random()
        if roll < 0.08:
            reference = f"{member}-{date}-{i}"
            if rng.random() < 0.7:
                h.deposit(member, rng.randint(1, 10) * 1_000_000)
                funding[member] += 1
            else:
                h.run(Withdraw(actor="desk", member=member, amount=rng.randint(1, 20) * 1_000_000,
                               reference=reference))
            continue
        side = rng.choice(("buy", "sell"))
        price = mid + tick * rng.randint(-12, 12)
        result = h.order(member, side, rng.randint(1, 30), price, symbol=symbol)
        if result.rejection is not None:
            REFUSED[result.rejection.code] += 1
        h.ts += HOUR_NS // 100
    if date == LAST_DAY:
        tender(h, rng)
    h.ts = beijing(date, 15)
    report = h.end_of_day().outcome
    sums = defaultdict(int)
    for v in report.variation:
        sums[v.symbol] += v.amount
    assert not any(sums.values()), sums
    h.state.check()
    h.assert_reconciled()


def tender(h: Harness, rng: random.Random) -> None:
    """On the last trading day most shorts tender 2-lot cotton receipts, some not enough."""
    for (member, symbol), p in sorted(h.state.forwards.positions.items()):
        if symbol != EXPIRING or p.net >= 0 or rng.random() < 0.25:
            continue
        for _ in range(-p.net // 2 - rng.choice((0, 0, 0, 1))):
            receipt_id = issue(h, "wh-a", member, cotton(44))
            result = h.run(TenderReceipts(actor=member, member=member, symbol=EXPIRING, receipt_ids=[receipt_id]))
            assert result.rejection is None, result.rejection
        if p.net % 2:
            TENDER_SHORT.add(member)


def test_random_forward_days() -> None:
    rng = random.Random(20261123)
    h = Harness(start_ns=beijing(20261124, 8))
    h.record()
    listed(h)
    funding = defaultdict(int)
    for member in MEMBERS:
        h.deposit(member, rng.randint(2, 60) * 1_000_000)
    date, days = 20261124, 0
    while days < 22:
        trading_day(h, rng, date, funding)
        date = h.state.calendar.trading_date
        days += 1
    forwards = h.state.forwards
    assert not any(p.net for (_, symbol), p in forwards.positions.items() if symbol == EXPIRING)
    delivered = [line for line in h.state.delivery.allocations[EXPIRING].lines if line.state == "delivered"]
    assert delivered and all(h.state.registry.receipts[line.receipt_id].owner == line.long for line in delivered)
    assert any(e.kind == "delivery_default" for e in h.state.credit.entries)
    assert REFUSED["INSUFFICIENT_MARGIN"] > 0  # the members are leveraged enough to be refused, called, liquidated
    assert len({m for (m, _), p in forwards.positions.items() if p.net}) >= 10
    assert forwards.calls and any(c.state in ("liquidating", "closed") for c in forwards.calls.values())
    assert h.state.clearing.ledger.balance(BANK) == h.state.clearing.deposited - h.state.clearing.withdrawn
    assert h.replayed().state_hash() == h.state.state_hash()
