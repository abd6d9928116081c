"""The HTTP API: a Sanic app that runs as one process owning the books.

Requests are decoded into ``gateway.wire`` Structs, authenticated by signature, rate-limited
per key, turned into commands and handed to the sequencer; an answer is sent only after the
command's batch is committed. The routes are blueprints, one module per area; errors are
``{"error": {"code", "message"}}`` (``gateway.errors``).
"""

import gc
from pathlib import Path

import asyncpg
from sanic import Sanic

from gateway import (
    admin_api,
    auctions_api,
    clearing_api,
    credit_api,
    delivery_api,
    desk_api,
    disputes_api,
    errors,
    financing_api,
    inbound_api,
    listings_api,
    malloc,
    market_api,
    orders_api,
    positions_api,
    public_api,
    receipts_api,
    session_api,
    warehouse_api,
    ws_api,
)
from gateway.auth import Authenticator, load_master_key
from gateway.feed import Publisher
from gateway.idempotency import Idempotency
from gateway.members import load_keys, load_members
from gateway.middleware import authenticate, failed, refuse_on_standby
from gateway.peers import peers_from_env
from gateway.pg import database_url
from gateway.sequencer import Exchange
from gateway.sessions import Sessions
from gateway.snapshots import GC_FREEZE
from gateway.standby import open_standby

BLUEPRINTS = (orders_api.bp, market_api.bp, receipts_api.bp, clearing_api.bp, financing_api.bp, admin_api.bp,
              public_api.bp, ws_api.bp, warehouse_api.bp, inbound_api.bp,
              disputes_api.bp, credit_api.bp, positions_api.bp, delivery_api.bp, auctions_api.bp,
              listings_api.bp, session_api.bp, desk_api.bp)


async def open_exchange(app: Sanic) -> None:
    """Recover the exchange from its journal; connect the pool, keys, members and the feed."""
    # a standby shares the primary's database: it never stops it
    url = database_url(app.ctx.data_dir, stop=not (app.ctx.keep_db or app.ctx.standby))
    app.ctx.exchange = await (open_standby(url) if app.ctx.standby else Exchange.open(url))
    app.ctx.exchange.on_promote.append(lambda: reload_access(app))
    app.ctx.pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    app.ctx.exchange.read_pool = app.ctx.pool
    app.ctx.auth = Authenticator(load_master_key(app.ctx.data_dir))
    app.ctx.buckets = {}
    app.ctx.sessions = Sessions()
    app.ctx.idempotency = Idempotency(app.ctx.pool)
    await app.ctx.idempotency.prune()
    await load_keys(app.ctx.pool, app.ctx.auth)
    app.ctx.members = await load_members(app.ctx.pool)
    app.ctx.exchange.metrics.queue_length.set_function(app.ctx.exchange.queue_length)
    exchange = app.ctx.exchange
    exchange.metrics.primary.set_function(lambda: exchange.role == "primary")
    exchange.metrics.journal_entry.set_function(lambda: exchange.entry_no)
    exchange.metrics.projection_lag.set_function(lambda: exchange.projector.lag())
    app.ctx.publisher = Publisher(app.ctx.exchange)
    app.ctx.exchange.on_commit.append(app.ctx.publisher.on_commit)
    # Order views are long-lived: move what recovery built out of the collector's sight (the
    # sequencer keeps doing so as they accumulate; see Exchange._commit).
    gc.collect()
    if GC_FREEZE:
        gc.freeze()
    exchange.metrics.watch_gc()


async def reload_access(app: Sanic) -> None:
    """On a standby's takeover: the keys and members created since it started."""
    await load_keys(app.ctx.pool, app.ctx.auth)
    app.ctx.members = await load_members(app.ctx.pool)


async def close_exchange(app: Sanic) -> None:
    """Drain and commit what is queued, then close the pool."""
    app.ctx.exchange.metrics.unwatch_gc()
    await app.ctx.exchange.close()
    await app.ctx.pool.close()


def create_app(data_dir: Path, rate: float = 200.0, burst: float = 400.0, name: str = "commex",
               keep_db: bool = False, standby: bool = False) -> Sanic:
    """The exchange's Sanic app; its state lives in ``app.ctx`` once the server starts. An
    embedded PostgreSQL stops when the app does, unless ``keep_db``; with ``standby``, the hot
    standby of the sequencer that holds the database (gateway/standby.py)."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 256 * 1024  # a cotton receipt carries ~185 bale records
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 5.0
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.data_dir, app.ctx.rate_limit, app.ctx.keep_db = data_dir, (rate, burst), keep_db
    app.ctx.standby = standby
    app.ctx.peers = peers_from_env()  # the desk's other nodes (COMMEX_PEERS)
    app.before_server_start(open_exchange)
    app.before_server_stop(close_exchange)
    app.signal("http.lifecycle.exception")(failed)
    app.on_request(refuse_on_standby)
    app.on_request(authenticate)
    for exceptions, handler in errors.HANDLERS:
        app.exception(*exceptions)(handler)
    app.blueprint(BLUEPRINTS)
    return app


def serve(data_dir: Path, host: str, port: int, rate: float, burst: float, keep_db: bool = False,
          standby: bool = False) -> None:
    """Run the exchange in this process until SIGINT/SIGTERM (then drain and commit); the
    embedded PostgreSQL stops with it unless ``keep_db``; with ``standby``, as the hot standby."""
    malloc.tune()  # large blocks given back when freed: resident memory stays flat over long runs
    app = create_app(data_dir, rate, burst, keep_db=keep_db, standby=standby)

    async def announce(app: Sanic) -> None:
        print(f"commex desk: http://{host}:{port}/  (API explorer: http://{host}:{port}/docs)", flush=True)

    app.after_server_start(announce)
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
