"""Recovery speed: how fast a journal replays (DESIGN §8: ≥ 200,000 commands/s, equal hash).

``python -m loadtest.bench_replay`` records a journal of the exchange-core order mix (the
engine benchmark's stream, as encoded journal entries), then replays it from bytes twice:
into a bare engine, and into the whole exchange state (engine, receipts, clearing, order
views, market information) as a restart does. Prints one JSON line with both rates and
whether each replay reproduced the recorded state hash.
"""

import json
import sys
import time

from exchange.journal import Entry, decode_entry, encode_entry
from exchange.state import ExchangeState
from loadtest.bench_engine import SETUP, exchange_core_mix


def record(n: int) -> tuple[list[bytes], str, str]:
    """Journal entries (encoded) for ``n`` commands, and the engine and full state hashes."""
    stream = exchange_core_mix(n)
    state = ExchangeState()
    entries = []
    for i, command in enumerate([*SETUP, *stream.prefill, *stream.commands], 1):
        entry = Entry(command, f"c{i}" if type(command).__name__ == "NewOrder" else "")
        state.apply(entry, i, i)
        entries.append(encode_entry(entry))
    return entries, state.engine.state_hash(), state.state_hash()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    entries, engine_hash, full_hash = record(n)

    start = time.perf_counter()
    engine = ExchangeState().engine
    for raw in entries:
        engine.apply(decode_entry(raw).command)
    engine_seconds = time.perf_counter() - start

    start = time.perf_counter()
    state = ExchangeState()
    for i, raw in enumerate(entries, 1):
        state.apply(decode_entry(raw), i, i)
    state_seconds = time.perf_counter() - start

    print(json.dumps({
        "commands": len(entries),
        "engine_replay_per_s": round(len(entries) / engine_seconds),
        "state_replay_per_s": round(len(entries) / state_seconds),
        "engine_hash_equal": engine.state_hash() == engine_hash,
        "state_hash_equal": state.state_hash() == full_hash,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
