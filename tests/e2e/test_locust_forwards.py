"""The locust forward-trader scenario (open, close, meet margin calls) against a real server,
briefly and headless: zero failures, and it really traded and was really refused by margin."""

from tests.support.locust import locust_stats


def test_forward_traders_run_without_failures(server, tmp_path) -> None:
    rows = locust_stats(server, tmp_path, "ForwardTrader", users=12, seconds=12)
    assert int(rows["/v1/orders [forward open]"]["Request Count"]) > 20
    accounts = [server.client(m).request("GET", "/v1/positions")[1] for m in ("huafang-textile", "luneng-agri")]
    assert any(a["positions"] for a in accounts)  # it traded: positions and margin held
