"""What one projector write costs the exchange's process: the rows as typed column arrays
(asyncpg checks and encodes every element) against the rows as one JSON parameter per table
(msgspec encodes a table in one call; PostgreSQL takes the rows apart).

``python -m loadtest.bench_projector [ORDERS] [PER_WRITE]`` runs ORDERS new orders (default
30,000) through the pure exchange state, cuts their projections into writes of PER_WRITE orders
(default 150, about one 50 ms write at 3,000 orders/s), and writes them all into an embedded
PostgreSQL both ways, twice each, alternating. Prints one JSON line: the client CPU and the wall
time per write each way, and whether both ways left the same tables (checksums of orders and
transfers).
"""

import asyncio
import json
import random
import sys
import time

import asyncpg

from clearing.core import Deposit, Fees
from engine import NewOrder, SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.journal import Entry
from exchange.state import ExchangeState
from gateway.pg import migrate, scratch_database
from gateway.projector import PROJECTED, WATERMARK, merge
from gateway.sequencer import projection
from gateway.store import Batch, commit_statement

T0 = 1_795_395_600_000_000_000  # 2026-11-23 09:00 Beijing
FORWARD = InstrumentSpec(symbol="CF2701", kind="forward", commodity="cotton", lot_size=5_000, tick=500,
                         ref_price=1_500_000, band_bps=400, fees=Fees(per_lot=430))
MEMBERS = ("m0", "m1", "m2", "m3")
TABLES = (*PROJECTED, WATERMARK)
STATEMENTS = {as_json: commit_statement(TABLES, as_json) for as_json in (False, True)}


def writes(orders: int, per_write: int) -> list[Batch]:
    """The projections of ``orders`` resting and trading orders, ``per_write`` orders a batch."""
    state, entry_no, out, first = ExchangeState(), 0, [], 1
    rng = random.Random(1)

    def run(command, coid: str = "") -> None:
        nonlocal entry_no
        entry_no += 1
        state.apply(Entry(command, coid), entry_no, T0 + entry_no)

    run(SetInstrument(actor="ops", spec=FORWARD))
    run(SetSession(FORWARD.symbol, "continuous"))
    for m in MEMBERS:
        run(Deposit(actor="desk", member=m, amount=10**14, reference=m))
    for n in range(orders):
        run(NewOrder(member=MEMBERS[n % 4], symbol=FORWARD.symbol, side=rng.choice(("buy", "sell")),
                     quantity=rng.randint(1, 5), price=1_500_000 + 500 * rng.randint(-3, 3)), f"c{n}")
        if n % per_write == per_write - 1:
            out.append(merge([projection(state, first, entry_no, [])]))
            first = entry_no + 1
    return out


async def write_all(conn: asyncpg.Connection, batches: list[Batch], as_json: bool) -> tuple[float, float]:
    """Write ``batches`` (one statement each, as the projector does); client CPU and wall seconds."""
    await conn.execute(f"TRUNCATE {', '.join(t.name for t in PROJECTED)}")
    cpu, wall = time.process_time(), time.perf_counter()
    for b in batches:
        rows = [*(b.rows_of(t) for t in PROJECTED), [(1, b.last_entry)]]
        if as_json:
            params = [t.json(r) for t, r in zip(TABLES, rows, strict=True)]
        else:
            params = [a for t, r in zip(TABLES, rows, strict=True) for a in t.arrays(r)]
        await conn.execute(STATEMENTS[as_json], *params)
    return time.process_time() - cpu, time.perf_counter() - wall


async def checksum(conn: asyncpg.Connection) -> str:
    return await conn.fetchval("SELECT md5((SELECT string_agg(o::text, ',' ORDER BY order_id) FROM orders o) || "
                               "(SELECT string_agg(t::text, ',' ORDER BY transfer_id) FROM transfers t))")


async def measure(url: str, orders: int, per_write: int) -> dict:
    batches = writes(orders, per_write)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        seconds: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        sums = set()
        for as_json in (False, True, False, True):
            seconds[as_json].append(await write_all(conn, batches, as_json))
            sums.add(await checksum(conn))
    finally:
        await conn.close()

    def per_write_ms(as_json: bool, i: int) -> float:
        return round(min(s[i] for s in seconds[as_json]) / len(batches) * 1e3, 3)

    return {"writes": len(batches), "orders_per_write": per_write,
            "arrays_cpu_ms": per_write_ms(False, 0), "json_cpu_ms": per_write_ms(True, 0),
            "cpu_ratio": round(per_write_ms(True, 0) / per_write_ms(False, 0), 3),
            "arrays_wall_ms": per_write_ms(False, 1), "json_wall_ms": per_write_ms(True, 1),
            "same_tables": len(sums) == 1}


def main() -> int:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    per_write = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    with scratch_database("commex-projector-") as (_, url):
        print(json.dumps(asyncio.run(measure(url, orders, per_write))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
