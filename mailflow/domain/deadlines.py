"""Offer deadlines (PRODUCT.md §3): by default 24 hours after the offer; a deadline that falls
in a closed window (Friday 17:00 to Monday 17:00, or around a public holiday of the installer's
country) moves to the window's end, in the installer's time zone.

A window shorter than 24 hours (MAILFLOW_OFFER_WINDOW*, per tier and product) counts minutes of
the installer's working time instead (mailflow.domain.calendar.add_working_minutes): offered at
17:45 on a Friday with 30 minutes, it expires at 08:15 on Monday."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailflow.domain.calendar import (
    WorkingHours,
    add_working_minutes,
    closed_window_end,
    parse_working_hours,
)

OFFER_WINDOW = timedelta(hours=24)
DEFAULT_HOURS = parse_working_hours(None)


def counts_working_time(window: timedelta) -> bool:
    """Whether a window counts working minutes (shorter than a day) rather than the clock."""
    return window < OFFER_WINDOW


def offer_deadline(
    offered_at: datetime,
    *,
    country: str,
    timezone: str,
    window: timedelta = OFFER_WINDOW,
    hours: WorkingHours = DEFAULT_HOURS,
) -> datetime:
    """The deadline (UTC) of an offer made at ``offered_at``."""
    if counts_working_time(window):
        return add_working_minutes(
            offered_at, window / timedelta(minutes=1), hours, country, timezone
        )
    deadline = offered_at.astimezone(UTC) + window
    # One window can end where the next begins (a Friday between a holiday and the weekend
    # is open for no time at all), so keep moving until the deadline is in open hours.
    while (end := closed_window_end(deadline, country, timezone)) is not None:
        deadline = end.astimezone(UTC)
    return deadline
