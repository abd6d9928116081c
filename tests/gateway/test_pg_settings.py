"""The embedded PostgreSQL runs with the settings the exchange's commit pattern needs."""

import asyncio
import os

import asyncpg
import pytest

from gateway.pg import EMBEDDED_SETTINGS


async def settings(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
                                list(EMBEDDED_SETTINGS))
    finally:
        await conn.close()
    return {row["name"]: row["setting"] for row in rows}


@pytest.mark.e2e
@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="a server of one's own keeps its own settings")
def test_embedded_server_settings(pg_url: str) -> None:
    """No zero-filled WAL segments: writing one stalled a commit for 50-100 ms (docs/PERFORMANCE.md)."""
    assert asyncio.run(settings(pg_url)) == EMBEDDED_SETTINGS
