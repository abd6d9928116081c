"""``commex``'s arguments: ``--data-dir`` before or after the command; after wins; a command that
reads a record refuses a data directory that has none."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser


@pytest.mark.parametrize(("argv", "data_dir"), [
    (["replay"], Path("var")),
    (["--data-dir", "a", "replay"], Path("a")),
    (["replay", "--data-dir", "b"], Path("b")),
    (["--data-dir", "a", "replay", "--data-dir", "b"], Path("b")),
    (["create-member", "m", "--roles", "trader", "--data-dir", "c"], Path("c")),
    (["serve", "--data-dir", "d", "--port", "1"], Path("d")),
])
def test_data_dir_anywhere(argv: list[str], data_dir: Path) -> None:
    assert build_parser().parse_args(argv).data_dir == data_dir


@pytest.mark.parametrize("command", ["replay", "check-projections"])
def test_a_data_dir_without_a_database_is_refused_not_created(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    typo = tmp_path / "vra"
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "--data-dir", str(typo), command],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.startswith(f"commex {command}: no exchange database in {typo}") and out.stderr.count("\n") == 1
    assert not (typo / "pg").exists()  # no new empty database (nor a server left running on it)
