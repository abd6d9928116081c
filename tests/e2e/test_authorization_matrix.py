"""Every route × every role, plus no key, a bad signature, a stale timestamp and a replayed
request, against the table below. Allowed: anything but 401/403 (bodies are harmless, so an
allowed call usually ends in 400 or 404); forbidden: 403; the four failures: 401. Public
routes answer without a key. Resources named in paths do not exist, so ownership rules (404)
never stand in for a role check."""

import json
import time

import pytest

from gateway.auth import ROLES
from gateway.client import Client
from gateway.demo import CF_NEAR
from gateway.openapi import openapi_document

ANY = frozenset(ROLES)
PUBLIC = None
T, S, W, C, L, OP = "trader", "supplier", "warehouse", "clearing", "lender", "operator"
BAD = {"bogus": 1}  # refused by every body's decoder (unknown field): 400 once authorised

# (method, path): (the request's path, its body, the roles allowed; PUBLIC: no key needed)
MATRIX: dict[tuple[str, str], tuple[str, dict | None, frozenset | None]] = {
    ("post", "/v1/orders"): ("/v1/orders", BAD, frozenset({T, S})),
    ("get", "/v1/orders"): ("/v1/orders", None, ANY),
    ("get", "/v1/orders/{order_id}"): ("/v1/orders/999999999", None, ANY),
    ("delete", "/v1/orders/{order_id}"): ("/v1/orders/999999999", None, frozenset({T, S})),
    ("patch", "/v1/orders/{order_id}"): ("/v1/orders/999999999", BAD, frozenset({T, S})),
    ("post", "/v1/orders/cancel-all"): ("/v1/orders/cancel-all", BAD, frozenset({T, S})),
    ("get", "/v1/fills"): ("/v1/fills", None, ANY),
    ("get", "/v1/instruments"): ("/v1/instruments", None, ANY),
    ("get", "/v1/book/{symbol}"): (f"/v1/book/{CF_NEAR}", None, ANY),
    ("get", "/v1/trades/{symbol}"): (f"/v1/trades/{CF_NEAR}", None, ANY),
    ("post", "/v1/admin/instruments"): ("/v1/admin/instruments", BAD, frozenset({OP})),
    ("post", "/v1/admin/instruments/{symbol}/session"): ("/v1/admin/instruments/NOPE/session", BAD, frozenset({OP})),
    ("post", "/v1/admin/instruments/{symbol}/schedule"): ("/v1/admin/instruments/NOPE/schedule", BAD,
                                                          frozenset({OP})),
    ("post", "/v1/admin/instruments/{symbol}/delivery"): ("/v1/admin/instruments/NOPE/delivery", BAD,
                                                          frozenset({OP})),
    ("post", "/v1/admin/instruments/{symbol}/fees"): ("/v1/admin/instruments/NOPE/fees", BAD, frozenset({OP})),
    ("post", "/v1/admin/instruments/{symbol}/forward"): ("/v1/admin/instruments/NOPE/forward", BAD,
                                                         frozenset({OP})),
    ("post", "/v1/admin/clock"): ("/v1/admin/clock", BAD, frozenset({OP})),
    ("post", "/v1/admin/members"): ("/v1/admin/members", BAD, frozenset({OP})),
    ("post", "/v1/admin/members/{member}/keys"): ("/v1/admin/members/nobody/keys", None, frozenset({OP})),
    ("get", "/v1/admin/members"): ("/v1/admin/members", None, frozenset({OP, C})),
    ("post", "/v1/receipts"): ("/v1/receipts", BAD, frozenset({W})),
    ("get", "/v1/receipts"): ("/v1/receipts", None, ANY),
    ("get", "/v1/receipts/{receipt_id}"): ("/v1/receipts/WR-NOPE", None, ANY),
    ("get", "/v1/receipts/{receipt_id}/history"): ("/v1/receipts/WR-NOPE/history", None, ANY),
    ("post", "/v1/receipts/{receipt_id}/transfer"): ("/v1/receipts/WR-NOPE/transfer", BAD, ANY),  # owner: 404
    ("post", "/v1/receipts/{receipt_id}/lock"): ("/v1/receipts/WR-NOPE/lock", None, ANY),
    ("post", "/v1/receipts/{receipt_id}/unlock"): ("/v1/receipts/WR-NOPE/unlock", None, ANY),
    ("post", "/v1/receipts/{receipt_id}/pledge"): ("/v1/receipts/WR-NOPE/pledge", BAD, ANY),
    ("post", "/v1/receipts/{receipt_id}/release"): ("/v1/receipts/WR-NOPE/release", None, frozenset({L})),
    ("post", "/v1/receipts/{receipt_id}/freeze"): ("/v1/receipts/WR-NOPE/freeze", None, frozenset({C})),
    ("post", "/v1/receipts/{receipt_id}/unfreeze"): ("/v1/receipts/WR-NOPE/unfreeze", None, frozenset({C})),
    ("post", "/v1/receipts/{receipt_id}/release-request"): ("/v1/receipts/WR-NOPE/release-request", BAD,
                                                            ANY),  # owner: 404
    ("post", "/v1/warehouse/releases/{release_id}/pickup"): ("/v1/warehouse/releases/999999/pickup", BAD,
                                                             frozenset({W})),
    ("post", "/v1/warehouse/releases/{release_id}/cancel"): ("/v1/warehouse/releases/999999/cancel", None,
                                                             ANY),  # owner: 404
    ("get", "/v1/warehouse/releases"): ("/v1/warehouse/releases", None, ANY),
    ("get", "/v1/warehouse/releases/{release_id}"): ("/v1/warehouse/releases/999999", None, ANY),
    ("post", "/v1/warehouse/declarations"): ("/v1/warehouse/declarations", BAD, ANY),
    ("post", "/v1/warehouse/declarations/{declaration_id}/accept"): ("/v1/warehouse/declarations/999999/accept",
                                                                     BAD, frozenset({W})),
    ("post", "/v1/warehouse/declarations/{declaration_id}/refuse"): ("/v1/warehouse/declarations/999999/refuse",
                                                                     BAD, frozenset({W})),
    ("post", "/v1/warehouse/declarations/{declaration_id}/pay"): ("/v1/warehouse/declarations/999999/pay", None,
                                                                  ANY),  # owner: 404
    ("post", "/v1/warehouse/declarations/{declaration_id}/arrival"): ("/v1/warehouse/declarations/999999/arrival",
                                                                      BAD, frozenset({W})),
    ("post", "/v1/warehouse/declarations/{declaration_id}/inspection"): (
        "/v1/warehouse/declarations/999999/inspection", BAD, frozenset({W})),
    ("get", "/v1/warehouse/declarations"): ("/v1/warehouse/declarations", None, ANY),
    ("get", "/v1/warehouse/declarations/{declaration_id}"): ("/v1/warehouse/declarations/999999", None, ANY),
    ("get", "/v1/warehouse/stock"): ("/v1/warehouse/stock", None, frozenset({W, C})),
    ("get", "/v1/receipts/{receipt_id}/custody"): ("/v1/receipts/WR-NOPE/custody", None, ANY),
    ("post", "/v1/admin/expiry-rules"): ("/v1/admin/expiry-rules", BAD, frozenset({OP, C})),
    ("post", "/v1/receipts/{receipt_id}/disputes"): ("/v1/receipts/WR-NOPE/disputes", BAD, ANY),  # buyer: 404
    ("post", "/v1/disputes/{dispute_id}/reinspection-order"): ("/v1/disputes/999999/reinspection-order", None,
                                                               frozenset({C})),
    ("post", "/v1/disputes/{dispute_id}/reinspection"): ("/v1/disputes/999999/reinspection", BAD, frozenset({W})),
    ("post", "/v1/disputes/{dispute_id}/decision"): ("/v1/disputes/999999/decision", BAD, frozenset({C})),
    ("post", "/v1/admin/dispute-window"): ("/v1/admin/dispute-window", BAD, frozenset({OP, C})),
    ("get", "/v1/disputes"): ("/v1/disputes", None, ANY),
    ("post", "/v1/warehouse/tariffs"): ("/v1/warehouse/tariffs", BAD, frozenset({W})),
    ("get", "/v1/warehouse/tariffs"): ("/v1/warehouse/tariffs", None, ANY),
    ("get", "/v1/warehouse/fees"): ("/v1/warehouse/fees", None, ANY),
    ("post", "/v1/clearing/deposits"): ("/v1/clearing/deposits", BAD, frozenset({C})),
    ("post", "/v1/clearing/withdrawals"): ("/v1/clearing/withdrawals", BAD, frozenset({C})),
    ("get", "/v1/accounts/me"): ("/v1/accounts/me", None, ANY),
    ("get", "/v1/accounts"): ("/v1/accounts", None, frozenset({C})),
    ("get", "/v1/ledger"): ("/v1/ledger?member=nobody", None, frozenset({C})),  # one's own: any role
    ("post", "/v1/clearing/end-of-day"): ("/v1/clearing/end-of-day", BAD, frozenset({C})),
    ("get", "/v1/clearing/reports/{day}"): ("/v1/clearing/reports/1", None, ANY),
    ("get", "/v1/clearing/reconcile"): ("/v1/clearing/reconcile", None, frozenset({C})),
    ("get", "/v1/market/candles/{symbol}"): (f"/v1/market/candles/{CF_NEAR}", None, PUBLIC),
    ("get", "/v1/market/stats/{symbol}"): (f"/v1/market/stats/{CF_NEAR}", None, PUBLIC),
    ("get", "/v1/market/report"): ("/v1/market/report", None, PUBLIC),
    ("post", "/v1/financing/terms"): ("/v1/financing/terms", BAD, frozenset({L})),
    ("get", "/v1/financing/terms"): ("/v1/financing/terms", None, ANY),
    ("post", "/v1/loans"): ("/v1/loans", BAD, frozenset({T, S})),
    ("get", "/v1/loans"): ("/v1/loans", None, ANY),
    ("get", "/v1/loans/{loan_id}"): ("/v1/loans/999999", None, ANY),
    ("post", "/v1/loans/{loan_id}/approve"): ("/v1/loans/999999/approve", None, frozenset({L})),
    ("post", "/v1/loans/{loan_id}/decline"): ("/v1/loans/999999/decline", None, frozenset({L})),
    ("post", "/v1/loans/{loan_id}/repay"): ("/v1/loans/999999/repay", BAD, ANY),  # borrower: 404
    ("post", "/v1/loans/{loan_id}/collateral"): ("/v1/loans/999999/collateral", BAD, ANY),
    ("get", "/v1/financing/credit/{member}"): ("/v1/financing/credit/nobody", None, frozenset({C, L})),
    ("get", "/v1/credit/{member}"): ("/v1/credit/nobody", None, frozenset({C, L})),
    ("post", "/v1/auctions"): ("/v1/auctions", BAD, frozenset({S, T, OP})),
    ("get", "/v1/auctions"): ("/v1/auctions", None, ANY),
    ("get", "/v1/auctions/{auction_id}"): ("/v1/auctions/999999", None, ANY),
    ("post", "/v1/auctions/{auction_id}/lots/{lot_no}/bids"): ("/v1/auctions/999999/lots/1/bids", BAD,
                                                                frozenset({T, S})),
    ("get", "/v1/auctions/{auction_id}/bids"): ("/v1/auctions/999999/bids", None, ANY),
    ("post", "/v1/auctions/{auction_id}/lots/{lot_no}/pay"): ("/v1/auctions/999999/lots/1/pay", None,
                                                               frozenset({T, S})),
    ("post", "/v1/admin/supply/fee"): ("/v1/admin/supply/fee", BAD, frozenset({OP})),
    ("post", "/v1/admin/supply/categories"): ("/v1/admin/supply/categories", BAD, frozenset({OP})),
    ("post", "/v1/listings"): ("/v1/listings", BAD, frozenset({S, T})),
    ("get", "/v1/listings"): ("/v1/listings", None, ANY),
    ("get", "/v1/listings/{listing_id}"): ("/v1/listings/999999", None, ANY),
    ("post", "/v1/listings/{listing_id}/take"): ("/v1/listings/999999/take", BAD, frozenset({T, S})),
    ("post", "/v1/listings/{listing_id}/counter-offers"): ("/v1/listings/999999/counter-offers", BAD,
                                                            frozenset({T})),
    ("post", "/v1/listings/{listing_id}/counter-offers/{counter_no}/accept"): (
        "/v1/listings/999999/counter-offers/1/accept", None, frozenset({S})),
    ("post", "/v1/listings/{listing_id}/counter-offers/{counter_no}/decline"): (
        "/v1/listings/999999/counter-offers/1/decline", None, frozenset({S})),
    ("post", "/v1/listings/{listing_id}/renew"): ("/v1/listings/999999/renew", None, frozenset({S, T})),
    ("delete", "/v1/listings/{listing_id}"): ("/v1/listings/999999", None, frozenset({S, T})),
    ("get", "/v1/positions"): ("/v1/positions?member=nobody", None, frozenset({C})),  # one's own: any role
    ("get", "/v1/margin-calls"): ("/v1/margin-calls?member=nobody", None, frozenset({C})),
    ("post", "/v1/delivery/{symbol}/tenders"): ("/v1/delivery/NOPE/tenders", BAD, frozenset({T, S})),
    ("post", "/v1/delivery/{symbol}/intents"): ("/v1/delivery/NOPE/intents", BAD, frozenset({T, S})),
    ("post", "/v1/clearing/delivery/{symbol}/allocate"): ("/v1/clearing/delivery/NOPE/allocate", None,
                                                          frozenset({C})),
    ("get", "/v1/delivery/{symbol}/allocation"): ("/v1/delivery/NOPE/allocation", None, ANY),
    ("get", "/healthz"): ("/healthz", None, PUBLIC),
    ("get", "/desk/cluster.json"): ("/desk/cluster.json", None, PUBLIC),
    ("post", "/v1/session"): ("/v1/session", None, ANY),
    ("get", "/v1/session"): ("/v1/session", None, ANY),  # a signed request: 404 NO_SESSION
    ("delete", "/v1/session"): ("/v1/session", None, ANY),
    ("get", "/v1/admin/sessions"): ("/v1/admin/sessions", None, frozenset({OP})),
    ("delete", "/v1/admin/sessions/{session_id}"): ("/v1/admin/sessions/s_0000000000000000", None, frozenset({OP})),
}
ROWS = sorted(MATRIX)


def test_the_table_covers_every_documented_operation() -> None:
    documented = {(m, p) for p, ops in openapi_document()["paths"].items() for m in ops}
    assert documented == set(MATRIX)


@pytest.fixture(scope="module")
def clients(server) -> dict[str, Client]:
    """One demo member's client per role; every demo member has exactly one role."""
    found: dict[str, Client] = {}
    for member, creds in server.credentials().items():
        (role,) = creds["roles"]
        found.setdefault(role, server.client(member))
    assert set(found) == set(ROLES)
    return found


@pytest.fixture(scope="module")
def entries(server):
    """The journal length before and after the module: the matrix changes nothing."""
    anon = Client(server.base)
    before = anon.request("GET", "/healthz")[1]["entry_no"]
    yield
    assert anon.request("GET", "/healthz")[1]["entry_no"] == before


def code(answer: tuple[int, object]) -> str:
    body = answer[1]
    return body["error"]["code"] if isinstance(body, dict) and "error" in body else ""


@pytest.mark.parametrize("row", ROWS, ids=[f"{m.upper()} {p}" for m, p in ROWS])
def test_every_role_is_allowed_or_forbidden_as_the_table_says(server, clients, entries, row) -> None:
    method, _ = row
    path, body, allowed = MATRIX[row]
    for role in ROLES:
        answer = clients[role].request(method.upper(), path, body)
        if allowed is PUBLIC or role in allowed:
            assert answer[0] not in (401, 403), (role, answer)
        else:
            assert (answer[0], code(answer)) == (403, "FORBIDDEN"), (role, answer)


@pytest.mark.parametrize("row", ROWS, ids=[f"{m.upper()} {p}" for m, p in ROWS])
def test_no_key_a_bad_signature_a_stale_timestamp_and_a_replay_are_401(server, clients, entries, row) -> None:
    method, _ = row
    path, body, allowed = MATRIX[row]
    method = method.upper()
    anon = Client(server.base)
    if allowed is PUBLIC:
        assert anon.request(method, path, body)[0] not in (401, 403)
        return
    raw = b"" if body is None else json.dumps(body).encode()
    member = clients[sorted(allowed)[0]]
    assert code(anon.request(method, path, body)) == "UNAUTHENTICATED"
    forged = Client(server.base, member.api_key, "0" * 64)
    answer = forged.request(method, path, body)
    assert (answer[0], code(answer)) == (401, "BAD_SIGNATURE")
    stale = member.headers(method, path, raw, timestamp_ms=time.time_ns() // 1_000_000 - 60_000)
    assert code(member.request(method, path, headers=stale, raw=raw)) == "STALE_TIMESTAMP"
    signed = member.headers(method, path, raw)
    first = member.request(method, path, headers=signed, raw=raw)
    assert first[0] not in (401, 403), first
    again = member.request(method, path, headers=signed, raw=raw)
    assert (again[0], code(again)) == (401, "REPLAYED")
