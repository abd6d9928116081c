"""The persistence contract: which tables one batch writes, and how, declared once.

Each projected table is a ``Table`` spec: its name, its columns with their PostgreSQL types
and, for an upserted table, the conflict key and the columns an update overwrites. From the
specs one statement is generated, once: a data-modifying CTE per table, each inserting (or
upserting) ``unnest($n::type[], ...)`` of that table's column arrays, or (``as_json``) the
elements of one JSON array of rows. A single statement is its own transaction, so a batch costs
one round trip and one WAL flush (the group commit).

The JSON form is the projector's: msgspec encodes a whole table's rows in one call, where
asyncpg checks and encodes every element of every column array (``loadtest/bench_projector.py``
measures both). The journal keeps the arrays: its entries are bytes.

A ``Batch`` collects one batch's rows per table, in spec column order. Adding a column is one
line in its spec (and a migration); rows built with ``Table.rows`` read it by attribute name.
"""

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import asyncpg
import msgspec

_json = msgspec.json.Encoder().encode
_NAMES: dict[tuple, list[str]] = {}  # a table's column names, by its columns (computed once)
_GETTERS: dict[tuple, attrgetter] = {}  # a table's row getter, by its columns
_JSONB: dict[tuple, frozenset[int]] = {}  # a table's jsonb column positions, by its columns


class Table(msgspec.Struct, frozen=True):
    """One projected table: ``columns`` as (name, PostgreSQL type); an upsert when ``key`` is
    set, overwriting ``update`` on a conflict (the other columns keep their first value)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ()
    update: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = set(self.names)
        if not names >= set(self.key) | set(self.update) or bool(self.key) != bool(self.update):
            raise ValueError(f"{self.name}: key and update must both be set, from the columns")

    @property
    def names(self) -> list[str]:
        return _NAMES.get(self.columns) or _NAMES.setdefault(self.columns, [name for name, _ in self.columns])

    def rows(self, objects: Iterable[Any]) -> list[tuple]:
        """Rows from objects whose attributes are named as the columns."""
        get = _GETTERS.get(self.columns) or _GETTERS.setdefault(self.columns, attrgetter(*self.names))
        return [get(o) for o in objects]

    def insert(self, first: int, as_json: bool = False) -> str:
        """This table's INSERT over its column arrays, parameters ``$first`` onwards; or, ``as_json``,
        over the rows of the JSON array ``$first`` (see ``json``)."""
        if as_json:
            values = ", ".join(f"NULLIF(r->{i}, 'null')" if kind == "jsonb" else f"(r->>{i})::{kind}"
                               for i, (_, kind) in enumerate(self.columns))
            sql = f"INSERT INTO {self.name} ({', '.join(self.names)}) SELECT {values} " \
                  f"FROM jsonb_array_elements(${first}::jsonb) r"
        else:
            arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(self.columns))
            sql = f"INSERT INTO {self.name} ({', '.join(self.names)}) SELECT * FROM unnest({arrays})"
        if self.key:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.update)
            sql += f" ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {sets}"
        return sql

    def arrays(self, rows: Sequence[tuple]) -> list[Sequence]:
        """``rows`` as one array per column; jsonb values encoded as JSON text."""
        if not rows:
            return [[] for _ in self.columns]
        arrays: list[Sequence] = list(zip(*rows, strict=True))
        if len(arrays) != len(self.columns):
            raise ValueError(f"{self.name}: rows of {len(arrays)} values, {len(self.columns)} columns")
        for i, (_, kind) in enumerate(self.columns):
            if kind == "jsonb":
                arrays[i] = [v if isinstance(v, str) else _json(v).decode() for v in arrays[i]]
        return arrays

    def json(self, rows: Sequence[tuple]) -> str:
        """``rows`` as one JSON array of arrays, for ``insert(as_json=True)``; a jsonb value that
        is already JSON text goes in as it is.

        >>> ACCOUNTS.json([("cash:m1", 0, 500)])
        '[["cash:m1",0,500]]'
        """
        jsonb = _JSONB.get(self.columns)
        if jsonb is None:
            jsonb = _JSONB[self.columns] = frozenset(i for i, (_, kind) in enumerate(self.columns) if kind == "jsonb")
        if jsonb and rows:
            rows = [tuple(msgspec.Raw(v.encode()) if i in jsonb and isinstance(v, str) else v
                          for i, v in enumerate(row)) for row in rows]
        return _json(rows).decode()


JOURNAL = Table("journal", (
    ("entry_no", "bigint"),
    ("batch_no", "bigint"),
    ("ts_ns", "bigint"),
    ("entry", "bytea"),
))
ORDERS = Table("orders", (
    ("order_id", "bigint"),
    ("member", "text"),
    ("client_order_id", "text"),
    ("symbol", "text"),
    ("side", "text"),
    ("order_type", "text"),
    ("time_in_force", "text"),
    ("price", "bigint"),
    ("quantity", "bigint"),
    ("cum_qty", "bigint"),
    ("leaves_qty", "bigint"),
    ("status", "text"),
    ("updated_entry", "bigint"),
    ("avg_price", "bigint"),
    ("seq", "bigint"),
), key=("order_id",), update=("price", "quantity", "cum_qty", "leaves_qty", "status", "updated_entry", "avg_price",
                              "seq"))
TRADES = Table("trades", (
    ("trade_id", "bigint"),
    ("symbol", "text"),
    ("price", "bigint"),
    ("quantity", "bigint"),
    ("buy_order_id", "bigint"),
    ("sell_order_id", "bigint"),
    ("buyer", "text"),
    ("seller", "text"),
    ("aggressor", "text"),
    ("entry_no", "bigint"),
    ("seq", "bigint"),
))
RECEIPTS = Table("receipts", (
    ("receipt_id", "text"),
    ("commodity", "text"),
    ("warehouse", "text"),
    ("owner", "text"),
    ("state", "text"),
    ("pledgee", "text"),
    ("order_id", "bigint"),
    ("quantity_kg", "bigint"),
    ("certificate_no", "text"),
    ("factors", "jsonb"),
    ("quality", "jsonb"),
    ("version", "integer"),
), key=("receipt_id",), update=("owner", "state", "pledgee", "order_id", "quantity_kg", "factors", "quality",
                               "version"))  # a dispute's re-inspection rewrites weight and quality
RECEIPT_EVENTS = Table("receipt_events", (
    ("seq", "bigint"),
    ("receipt_id", "text"),
    ("version", "integer"),
    ("action", "text"),
    ("actor", "text"),
    ("ts_ns", "bigint"),
    ("counterparty", "text"),
    ("order_id", "bigint"),
    ("detail", "text"),
    ("trade_id", "bigint"),
))
TRANSFERS = Table("transfers", (
    ("transfer_id", "bigint"),
    ("debit", "text"),
    ("credit", "text"),
    ("amount", "bigint"),
    ("code", "text"),
    ("ref", "text"),
    ("ts_ns", "bigint"),
    ("order_id", "bigint"),
    ("trade_id", "bigint"),
    ("loan_id", "bigint"),
    ("reference", "text"),
    ("pending_id", "bigint"),
    ("receipt_id", "text"),
    ("declaration_id", "bigint"),
    ("auction_id", "bigint"),
    ("listing_id", "bigint"),
))
ACCOUNTS = Table("accounts", (
    ("account_id", "text"),
    ("debits", "bigint"),
    ("credits", "bigint"),
), key=("account_id",), update=("debits", "credits"))
REPORTS = Table("settlement_reports", (
    ("day", "integer"),
    ("ts_ns", "bigint"),
    ("report", "jsonb"),
))
BATCHES = Table("batches", (  # one row per batch, from the Batch itself (see Batch.rows_of)
    ("batch_no", "bigint"),
    ("last_entry", "bigint"),
    ("engine_seq", "bigint"),
    ("state_hash", "text"),
))
TABLES = (JOURNAL, ORDERS, TRADES, RECEIPTS, RECEIPT_EVENTS, TRANSFERS, ACCOUNTS, REPORTS, BATCHES)


class Batch(msgspec.Struct, kw_only=True):
    """One batch's rows per table name (spec column order), and the batch's own row:
    its number, time, last journal entry, engine sequence and, on checkpoints, state hash."""

    batch_no: int
    ts_ns: int
    first_entry: int = 0  # the first journal entry it covers (projections; 0: not known)
    last_entry: int = 0
    engine_seq: int = 0
    state_hash: str | None = None
    rows: dict[str, list[tuple]] = {}

    def add(self, table: Table, rows: Iterable[tuple]) -> None:
        self.rows.setdefault(table.name, []).extend(rows)

    def rows_of(self, table: Table) -> Sequence[tuple]:
        """This batch's rows of ``table``; the batches table gets the batch's own row."""
        if table.name == BATCHES.name:
            return BATCHES.rows([self])
        return self.rows.get(table.name, ())


def commit_statement(tables: Sequence[Table], as_json: bool = False) -> str:
    """One statement writing every table: each but the last in a data-modifying CTE (they all
    run, to completion, whether read or not), the last as the main statement. Its parameters
    are each table's column arrays (``Table.arrays``) or, ``as_json``, its rows (``Table.json``)."""
    inserts, first = [], 1
    for table in tables:
        inserts.append(table.insert(first, as_json))
        first += 1 if as_json else len(table.columns)
    ctes = ",\n".join(f"w_{t.name} AS ({sql})" for t, sql in zip(tables[:-1], inserts[:-1], strict=True))
    return f"WITH {ctes}\n{inserts[-1]}" if ctes else inserts[-1]


class Store:
    """The exchange's record in PostgreSQL, written one batch per statement."""

    def __init__(self, conn: asyncpg.Connection, tables: Sequence[Table] = TABLES) -> None:
        self.conn = conn
        self.tables = tables
        self.statement = commit_statement(tables)
        self.names = {table.name for table in tables}

    async def commit(self, batch: Batch) -> None:
        """Write the whole batch: one round trip, one transaction."""
        if not batch.rows.keys() <= self.names:
            raise ValueError(f"rows for tables without a spec: {sorted(batch.rows.keys() - self.names)}")
        arrays = [a for table in self.tables for a in table.arrays(batch.rows_of(table))]
        await self.conn.execute(self.statement, *arrays)

    async def checkpoint(self, batch_no: int, state_hash: str) -> None:
        """Record the state hash after an already committed batch (on a clean shutdown)."""
        await self.conn.execute("UPDATE batches SET state_hash = $1 WHERE batch_no = $2", state_hash, batch_no)
