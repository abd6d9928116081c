"""Warehouse operations through a real server and PostgreSQL: tariffs, storage fees at the
end of day, release orders and pickups, the warehouse's views."""

import pytest

from gateway.client import Client

OPS, CLEARING = "exchange-ops", "clearing-desk"
UREA = {"type": "urea", "nitrogen_pct": 46.2, "biuret_pct": 0.8, "moisture_pct": 0.4, "granules_pct": 94.5}


def join(server, member: str, role: str) -> Client:
    creds = server.client(OPS).request("POST", "/v1/admin/members", {"member": member, "roles": [role]})[1]
    return Client.for_member(server.base, creds)


def deposit(server, member: str, yuan: str, reference: str) -> None:
    status, body = server.client(CLEARING).request("POST", "/v1/clearing/deposits",
                                                   {"member": member, "amount": yuan, "reference": reference})
    assert status == 201, body


def reconciled(server) -> None:
    status, report = server.client(CLEARING).request("GET", "/v1/clearing/reconcile")
    assert status == 200 and report["clean"], report["breaks"]


@pytest.fixture(scope="module")
def parties(server):
    return {"wh": join(server, "tj-warehouse-09", "warehouse"), "owner": join(server, "hebei-agri", "trader")}


def test_storage_fees_to_the_fen_at_the_end_of_day(server, parties) -> None:
    wh, owner = parties["wh"], parties["owner"]
    status, tariff = wh.request("POST", "/v1/warehouse/tariffs", {"commodity": "urea",
                                                                  "storage_per_tonne_day": "1.37"})
    assert (status, tariff["storage_per_tonne_day"]) == (200, "1.37"), tariff
    assert owner.request("POST", "/v1/warehouse/tariffs", {"commodity": "urea", "storage_per_tonne_day": "1"})[0] \
        == 403
    assert wh.request("POST", "/v1/warehouse/tariffs", {"commodity": "gold", "storage_per_tonne_day": "1"})[1][
        "error"]["code"] == "UNKNOWN_COMMODITY"
    deposit(server, "hebei-agri", "1000", "hebei-1")
    status, receipt = wh.request("POST", "/v1/receipts", {"certificate_no": "TJ-1", "inspector": "CCIC",
                                                          "owner": "hebei-agri", "quality": UREA,
                                                          "quantity_kg": 20_013})
    assert status == 201, receipt
    assert server.client(CLEARING).request("POST", "/v1/clearing/end-of-day", {})[0] == 201
    # 20.013 t × 1.37 yuan = 27.41781 → 27.42
    fees = wh.request("GET", "/v1/warehouse/fees")[1]
    assert fees["earned"] == "27.42" and fees["paid_by_receipt"] == {receipt["receipt_id"]: "27.42"}
    assert owner.request("GET", "/v1/accounts/me")[1]["available"] == "972.58"
    line = owner.request("GET", "/v1/ledger")[1][0]
    assert line["code"] == "STORAGE_FEE" and line["ref"] == f"receipt:{receipt['receipt_id']}", line
    reconciled(server)
