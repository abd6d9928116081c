"""The journal entry: one engine command as the sequencer applied it, with the gateway
context a replay needs to rebuild the same order views."""

import msgspec

from engine import Command


class Entry(msgspec.Struct, array_like=True, gc=False):
    """One journaled command. ``client_order_id`` is set for new orders."""

    command: Command
    client_order_id: str = ""


encode_entry = msgspec.msgpack.Encoder().encode
decode_entry = msgspec.msgpack.Decoder(Entry).decode
