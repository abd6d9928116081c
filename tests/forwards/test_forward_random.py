"""A seeded random run of the forward lifecycle: 22 trading days, 24 members, two forwards;
orders (opening, closing, crossing), deposits and withdrawals, daily settlements with their
margin calls, deadlines that pass and liquidate. Every day: each instrument's variation sums
to zero, positions net to zero, the ledger reconciles (cash + margin + held + fees + default
fund = deposits − withdrawals), every invariant holds; at the end a replay of the journal
reaches the same state hash."""

import random
from collections import defaultdict

from clearing.core import Fees, Withdraw
from clearing.forward_terms import ForwardTerms
from clearing.ledger import BANK
from engine import SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.clock import ClockTick
from tests.forwards.test_forward_story import HOUR_NS, beijing
from tests.support.clearing_helpers import Harness

SYMBOLS = {"CF2703": (1_500_000, 5_000, 500), "UR2702": (200_000, 20_000, 100)}  # ref, lot kg, tick
MEMBERS = [f"m{i:02d}" for i in range(24)]
REFUSED: dict[str, int] = defaultdict(int)


def listed(h: Harness) -> None:
    for symbol, (ref, lot_kg, tick) in SYMBOLS.items():
        month = int("20" + symbol[2:])
        h.run(SetInstrument(actor="ops", spec=InstrumentSpec(
            symbol=symbol, kind="forward", commodity="cotton" if symbol.startswith("CF") else "urea",
            lot_size=lot_kg, tick=tick, ref_price=ref, band_bps=400, fees=Fees(per_lot=300),
            forward=ForwardTerms(delivery_month=month, last_trading_day=month * 100 + 15, margined=True,
                                 daily_open_limit=400))))


def trading_day(h: Harness, rng: random.Random, date: int, funding: dict) -> None:
    h.ts = beijing(date, 9)
    for symbol in SYMBOLS:
        h.run(SetSession(symbol, "continuous"))
    drift = {symbol: rng.randint(-30, 30) for symbol in SYMBOLS}  # tenths of a percent: the day's move
    for i in range(160):
        if i == 40:  # the margin calls' deadline (10:00): liquidations follow
            h.ts = max(h.ts, beijing(date, 10) + 1)
            h.run(ClockTick())
        member, symbol = rng.choice(MEMBERS), rng.choice(list(SYMBOLS))
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
    h.ts = beijing(date, 15)
    report = h.end_of_day().outcome
    sums = defaultdict(int)
    for v in report.variation:
        sums[v.symbol] += v.amount
    assert not any(sums.values()), sums
    h.state.check()
    h.assert_reconciled()


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
    assert REFUSED["INSUFFICIENT_MARGIN"] > 0  # the members are leveraged enough to be refused, called, liquidated
    assert len({m for (m, _), p in forwards.positions.items() if p.net}) >= 10
    assert forwards.calls and any(c.state in ("liquidating", "closed") for c in forwards.calls.values())
    assert h.state.clearing.ledger.balance(BANK) == h.state.clearing.deposited - h.state.clearing.withdrawn
    assert h.replayed().state_hash() == h.state.state_hash()
