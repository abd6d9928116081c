"""COMMEX_PEERS, the desk's list of the cluster's other nodes: parsed to base URLs, bad ones refused."""

import pytest

from gateway.peers import parse_peers


def test_peers_are_base_urls_normalised_and_deduplicated() -> None:
    assert parse_peers("") == []
    assert parse_peers(" http://10.0.0.2:8080/, https://b.example  http://10.0.0.2:8080") == [
        "http://10.0.0.2:8080", "https://b.example"]


@pytest.mark.parametrize("bad", ["10.0.0.2:8080", "ftp://a", "http://a/desk", "http://a/?x=1", "http://u:p@a",
                                 "javascript:alert(1)", "http://"])
def test_anything_but_a_base_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="COMMEX_PEERS"):
        parse_peers(bad)
