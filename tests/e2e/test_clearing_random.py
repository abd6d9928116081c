"""A seeded random day (and a half) of clearing through the real sequencer and PostgreSQL:
afterwards reconciliation is clean and all accounts add up to what was paid in minus out."""

import asyncio
import random

import asyncpg

from clearing.core import Deposit, EndOfDay, SetFees, Withdraw
from engine import AddInstrument, AmendOrder, CancelOrder, NewOrder, SetSession
from exchange.journal import Entry
from gateway.reconcile import reconcile
from gateway.sequencer import Exchange
from tests.support.clearing_helpers import BASE_UREA, SUBSTITUTE_UREA
from warehouse_receipts.registry import IssueReceipt, SetDeliverySpec

OPERATIONS = 4_000
TRADERS = [f"t{i:02d}" for i in range(10)]
SUPPLIERS = [f"s{i}" for i in range(4)]


def setup_commands() -> list:
    cmds = [
        AddInstrument(symbol="UR", tick=100, lot_size=20_000, ref_price=200_000, band_bps=400, max_limit_qty=50,
                      max_market_qty=10, protection_ticks=10),
        AddInstrument(symbol="FW", tick=500, lot_size=5_000, ref_price=1_500_000, band_bps=400),
        SetDeliverySpec(actor="ops", symbol="UR", commodity="urea", table="GB/T2440-2017", lot_kg=20_000),
        SetFees(actor="ops", symbol="UR", rate_ppm=200),
        SetFees(actor="ops", symbol="FW", per_lot=430),
        SetSession("UR", "continuous"), SetSession("FW", "continuous"),
    ]
    rng = random.Random(5)
    for n in range(160):
        cmds.append(IssueReceipt(actor="wh", certificate_no=f"R{n}", inspector="CCIC",
                                 owner=SUPPLIERS[n % 4], quality=rng.choice((BASE_UREA, SUBSTITUTE_UREA)),
                                 quantity_kg=rng.randint(19_000, 21_500)))
    return cmds


def random_command(rng: random.Random, ex: Exchange, day_orders: list) -> object:
    r = rng.random()
    member = rng.choice(TRADERS + SUPPLIERS)
    if r < 0.08:
        return Deposit(actor="desk", member=member, amount=rng.randint(1, 30) * 1_000_000,
                       reference=f"d{rng.random()}")
    if r < 0.12:
        return Withdraw(actor="desk", member=member, amount=rng.randint(1, 20) * 1_000_000,
                        reference=f"w{rng.random()}")
    if r < 0.55:
        symbol = rng.choice(("UR", "UR", "FW"))
        ref = ex.engine.instruments[symbol].ref_price
        tick = ex.engine.instruments[symbol].tick
        side = ("buy" if member in TRADERS else "sell") if symbol == "UR" and rng.random() < 0.8 else \
            rng.choice(("buy", "sell"))
        kind = rng.random()
        if kind < 0.1:
            return NewOrder(member=member, symbol=symbol, side=side, quantity=rng.randint(1, 3), order_type="market",
                            tif="IOC")
        return NewOrder(member=member, symbol=symbol, side=side, quantity=rng.randint(1, 4),
                        price=ref + tick * rng.randint(-6, 6), tif=rng.choice(("GTC", "GTC", "DAY", "IOC")),
                        display_quantity=rng.choice((0, 0, 0, 1)))
    open_orders = list(ex.engine.orders.values())
    if not open_orders:
        return Deposit(actor="desk", member=member, amount=1_000_000, reference=f"top-up{rng.random()}")
    order = rng.choice(open_orders)
    if r < 0.78:
        return CancelOrder(order.member, order.order_id)
    tick = ex.engine.instruments[order.symbol].tick
    return AmendOrder(member=order.member, order_id=order.order_id,
                      price=rng.choice((0, order.price + tick * rng.randint(-3, 3))),
                      quantity=rng.choice((0, order.filled + rng.randint(1, 5))))


def check_components(state) -> None:
    """Every component's own invariants and those between them (``ExchangeState.check``)."""
    state.engine.check()
    state.registry.check()
    state.views.check()
    state.financing.check(state.registry)
    state.check()


async def scenario(url: str) -> None:
    ex = await Exchange.open(url)
    for cmd in setup_commands():
        await ex.submit(Entry(cmd))
    rng = random.Random(20261123)
    paid_in = paid_out = 0
    done = 0
    days = 0
    while done < OPERATIONS:
        batch = [random_command(rng, ex, []) for _ in range(8)]  # submitted together: they share a batch
        results = await asyncio.gather(*(ex.submit(Entry(c, f"r{done + i}" if isinstance(c, NewOrder) else ""))
                                         for i, c in enumerate(batch)))
        for cmd, result in zip(batch, results, strict=True):
            if result.rejection is None and isinstance(cmd, Deposit):
                paid_in += cmd.amount
            if result.rejection is None and isinstance(cmd, Withdraw):
                paid_out += cmd.amount
        done += len(batch)
        if done % 200 == 0:
            check_components(ex.state)
        if done % 1_000 == 0:  # close the day, open the next
            report = (await ex.submit(Entry(EndOfDay(actor="desk")))).outcome
            days += 1
            assert report.day == days
            for symbol in ("UR", "FW"):
                await ex.submit(Entry(SetSession(symbol, "continuous")))

    clearing = ex.state.clearing
    assert (clearing.deposited, clearing.withdrawn) == (paid_in, paid_out)
    trades = sum(len(r.instruments) for r in clearing.reports)
    assert trades and paid_out > 0
    conn = await asyncpg.connect(url)
    try:
        report = await reconcile(conn, ex)
        assert report.clean, report.breaks
        assert "memory_equals_record" in report.checks
        assert report.liabilities == report.bank_balance == paid_in - paid_out
        delivered = await conn.fetchval("SELECT count(*) FROM receipt_events WHERE action = 'deliver'")
        dvp = await conn.fetchval("SELECT count(*) FROM transfers WHERE code = 'DVP'")
        assert delivered > 100 and dvp > 50, (delivered, dvp)
        state_hash = ex.state.state_hash()
        check_components(ex.state)
        component_hashes = ex.state.registry.state_hash(), ex.state.financing.state_hash()
        await ex.close()
        again = await Exchange.open(url)
        assert again.state.state_hash() == state_hash
        check_components(again.state)
        assert (again.state.registry.state_hash(), again.state.financing.state_hash()) == component_hashes
        report = await reconcile(conn, again)
        assert report.clean, report.breaks
        await again.close()
    finally:
        await conn.close()


def test_random_clearing_reconciles(database_url: str) -> None:
    asyncio.run(scenario(database_url))
