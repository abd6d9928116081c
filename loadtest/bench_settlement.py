"""End-of-day settlement speed (issue: ≤ 1 s for 10,000 open positions over 20 instruments).

``python -m loadtest.bench_settlement`` lists 20 margined forwards, opens 10,000 positions
(500 members × 20 instruments, each trade between two members at a random price), trades a
settlement price for each, then times one ``EndOfDay``: sessions close, settlement prices,
variation for every position through ``exchange:settlement``, the default fund's share,
margin re-marked at the next day's rate, margin calls, the report. Prints one JSON line with
the time, the goal, and the bare floor measured in the same run (the variation arithmetic
alone, in a plain loop over the same positions).
"""

import json
import random
import sys
import time

from clearing.core import Deposit, EndOfDay, Fees
from clearing.forward_terms import ForwardTerms
from engine import NewOrder, SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.journal import Entry
from exchange.state import ExchangeState

START_NS = 1_795_400_000_000_000_000  # 2026-11-24, Beijing morning
HOUR_NS = 3_600_000_000_000


def build(instruments: int, members: int) -> tuple[ExchangeState, int, int]:
    """A state with ``instruments`` × ``members`` open positions; (state, entry no, time)."""
    rng = random.Random(7)
    state, n, ts = ExchangeState(), 0, START_NS

    def run(command, coid: str = "") -> None:
        nonlocal n
        n += 1
        state.apply(Entry(command, coid), n, ts)

    symbols = [f"CF{2701 + i:04d}" for i in range(instruments)]
    for symbol in symbols:
        run(SetInstrument(actor="ops", spec=InstrumentSpec(
            symbol=symbol, kind="forward", commodity="cotton", lot_size=5_000, tick=500, ref_price=1_500_000,
            band_bps=400, max_limit_qty=1_000, fees=Fees(per_lot=430),
            forward=ForwardTerms(delivery_month=202912, last_trading_day=20291215, margined=True))))
        run(SetSession(symbol, "continuous"))
    names = [f"m{i:04d}" for i in range(members)]
    for name in names:
        run(Deposit(actor="desk", member=name, amount=10**11, reference="open"))
    for symbol in symbols:
        for i in range(0, members, 2):
            price = 1_500_000 + 500 * rng.randint(-20, 20)
            qty = rng.randint(1, 50)
            run(NewOrder(member=names[i], symbol=symbol, side="sell", quantity=qty, price=price), f"s{n}")
            run(NewOrder(member=names[i + 1], symbol=symbol, side="buy", quantity=qty, price=price), f"b{n}")
    ts += 2 * HOUR_NS  # the settlement prices: one trade each in the last hour
    for symbol in symbols:
        price = 1_500_000 + 500 * rng.randint(-40, 40)
        run(NewOrder(member=names[0], symbol=symbol, side="buy", quantity=1, price=price), f"x{n}")
        run(NewOrder(member=names[2], symbol=symbol, side="sell", quantity=1, price=price), f"y{n}")
    return state, n, ts


def floor_seconds(state: ExchangeState) -> float:
    """The variation arithmetic alone over the same positions: the floor of any settlement."""
    positions = list(state.forwards.positions.values())
    start = time.perf_counter()
    total = 0
    for p in positions:
        total += (p.net * 1_500_000 - p.start_net * 1_500_000 + p.flow) * 5_000 // 1_000
    return time.perf_counter() - start


def main() -> int:
    instruments = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    state, n, ts = build(instruments, members)
    open_positions = sum(1 for p in state.forwards.positions.values() if p.net)
    start = time.perf_counter()
    report = state.apply(Entry(EndOfDay(actor="desk")), n + 1, ts + 1).outcome
    seconds = time.perf_counter() - start
    state.check()
    print(json.dumps({
        "bench": "settlement", "instruments": instruments, "open_positions": open_positions,
        "end_of_day_s": round(seconds, 4), "goal_s": 1.0, "floor_variation_loop_s": round(floor_seconds(state), 4),
        "variation_rows": len(report.variation), "margin_calls": len(report.margin_calls),
        "variation_sums_to_zero": sum(v.amount for v in report.variation) == 0,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
