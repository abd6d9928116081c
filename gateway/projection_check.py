"""Do the SQL projections equal what the journal projects? (``commex check-projections``)

In one repeatable-read snapshot of the database: the projection watermark, every projected
table, and the journal up to the watermark, replayed into a fresh state keeping every output.
The rows the replay projects (the latest per key for the upserted tables) must be exactly the
rows stored — no more, no less. Safe on a live exchange: the projector only ever moves the
watermark and its tables together, so the snapshot is consistent.
"""

import json

import asyncpg
import msgspec

from clearing.core import SettlementReport
from exchange.journal import decode_entry
from exchange.state import ExchangeState
from gateway.projector import PROJECTED, UPSERTED, merge
from gateway.sequencer import projection
from gateway.store import Table


def _normal(table: Table, row) -> tuple:
    """A row with its jsonb values as parsed JSON (the database's text and ours compare)."""
    values = []
    for (_, kind), value in zip(table.columns, row, strict=True):
        if kind == "jsonb":
            value = json.loads(value) if isinstance(value, str) else msgspec.to_builtins(value)
        values.append(value)
    return tuple(values)


def _differences(table: Table, want: list[tuple], have: list[tuple]) -> str | None:
    want, have = sorted(want, key=repr), sorted(have, key=repr)
    if want == have:
        return None
    missing = [r for r in want if r not in have][:3]
    extra = [r for r in have if r not in want][:3]
    kind = "upserted" if table in UPSERTED else "appended"
    return f"{table.name} ({kind}): {len(want)} projected, {len(have)} stored; missing {missing}, extra {extra}"


async def projections_disagree(conn: asyncpg.Connection) -> list[str]:
    """The differences between the stored projections and the journal's, up to the watermark
    (empty: they agree)."""
    state, reports = ExchangeState(), []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        watermark = await conn.fetchval("SELECT entry_no FROM projection_watermark WHERE id = 1")
        stored = {t.name: await conn.fetch(f"SELECT {', '.join(t.names)} FROM {t.name}") for t in PROJECTED}
        async for row in conn.cursor("SELECT entry_no, ts_ns, entry FROM journal WHERE entry_no <= $1 "
                                     "ORDER BY entry_no", watermark, prefetch=5_000):
            outcome = state.apply(decode_entry(row["entry"]), row["entry_no"], row["ts_ns"]).outcome
            if isinstance(outcome, SettlementReport):
                reports.append(outcome)
    expected = merge([projection(state, 1, watermark, reports)])
    found = []
    for table in PROJECTED:
        want = [_normal(table, r) for r in expected.rows_of(table)]
        have = [_normal(table, tuple(r)) for r in stored[table.name]]
        difference = _differences(table, want, have)
        if difference:
            found.append(difference)
    return found
