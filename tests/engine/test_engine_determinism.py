"""Determinism: the same commands give byte-identical events; snapshots resume exactly.

Engine only: snapshot restore is the engine's, and the reference book is held to the engine
event for event by the differential test."""

import msgspec
import pytest

from engine import Command, Engine
from tests.engine.command_stream import CommandStream

N = 20_000


@pytest.fixture(scope="module")
def recorded() -> tuple[list, bytes, str]:
    """A seeded stream as applied once: (commands, encoded events, final state hash)."""
    engine, stream, commands, events = Engine(), CommandStream(7), [], []
    for cmd in [*stream.setup(), *stream.commands(N)]:
        out = engine.apply(cmd)
        stream.observe(out)
        commands.append(cmd)
        events.extend(out)
    return commands, msgspec.msgpack.encode(events), engine.state_hash()


def run(commands: list, engine: Engine | None = None) -> tuple[bytes, str]:
    engine = engine or Engine()
    events = [e for cmd in commands for e in engine.apply(cmd)]
    return msgspec.msgpack.encode(events), engine.state_hash()


def test_replay_gives_byte_identical_events(recorded) -> None:
    commands, events, final_hash = recorded
    assert run(commands) == (events, final_hash)


def test_replay_from_an_encoded_journal(recorded) -> None:
    commands, events, final_hash = recorded
    journal = msgspec.msgpack.encode(commands)
    decoded = msgspec.msgpack.decode(journal, type=list[Command])
    assert decoded == commands
    assert run(decoded) == (events, final_hash)


@pytest.mark.parametrize("cut", [3, 1_000, 9_999, 15_000])
def test_snapshot_restore_continue_equals_never_snapshotting(recorded, cut: int) -> None:
    commands, events, final_hash = recorded
    engine = Engine()
    head = [e for cmd in commands[:cut] for e in engine.apply(cmd)]
    snapshot = engine.snapshot()
    restored = Engine.restore(snapshot)
    assert restored.state_hash() == engine.state_hash()
    assert restored.snapshot() == snapshot
    tail = [e for cmd in commands[cut:] for e in restored.apply(cmd)]
    assert msgspec.msgpack.encode(head + tail) == events
    assert restored.state_hash() == final_hash


def test_event_sequence_is_gap_free(recorded) -> None:
    _, events, _ = recorded
    seqs = [e["seq"] for e in msgspec.msgpack.decode(events)]
    assert seqs == list(range(1, len(seqs) + 1))
