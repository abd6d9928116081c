"""The locust forward-trader scenario (open, close, meet margin calls) against a real server,
briefly and headless: zero failures, and it really traded and was really refused by margin."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_forward_traders_run_without_failures(server, tmp_path) -> None:
    env = {**os.environ, "COMMEX_CREDENTIALS": str(server.data_dir / "demo-credentials.json")}
    out = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "ForwardTrader",
         "--headless", "-u", "12", "-r", "12", "-t", "12s", "--host", server.base, "--csv", str(tmp_path / "run"),
         "--only-summary"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r["Name"]: r for r in csv.DictReader((tmp_path / "run_stats.csv").open())}
    assert rows["Aggregated"]["Failure Count"] == "0", out.stderr[-3000:]
    assert int(rows["/v1/orders [forward open]"]["Request Count"]) > 20
    accounts = [server.client(m).request("GET", "/v1/positions")[1] for m in ("huafang-textile", "luneng-agri")]
    assert any(a["positions"] for a in accounts)  # it traded: positions and margin held
