"""What left the sequencer's memory, read back from SQL: closed orders past the views' horizon
(``exchange.views``), members' older fills and receipts' older custody events.

Every read here goes through ``_rows``, which first waits for the SQL projections (written off
the ack path by gateway/projector.py) to catch up with the journal (read-your-writes). The
records built here equal the ones memory held, so an answer does not change when its order
leaves memory."""

from collections import defaultdict

import asyncpg

from exchange.views import ARCHIVED, FillRecord, OrderRecord
from gateway.http import projected
from warehouse_receipts.registry import ReceiptEvent, Registry

_ORDER_COLUMNS = ("order_id, client_order_id, symbol, side, order_type, time_in_force, price, quantity, cum_qty, "
                  "leaves_qty, status, avg_price, seq")
_FILLS_OF_ORDERS = """
    SELECT trade_id, buy_order_id AS order_id, symbol, 'buy' AS side, price, quantity, seq
      FROM trades WHERE buy_order_id = ANY($1::bigint[])
    UNION ALL
    SELECT trade_id, sell_order_id, symbol, 'sell', price, quantity, seq
      FROM trades WHERE sell_order_id = ANY($1::bigint[])
    ORDER BY trade_id, side"""
_FILLS_OF_MEMBER = """
    SELECT * FROM (
        (SELECT trade_id, buy_order_id AS order_id, symbol, 'buy' AS side, price, quantity, seq
           FROM trades WHERE buyer = $1 ORDER BY trade_id DESC LIMIT $2)
        UNION ALL
        (SELECT trade_id, sell_order_id, symbol, 'sell', price, quantity, seq
           FROM trades WHERE seller = $1 ORDER BY trade_id DESC LIMIT $2)
    ) f ORDER BY trade_id DESC, side DESC LIMIT $2"""


async def _rows(exchange, sql: str, *args) -> list[asyncpg.Record]:
    """One read of the projections, once they reach every command journaled so far."""
    await projected(exchange)
    return await exchange.read_pool.fetch(sql, *args)


async def order(exchange, member: str, order_id: int) -> OrderRecord | None:
    """The member's order ``order_id`` as memory held it, or None (absent or another's)."""
    if not 0 < order_id < 1 << 63:  # no such order (and not a bigint SQL could compare)
        return None
    found = await orders(exchange, member, [order_id])
    return found[0] if found else None


async def orders(exchange, member: str, order_ids: list[int] | None = None, limit: int = 1_000,
                 before: int = 0) -> list[OrderRecord]:
    """The member's orders (those named, or its newest ``limit`` with ids below ``before`` if
    not 0), with their fills, by order id."""
    if order_ids is None:
        rows = await _rows(exchange, f"SELECT * FROM (SELECT {_ORDER_COLUMNS} FROM orders WHERE member = $1 "
                           "AND order_id < $3 ORDER BY order_id DESC LIMIT $2) o ORDER BY order_id",
                           member, limit, before or (1 << 63) - 1)
    else:
        rows = await _rows(exchange, f"SELECT {_ORDER_COLUMNS} FROM orders WHERE member = $1 "
                               "AND order_id = ANY($2::bigint[]) ORDER BY order_id", member, order_ids)
    if not rows:
        return []
    fills = defaultdict(list)
    for f in await _rows(exchange, _FILLS_OF_ORDERS, [r["order_id"] for r in rows]):
        fills[f["order_id"]].append(FillRecord(**f))
    return [OrderRecord(order_id=r["order_id"], client_order_id=r["client_order_id"], symbol=r["symbol"],
                        side=r["side"], type=r["order_type"], time_in_force=r["time_in_force"], price=r["price"],
                        quantity=r["quantity"], cum_qty=r["cum_qty"], leaves_qty=r["leaves_qty"],
                        avg_price=r["avg_price"], status=r["status"], fills=fills[r["order_id"]], seq=r["seq"],
                        member=member)
            for r in rows]


async def answer(exchange, member: str, view: OrderRecord) -> OrderRecord:
    """A first answer in full: an ``ARCHIVED`` stub (its order left memory) read from SQL."""
    if view.status != ARCHIVED:
        return view
    full = await order(exchange, member, view.order_id)
    if full is None:
        raise LookupError(f"order {view.order_id} left memory but is not in SQL")
    return full


async def fills(exchange, member: str, limit: int) -> list[FillRecord]:
    """The member's newest ``limit`` fills, oldest first."""
    rows = await _rows(exchange, _FILLS_OF_MEMBER, member, limit)
    return [FillRecord(**r) for r in reversed(rows)]


async def receipt_events(exchange, receipt_id: str, below_version: int) -> list[ReceiptEvent]:
    """A receipt's custody events before version ``below_version`` (those memory let go)."""
    rows = await _rows(exchange, "SELECT seq, receipt_id, version, action, actor, ts_ns, counterparty, order_id, "
                                 "detail, trade_id FROM receipt_events WHERE receipt_id = $1 AND version < $2 "
                                 "ORDER BY version", receipt_id, below_version)
    return [ReceiptEvent(**r) for r in rows]


async def receipt_history(exchange, registry: Registry, receipt_id: str) -> list[ReceiptEvent]:
    """A receipt's whole custody history: the events memory let go from SQL, then the kept ones."""
    kept = list(registry.history[receipt_id])  # a copy: the sequencer may append while SQL is read
    if not kept or kept[0].version == 1:
        return kept
    return await receipt_events(exchange, receipt_id, kept[0].version) + kept
