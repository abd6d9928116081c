"""Grading and premiums: real-looking inspection data for each commodity family, the boundary
values of every grade band, refusals, and premiums against the base grade."""

from decimal import Decimal as D

import msgspec
import pytest

from warehouse_receipts.grading import table_for, value_fen
from warehouse_receipts.quality import (
    Bale,
    CottonQuality,
    NpkQuality,
    PetFlakesQuality,
    Refused,
    ScrapSteelQuality,
    UreaQuality,
    WastePaperQuality,
    colour_of_lot,
    conditioned_kg,
    cotton_weight_kg,
    grade,
    length_grade,
    micronaire_grade,
    strength_grade,
    uniformity_grade,
)

COTTON = table_for("cotton", "ZCE-2016/17")


def bale(n: int = 0, **overrides) -> Bale:
    """One bale of base-grade 3128B cotton, as a public-inspection record."""
    fields = dict(barcode=f"6523010{n:05d}", net_kg=D("227.0"), colour_grade="31", length_mm=D("28.2"),
                  micronaire=D("4.5"), strength_cn_tex=D("27.5"), uniformity_pct=D("81.5"), trash_pct=D("2.1"),
                  moisture_regain_pct=D("8.5"))
    fields.update(overrides)
    return Bale(**fields)


def lot(bales: int = 185, ginning: str = "P2", **overrides) -> CottonQuality:
    return CottonQuality(ginning=ginning, bales=[bale(i, **overrides) for i in range(bales)])


# ----------------------------------------------------------------- cotton bands

@pytest.mark.parametrize(("mm", "grade_mm"), [("28.4", 28), ("27.5", 28), ("27.49", 27), ("28.5", 29),
                                               ("26.5", 27), ("26.4", 26), ("30.6", 31)])
def test_length_grade_rounds_half_up_to_whole_millimetres(mm: str, grade_mm: int) -> None:
    assert length_grade(D(mm)) == grade_mm


@pytest.mark.parametrize(("value", "band"), [
    ("3.4", "C1"), ("3.44", "C1"), ("3.45", "B1"), ("3.5", "B1"), ("3.6", "B1"), ("3.7", "A"), ("4.2", "A"),
    ("4.24", "A"), ("4.25", "B2"), ("4.3", "B2"), ("4.9", "B2"), ("4.95", "C2"), ("5.0", "C2"),
])
def test_micronaire_bands(value: str, band: str) -> None:
    assert micronaire_grade(D(value)) == band


@pytest.mark.parametrize(("value", "band"), [
    ("31", "S1"), ("30.9", "S2"), ("29", "S2"), ("28.9", "S3"), ("27.3", "S3"), ("26", "S3"), ("25.9", "S4"),
    ("24", "S4"), ("23.9", "S5"),
])
def test_strength_bands(value: str, band: str) -> None:
    assert strength_grade(D(value)) == band


@pytest.mark.parametrize(("value", "band"), [
    ("86", "U1"), ("85.9", "U2"), ("83", "U2"), ("82.9", "U3"), ("80", "U3"), ("79.9", "U4"), ("77", "U4"),
    ("76.9", "U5"),
])
def test_uniformity_bands(value: str, band: str) -> None:
    assert uniformity_grade(D(value)) == band


def test_base_grade_lot_is_at_par() -> None:
    factors = grade(lot())
    assert factors == {"colour": "31", "length": "28", "micronaire": "B2", "strength": "S3", "uniformity": "U3",
                       "ginning": "P2"}
    assert COTTON.premium(factors) == 0


def test_premium_of_a_better_and_a_worse_lot() -> None:
    better = grade(lot(colour_grade="21", length_mm=D("30.2"), micronaire=D("4.0"), strength_cn_tex=D("31.2"),
                       uniformity_pct=D("86.1"), ginning="P1"))
    # 21 +300, length 30 +600, A +200, S1 +500, U1 +250, P1 +200 (yuan/t)
    assert COTTON.premium(better) == (300 + 600 + 200 + 500 + 250 + 200) * 100
    worse = grade(lot(colour_grade="41", length_mm=D("27.1"), micronaire=D("5.1"), strength_cn_tex=D("25.0"),
                      uniformity_pct=D("78.0"), ginning="P3"))
    assert COTTON.premium(worse) == (-400 - 300 - 100 - 300 - 300 - 300) * 100
    assert COTTON.premium({**grade(lot()), "length": "32"}) == 600 * 100  # ≥ 30 mm all price as 30


def test_lot_factors_come_from_the_bales() -> None:
    bales = [bale(0, colour_grade="21"), bale(1, colour_grade="31"), bale(2, colour_grade="21"),
             bale(3, colour_grade="31")]
    assert colour_of_lot(bales) == "31"  # a tie goes to the worse grade
    mixed = CottonQuality(ginning="P2", bales=[bale(0, length_mm=D("28.0")), bale(1, length_mm=D("29.0"))])
    assert grade(mixed)["length"] == "29"  # mean 28.5 rounds half up


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"trash_pct": D("3.6")}, "trash"),
    ({"colour_grade": "51"}, "colour grade 51"),
    ({"colour_grade": "32"}, "colour grade 32"),
    ({"colour_grade": "13"}, "colour grade 13"),
    ({"colour_grade": "24"}, "colour grade 24"),
    ({"length_mm": D("26.4")}, "length grade 26"),
    ({"uniformity_pct": D("76.9")}, "U5"),
    ({"micronaire": D("3.4")}, "C1"),
    ({"strength_cn_tex": D("23.9")}, "S5"),
])
def test_cotton_the_rules_refuse(overrides: dict, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        grade(lot(bales=5, **overrides))


def test_cotton_edges_that_are_still_accepted() -> None:
    assert grade(lot(bales=3, trash_pct=D("3.5")))["colour"] == "31"
    assert grade(lot(bales=3, length_mm=D("26.5")))["length"] == "27"
    assert grade(lot(bales=3, micronaire=D("3.5")))["micronaire"] == "B1"
    assert grade(lot(bales=3, strength_cn_tex=D("24.0")))["strength"] == "S4"
    assert grade(lot(bales=3, uniformity_pct=D("77.0")))["uniformity"] == "U4"
    with pytest.raises(Refused, match="duplicate bale barcode"):
        grade(CottonQuality(ginning="P2", bales=[bale(1), bale(1)]))


def test_conditioned_weight_at_8_5_percent_regain() -> None:
    assert conditioned_kg(bale(net_kg=D("227"), moisture_regain_pct=D("8.5"))) == D("227")
    dry = conditioned_kg(bale(net_kg=D("227"), moisture_regain_pct=D("6.5")))
    assert dry == D("227") * D("108.5") / D("106.5")  # a dry bale weighs in heavier
    assert cotton_weight_kg(lot(bales=185)) == 185 * 227  # 41,995 kg: one ZCE receipt


def test_bale_ranges_are_validated_on_decode() -> None:
    raw = msgspec.json.encode(bale())
    assert msgspec.json.decode(raw, type=Bale) == bale()
    with pytest.raises(msgspec.ValidationError, match="micronaire"):
        msgspec.json.decode(raw.replace(b'"4.5"', b'"9.5"'), type=Bale)


# ----------------------------------------------------------------- fertilizer

def urea(n: str, biuret: str, moisture: str, granules: str) -> UreaQuality:
    return UreaQuality(nitrogen_pct=D(n), biuret_pct=D(biuret), moisture_pct=D(moisture), granules_pct=D(granules))


def test_urea_base_substitute_and_refused() -> None:
    table = table_for("urea", "GB/T2440-2017")
    assert grade(urea("46.0", "0.9", "0.5", "93")) == {"grade": "base"}
    assert table.premium({"grade": "base"}) == 0
    for edge in (urea("45.9", "0.9", "0.5", "93"), urea("46.0", "1.0", "0.5", "93"), urea("46.0", "0.9", "0.6", "93"),
                 urea("46.0", "0.9", "0.5", "92.9"), urea("45.0", "1.5", "1.0", "90")):
        assert grade(edge) == {"grade": "substitute"}
    assert table.premium({"grade": "substitute"}) == -20 * 100
    for refused in (urea("44.9", "0.8", "0.3", "95"), urea("46.2", "1.6", "0.3", "95"),
                    urea("46.2", "0.8", "1.1", "95"), urea("46.2", "0.8", "0.3", "89.9")):
        with pytest.raises(Refused):
            grade(refused)


def test_compound_npk_by_declared_grade() -> None:
    ok = NpkQuality(declared="15-15-15", nitrogen_pct=D("13.5"), phosphate_pct=D("15.2"), potash_pct=D("14.8"),
                    moisture_pct=D("1.8"), granules_pct=D("92"))
    assert grade(ok) == {"grade": "15-15-15"}
    with pytest.raises(Refused, match="N 13.4"):
        grade(msgspec.structs.replace(ok, nitrogen_pct=D("13.4")))
    with pytest.raises(Refused):
        grade(msgspec.structs.replace(ok, moisture_pct=D("2.1")))


# ----------------------------------------------------------------- recycled materials

def test_scrap_steel_classes_and_inclusions() -> None:
    table = table_for("scrap_steel", "GB/T4223-2024")
    assert grade(ScrapSteelQuality(steel_class="heavy", inclusions_pct=D("0.5"))) == {"class": "heavy"}
    assert table.premium({"class": "heavy"}) == 0
    assert table.premium({"class": "light"}) < table.premium({"class": "medium"}) < 0
    with pytest.raises(Refused, match="inclusions"):
        grade(ScrapSteelQuality(steel_class="heavy", inclusions_pct=D("0.51")))


def test_waste_paper_and_pet_flakes() -> None:
    paper = WastePaperQuality(paper_grade="OCC-1", off_grade_pct=D("5"), prohibited_pct=D("0.5"), moisture_pct=D("12"))
    assert grade(paper) == {"grade": "OCC-1"}
    assert table_for("waste_paper", "2024").premium({"grade": "OCC-1"}) == 80 * 100
    with pytest.raises(Refused, match="prohibited"):
        grade(msgspec.structs.replace(paper, prohibited_pct=D("0.6")))
    pet = PetFlakesQuality(pet_grade="A", pvc_ppm=100, moisture_pct=D("1"))
    assert grade(pet) == {"grade": "A"}
    with pytest.raises(Refused, match="PVC"):
        grade(msgspec.structs.replace(pet, pvc_ppm=101))


def test_value_is_weight_times_price_plus_premium_in_fen() -> None:
    # 41,995 kg at 15,000 yuan/t + 1,200 yuan/t premium = 680,319.00 yuan
    assert value_fen(1_500_000, 120_000, 41_995) == 68_031_900
    assert value_fen(1_500_000, 0, 1) == 1_500  # 1 kg at 15,000 yuan/t is 15.00 yuan
    assert value_fen(333, 0, 1_500) == 500  # 499.5 fen rounds half up
