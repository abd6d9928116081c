"""Quality schemas, one ``msgspec.Struct`` per commodity family, and the grading of each.

Measurements are ``Decimal`` (msgspec decodes JSON numbers into them exactly), so band edges
such as micronaire 3.7 or trash 3.5 % compare without float error. ``grade()`` turns an
inspection into the grade factors a premium table prices, or raises ``Refused`` for goods the
exchange does not register.

Cotton follows public inspection (公检, GB 1103.1) as summarised in DESIGN §2: a lot's factors
are derived from its bales (colour: the most frequent grade, the worse one on a tie; length,
micronaire, strength, uniformity, trash, moisture: bale means; any foreign fibre flags the
lot). Length grades round half up to whole millimetres (27.5–28.4 mm is 28); micronaire is
rounded half up to one decimal before banding.
"""

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

ONE = Decimal(1)
HUNDRED = (Decimal(0), Decimal(100))


def within(record: msgspec.Struct, **bounds: tuple[Decimal, Decimal]) -> None:
    """Raise ValueError (a validation error when msgspec decodes) if a field is out of range."""
    for name, (low, high) in bounds.items():
        value = getattr(record, name)
        if not value.is_finite() or not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _range(low: int | str, high: int | str) -> tuple[Decimal, Decimal]:
    return Decimal(low), Decimal(high)


class Refused(ValueError):
    """The goods fail the exchange's registration rules."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------ cotton

WHITE = ("11", "21", "31", "41", "51")
LIGHT_SPOTTED = ("12", "22", "32")
SPOTTED = ("13", "23", "33")
YELLOW_STAINED = ("14", "24")
COLOUR_GRADES = WHITE + LIGHT_SPOTTED + SPOTTED + YELLOW_STAINED
REFUSED_COLOURS = frozenset({"51", "32", "13", "23", "33", "14", "24"})
ColourGrade = Literal["11", "21", "31", "41", "51", "12", "22", "32", "13", "23", "33", "14", "24"]
CONDITIONED_REGAIN = Decimal("8.5")  # % moisture regain cotton is weighed at


class Bale(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One bale's public-inspection record."""

    barcode: Annotated[str, Meta(min_length=8, max_length=32)]
    net_kg: Decimal
    colour_grade: ColourGrade
    length_mm: Decimal
    micronaire: Decimal
    strength_cn_tex: Decimal
    uniformity_pct: Decimal
    trash_pct: Decimal
    moisture_regain_pct: Decimal

    def __post_init__(self) -> None:
        within(self, net_kg=_range("0.1", 400), length_mm=_range(15, 45), micronaire=_range(2, 7),
               strength_cn_tex=_range(15, 45), uniformity_pct=_range(60, 95), trash_pct=_range(0, 20),
               moisture_regain_pct=_range(0, 20))


class CottonQuality(msgspec.Struct, tag="cotton", kw_only=True, forbid_unknown_fields=True):
    """A cotton lot: ginning grade and its bales (a ZCE receipt is about 185 ± 5 bales)."""

    ginning: Literal["P1", "P2", "P3"]
    foreign_fibre: bool = False
    bales: Annotated[list[Bale], Meta(min_length=1, max_length=400)]


def length_grade(mm: Decimal) -> int:
    """Whole-millimetre length grade, rounding half up: 28.4 -> 28, 27.5 -> 28."""
    return int(mm.quantize(ONE, rounding=ROUND_HALF_UP))


def micronaire_grade(value: Decimal) -> str:
    """A 3.7–4.2; B1 3.5–3.6, B2 4.3–4.9; C1 ≤ 3.4, C2 ≥ 5.0 (after rounding to 0.1)."""
    v = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if Decimal("3.7") <= v <= Decimal("4.2"):
        return "A"
    if Decimal("3.5") <= v <= Decimal("3.6"):
        return "B1"
    if Decimal("4.3") <= v <= Decimal("4.9"):
        return "B2"
    return "C1" if v <= Decimal("3.4") else "C2"


def strength_grade(cn_tex: Decimal) -> str:
    """S1 ≥ 31, S2 29–30.9, S3 26–28.9, S4 24–25.9, S5 < 24 cN/tex."""
    for bound, grade in ((31, "S1"), (29, "S2"), (26, "S3"), (24, "S4")):
        if cn_tex >= bound:
            return grade
    return "S5"


def uniformity_grade(pct: Decimal) -> str:
    """U1 ≥ 86, U2 83–85.9, U3 80–82.9, U4 77–79.9, U5 < 77 %."""
    for bound, grade in ((86, "U1"), (83, "U2"), (80, "U3"), (77, "U4")):
        if pct >= bound:
            return grade
    return "U5"


def colour_of_lot(bales: list[Bale]) -> str:
    """The most frequent bale colour grade; on a tie the worse (later in COLOUR_GRADES)."""
    counts = Counter(b.colour_grade for b in bales)
    top = max(counts.values())
    return max((g for g, n in counts.items() if n == top), key=COLOUR_GRADES.index)


def conditioned_kg(bale: Bale) -> Decimal:
    """Net weight corrected to the 8.5 % conditioned moisture regain."""
    return bale.net_kg * (100 + CONDITIONED_REGAIN) / (100 + bale.moisture_regain_pct)


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def grade_cotton(q: CottonQuality) -> dict[str, str]:
    """Grade factors of a cotton lot, or Refused."""
    bales = q.bales
    if len({b.barcode for b in bales}) != len(bales):
        raise Refused("duplicate bale barcode")
    factors = {
        "colour": colour_of_lot(bales),
        "length": str(length_grade(_mean([b.length_mm for b in bales]))),
        "micronaire": micronaire_grade(_mean([b.micronaire for b in bales])),
        "strength": strength_grade(_mean([b.strength_cn_tex for b in bales])),
        "uniformity": uniformity_grade(_mean([b.uniformity_pct for b in bales])),
        "ginning": q.ginning,
    }
    trash = _mean([b.trash_pct for b in bales])
    if trash > Decimal("3.5"):
        raise Refused(f"trash {trash:.2f} % exceeds 3.5 %")
    if factors["colour"] in REFUSED_COLOURS:
        raise Refused(f"colour grade {factors['colour']} is not deliverable")
    if int(factors["length"]) < 27:
        raise Refused(f"length grade {factors['length']} mm is below 27 mm")
    for factor, bad in (("uniformity", "U5"), ("micronaire", "C1"), ("strength", "S5")):
        if factors[factor] == bad:
            raise Refused(f"{factor} grade {bad} is not deliverable")
    if q.foreign_fibre:
        factors["foreign_fibre"] = "yes"
    return factors


def cotton_weight_kg(q: CottonQuality) -> int:
    """The lot's conditioned weight in whole kilograms (rounded half up)."""
    total = sum((conditioned_kg(b) for b in q.bales), Decimal(0))
    return int(total.quantize(ONE, rounding=ROUND_HALF_UP))


# ------------------------------------------------------------------ fertilizer

class UreaQuality(msgspec.Struct, tag="urea", kw_only=True, forbid_unknown_fields=True):
    """Urea (GB/T 2440): total nitrogen, biuret, moisture, share of 0.85–3.35 mm granules."""

    nitrogen_pct: Decimal
    biuret_pct: Decimal
    moisture_pct: Decimal
    granules_pct: Decimal

    def __post_init__(self) -> None:
        within(self, nitrogen_pct=HUNDRED, biuret_pct=HUNDRED, moisture_pct=HUNDRED, granules_pct=HUNDRED)


def grade_urea(q: UreaQuality) -> dict[str, str]:
    """'base' (N ≥ 46.0, biuret ≤ 0.9, moisture ≤ 0.5, granules ≥ 93) or 'substitute'
    (N ≥ 45, biuret ≤ 1.5, moisture ≤ 1.0, granules ≥ 90); anything else is refused."""
    if q.nitrogen_pct >= 46 and q.biuret_pct <= Decimal("0.9") and q.moisture_pct <= Decimal("0.5") \
            and q.granules_pct >= 93:
        return {"grade": "base"}
    if q.nitrogen_pct >= 45 and q.biuret_pct <= Decimal("1.5") and q.moisture_pct <= 1 and q.granules_pct >= 90:
        return {"grade": "substitute"}
    raise Refused("urea below the substitute grade (N ≥ 45 %, biuret ≤ 1.5 %, moisture ≤ 1 %, granules ≥ 90 %)")


class NpkQuality(msgspec.Struct, tag="npk", kw_only=True, forbid_unknown_fields=True):
    """Compound fertilizer by declared grade, e.g. 15-15-15 (N-P2O5-K2O)."""

    declared: Annotated[str, Meta(pattern=r"^\d{1,2}-\d{1,2}-\d{1,2}$")]
    nitrogen_pct: Decimal
    phosphate_pct: Decimal
    potash_pct: Decimal
    moisture_pct: Decimal
    granules_pct: Decimal

    def __post_init__(self) -> None:
        within(self, nitrogen_pct=HUNDRED, phosphate_pct=HUNDRED, potash_pct=HUNDRED, moisture_pct=HUNDRED,
               granules_pct=HUNDRED)


NPK_TOLERANCE = Decimal("1.5")  # a nutrient may fall this far (absolute %) below its declared value


def grade_npk(q: NpkQuality) -> dict[str, str]:
    """The declared grade if every nutrient is within tolerance, moisture ≤ 2 % and granules ≥ 90 %."""
    declared = [Decimal(x) for x in q.declared.split("-")]
    measured = [q.nitrogen_pct, q.phosphate_pct, q.potash_pct]
    for name, want, got in zip(("N", "P2O5", "K2O"), declared, measured, strict=True):
        if got < want - NPK_TOLERANCE:
            raise Refused(f"{name} {got} % is below the declared {want} % less {NPK_TOLERANCE}")
    if q.moisture_pct > 2 or q.granules_pct < 90:
        raise Refused("compound fertilizer needs moisture ≤ 2 % and granules ≥ 90 %")
    return {"grade": q.declared}


# ------------------------------------------------------------------ recycled materials

class ScrapSteelQuality(msgspec.Struct, tag="scrap_steel", kw_only=True, forbid_unknown_fields=True):
    """Scrap steel by class (GB/T 4223) and non-metallic inclusions."""

    steel_class: Literal["heavy", "medium", "small", "bulk", "light"]
    inclusions_pct: Decimal

    def __post_init__(self) -> None:
        within(self, inclusions_pct=HUNDRED)


def grade_scrap_steel(q: ScrapSteelQuality) -> dict[str, str]:
    if q.inclusions_pct > Decimal("0.5"):
        raise Refused(f"non-metallic inclusions {q.inclusions_pct} % exceed 0.5 %")
    return {"class": q.steel_class}


class WastePaperQuality(msgspec.Struct, tag="waste_paper", kw_only=True, forbid_unknown_fields=True):
    """Waste paper by grade with off-grade, prohibited-material and moisture shares."""

    paper_grade: Literal["OCC-1", "OCC-2", "OCC-3", "ONP", "MIX"]
    off_grade_pct: Decimal
    prohibited_pct: Decimal
    moisture_pct: Decimal

    def __post_init__(self) -> None:
        within(self, off_grade_pct=HUNDRED, prohibited_pct=HUNDRED, moisture_pct=HUNDRED)


def grade_waste_paper(q: WastePaperQuality) -> dict[str, str]:
    """Refused above 0.5 % prohibited, 5 % off-grade or 12 % moisture (illustrative limits)."""
    if q.prohibited_pct > Decimal("0.5"):
        raise Refused(f"prohibited materials {q.prohibited_pct} % exceed 0.5 %")
    if q.off_grade_pct > 5:
        raise Refused(f"off-grade {q.off_grade_pct} % exceeds 5 %")
    if q.moisture_pct > 12:
        raise Refused(f"moisture {q.moisture_pct} % exceeds 12 %")
    return {"grade": q.paper_grade}


class PetFlakesQuality(msgspec.Struct, tag="pet_flakes", kw_only=True, forbid_unknown_fields=True):
    """Recycled PET flakes by grade (A clear food-contact … C mixed colour)."""

    pet_grade: Literal["A", "B", "C"]
    pvc_ppm: Annotated[int, Meta(ge=0, le=100_000)]
    moisture_pct: Decimal

    def __post_init__(self) -> None:
        within(self, moisture_pct=HUNDRED)


def grade_pet_flakes(q: PetFlakesQuality) -> dict[str, str]:
    """Refused above 100 ppm PVC or 1 % moisture (illustrative limits)."""
    if q.pvc_ppm > 100:
        raise Refused(f"PVC {q.pvc_ppm} ppm exceeds 100 ppm")
    if q.moisture_pct > 1:
        raise Refused(f"moisture {q.moisture_pct} % exceeds 1 %")
    return {"grade": q.pet_grade}


Quality = CottonQuality | UreaQuality | NpkQuality | ScrapSteelQuality | WastePaperQuality | PetFlakesQuality

GRADERS = {
    CottonQuality: grade_cotton,
    UreaQuality: grade_urea,
    NpkQuality: grade_npk,
    ScrapSteelQuality: grade_scrap_steel,
    WastePaperQuality: grade_waste_paper,
    PetFlakesQuality: grade_pet_flakes,
}


def commodity_of(quality: Quality) -> str:
    """The commodity family a quality record belongs to (its tag)."""
    return type(quality).__struct_config__.tag


def grade(quality: Quality) -> dict[str, str]:
    """Grade factors of an inspection, or Refused."""
    return GRADERS[type(quality)](quality)
