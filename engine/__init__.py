"""Pure price-time matching core.

The engine owns the order books, instrument session states and reference prices. It is a
deterministic state machine: ``Engine.apply(command)`` takes one ``msgspec.Struct`` command
and returns the events it caused, each stamped with a gap-free sequence number. It does no
I/O and knows no clock (the exchange keeps each entry's journaled time around it), so
replaying the same command journal into a fresh engine rebuilds the exact same book, which
``state_hash()`` proves.
Prices are integers in fen per quote unit on the instrument's tick grid; quantities are
integer lots.
"""

from engine.codes import Reject
from engine.commands import (
    AddInstrument,
    AmendOrder,
    CancelOrder,
    Command,
    MassCancel,
    NewOrder,
    SetReferencePrice,
    SetSession,
)
from engine.core import Engine
from engine.events import (
    Accepted,
    Amended,
    Cancelled,
    Event,
    InstrumentAdded,
    MassCancelled,
    ReferencePriceSet,
    Rejected,
    SessionChanged,
    Trade,
)
from engine.snapshot import Snapshot, state_hash_of
from engine.state import Instrument, Order

__all__ = [
    "Accepted",
    "AddInstrument",
    "AmendOrder",
    "Amended",
    "CancelOrder",
    "Cancelled",
    "Command",
    "Engine",
    "Event",
    "Instrument",
    "InstrumentAdded",
    "MassCancel",
    "MassCancelled",
    "NewOrder",
    "Order",
    "ReferencePriceSet",
    "Reject",
    "Rejected",
    "SessionChanged",
    "SetReferencePrice",
    "SetSession",
    "Snapshot",
    "Trade",
    "state_hash_of",
]
