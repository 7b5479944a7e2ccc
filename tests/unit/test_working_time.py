"""Working time (#20): installers' weekly hours, short offer windows counted in working
minutes, and the settings that choose a window per tier and product."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mailflow.config import Settings, parse_duration
from mailflow.domain.calendar import (
    add_working_minutes,
    is_working_time,
    next_working_start,
    parse_working_hours,
    working_minutes_between,
)
from mailflow.domain.deadlines import offer_deadline

PARIS = ZoneInfo("Europe/Paris")
DEFAULT = parse_working_hours(None)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_parse_working_hours():
    hours = parse_working_hours("mon-fri 08:00-18:00")
    assert hours.days == frozenset(range(5)) and str(hours) == "mon-fri 08:00-18:00"
    assert parse_working_hours("Mon,Wed,sat 7:30-16:00").days == frozenset({0, 2, 5})
    assert str(parse_working_hours("sat,mon-wed 7:30-16:00")) == "mon-wed,sat 07:30-16:00"
    assert parse_working_hours("fri-mon 09:00-12:00").days == frozenset({4, 5, 6, 0})
    for bad in ("mon-fri", "mon-fri 18:00-08:00", "xyz 08:00-18:00", "mon-fri 8-18"):
        with pytest.raises(ValueError):
            parse_working_hours(bad)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        # week of Monday 16 November 2026, no French holidays
        (local(2026, 11, 20, 17, 45), 30, local(2026, 11, 23, 8, 15)),  # Friday → Monday
        (local(2026, 11, 19, 10, 0), 30, local(2026, 11, 19, 10, 30)),
        (local(2026, 11, 21, 22, 0), 30, local(2026, 11, 23, 8, 30)),  # Saturday night
        (local(2026, 11, 19, 17, 0), 120, local(2026, 11, 20, 9, 0)),
        (local(2026, 11, 19, 6, 0), 0, local(2026, 11, 19, 8, 0)),  # zero: next start
        (local(2026, 11, 20, 18, 0), 600, local(2026, 11, 23, 18, 0)),  # one full day
        # Wednesday 11 November 2026 is Armistice Day in France: skipped
        (local(2026, 11, 10, 17, 30), 60, local(2026, 11, 12, 8, 30)),
    ],
)
def test_add_working_minutes(start, minutes, expected):
    assert add_working_minutes(start, minutes, DEFAULT, "FR", "Europe/Paris") == expected


def test_daylight_saving_change_counts_real_minutes():
    # Sunday 29 March 2026 Paris goes to summer time; Friday 17:00 + 2 h = Monday 09:00 local
    result = add_working_minutes(local(2026, 3, 27, 17, 0), 120, DEFAULT, "FR", "Europe/Paris")
    assert result == local(2026, 3, 30, 9, 0)


def test_is_working_time_and_next_start():
    assert is_working_time(local(2026, 11, 19, 8, 0), DEFAULT, "FR", "Europe/Paris")
    assert not is_working_time(local(2026, 11, 19, 18, 0), DEFAULT, "FR", "Europe/Paris")
    assert not is_working_time(local(2026, 11, 21, 12, 0), DEFAULT, "FR", "Europe/Paris")
    saturday_night = local(2026, 11, 21, 22, 0)
    assert next_working_start(saturday_night, DEFAULT, "FR", "Europe/Paris") == local(
        2026, 11, 23, 8, 0
    )


def test_short_window_deadline_counts_working_minutes_default_stays():
    friday = local(2026, 11, 20, 17, 45)
    short = offer_deadline(
        friday, country="FR", timezone="Europe/Paris", window=timedelta(minutes=30)
    )
    assert short == local(2026, 11, 23, 8, 15)
    # 24 h (the default) keeps PRODUCT.md's rule: Friday 17:45 → Monday 17:00
    assert offer_deadline(friday, country="FR", timezone="Europe/Paris") == local(
        2026, 11, 23, 17, 0
    )


def test_own_hours_are_used():
    saturday_shop = parse_working_hours("tue-sat 09:00-17:00")
    start = local(2026, 11, 21, 16, 50)  # Saturday
    assert add_working_minutes(start, 30, saturday_shop, "FR", "Europe/Paris") == local(
        2026, 11, 24, 9, 20
    )


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
hour_sets = st.sampled_from(
    ["mon-fri 08:00-18:00", "mon-sat 07:30-12:15", "tue,thu 22:00-23:59", "sun 00:00-23:00"]
)
places = st.sampled_from(
    [
        ("FR", "Europe/Paris"),
        ("DE", "Europe/Berlin"),
        ("US", "America/New_York"),
        ("NZ", "Pacific/Auckland"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(1, 3000), st.integers(0, 600), hour_sets, places)
def test_working_minutes_properties(start, n, extra, hours_text, place):
    country, timezone = place
    hours = parse_working_hours(hours_text)
    result = add_working_minutes(start, n, hours, country, timezone)
    # inside working hours (a period's end included: the last minute was worked)
    assert is_working_time(result - timedelta(microseconds=1), hours, country, timezone)
    assert result > start
    # the working minutes between the start and the result are exactly N
    assert working_minutes_between(start, result, hours, country, timezone) == pytest.approx(n)
    # monotonic in N
    later = add_working_minutes(start, n + extra, hours, country, timezone)
    assert later >= result


def test_durations_and_window_settings():
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("45") == timedelta(minutes=45)
    for bad in ("", "0m", "soon", "3w"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    s = Settings(
        offer_window_gold="30m",
        offer_window_silver="2h",
        offer_window_products="heat_pump=4h,heat_pump:gold=15m",
    )
    assert s.offer_window_for("gold", "pv") == timedelta(minutes=30)
    assert s.offer_window_for("silver", None) == timedelta(hours=2)
    assert s.offer_window_for("bronze", "pv") == timedelta(hours=24)  # the default
    assert s.offer_window_for("gold", "heat_pump") == timedelta(minutes=15)
    assert s.offer_window_for("bronze", "heat_pump") == timedelta(hours=4)
    with pytest.raises(ValidationError):
        Settings(offer_window_gold="half an hour")
