"""Reconciliation: does the record agree with itself, and memory with the record?

- From PostgreSQL, in one snapshot: total debits = total credits; every account's totals equal
  the sum of its transfers; no member account below zero; money in = money out (the bank's
  balance equals all liabilities, and deposits − withdrawals); every receipt's owner is the
  owner its event history says; every delivery has its payment and every paid trade its
  deliveries.
- From memory: each member's held cash equals its open orders' needs.
- Memory against the record: every account balance, when no batch is being committed.
"""

import msgspec

from clearing.core import Clearing
from clearing.ledger import BANK, held
from engine import Engine
from warehouse_receipts.registry import Registry


class Break(msgspec.Struct):
    check: str
    detail: str


class Reconciliation(msgspec.Struct, kw_only=True):
    clean: bool
    entry_no: int
    checks: list[str]
    breaks: list[Break]
    deposited: int
    withdrawn: int
    bank_balance: int
    liabilities: int


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
    "receipt_owner_matches_history": """
        SELECT r.receipt_id || ' owned by ' || r.owner || ' but its history says ' || h.counterparty
        FROM receipts r JOIN (
            SELECT DISTINCT ON (receipt_id) receipt_id, counterparty FROM receipt_events
            WHERE action IN ('issue', 'transfer', 'deliver') ORDER BY receipt_id, version DESC) h
          ON h.receipt_id = r.receipt_id
        WHERE r.owner <> h.counterparty""",
    "receipt_versions_gap_free": """
        SELECT receipt_id || ' has ' || count(*) || ' events up to version ' || max(version)
        FROM receipt_events GROUP BY receipt_id HAVING count(*) <> max(version)""",
    "delivery_has_payment": """
        SELECT 'receipt ' || e.receipt_id || ' delivered for ' || e.detail || ' without payment'
        FROM receipt_events e
        WHERE e.action = 'deliver' AND NOT EXISTS (
            SELECT 1 FROM transfers t WHERE t.code = 'DVP' AND t.ref = 'trade:' || substr(e.detail, 7))""",
    "payment_has_deliveries": """
        SELECT 'trade ' || tr.trade_id || ' paid for ' || tr.quantity || ' lots, ' || count(e.seq) || ' delivered'
        FROM trades tr JOIN transfers t ON t.code = 'DVP' AND t.ref = 'trade:' || tr.trade_id
        LEFT JOIN receipt_events e ON e.action = 'deliver' AND e.detail = 'trade ' || tr.trade_id
        GROUP BY tr.trade_id, tr.quantity HAVING count(e.seq) <> tr.quantity""",
}


def held_equals_needs(engine: Engine, registry: Registry, clearing: Clearing) -> list[Break]:
    """Each member's held cash against the needs of its open orders, recomputed from the book."""
    needs: dict[str, int] = {}
    for order in engine.orders.values():
        leaves = order.visible + order.hidden
        need = leaves * clearing.per_lot_need(engine, registry, order.symbol, order.side, order.price)
        needs[order.member] = needs.get(order.member, 0) + need
    members = set(needs) | {a.split(":", 1)[1] for a in clearing.ledger.accounts if a.startswith("held:")}
    breaks = []
    for member in sorted(members):
        balance = clearing.ledger.balance(held(member))
        if balance != needs.get(member, 0):
            breaks.append(Break("held_equals_open_order_needs",
                                f"{member} holds {balance} fen, its open orders need {needs.get(member, 0)}"))
    return breaks


async def reconcile(conn, exchange) -> Reconciliation:
    """Run every check; ``exchange`` is the running ``gateway.sequencer.Exchange``."""
    state = exchange.state
    clearing = state.clearing
    # memory first, synchronously: no command can interleave
    breaks = held_equals_needs(state.engine, state.registry, clearing)
    memory_entry = exchange.entry_no
    memory_balances = {a.account_id: (a.debits, a.credits) for a in clearing.ledger.accounts.values()}
    deposited, withdrawn = clearing.deposited, clearing.withdrawn
    checks = ["held_equals_open_order_needs", *SQL_CHECKS, "money_in_equals_money_out", "memory_equals_record"]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, sql in SQL_CHECKS.items():
            breaks += [Break(name, row[0]) for row in await conn.fetch(sql)]
        rows = await conn.fetch("SELECT account_id, debits, credits FROM accounts")
        record_entry = await conn.fetchval("SELECT coalesce(max(last_entry), 0) FROM batches")
    record = {r["account_id"]: (r["debits"], r["credits"]) for r in rows}
    bank = record.get(BANK, (0, 0))
    bank_balance = bank[0] - bank[1]
    liabilities = sum(c - d for account, (d, c) in record.items() if account != BANK)
    if bank_balance != liabilities:
        breaks.append(Break("money_in_equals_money_out", f"bank {bank_balance} fen, liabilities {liabilities}"))
    if record_entry == memory_entry:
        if record != memory_balances:
            differ = sorted(set(record.items()) ^ set(memory_balances.items()))[:5]
            breaks.append(Break("memory_equals_record", f"accounts differ: {differ}"))
        if bank_balance != deposited - withdrawn:
            breaks.append(Break("money_in_equals_money_out",
                                f"bank {bank_balance} fen, deposits − withdrawals {deposited - withdrawn}"))
    else:
        checks.remove("memory_equals_record")
    return Reconciliation(clean=not breaks, entry_no=record_entry, checks=checks, breaks=breaks,
                          deposited=deposited, withdrawn=withdrawn, bank_balance=bank_balance,
                          liabilities=liabilities)
