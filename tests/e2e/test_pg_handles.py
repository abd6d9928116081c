"""``commex serve`` on its embedded PostgreSQL still stops the database on a clean exit after an
earlier server was killed (SIGKILL) and so never took itself off the package's handle list."""

import json
import os
import signal
from pathlib import Path

from gateway.pg import alive
from gateway.process import ServerProcess


def postmaster_pid(pgdata: Path) -> int | None:
    """The embedded PostgreSQL's postmaster, if it runs."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if alive(pid) else None


def test_clean_stop_after_a_kill_stops_the_embedded_postgres(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "")  # no DATABASE_URL: the embedded server under tmp_path/pg
    try:
        server.start()
        killed = server.proc.pid
        server.stop(signal.SIGKILL)
        server.start()
        assert postmaster_pid(tmp_path / "pg") is not None
        assert killed not in json.loads((tmp_path / "pg" / ".handle_pids.json").read_text())
        assert server.stop() == 0
        assert postmaster_pid(tmp_path / "pg") is None
    finally:
        if server.proc is not None:
            server.stop(signal.SIGKILL)
        leftover = postmaster_pid(tmp_path / "pg")
        if leftover is not None:
            os.kill(leftover, signal.SIGINT)  # PostgreSQL's fast shutdown: leave nothing running
