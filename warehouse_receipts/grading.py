"""Premium / discount (升贴水) tables, valuation against the base grade, and deliverability.

Tables are versioned configuration (DESIGN §2: figures marked ZCE are public market rules we
model, not constants). Amounts are integer fen per tonne. A receipt's premium is the sum of
its grade factors' entries; a factor value missing from the table is at par.
"""

import msgspec

from warehouse_receipts.quality import Refused


class PremiumTable(msgspec.Struct, frozen=True, kw_only=True):
    """Premiums in fen per tonne by grade factor and value, for one commodity and season."""

    commodity: str
    version: str
    base_grade: str
    entries: dict[str, dict[str, int]]
    caps: dict[str, int] = {}  # numeric factors whose values above the cap price as the cap

    def max_premium(self) -> int:
        """The largest premium any receipt can carry (fen per tonne, at least 0)."""
        return sum(max(0, *values.values()) for values in self.entries.values())

    def premium(self, factors: dict[str, str]) -> int:
        """Fen per tonne above (or below) the base grade."""
        total = 0
        for factor, value in factors.items():
            if factor in self.caps:
                value = str(min(int(value), self.caps[factor]))
            total += self.entries.get(factor, {}).get(value, 0)
        return total


def _yuan(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {factor: {value: yuan * 100 for value, yuan in values.items()} for factor, values in table.items()}


TABLES: dict[tuple[str, str], PremiumTable] = {
    ("cotton", "ZCE-2016/17"): PremiumTable(
        commodity="cotton", version="ZCE-2016/17", base_grade="3128B (white 31, 28 mm, micronaire B, U3, S3, P2)",
        entries=_yuan({
            "colour": {"11": 500, "21": 300, "31": 0, "41": -400, "12": -150, "22": -450},
            "length": {"30": 600, "29": 300, "28": 0, "27": -300},
            "micronaire": {"A": 200, "B1": 0, "B2": 0, "C2": -100},
            "strength": {"S1": 500, "S2": 250, "S3": 0, "S4": -300},
            "uniformity": {"U1": 250, "U2": 150, "U3": 0, "U4": -300},
            "ginning": {"P1": 200, "P2": 0, "P3": -300},
        }),
        caps={"length": 30},
    ),
    ("urea", "GB/T2440-2017"): PremiumTable(
        commodity="urea", version="GB/T2440-2017", base_grade="N ≥ 46.0 %, biuret ≤ 0.9 %, moisture ≤ 0.5 %",
        entries=_yuan({"grade": {"base": 0, "substitute": -20}}),
    ),
    ("scrap_steel", "GB/T4223-2024"): PremiumTable(
        commodity="scrap_steel", version="GB/T4223-2024", base_grade="heavy",
        # illustrative discounts by class against heavy melting scrap
        entries=_yuan({"class": {"heavy": 0, "medium": -60, "small": -120, "bulk": -150, "light": -220}}),
    ),
    ("waste_paper", "2024"): PremiumTable(
        commodity="waste_paper", version="2024", base_grade="OCC-2",
        entries=_yuan({"grade": {"OCC-1": 80, "OCC-2": 0, "OCC-3": -80, "ONP": 50, "MIX": -150}}),
    ),
    ("pet_flakes", "2024"): PremiumTable(
        commodity="pet_flakes", version="2024", base_grade="B",
        entries=_yuan({"grade": {"A": 300, "B": 0, "C": -400}}),
    ),
}


def table_for(commodity: str, version: str) -> PremiumTable:
    """The premium table of a commodity and version (KeyError if unknown)."""
    return TABLES[(commodity, version)]


def value_fen(price_fen_per_tonne: int, premium_fen_per_tonne: int, weight_kg: int) -> int:
    """Value of ``weight_kg`` at price + premium, in fen, rounded half up."""
    return ((price_fen_per_tonne + premium_fen_per_tonne) * weight_kg * 2 + 1_000) // 2_000


def deliverable(commodity: str, warehouse: str, factors: dict[str, str], spec_commodity: str,
                spec_warehouses: list[str], weight_kg: int = 0, lot_kg: int = 0,
                tolerance_bps: int = 0) -> str | None:
    """Why a receipt cannot be delivered against an instrument, or None if it can. With
    ``lot_kg``, the receipt must weigh within ``tolerance_bps`` of one lot."""
    if lot_kg and abs(weight_kg - lot_kg) * 10_000 > lot_kg * tolerance_bps:
        return f"{weight_kg} kg is not within {tolerance_bps / 100:g} % of a {lot_kg} kg lot"
    if commodity != spec_commodity:
        return f"a {commodity} receipt does not deliver against a {spec_commodity} instrument"
    if spec_warehouses and warehouse not in spec_warehouses:
        return f"warehouse {warehouse} is not a deliverable warehouse"
    if factors.get("foreign_fibre") == "yes":
        return "foreign fibre found at inspection"
    return None


__all__ = ["PremiumTable", "Refused", "TABLES", "deliverable", "table_for", "value_fen"]
