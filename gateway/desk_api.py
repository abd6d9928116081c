"""The desk: the browser front end's static files (``gateway/desk/``, shipped in the package),
served at ``/`` and ``/desk/...``, and ``/docs``, the vendored Swagger UI over ``/openapi.json``.
Nothing is fetched from elsewhere at run time; no build step: ES modules served as they are."""

from functools import cache
from pathlib import Path

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from gateway.errors import ApiError

bp = Blueprint("desk")
DESK = Path(__file__).with_name("desk")
TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".json": "application/json",
    ".svg": "image/svg+xml", ".png": "image/png", ".txt": "text/plain; charset=utf-8",
}
# the desk's pages load only what this origin serves (and may read the peers' /healthz); inline
# styles are set by the charting library
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'{peers}; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class Cluster(msgspec.Struct, kw_only=True):
    """The other nodes of the cluster (``COMMEX_PEERS``), for the desk to move to on failover."""

    peers: list[str]


def policy(request: Request) -> str:
    return POLICY.format(peers="".join(" " + p for p in getattr(request.app.ctx, "peers", [])))


@cache
def shipped() -> dict[str, tuple[bytes, str]]:
    """Every servable file under ``gateway/desk/`` by its relative path: (bytes, content type),
    read once. A request names one of these or gets 404, so what a client asks for is never
    touched on disk or kept."""
    return {path.relative_to(DESK).as_posix(): (path.read_bytes(), TYPES[path.suffix])
            for path in sorted(DESK.rglob("*")) if path.is_file() and path.suffix in TYPES}


def asset(relative: str) -> tuple[bytes, str] | None:
    """(bytes, content type) of a file under ``gateway/desk/``, or None (not shipped, unknown kind)."""
    return shipped().get(relative)


def page(request: Request, relative: str, cache_control: str = "no-cache") -> HTTPResponse:
    found = asset(relative)
    if found is None:
        raise ApiError(404, "NOT_FOUND", "no such file")
    body, content_type = found
    return HTTPResponse(body, content_type=content_type, headers={**HEADERS, "Content-Security-Policy": policy(request),
                                                                     "Cache-Control": cache_control})


@bp.get("/")
async def index(request: Request) -> HTTPResponse:
    return page(request, "index.html")


@bp.get("/docs")
async def docs(request: Request) -> HTTPResponse:
    """Swagger UI over /openapi.json (vendored; works offline)."""
    return page(request, "docs.html")


@bp.get("/desk/cluster.json")
async def cluster(request: Request) -> HTTPResponse:
    """The peers the desk may move to when this node is a standby or down (public, like the desk)."""
    return HTTPResponse(msgspec.json.encode(Cluster(peers=request.app.ctx.peers)), content_type="application/json",
                        headers={**HEADERS, "Cache-Control": "no-cache"})


@bp.get("/desk/<path:path>")
async def static(request: Request, path: str) -> HTTPResponse:
    return page(request, path, "public, max-age=3600" if path.startswith("vendor/") else "no-cache")
