"""The engine against the naive reference book on 200,000 seeded random commands."""

from collections import Counter

import pytest

from engine import Engine, Rejected, Trade
from tests.engine.command_stream import CommandStream
from tests.engine.reference_book import ReferenceBook

COMMANDS = 200_000
CHECK_EVERY = 100


@pytest.mark.slow
@pytest.mark.parametrize("seed", [20261123])
def test_engine_matches_reference_event_for_event(seed: int) -> None:
    engine, ref = Engine(), ReferenceBook()
    stream = CommandStream(seed)
    for cmd in stream.setup():
        assert engine.apply(cmd) == ref.apply(cmd)
    codes: Counter[str] = Counter()
    trades = 0
    for i, cmd in enumerate(stream.commands(COMMANDS), 1):
        got = engine.apply(cmd)
        want = ref.apply(cmd)
        assert got == want, f"command #{i} {cmd!r}"
        stream.observe(got)
        for e in got:
            if isinstance(e, Rejected):
                codes[e.code] += 1
            elif isinstance(e, Trade):
                trades += 1
        if i % CHECK_EVERY == 0:
            assert engine.state_hash() == ref.state_hash(), f"state diverged after command #{i}"
            engine.check()
    # the stream must actually exercise the paths it claims to
    assert trades > 10_000
    for code in ("BAD_TICK", "PRICE_OUT_OF_BAND", "MAX_SIZE", "POST_ONLY_WOULD_TAKE", "FOK_NOT_FILLABLE",
                 "MIN_QTY_NOT_MET", "UNKNOWN_ORDER", "SESSION_HALTED", "NOT_ALLOWED_IN_AUCTION",
                 "INVALID_QUANTITY", "AMEND_QTY_TOO_LOW", "UNKNOWN_INSTRUMENT", "INVALID_ORDER"):
        assert codes[code] > 0, f"stream never produced {code}"
