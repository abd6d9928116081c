"""A minimal WebSocket client for load generation: one asyncio protocol that performs the
upgrade, sends masked text frames and hands each received text frame's payload to a callback.
Lighter than a full client library, so one process can follow hundreds of feeds."""

import asyncio
import base64
import os
from collections.abc import Callable


def client_frame(payload: bytes) -> bytes:
    """A masked, final text frame, as clients must send (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65_536:
        header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    keys = (mask * (n // 4 + 1))[:n]  # XOR as one big integer: fast enough for a load generator
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
    return header + mask + masked


class FeedReader(asyncio.Protocol):
    """Parses unmasked server frames; text payloads go to ``on_text``."""

    def __init__(self, on_text: Callable[[bytes], None]) -> None:
        self.on_text = on_text
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(bytes(self.buffer[:80]).decode(errors="replace")))
                return
            del self.buffer[: end + 4]
            self.upgraded.set_result(None)
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset: offset + length])
            del buf[: offset + length]
            if opcode == 0x1:
                self.on_text(payload)
            elif opcode == 0x8 and not self.closed.done():
                self.closed.set_result(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(b"")

    def send_text(self, payload: bytes) -> None:
        self.transport.write(client_frame(payload))


async def open_feed(host: str, port: int, path: str, on_text: Callable[[bytes], None]) -> FeedReader:
    """Connect and upgrade; return the protocol once the server has switched protocols."""
    loop = asyncio.get_running_loop()
    _, reader = await loop.create_connection(lambda: FeedReader(on_text), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    reader.transport.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                           .encode())
    await reader.upgraded
    return reader
