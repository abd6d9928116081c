"""``commex``'s arguments: ``--data-dir`` before or after the command; after wins."""

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
