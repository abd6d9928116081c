"""Running a locust scenario headless against a test's server, as a load tester would."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_locust(server, locustfile: str, *args: str, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.CompletedProcess:
    """``locust -f loadtest/<locustfile> --headless --only-summary`` against ``server`` with the
    demo's credentials (``COMMEX_CREDENTIALS``); ``args`` go on locust's command line."""
    env = {**os.environ, "COMMEX_CREDENTIALS": str(server.data_dir / "demo-credentials.json"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / locustfile), "--headless",
                           "--host", server.base, "--only-summary", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def locust_stats(server, tmp_path: Path, user_class: str, users: int, seconds: int) -> dict[str, dict]:
    """Run ``user_class`` of loadtest/locustfile.py (``users`` at once, for ``seconds``); it must
    exit 0 with no failed request. Return locust's stats rows by name."""
    out = run_locust(server, "locustfile.py", user_class, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                     "--csv", str(tmp_path / "run"), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r["Name"]: r for r in csv.DictReader((tmp_path / "run_stats.csv").open())}
    assert rows["Aggregated"]["Failure Count"] == "0", out.stderr[-3000:]
    return rows
