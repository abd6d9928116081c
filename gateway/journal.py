"""The journal entry: one command as the sequencer applied it, with the gateway context a
replay needs to rebuild the same state."""

import msgspec

from clearing.core import ClearingCommand
from clearing.financing import FinancingCommand
from engine import Command
from warehouse_receipts.registry import ReceiptCommand


class Entry(msgspec.Struct, array_like=True, gc=False):
    """One journaled command. ``client_order_id`` is set for new orders; ``receipt_ids`` names
    the receipts a sell order on a receipt-backed instrument offers (empty: chosen for it)."""

    command: Command | ReceiptCommand | ClearingCommand | FinancingCommand
    client_order_id: str = ""
    receipt_ids: list[str] = []


encode_entry = msgspec.msgpack.Encoder().encode
decode_entry = msgspec.msgpack.Decoder(Entry).decode
