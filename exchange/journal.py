"""The journal entry: one command as the sequencer applied it, with the context a replay needs
to rebuild the same state. The entry's time is not in it: it is the batch time the sequencer
stamped, stored beside the entry in the journal row.

``format`` versions the schema. Format 1 is the first versioned one; a row written before the
field existed has the same layout and reads as format 1. A reader refuses an entry of a format
newer than it knows rather than guessing (``decode_entry`` raises ``UnknownFormat``).
"""

import msgspec

from clearing.core import ClearingCommand
from clearing.delivery import DeliveryCommand
from clearing.disputes import DisputeCommand
from clearing.financing import FinancingCommand
from clearing.inbound import InboundCommand
from clearing.supply import SupplyCommand
from clearing.warehousing import SetTariff
from engine import Command
from exchange.calendar import SetHolidays
from exchange.catalogue import SetInstrument
from exchange.clock import ClockTick, ScheduleSession
from warehouse_receipts.registry import ReceiptCommand
from warehouse_receipts.warehouse import WarehouseCommand

FORMAT = 1


class UnknownFormat(ValueError):
    """The journal was written by a newer version of the exchange."""


class Entry(msgspec.Struct, array_like=True, gc=False):
    """One journaled command. ``client_order_id`` is set for new orders; ``receipt_ids`` names
    the receipts a sell order on a receipt-backed instrument offers (empty: chosen for it)."""

    command: (Command | ReceiptCommand | ClearingCommand | FinancingCommand | SetInstrument | ScheduleSession
              | ClockTick | SetHolidays | WarehouseCommand | SetTariff | InboundCommand | DisputeCommand
              | DeliveryCommand | SupplyCommand)
    client_order_id: str = ""
    receipt_ids: list[str] = []
    format: int = FORMAT


encode_entry = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Entry).decode


def decode_entry(data: bytes) -> Entry:
    """The entry in ``data``; raises ``UnknownFormat`` for a format this version cannot read."""
    entry = _decode(data)
    if entry.format > FORMAT:
        raise UnknownFormat(f"journal entry format {entry.format}; this version reads up to {FORMAT}")
    return entry
