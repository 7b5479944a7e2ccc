"""Offer deadlines (PRODUCT.md §3): 24 hours after the offer; a deadline that falls in a closed
window (Friday 17:00 to Monday 17:00, or around a public holiday of the installer's country)
moves to the window's end, in the installer's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailflow.domain.calendar import closed_window_end

OFFER_WINDOW = timedelta(hours=24)


def offer_deadline(offered_at: datetime, *, country: str, timezone: str) -> datetime:
    """The deadline (UTC) of an offer made at ``offered_at``."""
    deadline = offered_at.astimezone(UTC) + OFFER_WINDOW
    # One window can end where the next begins (a Friday between a holiday and the weekend
    # is open for no time at all), so keep moving until the deadline is in open hours.
    while (end := closed_window_end(deadline, country, timezone)) is not None:
        deadline = end.astimezone(UTC)
    return deadline
