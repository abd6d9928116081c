"""Reconciliation of the record: does PostgreSQL agree with itself, and memory with it?

Memory's own checks are pure (clearing/reconcile.py). Here, in one snapshot of the record:
total debits = total credits; every account's totals equal the sum of its transfers; no member
account below zero; the bank's balance equals all liabilities; every receipt's owner is the
owner its event history says; receipt versions are gap-free; every delivery has its payment and
every paid trade its deliveries. Then, once the projector has reached memory's entry, every account balance
and every receipt (owner, state, weight, version) in memory against the record.
"""

import asyncpg
import msgspec

from clearing.ledger import BANK
from clearing.reconcile import Break, balances, check_memory, liabilities
from gateway.prices import to_yuan
from warehouse_receipts.registry import TRANSITIONS, Registry

# the receipt events that name a new owner: issue, and every action whose transition hands it over
OWNER_ACTIONS = ", ".join(f"'{a}'" for a in ("issue", *(a for a, row in TRANSITIONS.items() if row.owner)))


class Reconciliation(msgspec.Struct, kw_only=True):
    """The checks' outcome; money in integer fen."""

    clean: bool
    entry_no: int
    checks: list[str]
    breaks: list[Break]
    deposited: int
    withdrawn: int
    bank_balance: int
    liabilities: int

    def view(self) -> "ReconciliationView":
        """As the API answers it: money as yuan strings, as everywhere on the wire."""
        return ReconciliationView(clean=self.clean, entry_no=self.entry_no, checks=self.checks, breaks=self.breaks,
                                  deposited=to_yuan(self.deposited), withdrawn=to_yuan(self.withdrawn),
                                  bank_balance=to_yuan(self.bank_balance), liabilities=to_yuan(self.liabilities))


class ReconciliationView(msgspec.Struct, kw_only=True):
    """``GET /v1/clearing/reconcile``: clean or not, the checks run, the breaks found; money paid
    in and out, the bank's balance and all liabilities (equal when clean), in yuan."""

    clean: bool
    entry_no: int
    checks: list[str]
    breaks: list[Break]
    deposited: str
    withdrawn: str
    bank_balance: str
    liabilities: str


class Record(msgspec.Struct, kw_only=True):
    """What one snapshot of the record says: its last entry, account totals and SQL breaks."""

    entry_no: int
    balances: dict[str, tuple[int, int]]
    receipts: dict[str, tuple[str, str, int, int]]  # receipt id -> (owner, state, kg, version)
    breaks: list[Break]


SQL_CHECKS = {
    "ledger_balanced": "SELECT 'debits ' || sum(debits) || ' <> credits ' || sum(credits) FROM accounts "
                       "HAVING sum(debits) <> sum(credits)",
    "accounts_equal_transfers": """
        SELECT a.account_id || ': totals ' || a.debits || '/' || a.credits || ' but transfers ' ||
               coalesce(d.s, 0) || '/' || coalesce(c.s, 0)
        FROM accounts a
        LEFT JOIN (SELECT debit AS id, sum(amount) AS s FROM transfers GROUP BY debit) d ON d.id = a.account_id
        LEFT JOIN (SELECT credit AS id, sum(amount) AS s FROM transfers GROUP BY credit) c ON c.id = a.account_id
        WHERE a.debits <> coalesce(d.s, 0) OR a.credits <> coalesce(c.s, 0)""",
    "no_negative_member_account": f"""
        SELECT account_id || ' balance ' || (credits - debits) FROM accounts
        WHERE account_id <> '{BANK}' AND credits < debits""",
    "receipt_owner_matches_history": f"""
        SELECT r.receipt_id || ' owned by ' || r.owner || ' but its history says ' || h.counterparty
        FROM receipts r JOIN (
            SELECT DISTINCT ON (receipt_id) receipt_id, counterparty FROM receipt_events
            WHERE action IN ({OWNER_ACTIONS}) ORDER BY receipt_id, version DESC) h
          ON h.receipt_id = r.receipt_id
        WHERE r.owner <> h.counterparty""",
    "receipt_versions_gap_free": """
        SELECT receipt_id || ' has ' || count(*) || ' events up to version ' || max(version)
        FROM receipt_events GROUP BY receipt_id HAVING count(*) <> max(version)""",
    "delivery_has_payment": """
        SELECT 'receipt ' || e.receipt_id || ' delivered for ' || e.detail || ' without payment'
        FROM receipt_events e
        WHERE e.action = 'deliver' AND NOT EXISTS (
            SELECT 1 FROM transfers t WHERE t.code = 'DVP' AND t.trade_id = e.trade_id)""",
    "payment_has_deliveries": """
        SELECT 'trade ' || tr.trade_id || ' paid for ' || tr.quantity || ' lots, ' || count(e.seq) || ' delivered'
        FROM trades tr JOIN transfers t ON t.code = 'DVP' AND t.trade_id = tr.trade_id
        LEFT JOIN receipt_events e ON e.action = 'deliver' AND e.trade_id = tr.trade_id
        GROUP BY tr.trade_id, tr.quantity HAVING count(e.seq) <> tr.quantity""",
}
CHECKS = ("held_equals_open_order_needs", *SQL_CHECKS, "money_in_equals_money_out", "memory_equals_record")


async def read_record(conn: asyncpg.Connection) -> Record:
    """Run the SQL checks and read the account totals, all in one read-only snapshot."""
    breaks = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, sql in SQL_CHECKS.items():
            breaks += [Break(name, row[0]) for row in await conn.fetch(sql)]
        rows = await conn.fetch("SELECT account_id, debits, credits FROM accounts")
        receipts = await conn.fetch("SELECT receipt_id, owner, state, quantity_kg, version FROM receipts")
        entry_no = await conn.fetchval("SELECT entry_no FROM projection_watermark WHERE id = 1")
    return Record(entry_no=entry_no, balances={r["account_id"]: (r["debits"], r["credits"]) for r in rows},
                  receipts={r[0]: tuple(r[1:]) for r in receipts}, breaks=breaks)


def receipts_in_memory(registry: Registry) -> dict[str, tuple[str, str, int, int]]:
    """Every receipt as ``Record.receipts`` reads it."""
    return {r.receipt_id: (r.owner, r.state, r.quantity_kg, r.version) for r in registry.receipts.values()}


def differences(record: dict, memory: dict) -> list:
    """The first few (key, value) pairs on one side only."""
    return sorted(set(record.items()) ^ set(memory.items()))[:5]


async def reconcile(conn: asyncpg.Connection, exchange) -> Reconciliation:
    """Every check; ``exchange`` is the running ``gateway.sequencer.Exchange``."""
    state = exchange.state
    clearing = state.clearing
    # memory first, synchronously: no command can interleave
    breaks = check_memory(state.engine, state.registry, clearing)
    memory_entry, memory = exchange.entry_no, balances(clearing.ledger)
    receipts = receipts_in_memory(state.registry)
    deposited, withdrawn = clearing.deposited, clearing.withdrawn
    await exchange.projected()  # the record as of memory's entry, when it gets there in time
    record = await read_record(conn)
    breaks += record.breaks
    debits, credits = record.balances.get(BANK, (0, 0))
    bank_balance, owed = debits - credits, liabilities(record.balances)
    if bank_balance != owed:
        breaks.append(Break("money_in_equals_money_out", f"bank {bank_balance} fen, liabilities {owed}"))
    checks = list(CHECKS)
    if record.entry_no != memory_entry:  # memory is ahead: a batch being committed, or projected
        checks.remove("memory_equals_record")
    else:
        if record.balances != memory:
            breaks.append(Break("memory_equals_record", f"accounts differ: {differences(record.balances, memory)}"))
        if record.receipts != receipts:
            breaks.append(Break("memory_equals_record", f"receipts differ: {differences(record.receipts, receipts)}"))
    return Reconciliation(clean=not breaks, entry_no=record.entry_no, checks=checks, breaks=breaks,
                          deposited=deposited, withdrawn=withdrawn, bank_balance=bank_balance, liabilities=owed)
