"""``/openapi.json`` and ``/docs``, generated from the ``gateway.wire`` Structs."""

import functools
import html

import msgspec

from gateway import wire

SIGNED = [{"apiKey": [], "timestamp": [], "signature": []}]

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
    ("get", "/v1/trades/{symbol}", "Recent trades", None, list[wire.TradeView], 200, "any"),
    ("post", "/v1/admin/instruments", "List an instrument", wire.InstrumentRequest, wire.InstrumentView, 201,
     "operator"),
    ("post", "/v1/admin/instruments/{symbol}/session", "Open, close, halt or resume a session", wire.SessionRequest,
     wire.InstrumentView, 200, "operator"),
    ("post", "/v1/admin/members", "Create a member and its first API key", wire.MemberRequest, wire.Credentials, 201,
     "operator"),
    ("post", "/v1/admin/members/{member}/keys", "Another API key for a member", None, wire.Credentials, 201,
     "operator"),
    ("get", "/healthz", "Liveness", None, wire.Health, 200, "public"),
]


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI 3.1 document of the API."""
    types = [t for route in ROUTES for t in (route[3], route[4]) if t is not None] + [wire.ErrorResponse]
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, schemas, strict=True))
    error = {"description": "error", "content": {"application/json": {"schema": by_type[wire.ErrorResponse]}}}
    paths: dict = {}
    for method, path, summary, body, answer, status, roles in ROUTES:
        op: dict = {
            "summary": summary,
            "description": f"Roles: {roles}.",
            "responses": {str(status): {"description": "ok",
                                        "content": {"application/json": {"schema": by_type[answer]}}},
                          "4XX": error},
        }
        if roles != "public":
            op["security"] = SIGNED
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[body]}}}
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True,
                                 "schema": {"type": "integer" if p == "order_id" else "string"}} for p in params]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "commex — bulk-commodity exchange", "version": "1",
                 "description": "Prices are decimal yuan strings; quantities are integer lots. Sign every /v1 "
                                "request: X-Signature = hex HMAC-SHA256(secret, X-Timestamp + METHOD + "
                                "path-with-query + body), X-Timestamp in ms within 5 s."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
            },
        },
    }


@functools.cache
def docs_page() -> str:
    """A self-contained HTML page listing every operation (no external assets)."""
    doc = openapi_document()
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td><td>{html.escape(op['description'])}</td></tr>")
    return ("<!doctype html><meta charset=utf-8><title>commex API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 10px;border-bottom:1px solid #ddd}</style>"
            f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}</p>"
            "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a></p>"
            "<table><tr><th>method</th><th>path</th><th>what</th><th>who</th></tr>" + "".join(rows) + "</table>")
