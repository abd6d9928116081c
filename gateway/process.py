"""Run ``commex serve`` as a child process: for end-to-end tests, benchmarks and load tests."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gateway.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``commex serve`` on a free port, over ``database_url``, with demo data seeded first."""

    def __init__(self, data_dir: Path, database_url: str, rate: float = 10_000, burst: float = 20_000,
                 env: dict[str, str] | None = None, standby: bool = False, name: str = "serve") -> None:
        self.data_dir, self.rate, self.burst, self.standby = data_dir, rate, burst, standby
        self.env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data_dir / f"{name}.log"

    def cli(self, *args: str, check: bool = True) -> str:
        """``commex args`` against this node's data; its output (``check``: it must exit 0)."""
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "--data-dir", str(self.data_dir), *args],
                             env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 or not check, out.stderr
        return out.stdout

    def start(self) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "--data-dir", str(self.data_dir), "serve", "--port",
                 str(self.port), "--rate", str(self.rate), "--burst", str(self.burst),
                 *(["--standby"] if self.standby else [])],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        probe = Client(self.base)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if probe.request("GET", "/healthz")[0] in (200, 503):  # 503: a standby that refuses (up)
                    self._wait_ready(deadline)
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def _wait_ready(self, deadline: float) -> None:
        """Until Sanic has logged "Worker ready": a SIGTERM before that can be lost (Sanic's
        stop flag is consumed by its last start-up step and the server then runs on)."""
        ready = f"Worker ready [{self.proc.pid}]"
        while time.monotonic() < deadline and ready not in self.log.read_text(errors="replace"):
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # leave no server behind a failed test
            self.proc.wait()
            self.proc = None
            raise
        self.proc = None
        return code

    def credentials(self) -> dict[str, dict]:
        data = json.loads((self.data_dir / "demo-credentials.json").read_text())
        return {m["member"]: m for m in data["members"]}

    def client(self, member: str) -> Client:
        return Client.for_member(self.base, self.credentials()[member])
