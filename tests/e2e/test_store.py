"""The persistence contract against a real database: the table specs match the migrated
schema, and one Batch written in one statement reads back as written, upserts included."""

import asyncio
import json

import asyncpg
import pytest

from clearing.ledger import Account, Ref, Transfer
from gateway.pg import migrate
from gateway.store import (
    ACCOUNTS,
    JOURNAL,
    ORDERS,
    RECEIPT_EVENTS,
    RECEIPTS,
    REPORTS,
    TABLES,
    TRADES,
    TRANSFERS,
    Batch,
    Store,
    Table,
    commit_statement,
)

ORDER = (7, "mill-a", "c-1", "CF", "buy", "limit", "GTC", 15_000, 5, 0, 5, "NEW", 1, None, 4)
RECEIPT = ("R1", "cotton", "WH1", "gin-co", "registered", "", 0, 25_000, "CERT-1", {"grade": "3128B"},
           {"micronaire": 4.2}, 1)


def first_batch() -> Batch:
    batch = Batch(batch_no=1, ts_ns=1_000, last_entry=2, engine_seq=9, state_hash="abc")
    batch.add(JOURNAL, [(1, 1, 1_000, b"\x01"), (2, 1, 1_000, b"\x02")])
    batch.add(ORDERS, [ORDER])
    batch.add(TRADES, [(3, "CF", 15_000, 2, 7, 8, "mill-a", "gin-co", "buy", 2, 5)])
    batch.add(RECEIPTS, [RECEIPT])
    batch.add(RECEIPT_EVENTS, [(1, "R1", 1, "issue", "wh", 1_000, "gin-co", 0, "", 0)])
    batch.add(TRANSFERS, TRANSFERS.rows([Transfer(transfer_id=1, debit="exchange:bank", credit="cash:mill-a",
                                                  amount=500, code="DEPOSIT", cause=Ref(reference="dep-1"),
                                                  ts_ns=1_000)]))
    batch.add(ACCOUNTS, ACCOUNTS.rows([Account(account_id="cash:mill-a", credits=500),
                                       Account(account_id="exchange:bank", debits=500)]))
    batch.add(REPORTS, [(1, 1_000, {"day": 1, "turnover": 0})])
    return batch


def second_batch() -> Batch:
    """Upserts: the order fills (its member, fixed at entry, is not overwritten), an account
    moves, the receipt changes hands and is re-inspected (a dispute: new weight and quality;
    its warehouse and certificate, fixed at issue, are not overwritten)."""
    batch = Batch(batch_no=2, ts_ns=2_000, last_entry=3, engine_seq=12)
    batch.add(JOURNAL, [(3, 2, 2_000, b"\x03")])
    batch.add(ORDERS, [(7, "someone-else", "c-1", "CF", "buy", "limit", "GTC", 15_000, 5, 2, 3, "PARTIALLY_FILLED",
                        3, 15_000, 6)])
    batch.add(ACCOUNTS, [("cash:mill-a", 200, 500)])
    batch.add(RECEIPTS, [(*RECEIPT[:2], "WH9", "mill-a", "delivered", *RECEIPT[5:7], 24_950, "CERT-9",
                          {"grade": "2129B"}, {"micronaire": 4.0}, 2)])
    batch.add(RECEIPT_EVENTS, [(2, "R1", 2, "transfer", "wh", 2_000, "mill-a", 0, "", 0)])
    return batch


async def rows(conn: asyncpg.Connection, table: Table) -> list[tuple]:
    order = table.key[0] if table.key else table.names[0]
    return [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {order}")]


async def spec_matches_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        for table in TABLES:
            found = await conn.fetch(
                "SELECT attname, format_type(atttypid, atttypmod) AS kind, attnotnull AND NOT atthasdef AS required"
                " FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", table.name)
            kinds = {r["attname"]: r["kind"] for r in found}
            assert {name: kinds.get(name) for name, _ in table.columns} == dict(table.columns), table.name
            assert {r["attname"] for r in found if r["required"]} <= set(table.names), table.name
    finally:
        await conn.close()


async def write_and_read(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        store = Store(conn)
        await store.commit(first_batch())
        assert await rows(conn, ORDERS) == [ORDER]
        assert await rows(conn, JOURNAL) == [(1, 1, 1_000, b"\x01"), (2, 1, 1_000, b"\x02")]
        assert len(await rows(conn, TRADES)) == 1
        assert [json.loads(r[2]) for r in await rows(conn, REPORTS)] == [{"day": 1, "turnover": 0}]
        assert await rows(conn, TRANSFERS) == [(1, "exchange:bank", "cash:mill-a", 500, "DEPOSIT", "deposit:dep-1",
                                                1_000, 0, 0, 0, "dep-1", 0, "", 0, 0, 0)]

        await store.commit(second_batch())
        assert await rows(conn, ORDERS) == [(*ORDER[:9], 2, 3, "PARTIALLY_FILLED", 3, 15_000, 6)]
        assert await rows(conn, ACCOUNTS) == [("cash:mill-a", 200, 500), ("exchange:bank", 500, 0)]
        (receipt,) = await rows(conn, RECEIPTS)
        assert receipt[:9] == (*RECEIPT[:3], "mill-a", "delivered", *RECEIPT[5:7], 24_950, RECEIPT[8])
        assert (json.loads(receipt[9]), json.loads(receipt[10]), receipt[11]) == ({"grade": "2129B"},
                                                                                  {"micronaire": 4.0}, 2)
        assert [r[0] for r in await rows(conn, RECEIPT_EVENTS)] == [1, 2]
        batches = await conn.fetch("SELECT batch_no, last_entry, engine_seq, state_hash FROM batches ORDER BY 1")
        assert [tuple(b) for b in batches] == [(1, 2, 9, "abc"), (2, 3, 12, None)]

        await store.checkpoint(2, "def")
        assert await conn.fetchval("SELECT state_hash FROM batches WHERE batch_no = 2") == "def"
    finally:
        await conn.close()


async def all_or_nothing(url: str) -> None:
    """A batch that fails in any table writes nothing to any table."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        store = Store(conn)
        await store.commit(first_batch())
        broken = Batch(batch_no=2, ts_ns=2_000, last_entry=3, engine_seq=10)
        broken.add(JOURNAL, [(3, 2, 2_000, b"\x03")])
        broken.add(TRADES, [(4, "CF", 15_000, 1, 7, 8, "mill-a", "gin-co", "buy", 3, 7)])
        broken.add(TRANSFERS, [(1, "a", "b", 1, "X", "", 2_000, 0, 0, 0, "", 0, "", 0, 0, 0)])  # transfer 1 exists
        with pytest.raises(asyncpg.UniqueViolationError):
            await store.commit(broken)
        assert await conn.fetchval("SELECT count(*) FROM journal") == 2
        assert await conn.fetchval("SELECT count(*) FROM trades") == 1
        assert await conn.fetchval("SELECT max(batch_no) FROM batches") == 1
    finally:
        await conn.close()


def awkward_batch() -> Batch:
    """Values at the edges of what the JSON form must carry exactly: quotes, backslashes and
    CJK in text, None, 64-bit extremes, jsonb given as a dict and as JSON text."""
    batch = Batch(batch_no=1, ts_ns=1_000, last_entry=2)
    text = 'q"uo\\te 棉花 \u00e9\n'
    batch.add(ORDERS, [(2**63 - 1, text, "", "CF", "buy", "limit", "GTC", 1, 5, 0, 5, "NEW", 1, None, -(2**63))])
    batch.add(TRADES, [(3, text, 15_000, 2, 7, 8, "a", "b", "buy", 2, 5)])
    batch.add(RECEIPTS, [(*RECEIPT[:9], {"grade": text}, '{"micronaire": 4.2, "n": [1, null]}', 1)])
    batch.add(RECEIPT_EVENTS, [(1, "R1", 1, "issue", "wh", 1_000, text, 0, "", 0)])
    batch.add(TRANSFERS, [(1, "a", "b", 2**62, "X", text, 2_000, 0, 0, 0, "", 0, "", 0, 0, 0)])
    batch.add(ACCOUNTS, [("cash:" + text, 0, 2**62)])
    batch.add(REPORTS, [(1, 1_000, '{"day": 1}'), (2, 2_000, {"day": 2, "note": text})])
    return batch


async def json_equals_arrays(url: str) -> None:
    conn = await asyncpg.connect(url)
    tables = (ORDERS, TRADES, RECEIPTS, RECEIPT_EVENTS, TRANSFERS, ACCOUNTS, REPORTS)
    try:
        await migrate(conn)
        read_back = []
        for as_json in (False, True):
            await conn.execute(f"TRUNCATE {', '.join(t.name for t in tables)}")
            batch = awkward_batch()
            if as_json:
                params = [t.json(batch.rows_of(t)) for t in tables]
            else:
                params = [a for t in tables for a in t.arrays(batch.rows_of(t))]
            await conn.execute(commit_statement(tables, as_json), *params)
            read_back.append([await rows(conn, t) for t in tables])
        assert read_back[0] == read_back[1]
        assert read_back[1][0][0][1] == 'q"uo\\te 棉花 \u00e9\n'
    finally:
        await conn.close()


def test_the_json_form_writes_exactly_what_the_arrays_write(database_url: str) -> None:
    asyncio.run(json_equals_arrays(database_url))


def test_specs_match_the_migrated_schema(database_url: str) -> None:
    asyncio.run(spec_matches_schema(database_url))


def test_a_batch_reads_back_as_written_with_upserts(database_url: str) -> None:
    asyncio.run(write_and_read(database_url))


def test_a_failed_batch_writes_nothing(database_url: str) -> None:
    asyncio.run(all_or_nothing(database_url))


def test_a_spec_refuses_an_update_outside_its_columns_and_rows_of_another_width() -> None:
    with pytest.raises(ValueError):
        Table("t", (("id", "bigint"),), key=("id",), update=("missing",))
    with pytest.raises(ValueError):
        TRANSFERS.arrays([(1, "a", "b")])


def test_a_batch_refuses_rows_for_a_table_without_a_spec() -> None:
    batch = first_batch()
    batch.add(Table("elsewhere", (("id", "bigint"),)), [(1,)])
    with pytest.raises(ValueError):
        asyncio.run(Store(None).commit(batch))
