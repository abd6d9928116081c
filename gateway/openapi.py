"""``/openapi.json``, generated from the ``gateway.wire`` Structs (``/docs`` shows it: Swagger UI)."""

import functools

import msgspec

from clearing.financing import Terms
from gateway import (
    auctions_api,
    clearing_api,
    credit_api,
    delivery_api,
    desk_api,
    disputes_api,
    financing_api,
    idempotency,
    inbound_api,
    listings_api,
    market_api,
    positions_api,
    sessions,
    warehouse_api,
    wire,
    ws_api,
    ws_orders,
)
from gateway.reconcile import ReconciliationView

# order entry on /v1/ws (docs/WEBSOCKET.md): not an HTTP operation, so listed apart
WS_MESSAGES = [ws_api.Login, ws_api.SessionLogin, ws_api.Subscribe, ws_api.Unsubscribe, ws_api.Ping,
               ws_orders.NewOrderMessage, ws_orders.CancelMessage, ws_orders.AmendMessage,
               ws_orders.CancelAllMessage, ws_orders.OrderAnswer, ws_api.ErrorMessage]
WS_DESCRIPTION = ("Market data and order entry over one WebSocket. Order entry needs a login first: a signed login "
                  "message (or, from the desk, session with its CSRF token). Each order.* message carries a "
                  "request_id and, as body, the body of its REST route (OrderRequest, AmendRequest, "
                  "CancelAllRequest); its answer carries the same request_id and the REST route's status and body "
                  "(OrderView, CancelAllResponse or ErrorResponse), once the command is committed, including 503 "
                  "PROJECTION_LAG and 500 STATUS_UNKNOWN as REST. A message the connection refuses is answered "
                  "with an error message. See docs/WEBSOCKET.md.")

UNAVAILABLE = ("the exchange could not answer now, with a code: 503 STANDBY (a standby: send to the primary), "
               "503 PROJECTION_LAG (a read of the SQL record, which is behind the journal for a moment: retry "
               "shortly), 503 BUSY, 500 STATUS_UNKNOWN (a write whose commit is not known: retry with the same "
               "Idempotency-Key or client_order_id)")

# a signed request, or (the desk) a session cookie with its CSRF header
SIGNED = [{"apiKey": [], "timestamp": [], "signature": []}, {"session": [], "csrf": []}]

# (method, path, summary, request body, response, success status, roles)
ROUTES = [
    ("post", "/v1/orders", "Place an order (idempotent by client_order_id)", wire.OrderRequest, wire.OrderView, 201,
     "trader, supplier"),
    ("get", "/v1/orders", "List own orders (?status=open|all)", None, list[wire.OrderView], 200, "any"),
    ("get", "/v1/orders/{order_id}", "Get one own order", None, wire.OrderView, 200, "any"),
    ("delete", "/v1/orders/{order_id}", "Cancel an order", None, wire.OrderView, 200, "trader, supplier"),
    ("patch", "/v1/orders/{order_id}", "Amend price and/or total quantity", wire.AmendRequest, wire.OrderView, 200,
     "trader, supplier"),
    ("post", "/v1/orders/cancel-all", "Cancel all own open orders", wire.CancelAllRequest, wire.CancelAllResponse,
     200, "trader, supplier"),
    ("get", "/v1/fills", "Own fills", None, list[wire.Fill], 200, "any"),
    ("get", "/v1/instruments", "Instruments and their sessions", None, list[wire.InstrumentView], 200, "any"),
    ("get", "/v1/book/{symbol}", "Book snapshot (?depth=N) with its sequence number", None, wire.BookView, 200, "any"),
    ("get", "/v1/trades/{symbol}", "Recent trades, oldest first (?limit=, default 1000)", None,
     list[wire.TradeView], 200, "any"),
    ("post", "/v1/admin/instruments", "List an instrument", wire.InstrumentRequest, wire.InstrumentView, 201,
     "operator"),
    ("post", "/v1/admin/instruments/{symbol}/session", "Open, close, halt or resume a session", wire.SessionRequest,
     wire.InstrumentView, 200, "operator"),
    ("post", "/v1/admin/instruments/{symbol}/schedule", "Move a session at a given time (fired by the journaled "
     "clock)", wire.ScheduleRequest, dict, 201, "operator"),
    ("post", "/v1/admin/instruments/{symbol}/forward", "Make an instrument a margined forward (margin, limits, "
     "daily settlement, delivery)", wire.ForwardTermsRequest, wire.ForwardTermsRequest, 200, "operator"),
    ("post", "/v1/admin/clock", "Drills only (COMMEX_SIMULATED_CLOCK=1): move the clock forward", wire.ClockRequest,
     wire.ClockView, 200, "operator"),
    ("post", "/v1/admin/members", "Create a member and its first API key", wire.MemberRequest, wire.Credentials, 201,
     "operator"),
    ("post", "/v1/admin/members/{member}/keys", "Another API key for a member", None, wire.Credentials, 201,
     "operator"),
    ("get", "/v1/admin/members", "List members and their roles", None, list[dict], 200, "operator, clearing"),
    # warehouse receipts
    ("post", "/v1/receipts", "Issue a receipt for inspected goods", wire.IssueReceiptRequest, wire.ReceiptView, 201,
     "warehouse"),
    ("get", "/v1/receipts", "Receipts you own, issued, hold in pledge (or all, for clearing); ?state=", None,
     list[wire.ReceiptView], 200, "any"),
    ("get", "/v1/receipts/{receipt_id}", "One receipt with its quality, premium and value", None, wire.ReceiptView,
     200, "owner, warehouse, pledgee, clearing"),
    ("get", "/v1/receipts/{receipt_id}/history", "Chain of custody from inspection to withdrawal", None,
     wire.ReceiptHistory, 200, "owner, warehouse, pledgee, clearing"),
    ("post", "/v1/receipts/{receipt_id}/transfer", "Transfer to another member", wire.TransferRequest,
     wire.ReceiptView, 200, "owner"),
    ("post", "/v1/receipts/{receipt_id}/lock", "Lock for sale", None, wire.ReceiptView, 200, "owner"),
    ("post", "/v1/receipts/{receipt_id}/unlock", "Unlock (not while it backs an order)", None, wire.ReceiptView,
     200, "owner"),
    ("post", "/v1/receipts/{receipt_id}/pledge", "Pledge to a lender", wire.PledgeRequest, wire.ReceiptView, 200,
     "owner"),
    ("post", "/v1/receipts/{receipt_id}/release", "Release a pledge (the lender's consent)", None, wire.ReceiptView,
     200, "lender"),
    ("post", "/v1/receipts/{receipt_id}/freeze", "Freeze for delivery", None, wire.ReceiptView, 200, "clearing"),
    ("post", "/v1/receipts/{receipt_id}/unfreeze", "Unfreeze", None, wire.ReceiptView, 200, "clearing"),
    ("post", "/v1/receipts/{receipt_id}/release-request", "Ask to withdraw: a release order with a one-time "
     "pickup code, returned once (idempotent by reference)", warehouse_api.ReleaseRequest,
     warehouse_api.ReleaseView, 201, "owner"),
    ("post", "/v1/warehouse/releases/{release_id}/pickup", "Record the pickup against the code (the receipt is "
     "cancelled)", warehouse_api.PickupRequest, warehouse_api.ReleaseView, 200, "issuing warehouse"),
    ("post", "/v1/warehouse/releases/{release_id}/cancel", "Cancel an open release order before pickup (the "
     "receipt is registered again; a retry answers the same)", None, warehouse_api.ReleaseView, 200, "owner"),
    ("get", "/v1/warehouse/releases", "Outbound queue: release orders (?state=)", None,
     list[warehouse_api.ReleaseView], 200, "owner, warehouse, clearing"),
    ("get", "/v1/warehouse/releases/{release_id}", "One release order", None, warehouse_api.ReleaseView, 200,
     "owner, warehouse, clearing"),
    ("post", "/v1/warehouse/declarations", "Pre-declare goods for registration (idempotent by reference)",
     inbound_api.DeclareRequest, inbound_api.DeclarationView, 201, "owner"),
    ("post", "/v1/warehouse/declarations/{declaration_id}/accept", "Accept a declaration (before its deadline)",
     inbound_api.AnswerRequest, inbound_api.DeclarationView, 200, "declared warehouse"),
    ("post", "/v1/warehouse/declarations/{declaration_id}/refuse", "Refuse a declaration",
     inbound_api.AnswerRequest, inbound_api.DeclarationView, 200, "declared warehouse"),
    ("post", "/v1/warehouse/declarations/{declaration_id}/pay", "Pay the inbound deposit (the warehouse's rate "
     "per tonne)", None, inbound_api.DeclarationView, 200, "owner"),
    ("post", "/v1/warehouse/declarations/{declaration_id}/arrival", "Record the goods' arrival",
     inbound_api.ArrivalRequest, inbound_api.DeclarationView, 200, "declared warehouse"),
    ("post", "/v1/warehouse/declarations/{declaration_id}/inspection", "Record the inspection: issues the receipt",
     inbound_api.InspectionRequest, inbound_api.DeclarationView, 200, "declared warehouse"),
    ("get", "/v1/warehouse/declarations", "Inbound queue: declarations (?state=)", None,
     list[inbound_api.DeclarationView], 200, "owner, warehouse, clearing"),
    ("get", "/v1/warehouse/declarations/{declaration_id}", "One declaration with its steps", None,
     inbound_api.DeclarationView, 200, "owner, warehouse, clearing"),
    ("get", "/v1/warehouse/stock", "Stock held, by commodity and receipt state", None,
     list[warehouse_api.StockLine], 200, "warehouse, clearing"),
    ("get", "/v1/receipts/{receipt_id}/custody", "Chain of custody from pre-declaration to pickup", None,
     list[inbound_api.StepView], 200, "owner, warehouse, pledgee, clearing"),
    ("post", "/v1/admin/expiry-rules", "Configure receipt expiry of a commodity (crop year or production date, "
     "old-crop discount, warning days)", warehouse_api.ExpiryRuleRequest, dict, 200, "operator, clearing"),
    ("post", "/v1/receipts/{receipt_id}/disputes", "Dispute a delivered receipt's weight or quality (the buyer, "
     "within the dispute window after delivery; idempotent by reference)", disputes_api.DisputeRequest,
     disputes_api.DisputeView, 201, "buyer"),
    ("post", "/v1/disputes/{dispute_id}/reinspection-order", "Order a re-inspection", None,
     disputes_api.DisputeView, 200, "clearing"),
    ("post", "/v1/disputes/{dispute_id}/reinspection", "Record the re-inspection", disputes_api.ReinspectionRequest,
     disputes_api.DisputeView, 200, "the receipt's warehouse"),
    ("post", "/v1/disputes/{dispute_id}/decision", "Uphold (the seller refunds the difference) or reject",
     disputes_api.DecisionRequest, disputes_api.DisputeView, 200, "clearing"),
    ("post", "/v1/admin/dispute-window", "Days after delivery a buyer may dispute (default 5)",
     disputes_api.DisputeWindowRequest, dict, 200, "operator, clearing"),
    ("get", "/v1/disputes", "Disputes you are party to (all, for clearing)", None, list[disputes_api.DisputeView],
     200, "buyer, seller, warehouse, clearing"),
    ("post", "/v1/warehouse/tariffs", "Publish storage (a trading day) and inbound rates per tonne of a commodity",
     warehouse_api.TariffRequest, warehouse_api.TariffView, 200, "warehouse"),
    ("get", "/v1/warehouse/tariffs", "Every warehouse's published rates", None, list[warehouse_api.TariffView], 200,
     "any"),
    ("get", "/v1/warehouse/fees", "Storage fees earned (a warehouse) and arrears owed (a member)", None,
     warehouse_api.FeesView, 200, "any"),
    ("post", "/v1/admin/instruments/{symbol}/delivery", "Make an instrument receipt-backed",
     wire.DeliverySpecRequest, dict, 200, "operator"),
    # clearing
    ("post", "/v1/clearing/deposits", "Record a deposit (once per member and reference: a retry gets the first "
     "answer)", clearing_api.FundingRequest, clearing_api.FundingAnswer, 201, "clearing"),
    ("post", "/v1/clearing/withdrawals", "Record a withdrawal (at most the available cash; once per member and "
     "reference)", clearing_api.FundingRequest, clearing_api.FundingAnswer, 201, "clearing"),
    ("get", "/v1/accounts/me", "Your cash: available, held, margin, escrow", None, clearing_api.Balances, 200, "any"),
    ("get", "/v1/accounts", "Every member's cash (?member=)", None, list[clearing_api.Balances], 200, "clearing"),
    ("get", "/v1/ledger", "Your ledger statement over those four accounts, newest first (?limit=, ?member= for "
                          "clearing)", None,
     list[clearing_api.StatementLine], 200, "any"),
    ("post", "/v1/clearing/end-of-day", "Close the day: settlement prices, expiry, report, loan marking",
     clearing_api.EndOfDayRequest, dict, 201, "clearing"),
    ("get", "/v1/clearing/reports/{day}", "A day's settlement report (day number or latest; ?format=csv)", None,
     dict, 200, "clearing (all), members (own row)"),
    ("get", "/v1/clearing/reconcile", "Reconcile the ledger, holds and receipts", None, ReconciliationView, 200,
     "clearing"),
    ("post", "/v1/admin/instruments/{symbol}/fees", "Commission of an instrument", wire.FeesRequest, dict,
     200, "operator"),
    # market information
    ("get", "/v1/market/candles/{symbol}", "OHLCV candles (?interval=1m|1h|1d, ?limit=)", None,
     list[market_api.CandleView], 200, "public"),
    ("get", "/v1/market/stats/{symbol}", "A day's statistics (?day=current|latest|N)", None, market_api.StatsView,
     200, "public"),
    ("get", "/v1/market/report", "The daily market report across commodities (?day=, ?format=csv)", None,
     market_api.MarketReport, 200, "public"),
    # financing
    ("post", "/v1/financing/terms", "Publish financing terms for a commodity", financing_api.TermsRequest, Terms,
     201, "lender"),
    ("get", "/v1/financing/terms", "Every lender's terms", None, list[Terms], 200, "any"),
    ("post", "/v1/loans", "Ask a lender for a loan against receipts", financing_api.LoanRequest,
     financing_api.LoanView, 201, "trader, supplier"),
    ("get", "/v1/loans", "Your loans, or your loan book (lenders), or all (clearing); ?state=", None,
     list[financing_api.LoanView], 200, "any"),
    ("get", "/v1/loans/{loan_id}", "One loan", None, financing_api.LoanView, 200, "borrower, lender, clearing"),
    ("post", "/v1/loans/{loan_id}/approve", "Approve: pledge the receipts, pay the principal", None,
     financing_api.LoanView, 200, "lender"),
    ("post", "/v1/loans/{loan_id}/decline", "Decline a request", None, financing_api.LoanView, 200, "lender"),
    ("post", "/v1/loans/{loan_id}/repay", "Repay all (no amount) or part of the principal",
     financing_api.RepayRequest, financing_api.LoanView, 200, "borrower"),
    ("post", "/v1/loans/{loan_id}/collateral", "Pledge more receipts", financing_api.CollateralRequest,
     financing_api.LoanView, 200, "borrower"),
    ("get", "/v1/financing/credit/{member}", "A member's credit record (loans defaulted on)", None,
     financing_api.CreditRecord, 200, "the member, lenders, clearing"),
    ("get", "/v1/credit/{member}", "A member's credit register: every default, of every kind", None,
     credit_api.CreditView, 200, "the member, lenders, clearing"),
    # bulk supply: auctions and listings
    ("post", "/v1/auctions", "Publish a sell auction (lots of receipts) or a buy auction (demand)",
     auctions_api.AuctionRequest, auctions_api.AuctionView, 201, "supplier (sell), trader (buy), operator"),
    ("get", "/v1/auctions", "Auctions with each lot's best price, bid count and close (?state=open|ended)", None,
     list[auctions_api.AuctionView], 200, "any"),
    ("get", "/v1/auctions/{auction_id}", "One auction and its results", None, auctions_api.AuctionView, 200, "any"),
    ("post", "/v1/auctions/{auction_id}/lots/{lot_no}/bids", "Bid on a lot (sell auction) or offer receipts "
     "(buy auction); cannot be withdrawn", auctions_api.BidRequest, auctions_api.BidView, 201, "trader, supplier"),
    ("get", "/v1/auctions/{auction_id}/bids", "Every accepted bid, oldest first (bidders anonymous)", None,
     list[auctions_api.BidLogEntry], 200, "any"),
    ("post", "/v1/auctions/{auction_id}/lots/{lot_no}/pay", "Pay for a lot won: settles by DvP", None,
     auctions_api.LotView, 200, "the winner"),
    ("post", "/v1/admin/supply/fee", "The per-tonne fee on auction and listing deals, each side",
     auctions_api.FeeRequest, dict, 200, "operator"),
    ("post", "/v1/admin/supply/categories", "A member's buyer category (auctions may require one)",
     auctions_api.CategoryRequest, dict, 200, "operator"),
    ("post", "/v1/listings", "List a lot at a price or a basis (sell), or list demand (buy)",
     listings_api.ListingRequest, listings_api.ListingView, 201, "supplier (sell), trader (buy)"),
    ("get", "/v1/listings", "Listings (?state=open|taken|expired|withdrawn|all, ?side=sell|buy)", None,
     list[listings_api.ListingView], 200, "any"),
    ("get", "/v1/listings/{listing_id}", "One listing", None, listings_api.ListingView, 200, "any"),
    ("post", "/v1/listings/{listing_id}/take", "Take a listed lot whole, or fill demand with receipts: DvP at once",
     listings_api.TakeRequest, listings_api.ListingView, 200, "trader, supplier"),
    ("post", "/v1/listings/{listing_id}/counter-offers", "Counter-offer a price; the payment is frozen until "
     "answered", listings_api.CounterRequest, listings_api.ListingView, 201, "trader"),
    ("post", "/v1/listings/{listing_id}/counter-offers/{counter_no}/accept", "Accept a counter-offer: DvP", None,
     listings_api.ListingView, 200, "supplier (the listing's owner)"),
    ("post", "/v1/listings/{listing_id}/counter-offers/{counter_no}/decline", "Decline a counter-offer", None,
     listings_api.ListingView, 200, "supplier (the listing's owner)"),
    ("post", "/v1/listings/{listing_id}/renew", "Keep a listing past today's end of day", None,
     listings_api.ListingView, 200, "the listing's owner"),
    ("delete", "/v1/listings/{listing_id}", "Withdraw a listing", None, listings_api.ListingView, 200,
     "the listing's owner"),
    # forwards
    ("get", "/v1/positions", "Forward positions and margin: one's own, or ?member= (clearing)", None,
     positions_api.PositionsView, 200, "any"),
    ("get", "/v1/margin-calls", "Margin calls: one's own, or all / ?member= (clearing)", None,
     list[positions_api.MarginCallView], 200, "any"),
    # a forward's delivery
    ("post", "/v1/delivery/{symbol}/tenders", "Tender receipts against your short position (frozen for delivery "
     "until allocation)", delivery_api.TenderRequest, delivery_api.TenderView, 200, "trader, supplier"),
    ("post", "/v1/delivery/{symbol}/intents", "State the warehouse you prefer to take delivery from, and/or apply "
     "for rolling delivery in the delivery month (a long)",
     delivery_api.IntentRequest, delivery_api.IntentView, 200, "trader, supplier"),
    ("post", "/v1/clearing/delivery/{symbol}/allocate", "Allocate tendered receipts to longs, oldest position "
     "first (once, after the tender deadline)", None, delivery_api.AllocationView, 201, "clearing"),
    ("get", "/v1/delivery/{symbol}/allocation", "A forward's delivery: deadlines, tenders, intents, the allocation "
     "and how each line settled (your own; all, for clearing)", None, delivery_api.AllocationView, 200, "any"),
    ("get", "/healthz", "Liveness and role: status ok (the primary), standby or refused (readable from any origin: "
     "the desk on another node checks it)", None, wire.Health, 200, "public"),
    ("get", "/desk/cluster.json", "The cluster's other nodes (COMMEX_PEERS), for the desk to move to when this one "
     "is a standby or down", None, desk_api.Cluster, 200, "public"),
    # browser sessions (the desk)
    ("post", "/v1/session", "Sign in a browser: a signed request (no body) sets an HttpOnly, SameSite=Strict "
     "session cookie; send the answer's csrf_token as X-CSRF-Token with every request made with it", None,
     sessions.SignedIn, 201, "any"),
    ("get", "/v1/session", "The session this request was made with", None, sessions.SessionView, 200, "any"),
    ("delete", "/v1/session", "Sign out: end this request's session and clear its cookie", None, sessions.Revoked,
     200, "any"),
    ("get", "/v1/admin/sessions", "Open browser sessions", None, list[sessions.SessionView], 200, "operator"),
    ("delete", "/v1/admin/sessions/{session_id}", "Revoke a browser session (its live feed is closed too)", None,
     sessions.Revoked, 200, "operator"),
]
# state-changing operations that take no Idempotency-Key: sign-in (its answer may not be stored to be
# replayed; a retry opens another session, see session_api)
NOT_IDEMPOTENT_BY_KEY = frozenset({("post", "/v1/session")})
# a second success status of an operation, with the same body: (method, path) -> (status, description)
ALSO: dict[tuple[str, str], tuple[int, str]] = {
    ("post", "/v1/receipts/{receipt_id}/release-request"): (
        200, "a retry with the same reference: the release order, without its pickup code"),
    ("get", "/healthz"): (503, "a hot standby that refuses to take over: status refused, detail says why"),
}
# served but not JSON operations: /v1/ws (WebSocket), /metrics (Prometheus text), /openapi.json, and the
# desk's pages and files: /docs (Swagger UI), / and /desk/... (gateway/desk_api.py)
NOT_OPERATIONS = frozenset({"/v1/ws", "/metrics", "/openapi.json", "/docs", "/", "/desk/{path}"})

# query parameters, by (method, path); the handlers read the same definitions
QUERY: dict[tuple[str, str], tuple[wire.QueryInt | wire.QueryText, ...]] = {
    ("get", "/v1/orders"): (wire.ORDERS_STATUS, wire.ORDERS_LIMIT, wire.ORDERS_BEFORE),
    ("get", "/v1/fills"): (wire.FILLS_LIMIT,),
    ("get", "/v1/book/{symbol}"): (wire.BOOK_DEPTH,),
    ("get", "/v1/trades/{symbol}"): (wire.TRADES_LIMIT,),
    ("get", "/v1/accounts"): (wire.MEMBER_FILTER,),
    ("get", "/v1/ledger"): (wire.MEMBER_FILTER, wire.LEDGER_LIMIT),
    ("get", "/v1/market/candles/{symbol}"): (wire.CANDLE_INTERVAL, wire.CANDLES_LIMIT),
    ("get", "/v1/market/stats/{symbol}"): (wire.MARKET_DAY,),
    ("get", "/v1/auctions"): (wire.AUCTIONS_STATE,),
    ("get", "/v1/loans"): (wire.LOANS_STATE,),
    ("get", "/v1/warehouse/declarations"): (wire.DECLARATIONS_STATE,),
    ("get", "/v1/listings"): (wire.LISTINGS_STATE, wire.LISTINGS_SIDE),
    ("get", "/v1/positions"): (wire.MEMBER_FILTER,),
    ("get", "/v1/margin-calls"): (wire.MEMBER_FILTER,),
    ("get", "/v1/receipts"): (wire.RECEIPTS_STATE,),
    ("get", "/v1/warehouse/releases"): (wire.RELEASES_STATE,),
    ("get", "/v1/warehouse/fees"): (wire.MEMBER_FILTER,),
    ("get", "/v1/warehouse/stock"): (wire.WAREHOUSE_FILTER,),
    ("get", "/v1/clearing/reports/{day}"): (wire.REPORT_FORMAT,),
    ("get", "/v1/market/report"): (wire.MARKET_DAY, wire.REPORT_FORMAT),
}
# operations whose 200 answer is also given as CSV: those that take ``?format=csv``
CSV_TOO = frozenset(op for op, params in QUERY.items() if wire.REPORT_FORMAT in params)
# path parameters that are not free strings
PATH_SCHEMAS = {
    "order_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "loan_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "release_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "declaration_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "dispute_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "auction_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "lot_no": {"type": "integer", "minimum": 1, "examples": [1]},
    "listing_id": {"type": "integer", "minimum": 1, "examples": [1]},
    "counter_no": {"type": "integer", "minimum": 1, "examples": [1]},
    "symbol": {"type": "string", "minLength": 1, "maxLength": 16, "examples": ["CF"],
               "description": wire.SYMBOL_DESCRIPTION},
    "member": {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["huafang-textile"]},
    "receipt_id": {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["WR00000001"]},
    "session_id": {"type": "string", "pattern": "^s_[0-9a-f]{16}$", "examples": ["s_0123456789abcdef"]},
    "day": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["latest"]}],
            "description": "a closed trading day's number, counting from 1, or latest"},
}


def query_parameter(p: wire.QueryInt | wire.QueryText) -> dict:
    """The OpenAPI parameter object of a query parameter."""
    if isinstance(p, wire.QueryInt):
        schema: dict = {"type": "integer", "minimum": p.lo, "maximum": p.hi, "default": p.default}
    else:
        schema = {"type": "string", **({"enum": list(p.choices)} if p.choices else {}),
                  **({"default": p.default} if p.default is not None else {})}
    refused = f"; another value is 400 {p.code}" if isinstance(p, wire.QueryText) and p.choices else ""
    return {"name": p.name, "in": "query", "required": False, "description": p.description + refused,
            "schema": schema}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "runs the request once: a retry with the same key gets the first answer (header "
                   "Idempotent-Replayed: true); the same key for another request is 409 IDEMPOTENCY_KEY_REUSED",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": idempotency.KEY_PATTERN},
}


def parameters(method: str, path: str) -> list[dict]:
    """The path parameters of ``path``, the operation's query parameters, and the
    Idempotency-Key header of a state-changing operation."""
    names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    found = [{"name": n, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(n, {"type": "string"})}
             for n in names]
    state_changing = method in ("post", "patch", "delete") and (method, path) not in NOT_IDEMPOTENT_BY_KEY
    header = [IDEMPOTENCY_KEY] if state_changing else []
    return found + [query_parameter(p) for p in QUERY.get((method, path), ())] + header


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI 3.1 document of the API."""
    types = [t for route in ROUTES for t in (route[3], route[4]) if t is not None] + [wire.ErrorResponse]
    types += WS_MESSAGES
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, schemas, strict=True))
    error = {"description": "error", "content": {"application/json": {"schema": by_type[wire.ErrorResponse]}}}
    unavailable = {**error, "description": UNAVAILABLE}
    paths: dict = {}
    for method, path, summary, body, answer, status, roles in ROUTES:
        ok = {"content": {"application/json": {"schema": by_type[answer]}}}
        if (method, path) in CSV_TOO:
            ok["content"]["text/csv"] = {"schema": {"type": "string"}}
        responses = {str(status): {"description": "ok", **ok}}
        if (method, path) in ALSO:
            also, meaning = ALSO[method, path]
            responses[str(also)] = {"description": meaning, **ok}
        op: dict = {"summary": summary, "description": f"Roles: {roles}.",
                    "responses": {**responses, "4XX": error, "5XX": unavailable}}
        if roles != "public":
            op["security"] = SIGNED
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[body]}}}
        if params := parameters(method, path):
            op["parameters"] = params
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "commex — bulk-commodity exchange", "version": "1",
                 "description": "Prices are decimal yuan strings; quantities are integer lots. Sign every /v1 "
                                "request: X-Signature = hex HMAC-SHA256(secret, X-Timestamp + METHOD + "
                                "path-with-query + body), X-Timestamp in ms within 5 s."},
        "paths": paths,
        "x-websocket": {"path": "/v1/ws", "description": WS_DESCRIPTION,
                        "messages": [{"$ref": f"#/components/schemas/{t.__name__}"} for t in WS_MESSAGES]},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
                "session": {"type": "apiKey", "in": "cookie", "name": sessions.COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }

