"""Failover drill, database (must-show 2): one etcd, three PostgreSQL nodes under Patroni with
synchronous replication, a primary and a standby sequencer; SIGKILL the primary PostgreSQL
under load, Patroni promotes a synchronous replica, the exchange resumes without losing an
acknowledged order. Skipped with the reason where etcd or Patroni is missing; CI=1 fails instead."""

import os

import pytest

from gateway.cluster import Cluster, available
from loadtest.failover import chaos, db_drill


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    why = available()
    if why is not None:
        if os.environ.get("CI", "").lower() in ("1", "true"):  # CI=1 here, CI=true on GitHub
            pytest.fail(f"the database failover drill must run in CI: {why}")
        print(f"skipping the Patroni drills: {why}")
        pytest.skip(why)
    found = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        found.start(timeout=180)
        yield found
    finally:
        found.stop()


def test_database_failover_under_load(cluster, tmp_path) -> None:
    resumed = db_drill(tmp_path / "var", cluster, runs=1)
    assert resumed[0] < 60, resumed


@pytest.mark.slow
@pytest.mark.drill
@pytest.mark.skipif(os.environ.get("COMMEX_DRILLS") != "1", reason="long drill: set COMMEX_DRILLS=1")
def test_chaos_twenty_rounds(cluster, tmp_path) -> None:
    """Must-show 3: twenty random kills (primary sequencer, standby, primary PostgreSQL) under load,
    within five minutes; nothing acknowledged lost, the ledger clean after each."""
    summary = chaos(tmp_path / "var", cluster, rounds=20, budget=300.0)
    assert summary["rounds"] == 20 and summary["database_kills"] >= 3
