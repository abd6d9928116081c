"""Receipt expiry (仓单有效期) as registry configuration, per commodity.

- ``by="crop_year"`` (cotton, ZCE): a receipt carries its crop year (from its registration
  declaration, else the season of its issue date: a season starts on ``season_month`` 1, so
  a receipt issued in March 2026 is of crop year 2025) and expires at 00:00 Beijing time of
  ``month``/``day`` of crop year + ``years_after`` (ZCE: the following November, configured,
  not built in). A receipt of an earlier crop year than today's season is old crop: it is
  valued ``old_crop_discount`` fen per tonne lower.
- ``by="production"`` (urea): it expires ``days`` after its production date (the issue date:
  the quality schema carries no production date).

The owner is warned ``warn_days`` before (a notice on its private stream). Expiry and warning
fire from clock timers (``ReceiptDue``) scheduled when the receipt is issued; without a rule a
commodity's receipts never expire (so older journals replay unchanged).
"""

from typing import Literal

import msgspec

from warehouse_receipts.dates import DAY_NS, beijing_midnight_ns, local_date


class SetExpiryRule(msgspec.Struct, tag="set_expiry_rule", tag_field="cmd", kw_only=True, gc=False):
    """Clearing (or the operator) configures how ``commodity``'s receipts expire."""

    actor: str
    commodity: str
    by: Literal["crop_year", "production"]
    month: int = 11
    day: int = 30
    years_after: int = 1
    season_month: int = 9
    days: int = 150
    old_crop_discount: int = 0  # fen per tonne
    warn_days: int = 10


class ExpiryRule(msgspec.Struct, kw_only=True, frozen=True):
    by: str
    month: int
    day: int
    years_after: int
    season_month: int
    days: int
    old_crop_discount: int
    warn_days: int


class ReceiptDue(msgspec.Struct, tag="receipt_due", kw_only=True, gc=False, frozen=True):
    """A timer action: warn the owner of, or expire, ``receipt_id``."""

    receipt_id: str
    kind: Literal["warn", "expire"]


def rule_of(cmd: SetExpiryRule) -> ExpiryRule | str:
    """The rule, or why it is refused."""
    last = 28 if cmd.month == 2 else 30 if cmd.month in (4, 6, 9, 11) else 31  # no 29 February
    if not (1 <= cmd.month <= 12 and 1 <= cmd.day <= last and 0 <= cmd.years_after <= 5 and 1 <= cmd.season_month <= 12
            and 1 <= cmd.days <= 3_650 and 0 <= cmd.old_crop_discount <= 10**8 and 0 <= cmd.warn_days <= 90):
        return ("a valid month and day (not 29 February), years_after 0-5, days 1-3650, discount 0-10^8 fen/t, "
                "warn_days 0-90")
    return ExpiryRule(by=cmd.by, month=cmd.month, day=cmd.day, years_after=cmd.years_after,
                      season_month=cmd.season_month, days=cmd.days, old_crop_discount=cmd.old_crop_discount,
                      warn_days=cmd.warn_days)


def season_of(date: int, season_month: int) -> int:
    """The crop year (season) of ``yyyymmdd``."""
    year, month = date // 10_000, date // 100 % 100
    return year if month >= season_month else year - 1


def crop_year_and_expiry(rule: ExpiryRule, crop_year: int, issued_ns: int) -> tuple[int, int]:
    """(crop year, expiry UTC ns) of a receipt issued at ``issued_ns``."""
    if rule.by == "production":
        return 0, issued_ns + rule.days * DAY_NS
    crop = crop_year or season_of(local_date(issued_ns), rule.season_month)
    return crop, beijing_midnight_ns((crop + rule.years_after) * 10_000 + rule.month * 100 + rule.day)


def is_old_crop(rule: ExpiryRule | None, crop_year: int, today: int) -> bool:
    return bool(rule and crop_year and today and rule.by == "crop_year"
                and season_of(today, rule.season_month) > crop_year)
