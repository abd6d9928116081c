"""Public routes, no signature needed: liveness, Prometheus metrics and the OpenAPI document
(its explorer, ``/docs``, is served with the desk: ``gateway/desk_api.py``)."""

from prometheus_client import generate_latest
from sanic import Blueprint, HTTPResponse, Request

from gateway.http import respond
from gateway.openapi import openapi_document
from gateway.wire import Health

bp = Blueprint("public")


@bp.get("/healthz")
async def healthz(request: Request) -> HTTPResponse:
    ex = request.app.ctx.exchange
    status = "ok" if ex.role == "primary" else ex.role
    resp = respond(Health(status=status, entry_no=ex.entry_no, engine_seq=ex.engine.seq,
                          state_hash=ex.state.state_hash(), detail=ex.refusal), 503 if ex.refusal else 200)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # the desk on another node checks it (COMMEX_PEERS)
    return resp


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus text; the book-depth gauges are set as they are read."""
    exchange = request.app.ctx.exchange
    m = exchange.metrics
    for symbol, b in exchange.engine.books.items():
        m.book_depth.labels(symbol, "buy").set(len(b.bids))
        m.book_depth.labels(symbol, "sell").set(len(b.asks))
    return HTTPResponse(generate_latest(m.registry), content_type="text/plain; version=0.0.4")


@bp.get("/openapi.json")
async def openapi(request: Request) -> HTTPResponse:
    return respond(openapi_document())

