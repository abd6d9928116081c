"""A forward's (中远期) terms: delivery month, last trading day, and the risk rules the clearing
house applies to it: the margin schedule, position limits, the daily opening limit, the rules
after a day locked at a price limit, margin calls, the default fund's share of commission,
and the delivery terms (tender and payment deadlines, penalty, delivery fee).

Every rule is configuration with ZCE cotton defaults. An empty margin schedule means 5 % of
contract value, 10 % from the first day of the month before delivery, 20 % in the delivery
month; empty position limits mean 20,000 lots, then 4,000, then 800.

``margined`` switches the lifecycle on. Terms journaled before the lifecycle existed decode
with it off and replay as they did (commission only); every instrument listed since sets it.
"""

import msgspec

LEGACY_FIELDS = ("margined", "limit_band_widen_bps", "limit_margin_raise_bps", "call_grace_minutes",
                 "default_fund_share_bps", "penalty_bps", "delivery_fee_per_tonne", "delivery_warehouses",
                 "location_differentials", "tender_days", "payment_days")


class MarginStep(msgspec.Struct, kw_only=True, gc=False):
    """From trading date ``from_date`` (yyyymmdd) on, margin is ``rate_bps`` of contract value."""

    from_date: int
    rate_bps: int


class PositionLimit(msgspec.Struct, kw_only=True, gc=False):
    """From trading date ``from_date`` on, a member may hold at most ``lots`` on one side."""

    from_date: int
    lots: int


class ForwardTerms(msgspec.Struct, kw_only=True, gc=False):
    """A forward's delivery month (yyyymm), last trading day (yyyymmdd) and risk rules."""

    delivery_month: int
    last_trading_day: int
    margin: list[MarginStep] = []
    position_limits: list[PositionLimit] = []
    daily_open_limit: int = 0  # lots a member may open a day (0: no limit)
    margined: bool = False  # the lifecycle: margin, limits, daily settlement, delivery
    limit_band_widen_bps: int = 5_000  # after a day locked at a limit the band widens by half ...
    limit_margin_raise_bps: int = 5_000  # ... and margin rises by half
    call_grace_minutes: int = 60  # a margin call is due this long after the next session opens
    default_fund_share_bps: int = 1_000  # of each day's commission, to the default fund
    penalty_bps: int = 2_000  # a delivery or payment default pays 20 % of contract value
    delivery_fee_per_tonne: int = 0  # fen a tonne, each side
    delivery_warehouses: list[str] = []  # empty: any warehouse the commodity's receipts are in
    location_differentials: dict[str, int] = {}  # warehouse -> fen a tonne added to the price
    tender_days: int = 0  # trading days after the last trading day for shorts to tender
    payment_days: int = 1  # trading days after the last trading day for longs to pay

    def margin_schedule(self) -> list[MarginStep]:
        return self.margin or [MarginStep(from_date=d, rate_bps=v) for d, v in self._default_steps(500, 1_000, 2_000)]

    def limit_schedule(self) -> list[PositionLimit]:
        return self.position_limits or [PositionLimit(from_date=d, lots=v)
                                        for d, v in self._default_steps(20_000, 4_000, 800)]

    def _default_steps(self, *values: int) -> list[tuple[int, int]]:
        """ZCE's tiers: from listing, from the first day of the month before delivery, in it."""
        before, month = _month_before(self.delivery_month) * 100 + 1, self.delivery_month * 100 + 1
        return list(zip((0, before, month), values, strict=True))

    def rate_bps(self, trading_date: int) -> int:
        """The margin rate on ``trading_date``.

        >>> ForwardTerms(delivery_month=202701, last_trading_day=20270115).rate_bps(20261130)
        500
        >>> ForwardTerms(delivery_month=202701, last_trading_day=20270115).rate_bps(20261201)
        1000
        """
        return _on(self.margin_schedule(), trading_date, "rate_bps", 0)

    def limit_lots(self, trading_date: int) -> int:
        """The position limit on ``trading_date`` (0: none)."""
        return _on(self.limit_schedule(), trading_date, "lots", 0)

    def problem(self) -> str | None:
        """Why these terms cannot be listed, or None."""
        if not (190_001 <= self.delivery_month <= 219_912 and 1 <= self.delivery_month % 100 <= 12):
            return "the delivery month is yyyymm"
        steps = [*self.margin, *self.position_limits]
        if any(not 0 <= s.from_date <= 21_991_231 for s in steps) or any(not 0 < s.rate_bps <= 10_000
                                                                         for s in self.margin):
            return "margin rates are 1-10,000 bps from a date"
        if any(not 0 < s.lots <= 10**9 for s in self.position_limits) or not 0 <= self.daily_open_limit <= 10**9:
            return "position and opening limits are lots"
        bps = (self.limit_band_widen_bps, self.limit_margin_raise_bps, self.default_fund_share_bps, self.penalty_bps)
        if any(not 0 <= b <= 10_000 for b in bps) or not 0 <= self.call_grace_minutes <= 1_440:
            return "rule rates are 0-10,000 bps and the call grace at most a day"
        if not (0 <= self.delivery_fee_per_tonne <= 10**9 and 0 <= self.tender_days <= 30
                and 0 <= self.payment_days <= 30 and len(self.delivery_warehouses) <= 1_000
                and len(self.location_differentials) <= 1_000
                and all(abs(v) <= 10**9 for v in self.location_differentials.values())):
            return "delivery terms out of range"
        return None


def _month_before(yyyymm: int) -> int:
    year, month = divmod(yyyymm, 100)
    return (year - 1) * 100 + 12 if month == 1 else year * 100 + month - 1


def _on(steps: list, date: int, field: str, default: int) -> int:
    """The value of the latest step from ``date`` or before (steps in any order; of two from
    the same date, the later listed)."""
    value, since = default, -1
    for step in steps:
        if since <= step.from_date <= date:
            value, since = getattr(step, field), step.from_date
    return value


def legacy_form(terms: ForwardTerms | None) -> object:
    """``terms`` as the state hash saw them before the lifecycle: the fields added since are
    left out while at their defaults, so older journals keep their hashes."""
    if terms is None:
        return None
    fields = msgspec.structs.asdict(terms)
    for name in LEGACY_FIELDS:
        if fields[name] == getattr(_DEFAULT, name):
            del fields[name]
    return fields


_DEFAULT = ForwardTerms(delivery_month=0, last_trading_day=0)
