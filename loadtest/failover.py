"""Failover drill, sequencer: SIGKILL the primary under signed order load; its hot standby
takes over. Prints one JSON line per run and a summary (takeover time p50 / max).

    python -m loadtest.failover --runs 10
    python -m loadtest.failover --chaos 10     # random kills over a Patroni cluster (chaos)

Each run: concurrent order load (8 threads, each a client given both endpoints) for a while,
SIGKILL the primary, measure kill → first acknowledged order on the standby (the takeover
time), let the load carry on against the new primary, stop it, then check: every acknowledged
order present with its acknowledged state, the state hash equal to an offline replay of the
journal, ledger reconciliation clean. The killed node comes back as the new standby.
The tests (tests/e2e/test_standby.py) run the same drill with fewer runs.
"""

import argparse
import json
import random
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.process import ServerProcess

MEMBERS = ["huafang-textile", "luneng-agri", "xinjiang-cotton-group", "sinofert"]
TERMINAL = {"FILLED", "CANCELED", "EXPIRED"}
SPOT = {"xinjiang-cotton-group": ("CF", 15_000, 5), "sinofert": ("UR", 2_000, 1)}
TAKEOVER_LIMIT = 3.0  # seconds from kill to the standby's first acknowledged order (must-show)
PROBE = "zhongzai-recycling"  # places the probe orders: not in the load, so its funds never run out


class Load:
    """Signed order load from ``threads`` threads, each with a client that knows every endpoint;
    ``acked`` maps client order id → (member, answer, "placed" | "canceled")."""

    def __init__(self, credentials: dict[str, dict], bases: list[str], threads: int = 8, tag: str = "") -> None:
        self.credentials, self.bases, self.tag = credentials, bases, tag
        self.acked: dict[str, tuple] = {}
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(threads)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, worker: int) -> None:
        member = MEMBERS[worker % len(MEMBERS)]
        client = Client.for_member(self.bases, self.credentials[member])
        rng = random.Random(f"{self.tag}-{worker}")
        mine: list[int] = []
        i = 0
        while not self.stopping.is_set():
            try:
                if mine and rng.random() < 0.2:
                    status, body = client.cancel(mine.pop(rng.randrange(len(mine))))
                    if status == 200:
                        self.acked[body["client_order_id"]] = (member, body, "canceled")
                    continue
                coid = f"fo{self.tag}-{worker}-{i}"
                i += 1
                status, body = self._place(client, member, rng, coid)
            except OSError as e:  # no endpoint accepted within the client's failover time
                self.errors.append(repr(e))
                continue
            if status == 201:
                self.acked[coid] = (member, body, "placed")
                if body["status"] in ("NEW", "PARTIALLY_FILLED"):
                    mine.append(body["order_id"])

    @staticmethod
    def _place(client: Client, member: str, rng: random.Random, coid: str) -> tuple[int, dict]:
        if rng.random() < 0.3:  # spot: suppliers sell their receipts, traders buy them (DvP)
            symbol, ref, tick = SPOT[member] if member in SPOT else rng.choice(list(SPOT.values()))
            side = "sell" if member in SPOT else "buy"
            return client.place(symbol, side, rng.randint(1, 2), str(ref + tick * rng.randint(-3, 3)), coid)
        price = 15_000 + 5 * rng.randint(-6, 6)
        return client.place(CF_NEAR, rng.choice(("buy", "sell")), rng.randint(1, 5), str(price), coid)


def first_ack(base: str, creds: dict, coid: str, limit: float) -> float:
    """Place orders on ``base`` until one is acknowledged; return when (monotonic)."""
    client = Client(base, creds["api_key"], creds["api_secret"], failover=0.0)
    deadline = time.monotonic() + limit
    i = 0
    while time.monotonic() < deadline:
        try:
            status, _ = client.place(CF_NEAR, "buy", 1, "14900", f"{coid}-{i}")
            if status == 201:
                return time.monotonic()
        except OSError:
            pass
        i += 1
        time.sleep(0.005)
    raise AssertionError(f"no order acknowledged by {base} within {limit} s")


def check_acked(node: ServerProcess, acked: dict[str, tuple]) -> None:
    """Every acknowledged order is on ``node`` as acknowledged (or further along)."""
    clients = {m: node.client(m) for m in MEMBERS}
    for coid, (member, body, what) in acked.items():
        status, now = clients[member].request("GET", f"/v1/orders/{body['order_id']}")
        assert status == 200, (coid, now)
        assert now["client_order_id"] == body["client_order_id"], (coid, now)
        if what == "canceled":
            assert now["status"] == "CANCELED", (coid, now)
        elif body["status"] in TERMINAL:
            assert (now["status"], now["cum_qty"]) == (body["status"], body["cum_qty"]), (coid, body, now)
        else:
            assert now["cum_qty"] >= body["cum_qty"], (coid, body, now)


def check_replay_and_ledger(node: ServerProcess) -> str:
    """The live state hash equals an offline replay of the journal; reconciliation is clean, memory
    against the record included; the SQL projections equal what the journal projects."""
    probe = Client(node.base)
    for _ in range(5):  # a timer may journal a clock tick between the two reads: read again
        before = probe.request("GET", "/healthz")[1]
        replay = json.loads(node.cli("replay"))
        after = probe.request("GET", "/healthz")[1]
        assert replay["match"], replay
        if before["entry_no"] == after["entry_no"] == replay["entries"]:
            assert replay["state_hash"] == before["state_hash"], (replay, before)
            break
    else:
        raise AssertionError("the journal kept moving; could not compare with a replay")
    status, report = node.client("clearing-desk").request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report.get("breaks")
    assert "memory_equals_record" in report["checks"], "the projections did not reach memory's entry"
    projections = json.loads(node.cli("check-projections", check=False))  # up to the watermark: safe while it serves
    assert projections["agree"], projections["differences"]
    return replay["state_hash"]


def wait_role(node: ServerProcess, role: str, limit: float = 30.0) -> dict:
    probe = Client(node.base, failover=0.0)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            health = probe.request("GET", "/healthz")[1]
            if isinstance(health, dict) and health.get("status") == role:
                return health
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{node.base} is not {role} after {limit} s")


def caught_up(primary: ServerProcess, standby: ServerProcess, limit: float = 30.0) -> None:
    """Wait until the standby has applied what the primary has committed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        p = Client(primary.base).request("GET", "/healthz")[1]
        s = Client(standby.base).request("GET", "/healthz")[1]
        if s["entry_no"] >= p["entry_no"]:
            return
        time.sleep(0.05)
    raise AssertionError("the standby did not catch up")


def drill(work: Path, database_url: str, runs: int, load_seconds: float = 1.5, after_seconds: float = 0.5,
          report=print) -> list[float]:
    """``runs`` failovers between two nodes over ``database_url``; return the takeover times."""
    nodes = [ServerProcess(work, database_url, name="node-a"),
             ServerProcess(work, database_url, standby=True, name="node-b")]
    nodes[0].cli("demo")
    nodes[0].start()
    nodes[1].start()
    takeovers: list[float] = []
    try:
        for run in range(runs):
            primary, standby = nodes[run % 2], nodes[(run + 1) % 2]
            wait_role(standby, "standby")
            creds = primary.credentials()
            with Load(creds, [primary.base, standby.base], tag=str(run)) as load:
                time.sleep(load_seconds)
                killed = time.monotonic()
                primary.stop(signal.SIGKILL)
                acked_at = first_ack(standby.base, creds[PROBE], f"probe{run}", 10.0)
                time.sleep(after_seconds)  # the load carries on against the new primary
            takeover = acked_at - killed
            takeovers.append(takeover)
            assert len(load.acked) > 50, "the load did not get going"
            check_acked(standby, load.acked)
            state_hash = check_replay_and_ledger(standby)
            report(json.dumps({"drill": "sequencer_failover", "run": run + 1, "takeover_s": round(takeover, 3),
                               "acked": len(load.acked), "client_errors": len(load.errors),
                               "state_hash": state_hash}))
            primary.standby = True  # the killed node comes back as the standby
            primary.start()
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop()
    report(json.dumps({"drill": "sequencer_failover", "runs": runs,
                       "takeover_p50_s": round(statistics.median(takeovers), 3),
                       "takeover_max_s": round(max(takeovers), 3), "ceiling_s": TAKEOVER_LIMIT}))
    return takeovers


def db_drill(work: Path, cluster, runs: int = 1, load_seconds: float = 1.5, after_seconds: float = 1.0,
             report=print) -> list[float]:
    """Failover drill, database: a primary and a standby sequencer over ``cluster`` (gateway.cluster);
    SIGKILL the primary PostgreSQL under load, Patroni promotes a synchronous replica; return the
    times from the kill to the first acknowledged order after it. Same checks as ``drill``."""
    url = cluster.url()
    nodes = [ServerProcess(work, url, name="seq-a"), ServerProcess(work, url, standby=True, name="seq-b")]
    nodes[0].cli("demo")
    nodes[0].start()
    nodes[1].start()
    bases = [n.base for n in nodes]
    resumed: list[float] = []
    try:
        for run in range(runs):
            cluster.wait_healthy(timeout=120)
            creds = nodes[0].credentials()
            with Load(creds, bases, tag=f"db{run}") as load:
                time.sleep(load_seconds)
                killed_node = cluster.kill_leader_postgres()
                killed = time.monotonic()
                prober = Client.for_member(bases, creds[PROBE])
                prober.failover = 60.0
                status, _ = prober.place(CF_NEAR, "buy", 1, "14900", f"dbprobe{run}")
                assert status == 201, status
                acked_at = time.monotonic()
                time.sleep(after_seconds)
            resumed.append(acked_at - killed)
            primary = _primary(nodes)
            assert len(load.acked) > 50, "the load did not get going"
            check_acked(primary, load.acked)
            state_hash = check_replay_and_ledger(primary)
            report(json.dumps({"drill": "database_failover", "run": run + 1, "killed": killed_node.name,
                               "new_leader": getattr(cluster.leader(), "name", None),
                               "kill_to_first_ack_s": round(acked_at - killed, 3), "acked": len(load.acked),
                               "client_errors": len(load.errors), "state_hash": state_hash}))
            for node in nodes:  # a sequencer that stopped (it lost the lock to the other) comes back as standby
                if node.proc is not None and node.proc.poll() is not None:
                    node.proc = None
                if node.proc is None:
                    node.standby = True
                    node.start()
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop()
    return resumed


def chaos(work: Path, cluster, rounds: int = 10, seed: int = 1, budget: float = 300.0, report=print) -> dict:
    """Must-show 3: ``rounds`` random kills — the primary sequencer, the standby sequencer or the
    primary PostgreSQL — under load, each followed by the checks (this round's acknowledged orders
    present as acknowledged, hash equals a replay, ledger clean), and every acknowledged order of
    the whole run checked at the end. Stops with an error past ``budget`` seconds."""
    url, rng, started = cluster.url(), random.Random(seed), time.monotonic()
    nodes = [ServerProcess(work, url, name="chaos-a"), ServerProcess(work, url, standby=True, name="chaos-b")]
    nodes[0].cli("demo")
    nodes[0].start()
    nodes[1].start()
    bases = [n.base for n in nodes]
    every: dict[str, tuple] = {}
    kinds: dict[str, list[float]] = {"primary": [], "standby": [], "database": []}
    try:
        for round_no in range(rounds):
            cluster.wait_healthy(timeout=90, replicas=1)
            for node in nodes:  # a sequencer killed (or stopped) last round comes back as the standby
                if node.proc is not None and node.proc.poll() is not None:
                    node.proc = None
                if node.proc is None:
                    node.standby = True
                    node.start()
            primary = _primary(nodes)
            standby = next(n for n in nodes if n is not primary)
            wait_role(standby, "standby")
            kind = rng.choice(tuple(kinds))
            creds = primary.credentials()
            with Load(creds, bases, tag=f"chaos{round_no}") as load:
                time.sleep(1.0)
                killed = time.monotonic()
                if kind == "primary":
                    primary.stop(signal.SIGKILL)
                elif kind == "standby":
                    standby.stop(signal.SIGKILL)
                else:
                    cluster.kill_leader_postgres()
                prober = Client.for_member(bases, creds[PROBE])
                prober.failover = 60.0
                status, _ = prober.place(CF_NEAR, "buy", 1, "14900", f"chaosprobe{round_no}")
                assert status == 201, status
                resumed = time.monotonic() - killed
                time.sleep(0.5)
            kinds[kind].append(resumed)
            every.update(load.acked)
            now = _primary(nodes)
            check_acked(now, load.acked)
            check_replay_and_ledger(now)
            report(json.dumps({"drill": "chaos", "round": round_no + 1, "killed": kind,
                               "kill_to_first_ack_s": round(resumed, 3), "acked": len(load.acked),
                               "elapsed_s": round(time.monotonic() - started, 1)}))
            assert time.monotonic() - started < budget, f"the chaos run exceeded {budget} s"
        check_acked(_primary(nodes), every)
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop()
    summary = {"drill": "chaos", "rounds": rounds, "acked": len(every), "lost": 0, "ledger_breaks": 0,
               "seconds": round(time.monotonic() - started, 1),
               **{f"{k}_kills": len(v) for k, v in kinds.items()},
               **{f"{k}_max_s": round(max(v), 3) for k, v in kinds.items() if v}}
    report(json.dumps(summary))
    return summary


def _primary(nodes: list[ServerProcess]) -> ServerProcess:
    """The node whose /healthz says ok."""
    for node in nodes:
        if node.proc is not None and node.proc.poll() is None:
            health = Client(node.base, failover=0.0).request("GET", "/healthz")[1]
            if health.get("status") == "ok":
                return node
    raise AssertionError("no sequencer is primary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chaos", type=int, metavar="ROUNDS", help="the chaos run over a Patroni cluster instead")
    args = parser.parse_args()
    from gateway.pg import scratch_database

    if args.chaos:
        from gateway.cluster import Cluster

        with tempfile.TemporaryDirectory() as tmp:
            cluster = Cluster(Path(tmp) / "cluster").start(timeout=180)
            try:
                chaos(Path(tmp) / "var", cluster, rounds=args.chaos)
            finally:
                cluster.stop()
        return
    with scratch_database("commex-failover-") as (work, url):
        takeovers = drill(work / "var", url, args.runs)
    if max(takeovers) > TAKEOVER_LIMIT:
        raise SystemExit(f"a takeover took {max(takeovers):.2f} s (> {TAKEOVER_LIMIT} s)")


if __name__ == "__main__":
    main()
