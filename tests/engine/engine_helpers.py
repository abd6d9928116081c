"""Small builders for engine tests: a cotton instrument, order shorthands, state without seq."""

import msgspec

from engine import AddInstrument, Engine, Event, NewOrder, SetSession
from engine.snapshot import decode_snapshot

TICK = 500  # 5 yuan/t in fen
REF = 1_500_000  # 15,000 yuan/t in fen
COTTON = AddInstrument(symbol="CF", tick=TICK, lot_size=5_000, ref_price=REF, band_bps=400, max_limit_qty=1_000,
                       max_market_qty=200, protection_ticks=4)


def p(ticks_from_ref: int) -> int:
    """A price ``ticks_from_ref`` ticks away from the reference price."""
    return REF + ticks_from_ref * TICK


def engine_in(session: str = "continuous") -> Engine:
    """An engine with cotton listed and its session set."""
    engine = Engine()
    engine.apply(COTTON)
    if session != "closed":
        engine.apply(SetSession("CF", session))
    return engine


def limit(member: str, side: str, qty: int, price: int, **kw) -> NewOrder:
    return NewOrder(member=member, symbol="CF", side=side, quantity=qty, price=price, **kw)


def book_state(engine: Engine) -> bytes:
    """The snapshot with the event sequence zeroed: what a rejected command must not change."""
    snap = decode_snapshot(engine.snapshot())
    snap.seq = 0
    return msgspec.msgpack.encode(snap)


def kinds(events: list[Event]) -> list[str]:
    """Event tags in order, rejections with their code: ['accepted', 'trade', 'rejected:BAD_TICK']."""
    out = []
    for e in events:
        tag = type(e).__struct_config__.tag
        out.append(f"{tag}:{e.code}" if tag == "rejected" else tag)
    return out
