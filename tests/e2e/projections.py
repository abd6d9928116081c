"""What the journal projects, against what the SQL tables hold: a test's check that the
projector (gateway/projector.py) wrote exactly the projections of the journal, no more, no less."""

import json

import asyncpg
import msgspec

from exchange.state import ExchangeState
from gateway.projector import PROJECTED, UPSERTED, merge
from gateway.sequencer import projection, replay_journal
from gateway.store import Table


def _normal(table: Table, row) -> tuple:
    """A row with its jsonb values as parsed JSON (the database's text and ours compare)."""
    values = []
    for (_, kind), value in zip(table.columns, row, strict=True):
        if kind == "jsonb":
            value = json.loads(value) if isinstance(value, str) else msgspec.to_builtins(value)
        values.append(value)
    return tuple(values)


async def projections_disagree(conn: asyncpg.Connection) -> list[str]:
    """Replay the whole journal into a fresh state keeping every output, and compare each
    projected table's rows with the database's; return the differences (empty: they agree)."""
    state = ExchangeState()
    entries, _, reports = await replay_journal(conn, state, keep_from=0)
    expected = merge([projection(state, 0, entries, reports)])
    watermark = await conn.fetchval("SELECT entry_no FROM projection_watermark WHERE id = 1")
    differences = [] if watermark == entries else [f"watermark {watermark}, journal {entries}"]
    for table in PROJECTED:
        want = sorted((_normal(table, r) for r in expected.rows_of(table)), key=repr)
        rows = await conn.fetch(f"SELECT {', '.join(table.names)} FROM {table.name}")
        have = sorted((_normal(table, tuple(r)) for r in rows), key=repr)
        if want != have:
            missing = [r for r in want if r not in have][:3]
            extra = [r for r in have if r not in want][:3]
            kind = "upserted" if table in UPSERTED else "appended"
            differences.append(f"{table.name} ({kind}): {len(want)} projected, {len(have)} stored; "
                               f"missing {missing}, extra {extra}")
    return differences
