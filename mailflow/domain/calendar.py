"""Working days and closed windows, per installer country and time zone (pure functions).

A working day is Monday to Friday and not a public holiday of the country (``holidays``).
Offices close at 17:00: from 17:00 on the last working day before one or more non-working
days until 17:00 on the next working day, the window is closed (PRODUCT.md §3).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

CLOSING_TIME = time(17, 0)


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country.upper(), years=year).keys())
    except NotImplementedError:  # a country the package does not know: weekends only
        return frozenset()


def is_holiday(day: date, country: str) -> bool:
    return day in _holidays(country, day.year)


def is_working_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and not is_holiday(day, country)


def next_working_day(day: date, country: str) -> date:
    day += timedelta(days=1)
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def add_working_days(day: date, count: int, country: str) -> date:
    for _ in range(count):
        day = next_working_day(day, country)
    return day


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz)


def closed_window_end(instant: datetime, country: str, timezone: str) -> datetime | None:
    """If ``instant`` falls in a closed window, the (aware) end of that window; else None."""
    tz = ZoneInfo(timezone)
    local = instant.astimezone(tz)
    day = local.date()
    if not is_working_day(day, country):
        return _at(next_working_day(day, country), CLOSING_TIME, tz)
    if local.time() >= CLOSING_TIME and not is_working_day(day + timedelta(days=1), country):
        return _at(next_working_day(day, country), CLOSING_TIME, tz)
    if local.time() < CLOSING_TIME and not is_working_day(day - timedelta(days=1), country):
        return _at(day, CLOSING_TIME, tz)
    return None


def add_business_days(instant: datetime, count: int, country: str, timezone: str) -> datetime:
    """The same local time ``count`` working days later (a start on a non-working day counts
    from the next working day's start)."""
    tz = ZoneInfo(timezone)
    local = instant.astimezone(tz)
    day, moment = local.date(), local.time()
    if not is_working_day(day, country):
        day, moment = next_working_day(day, country), time(9, 0)
    target = add_working_days(day, count, country)
    return datetime.combine(target, moment, tzinfo=tz)
