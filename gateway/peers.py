"""The cluster's other nodes, for the desk: ``COMMEX_PEERS`` lists their base URLs (comma or
space separated, ``http(s)://host[:port]``), read once when the app is created. The desk fetches
them from ``/desk/cluster.json`` and, when its own node is a standby or stops answering, checks
each peer's ``/healthz`` from the browser (so ``/healthz`` allows any origin, and the desk's
Content-Security-Policy lets it connect to the peers)."""

import os
import re
from urllib.parse import urlsplit

_SPLIT = re.compile(r"[\s,]+")


def parse_peers(text: str) -> list[str]:
    """Base URLs, normalised (no trailing slash); ValueError names the first bad one."""
    peers = []
    for item in filter(None, _SPLIT.split(text.strip())):
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
                or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"COMMEX_PEERS: {item!r} is not a base URL like http://10.0.0.2:8080")
        base = f"{parts.scheme}://{parts.netloc}"
        if base not in peers:
            peers.append(base)
    return peers


def peers_from_env() -> list[str]:
    return parse_peers(os.environ.get("COMMEX_PEERS", ""))
