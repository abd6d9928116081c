"""``commex`` beside a running server: commands that would write behind its back, or become a
second sequencer, refuse in one line on stderr with exit status 2 and write nothing; and
``--data-dir`` goes before or after the command."""

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.client import Client
from gateway.process import ServerProcess, free_port

OPS = "exchange-ops"


def commex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def assert_refused(out: subprocess.CompletedProcess, command: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"commex {command}: a server is running on this database; ")
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_create_member_refused_while_serving(server: ServerProcess) -> None:
    out = commex(server.env, "--data-dir", str(server.data_dir), "create-member", "late-trader", "--roles", "trader")
    assert_refused(out, "create-member")
    assert out.stdout == ""
    assert "POST /v1/admin/members" in out.stderr
    ops = server.client(OPS)
    status, members = ops.request("GET", "/v1/admin/members")
    assert status == 200 and "late-trader" not in {m["member"] for m in members}
    # the way the message points to: the running server knows the member at once
    status, creds = ops.request("POST", "/v1/admin/members", {"member": "late-trader", "roles": ["trader"]})
    assert status == 201
    assert Client.for_member(server.base, creds).request("GET", "/v1/orders?status=open")[0] == 200


def test_demo_refused_while_serving(server: ServerProcess) -> None:
    out = commex(server.env, "--data-dir", str(server.data_dir), "demo")
    assert_refused(out, "demo")
    assert out.stdout == ""


def test_second_serve_refused(server: ServerProcess) -> None:
    out = commex(server.env, "--data-dir", str(server.data_dir), "serve", "--port", str(free_port()))
    assert_refused(out, "serve")


def test_data_dir_before_or_after_the_command(server: ServerProcess) -> None:
    before = commex(server.env, "--data-dir", str(server.data_dir), "replay")
    after = commex(server.env, "replay", "--data-dir", str(server.data_dir))
    assert before.returncode == after.returncode == 0, (before.stderr, after.stderr)
    assert json.loads(before.stdout)["match"] and json.loads(after.stdout)["match"]


def test_create_member_offline(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    out = commex(env, "create-member", "offline-trader", "--roles", "trader", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["member"] == "offline-trader"
    assert (tmp_path / "master.key").exists()  # the data directory given after the command
    again = commex(env, "--data-dir", str(tmp_path), "create-member", "offline-trader", "--roles", "trader")
    assert again.returncode == 1 and again.stderr.strip() == "member offline-trader exists"
