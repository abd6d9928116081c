"""The HTTP API: a Sanic app that runs as one process owning the books.

Requests are decoded into ``gateway.wire`` Structs, authenticated by signature, rate-limited
per key, turned into engine commands and handed to the sequencer; an answer is sent only
after the command's batch is committed. Errors are ``{"error": {"code", "message"}}``.
"""

import gc
from pathlib import Path

import asyncpg
from prometheus_client import generate_latest
from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException

from engine import AddInstrument, AmendOrder, CancelOrder, MassCancel, NewOrder, Rejected, SetSession
from exchange.journal import Entry
from exchange.views import TERMINAL, OrderRecord
from gateway.auth import Authenticator, AuthError, TokenBucket, load_master_key
from gateway.clearing_api import add_clearing_routes
from gateway.feed import Publisher
from gateway.financing_api import add_financing_routes
from gateway.http import ApiError, decode, error, fen, require, respond
from gateway.market_api import add_market_routes
from gateway.members import MemberExists, UnknownMember, create_key, create_member, load_keys, load_members
from gateway.openapi import docs_page, openapi_document
from gateway.pg import database_url
from gateway.prices import to_yuan
from gateway.receipts_api import add_receipt_routes
from gateway.sequencer import Exchange, ShuttingDown, StatusUnknown
from gateway.wire import (
    AmendRequest,
    BookView,
    CancelAllRequest,
    CancelAllResponse,
    Health,
    InstrumentRequest,
    InstrumentView,
    MemberRequest,
    OrderRequest,
    SessionRequest,
    TradeView,
    fill_view,
    order_view,
)
from gateway.ws_api import add_ws_routes

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json", "/docs", "/v1/ws"})
PUBLIC_PREFIXES = ("/v1/market/",)
TRADING_ROLES = ("trader", "supplier")

# engine reject code -> HTTP status (anything else on an order is 422)
REJECT_STATUS = {"UNKNOWN_ORDER": 409, "SESSION_CLOSED": 409, "SESSION_HALTED": 409, "UNKNOWN_INSTRUMENT": 404,
                 "DUPLICATE_INSTRUMENT": 409, "INVALID_SESSION_TRANSITION": 409}


def rejected(result_events: list, default_status: int = 422) -> ApiError | None:
    for e in result_events:
        if isinstance(e, Rejected):
            return ApiError(REJECT_STATUS.get(e.code, default_status), e.code, f"rejected by the exchange: {e.code}")
    return None


def create_app(data_dir: Path, rate: float = 200.0, burst: float = 400.0, name: str = "commex") -> Sanic:
    """The exchange's Sanic app; state lives in ``app.ctx`` once the server starts."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 256 * 1024  # a cotton receipt carries ~185 bale records
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 5.0
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.FALLBACK_ERROR_FORMAT = "json"

    @app.before_server_start
    async def start(app: Sanic) -> None:
        url = database_url(data_dir)
        app.ctx.exchange = await Exchange.open(url)
        app.ctx.pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        app.ctx.auth = Authenticator(load_master_key(data_dir))
        app.ctx.buckets = {}
        await load_keys(app.ctx.pool, app.ctx.auth)
        app.ctx.members = await load_members(app.ctx.pool)
        metrics = app.ctx.exchange.metrics
        metrics.queue_length.set_function(app.ctx.exchange.queue_length)
        app.ctx.publisher = Publisher(app.ctx.exchange)
        app.ctx.exchange.on_commit.append(app.ctx.publisher.on_commit)
        # Order views are long-lived: move what recovery built out of the collector's sight (the
        # sequencer keeps doing so as they accumulate; see Exchange._commit).
        gc.collect()
        gc.freeze()

    @app.before_server_stop
    async def stop(app: Sanic) -> None:
        await app.ctx.exchange.close()
        await app.ctx.pool.close()

    @app.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
            return None
        path = request.path + ("?" + request.query_string if request.query_string else "")
        h = request.headers
        key = app.ctx.auth.verify(h.get("x-api-key"), h.get("x-timestamp"), h.get("x-signature"), request.method,
                                  path, request.body or b"")
        bucket = app.ctx.buckets.get(key.api_key)
        if bucket is None:
            bucket = app.ctx.buckets[key.api_key] = TokenBucket(rate, burst)
        wait = bucket.take()
        if wait:
            return error(429, "RATE_LIMITED", "too many requests", {"Retry-After": str(max(1, round(wait + 0.5)))})
        request.ctx.key = key
        return None

    @app.exception(ApiError, AuthError)
    async def api_error(request: Request, exc: ApiError) -> HTTPResponse:
        return error(exc.status, exc.code, exc.message)

    @app.exception(ShuttingDown)
    async def shutting_down(request: Request, exc: Exception) -> HTTPResponse:
        return error(503, "SHUTTING_DOWN", "the exchange is closing; nothing was done")

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        code = type(exc).__name__.replace("Error", "")
        code = "".join("_" + c if c.isupper() else c for c in code).strip("_").upper() or "ERROR"
        return error(exc.status_code, code, str(exc))

    @app.exception(StatusUnknown, Exception)
    async def unknown(request: Request, exc: Exception) -> HTTPResponse:
        return error(500, "STATUS_UNKNOWN", "status unknown: query by client_order_id")

    async def submit(entry: Entry):
        return await app.ctx.exchange.submit(entry)

    def views():
        return app.ctx.exchange.views

    def own_order(request: Request, order_id: int) -> OrderRecord:
        view = views().lookup(request.ctx.key.member, order_id)
        if view is None:
            raise ApiError(404, "ORDER_NOT_FOUND", f"no order {order_id}")
        return view

    # ------------------------------------------------------------------ orders

    @app.post("/v1/orders")
    async def new_order(request: Request) -> HTTPResponse:
        key = require(request, *TRADING_ROLES)
        req: OrderRequest = decode(request, OrderRequest)
        metrics = app.ctx.exchange.metrics
        first = views().by_client.get((key.member, req.client_order_id))
        if first is None:
            price = fen(req.price, "price") if req.type == "limit" else 0
            cmd = NewOrder(member=key.member, symbol=req.symbol, side=req.side, quantity=req.quantity, price=price,
                           order_type=req.type, tif=req.time_in_force, post_only=req.post_only,
                           display_quantity=req.display_quantity, min_quantity=req.min_quantity, stp=req.stp)
            result = await submit(Entry(cmd, req.client_order_id, req.receipt_ids))
            first = result.view
            if not result.duplicate:
                metrics.orders.labels("rejected" if first.status == "REJECTED" else "accepted").inc()
        if first.status == "REJECTED":
            code = first.reject_code or "REJECTED"
            return error(REJECT_STATUS.get(code, 422), code, f"order rejected: {code}")
        return respond(order_view(first), 201)

    @app.get("/v1/orders/<order_id:int>")
    async def get_order(request: Request, order_id: int) -> HTTPResponse:
        return respond(order_view(own_order(request, order_id)))

    @app.get("/v1/orders")
    async def list_orders(request: Request) -> HTTPResponse:
        member = request.ctx.key.member
        status = request.args.get("status", "open")
        if status == "open":
            return respond([order_view(o) for o in views().open_orders(member)])
        if status == "all":
            v = views()
            return respond([order_view(o) for oid, o in v.by_id.items() if v.owner[oid] == member])
        raise ApiError(400, "INVALID_REQUEST", "status must be open or all")

    @app.delete("/v1/orders/<order_id:int>")
    async def cancel_order(request: Request, order_id: int) -> HTTPResponse:
        key = require(request, *TRADING_ROLES)
        view = own_order(request, order_id)
        if view.status in TERMINAL:
            raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
        result = await submit(Entry(CancelOrder(key.member, order_id)))
        if (err := rejected(result.events)) is not None:
            raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}") if err.code == "UNKNOWN_ORDER" \
                else err
        return respond(order_view(view))

    @app.patch("/v1/orders/<order_id:int>")
    async def amend_order(request: Request, order_id: int) -> HTTPResponse:
        key = require(request, *TRADING_ROLES)
        req: AmendRequest = decode(request, AmendRequest)
        if req.price is None and req.quantity is None:
            raise ApiError(400, "INVALID_REQUEST", "give price and/or quantity")
        if req.quantity == 0:
            raise ApiError(400, "INVALID_QUANTITY", "quantity must be positive")
        view = own_order(request, order_id)
        if view.status in TERMINAL:
            raise ApiError(409, "ORDER_NOT_OPEN", f"order {order_id} is {view.status}")
        price = fen(req.price, "price") if req.price is not None else 0
        if req.price is not None and price <= 0:
            raise ApiError(400, "INVALID_PRICE", "price must be positive")
        cmd = AmendOrder(member=key.member, order_id=order_id, price=price, quantity=req.quantity or 0)
        result = await submit(Entry(cmd))
        if (refused := result.rejection) is not None:
            raise ApiError(422, refused.code, refused.message)
        if (err := rejected(result.events)) is not None:
            raise err
        return respond(order_view(view))

    @app.post("/v1/orders/cancel-all")
    async def cancel_all(request: Request) -> HTTPResponse:
        key = require(request, *TRADING_ROLES)
        req: CancelAllRequest = decode(request, CancelAllRequest)
        result = await submit(Entry(MassCancel(member=key.member, symbol=req.symbol or "")))
        if (err := rejected(result.events)) is not None:
            raise err
        summary = result.events[-1]
        return respond(CancelAllResponse(canceled=summary.count, seq=summary.seq))

    @app.get("/v1/fills")
    async def fills(request: Request) -> HTTPResponse:
        limit = min(int(request.args.get("limit", "500")), 5_000)
        return respond([fill_view(f) for f in views().fills.get(request.ctx.key.member, [])[-limit:]])

    # ------------------------------------------------------------------ market

    def instrument_view(inst) -> InstrumentView:
        return InstrumentView(symbol=inst.symbol, tick=to_yuan(inst.tick), lot_size=inst.lot_size,
                              ref_price=to_yuan(inst.ref_price), band_bps=inst.band_bps,
                              lower_limit=to_yuan(inst.lower), upper_limit=to_yuan(min(inst.upper, 10**15)),
                              max_limit_qty=inst.max_limit_qty, max_market_qty=inst.max_market_qty,
                              protection_ticks=inst.protection_ticks, session=inst.session)

    @app.get("/v1/instruments")
    async def instruments(request: Request) -> HTTPResponse:
        return respond([instrument_view(i) for i in app.ctx.exchange.engine.instruments.values()])

    @app.get("/v1/book/<symbol>")
    async def book(request: Request, symbol: str) -> HTTPResponse:
        """The published book: exactly what the WebSocket feed announced up to ``seq``, after
        publishing whatever was committed since the last flush (so an acked order shows)."""
        if symbol not in app.ctx.exchange.engine.books:
            raise ApiError(404, "UNKNOWN_INSTRUMENT", f"no instrument {symbol}")
        try:
            depth = max(1, min(int(request.args.get("depth", "20")), 500))
        except ValueError:
            raise ApiError(400, "INVALID_REQUEST", "depth must be an integer") from None
        app.ctx.publisher.flush()  # include everything committed (and announce it to the feed too)
        seq, bids, asks = app.ctx.publisher.book_view(symbol, depth)
        return respond(BookView(symbol=symbol, seq=seq, bids=bids, asks=asks))

    @app.get("/v1/trades/<symbol>")
    async def trades(request: Request, symbol: str) -> HTTPResponse:
        if symbol not in app.ctx.exchange.engine.books:
            raise ApiError(404, "UNKNOWN_INSTRUMENT", f"no instrument {symbol}")
        limit = max(1, min(int(request.args.get("limit", "1000")), 5_000))
        prints = app.ctx.exchange.state.market.prints.get(symbol, [])[-limit:]
        return respond([TradeView(trade_id=p.trade_id, symbol=symbol, price=to_yuan(p.price), quantity=p.quantity,
                                  aggressor=p.aggressor, seq=p.seq) for p in prints])

    # ------------------------------------------------------------------ operator

    @app.post("/v1/admin/instruments")
    async def add_instrument(request: Request) -> HTTPResponse:
        require(request, "operator")
        req: InstrumentRequest = decode(request, InstrumentRequest)
        cmd = AddInstrument(symbol=req.symbol, tick=fen(req.tick, "tick"), lot_size=req.lot_size,
                            ref_price=fen(req.ref_price, "ref_price"), band_bps=req.band_bps,
                            max_limit_qty=req.max_limit_qty, max_market_qty=req.max_market_qty,
                            protection_ticks=req.protection_ticks)
        result = await submit(Entry(cmd))
        if (err := rejected(result.events)) is not None:
            raise err
        return respond(instrument_view(app.ctx.exchange.engine.instruments[req.symbol]), 201)

    @app.post("/v1/admin/instruments/<symbol>/session")
    async def set_session(request: Request, symbol: str) -> HTTPResponse:
        require(request, "operator")
        req: SessionRequest = decode(request, SessionRequest)
        result = await submit(Entry(SetSession(symbol, req.state)))
        if (err := rejected(result.events)) is not None:
            raise err
        return respond(instrument_view(app.ctx.exchange.engine.instruments[symbol]))

    @app.post("/v1/admin/members")
    async def add_member(request: Request) -> HTTPResponse:
        require(request, "operator")
        req: MemberRequest = decode(request, MemberRequest)
        try:
            creds = await create_member(app.ctx.pool, app.ctx.auth, req.member, sorted(set(req.roles)))
        except MemberExists:
            raise ApiError(409, "MEMBER_EXISTS", f"member {req.member} exists") from None
        app.ctx.members[req.member] = frozenset(creds.roles)
        return respond(creds, 201)

    @app.post("/v1/admin/members/<member>/keys")
    async def add_key(request: Request, member: str) -> HTTPResponse:
        require(request, "operator")
        try:
            return respond(await create_key(app.ctx.pool, app.ctx.auth, member), 201)
        except UnknownMember:
            raise ApiError(404, "UNKNOWN_MEMBER", f"no member {member}") from None

    @app.get("/v1/admin/members")
    async def list_members(request: Request) -> HTTPResponse:
        require(request, "operator", "clearing")
        rows = await app.ctx.pool.fetch("SELECT member, roles FROM members ORDER BY member")
        return respond([{"member": r["member"], "roles": list(r["roles"])} for r in rows])

    add_receipt_routes(app)
    add_clearing_routes(app)
    add_ws_routes(app)
    add_market_routes(app)
    add_financing_routes(app)

    # ------------------------------------------------------------------ public

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        ex = app.ctx.exchange
        return respond(Health(status="ok", entry_no=ex.entry_no, engine_seq=ex.engine.seq,
                              state_hash=ex.state.state_hash()))

    @app.get("/metrics")
    async def metrics(request: Request) -> HTTPResponse:
        m = app.ctx.exchange.metrics
        for symbol, b in app.ctx.exchange.engine.books.items():
            m.book_depth.labels(symbol, "buy").set(len(b.bids))
            m.book_depth.labels(symbol, "sell").set(len(b.asks))
        return HTTPResponse(generate_latest(m.registry), content_type="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    async def openapi(request: Request) -> HTTPResponse:
        return respond(openapi_document())

    @app.get("/docs")
    async def docs(request: Request) -> HTTPResponse:
        return HTTPResponse(docs_page(), content_type="text/html; charset=utf-8")

    return app


def serve(data_dir: Path, host: str, port: int, rate: float, burst: float) -> None:
    """Run the exchange in this process until SIGINT/SIGTERM (then drain and commit)."""
    app = create_app(data_dir, rate, burst)
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
