"""``commex demo``: instruments, members of every role, inspected warehouse receipts and a few
resting orders, so a newcomer can trade at once. Idempotent: running it again on the same day
adds nothing; on a later day it also lists the forward months listed from that day.

The forwards roll with the date, as an exchange lists its next months: on a Beijing date in
month M the demo lists cotton ``CF`` + yymm of M+2 (the near month) and M+4 (the far month) and
urea ``UR`` + yymm of M+3. A month's last trading day is its 10th business day (ZCE's rule) on
the demo's calendar, Monday to Friday (the demo publishes no holidays), so the near month has at
least 40 days of trading left whatever the day of the month. ``CF_NEAR``, ``UR_NEAR`` and
``CF_FAR`` name the months listed today, for the tests and load tests that trade a server seeded
today."""

import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import asyncpg

from clearing.core import Deposit, Fees
from clearing.financing import DecideLoan, RequestLoan, SetTerms
from clearing.ledger import cash
from engine import NewOrder, SetSession
from exchange.calendar import Calendar, local_date
from exchange.catalogue import ForwardTerms, InstrumentSpec, SetInstrument
from exchange.journal import Entry
from gateway.auth import Authenticator, load_master_key
from gateway.members import create_member, member_credentials
from gateway.pg import database_url
from gateway.sequencer import Exchange
from warehouse_receipts.quality import Bale, CottonQuality, ScrapSteelQuality, UreaQuality
from warehouse_receipts.registry import DeliverySpec, IssueReceipt


class Month(NamedTuple):
    """A forward month: its symbol (``CF`` + yymm), delivery month (yyyymm), last trading day."""

    symbol: str
    delivery_month: int
    last_trading_day: int


NEAR, UREA, FAR = 2, 3, 4  # months after today's: the near cotton month, the urea month, the far cotton month


def last_trading_day(delivery_month: int) -> int:
    """The 10th business day (Monday to Friday) of ``delivery_month`` (yyyymm).

    >>> last_trading_day(202703)
    20270312
    """
    calendar = Calendar()
    day = calendar.next_business_day(delivery_month * 100 + 1, inclusive=True)
    for _ in range(9):
        day = calendar.next_business_day(day)
    return day


def forward_month(prefix: str, today: int, ahead: int) -> Month:
    """The month ``ahead`` months after the month of ``today`` (yyyymmdd), named ``prefix`` + yymm."""
    months = today // 10_000 * 12 + today // 100 % 100 - 1 + ahead
    month = months // 12 * 100 + months % 12 + 1
    return Month(f"{prefix}{month % 10_000:04d}", month, last_trading_day(month))


def forward_months(today: int) -> tuple[Month, Month, Month]:
    """The forwards the demo lists on Beijing date ``today``: near cotton, urea, far cotton.

    >>> [m.symbol for m in forward_months(20261123)]
    ['CF2701', 'UR2702', 'CF2703']
    """
    return forward_month("CF", today, NEAR), forward_month("UR", today, UREA), forward_month("CF", today, FAR)


def _spot(symbol: str, commodity: str, table: str, lot_kg: int, **terms) -> InstrumentSpec:
    """A receipt-backed instrument: one lot is one receipt of about ``lot_kg`` (within 10 %),
    priced per tonne, commission 0.2 ‰ of value each side."""
    return InstrumentSpec(symbol=symbol, kind="spot", commodity=commodity, lot_size=lot_kg, fees=Fees(rate_ppm=200),
                          delivery=DeliverySpec(symbol=symbol, commodity=commodity, table=table, lot_kg=lot_kg),
                          **terms)


def _forward(month: Month, commodity: str, lot_kg: int, tick: int, ref_price: int, fee: int) -> InstrumentSpec:
    """A margined forward (5 / 10 / 20 % as delivery nears), settled daily, delivered at expiry."""
    return InstrumentSpec(symbol=month.symbol, kind="forward", commodity=commodity, lot_size=lot_kg, tick=tick,
                          ref_price=ref_price, band_bps=400, max_limit_qty=1_000, max_market_qty=200,
                          protection_ticks=10, fees=Fees(per_lot=fee),
                          forward=ForwardTerms(delivery_month=month.delivery_month,
                                               last_trading_day=month.last_trading_day, margined=True))


def instruments(today: int) -> list[InstrumentSpec]:
    """The instruments the demo lists on Beijing date ``today``: the spot ones and that day's forwards."""
    cf_near, ur_near, cf_far = forward_months(today)
    return [
        # spot cotton 3128B: one lot is one receipt (~40 t), 5 yuan/t tick, ±4 %
        _spot("CF", "cotton", "ZCE-2016/17", 40_000, tick=500, ref_price=1_500_000, band_bps=400, max_limit_qty=100,
              max_market_qty=20, protection_ticks=10),
        # spot urea: one lot is one 20 t receipt, 1 yuan/t tick
        _spot("UR", "urea", "GB/T2440-2017", 20_000, tick=100, ref_price=200_000, band_bps=400, max_limit_qty=200,
              max_market_qty=50, protection_ticks=20),
        # spot heavy scrap steel: one lot is one 30 t receipt, ±5 %
        _spot("SS", "scrap_steel", "GB/T4223-2024", 30_000, tick=100, ref_price=280_000, band_bps=500,
              max_limit_qty=200, max_market_qty=50, protection_ticks=20),
        # forwards (中远期): 5 t cotton lots and 20 t urea lots (ZCE); commission 4.30 and 2.50 yuan a lot each side
        _forward(cf_near, "cotton", 5_000, 500, 1_500_000, 430),
        _forward(cf_far, "cotton", 5_000, 500, 1_500_000, 430),
        _forward(ur_near, "urea", 20_000, 100, 200_000, 250),
    ]


def beijing_today() -> int:
    """Today's Beijing date (yyyymmdd) by the real clock."""
    return local_date(time.time_ns())


TODAY = beijing_today()  # when this module was imported
CF_NEAR, UR_NEAR, CF_FAR = (month.symbol for month in forward_months(TODAY))
INSTRUMENTS = instruments(TODAY)

# opening cash, in fen: traders 100 million yuan, suppliers 5 million (for commission)
FUNDING = {"trader": 10_000_000_000, "supplier": 500_000_000, "lender": 20_000_000_000}
MEMBERS = [
    ("exchange-ops", ["operator"]),
    ("clearing-desk", ["clearing"]),
    ("huafang-textile", ["trader"]),
    ("luneng-agri", ["trader"]),
    ("xinjiang-cotton-group", ["supplier"]),
    ("sinofert", ["supplier"]),
    ("zhongzai-recycling", ["supplier"]),
    ("xj-warehouse-01", ["warehouse"]),
    ("sh-warehouse-02", ["warehouse"]),
    ("agri-bank", ["lender"]),
]
RECEIPTS = [  # (warehouse, owner, commodity, how many)
    ("xj-warehouse-01", "xinjiang-cotton-group", "cotton", 30),
    ("sh-warehouse-02", "sinofert", "urea", 40),
    ("sh-warehouse-02", "zhongzai-recycling", "scrap_steel", 30),
]


def orders(today: int) -> list[tuple[str, str, str, int, int, int, str]]:
    """The resting orders: (member, symbol, side, lots, price in fen, display, client order id)."""
    near = forward_months(today)[0].symbol
    return [
        ("xinjiang-cotton-group", "CF", "sell", 4, 1_502_000, 0, "demo-cf-ask-1"),
        ("xinjiang-cotton-group", "CF", "sell", 3, 1_505_000, 0, "demo-cf-ask-2"),
        ("huafang-textile", "CF", "buy", 2, 1_498_000, 0, "demo-cf-bid-1"),
        ("sinofert", "UR", "sell", 10, 201_000, 2, "demo-ur-ask-1"),
        ("luneng-agri", "UR", "buy", 5, 199_500, 0, "demo-ur-bid-1"),
        ("huafang-textile", near, "buy", 20, 1_497_500, 0, "demo-fwd-bid-1"),
        ("luneng-agri", near, "sell", 20, 1_503_000, 0, "demo-fwd-ask-1"),
    ]


async def seed_financing(exchange: Exchange) -> None:
    """agri-bank lends against cotton (60 % LTV, 0.02 %/day, call at 75 %, sale at 85 %), and
    xinjiang-cotton-group has one loan outstanding against two receipts. Idempotent."""
    financing = exchange.state.financing
    if ("agri-bank", "cotton") not in financing.terms:
        await exchange.submit(Entry(SetTerms(actor="agri-bank", commodity="cotton", ltv_bps=6_000,
                                             daily_rate_ppm=200, warning_bps=7_500, liquidation_bps=8_500,
                                             max_tenor_days=90, cure_days=2)))
    if not financing.loans:
        collateral = ["WR00000020", "WR00000021"]  # registered, not behind the demo's asks
        loan = (await exchange.submit(Entry(RequestLoan(actor="xinjiang-cotton-group", lender="agri-bank",
                                                        receipt_ids=collateral, principal=80_000_000,
                                                        tenor_days=60)))).outcome
        await exchange.submit(Entry(DecideLoan(actor="agri-bank", loan_id=loan.loan_id, approve=True)))


def cotton_lot(rng: random.Random, lot: int) -> CottonQuality:
    """A plausible Xinjiang machine-picked lot: 185 bales around 3128B."""
    colour = rng.choice(("21", "31", "31", "31", "41"))
    length = Decimal(rng.choice(("28.3", "28.9", "29.2", "29.6", "30.1")))
    bales = []
    for b in range(185):
        bales.append(Bale(
            barcode=f"65{lot:05d}{b:05d}", net_kg=Decimal(rng.randint(2250, 2290)) / 10, colour_grade=colour,
            length_mm=length + Decimal(rng.randint(-3, 3)) / 10, micronaire=Decimal(rng.randint(39, 46)) / 10,
            strength_cn_tex=Decimal(rng.randint(275, 305)) / 10, uniformity_pct=Decimal(rng.randint(815, 845)) / 10,
            trash_pct=Decimal(rng.randint(10, 25)) / 10, moisture_regain_pct=Decimal(rng.randint(65, 85)) / 10,
        ))
    return CottonQuality(ginning=rng.choice(("P1", "P2", "P2")), bales=bales)


def quality_for(commodity: str, rng: random.Random, n: int):
    if commodity == "cotton":
        return cotton_lot(rng, n), 0
    if commodity == "urea":
        return UreaQuality(nitrogen_pct=Decimal("46.2"), biuret_pct=Decimal("0.8"), moisture_pct=Decimal("0.3"),
                           granules_pct=Decimal(rng.choice(("93.5", "95.0", "91.0")))), 20_000
    return ScrapSteelQuality(steel_class=rng.choice(("heavy", "heavy", "medium")),
                             inclusions_pct=Decimal(rng.randint(1, 5)) / 10), 30_000


async def seed(data_dir: Path) -> Path:
    """Seed everything (idempotently), with today's forward months, and write
    ``demo-credentials.json``; return its path."""
    today = beijing_today()
    url = database_url(data_dir)
    exchange = await Exchange.open(url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        engine, registry = exchange.engine, exchange.registry
        for spec in instruments(today):
            if spec.symbol not in exchange.state.catalogue.specs:
                await exchange.submit(Entry(SetInstrument(actor="exchange-ops", spec=spec)))
            if engine.instruments[spec.symbol].session != "continuous":
                await exchange.submit(Entry(SetSession(spec.symbol, "continuous")))
        clearing = exchange.state.clearing
        auth = Authenticator(load_master_key(data_dir))
        members = []
        for member, roles in MEMBERS:
            creds = await member_credentials(pool, auth, member)
            if creds is None:
                creds = await create_member(pool, auth, member, roles)
            members.append({"member": creds.member, "roles": creds.roles, "api_key": creds.api_key,
                            "api_secret": creds.api_secret})
            amount = max((FUNDING.get(role, 0) for role in roles), default=0)
            if amount and cash(member) not in clearing.ledger.accounts:
                await exchange.submit(Entry(Deposit(actor="clearing-desk", member=member,
                                                    amount=amount, reference="demo-opening-balance")))
        rng = random.Random(2026)
        for warehouse, owner, commodity, count in RECEIPTS:
            for n in range(1, count + 1):
                certificate = f"GJ-2026-{commodity.upper()}-{n:04d}"
                quality, kg = quality_for(commodity, rng, n)
                if certificate not in registry.certificates:
                    await exchange.submit(Entry(IssueReceipt(
                        actor=warehouse, certificate_no=certificate,
                        inspector="CFIC Xinjiang" if commodity == "cotton" else "CCIC Shanghai",
                        owner=owner, quality=quality, quantity_kg=kg)))
        await seed_financing(exchange)
        for member, symbol, side, qty, price, display, coid in orders(today):
            await exchange.submit(Entry(NewOrder(member=member, symbol=symbol, side=side, quantity=qty, price=price,
                                                 display_quantity=display), coid))
    finally:
        await pool.close()
        await exchange.close()
    path = data_dir / "demo-credentials.json"
    path.write_text(json.dumps({"members": members}, indent=2))
    path.chmod(0o600)
    return path
