"""The trading calendar: the one trading date that clearing, financing, market information,
reports and the scope of ``client_order_id`` all read.

Dates are integers ``yyyymmdd`` in Beijing time (UTC+8), computed from the journaled batch
time with civil-date arithmetic (no ``datetime``: the core reads no clock and needs no time
zone database). The first entry opens the calendar on the first business day on or after its
date; each end of day moves it to the next business day after the date it closes, or to the
first business day on or after the end of day's own date if that is later (an exchange that
stood idle for days; an end of day run after midnight does not skip a day). Business days
are Monday to Friday except the holidays the operator publishes (``SetHolidays``).
"""

import msgspec

from warehouse_receipts.dates import (  # the civil-date arithmetic lives with its lowest user
    BEIJING_OFFSET_NS,
    DAY_NS,
    civil_from_days,
    day_number,
    days_from_civil,
    local_date,
)

__all__ = ["BEIJING_OFFSET_NS", "DAY_NS", "Calendar", "civil_from_days", "day_number", "days_from_civil",
           "local_date"]


class Calendar(msgspec.Struct, kw_only=True):
    """The current trading date (0 before the first entry) and how many days have closed."""

    trading_date: int = 0
    closed_days: int = 0
    holidays: list[int] = []

    @property
    def day(self) -> int:
        """The current trading day's number: 1 for the first, one more after each end of day."""
        return self.closed_days + 1

    def is_business_day(self, date: int) -> bool:
        return (day_number(date) + 3) % 7 < 5 and date not in self.holidays  # 1970-01-01 was a Thursday

    def next_business_day(self, date: int, inclusive: bool = False) -> int:
        day = day_number(date) + (0 if inclusive else 1)
        while not self.is_business_day(civil_from_days(day)):
            day += 1
        return civil_from_days(day)

    def open(self, now_ns: int) -> None:
        """Open the calendar at the first entry's time (a no-op once open)."""
        if not self.trading_date:
            self.trading_date = self.next_business_day(local_date(now_ns), inclusive=True)

    def roll(self, now_ns: int) -> int:
        """Close the trading date (end of day); return the date closed."""
        closed = self.trading_date
        self.trading_date = max(self.next_business_day(closed),
                                self.next_business_day(local_date(now_ns), inclusive=True))
        self.closed_days += 1
        return closed


class SetHolidays(msgspec.Struct, tag="set_holidays", tag_field="cmd", kw_only=True, gc=False):
    """The exchange's holidays (``yyyymmdd``), replacing the list published before."""

    actor: str
    holidays: list[int]


def bad_dates(dates: list[int]) -> list[int]:
    """The entries of ``dates`` that are not real dates from 1970 to 2199."""
    return [d for d in dates if not 19_700_101 <= d <= 21_991_231 or civil_from_days(day_number(d)) != d]
