"""A forward's delivery over HTTP, against a running server: a short tenders two cotton
receipts (a pledged one and a long's tender are refused, changing nothing), a long states its
warehouse, the desk closes the last trading day, allocates (once), and the payment deadline's
end of day settles each receipt by delivery versus payment, recomputed here from each
receipt's weight, premium and the warehouse's differential. The instrument is listed in the
journal before the server starts; its forward terms (last trading day today, a location
differential, a delivery fee) are set over HTTP."""

import asyncio
import json
from decimal import ROUND_HALF_UP, Decimal

import msgspec
import pytest
import websockets

from clearing.core import Fees
from engine import SetSession
from exchange.catalogue import InstrumentSpec, SetInstrument
from exchange.journal import Entry
from gateway.demo import CF_NEAR
from gateway.feed_client import login_message
from gateway.prices import signed_fen
from gateway.process import ServerProcess
from gateway.sequencer import Exchange
from gateway.wire import ForwardTermsRequest
from tests.support.ws import until

SYMBOL = "CFDLV"
WAREHOUSE = "xj-warehouse-01"
DIFFERENTIAL = 10_000  # fen a tonne at the demo's cotton warehouse
FEE_PER_TONNE = 400
SHORT, FIRST, SECOND, DESK = "xinjiang-cotton-group", "huafang-textile", "luneng-agri", "clearing-desk"


async def list_forward(url: str) -> int:
    """List the cotton instrument (its forward terms are set over HTTP); return the trading date."""
    ex = await Exchange.open(url)
    try:
        date = ex.state.calendar.trading_date
        spec = InstrumentSpec(symbol=SYMBOL, kind="forward", commodity="cotton", lot_size=5_000, tick=500,
                              ref_price=1_500_000, band_bps=600, fees=Fees(per_lot=430))
        for command in (SetInstrument(actor="exchange-ops", spec=spec), SetSession(SYMBOL, "continuous")):
            await ex.submit(Entry(command))
        return date
    finally:
        await ex.close()


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tmp_path_factory.mktemp("var"), module_database_url)
    proc.cli("demo")
    proc.last_trading_day = asyncio.run(list_forward(module_database_url))
    proc.start()
    yield proc
    if proc.proc is not None:
        proc.stop()


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen(yuan: str) -> int:
    return half_up(Decimal(yuan) * 100)


async def allocate_watching(server, desk, path: str) -> tuple[int, dict, dict]:
    """Run the allocation while the first long watches its private stream for its notice."""
    creds = server.credentials()[FIRST]
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/ws") as ws:
        await ws.send(json.dumps(login_message(creds["api_key"], creds["api_secret"])))
        await until(ws, lambda m: m.get("type") == "orders_snapshot")  # logged in: private messages follow
        status, allocated = await asyncio.to_thread(desk.request, "POST", path)
        message = await until(ws, lambda m: m.get("type") == "delivery"
                              and m["delivery"]["type"] == "delivery_notice")
    return status, allocated, message["delivery"]


def test_tender_allocate_and_deliver_over_http(server) -> None:
    short, first, second, desk = (server.client(m) for m in (SHORT, FIRST, SECOND, DESK))
    # the forward expires today: its last trading day, a differential at the demo's cotton warehouse, a fee
    date = server.last_trading_day
    terms = {"delivery_month": date // 100, "last_trading_day": date, "delivery_fee_per_tonne": "4",
             "location_differentials": {WAREHOUSE: "100", "elsewhere": "-50.5"}}
    status, body = server.client("exchange-ops").request("POST", f"/v1/admin/instruments/{SYMBOL}/forward", terms)
    assert status == 200, body
    for client in (first, second):  # the demo's forward bids hold margin of their own
        assert client.request("POST", "/v1/orders/cancel-all", {"symbol": CF_NEAR})[0] == 200
    status, receipts = short.request("GET", "/v1/receipts")
    free = [r for r in receipts if r["state"] == "registered" and r["commodity"] == "cotton"][:2]
    pledged = next(r for r in receipts if r["state"] == "pledged")
    lots = [half_up(Decimal(r["quantity_kg"]) / 5_000) for r in free]
    # the short sells the lots its two receipts deliver; the longs buy one receipt's worth each
    assert short.place(SYMBOL, "sell", sum(lots), "15000", "dlv-short")[0] == 201
    assert first.place(SYMBOL, "buy", lots[0], "15000", "dlv-first")[0] == 201
    assert second.place(SYMBOL, "buy", lots[1], "15000", "dlv-second")[0] == 201
    tenders, allocation = f"/v1/delivery/{SYMBOL}/tenders", f"/v1/delivery/{SYMBOL}/allocation"
    before = desk.request("GET", allocation)
    assert before[0] == 200 and before[1]["state"] == "tendering" and before[1]["tenders"] == []
    assert before[1]["last_trading_day"] == server.last_trading_day
    for client, ids, code in ((short, [pledged["receipt_id"]], "RECEIPT_PLEDGED"),
                              (short, ["WR-NOPE"], "RECEIPT_NOT_FOUND"),
                              (first, [free[0]["receipt_id"]], "NOT_SHORT"),
                              (short, [free[0]["receipt_id"]] * 2, "INVALID_REQUEST")):
        status, body = client.request("POST", tenders, {"receipt_ids": ids})
        assert body["error"]["code"] == code and status in (400, 404, 409), body
    status, body = first.request("POST", "/v1/delivery/NOPE/tenders", {"receipt_ids": ["WR1"]})
    assert (status, body["error"]["code"]) == (404, "UNKNOWN_INSTRUMENT")
    assert desk.request("GET", allocation) == before  # the refusals changed nothing
    ids = [r["receipt_id"] for r in free]
    status, tender = short.request("POST", tenders, {"receipt_ids": ids}, idempotency_key="dlv-tender-1")
    assert (status, tender) == (200, {"member": SHORT, "receipt_ids": ids, "lots": sum(lots)})
    assert short.request("POST", tenders, {"receipt_ids": ids}, idempotency_key="dlv-tender-1") == (200, tender)
    assert short.last_headers.get("idempotent-replayed") == "true"
    status, body = short.request("POST", f"/v1/receipts/{ids[0]}/pledge", {"lender": "agri-bank"})
    assert (status, body["error"]["code"]) == (409, "RECEIPT_TENDERED")
    assert first.request("POST", f"/v1/delivery/{SYMBOL}/intents", {"warehouse": WAREHOUSE})[0] == 200
    preview = desk.request("GET", allocation)[1]["preview"]  # what the allocation would do now
    assert [(line["long"], line["receipt_id"], line["kind"]) for line in preview] == [
        (FIRST, ids[0], "receipt"), (SECOND, ids[1], "receipt")]
    allocate = f"/v1/clearing/delivery/{SYMBOL}/allocate"
    status, body = desk.request("POST", allocate)
    assert (status, body["error"]["code"]) == (409, "TENDER_OPEN")
    # the last trading day closes at 15,000: the final settlement price; tenders close with it
    assert desk.request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})[0] == 201
    status, body = short.request("POST", tenders, {"receipt_ids": [ids[0]]})
    assert (status, body["error"]["code"]) == (409, "TENDER_CLOSED")
    status, allocated, notice = asyncio.run(allocate_watching(server, desk, allocate))
    assert (notice["side"], notice["receipt_id"], notice["counterparty"]) == ("long", ids[0], SHORT)
    assert notice["final_price"] == "15000.00" and notice["value"] == allocated["lines"][0]["value"]
    assert status == 201 and allocated["state"] == "allocated" and allocated["final_price"] == "15000.00"
    assert [(line["long"], line["receipt_id"], line["lots"]) for line in allocated["lines"]] == [
        (FIRST, ids[0], lots[0]), (SECOND, ids[1], lots[1])]
    assert [line["value"] for line in allocated["lines"]] == [line["value"] for line in preview]
    assert allocated["preview"] == []
    status, body = desk.request("POST", allocate)
    assert (status, body["error"]["code"]) == (409, "ALLOCATION_DONE")
    seen = first.request("GET", allocation)[1]
    assert [line["receipt_id"] for line in seen["lines"]] == [ids[0]]  # a member sees its own lines
    # the payment deadline's end of day: delivery versus payment
    assert desk.request("POST", "/v1/clearing/end-of-day", {"window_minutes": 60})[0] == 201
    settled = desk.request("GET", allocation)[1]
    assert settled["state"] == "settled"
    for line, receipt in zip(settled["lines"], free, strict=True):
        kg = receipt["quantity_kg"]
        price = 1_500_000 + fen(receipt["premium_per_tonne"]) + DIFFERENTIAL
        assert line["state"] == "delivered"
        assert fen(line["value"]) == half_up(Decimal(price) * kg / 1_000)
        assert fen(line["fee"]) == half_up(Decimal(FEE_PER_TONNE) * kg / 1_000)
    for client, member, receipt_id in ((first, FIRST, ids[0]), (second, SECOND, ids[1])):
        status, mine = client.request("GET", f"/v1/receipts/{receipt_id}")
        assert status == 200 and mine["owner"] == member and mine["state"] == "registered"
        status, history = client.request("GET", f"/v1/receipts/{receipt_id}/history")
        actions = [e["action"] for e in history["events"]]
        assert actions[-2:] == ["tender", "tender_deliver"], actions
        status, ledger = client.request("GET", "/v1/ledger?limit=50")
        paid = [line for line in ledger if line["code"] == "DELIVERY_DVP"]
        assert [fen(line["amount"]) for line in paid] in ([-fen(settled["lines"][ids.index(receipt_id)]["value"])],
                                                          [fen(settled["lines"][ids.index(receipt_id)]["value"])])
        assert client.request("GET", "/v1/accounts/me")[1]["margin"] == "0.00"
    status, report = desk.request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]


def test_location_differentials_are_signed_yuan() -> None:
    assert [signed_fen(t) for t in ("100", "-50.5", "-0.05", "0")] == [10_000, -5_050, -5, 0]
    bad = {"delivery_month": 202701, "last_trading_day": 20270115, "location_differentials": {"w": "+5"}}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(bad), type=ForwardTermsRequest)
