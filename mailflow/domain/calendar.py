"""Working days and closed windows, per installer country and time zone (pure functions).

A working day is Monday to Friday and not a public holiday of the country (``holidays``).
Offices close at 17:00: from 17:00 on the last working day before one or more non-working
days until 17:00 on the next working day, the window is closed (PRODUCT.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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


# ------------------------------------------------------------------ working hours -------------
# Short offer windows (mailflow.domain.deadlines) count minutes of the installer's working time:
# their weekly hours (default Monday to Friday 08:00–18:00) in their time zone, public holidays
# of their country off. All arithmetic is done in UTC (two aware datetimes of one zone subtract
# as wall clocks, which is wrong across a daylight-saving change).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WORKING_HOURS = "mon-fri 08:00-18:00"


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # weekdays, Monday = 0
    start: time
    end: time

    def __str__(self) -> str:
        spans: list[list[int]] = []
        for day in sorted(self.days):
            if spans and spans[-1][1] == day - 1:
                spans[-1][1] = day
            else:
                spans.append([day, day])
        days = ",".join(WEEKDAYS[a] if a == b else f"{WEEKDAYS[a]}-{WEEKDAYS[b]}" for a, b in spans)
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


def _day_span(text: str) -> set[int]:
    first, _, last = text.partition("-")
    a = WEEKDAYS.index(first.strip()[:3])
    b = WEEKDAYS.index(last.strip()[:3]) if last else a
    return set(range(a, b + 1)) if a <= b else set(range(a, 7)) | set(range(0, b + 1))


def parse_working_hours(text: str | None) -> WorkingHours:
    """``"mon-fri 08:00-18:00"``, ``"mon,tue,thu 07:30-16:00"``, ``"mon-sat 9:00-17:00"``.
    Raises ValueError on anything else (an empty text is the default)."""
    text = (text or DEFAULT_WORKING_HOURS).strip().lower()
    try:
        days_part, hours_part = text.split()
        days: set[int] = set()
        for span in days_part.split(","):
            days |= _day_span(span)
        begin, end = (time.fromisoformat(p.strip().zfill(5)) for p in hours_part.split("-"))
    except ValueError:
        raise ValueError(f"working hours {text!r}: expected e.g. 'mon-fri 08:00-18:00'") from None
    if not days or end <= begin:
        raise ValueError(f"working hours {text!r}: no days, or the end is not after the start")
    return WorkingHours(frozenset(days), begin, end)


def _periods(instant: datetime, hours: WorkingHours, country: str, timezone: str):
    """Working periods (UTC start, UTC end) from the local day of ``instant`` onwards."""
    tz = ZoneInfo(timezone)
    day = instant.astimezone(tz).date() - timedelta(days=1)
    for _ in range(3660):  # ten years: hours with at least one working day always end sooner
        if day.weekday() in hours.days and not is_holiday(day, country):
            start = _at(day, hours.start, tz).astimezone(UTC)
            end = _at(day, hours.end, tz).astimezone(UTC)
            if end > start:
                yield start, end
        day += timedelta(days=1)


def is_working_time(instant: datetime, hours: WorkingHours, country: str, timezone: str) -> bool:
    instant = instant.astimezone(UTC)
    for start, end in _periods(instant, hours, country, timezone):
        if start > instant:
            return False
        if instant < end:
            return True
    return False


def next_working_start(
    instant: datetime, hours: WorkingHours, country: str, timezone: str
) -> datetime:
    """``instant`` itself (UTC) if it is working time, else the start of the next period."""
    instant = instant.astimezone(UTC)
    for start, end in _periods(instant, hours, country, timezone):
        if instant < end:
            return max(start, instant)
    raise ValueError("no working time in ten years")


def add_working_minutes(
    instant: datetime, minutes: float, hours: WorkingHours, country: str, timezone: str
) -> datetime:
    """The instant (UTC) at which ``minutes`` of working time have passed since ``instant``.
    Zero minutes out of hours is the start of the next period."""
    left = timedelta(minutes=minutes)
    instant = instant.astimezone(UTC)
    for start, end in _periods(instant, hours, country, timezone):
        if instant >= end:
            continue
        begin = max(start, instant)
        if begin + left <= end:
            return begin + left
        left -= end - begin
    raise ValueError("no working time in ten years")


def working_minutes_between(
    a: datetime, b: datetime, hours: WorkingHours, country: str, timezone: str
) -> float:
    """Minutes of working time between ``a`` and ``b`` (0 if ``b`` is not after ``a``)."""
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    total = timedelta()
    for start, end in _periods(a, hours, country, timezone):
        if start >= b:
            break
        lo, hi = max(start, a), min(end, b)
        if hi > lo:
            total += hi - lo
    return total / timedelta(minutes=1)
