"""The state machine's cost of one live order, without I/O: bench_gateway's order stream (the
demo's margined cotton forward, four funded traders, prices around the reference so about half
trade) applied to a fresh ``ExchangeState`` as the sequencer applies it (risk, matching,
clearing with commission and holds, positions and margin, market information, order views).

``python -m loadtest.bench_state [N]`` (default 60,000 orders) prints one JSON line: the whole
state machine's rate and cost an order, and its ceiling in the same run, the bare engine on the
same commands. The gateway's profile (loadtest/profile_gateway.py) shows what this leaves out.
"""

import json
import sys
import time

from clearing.core import Deposit
from engine import NewOrder, SetSession
from exchange.catalogue import SetInstrument
from exchange.journal import Entry
from exchange.state import ExchangeState
from gateway import demo
from loadtest.bench_gateway import TRADERS, order_bodies

NOW_NS = time.time_ns()  # one instant (the demo's forward months are today's): no timer fires


def listed() -> ExchangeState:
    """The demo's instruments, open, and the traders funded (far beyond what they will hold)."""
    state, entry_no = ExchangeState(), 0
    commands = [c for spec in demo.instruments(demo.TODAY)
                for c in (SetInstrument(actor="exchange-ops", spec=spec), SetSession(spec.symbol, "continuous"))]
    commands += [Deposit(actor="clearing-desk", member=m, amount=10**13, reference="bench") for m in TRADERS]
    for entry_no, command in enumerate(commands, 1):
        state.apply(Entry(command), entry_no, NOW_NS)
    return state


def orders(n: int) -> list[Entry]:
    """bench_gateway's first ``n`` order bodies as journal entries, members in turn."""
    body = order_bodies(1)
    entries = []
    for i in range(n):
        b = body(i)
        command = NewOrder(member=TRADERS[i % len(TRADERS)], symbol=b["symbol"], side=b["side"],
                           quantity=b["quantity"], price=int(b["price"]) * 100, tif=b["time_in_force"])
        entries.append(Entry(command, b["client_order_id"]))
    return entries


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
    entries = orders(n)
    state = listed()
    first = 1_000  # entry numbers after the set-up's
    started = time.perf_counter()
    results = [state.apply(entry, first + i, NOW_NS) for i, entry in enumerate(entries)]
    seconds = time.perf_counter() - started

    engine = listed().engine
    started = time.perf_counter()
    for entry in entries:
        engine.apply(entry.command)
    engine_seconds = time.perf_counter() - started

    print(json.dumps({
        "orders": n,
        "state_orders_per_s": round(n / seconds),
        "state_us_per_order": round(1e6 * seconds / n, 1),
        "engine_orders_per_s": round(n / engine_seconds),
        "ratio": round(engine_seconds / seconds, 3),
        "trades": state.engine.next_trade_id - 1,
        "rejected": sum(r.view is not None and r.view.status == "REJECTED" for r in results),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
