"""Offer deadlines: the table of PRODUCT.md §3, holidays, DST, time zones, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.domain.calendar import add_business_days, closed_window_end
from mailflow.domain.deadlines import offer_deadline

PARIS = ZoneInfo("Europe/Paris")
BERLIN = ZoneInfo("Europe/Berlin")


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        # PRODUCT.md §3, week of Monday 16 November 2026 (no holidays)
        (local(PARIS, 2026, 11, 19, 16, 0), local(PARIS, 2026, 11, 20, 16, 0)),  # Thu → Fri
        (local(PARIS, 2026, 11, 19, 18, 0), local(PARIS, 2026, 11, 23, 17, 0)),  # Thu → Mon 17
        (local(PARIS, 2026, 11, 20, 17, 1), local(PARIS, 2026, 11, 23, 17, 0)),  # Fri 17:01
        (local(PARIS, 2026, 11, 22, 12, 0), local(PARIS, 2026, 11, 23, 17, 0)),  # Sun → Mon 17
        (local(PARIS, 2026, 11, 23, 16, 0), local(PARIS, 2026, 11, 24, 16, 0)),  # Mon → Tue
        # edges of the window
        (local(PARIS, 2026, 11, 19, 16, 59), local(PARIS, 2026, 11, 20, 16, 59)),
        (local(PARIS, 2026, 11, 19, 17, 0), local(PARIS, 2026, 11, 23, 17, 0)),
        (local(PARIS, 2026, 11, 22, 17, 0), local(PARIS, 2026, 11, 23, 17, 0)),
        (local(PARIS, 2026, 11, 22, 17, 1), local(PARIS, 2026, 11, 23, 17, 1)),
    ],
)
def test_product_table(offered, expected):
    assert offer_deadline(offered, country="FR", timezone="Europe/Paris") == expected


def test_day_before_a_french_public_holiday():
    # Wednesday 11 November 2026 (Armistice) is closed like a weekend day.
    tue_noon = local(PARIS, 2026, 11, 10, 12, 0)
    assert offer_deadline(tue_noon, country="FR", timezone="Europe/Paris") == local(
        PARIS, 2026, 11, 12, 17, 0
    )
    mon_noon = local(PARIS, 2026, 11, 9, 12, 0)  # deadline Tue 12:00: open
    assert offer_deadline(mon_noon, country="FR", timezone="Europe/Paris") == local(
        PARIS, 2026, 11, 10, 12, 0
    )
    mon_evening = local(PARIS, 2026, 11, 9, 18, 0)  # deadline Tue 18:00: the window has begun
    assert offer_deadline(mon_evening, country="FR", timezone="Europe/Paris") == local(
        PARIS, 2026, 11, 12, 17, 0
    )
    # The same instants for a German installer: 11 November is a working day in Germany.
    assert offer_deadline(tue_noon, country="DE", timezone="Europe/Berlin") == local(
        BERLIN, 2026, 11, 11, 12, 0
    )


def test_day_before_german_unity_day():
    # Saturday 3 October 2026 falls on a weekend; Friday 2 October is a working day.
    thu = local(BERLIN, 2026, 10, 1, 18, 0)
    assert offer_deadline(thu, country="DE", timezone="Europe/Berlin") == local(
        BERLIN, 2026, 10, 5, 17, 0
    )
    # In 2025, 3 October was a Friday: Thursday 2 October after 17:00 starts the window.
    wed = local(BERLIN, 2025, 10, 1, 18, 0)
    assert offer_deadline(wed, country="DE", timezone="Europe/Berlin") == local(
        BERLIN, 2025, 10, 6, 17, 0
    )
    wed_noon = local(BERLIN, 2025, 10, 1, 12, 0)
    assert offer_deadline(wed_noon, country="DE", timezone="Europe/Berlin") == local(
        BERLIN, 2025, 10, 2, 12, 0
    )


def test_dst_change():
    # Clocks go back on Sunday 25 October 2026 (03:00 → 02:00 in Paris).
    sat = local(PARIS, 2026, 10, 24, 10, 0)
    deadline = offer_deadline(sat, country="FR", timezone="Europe/Paris")
    assert deadline == local(PARIS, 2026, 10, 26, 17, 0)
    assert deadline.astimezone(UTC).hour == 16  # CET (UTC+1) after the change
    # Clocks go forward on Sunday 29 March 2026: Thursday 26 March 12:00 → Friday 12:00 CET.
    thu = local(PARIS, 2026, 3, 26, 12, 0)
    assert offer_deadline(thu, country="FR", timezone="Europe/Paris") == local(
        PARIS, 2026, 3, 27, 12, 0
    )


def test_two_time_zones_see_different_windows():
    # Friday 16:30 in London is 17:30 in Paris: a 24-hour deadline lands on Saturday in both,
    # each moves to its own Monday 17:00.
    offered = local(ZoneInfo("Europe/London"), 2026, 11, 19, 16, 30)  # Thursday
    london = offer_deadline(offered, country="GB", timezone="Europe/London")
    paris = offer_deadline(offered, country="FR", timezone="Europe/Paris")
    assert london == local(ZoneInfo("Europe/London"), 2026, 11, 20, 16, 30)  # Fri 16:30: open
    assert paris == local(PARIS, 2026, 11, 23, 17, 0)  # Fri 17:30 in Paris: closed
    assert london != paris


def test_business_days_skip_weekends_and_holidays():
    thu = local(PARIS, 2026, 11, 19, 15, 0)
    assert add_business_days(thu, 2, "FR", "Europe/Paris") == local(PARIS, 2026, 11, 23, 15, 0)
    before_armistice = local(PARIS, 2026, 11, 10, 15, 0)
    assert add_business_days(before_armistice, 2, "FR", "Europe/Paris") == local(
        PARIS, 2026, 11, 13, 15, 0
    )


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
places = st.sampled_from(
    [
        ("FR", "Europe/Paris"),
        ("DE", "Europe/Berlin"),
        ("PL", "Europe/Warsaw"),
        ("GB", "Europe/London"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(instants, places)
def test_deadline_is_never_in_a_closed_window_nor_early(offered, place):
    country, timezone = place
    deadline = offer_deadline(offered, country=country, timezone=timezone)
    assert deadline >= offered + timedelta(hours=24)
    assert closed_window_end(deadline, country, timezone) is None
    # Sanity: a chain of holidays and weekends (French "ponts" in May) is days, not weeks.
    assert deadline <= offered + timedelta(days=14)
