"""Civil-date arithmetic in Beijing time (UTC+8), without ``datetime``: the core reads no clock
and needs no time zone database. Dates are integers ``yyyymmdd``; times are UTC ns."""

BEIJING_OFFSET_NS = 8 * 3_600 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000
MAX_TIME_NS = 2**62  # no journaled time or deadline beyond this (2116): bounded like every number


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(z: int) -> int:
    """The ``yyyymmdd`` of day ``z`` since 1970-01-01.

    >>> civil_from_days(days_from_civil(2026, 11, 23))
    20261123
    """
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (yoe + era * 400 + (m <= 2)) * 10_000 + m * 100 + d


def day_number(date: int) -> int:
    """Days since 1970-01-01 of ``yyyymmdd``."""
    return days_from_civil(date // 10_000, date // 100 % 100, date % 100)


def local_date(ts_ns: int) -> int:
    """The Beijing ``yyyymmdd`` of a UTC timestamp in ns."""
    return civil_from_days((ts_ns + BEIJING_OFFSET_NS) // DAY_NS)


def beijing_midnight_ns(date: int) -> int:
    """The UTC ns at which Beijing date ``yyyymmdd`` begins."""
    return day_number(date) * DAY_NS - BEIJING_OFFSET_NS
