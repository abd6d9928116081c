"""``commex serve`` on its own embedded PostgreSQL: it announces the desk's URL, and stops the
database it used when it exits (``--keep-db`` leaves it running)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.client import Client
from gateway.process import free_port


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_stops_its_embedded_postgres_on_exit(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "--data-dir", str(tmp_path), "serve",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        probe, deadline = Client(f"http://127.0.0.1:{port}"), time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if probe.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert postmaster_running(tmp_path / "pg")
        # Sanic answers requests while its after-start listeners still run, and a SIGINT in that
        # window is lost (its loop.stop() is consumed by the start-up's run_until_complete): wait
        # for the worker to report ready, as a person pressing Ctrl-C would have
        while "Worker ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"commex desk: http://127.0.0.1:{port}/" in log.read_text()
    assert not postmaster_running(tmp_path / "pg")
