"""Snapshot of the whole engine and the state hash derived from it.

The snapshot lists instruments by symbol and orders book by book (bids best first, then
asks best first, each level in queue order), so equal states encode to equal bytes and a
restore re-queues every order exactly where it stood.
"""

import hashlib

import msgspec

from engine.state import Instrument, Order


class Snapshot(msgspec.Struct, kw_only=True):
    """Everything needed to continue matching exactly where the engine stood."""

    seq: int
    next_order_id: int
    next_trade_id: int
    instruments: list[Instrument]
    orders: list[Order]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """msgpack bytes of ``snapshot``."""
    return _encoder.encode(snapshot)


def decode_snapshot(data: bytes) -> Snapshot:
    """The ``Snapshot`` encoded in ``data``."""
    return _decoder.decode(data)


def state_hash_of(snapshot_bytes: bytes) -> str:
    """The state hash: a BLAKE2b-128 hex digest of canonical snapshot bytes."""
    return hashlib.blake2b(snapshot_bytes, digest_size=16).hexdigest()
