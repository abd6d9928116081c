"""WebSocket helpers for end-to-end tests."""

import asyncio
import json


async def until(ws, predicate, timeout: float = 10.0) -> dict:
    """Read messages until one satisfies ``predicate``; return it."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message
