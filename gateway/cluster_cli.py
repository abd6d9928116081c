"""``commex cluster``: the whole high-availability shape on one machine, until SIGINT/SIGTERM:
one etcd, three PostgreSQL nodes under Patroni (synchronous replication), and two sequencers
over them (``commex serve`` and ``commex serve --standby``), seeded with the demo data."""

import json
import signal
import sys
import threading
from pathlib import Path

from gateway.cluster import Cluster, available
from gateway.process import ServerProcess


def run_cluster(data_dir: Path, ports: list[int]) -> int:
    why = available()
    if why is not None:
        print(f"commex cluster cannot run here: {why}", file=sys.stderr)
        return 1
    cluster = Cluster(data_dir / "cluster")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    nodes: list[ServerProcess] = []
    try:
        cluster.start(timeout=180)
        url = cluster.url()
        for i, port in enumerate(ports[:2]):
            node = ServerProcess(data_dir, url, standby=i > 0, name=f"sequencer-{i}", rate=200, burst=400)
            node.port, node.base = port, f"http://127.0.0.1:{port}"
            if i == 0:
                node.cli("demo")
            nodes.append(node.start())
        print(json.dumps({"database_url": url, "endpoints": [n.base for n in nodes],
                          "patroni": [f"http://127.0.0.1:{n.api_port}/cluster" for n in cluster.nodes],
                          "credentials": str(data_dir / "demo-credentials.json")}), flush=True)
        stop.wait()
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop()
        cluster.stop()
    return 0
