"""The ``commex`` command line: ``replay`` works today; ``serve`` and ``demo`` arrive with the
gateway."""

import argparse
import sys

import msgspec

from engine import Engine
from engine.commands import Command


def replay(path: str) -> str:
    """Apply a msgpack journal file (one encoded list of commands) and return the state hash."""
    with open(path, "rb") as f:
        commands = msgspec.msgpack.decode(f.read(), type=list[Command])
    engine = Engine()
    for command in commands:
        engine.apply(command)
    return engine.state_hash()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``commex`` console script."""
    parser = argparse.ArgumentParser(prog="commex", description="Bulk-commodity exchange.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the exchange (HTTP + WebSocket)")
    sub.add_parser("demo", help="seed demo instruments, members and orders")
    p_replay = sub.add_parser("replay", help="replay a command journal and print the state hash")
    p_replay.add_argument("journal")
    args = parser.parse_args(argv)
    if args.command == "replay":
        print(replay(args.journal))
        return 0
    print(f"commex {args.command}: not yet — the gateway (HTTP server, PostgreSQL journal) is the next issue.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
