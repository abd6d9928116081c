"""Members and their API keys in PostgreSQL; secrets are derived, never stored."""

import asyncpg

from gateway.auth import ApiKey, Authenticator, new_api_key
from gateway.wire import Credentials


class MemberExists(Exception):
    pass


class UnknownMember(Exception):
    pass


async def load_keys(pool: asyncpg.Pool, auth: Authenticator) -> int:
    """Teach ``auth`` every stored key; return how many."""
    rows = await pool.fetch("SELECT api_key, member, roles FROM api_keys")
    for row in rows:
        auth.add(ApiKey(row["api_key"], row["member"], frozenset(row["roles"])))
    return len(rows)


async def load_members(pool: asyncpg.Pool) -> dict[str, frozenset[str]]:
    """Every member and its roles."""
    return {r["member"]: frozenset(r["roles"]) for r in await pool.fetch("SELECT member, roles FROM members")}


async def create_member(pool: asyncpg.Pool, auth: Authenticator, member: str, roles: list[str]) -> Credentials:
    """Create a member with one API key; return its credentials (the only time the secret is shown)."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT 1 FROM members WHERE member = $1", member):
            raise MemberExists(member)
        await conn.execute("INSERT INTO members (member, roles) VALUES ($1, $2)", member, roles)
        return await _insert_key(conn, auth, member, roles)


async def create_key(pool: asyncpg.Pool, auth: Authenticator, member: str) -> Credentials:
    """Another API key for an existing member, with the member's roles."""
    async with pool.acquire() as conn, conn.transaction():
        roles = await conn.fetchval("SELECT roles FROM members WHERE member = $1", member)
        if roles is None:
            raise UnknownMember(member)
        return await _insert_key(conn, auth, member, list(roles))


async def member_credentials(pool: asyncpg.Pool, auth: Authenticator, member: str) -> Credentials | None:
    """The first key of ``member`` with its (re-derived) secret, or None."""
    row = await pool.fetchrow("SELECT api_key, roles FROM api_keys WHERE member = $1 ORDER BY created_at LIMIT 1",
                              member)
    if row is None:
        return None
    secret = auth.add(ApiKey(row["api_key"], member, frozenset(row["roles"])))
    return Credentials(member=member, roles=list(row["roles"]), api_key=row["api_key"], api_secret=secret)


async def _insert_key(conn: asyncpg.Connection, auth: Authenticator, member: str, roles: list[str]) -> Credentials:
    api_key = new_api_key()
    await conn.execute("INSERT INTO api_keys (api_key, member, roles) VALUES ($1, $2, $3)", api_key, member, roles)
    secret = auth.add(ApiKey(api_key, member, frozenset(roles)))
    return Credentials(member=member, roles=roles, api_key=api_key, api_secret=secret)
