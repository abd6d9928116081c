"""``commex`` beside a running server: commands that would become a second sequencer refuse in
one line on stderr with exit status 2; and ``--data-dir`` goes before or after the command."""

import json
import subprocess
import sys

from gateway.process import ServerProcess, free_port


def commex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def assert_refused(out: subprocess.CompletedProcess, command: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"commex {command}: a server is running on this database; ")
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


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
