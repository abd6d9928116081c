"""The sequencer after losing its PostgreSQL session (what a failover does to it): with a
multi-host DATABASE_URL and target_session_attrs=read-write it reconnects, checks that the
journal continues what it acknowledged, and carries on — or stops loudly when it does not."""

import asyncio
import signal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from gateway.demo import CF_NEAR
from gateway.process import ServerProcess, free_port


def multi_host(url: str) -> str:
    """``url`` naming a dead server first, then the real one, writable sessions only (the
    embedded server listens on a Unix socket: ``?host=/dir``; a TCP URL gets a dead port)."""
    parts = urlsplit(url)
    query = dict(q.split("=", 1) for q in parts.query.split("&") if q)
    if "host" in query:
        query["host"] = f"/nonexistent-{free_port()},{query['host']}"
        netloc = parts.netloc
    else:
        auth, _, hostport = parts.netloc.rpartition("@")
        netloc = f"{auth + '@' if auth else ''}127.0.0.1:{free_port()},{hostport}"
    query["target_session_attrs"] = "read-write"
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(f"{k}={v}" for k, v in query.items())))


async def sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


KILL_SEQUENCER = ("SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' "
                  "AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def test_sequencer_reconnects_and_carries_on(database_url, tmp_path) -> None:
    server = ServerProcess(tmp_path / "var", multi_host(database_url))
    server.cli("demo")
    server.start()
    try:
        trader = server.client("huafang-textile")
        status, first = trader.place(CF_NEAR, "buy", 1, "14950", "rc-1")
        assert status == 201
        asyncio.run(sql(database_url, KILL_SEQUENCER))  # the session holding the lock and the writes
        status, second = trader.place(CF_NEAR, "buy", 1, "14950", "rc-2")
        assert status == 201, second
        assert trader.request("GET", f"/v1/orders/{first['order_id']}")[1]["client_order_id"] == "rc-1"
        assert "reconnected: the journal continues" in server.log.read_text()
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert server.cli("replay")  # the journal replays to its checkpoint


def test_sequencer_stops_loudly_when_the_journal_does_not_continue(database_url, tmp_path) -> None:
    server = ServerProcess(tmp_path / "var", multi_host(database_url))
    server.cli("demo")
    server.start()
    trader = server.client("huafang-textile")
    assert trader.place(CF_NEAR, "buy", 1, "14950", "lost-1")[0] == 201

    async def lose_the_last_entry() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(KILL_SEQUENCER)
            await conn.execute("DELETE FROM journal WHERE entry_no = (SELECT max(entry_no) FROM journal)")
        finally:
            await conn.close()

    asyncio.run(lose_the_last_entry())
    try:
        status, body = trader.place(CF_NEAR, "buy", 1, "14950", "lost-2")
    except OSError:
        status = None
    assert status != 201
    assert server.proc.wait(timeout=30) == 70
    server.proc = None
    assert "acknowledged entries were lost" in server.log.read_text()
