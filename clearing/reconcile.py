"""Reconciliation over memory: pure checks of the clearing state, each returning its breaks.

- Each member's held cash equals its open orders' needs, recomputed from the book.
- The ledger is balanced: total debits = total credits.
- No member account is below zero.
- Money in = money out: the bank's balance equals all liabilities, and deposits − withdrawals.

The gateway adds the checks of the record (SQL) and compares memory with it (gateway/reconcile.py).
"""

import msgspec

from clearing.core import Clearing
from clearing.ledger import ASSETS, BANK, Ledger, held
from engine import Engine
from warehouse_receipts.registry import Registry


class Break(msgspec.Struct):
    check: str
    detail: str


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


def ledger_balanced(ledger: Ledger) -> list[Break]:
    why = ledger.unbalanced()
    return [] if why is None else [Break("ledger_balanced", why)]


def no_negative_member_account(ledger: Ledger) -> list[Break]:
    return [Break("no_negative_member_account", detail) for detail in ledger.below_zero()]


def balances(ledger: Ledger) -> dict[str, tuple[int, int]]:
    """(debits, credits) per account."""
    return {a.account_id: (a.debits, a.credits) for a in ledger.accounts.values()}


def liabilities(totals: dict[str, tuple[int, int]]) -> int:
    """Σ liability balances, from (debits, credits) per account."""
    return sum(c - d for account, (d, c) in totals.items() if account not in ASSETS)


def money_in_equals_money_out(clearing: Clearing) -> list[Break]:
    """The bank's balance against all liabilities, and against deposits − withdrawals."""
    ledger = clearing.ledger
    bank = ledger.balance(BANK)
    owed = liabilities(balances(ledger))
    paid_in = clearing.deposited - clearing.withdrawn
    breaks = []
    if bank != owed:
        breaks.append(Break("money_in_equals_money_out", f"bank {bank} fen, liabilities {owed}"))
    if bank != paid_in:
        breaks.append(Break("money_in_equals_money_out", f"bank {bank} fen, deposits − withdrawals {paid_in}"))
    return breaks


def check_memory(engine: Engine, registry: Registry, clearing: Clearing) -> list[Break]:
    """Every pure check, in the order they are listed above."""
    return [*held_equals_needs(engine, registry, clearing), *ledger_balanced(clearing.ledger),
            *no_negative_member_account(clearing.ledger), *money_in_equals_money_out(clearing)]
