"""The live bench's order stream on the demo forward, through the pure state machine."""
import sys, time, random
from engine import NewOrder, SetSession
from clearing.core import Deposit
from exchange.catalogue import SetInstrument
from exchange.journal import Entry
from exchange.state import ExchangeState
from gateway import demo
from loadtest.bench_gateway import TRADERS, order_bodies

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
state = ExchangeState()
now = time.time_ns()
no = 0
def apply(entry):
    global no
    no += 1
    return state.apply(entry, no, now)
for spec in demo.instruments(demo.TODAY):
    apply(Entry(SetInstrument(actor="exchange-ops", spec=spec)))
    apply(Entry(SetSession(spec.symbol, "continuous")))
for m in TRADERS:
    apply(Entry(Deposit(actor="clearing-desk", member=m, amount=10**13, reference="x")))
body = order_bodies(1)
entries = []
for n in range(N):
    b = body(n)
    entries.append(Entry(NewOrder(member=TRADERS[n % len(TRADERS)], symbol=b["symbol"], side=b["side"], quantity=b["quantity"],
                                  price=int(b["price"]) * 100, tif=b["time_in_force"]), b["client_order_id"]))
t = time.perf_counter()
rej = 0
for e in entries:
    r = apply(e)
    if r.view is not None and r.view.status == "REJECTED": rej += 1
dt = time.perf_counter() - t
print(f"{N/dt:.0f} orders/s, {dt/N*1e6:.1f} us/order, rejected {rej}, open {len(state.engine.orders)}, trades {state.engine.next_trade_id}")
