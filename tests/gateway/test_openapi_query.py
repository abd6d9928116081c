"""Query parameters: the handlers read them only through ``gateway.wire``'s definitions, and the
OpenAPI document lists each with its values (found undocumented by a user trial); the document
also names the WebSocket's messages and every route's 5xx answers."""

import re
from pathlib import Path

import gateway
from gateway import wire
from gateway.openapi import QUERY, openapi_document

GATEWAY = Path(gateway.__file__).parent


def query_names(method: str, path: str) -> dict[str, dict]:
    op = openapi_document()["paths"][path][method]
    return {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "query"}


def test_handlers_read_query_parameters_only_by_their_definitions() -> None:
    literal = re.compile(r"request\.args(\.get\(\s*|\[\s*)['\"]")
    offenders = [path.name for path in GATEWAY.glob("*.py") if literal.search(path.read_text())]
    assert offenders == []
    read = {name for path in GATEWAY.glob("*_api.py")
            for name in re.findall(r"(?:request\.args\.get\(|query_text\(request, |query_int\(request, )(\w+)",
                                   path.read_text())}
    documented = {name for params in QUERY.values() for p in params for name, value in vars(wire).items()
                  if value is p}
    assert read <= documented, read - documented


def test_the_document_lists_each_query_parameter_with_its_values() -> None:
    assert query_names("get", "/v1/orders") == {
        "status": {"type": "string", "enum": ["open", "all"], "default": "open"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000},
        "before": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1, "default": 0}}
    assert query_names("get", "/v1/listings")["side"] == {"type": "string", "enum": ["sell", "buy"]}
    assert set(query_names("get", "/v1/ledger")) == {"member", "limit"}
    assert query_names("get", "/v1/market/candles/{symbol}")["interval"]["enum"] == ["1m", "1h", "1d"]
    assert "registered" in query_names("get", "/v1/warehouse/declarations")["state"]["enum"]
    assert query_names("get", "/v1/market/report")["format"]["enum"] == ["json", "csv"]
    report = openapi_document()["paths"]["/v1/clearing/reports/{day}"]["get"]["responses"]["200"]
    assert set(report["content"]) == {"application/json", "text/csv"}


def test_a_parameter_with_choices_is_read_through_query_text_which_refuses_another_value() -> None:
    bare = {name for path in GATEWAY.glob("*_api.py")
            for name in re.findall(r"request\.args\.get\((\w+)\.name", path.read_text())}
    assert not [name for name in bare if getattr(wire, name).choices], "read without its check"
    params = openapi_document()["paths"]["/v1/market/candles/{symbol}"]["get"]["parameters"]
    assert [p["description"] for p in params if p["name"] == "interval"] == \
        ["the candles' interval; another value is 400 INVALID_INTERVAL"]


def test_the_websocket_messages_and_the_5xx_answers_are_documented() -> None:
    """Found by a review: the WebSocket listed only the order messages (no login, no error
    message), and no route named its 503 PROJECTION_LAG / STANDBY or 500 STATUS_UNKNOWN."""
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    tags = {schemas[m["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["enum"][0]
            for m in doc["x-websocket"]["messages"]}
    assert {"login", "session", "subscribe", "order.new", "order.cancel", "order.amend", "order.cancel_all",
            "answer", "error"} <= tags
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert "PROJECTION_LAG" in op["responses"]["5XX"]["description"], (method, path)
