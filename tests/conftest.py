"""Fixtures: a real PostgreSQL for the whole session (``DATABASE_URL`` if set, otherwise an
embedded server in a temporary directory), a fresh database per test that needs one, and a
running server per module. Only tests that request them start PostgreSQL; such tests must be
marked ``e2e`` (tests/e2e/ marks its own), which the collection hook below enforces, so that
``pytest -m "not e2e"`` never starts a server."""

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.pg import database_url as server_url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return server_url(tmp_path_factory.mktemp("pg"), keep=False)


def fresh_database(pg_url: str) -> Iterator[str]:
    """Create a new, empty database; drop it afterwards."""
    name = f"commex_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield with_database(pg_url, name)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(pg_url: str) -> Iterator[str]:
    """A new, empty database for one test."""
    yield from fresh_database(pg_url)


@pytest.fixture(scope="module")
def module_database_url(pg_url: str) -> Iterator[str]:
    """A new, empty database shared by one test module."""
    yield from fresh_database(pg_url)


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A running ``commex serve`` with demo data, for one test module."""
    from gateway.process import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("var"), module_database_url)
    proc.cli("demo")
    proc.start()
    yield proc
    if proc.proc is not None:
        proc.stop()


@pytest.hookimpl(trylast=True)  # after ``-m`` has deselected: what is left must not need PostgreSQL unless marked
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items
                if "pg_url" in getattr(item, "fixturenames", ()) and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError("tests that need PostgreSQL must be marked e2e (or live in tests/e2e/): "
                                + ", ".join(unmarked))
