"""The ``commex`` command line: serve, demo, replay, check-projections and admin tasks.

Every command takes ``--data-dir`` (default ``./var``): the embedded PostgreSQL (unless
``DATABASE_URL`` is set), the master key and the demo credentials live there.
"""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from gateway.auth import ROLES, Authenticator, load_master_key
from gateway.demo import seed
from gateway.members import MemberExists, create_member
from gateway.pg import NoDatabase, database_url, existing_database_url, migrate
from gateway.projection_check import projections_disagree
from gateway.sequencer import AlreadyRunning, RecoveryError, rebuild, take_sequencer_lock

# what to do instead, when a command finds a server running on its database
INSTEAD = {
    "demo": "stop it first, then seed (the demo seeds offline, as the database's sequencer)",
    "create-member": "create members through it (POST /v1/admin/members, as an operator) or stop it first",
}


def progress(done: int, total: int) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def replay_database(data_dir: Path, from_snapshot: bool = False) -> dict:
    """Replay the journal offline into a fresh state (or, ``from_snapshot``, into the latest
    snapshot that verifies); the checkpoint hash is verified on the way. ``match``: no checkpoint
    disagreed; ``checkpoint_verified``: one was there to agree (a journal too short for its first
    checkpoint, or a snapshot with none after it, has nothing to check)."""
    conn = await asyncpg.connect(existing_database_url(data_dir))
    try:
        await migrate(conn)
        try:
            state, entries, checked, _, snapshot = await rebuild(conn, progress, from_snapshot=from_snapshot)
        except RecoveryError as e:
            return {"match": False, "error": str(e)}
        return {"entries": entries, "state_hash": state.state_hash(), "checkpoint_state_hash": checked,
                "snapshot_entry": snapshot, "match": True, "checkpoint_verified": checked is not None}
    finally:
        await conn.close()


async def check_projections(data_dir: Path) -> list[str]:
    """How the SQL projections differ from the journal's (empty: they agree)."""
    conn = await asyncpg.connect(existing_database_url(data_dir))
    try:
        await migrate(conn)
        return await projections_disagree(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def sequencer_lock(url: str) -> AsyncIterator[None]:
    """Hold the sequencer's lock, so that no server runs on the database meanwhile (a running one
    would not see what an offline command writes); ``AlreadyRunning`` if one does."""
    conn = await asyncpg.connect(url)
    try:
        if not await take_sequencer_lock(conn):
            raise AlreadyRunning("another sequencer holds this database")
        yield
    finally:
        await conn.close()  # lets go of the lock


async def add_member(data_dir: Path, member: str, roles: list[str]) -> dict:
    """Create a member offline: ``AlreadyRunning``, with nothing written, while a server runs."""
    url = database_url(data_dir)
    async with sequencer_lock(url):
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            creds = await create_member(pool, Authenticator(load_master_key(data_dir)), member, roles)
        finally:
            await pool.close()
    return {"member": creds.member, "roles": creds.roles, "api_key": creds.api_key, "api_secret": creds.api_secret}


def sign_in_table(members: list[dict]) -> str:
    """The demo's sign-in keys, one member a line, for the desk's sign-in form."""
    lines = ["desk sign-in keys (demo only):", f"  {'member':<24}{'roles':<12}{'api key':<30}api secret"]
    for m in members:
        lines.append(f"  {m['member']:<24}{','.join(m['roles']):<12}{m['api_key']:<30}{m['api_secret']}")
    return "\n".join(lines)


def quiet_already_running() -> None:
    """Keep Sanic from logging ``AlreadyRunning``'s traceback: ``main`` says it in one line."""
    logging.getLogger("sanic.error").addFilter(
        lambda record: not (record.exc_info and isinstance(record.exc_info[1], AlreadyRunning)))


def log_exchange_events() -> None:
    """The exchange's own INFO lines to stderr beside Sanic's: start-up recovery (from which
    snapshot, how many entries replayed), snapshots written, projector catch-ups, standby."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                                           "%Y-%m-%d %H:%M:%S %z"))
    logger = logging.getLogger("commex")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False


def build_parser() -> argparse.ArgumentParser:
    """``commex``'s arguments; ``--data-dir`` goes before or after the command (after wins)."""
    data_dir_help = "embedded database, keys (default ./var)"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
    parser = argparse.ArgumentParser(prog="commex", description="Bulk-commodity exchange.")
    parser.add_argument("--data-dir", type=Path, default=Path("var"), help=data_dir_help)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", parents=[common], help="run the exchange (HTTP API) until SIGTERM")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8080)
    p_serve.add_argument("--rate", type=float, default=200.0, help="requests per second per API key")
    p_serve.add_argument("--burst", type=float, default=400.0, help="token-bucket burst per API key")
    p_serve.add_argument("--keep-db", action="store_true",
                         help="leave the embedded PostgreSQL running after exit (default: stop it)")
    p_serve.add_argument("--standby", action="store_true",
                         help="hot standby: follow the journal, refuse commands, take over when the primary stops")
    p_cluster = sub.add_parser("cluster", parents=[common],
                               help="on loopback: etcd, 3 PostgreSQL under Patroni (synchronous), "
                                    "a primary and a standby sequencer, until SIGTERM")
    p_cluster.add_argument("--ports", default="8080,8081", help="the two sequencers' HTTP ports")
    sub.add_parser("demo", parents=[common],
                   help="seed instruments, members of every role and a few orders (idempotent)")
    p_replay = sub.add_parser("replay", parents=[common], help="replay the journal offline and print the state hash")
    p_replay.add_argument("--from-snapshot", action="store_true",
                          help="start from the latest snapshot that verifies and replay only the journal after it")
    sub.add_parser("check-projections", parents=[common],
                   help="compare the SQL projections with what the journal projects "
                        "up to the projection watermark (safe while serving)")
    p_member = sub.add_parser("create-member", parents=[common], help="create a member and print its credentials "
                                                                      "(offline: not while a server runs)")
    p_member.add_argument("member")
    p_member.add_argument("--roles", required=True, help=f"comma-separated, of: {', '.join(ROLES)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``commex`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(parser, args, args.data_dir.resolve())
    except AlreadyRunning:
        instead = INSTEAD.get(args.command, "stop it first")
        print(f"commex {args.command}: a server is running on this database; {instead}", file=sys.stderr)
        return 2
    except NoDatabase as e:
        print(f"commex {args.command}: {e}", file=sys.stderr)
        return 2


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, data_dir: Path) -> int:
    """Run the parsed command; its exit status."""
    if args.command == "serve":
        from gateway.app import serve  # Sanic is imported only when serving

        quiet_already_running()
        log_exchange_events()
        serve(data_dir, args.host, args.port, args.rate, args.burst, keep_db=args.keep_db, standby=args.standby)
        return 0
    if args.command == "cluster":
        from gateway.cluster_cli import run_cluster

        return run_cluster(data_dir, [int(p) for p in args.ports.split(",")])
    if args.command == "demo":
        path = asyncio.run(seed(data_dir))
        print(f"demo data ready; credentials in {path}")
        print(sign_in_table(json.loads(path.read_text())["members"]))
        return 0
    if args.command == "replay":
        report = asyncio.run(replay_database(data_dir, args.from_snapshot))
        print(json.dumps(report))
        return 0 if report["match"] else 1
    if args.command == "check-projections":
        differences = asyncio.run(check_projections(data_dir))
        print(json.dumps({"agree": not differences, "differences": differences}))
        return 0 if not differences else 1
    if args.command == "create-member":
        roles = [r.strip() for r in args.roles.split(",") if r.strip()]
        if not roles or set(roles) - set(ROLES):
            parser.error(f"roles must be among {', '.join(ROLES)}")
        try:
            print(json.dumps(asyncio.run(add_member(data_dir, args.member, roles))))
        except MemberExists:
            print(f"member {args.member} exists", file=sys.stderr)
            return 1
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
