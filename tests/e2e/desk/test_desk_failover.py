"""High availability on the desk (issue 17): a primary and a hot standby over one database, each
told the other's address by COMMEX_PEERS. Over HTTP: /desk/cluster.json lists the peers, the
desk's Content-Security-Policy lets it reach them, /healthz may be read from another origin. In
the browser: a desk opened on the standby shows the banner (a new sign-in is needed) and offers
the primary; signed in there, when the primary stops the standby takes over and the desk on the
dead node offers the standby."""

import signal

import pytest
from playwright.sync_api import expect

from gateway.client import Client
from gateway.process import ServerProcess
from loadtest.failover import wait_role


@pytest.fixture(scope="module")
def cluster(module_database_url, tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    primary = ServerProcess(var, module_database_url, name="primary")
    standby = ServerProcess(var, module_database_url, standby=True, name="standby")
    primary.env["COMMEX_PEERS"], standby.env["COMMEX_PEERS"] = standby.base, primary.base
    primary.cli("demo")
    primary.start()
    standby.start()
    wait_role(standby, "standby")
    yield primary, standby
    for node in (primary, standby):
        if node.proc is not None:
            node.stop()


@pytest.fixture(scope="module")
def server(cluster):
    return cluster[1]  # the desks open on the standby unless told otherwise


def test_the_cluster_route_the_policy_and_healthz_across_origins(cluster) -> None:
    primary, standby = cluster
    probe = Client(standby.base)
    assert probe.request("GET", "/desk/cluster.json")[1] == {"peers": [primary.base]}
    assert Client(primary.base).request("GET", "/desk/cluster.json")[1] == {"peers": [standby.base]}
    import urllib.request
    with urllib.request.urlopen(standby.base + "/") as resp:
        policy = resp.headers["Content-Security-Policy"]
    assert f"connect-src 'self' {primary.base};" in policy
    with urllib.request.urlopen(primary.base + "/healthz") as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_the_desk_moves_from_the_standby_to_the_primary_and_back_after_a_failover(desk, cluster) -> None:
    primary, standby = cluster
    d = desk("huafang-textile", "en", sign_in=False)
    banner = d.page.get_by_test_id("ha-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("sign in again")
    move = d.page.get_by_test_id("ha-move")
    expect(move).to_have_attribute("data-peer", primary.base)
    move.click()
    d.page.wait_for_url(primary.base + "/**")
    expect(d.page.get_by_test_id("ha-banner")).to_be_hidden()
    d.sign_in()
    expect(d.page.get_by_test_id("nav-trade")).to_be_visible()

    primary.stop(signal.SIGTERM)  # the standby takes over; the desk on the dead node offers it
    wait_role(standby, "ok", limit=10)
    expect(banner).to_be_visible(timeout=20_000)
    expect(d.page.get_by_test_id("ha-move")).to_have_attribute("data-peer", standby.base, timeout=20_000)
