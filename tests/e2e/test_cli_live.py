"""``commex`` beside a running server: ``--data-dir`` goes before or after the command."""

import json
import subprocess
import sys

from gateway.process import ServerProcess


def commex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_data_dir_before_or_after_the_command(server: ServerProcess) -> None:
    before = commex(server.env, "--data-dir", str(server.data_dir), "replay")
    after = commex(server.env, "replay", "--data-dir", str(server.data_dir))
    assert before.returncode == after.returncode == 0, (before.stderr, after.stderr)
    assert json.loads(before.stdout)["match"] and json.loads(after.stdout)["match"]
