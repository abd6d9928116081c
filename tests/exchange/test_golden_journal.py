"""Every golden journal ever written (tests/data/golden-journal-v*.msgpack, one per journal
format) still replays to the state hash recorded with it: this version reads the journals of
every exchange running an older one."""

from pathlib import Path

import msgspec
import pytest

from exchange.journal import decode_entry
from exchange.state import ExchangeState
from tests.data.golden_journal import Golden

GOLDEN = sorted((Path(__file__).parents[1] / "data").glob("golden-journal-v*.msgpack"))


def test_there_is_a_golden_journal() -> None:
    assert GOLDEN, "tests/data has no golden journal"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_a_golden_journal_replays_to_its_recorded_hash(path: Path) -> None:
    golden = msgspec.msgpack.decode(path.read_bytes(), type=Golden)
    state = ExchangeState()
    for entry_no, at_ns, data in golden.rows:
        state.apply(decode_entry(data), entry_no, at_ns)
    state.check()
    assert state.engine.state_hash() == golden.engine_hash
    assert state.state_hash() == golden.state_hash
