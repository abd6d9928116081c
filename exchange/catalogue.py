"""The instrument catalogue: one ``InstrumentSpec`` per symbol, the only place an instrument's
facts live. ``SetInstrument`` lists an instrument or changes its terms; the engine keeps a
compact copy of the matching terms (``engine.Instrument``, created by ``AddInstrument``), and
the registry and clearing read the delivery terms and fees through dicts the catalogue derives
from the specs and rebuilds in place on every change (``Catalogue.deliveries``,
``Catalogue.fees``), so nothing else keeps its own.

Kinds: ``spot`` (receipt-backed: a lot is one warehouse receipt, sells lock receipts, fills
settle by delivery versus payment; needs ``delivery``) and ``forward`` (中远期: trades without
receipts; ``forward`` carries the delivery month, last trading day, margin schedule and
position limits). Prices in fen, sizes in lots, weights in kilograms, all bounded.

A listed instrument's matching terms (tick, lot size, band, size limits) are fixed; its
fees, delivery terms and hours may change while it has no open orders. Each change must name
the version it was based on, so two operators editing at once cannot overwrite each other.

The three older commands (``AddInstrument``, ``SetFees``, ``SetDeliverySpec``) still apply, as
amendments of the same spec: journals written before the catalogue replay unchanged.
"""

from typing import Literal

import msgspec

from clearing.core import ClearingRejected, Fees, SetFees
from clearing.forward_terms import ForwardTerms, MarginStep, PositionLimit, legacy_form  # noqa: F401 (re-exported)
from engine import AddInstrument, Engine
from engine.codes import SessionState
from engine.state import MAX_PRICE, MAX_QUANTITY
from warehouse_receipts.grading import TABLES
from warehouse_receipts.registry import DeliverySpec, SetDeliverySpec

MAX_LOT_KG = 10**7
MAX_LOTS = MAX_QUANTITY
Kind = Literal["spot", "forward"]


class SessionTime(msgspec.Struct, kw_only=True, gc=False):
    """At ``minute`` of the local (Beijing) day the session becomes ``state``. Published trading
    hours: not yet turned into timers (sessions move by operator command or ScheduleSession)."""

    minute: int
    state: SessionState


class InstrumentSpec(msgspec.Struct, kw_only=True, gc=False):
    """Everything the exchange knows about one instrument. ``version`` counts its changes."""

    symbol: str
    kind: Kind
    commodity: str = ""
    lot_size: int  # kilograms a lot
    tick: int
    ref_price: int
    band_bps: int = 0
    max_limit_qty: int = 1_000
    max_market_qty: int = 200
    protection_ticks: int = 10
    hours: list[SessionTime] = []
    delivery: DeliverySpec | None = None
    fees: Fees = msgspec.field(default_factory=Fees)
    forward: ForwardTerms | None = None
    version: int = 0


class SetInstrument(msgspec.Struct, tag="set_instrument", tag_field="cmd", kw_only=True, gc=False):
    """List ``spec`` (``base_version`` 0) or replace the spec of version ``base_version``."""

    actor: str
    spec: InstrumentSpec
    base_version: int = 0


class CatalogueRejected(ClearingRejected):
    """A refused catalogue change; nothing changed."""


def _matching_terms(spec: InstrumentSpec) -> tuple:
    """What the engine's compact copy holds: fixed once listed (the reference price then moves
    with settlement in the engine, not here)."""
    return (spec.tick, spec.lot_size, spec.ref_price, spec.band_bps, spec.max_limit_qty, spec.max_market_qty,
            spec.protection_ticks)


def _invalid(message: str) -> CatalogueRejected:
    return CatalogueRejected("INVALID_INSTRUMENT", message)


def problem(spec: InstrumentSpec) -> CatalogueRejected | None:
    """Why ``spec`` cannot be listed (a refusal with its code), or None."""
    if not spec.symbol or len(spec.symbol) > 16 or not spec.symbol.isascii() or not spec.symbol.isalnum():
        return _invalid("the symbol is 1-16 ASCII letters and digits")
    if not (0 < spec.tick <= MAX_PRICE and 0 < spec.ref_price <= MAX_PRICE and spec.ref_price % spec.tick == 0):
        return _invalid("tick and reference price must be positive, bounded, and the price on the tick grid")
    if not (0 < spec.lot_size <= MAX_LOT_KG and 0 <= spec.band_bps <= 10_000 and 0 <= spec.protection_ticks <= 10_000):
        return _invalid("lot size, band or protection out of range")
    if not (0 < spec.max_limit_qty <= MAX_LOTS and 0 < spec.max_market_qty <= MAX_LOTS):
        return _invalid("order size limits out of range")
    fees = spec.fees
    if not (0 <= fees.per_lot <= MAX_PRICE and 0 <= fees.rate_ppm <= 100_000):
        return CatalogueRejected("INVALID_FEES", "fees cannot be negative; the rate is at most 10 %")
    if fees.rate_ppm and spec.kind != "spot":
        # A sell may trade above its limit, so a commission on value could outgrow its hold;
        # without delivery proceeds to pay it from, commission is charged per lot (as on ZCE).
        return CatalogueRejected("INVALID_FEES", "commission on value needs a receipt-backed instrument")
    if spec.kind == "spot" and spec.delivery is None:
        return _invalid("a spot instrument needs delivery terms")
    if any(not 0 <= s.minute < 1_440 for s in spec.hours):
        return _invalid("session times are minutes of the day")
    if spec.forward is not None and (why := spec.forward.problem()) is not None:
        return _invalid(why)
    return delivery_problem(spec.symbol, spec.delivery) if spec.delivery is not None else None


def delivery_problem(symbol: str, d: DeliverySpec) -> CatalogueRejected | None:
    """Why delivery terms ``d`` cannot serve instrument ``symbol``, or None."""
    if (d.commodity, d.table) not in TABLES:
        return CatalogueRejected("UNKNOWN_PREMIUM_TABLE", f"no {d.commodity} premium table {d.table}")
    if d.symbol != symbol or not 0 <= d.lot_kg <= MAX_LOT_KG or not 0 <= d.tolerance_bps <= 10_000:
        return _invalid("delivery terms name their instrument, a lot weight and a tolerance within bounds")
    if len(d.warehouses) > 1_000 or any(not 0 < len(w) <= 64 for w in d.warehouses):
        return _invalid("at most 1,000 deliverable warehouses, each named")
    return None


def _receipt_backed(spec: InstrumentSpec) -> DeliverySpec | None:
    return spec.delivery if spec.kind == "spot" else None


def _margined(spec: InstrumentSpec) -> ForwardTerms | None:
    return spec.forward if spec.kind == "forward" and spec.forward is not None and spec.forward.margined else None


def _fees(spec: InstrumentSpec) -> tuple[int, int] | None:
    fees = spec.fees
    return (fees.per_lot, fees.rate_ppm) if fees.per_lot or fees.rate_ppm else None


class Catalogue:
    """The specs by symbol, and the views the registry and clearing read."""

    def __init__(self) -> None:
        self.specs: dict[str, InstrumentSpec] = {}
        # The parts the registry, clearing and forwards read (symbol -> part, where set), in the
        # specs' order: plain dicts (asked several times per order), rebuilt in place when a spec
        # changes so that every holder of one sees the change.
        self.deliveries: dict[str, DeliverySpec] = {}
        self.fees: dict[str, tuple[int, int]] = {}
        self.forwards: dict[str, ForwardTerms] = {}
        self.margined: set[str] = set()  # the symbols in ``forwards``: asked on every order, kept as specs change

    def _put(self, spec: InstrumentSpec) -> None:
        """File ``spec`` and rebuild the parts read elsewhere."""
        self.specs[spec.symbol] = spec
        for part, derive in ((self.deliveries, _receipt_backed), (self.fees, _fees), (self.forwards, _margined)):
            part.clear()
            part.update((s, v) for s, v in ((s, derive(x)) for s, x in self.specs.items()) if v is not None)

    def kind(self, symbol: str) -> str:
        spec = self.specs.get(symbol)
        return spec.kind if spec is not None else ""

    def apply(self, cmd, engine: Engine, has_open_orders: bool) -> InstrumentSpec | CatalogueRejected | list:
        """Apply a catalogue command: the new spec, or a refusal that changed nothing. An
        ``AddInstrument`` answers with the engine's events (its compact copy)."""
        if isinstance(cmd, AddInstrument):
            spec = InstrumentSpec(symbol=cmd.symbol, kind="forward", lot_size=cmd.lot_size, tick=cmd.tick,
                                  ref_price=cmd.ref_price, band_bps=cmd.band_bps, max_limit_qty=cmd.max_limit_qty,
                                  max_market_qty=cmd.max_market_qty, protection_ticks=cmd.protection_ticks, version=1)
            if cmd.symbol not in self.specs and (refused := problem(spec)) is not None:
                return refused
            events = engine.apply(cmd)
            if cmd.symbol in engine.instruments and cmd.symbol not in self.specs:
                self._put(spec)
            return events
        current = self.specs.get(cmd.symbol if not isinstance(cmd, SetInstrument) else cmd.spec.symbol)
        if isinstance(cmd, SetInstrument):
            return self._set(cmd, current, engine, has_open_orders)
        if current is None:
            return CatalogueRejected("UNKNOWN_INSTRUMENT", f"no instrument {cmd.symbol}")
        if isinstance(cmd, SetFees):
            spec = msgspec.structs.replace(current, fees=Fees(per_lot=cmd.per_lot, rate_ppm=cmd.rate_ppm))
        else:
            assert isinstance(cmd, SetDeliverySpec)
            delivery = DeliverySpec(symbol=cmd.symbol, commodity=cmd.commodity, table=cmd.table,
                                    warehouses=list(cmd.warehouses), lot_kg=cmd.lot_kg,
                                    tolerance_bps=cmd.tolerance_bps)
            spec = msgspec.structs.replace(current, kind="spot", commodity=cmd.commodity, delivery=delivery)
        return self._set(SetInstrument(actor=cmd.actor, spec=spec, base_version=current.version), current, engine,
                         has_open_orders)

    def _set(self, cmd: SetInstrument, current: InstrumentSpec | None, engine: Engine,
             has_open_orders: bool) -> InstrumentSpec | CatalogueRejected:
        spec = cmd.spec
        if current is not None and cmd.base_version == 0:
            return CatalogueRejected("DUPLICATE_INSTRUMENT", f"{spec.symbol} is listed already")
        if (current.version if current else 0) != cmd.base_version:
            return CatalogueRejected("CATALOGUE_CHANGED", f"{spec.symbol} is at version "
                                     f"{current.version if current else 0}, not {cmd.base_version}")
        if (refused := problem(spec)) is not None:
            return refused
        if current is not None:
            if _matching_terms(spec) != _matching_terms(current):
                return CatalogueRejected("TERMS_FIXED", f"{spec.symbol}'s matching terms are fixed once listed")
            if has_open_orders:  # open orders' holds and receipts were sized under the old terms
                return CatalogueRejected("OPEN_ORDERS", f"{spec.symbol} has open orders")
        else:
            engine.apply(AddInstrument(symbol=spec.symbol, tick=spec.tick, lot_size=spec.lot_size,
                                       ref_price=spec.ref_price, band_bps=spec.band_bps,
                                       max_limit_qty=spec.max_limit_qty, max_market_qty=spec.max_market_qty,
                                       protection_ticks=spec.protection_ticks))
        spec = msgspec.structs.replace(spec, version=cmd.base_version + 1)
        self._put(spec)
        if _margined(spec) is not None:
            self.margined.add(spec.symbol)
        else:
            self.margined.discard(spec.symbol)
        return spec

    def state_hash_part(self) -> list[dict]:
        """The specs in symbol order (what the combined state hash covers), forward terms in
        their legacy form (``clearing.forward_terms.legacy_form``)."""
        return [{**msgspec.structs.asdict(spec), "forward": legacy_form(spec.forward)}
                for spec in (self.specs[k] for k in sorted(self.specs))]
